"""The scan: accounts -> their caches -> one walk each -> one result. The library's front door."""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Optional

from fleetcache import safefs
from fleetcache.discovery import accounts as accounts_mod
from fleetcache.discovery import caches as caches_mod
from fleetcache.machine import Machine
from fleetcache.model import (
    Account,
    AccountCaches,
    CacheFigures,
    CacheLocation,
    CacheResult,
    ScanResult,
    SelfcheckKey,
    Skipped,
)
from fleetcache.stats.pool import walk_all
from fleetcache.stats.walk import WalkTask


class ScanError(Exception):
    """A scan that cannot start: a bad root, an unreadable account database."""


@dataclass(frozen=True)
class Selection:
    """Whose caches to look at, and where else to search for caches."""

    users: tuple[str, ...] = ()
    all_users: bool = False
    search: tuple[str, ...] = ()
    jobs: Optional[int] = None


def load_accounts(machine: Machine) -> list[Account]:
    """The machine's accounts: this host's name service, or ``etc/passwd`` below --root."""
    login_defs = _read_text(machine, "/etc/login.defs") or ""
    low, high = accounts_mod.uid_range(login_defs, machine.platform)
    if machine.is_host and machine.platform != "win32":
        return accounts_mod.host_accounts(low, high)
    passwd = _read_text(machine, "/etc/passwd")
    if passwd is None:
        raise ScanError(f"no account database: {machine.host_path('/etc/passwd')} is missing")
    return accounts_mod.parse_passwd(passwd, low, high)


def _read_text(machine: Machine, path: str) -> Optional[str]:
    """A root-owned system file of the machine; links resolved inside --root, never on this host."""
    anchor = _anchor(machine)
    try:
        got = safefs.read_small_file(anchor, path, trusted_links=(0,), limit=64 << 20)
    except (OSError, safefs.UnsafePath) as exc:
        raise ScanError(f"cannot read {machine.host_path(path)}: {exc}") from None
    finally:
        os.close(anchor)
    return None if got is None else got[0].decode("utf-8", "surrogateescape")


def select_accounts(machine: Machine, selection: Selection) -> tuple[list[Account], list[Account]]:
    """(every account, the accounts selected); raises UnknownUser for names the machine lacks."""
    every = load_accounts(machine)
    chosen = accounts_mod.select(
        every,
        selection.users,
        all_users=selection.all_users,
        home_exists=lambda home: os.path.isdir(machine.host_path(home)),
    )
    return every, chosen


def resolve(machine: Machine, selection: Selection) -> tuple[list[Account], list[AccountCaches]]:
    """Every account, and each selected account's caches as its pip resolves them."""
    every, chosen = select_accounts(machine, selection)
    anchor = _anchor(machine)
    try:
        finder = caches_mod.Finder(machine, anchor, every)
        return every, [finder.resolve(account) for account in chosen]
    finally:
        os.close(anchor)


def _anchor(machine: Machine) -> int:
    try:
        return safefs.open_anchor(machine.root)
    except OSError as exc:
        raise ScanError(f"cannot open root {machine.root}: {exc.strerror}") from None


def measure(
    machine: Machine,
    locations: Sequence[CacheLocation],
    every: Sequence[Account],
    jobs: Optional[int],
) -> list[CacheResult]:
    """Walk each location once (in parallel) and name the owners."""
    tasks = [WalkTask(machine.root, loc.path, loc.trusted_owners) for loc in locations]
    names = accounts_mod.owner_names(every)
    results = []
    for loc, outcome in zip(locations, walk_all(tasks, jobs)):
        figures = _with_selfcheck_state(machine, outcome.figures)
        owner = None if outcome.owner_uid is None else names.get(outcome.owner_uid)
        results.append(
            CacheResult(
                loc,
                outcome.exists,
                outcome.owner_uid,
                owner if owner is not None or outcome.owner_uid is None else str(outcome.owner_uid),
                figures,
                outcome.skipped,
            )
        )
    return results


def _with_selfcheck_state(machine: Machine, figures: CacheFigures) -> CacheFigures:
    """Mark each selfcheck key whose interpreter prefix no longer exists."""
    if not figures.selfcheck:
        return figures
    keys = tuple(
        SelfcheckKey(k.prefix, k.last_check, os.path.lexists(machine.host_path(k.prefix)))
        for k in figures.selfcheck
    )
    return replace(figures, selfcheck=keys)


def scan(machine: Machine, selection: Selection = Selection()) -> ScanResult:
    """Find every selected account's pip caches (and any below --search paths) and measure each."""
    every, resolved = resolve(machine, selection)
    locations = caches_mod.locations(resolved)
    skipped: list[Skipped] = [p for r in resolved for p in r.problems]
    if selection.search:
        anchor = _anchor(machine)
        try:
            for top in selection.search:
                found, missed = caches_mod.search(machine, anchor, top)
                locations = caches_mod.merge_found(locations, found)
                skipped.extend(missed)
        finally:
            os.close(anchor)
    results = measure(machine, locations, every, selection.jobs)
    for result in results:
        if result.skipped:
            skipped.append(Skipped(result.location.path, result.skipped))
        skipped.extend(result.figures.problems)
    return ScanResult(
        host=machine.hostname,
        generated_at=machine.clock(),
        root=machine.root,
        accounts=tuple(resolved),
        caches=tuple(results),
        skipped=tuple(skipped),
    )
