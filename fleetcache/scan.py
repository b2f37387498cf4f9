"""The scan: accounts -> their caches -> one walk each -> one result. The library's front door."""

from __future__ import annotations

import os
import sys
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Optional

from fleetcache import dropped, readas, safefs, transitions
from fleetcache.activity import check as activity_mod
from fleetcache.activity import harvest, holders
from fleetcache.activity.processes import Snapshot
from fleetcache.activity.view import View
from fleetcache.discovery import accounts as accounts_mod
from fleetcache.discovery import caches as caches_mod
from fleetcache.discovery import envs as envs_mod
from fleetcache.discovery.probe import Prober
from fleetcache.machine import Machine
from fleetcache.model import (
    Account,
    AccountCaches,
    Activity,
    CacheLocation,
    CacheResult,
    CacheSource,
    Environment,
    PipRun,
    ProcessUse,
    ScanResult,
    SelfcheckKey,
    Skipped,
)
from fleetcache.progress import Progress, silent
from fleetcache.stats import envsize
from fleetcache.stats.pool import run_all, walk_all
from fleetcache.stats.walk import WalkOutcome, WalkTask, selfcheck_keys


class ScanError(Exception):
    """A scan that cannot start: a bad root, an unreadable account database."""


@dataclass(frozen=True)
class Selection:
    """Whose caches to look at, and where else to search for caches."""

    users: tuple[str, ...] = ()
    all_users: bool = False
    search: tuple[str, ...] = ()
    jobs: Optional[int] = None
    envs: bool = True  # also find environments (and the caches only their site configs name)
    env_search: envs_mod.EnvSearch = field(default_factory=envs_mod.EnvSearch)
    sizes: bool = True  # measure each environment's size on disk
    kinds: tuple[str, ...] = ()  # only environments of these kinds (empty: all)
    activity: bool = True  # read the process table: busy caches, active environments, settings
    progress: Progress = silent  # how the long steps show their progress (the CLI: tqdm on a TTY)


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


def load_groups(machine: Machine, every: Sequence[Account]) -> transitions.Groups:
    """Who may be in each of the machine's groups: this host's name service, or ``etc/group``
    below --root (none known without it)."""
    if machine.is_host and machine.platform != "win32":
        return transitions.Groups(every, accounts_mod.host_group)
    table = machine.groups.file(machine.root)
    return transitions.Groups(every, None if table is None else table.get)


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
        with caches_mod.Finder(machine, anchor, every) as finder:
            return every, [finder.resolve(account) for account in chosen]
    finally:
        os.close(anchor)


@dataclass(frozen=True)
class Found:
    """What discovery gave: accounts, their caches, environments, site-config-only caches, and
    (when the process table was read) what is running."""

    every: list[Account]
    resolved: list[AccountCaches]
    environments: list[Environment]
    site_caches: list[AccountCaches]
    skipped: list[Skipped]
    activity: Optional[Activity] = None
    busy: Mapping[str, Sequence[ProcessUse]] = field(default_factory=dict)
    pip_caches: Sequence[CacheLocation] = ()
    snapshot: Optional[Snapshot] = None  # the process table the activity check read

    def busy_of(self, machine: Machine, paths: Sequence[str]) -> dict[str, list[ProcessUse]]:
        """What makes each of these caches busy in this snapshot: the processes that use them
        (environments, pips) and every process sitting in one or holding a file inside it."""
        return _with_holders(machine, self.snapshot, self.every, self.busy, paths)


