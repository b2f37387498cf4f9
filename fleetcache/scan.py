"""The scan: accounts -> their caches -> one walk each -> one result. The library's front door
(discovery's own names are re-exported here for callers of the library)."""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from dataclasses import replace
from typing import Optional

from fleetcache import dropped, readas, safefs, transitions
from fleetcache.discovery import accounts as accounts_mod
from fleetcache.discovery import caches as caches_mod
from fleetcache.discovery import pipusers
from fleetcache.discovery.run import (
    Found,
    ScanError,
    Selection,
    anchor_of,
    busy_now,
    discover,
    load_accounts,
    load_groups,
    resolve,
    select_accounts,
)
from fleetcache.kinds import all as kinds_mod
from fleetcache.kinds.base import CacheKind
from fleetcache.machine import Machine
from fleetcache.model import (
    Account,
    CacheLocation,
    CacheResult,
    Environment,
    ScanResult,
    SelfcheckKey,
    Skipped,
)
from fleetcache.progress import Progress, silent
from fleetcache.stats.pool import run_all
from fleetcache.stats.walk import WalkOutcome, WalkTask, selfcheck_keys

__all__ = [
    "Found",
    "ScanError",
    "Selection",
    "busy_now",
    "discover",
    "environments",
    "load_accounts",
    "load_groups",
    "measure",
    "resolve",
    "scan",
    "select_accounts",
]


def measure(
    machine: Machine,
    locations: Sequence[CacheLocation],
    every: Sequence[Account],
    jobs: Optional[int],
    progress: Progress = silent,
    readers: Optional[readas.Readers] = None,
) -> list[CacheResult]:
    """Walk each location once (in parallel, as its kind measures) and name the owners; whether each selfcheck key's
    prefix is still there is asked as the cache's owner (through ``readers`` when given)."""
    tasks = [(loc.kind, WalkTask(machine.root, loc.path, loc.trusted_owners)) for loc in locations]
    outcomes = []
    tick = progress("walking caches", len(tasks), "cache")
    for outcome in run_all(kinds_mod.measure, tasks, jobs):
        tick()
        outcomes.append(outcome)
    if readers is None:
        with readas.Readers.of(machine) as own:
            return _results(machine, locations, outcomes, every, own)
    return _results(machine, locations, outcomes, every, readers)


def _results(
    machine: Machine,
    locations: Sequence[CacheLocation],
    outcomes: Sequence[WalkOutcome],
    every: Sequence[Account],
    readers: readas.Readers,
) -> list[CacheResult]:
    """Each walk's result, its owner named, its selfcheck keys checked as that owner."""
    names = accounts_mod.owner_names(every)
    known = load_groups(machine, every)
    who = dropped.identities(machine, every)
    owners = {o.owner_uid: who(o.owner_uid) for o in outcomes if o.owner_uid is not None}
    readers.prepare(owners[o.owner_uid] for o in outcomes if o.figures.selfcheck and o.owner_uid)
    results = []
    for loc, outcome in zip(locations, outcomes):
        uid = outcome.owner_uid
        owner = None if uid is None else owners[uid]
        selfcheck = _checked(machine, readers, owner, outcome.figures.selfcheck)
        way = None
        if uid is not None and outcome.end is not None:
            way = transitions.unsafe_way(outcome.way, outcome.end, uid, known)
        if way is None and outcome.via_links:  # a clean opens no link on the way
            way = f"{outcome.via_links[0]} is a symbolic link (clean the real path with --cache)"
        results.append(
            CacheResult(
                loc,
                outcome.exists,
                uid,
                None if uid is None else names.get(uid, str(uid)),
                replace(outcome.figures, selfcheck=selfcheck),
                outcome.skipped,
                problems=() if way is None else (f"a clean would refuse it: {way}",),
            )
        )
    return results


def _checked(
    machine: Machine,
    readers: readas.Readers,
    owner: Optional[dropped.Identity],
    keys: Sequence[SelfcheckKey],
) -> tuple[SelfcheckKey, ...]:
    """The keys, each marked with whether its interpreter prefix is still there, as the cache's
    owner sees it (None: it cannot tell, or the links on the way to the cache's keys cost more
    than one cache may)."""
    if owner is None:
        return tuple(keys)
    budget = safefs.LinkBudget()
    out = []
    for k in keys:
        try:
            there = readers.exists(owner, _in_tree(machine, k.prefix), budget)
        except safefs.OverBudget:
            there = None
        out.append(SelfcheckKey(k.prefix, k.last_check, there))
    return tuple(out)


def _in_tree(machine: Machine, path: str) -> str:
    """A machine path as it lies below the machine's root (a Windows drive is a directory)."""
    if machine.platform != "win32":
        return path
    return "/" + os.path.relpath(machine.host_path(path), machine.root).replace(os.sep, "/")


