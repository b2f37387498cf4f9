"""What most cache kinds share: a clean that removes whole entries (a package's directory, an
archive, one file). The kind names its entries from one walk; the policy picks among them; the
plan removes each picked entry whole, files first, then its directories, children first."""

from __future__ import annotations

import fnmatch
import os
from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass, replace
from typing import Callable, Optional

from fleetcache import safefs
from fleetcache.clean.plan import (
    PURGE,
    CachePlan,
    Dir,
    File,
    Parts,
    Walked,
    aged,
    choose,
    finish,
    walk_dirs,
)
from fleetcache.clean.policy import Policy
from fleetcache.kinds.base import PlanContext
from fleetcache.model import CacheEntry, CacheFigures
from fleetcache.report import entries as entries_mod
from fleetcache.report.entries import EntriesOutcome
from fleetcache.stats.walk import WalkOutcome, WalkTask, walk_cache

OnDir = Callable[[Parts, int, Dir], None]


@dataclass
class Unit:
    """An entry a clean removes whole, or leaves whole."""

    parts: Parts  # where in the cache: a directory (and all below it), or one file
    project: Optional[str] = None  # its package, PEP 503-normalised (--package)
    version: Optional[str] = None
    junk: Optional[str] = None  # why --junk takes it (None: it is no junk)
    keep: Optional[str] = None  # why no clean ever takes it (counted as left, with this reason)
    purge: bool = True  # whether a purge takes it (False: the tool's own purge leaves it)
    what: str = "file"  # what it is, as a report names it: wheel, sdist, archive, index page...
    how: str = "path"  # how its name was found, as a report says it: path, file name...
    area: Optional[str] = None  # the cache's area it is in, as a report says it (None: its top)


@dataclass
class _Sized:
    unit: Unit
    files: list[tuple[Dir, File]]
    dirs: list[Dir]
    whole: bool  # every file and directory of it is the owner's, and none is blocked
    size: int = 0
    mtime: float = 0.0  # newest modification of its files and directories
    used: float = 0.0  # its last use: its files' (see fleetcache.lastuse), its directories' mtime


def plan_units(
    cache_fd: int,
    path: str,
    uid: int,
    policy: Policy,
    now: float,
    context: PlanContext,
    units: Callable[[Walked], Iterable[Unit]],
    *,
    areas: Optional[Collection[str]] = None,
    on_dir: Optional[OnDir] = None,
) -> CachePlan:
    """Walk the opened cache once, let ``units`` name its entries, and plan what ``policy``
    removes: whole entries only. ``areas``: the top directories a clean may touch (None: all);
    ``on_dir``: reads what ``units`` needs from each directory while the walk has it open."""
    policy = policy.effective
    root_st = os.fstat(cache_fd)
    walked = walk_dirs(cache_fd, path, uid, context.mounts, areas, on_dir)
    before = walked.walker.figures()
    sized = _sized(walked.dirs, units(walked))
    left = walked.left
    chosen = _select(sized, policy, now, before.total_bytes, left)
    walked.aged = aged(chosen)
    for item, why in chosen:
        for _, f in item.files:
            f.reason = why
        for d in item.dirs:
            d.rmdir = True
    return finish(walked, root_st, policy, before, _dir_reason)


def _dir_reason(d: Dir) -> str:
    """A removed directory's reason: its entry's (any file's reason in it says it)."""
    return next((f.reason for f in d.files if f.reason), "its entry is removed")


def _sized(dirs: Mapping[Parts, Dir], units: Iterable[Unit]) -> list[_Sized]:
    """Each unit with its files and directories (one pass over the directories: a directory
    belongs to the unit of its nearest ancestor that is one)."""
    out: list[_Sized] = []
    of_dir: dict[Parts, _Sized] = {}
    for unit in units:
        parent = dirs.get(unit.parts[:-1])
        if unit.parts in dirs:
            item = _Sized(unit, [], [], True)
            of_dir[unit.parts] = item
        elif parent is not None:
            got = [f for f in parent.files if f.name == unit.parts[-1]]
            mine = not parent.blocked and all(f.mine for f in got)
            item = _Sized(unit, [(parent, f) for f in got], [], mine and bool(got))
        else:
            continue  # named, but not walked (unreadable, below a mount point)
        out.append(item)
    walked: dict[Parts, set[str]] = {}
    for parts in dirs:
        if parts:
            walked.setdefault(parts[:-1], set()).add(parts[-1])
    for parts, d in dirs.items():
        owner = next((of_dir[parts[:k]] for k in range(len(parts), 0, -1) if parts[:k] in of_dir),
                     None)  # fmt: skip
        if owner is None:
            continue
        owner.dirs.append(d)
        owner.files.extend((d, f) for f in d.files)
        if d.blocked or not d.mine or not all(f.mine for f in d.files):
            owner.whole = False
        if not walked.get(parts, set()).issuperset(d.children):
            owner.whole = False  # a subdirectory not walked: it would stay
    for item in out:
        item.size = sum(f.size for _, f in item.files)
        # a directory's access time is no use: any listing (du, find, ls) moves it
        dir_times = [d.mtime for d in item.dirs]
        item.mtime = max([f.mtime for _, f in item.files] + dir_times, default=0.0)
        item.used = max([f.used for _, f in item.files] + dir_times, default=0.0)
    return out


