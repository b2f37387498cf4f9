"""A policy file as a run uses it: read as root's, parsed, checked against the machine's
accounts and groups, and resolved for each account; the command line's options on top."""

from __future__ import annotations

import os
import re
from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Optional

from fleetcache.clean.policy import AccountPolicy, Policy
from fleetcache.discovery.accounts import select
from fleetcache.discovery.run import load_accounts
from fleetcache.kinds.all import KINDS
from fleetcache.machine import Machine
from fleetcache.model import Account
from fleetcache.policyfile import DEFAULT_PATH
from fleetcache.policyfile.load import PolicyFile, parse_all
from fleetcache.policyfile.readfile import PolicyFileError, read
from fleetcache.policyfile.resolve import (
    Member,
    Resolved,
    members,
    removes_everything,
    resolve,
    unmatched,
)


@dataclass
class Book:
    """A checked policy file and every account of the machine it applies to."""

    file: PolicyFile
    every: list[Member]

    def resolved(self, accounts: Sequence[Account]) -> list[Resolved]:
        """What the policy says for each of these accounts, in their order."""
        by_uid = {m.account.uid: m for m in self.every}
        return [resolve(self.file, by_uid.get(a.uid, Member(a, ()))) for a in accounts]

    def per_uid(self) -> dict[int, AccountPolicy]:
        """uid -> the policy a clean plans that account's caches under (the first account
        of a uid: as a cache's owner is named)."""
        out: dict[int, AccountPolicy] = {}
        for m in self.every:
            out.setdefault(m.account.uid, resolve(self.file, m).account_policy())
        return out


def path_of(machine: Machine, given: Optional[str]) -> str:
    """The policy file to read: the one given, else /etc/fleetcache/policy.toml under --root."""
    return given if given else machine.host_path(DEFAULT_PATH)


def load(machine: Machine, path: str) -> Book:
    """Read, parse and check the policy at ``path`` (a path on this host) for the machine's
    accounts; raises PolicyFileError with every problem, sorted by line."""
    text = read(path, os.geteuid())
    policy, errors = parse_all(path, text, tuple(KINDS))
    every = members(machine, load_accounts(machine))
    errors += unmatched(policy, every)
    if errors:
        raise PolicyFileError(sorted(errors, key=_line))
    return Book(policy, every)


def _line(error: str) -> int:
    got = re.search(r":(\d+): ", error)
    return int(got.group(1)) if got else 0


@dataclass(frozen=True)
class ForClean:
    """A policy file as ``clean --policy`` applies it."""

    per_account: dict[int, AccountPolicy]  # uid -> its policy, the command line's on top
    everything: bool  # it removes everything of every account the run covers


def for_clean(
    machine: Machine,
    path: str,
    given: Policy,
    options: Sequence[str],
    users: Sequence[str],
    all_users: bool,
) -> ForClean:
    """The policy at ``path`` for a clean of these accounts (none named: root and the humans,
    system accounts too with ``all_users``) with the command line's ``options`` on top."""
    loaded = load(machine, path)
    per_account = {
        uid: replace(p, policy=override(p.policy, given, options))
        for uid, p in loaded.per_uid().items()
    }
    chosen = select(load_accounts(machine), users, all_users=all_users)
    everything = not options and removes_everything(loaded.resolved(chosen))
    return ForClean(per_account, everything)


def override(account: Policy, given: Policy, options: Sequence[str]) -> Policy:
    """The account's policy with the command line's on top: its selectors are added, its
    --older-than replaces the policy's, and its --max-size (per cache) the account's limit."""
    policy = replace(
        account,
        purge=given.purge,
        patterns=given.patterns,
        packages=given.packages,
        junk=given.junk,
    )
    if "--older-than" in options:
        policy = replace(policy, older_than=given.older_than)
    if "--max-size" in options:
        policy = replace(policy, max_size=given.max_size, account_max_size=None)
    return policy
