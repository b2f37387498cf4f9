"""uv's cache layout (0.13.9 and later: bucket versions move, so ``name-vN`` is matched, never a
number): what a root holds, the entries of its buckets, and which archives pointers refer to."""

from __future__ import annotations

import os
import re
import stat
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Optional

import msgpack
from packaging.utils import canonicalize_name as canonicalize

from fleetcache import safefs
from fleetcache.clean.plan import Dir, Parts, Walked
from fleetcache.kinds.tree import Unit

BUCKET = re.compile(r"([a-z][a-z0-9]*(?:-[a-z][a-z0-9]*)*)-v(\d+)")
ROOT_FILES = frozenset({".lock", "CACHEDIR.TAG", ".gitignore"})  # `uv cache clean` leaves them
ARCHIVE = "archive-v0"
DIST_INFO = re.compile(r"(.+)-([^-]+)\.dist-info")
SIDE_FILES = (".http", ".msgpack", ".lock", ".rev")  # beside a wheel entry: not links
ARCHIVE_ID = re.compile(rb"\xb0([A-Za-z0-9_-]{16})")  # msgpack's 16-character string
REV_LIMIT = 1 << 16
OLD = "junk: bucket of an older uv cache version (uv no longer reads it)"
UNREFERENCED = "junk: archive no wheel or sdist entry refers to"
ENVIRONMENT = "junk: cached environment no process uses"
IN_USE = "a running environment uses it"


def bucket(name: str) -> Optional[tuple[str, int]]:
    """A top-level bucket's name and version (``wheels-v8`` -> ("wheels", 8))."""
    got = BUCKET.fullmatch(name)
    return None if got is None else (got.group(1), int(got.group(2)))


def looks_like(dir_fd: int, names: set[str]) -> bool:
    """uv's root: a bucket directory, and its lock or CACHEDIR.TAG (regular files). A venv made
    by uv has both files too, and no bucket. ``names`` (its subdirectories at least) are
    matched first: a search asks this of every directory it walks."""
    buckets = [n for n in names if bucket(n)]
    if not buckets or not any(_is(dir_fd, n, stat.S_ISREG) for n in (".lock", "CACHEDIR.TAG")):
        return False
    return any(_is(dir_fd, n, stat.S_ISDIR) for n in buckets)


def _is(dir_fd: int, name: str, test: object) -> bool:
    try:
        st = os.stat(name, dir_fd=dir_fd, follow_symlinks=False)
    except OSError:
        return False
    return bool(test(st.st_mode))  # type: ignore[operator]


@dataclass
class Pointers:
    """What the walk read beside the listings: archives referred to, and from which package."""

    archives: dict[str, set[str]] = field(default_factory=dict)  # archive id -> projects
    referred: set[str] = field(default_factory=set)  # every archive id something points to
    sdists: dict[Parts, tuple[str, str]] = field(default_factory=dict)  # not of an index
    environments: dict[str, set[str]] = field(default_factory=dict)  # its archives, by entry
    names: dict[str, tuple[str, str]] = field(default_factory=dict)  # archive id -> (name, ver)

    def read(self, parts: Parts, dir_fd: int, here: Dir) -> None:
        """Note the archives a wheel or sdist entry points to (by a link, or an id in a .rev
        file: wherever in the bucket, as its layout differs by source), and archives' names."""
        kind = bucket(parts[0]) if parts else None
        if kind is not None and kind[0] in ("wheels", "sdists") and len(parts) >= 2:
            # wheels-vN/<index|url|path>/<hash>/<pkg>/...; sdists of a path name no package
            project = canonicalize(parts[3]) if kind[0] == "wheels" and len(parts) > 3 else None
            for f in here.files:
                if f.name.endswith(".rev"):
                    self._rev(dir_fd, f.name, project)
                elif f.size == 0 and not f.name.endswith((*SIDE_FILES, ".whl")):
                    self._link(dir_fd, f.name, project)
            if kind[0] == "sdists" and len(parts) == 4 and parts[1] != "index":
                self._sdist(parts, dir_fd, here)
        elif kind is not None and kind[0] == "environments" and len(parts) == 2:
            links = self.environments.setdefault("/".join(parts), set())
            for f in here.files:
                if f.size == 0 and not f.name.endswith(SIDE_FILES):
                    links.update(_archive_of(_readlink(dir_fd, f.name)))
        elif parts[:1] == (ARCHIVE,) and len(parts) == 2:
            for child in here.children:
                got = DIST_INFO.fullmatch(child)
                if got:
                    self.names[parts[1]] = (canonicalize(got.group(1)), got.group(2))

    def _sdist(self, parts: Parts, dir_fd: int, here: Dir) -> None:
        """An sdist of a URL, a path or git: its revision's metadata.msgpack names it."""
        if not any(f.name == "metadata.msgpack" for f in here.files):
            return
        try:
            got = msgpack.unpackb(safefs.read_at(dir_fd, "metadata.msgpack", REV_LIMIT))
        except Exception:  # an account's file: any fault means it names nothing
            return
        if isinstance(got, list) and len(got) > 1 and all(isinstance(x, str) for x in got[:2]):
            self.sdists[parts[:3]] = (canonicalize(got[0]), got[1])

    def _link(self, dir_fd: int, name: str, project: Optional[str]) -> None:
        for archive in _archive_of(_readlink(dir_fd, name)):
            self._refer(archive, project)

    def _rev(self, dir_fd: int, name: str, project: Optional[str]) -> None:
        """A revision names its archive by id (msgpack: a 16-character string): any such id in
        it counts, so that no archive one may name is taken for unreferenced."""
        try:
            data = safefs.read_at(dir_fd, name, REV_LIMIT)
        except (OSError, safefs.UnsafePath):
            return
        for found in ARCHIVE_ID.finditer(data):
            self._refer(found.group(1).decode("ascii"), project)

    def _refer(self, archive: str, project: Optional[str]) -> None:
        got = self.archives.setdefault(archive, set())
        if project is not None:
            got.add(project)
        self.referred.add(archive)


