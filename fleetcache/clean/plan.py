"""The plan of one cache's clean: one walk lists what is there, the policy picks entries, and the
plan names every file and directory to remove, with the inode it had when it was planned.

Only the cache's own areas are touched (``http-v2/``, ``http/``, ``wheels/``, ``selfcheck/`` and
``selfcheck.json``), only what belongs to the cache's owner, never below a mount point, never
below a directory owned by someone else. The same walk gives pip's figures before the clean.
"""

from __future__ import annotations

import fnmatch
import json
import os
import re
import stat
from collections.abc import Collection, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Callable, Optional, Protocol, TypeVar

from fleetcache import lastuse, safefs
from fleetcache.clean.policy import Policy, age_text
from fleetcache.discovery.pipusers import NONE_KNOWN
from fleetcache.model import CacheFigures, Skipped
from fleetcache.pipcompat import matches, wheel_pattern
from fleetcache.stats.walk import PIP20_RELEASED, TMP_DIR, Walker

AREAS = ("http-v2", "http", "wheels", "selfcheck")
KEY = re.compile(r"[0-9a-f]{56}")
Parts = tuple[str, ...]

# why a file or directory is in the plan (the audit log's "reason")
PURGE = "purge"
ORPHAN = "junk: orphan half of an http entry"
TMP = "junk: tmp leftover"
LEGACY_HTTP = "junk: legacy http/ (pip >= 23.3 never reads it)"
DEAD_SELFCHECK = "junk: selfcheck key of an interpreter that is gone"
LEGACY_SELFCHECK = "junk: legacy selfcheck.json"
OLD_WHEEL = "junk: wheel built before pip 20.0 (never read again)"
NO_WHEEL = "no wheel left in its directory (as pip removes it)"
EMPTY = "empty directory"
OUTSIDE = "outside pip's areas"
OVER_CACHE = "least recently used first, over the size limit"
OVER_ACCOUNT = "least recently used first, over the account's size limit"
MOUNTED = "below a mount point"


@dataclass
class FileItem:
    """A file to remove: its name in its directory, the inode and inode change time it had
    (together they say it is still the same file: inode numbers are reused), its size, why."""

    __slots__ = ("ctime", "ino", "name", "reason", "size")  # one per file: a plan may hold many
    name: str
    ino: int
    ctime: int  # st_ctime_ns
    size: int
    reason: str


@dataclass
class DirPlan:
    """A directory of the plan: the files to remove in it, and whether to remove it once empty."""

    parts: Parts
    files: list[FileItem] = field(default_factory=list)
    remove: Optional[str] = None  # the reason to remove the emptied directory itself


@dataclass
class CachePlan:
    """What one clean of one cache removes: directories in an order that empties children
    before their parents, and the inode of every directory on the way to them."""

    path: str
    uid: int
    device: int
    dirs: list[DirPlan]
    inos: dict[Parts, int]
    before: CacheFigures
    left: dict[str, list[int]] = field(default_factory=dict)  # why not planned -> [files, bytes]
    problems: list[Skipped] = field(default_factory=list)
    over_limit: Optional[int] = None  # bytes still over --max-size once all it may remove is gone
    mounts: list[str] = field(default_factory=list)  # mount points below the cache: not entered
    frees: int = 0  # disk bytes the removals free (see frees)
    # (last use, bytes) of each entry taken only to get under the size limit (an account's
    # limit is met from these, oldest first across its caches: see clean.account)
    aged: list[tuple[float, int]] = field(default_factory=list)

    @property
    def files(self) -> int:
        """Files planned."""
        return sum(len(d.files) for d in self.dirs)

    @property
    def bytes(self) -> int:
        """Bytes planned (links count 0, as pip counts them)."""
        return sum(f.size for d in self.dirs for f in d.files)

    @property
    def removed_dirs(self) -> int:
        """Directories planned to be removed once emptied."""
        return sum(1 for d in self.dirs if d.remove)

    def by_reason(self) -> dict[str, list[int]]:
        """reason -> [files, bytes] (directories count as files of 0 bytes under their reason)."""
        out: dict[str, list[int]] = {}
        for d in self.dirs:
            for f in d.files:
                got = out.setdefault(f.reason, [0, 0])
                got[0] += 1
                got[1] += f.size
        return out


