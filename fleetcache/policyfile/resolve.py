"""Which rule applies to an account, and each value it gets with where that value comes from.

Rules combine as sshd's ``Match`` blocks do: the first ``[[rule]]`` whose ``users`` glob matches
the account's name, or whose ``groups`` glob matches one of its groups (primary or
supplementary), applies; the keys it sets replace the defaults (top-level keys), the keys it
does not set come from the defaults, and what neither sets is built in."""

from __future__ import annotations

import fnmatch
import os
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Optional

from fleetcache.clean.policy import AccountPolicy, Policy, age_text, size_text
from fleetcache.discovery.run import load_groups
from fleetcache.kinds.all import KINDS
from fleetcache.machine import Machine
from fleetcache.model import Account
from fleetcache.policyfile.load import SETTINGS, PolicyFile, Rule, Value

BUILT_IN = "built-in"
NO_RULE = "no rule: the defaults"  # what an account no rule matches gets


@dataclass(frozen=True)
class Member:
    """An account as rules see it: its name and the names of its groups."""

    account: Account
    groups: tuple[str, ...]


@dataclass(frozen=True)
class Setting:
    """One value an account gets, and where it comes from (``policy.toml:3 (default)``)."""

    key: str
    value: Any
    origin: str

    def text(self) -> str:
        """The value as the file would say it."""
        return show_value(self.key, self.value)


@dataclass(frozen=True)
class Resolved:
    """What the policy says for one account."""

    member: Member
    rule: Optional[Rule]
    rule_origin: Optional[str]
    settings: dict[str, Setting]
    shadowed: tuple[str, ...] = ()  # later rules that match it too, never applied to it

    @property
    def excluded(self) -> bool:
        """Whether its rule leaves all its caches alone."""
        return self.rule is not None and self.rule.exclude

    def policy(self) -> Policy:
        """The clean policy its settings make (no older_than and no max_size: a purge)."""
        s = {k: v.value for k, v in self.settings.items()}
        return Policy(
            older_than=s["older_than"],
            account_max_size=s["max_size"],
            keep=s["keep"],
            quarantine=s["quarantine"],
        )

    def account_policy(self) -> AccountPolicy:
        """The policy a clean plans this account's caches under."""
        kinds = self.settings["kinds"]
        return AccountPolicy(
            policy=self.policy(),
            excluded=f"excluded by {self.rule_origin}" if self.excluded else None,
            kinds=kinds.value,
            kinds_from=kinds.origin,
            rule=NO_RULE if self.rule_origin is None else f"rule {self.rule_origin}",
        )


def members(machine: Machine, accounts: Sequence[Account]) -> list[Member]:
    """Each account with the names of its groups (its primary group, and every group the group
    database lists it in)."""
    groups = load_groups(machine, accounts)
    out = []
    for account in accounts:
        names = []
        for gid in dict.fromkeys((account.gid, *machine.groups_of(account))):
            entry = groups.entry(gid)
            if entry is not None:
                names.append(entry[0])
        out.append(Member(account, tuple(names)))
    return out


def matches(rule: Rule, member: Member) -> bool:
    """Whether the rule is for this account (its name, or one of its groups)."""
    name = member.account.name
    return any(fnmatch.fnmatchcase(name, g) for g in rule.users) or any(
        fnmatch.fnmatchcase(group, g) for group in member.groups for g in rule.groups
    )


def resolve(policy: PolicyFile, member: Member) -> Resolved:
    """The rule that applies to the account (the first that matches) and its every value."""
    matching = [r for r in policy.rules if matches(r, member)]
    rule = matching[0] if matching else None
    base = os.path.basename(policy.path)
    rule_origin = None if rule is None else f"{base}:{rule.line} {rule.label}"
    settings = {}
    for key in SETTINGS:
        got: Optional[Value] = None if rule is None else rule.values.get(key)
        origin = f"{base}:{got.line} {rule.label}" if got is not None and rule else ""
        if got is None:
            got = policy.defaults.get(key)
            origin = "" if got is None else f"{base}:{got.line} (default)"
        if got is None:
            settings[key] = Setting(key, _BUILT_IN_VALUES[key], BUILT_IN)
        else:
            settings[key] = Setting(key, got.value, origin)
    shadowed = tuple(f"{base}:{r.line} {r.label}" for r in matching[1:])
    return Resolved(member, rule, rule_origin, settings, shadowed)


_BUILT_IN_VALUES: dict[str, Any] = {
    "older_than": None,
    "max_size": None,
    "kinds": None,
    "keep": (),
    "quarantine": None,
}


def unmatched(policy: PolicyFile, every: Sequence[Member]) -> list[str]:
    """An error for each rule that matches no account of the machine (a typo, most likely)."""
    return [
        f"{policy.path}:{rule.line}: {rule.label}: users/groups: matches no account on this machine"
        for rule in policy.rules
        if rule.checked and not any(matches(rule, m) for m in every)
    ]


def never_applied(policy: PolicyFile, every: Sequence[Member]) -> list[str]:
    """A warning for each rule that matches accounts, but only ones an earlier rule takes."""
    applied = {id(resolve(policy, m).rule) for m in every}
    return [
        f"{policy.path}:{rule.line}: {rule.label}: never applies: every account it matches "
        "is matched by an earlier rule"
        for rule in policy.rules
        if id(rule) not in applied and any(matches(rule, m) for m in every)
    ]


def removes_everything(resolved: Sequence[Resolved]) -> bool:
    """Whether the policy purges every cache of every account it covers: nobody excluded, no
    age, no size limit (or 0), nothing kept, every kind."""
    return bool(resolved) and all(
        not r.excluded
        and r.settings["older_than"].value is None
        and not r.settings["max_size"].value
        and not r.settings["keep"].value
        and set(r.settings["kinds"].value or KINDS) >= set(KINDS)
        for r in resolved
    )


def show_value(key: str, value: Any) -> str:
    """A value as a person (and the file) says it: ``30d``, ``10 GB``, ``pip, uv``, ``none``."""
    if value is None:
        return {"kinds": "all", "quarantine": "false (delete)"}.get(key, "none")
    if key in ("older_than", "quarantine"):
        return age_text(value)
    if key == "max_size":
        return size_text(value)
    if isinstance(value, tuple):
        return ", ".join(value) if value else "none"
    return str(value)