def discover(
    machine: Machine, selection: Selection, readers: Optional[readas.Readers] = None
) -> Found:
    """Accounts, the caches their pip uses, every environment and its caches (unless turned off),
    and what runs from them (unless turned off). Running processes' settings feed discovery.
    ``readers`` read as the accounts (the caller's to close; by default discovery's own)."""
    every, chosen = select_accounts(machine, selection)
    snap = machine.processes() if selection.activity else None
    view = View(machine)
    uids = {a.uid for a in chosen}
    settings = harvest.settings(snap, view, uids) if snap is not None else {}
    anchor = _anchor(machine)
    finder = caches_mod.Finder(machine, anchor, every, readers)
    try:
        finder.readers.prepare(dropped.identity(machine, a) for a in chosen)
        resolved = [
            finder.with_settings(finder.resolve(account), settings.get(account.uid, ()))
            for account in chosen
        ]
        found: list[Environment] = []
        site: list[AccountCaches] = []
        skipped: list[Skipped] = []
        if selection.envs:
            found, skipped = envs_mod.discover(
                machine, finder.readers, chosen, selection.env_search, settings
            )
            if snap is not None:
                running = harvest.running(snap, view, uids)
                found.extend(envs_mod.running_prefixes(machine, anchor, found, running))
            found = envs_mod.check_bases(anchor, found)
            if selection.env_search.probe:
                prober = Prober(machine, every)
                found = [prober.complete(env) for env in found]
            found, site = envs_mod.attach_caches(found, finder, every, chosen, resolved)
        names = accounts_mod.owner_names(every)
        found = [
            replace(e, owner=names.get(e.owner_uid, str(e.owner_uid)))
            if e.owner_uid is not None
            else e
            for e in found
        ]
        # system-wide ones first, then each owner's, by prefix
        found.sort(key=lambda e: (not e.shared, e.owner_uid != 0, e.owner or "", e.prefix))
        if snap is None:
            return _sized_found(machine, selection, Found(every, resolved, found, site, skipped))
        result = _activity(machine, snap, found, every, [*resolved, *site], finder, anchor)
        pip_caches = _pip_caches(machine, finder, result.pip_caches, uids)
    finally:
        finder.close()
        os.close(anchor)
    return _sized_found(
        machine,
        selection,
        Found(
            every,
            resolved,
            result.environments,
            site,
            skipped,
            result.activity,
            result.busy,
            pip_caches,
            snap,
        ),
    )


def _activity(
    machine: Machine,
    snap: Snapshot,
    envs: Sequence[Environment],
    every: Sequence[Account],
    resolved: Sequence[AccountCaches],
    finder: caches_mod.Finder,
    anchor: int,
) -> activity_mod.Result:
    return activity_mod.check(
        machine,
        snap,
        envs,
        every,
        resolved,
        lambda account, prefix, env, cwd: finder.resolve(account, prefix, env, cwd),
        anchor,
        linux=sys.platform.startswith("linux"),
    )


def busy_now(
    machine: Machine, found: Found, paths: Sequence[str] = ()
) -> Mapping[str, Sequence[ProcessUse]]:
    """Which caches are busy now: a fresh pass over the process table, matched against what
    :func:`discover` found, and the processes holding any of ``paths`` (a clean asks again
    right before each cache)."""
    snap = machine.processes()
    anchor = _anchor(machine)
    try:
        with caches_mod.Finder(machine, anchor, found.every) as finder:
            resolved = [*found.resolved, *found.site_caches]
            busy = _activity(
                machine, snap, found.environments, found.every, resolved, finder, anchor
            ).busy
    finally:
        os.close(anchor)
    return _with_holders(machine, snap, found.every, busy, paths)


def _with_holders(
    machine: Machine,
    snap: Optional[Snapshot],
    every: Sequence[Account],
    busy: Mapping[str, Sequence[ProcessUse]],
    paths: Sequence[str],
) -> dict[str, list[ProcessUse]]:
    out = {path: list(uses) for path, uses in busy.items()}
    if snap is None:
        return out
    for path, uses in holders.holding(
        snap, machine, paths, accounts_mod.owner_names(every)
    ).items():
        known = {u.pid for u in out.get(path, ())}
        out.setdefault(path, []).extend(u for u in uses if u.pid not in known)
    return out