@dataclass
class File:
    __slots__ = (
        "ctime",
        "disk",
        "ino",
        "mine",
        "mtime",
        "name",
        "nlink",
        "prefix",
        "reason",
        "size",
        "used",
    )
    name: str
    ino: int
    ctime: int
    size: int
    mtime: float
    used: float  # its last use (see fleetcache.lastuse): what --older-than and --max-size go by
    mine: bool
    reason: Optional[str]
    prefix: Optional[str]  # a selfcheck key's interpreter prefix
    nlink: int
    disk: int  # allocated bytes (st_blocks * 512)


@dataclass
class Dir:
    parts: Parts
    ino: int
    mtime: float
    files: list[File]
    children: list[str]
    blocked: Optional[str] = None  # not planned below here, and why
    mine: bool = True
    rmdir: bool = False
    disk: int = 0  # its own allocated bytes


class _Unit:
    """What is removed together: an http entry's two halves, a wheel, a legacy file."""

    __slots__ = ("files", "junk", "name", "project", "where")  # one per entry: a plan may hold many

    def __init__(
        self, where: Dir, files: list[File], junk: Optional[str], name: Optional[str]
    ) -> None:
        self.where = where
        self.files = files
        self.junk = junk
        self.name = name  # the file that names the entry (see report.entries)
        self.project: Optional[str] = None

    @property
    def used(self) -> float:
        return max(f.used for f in self.files)

    @property
    def size(self) -> int:
        return sum(f.size for f in self.files)


def plan_cache(
    cache_fd: int,
    path: str,
    uid: int,
    policy: Policy,
    now: float,
    *,
    mounts: Collection[tuple[int, int]] = (),
    prefix_exists: Callable[[str], bool] = lambda prefix: True,
    projects: Optional[Mapping[str, Optional[str]]] = None,
    legacy_kept: Optional[str] = NONE_KNOWN,
) -> CachePlan:
    """Walk the opened cache once and plan what ``policy`` removes from it.

    ``mounts`` are the (device, inode) of mount points, never entered by the clean;
    ``prefix_exists`` tells whether an interpreter prefix a selfcheck key names is still there;
    ``projects`` maps an entry's path (as ``report.entries`` names it) to its project;
    ``legacy_kept`` says why the legacy http/ tree is no junk (None: it is junk).
    The walk follows no link at all (one counts as a file of 0 bytes, a link to a directory too).
    """
    policy = policy.effective
    root_st = os.fstat(cache_fd)

    def read(parts: Parts, dir_fd: int, here: Dir) -> None:
        if policy.junk and parts == ("selfcheck",):
            _read_prefixes(dir_fd, here)

    walked = walk_dirs(cache_fd, path, uid, mounts, AREAS, read)
    dirs, left, walker = walked.dirs, walked.left, walked.walker
    before = walker.figures()
    units = list(_units(dirs, prefix_exists, legacy_kept is None))
    if projects is not None:
        for unit in units:
            if unit.name is not None:
                unit.project = projects.get("/".join((*unit.where.parts, unit.name)))
    chosen = _select(units, policy, now, before.total_bytes, left)
    walked.aged = aged(chosen)
    if policy.junk and legacy_kept is not None:  # say why --junk leaves it
        _leave(left, f"legacy http/: {legacy_kept}", _legacy_left(units, chosen))
    for unit, reason in chosen:
        for f in unit.files:
            f.reason = f.reason or reason
    cutoff = None if policy.older_than is None else now - policy.older_than
    pip_rules = policy.purge or bool(policy.patterns)
    if pip_rules or policy.junk:  # as every `pip cache remove` does
        for f in dirs[()].files:
            if f.name == "selfcheck.json" and f.mine and _old(f.used, cutoff):
                f.reason = PURGE if policy.purge else LEGACY_SELFCHECK
    emptied = {u.where.parts for u, _ in chosen}
    tidy = _Tidy(dirs, pip_rules, policy.junk, emptied, cutoff)
    tidy.area(("wheels",), wheels=True)
    for area in ("http-v2", "http"):
        tidy.area((area,), wheels=False)
    return finish(walked, root_st, policy, before, lambda d: EMPTY)