def _readlink(dir_fd: int, name: str) -> str:
    try:
        return os.readlink(name, dir_fd=dir_fd)
    except OSError:
        return ""  # not a link


def _archive_of(target: str) -> list[str]:
    """The archive a link's target is (none when it is no archive-v0/<id>)."""
    head, _, archive = target.rstrip("/").rpartition("/")
    return [archive] if head.endswith(ARCHIVE) and archive else []


@dataclass(frozen=True)
class InUse:
    """What running environments use: archives and cached environments (bucket/id)."""

    archives: frozenset[str] = frozenset()
    environments: frozenset[str] = frozenset()

    @classmethod
    def of(cls, used: frozenset[str], pointers: Pointers) -> InUse:
        """From the (bucket/id) that discovered environments in use lie in: an environment's
        archives are in use with it, and an environment with an archive in use."""
        archives = {u.split("/")[1] for u in used if u.startswith(ARCHIVE + "/")}
        for env, ids in pointers.environments.items():
            if env in used:
                archives |= ids
        envs = {u for u in used if u.startswith("environments-")}
        envs |= {e for e, ids in pointers.environments.items() if ids & archives}
        return cls(frozenset(archives), frozenset(envs))

    def holds(self, parts: Parts) -> bool:
        """Whether an entry (bucket, id) is in use."""
        return (
            parts[1] in self.archives
            if parts[0] == ARCHIVE
            else "/".join(parts) in self.environments
        )


def units(
    walked: Walked, pointers: Pointers, purge: bool, used: frozenset[str], fine: bool = False
) -> Iterator[Unit]:
    """Every entry of the cache: with ``purge``, each top-level thing but uv's root files;
    else the named entries of each bucket (``used``: cached environments a process uses). A
    package's wheels and sdists go whole, as `uv cache clean P` removes them; ``fine`` names
    each version apart (for reports)."""
    top = walked.dirs.get(())
    if top is None:
        return
    in_use = InUse.of(used, pointers)
    held = {e.split("/")[0] for e in in_use.environments} | (
        {ARCHIVE} if in_use.archives else set()
    )
    names = [f.name for f in top.files] + list(top.children)
    versions: dict[str, int] = {}
    for name in names:
        got = bucket(name)
        if got:
            versions[got[0]] = max(versions.get(got[0], -1), got[1])
    for name in names:
        if name in ROOT_FILES:
            continue
        got = bucket(name)
        if got is not None and name in held:  # never whole: a running environment is in it
            yield from _entries(walked, name, got[0], pointers, in_use, fine)
        elif purge or got is None:
            yield Unit((name,), what="bucket" if got else "file")
        elif got[1] < versions[got[0]]:
            yield Unit((name,), junk=OLD, what="bucket")
        else:
            yield from _entries(walked, name, got[0], pointers, in_use, fine)


def _entries(
    walked: Walked, name: str, kind: str, pointers: Pointers, in_use: InUse, fine: bool
) -> Iterator[Unit]:
    """The entries of one current bucket, named from their paths."""
    for parts, d in walked.dirs.items():
        if parts[:1] != (name,):
            continue
        depth = len(parts)
        if kind == "sdists" and depth == 3 and parts[1] != "index":
            project, version = pointers.sdists.get(parts, (None, None))
            yield Unit(parts, project, version, what="sdist")
        elif kind == "sdists" and parts[1:2] != ("index",):
            continue  # below an entry
        elif kind in ("wheels", "sdists") and depth == 4 and not fine:
            yield Unit(parts, canonicalize(parts[3]), what=kind[:-1])
        elif kind == "wheels" and depth == 4:
            for f in d.files:
                version = f.name.split("-", 1)[0]
                yield Unit((*parts, f.name), canonicalize(parts[3]), version, what="wheel")
        elif kind == "sdists" and depth == 5 and fine:
            yield Unit(parts, canonicalize(parts[3]), parts[4], what="sdist")
        elif kind == "simple" and depth == 3:
            for f in d.files:
                if f.name.endswith(".rkyv"):
                    project = canonicalize(f.name[: -len(".rkyv")])
                    yield Unit((*parts, f.name), project, what="index page")
        elif name == ARCHIVE and depth == 2:
            yield _archive(parts, pointers, in_use.holds(parts))
        elif kind == "environments" and depth == 2:
            keep = IN_USE if in_use.holds(parts) else None
            yield Unit(parts, junk=ENVIRONMENT, keep=keep, what="environment")
        elif depth == 2 and kind not in ("wheels", "sdists", "simple"):
            yield Unit(parts, what=kind)


def _archive(parts: Parts, pointers: Pointers, held: bool) -> Unit:
    """An unpacked wheel (or a cached environment): named by its dist-info, junk when no entry
    refers to it, never removed while a running environment uses it."""
    referrers = pointers.archives.get(parts[1], set())
    name, version = pointers.names.get(parts[1], (None, None))
    if len(referrers) == 1:
        name = next(iter(referrers))  # `uv cache clean P` takes the archives P's entries name
    junk = None if parts[1] in pointers.referred else UNREFERENCED
    return Unit(parts, name, version, junk, IN_USE if held else None, what="archive")