def environments(
    machine: Machine, selection: Selection = Selection(), active_only: bool = False
) -> ScanResult:
    """Every interpreter and environment of the selected accounts, without walking the caches;
    with ``active_only``, only those in use (or possibly in use) now."""
    with readas.Readers.of(machine) as readers:
        found = discover(machine, selection, readers)
        who = dropped.identities(machine, found.every)
        named = {}
        for loc in caches_mod.locations([*found.resolved, *found.site_caches]):
            owner, keys = selfcheck_keys(readers.anchor, loc.path, loc.trusted_owners)
            named[loc.path] = _checked(
                machine, readers, None if owner is None else who(owner), keys
            )
    skipped: list[Skipped] = [p for r in found.resolved for p in r.problems]
    skipped.extend(found.skipped)
    envs = _with_evidence(found.environments, named, found.activity is not None)
    if selection.kinds:
        envs = [e for e in envs if e.kind in selection.kinds]
    if active_only:
        envs = [e for e in envs if e.activity_checked and e.active is not False]
    return ScanResult(
        host=machine.hostname,
        generated_at=machine.clock(),
        root=machine.root,
        accounts=tuple(found.resolved),
        caches=(),
        skipped=tuple(skipped),
        environments=tuple(envs),
        envs_searched=selection.envs,
        activity=found.activity,
    )


def _with_evidence(
    envs: Sequence[Environment],
    named: Mapping[str, Sequence[SelfcheckKey]],
    checked: bool = False,
) -> list[Environment]:
    """Tie environments to the caches whose selfcheck/ names their prefix; list the gone ones."""
    by_prefix: dict[str, list[str]] = {}
    gone: set[str] = set()
    for cache, keys in named.items():
        for key in keys:
            by_prefix.setdefault(key.prefix, []).append(cache)
            if key.exists is False:
                gone.add(key.prefix)
    tied = [replace(e, selfcheck_caches=tuple(by_prefix.get(e.prefix, ()))) for e in envs]
    known = {e.prefix for e in envs}
    for prefix, caches in by_prefix.items():
        if prefix in known or prefix not in gone:
            continue
        where = ", ".join(caches)
        tied.append(
            Environment(
                prefix=prefix,
                kind="unknown",
                role="environment",
                exists=False,
                found_by=("selfcheck/",),
                marker="selfcheck/",
                selfcheck_caches=tuple(caches),
                problems=(f"named in selfcheck/ of {where} but gone",),
                activity_checked=checked,  # nothing runs from a prefix that is gone
            )
        )
    return tied


def _located(
    machine: Machine,
    found: Found,
    kinds: Sequence[CacheKind],
    search: Sequence[str],
    skipped: list[Skipped],
) -> list[CacheLocation]:
    """Each kind's caches of the discovered accounts, then those found by layout below each
    ``search`` path (what could not be read there is added to ``skipped``)."""
    locations = caches_mod.merge_found([], (loc for k in kinds for loc in k.locations(found)))
    if search:
        anchor = anchor_of(machine)
        try:
            layouts = [(kind.NAME, kind.looks_like) for kind in kinds]
            for top in search:  # one walk for every kind
                by_layout, missed = caches_mod.search(machine, anchor, top, kinds=layouts)
                locations = caches_mod.merge_found(locations, by_layout)
                skipped.extend(missed)
        finally:
            os.close(anchor)
    return locations


def scan(machine: Machine, selection: Selection = Selection()) -> ScanResult:
    """Find every selected account's caches of the chosen kinds (and any below --search paths)
    and measure each."""
    with readas.Readers.of(machine) as readers:  # one process per account reads as it
        return _scan(machine, selection, readers)


def _scan(machine: Machine, selection: Selection, readers: readas.Readers) -> ScanResult:
    found = discover(machine, selection, readers)
    every, resolved = found.every, found.resolved
    kinds = kinds_mod.chosen(selection.cache_kinds)
    skipped: list[Skipped] = [p for r in resolved for p in r.problems]
    skipped.extend(found.skipped)
    locations = _located(machine, found, kinds, selection.search, skipped)
    busy = kinds_mod.busy(machine, found, locations)
    results = measure(machine, locations, every, selection.jobs, selection.progress, readers)
    for result in results:
        if result.skipped:
            skipped.append(Skipped(result.location.path, result.skipped))
        skipped.extend(result.figures.problems)
    named = {r.location.path: r.figures.selfcheck for r in results}
    envs = (
        _with_evidence(found.environments, named, found.activity is not None)
        if selection.envs
        else []
    )
    users: dict[str, list[str]] = {}
    for env in envs:
        for path in env.cache_paths:
            users.setdefault(path, []).append(env.prefix)
    checked = found.activity is not None
    pips = pipusers.by_cache(envs, resolved)
    results = [
        replace(
            r,
            environments=tuple(users.get(r.location.path, ())),
            busy_reasons=tuple(busy.get(r.location.path, ())),
            busy_checked=checked,
            pips=pips.get(r.location.path, ()),
        )
        for r in results
    ]
    return ScanResult(
        host=machine.hostname,
        generated_at=machine.clock(),
        root=machine.root,
        accounts=tuple(resolved),
        caches=tuple(results),
        skipped=tuple(skipped),
        environments=tuple(envs),
        envs_searched=selection.envs,
        activity=found.activity,
    )