def finish(
    walked: Walked,
    root_st: os.stat_result,
    policy: Policy,
    before: CacheFigures,
    dir_reason: Callable[[Dir], str],
) -> CachePlan:
    """The plan of a walked cache once its files' reasons and directories' ``rmdir`` are set:
    children before their parents, the bytes it frees, what stays over ``--max-size``."""
    out = []
    for d in sorted(walked.dirs.values(), key=lambda d: d.parts, reverse=True):
        files = [FileItem(f.name, f.ino, f.ctime, f.size, f.reason) for f in d.files if f.reason]
        remove = dir_reason(d) if d.parts and d.rmdir else None
        if files or remove:
            out.append(DirPlan(d.parts, files, remove))
    over = None
    if policy.max_size is not None:
        after = before.total_bytes - sum(f.size for d in out for f in d.files)
        over = after - policy.max_size if after > policy.max_size else None
    return CachePlan(
        path=walked.walker.path,
        uid=walked.walker.owner,
        device=root_st.st_dev,
        dirs=out,
        inos={p: d.ino for p, d in walked.dirs.items()},
        before=before,
        left=walked.left,
        problems=list(walked.walker.problems),
        over_limit=over,
        mounts=walked.skipped,
        frees=frees(walked.dirs),
        aged=walked.aged,
    )


@dataclass
class Walked:
    """One cache walked for a plan: every directory with its files, what was left and why, the
    cache's figures before the clean (``walker``), and the mount points not entered."""

    dirs: dict[Parts, Dir]
    left: dict[str, list[int]]
    walker: Walker
    skipped: list[str]
    aged: list[tuple[float, int]] = field(default_factory=list)  # see CachePlan.aged


def walk_dirs(
    cache_fd: int,
    path: str,
    uid: int,
    mounts: Collection[tuple[int, int]] = (),
    areas: Optional[Collection[str]] = None,
    on_dir: Optional[Callable[[Parts, int, Dir], None]] = None,
) -> Walked:
    """Walk the opened cache once, following no link, noting every directory and file; below a
    top directory not in ``areas`` (None: all are), nothing is ever planned. ``on_dir`` reads
    what it needs from each directory that may be planned (its descriptor, open meanwhile)."""
    walker = Walker(path, uid)
    walker.age_basis = lastuse.basis(cache_fd)
    atime = walker.age_basis == lastuse.ATIME
    dirs: dict[Parts, Dir] = {}
    left: dict[str, list[int]] = {}
    skipped: list[str] = []
    walk = safefs.walk(
        cache_fd, walker.problem, skip=mounts, on_skip=lambda p: skipped.append("/".join(p))
    )
    for parts, dir_fd, entries, subdirs in walk:
        here = _listing(parts, dir_fd, uid, dirs, mounts, areas)
        kept = _kept(entries, here.files, uid, atime)
        walker.visit(parts, dir_fd, kept, here.disk)  # the directory's fstat: taken once
        safefs.rest(kept)
        here.children = subdirs
        if here.blocked == OUTSIDE or not parts:
            continue
        if here.blocked:
            _leave(left, here.blocked, here.files)
            continue
        _leave(left, "owned by another account", [f for f in here.files if not f.mine])
        if on_dir is not None:
            on_dir(parts, dir_fd, here)
    return Walked(dirs, left, walker, skipped)


def frees(dirs: Mapping[Parts, Dir]) -> int:
    """Disk bytes the plan frees: each directory it removes, each planned file of one link, and a
    file of several only when all its links are planned (one inode, counted once; the plan
    never leaves the cache's filesystem, so its inode number says which)."""
    freed = 0
    linked: dict[int, list[int]] = {}  # inode -> [its links not planned, its disk bytes]
    for d in dirs.values():
        if d.parts and d.rmdir:
            freed += d.disk
        for f in d.files:
            if not f.reason:
                continue
            if f.nlink == 1:
                freed += f.disk
            else:
                linked.setdefault(f.ino, [f.nlink, f.disk])[0] -= 1
    return freed + sum(disk for left, disk in linked.values() if left <= 0)


