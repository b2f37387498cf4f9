"""Discovery as one step: the accounts selected, the caches their pip uses, their environments,
and what runs from them now (the process table read once). The first half of a scan or a clean."""

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
from fleetcache.kinds.base import Look
from fleetcache.machine import Machine
from fleetcache.model import (
    Account,
    AccountCaches,
    Activity,
    CacheLocation,
    CacheSource,
    Environment,
    PipRun,
    ProcessUse,
    Skipped,
)
from fleetcache.progress import Progress, silent
from fleetcache.stats import envsize
from fleetcache.stats.pool import run_all


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
    cache_kinds: tuple[str, ...] = ()  # only caches of these kinds (fleetcache.kinds; empty: all)
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
    anchor = anchor_of(machine)
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
    anchor = anchor_of(machine)
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
    envs_known: bool = True  # False: environments were not looked for (only those in use)
    kind_caches: Mapping[str, Sequence[CacheLocation]] = field(default_factory=dict)  # kind's find

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
    anchor = anchor_of(machine)
    finder = caches_mod.Finder(machine, anchor, every, readers)
    homes = [a.home for a in every]
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
                machine, finder.readers, chosen, selection.env_search, settings, every
            )
            if snap is not None:
                running = harvest.running(snap, view, uids)
                more = envs_mod.running_prefixes(machine, anchor, found, running, homes=homes)
                found.extend(more)
            found = envs_mod.check_bases(anchor, found)
            if selection.env_search.probe:
                prober = Prober(machine, every)
                found = [prober.complete(env) for env in found]
            found, site = envs_mod.attach_caches(found, finder, every, chosen, resolved)
        elif snap is not None:  # not listed: only what ties processes to the caches they use
            found = _in_use(machine, anchor, snap, finder, every, chosen, resolved)
        names = accounts_mod.owner_names(every)
        found = [
            replace(e, owner=names.get(e.owner_uid, str(e.owner_uid)))
            if e.owner_uid is not None
            else e
            for e in found
        ]
        # system-wide ones first, then each owner's, by prefix
        found.sort(key=lambda e: (not e.shared, e.owner_uid != 0, e.owner or "", e.prefix))
        look = Look(machine, finder.readers, every, chosen, settings, found)
        by_kind = _kinds_found(look, selection.cache_kinds, skipped)
        if snap is None:
            return _sized_found(
                machine,
                selection,
                Found(every, resolved, found, site, skipped, kind_caches=by_kind),
            )
        result = _activity(
            machine, snap, found, every, [*resolved, *site], finder, anchor, selection.envs
        )
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
            selection.envs,
            by_kind,
        ),
    )


def _kinds_found(
    look: Look, names: Sequence[str], skipped: list[Skipped]
) -> dict[str, Sequence[CacheLocation]]:
    """Each chosen kind's caches as its own ``find`` tells (pip's: resolved above)."""
    from fleetcache.kinds import all as kinds_all  # the kinds import discovery: not at load

    out: dict[str, Sequence[CacheLocation]] = {}
    for kind in kinds_all.chosen(names):
        got, missed = kind.find(look)
        out[kind.NAME] = got
        skipped.extend(missed)
    return out


def _in_use(
    machine: Machine,
    anchor: int,
    snap: Snapshot,
    finder: caches_mod.Finder,
    every: Sequence[Account],
    chosen: Sequence[Account],
    resolved: Sequence[AccountCaches],
) -> list[Environment]:
    """Without the search for environments (``--no-envs``), the selected accounts' environments
    that any process runs from, found from the processes alone (no home walk), with their
    caches: so that a cache used by a running environment is still busy, never idle."""
    running = harvest.running(snap, View(machine), None)
    owners = {a.uid for a in chosen}
    homes = [a.home for a in every]
    found = envs_mod.running_prefixes(machine, anchor, [], running, owners, homes)
    found = envs_mod.check_bases(anchor, found)
    return envs_mod.attach_caches(found, finder, every, chosen, resolved)[0]


def _activity(
    machine: Machine,
    snap: Snapshot,
    envs: Sequence[Environment],
    every: Sequence[Account],
    resolved: Sequence[AccountCaches],
    finder: caches_mod.Finder,
    anchor: int,
    envs_known: bool = True,
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
        envs_known=envs_known,
    )


def busy_now(
    machine: Machine, found: Found, paths: Sequence[str] = ()
) -> Mapping[str, Sequence[ProcessUse]]:
    """Which caches are busy now: a fresh pass over the process table, matched against what
    :func:`discover` found, and the processes holding any of ``paths`` (a clean asks again
    right before each cache)."""
    snap = machine.processes()
    anchor = anchor_of(machine)
    try:
        with caches_mod.Finder(machine, anchor, found.every) as finder:
            resolved = [*found.resolved, *found.site_caches]
            busy = _activity(
                machine,
                snap,
                found.environments,
                found.every,
                resolved,
                finder,
                anchor,
                found.envs_known,
            ).busy
    finally:
        os.close(anchor)
    return _with_holders(machine, snap, found.every, busy, paths)


def in_use(
    machine: Machine, found: Found, paths: Sequence[str], again: bool = False
) -> Mapping[str, Sequence[ProcessUse]]:
    """What makes each of these caches in use: the processes that use it (environments, pips),
    sit in it or hold a file inside it, as discovery saw them or (``again``) in a fresh look.
    The ``busy`` of every kind without a lock of its own."""
    return busy_now(machine, found, paths) if again else found.busy_of(machine, paths)


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


def anchor_of(machine: Machine) -> int:
    """The machine's root, opened (the anchor every path of it is opened from)."""
    try:
        return safefs.open_anchor(machine.root)
    except OSError as exc:
        raise ScanError(f"cannot open root {machine.root}: {exc.strerror}") from None