def _select(
    items: list[_Sized], policy: Policy, now: float, total: int, left: dict[str, list[int]]
) -> list[tuple[_Sized, str]]:
    """The entries the policy removes, each with its reason; what is kept whole for a reason
    of the kind's is counted in ``left``."""
    free = []
    for item in items:
        unit = item.unit
        named = None if unit.project is None else f"{unit.project}-{unit.version}"
        by_policy = policy.kept(unit.project, named, unit.parts[-1]) if policy.keep else None
        if unit.keep is not None or not item.whole or by_policy is not None:
            why_kept = unit.keep or by_policy or "part of an entry another account owns"
            # (what is not the owner's, the walk has counted as left already)
            mine = [f for d, f in item.files if f.mine and not d.blocked]
            got = left.setdefault(why_kept, [0, 0])
            got[0] += len(mine)
            got[1] += sum(f.size for f in mine)
        else:
            free.append(item)
    return choose(free, lambda i: _why(i.unit, policy), policy, now, total)


def _why(unit: Unit, policy: Policy) -> Optional[str]:
    if policy.purge and unit.purge:
        return PURGE
    if unit.project is not None and unit.project in policy.packages:
        return f"package {unit.project}"
    named = unit.project if unit.version is None else f"{unit.project}-{unit.version}"
    if unit.project is not None and any(
        fnmatch.fnmatch(unit.project, p) or fnmatch.fnmatch(named or "", p) for p in policy.patterns
    ):
        return "pattern"
    if policy.junk and unit.junk is not None:
        return unit.junk
    return None


def measure(task: WalkTask) -> WalkOutcome:
    """Any cache's figures from one walk (the totals and link-aware bytes; pip's own figures
    are for pip's layout alone, and are left at zero): regular files, each inode once; a link is
    no file and is never resolved (uv points at its archives with one link each)."""
    got = walk_cache(task, pip_links=False)
    f = got.figures
    figures = CacheFigures(
        total_files=f.total_files,
        total_bytes=f.total_bytes,
        dirs=f.dirs,
        disk_bytes=f.disk_bytes,
        reclaimable_bytes=f.reclaimable_bytes,
        shared_bytes=f.shared_bytes,
        other_files=f.total_files,
        other_bytes=f.total_bytes,
        foreign_files=f.foreign_files,
        foreign_bytes=f.foreign_bytes,
        odd_names=f.odd_names,
        vanished=f.vanished,
        unreadable=f.unreadable,
        oldest_mtime=f.oldest_mtime,
        newest_mtime=f.newest_mtime,
        age_basis=f.age_basis,
    )
    return replace(got, figures=figures)


def entries(
    task: WalkTask,
    units: Callable[[Walked], Iterable[Unit]],
    on_dir: Optional[OnDir] = None,
    areas: Optional[Collection[str]] = None,
    unnamed: bool = True,
) -> EntriesOutcome:
    """Every entry ``units`` names in one cache (opened as the scan opens it), from one walk;
    without ``unnamed``, only those it knows the package of."""

    def read(path: str, opened: safefs.Opened) -> EntriesOutcome:
        walked = walk_dirs(opened.fd, path, opened.st.st_uid, areas=areas, on_dir=on_dir)
        named = [
            CacheEntry(path, "/".join(u.parts), u.area or u.parts[0], u.what, u.project,
                       u.version, u.how, len(i.files), i.size, i.mtime, used=i.used)
            for i in _sized(walked.dirs, units(walked))
            for u in (i.unit,)
            if unnamed or u.project is not None
        ]  # fmt: skip
        return EntriesOutcome(tuple(named), problems=tuple(walked.walker.problems[:20]))

    return entries_mod.read_opened(task, read)


def sized(dirs: Mapping[Parts, Dir], units: Iterable[Unit]) -> list[tuple[Unit, int, int, float]]:
    """Each unit the walk reached, with its files, bytes and newest mtime (report --by package)."""
    return [(i.unit, len(i.files), i.size, i.mtime) for i in _sized(dirs, units)]