def _old(used: float, cutoff: Optional[float]) -> bool:
    """Whether --older-than lets something last used then go (always, without --older-than)."""
    return cutoff is None or used < cutoff


def _listing(
    parts: Parts,
    dir_fd: int,
    uid: int,
    dirs: dict[Parts, Dir],
    mounts: Collection[tuple[int, int]],
    areas: Optional[Collection[str]],
) -> Dir:
    """The plan's record of one directory (its files are noted as the walk lists them)."""
    st = os.fstat(dir_fd)
    parent = dirs.get(parts[:-1]) if parts else None
    blocked = None
    if (st.st_dev, st.st_ino) in mounts:  # (the walk does not enter them: in case one is new)
        blocked = MOUNTED
    elif parent is not None and parent.blocked:
        blocked = parent.blocked
    elif len(parts) == 1 and areas is not None and parts[0] not in areas:
        blocked = OUTSIDE
    elif st.st_uid != uid:
        blocked = f"in a directory owned by uid {st.st_uid}"
    here = Dir(parts, st.st_ino, st.st_mtime, [], [], blocked, st.st_uid == uid)
    here.disk = st.st_blocks * 512
    dirs[parts] = here
    return here


def _kept(
    entries: Iterable[os.DirEntry[str]], files: list[File], uid: int, atime: bool
) -> Iterator[os.DirEntry[str]]:
    """The entries, passed on one at a time (to the walker that counts them); each is then noted
    in ``files`` from the stat the walker took (a DirEntry keeps it), and dropped; ``atime``:
    the filesystem records access times (a file's last use is then the later of the two)."""
    for entry in entries:
        yield entry
        try:
            fst = entry.stat(follow_symlinks=False)
        except OSError:
            continue  # gone, or unreadable: the walker has noted it
        size = 0 if stat.S_ISLNK(fst.st_mode) else fst.st_size
        mine = fst.st_uid == uid
        files.append(
            File(entry.name, fst.st_ino, fst.st_ctime_ns, size, fst.st_mtime,
                 lastuse.used(fst, atime), mine, None, None, fst.st_nlink, fst.st_blocks * 512)
        )  # fmt: skip


def _leave(left: dict[str, list[int]], why: str, files: list[File]) -> None:
    if files:
        got = left.setdefault(why, [0, 0])
        got[0] += len(files)
        got[1] += sum(f.size for f in files)


def _units(
    dirs: Mapping[Parts, Dir], prefix_exists: Callable[[str], bool], legacy_junk: bool
) -> Iterator[_Unit]:
    """Every removable thing in the cache's areas, with what makes it junk (the legacy http/
    tree only when ``legacy_junk``: no pip that may read it uses the cache)."""
    for parts, d in dirs.items():
        if not parts or d.blocked:
            continue
        mine = [f for f in d.files if f.mine]
        area = parts[0]
        if area == "http-v2":
            yield from _http_v2_units(d, mine)
        elif area == "http":
            legacy = LEGACY_HTTP if legacy_junk else None
            for f in mine:
                yield _Unit(d, [f], TMP if f.name.endswith(".tmp") else legacy, f.name)
        elif area == "wheels":
            in_tmp = any(TMP_DIR.fullmatch(p) for p in parts[1:])
            wheels = [f for f in mine if fnmatch.fnmatchcase(f.name, "*-*.whl")]
            old = (  # built before pip 20.0: by mtime (a read is no build)
                not any(f.name == "origin.json" for f in d.files)
                and bool(d.files)
                and max(f.mtime for f in d.files) < PIP20_RELEASED
            )
            for f in wheels:
                yield _Unit(d, [f], TMP if in_tmp else OLD_WHEEL if old else None, f.name)
            if in_tmp:
                for f in mine:
                    if f not in wheels:
                        yield _Unit(d, [f], TMP, None)
        elif area == "selfcheck":
            for f in mine:
                yield _Unit(d, [f], _selfcheck_junk(f, prefix_exists), None)


