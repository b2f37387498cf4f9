"""A clean under a policy file: each account's own policy, the caches it leaves alone, and its
size limit over all its caches together (oldest entries first, whichever cache holds them)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import replace
from typing import Optional

from fleetcache.clean.plan import CachePlan
from fleetcache.clean.policy import AccountPolicy, Policy

NEVER = float("-inf")  # a cutoff that takes nothing: the account is within its limit already


def policy_of(run: Policy, per_account: Optional[Mapping[int, AccountPolicy]], uid: int) -> Policy:
    """The policy an account's caches are planned under: its own, else the run's."""
    if per_account is None or uid not in per_account:
        return run
    return per_account[uid].policy


def rule_of(per_account: Optional[Mapping[int, AccountPolicy]], uid: int) -> Optional[str]:
    """The policy file's rule an account's caches are planned under (None: no policy file)."""
    got = None if per_account is None else per_account.get(uid)
    return None if got is None else got.rule or None


def left_alone(
    per_account: Optional[Mapping[int, AccountPolicy]], uid: int, kind: str
) -> Optional[str]:
    """Why the policy leaves this cache of this owner alone (None: it does not)."""
    if per_account is None:
        return None
    got = per_account.get(uid)
    if got is None:
        return f"excluded: uid {uid} is no account of the machine (the policy covers accounts)"
    if got.excluded is not None:
        return got.excluded
    if got.kinds is not None and kind not in got.kinds:
        return f"excluded: kinds = {', '.join(got.kinds)} ({got.kinds_from})"
    return None


def first_pass(policy: Policy) -> Policy:
    """The policy of the planning pass that finds an account's cutoff: with the size limit at
    0, every entry the limit may take is planned and noted (CachePlan.aged)."""
    return replace(policy, max_size=0, account_max_size=None)


def over(plans: Iterable[CachePlan], limit: int) -> int:
    """How many bytes an account's caches stay over ``limit`` once their plans are done."""
    return max(0, sum(p.before.total_bytes - p.bytes for p in plans) - limit)


def cutoff(plans: Iterable[CachePlan], limit: int) -> float:
    """The last use before which an account's entries go so that its caches together hold at
    most ``limit`` bytes: what the selectors (an age) leave, then the oldest first."""
    plans = list(plans)
    left = sum(p.before.total_bytes - p.bytes + sum(b for _, b in p.aged) for p in plans)
    last = NEVER
    for when, size in sorted(e for p in plans for e in p.aged):
        if left <= limit:
            break
        left -= size
        last = when
    return last