def _pip_caches(
    machine: Machine,
    finder: caches_mod.Finder,
    pips: Sequence[tuple[PipRun, str]],
    selected: Collection[int],
) -> list[CacheLocation]:
    """Caches only a running pip names (``--cache-dir /scratch/x``): scanned too, when they exist
    and belong to the pip's account (anyone can start a process that says ``--cache-dir /etc``),
    and only when that account is selected: such a cache is its pip's account's, whoever else's
    scan or clean sees the process."""
    out: dict[str, CacheLocation] = {}
    for pip, path in pips:
        if path in out or pip.uid not in selected or not finder.is_dir(path):
            continue
        try:
            if os.lstat(machine.host_path(path)).st_uid != pip.uid:
                continue
        except OSError:
            continue
        source = CacheSource("process", pip.user, (pip.subcommand or "",), pid=pip.pid)
        owners = frozenset() if pip.uid is None else frozenset({pip.uid})
        out[path] = CacheLocation(path, (source,), owners)
    return list(out.values())


def _sized_found(machine: Machine, selection: Selection, found: Found) -> Found:
    if not selection.sizes:
        return found
    sized, missed = _sized(machine, found.environments, selection.jobs, selection.progress)
    return replace(found, environments=sized, skipped=[*found.skipped, *missed])


def _sized(
    machine: Machine, found: list[Environment], jobs: Optional[int], progress: Progress = silent
) -> tuple[list[Environment], list[Skipped]]:
    """Each environment's files, bytes and newest mtime; not /usr, nor what may be any directory."""
    todo = [e for e in found if e.exists and e.kind not in ("system", "unknown")]
    tasks = [
        envsize.SizeTask(
            machine.root,
            e.prefix,
            frozenset({0} if e.owner_uid is None else {0, e.owner_uid}),
            ("envs", "pkgs") if e.role == "interpreter" else (),
        )
        for e in todo
    ]
    sized = {}
    skipped: list[Skipped] = []
    tick = progress("sizing environments", len(tasks), "env")
    for env, outcome in zip(todo, run_all(envsize.measure, tasks, jobs)):
        tick()
        sized[env.key] = replace(
            env,
            files=outcome.files,
            size_bytes=outcome.size_bytes,
            last_modified=outcome.newest_mtime,
        )
        skipped.extend(outcome.problems)
    return [sized.get(e.key, e) for e in found], skipped


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
    progress: Progress = silent,
    readers: Optional[readas.Readers] = None,
) -> list[CacheResult]:
    """Walk each location once (in parallel) and name the owners; whether each selfcheck key's
    prefix is still there is asked as the cache's owner (through ``readers`` when given)."""
    tasks = [WalkTask(machine.root, loc.path, loc.trusted_owners) for loc in locations]
    outcomes = []
    tick = progress("walking caches", len(tasks), "cache")
    for outcome in walk_all(tasks, jobs):
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


def scan(machine: Machine, selection: Selection = Selection()) -> ScanResult:
    """Find every selected account's pip caches (and any below --search paths) and measure each."""
    with readas.Readers.of(machine) as readers:  # one process per account reads as it
        return _scan(machine, selection, readers)


def _scan(machine: Machine, selection: Selection, readers: readas.Readers) -> ScanResult:
    found = discover(machine, selection, readers)
    every, resolved = found.every, found.resolved
    locations = caches_mod.locations([*resolved, *found.site_caches])
    locations = caches_mod.merge_found(locations, found.pip_caches)
    skipped: list[Skipped] = [p for r in resolved for p in r.problems]
    skipped.extend(found.skipped)
    if selection.search:
        anchor = _anchor(machine)
        try:
            for top in selection.search:
                by_layout, missed = caches_mod.search(machine, anchor, top)
                locations = caches_mod.merge_found(locations, by_layout)
                skipped.extend(missed)
        finally:
            os.close(anchor)
    busy = found.busy_of(machine, [loc.path for loc in locations])
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
    results = [
        replace(
            r,
            environments=tuple(users.get(r.location.path, ())),
            busy_reasons=tuple(busy.get(r.location.path, ())),
            busy_checked=checked,
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