def _legacy_left(units: Iterable[_Unit], chosen: Iterable[tuple[_Unit, str]]) -> list[File]:
    """The legacy http/ files no selector took (a pip that uses the cache may read them)."""
    taken = {id(u) for u, _ in chosen}
    return [
        f
        for u in units
        if u.where.parts[0] == "http" and not u.junk and id(u) not in taken
        for f in u.files
    ]


def _http_v2_units(d: Dir, mine: list[File]) -> Iterator[_Unit]:
    halves: dict[str, list[File]] = {}
    for f in mine:
        key = f.name[:-5] if f.name.endswith(".body") else f.name
        if KEY.fullmatch(key):
            halves.setdefault(key, []).append(f)
        elif f.name.endswith(".tmp"):
            yield _Unit(d, [f], TMP, None)
        else:
            yield _Unit(d, [f], None, None)  # a stray: only a purge removes it, as pip does
    present = {f.name for f in d.files}
    for key, got in halves.items():
        whole = key in present and f"{key}.body" in present
        named = key if key in present else f"{key}.body"
        yield _Unit(d, got, None if whole else ORPHAN, named)


def _selfcheck_junk(f: File, prefix_exists: Callable[[str], bool]) -> Optional[str]:
    if f.name.endswith(".tmp"):
        return TMP
    if f.prefix is None or prefix_exists(f.prefix):
        return None
    return DEAD_SELFCHECK


def _read_prefixes(dir_fd: int, d: Dir) -> None:
    """Note on each selfcheck file the interpreter prefix its JSON names (a few hundred bytes)."""
    for f in d.files:
        if not f.mine or f.name.endswith(".tmp"):
            continue
        try:  # read_at opens only a regular file, and leaves its access time alone
            data = json.loads(safefs.read_at(dir_fd, f.name, 4096))
        except (OSError, ValueError, RecursionError, safefs.UnsafePath):
            continue  # a user's file: any JSON, nested however deep
        if isinstance(data, dict) and isinstance(data.get("key"), str):
            f.prefix = data["key"]


def _select(
    units: list[_Unit], policy: Policy, now: float, total: int, left: dict[str, list[int]]
) -> list[tuple[_Unit, str]]:
    """The units the policy removes, each with its reason (selfcheck keys never by age or size);
    what the policy's ``keep`` spares is counted in ``left``."""
    globs = [wheel_pattern(p) for p in policy.patterns]
    free = []
    for unit in units:
        why_kept = policy.kept(unit.project, unit.name) if policy.keep else None
        if why_kept is None:
            free.append(unit)
        else:
            _leave(left, why_kept, unit.files)
    return choose(
        free,
        lambda u: _why(u, policy, globs),
        policy,
        now,
        total,
        aging=lambda u: u.where.parts[0] != "selfcheck",
    )


class Aged(Protocol):
    """An entry a policy picks by its last use and size."""

    @property
    def used(self) -> float: ...

    @property
    def size(self) -> int: ...


E = TypeVar("E", bound=Aged)


def choose(
    entries: Iterable[E],
    why_of: Callable[[E], Optional[str]],
    policy: Policy,
    now: float,
    total: int,
    aging: Callable[[E], bool] = lambda e: True,
) -> list[tuple[E, str]]:
    """The entries ``policy`` removes, each with its reason: those its selectors name (their
    own reason, from ``why_of``), only the older with --older-than (alone, it takes every older
    one ``aging`` allows), then the oldest of the rest ``aging`` allows until the cache is under
    --max-size (``total``: its bytes before)."""
    chosen: list[tuple[E, str]] = []
    rest: list[E] = []
    cutoff = None if policy.older_than is None else now - policy.older_than
    aged = "" if policy.older_than is None else f"older than {age_text(policy.older_than)}"
    for entry in entries:
        why = why_of(entry)
        if why is None and not policy.selects and cutoff is not None:
            why = aged if aging(entry) else None
        if why is not None and cutoff is not None:
            why = why if entry.used < cutoff else None
            if why is not None and policy.selects:
                why = f"{why}, {aged}"
        if why is not None:
            chosen.append((entry, why))
        elif aging(entry):
            rest.append(entry)
    if policy.until is not None:  # the account's cutoff (see clean.account): one test, no sum
        until = policy.until
        chosen.extend((e, OVER_ACCOUNT) for e in rest if e.used <= until)
    elif policy.max_size is not None:
        size = total - sum(e.size for e, _ in chosen)
        for entry in sorted(rest, key=lambda e: e.used):
            if size <= policy.max_size:
                break
            chosen.append((entry, OVER_CACHE))
            size -= entry.size
    return chosen


def aged(chosen: Iterable[tuple[Aged, str]]) -> list[tuple[float, int]]:
    """(last use, bytes) of each entry chosen only for the size limit."""
    return [(e.used, e.size) for e, why in chosen if why == OVER_CACHE]


def _why(unit: _Unit, policy: Policy, globs: list[str]) -> Optional[str]:
    area = unit.where.parts[0]
    if policy.purge and area in ("http-v2", "http"):
        return PURGE
    first = unit.files[0].name
    if area == "wheels" and (policy.purge or any(matches(first, g) for g in globs)):
        return PURGE if policy.purge else "pattern"
    if unit.project is not None and unit.project in policy.packages:
        return f"package {unit.project}"
    if policy.junk and unit.junk is not None:
        return unit.junk
    return None


class _Tidy:
    """pip's tidying after a removal: in ``wheels/``, a directory with no wheel left in it or
    below loses the rest of its files; every directory left without files goes. With pip's own
    selectors (purge, pattern) and with --junk this covers every such directory, as
    ``pip cache remove`` does; otherwise only those this clean emptied. --older-than spares what
    is younger, directories included, unless this clean emptied them."""

    def __init__(
        self,
        dirs: Mapping[Parts, Dir],
        pip_rules: bool,
        junk: bool,
        emptied: set[Parts],
        cutoff: Optional[float],
    ) -> None:
        self.dirs = dirs
        self.pip_rules = pip_rules
        self.junk = junk
        self.emptied = emptied
        self.cutoff = cutoff

    def area(self, top: Parts, wheels: bool) -> None:
        """Tidy one of the cache's areas, when it is there: children before their parents (a
        loop, not a recursion: an account may nest directories as deep as it likes)."""
        if top not in self.dirs:
            return
        done: dict[Parts, tuple[bool, bool, bool]] = {}
        for parts in sorted((p for p in self.dirs if p[: len(top)] == top), reverse=True):
            done[parts] = self._one(parts, wheels, done)

    def _one(
        self, parts: Parts, wheels: bool, done: Mapping[Parts, tuple[bool, bool, bool]]
    ) -> tuple[bool, bool, bool]:
        """(this directory stays, a wheel stays in it or below, something is planned in or below)"""
        d = self.dirs[parts]
        kept = wheel_kept = False
        touched = parts in self.emptied
        for name in d.children:
            child = done.get((*parts, name))
            if child is None:  # not walked (unreadable, pruned): it stays, as it is
                kept = wheel_kept = True
                continue
            stays, wheel, planned = child
            kept, wheel_kept, touched = kept or stays, wheel_kept or wheel, touched or planned
        if d.blocked or not d.mine:
            return True, True, touched
        allowed = self.pip_rules or touched or self.junk
        wheel_kept = wheel_kept or any(not f.reason and f.name.endswith(".whl") for f in d.files)
        if wheels and not wheel_kept and allowed:
            why = NO_WHEEL if self.pip_rules or touched else "junk: wheel directory without a wheel"
            for f in d.files:
                if f.mine and not f.reason and _old(f.used, self.cutoff):
                    f.reason = why
        remaining = kept or any(not f.reason for f in d.files)
        emptied = touched or any(f.reason for f in d.files)
        # a directory by its mtime: any listing (du, find, ls) moves its access time
        d.rmdir = not remaining and allowed and (emptied or _old(d.mtime, self.cutoff))
        return not d.rmdir, wheel_kept, emptied
