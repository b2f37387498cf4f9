"""One walk of one pip cache: pip's own four figures, and what pip does not show, from one lstat a file."""

from __future__ import annotations

import fnmatch
import json
import os
import re
import stat
from collections.abc import Collection, Iterable, Iterator
from contextlib import closing
from dataclasses import dataclass, field, fields
from typing import Optional

from fleetcache import lastuse, safefs
from fleetcache.model import CacheFigures, SelfcheckKey, Skipped
from fleetcache.stats.pairs import Pairs

# pip 20.0 (2020-01-21) added the interpreter to the wheel cache key; files older than that were
# written by an older pip under a key no current pip computes.
PIP20_RELEASED = 1579564800.0
# tempfile.mkdtemp names, where pip 25.3+ builds wheels before moving them into place
TMP_DIR = re.compile(r"tmp[a-z0-9_]{8}")
MAX_PROBLEMS = 20
MAX_SELFCHECK_KEYS = 1_000  # interpreters named in selfcheck/: a few dozen on a busy account
# Files with more than one link whose links are counted: about 90 bytes each (18 MB at most). Past
# that, another link to one of the others is counted again and it counts as shared (said in problems).
MAX_LINKED = 200_000
LEFT = (1 << 32) - 1  # the low bits of a linked inode's record: its links not yet seen


@dataclass(frozen=True)
class WalkTask:
    """A cache to walk: the machine's root on this host, the cache's path, who may own it."""

    root: str
    path: str
    trusted_owners: frozenset[int] = frozenset()


@dataclass(frozen=True)
class WalkOutcome:
    """What walking one cache gave: whether it exists, its owner, figures, or why it was refused."""

    exists: bool
    owner_uid: Optional[int] = None
    figures: CacheFigures = field(default_factory=CacheFigures)
    skipped: Optional[str] = None
    way: tuple[safefs.Step, ...] = ()  # how the cache root was reached (see fleetcache.transitions)
    end: Optional[safefs.Seen] = None  # the cache root, as it was opened
    via_links: tuple[str, ...] = ()  # the links followed on the way (a clean follows none)


def walk_cache(task: WalkTask, pip_links: bool = True) -> WalkOutcome:
    """Open the cache root without following links, check its owner, and walk it once.
    ``pip_links``: files as pip counts them (a link to a directory is no file, as pip's os.walk
    sees it: each link is resolved to tell); else regular files, each inode once, and no link
    is resolved."""
    anchor = safefs.open_anchor(task.root)
    try:
        trusted_links = {0, *task.trusted_owners}
        try:
            opened = safefs.open_path(anchor, task.path, trusted_links=trusted_links)
        except safefs.NotFound:
            return WalkOutcome(exists=False)
        except safefs.UnsafePath as exc:
            return WalkOutcome(exists=True, skipped=f"not walked: {exc}")
        try:
            owner = opened.st.st_uid
            if task.trusted_owners and owner not in task.trusted_owners:
                return WalkOutcome(
                    exists=True,
                    owner_uid=owner,
                    skipped=f"not walked: owned by uid {owner}, not by an account that uses it",
                )
            walker = Walker(task.path, owner, anchor if pip_links else None, pip_links)
            try:
                walker.walk_root(opened.fd)
            except safefs.OverBudget as exc:  # figures of part of a cache would mislead
                why = f"not measured: {exc} (the limit for one cache)"
                return WalkOutcome(exists=True, owner_uid=owner, skipped=why)
            return WalkOutcome(
                True, owner, walker.figures(), None, opened.steps, opened.seen, opened.via_links
            )
        finally:
            os.close(opened.fd)
    finally:
        os.close(anchor)


class Walker:
    """Accumulates the figures of one cache while its subtrees are walked."""

    def __init__(
        self, path: str, owner: int, anchor: Optional[int] = None, pip_files: bool = True
    ) -> None:
        self.path = path
        self.owner = owner
        # True: files as pip counts them (a link to a file is one, of 0 bytes; each hard link is
        # one); False: regular files, each inode once (what other tools' caches are measured by)
        self.pip_files = pip_files
        self.anchor = anchor  # the machine's root: where a link is resolved (see _points_to_dir)
        self.links = safefs.LinkBudget()  # what resolving this cache's links may cost in all
        # one counter for every int field of CacheFigures
        self.c: dict[str, int] = {f.name: 0 for f in fields(CacheFigures) if f.type == "int"}
        self.oldest: Optional[float] = None
        self.age_basis = lastuse.MTIME  # what a clean reads last use from (see walk_root)
        self.newest: Optional[float] = None
        self.selfcheck: list[SelfcheckKey] = []
        self.problems: list[Skipped] = []
        # (st_dev << 64 | st_ino) of each file with st_nlink > 1 -> its disk bytes << 32 | links
        # not yet seen: one int each (no tuple), as a uv cache links most of its files
        self.linked: dict[int, int] = {}
        self.linked_past = 0

    def figures(self) -> CacheFigures:
        """The figures gathered so far."""
        c = dict(self.c)
        freed = sum(v >> 32 for v in self.linked.values() if not v & LEFT)
        c["reclaimable_bytes"] += freed
        c["shared_bytes"] = c["disk_bytes"] - c["reclaimable_bytes"]
        return CacheFigures(
            **c,
            oldest_mtime=self.oldest,
            newest_mtime=self.newest,
            age_basis=self.age_basis,
            selfcheck=tuple(self.selfcheck),
            problems=tuple(self.problems),
        )

    def problem(self, parts: Collection[str], reason: str) -> None:
        """Note something not read; the first few are kept with their paths."""
        self.c["unreadable"] += 1
        if len(self.problems) < MAX_PROBLEMS:
            self.problems.append(Skipped("/".join((self.path, *parts)), reason))

    def walk_root(self, fd: int, skip: Collection[tuple[int, int]] = ()) -> None:
        """Walk every top-level entry of the cache with the walker for its kind (never entering
        the directories in ``skip``: mount points)."""
        self.age_basis = lastuse.basis(fd)
        dirs = blocks = 0  # directories holding only directories (most of a cache): counted here
        fstat = os.fstat
        try:
            with closing(safefs.walk(fd, self.problem, skip=skip)) as walk:
                for parts, dir_fd, files, _dirs in walk:
                    if files:
                        self.visit(parts, dir_fd, files)
                    else:
                        dirs += 1
                        blocks += fstat(dir_fd).st_blocks * 512
        finally:
            self.c["dirs"] += dirs
            self.c["disk_bytes"] += blocks
            self.c["reclaimable_bytes"] += blocks

    def visit(
        self,
        parts: tuple[str, ...],
        dir_fd: int,
        files: Iterable[os.DirEntry[str]],
        disk: Optional[int] = None,
    ) -> None:
        """Count one directory's files (``parts`` below the cache root), by the area it is in, as
        its listing streams by; ``disk``: the directory's own allocated bytes, when known."""
        self.c["dirs"] += 1
        # one fstat a directory (none a file): du counts directories, and a clean removes them
        blocks = os.fstat(dir_fd).st_blocks * 512 if disk is None else disk
        self.c["disk_bytes"] += blocks
        self.c["reclaimable_bytes"] += blocks
        if not files:  # most directories of a cache hold only directories: nothing to sort
            return
        if not parts:
            for name, size, _ in self._files(dir_fd, files, parts):
                if name == "selfcheck.json":
                    self.c["legacy_selfcheck_bytes"] += size
                else:
                    self.c["other_files"] += 1
                    self.c["other_bytes"] += size
            return
        top = parts[0]
        if top == "http-v2":
            self._http_v2(dir_fd, files, parts)
        elif top == "http":
            self._legacy_http(dir_fd, files, parts)
        elif top == "wheels":
            self._wheels(dir_fd, files, parts)
        elif top == "selfcheck":
            self._selfcheck(dir_fd, files, parts)
        else:
            for _, size, _ in self._files(dir_fd, files, parts):
                self.c["other_files"] += 1
                self.c["other_bytes"] += size

    def _files(
        self, dir_fd: int, entries: Iterable[os.DirEntry[str]], parts: tuple[str, ...]
    ) -> Iterator[tuple[str, int, float]]:
        """(name, size, mtime) of each file pip counts, one at a time; totals, owners, ages and
        odd names noted. The one loop run for every file of every cache: one lstat, and local
        counters (added up when the listing ends). Disk bytes count each inode once: a file of
        one link here, one of several in :meth:`_linked`."""
        owner = self.owner
        oldest, newest = self.oldest, self.newest
        count = total = odd = foreign = foreign_bytes = disk = 0
        try:
            for entry in entries:
                try:
                    st = entry.stat(follow_symlinks=False)
                except FileNotFoundError:
                    self.c["vanished"] += 1
                    continue
                except OSError as exc:
                    self.problem((*parts, entry.name), exc.strerror or str(exc))
                    continue
                size = st.st_size
                if st.st_nlink > 1:
                    if not self._linked(st, st.st_blocks * 512) and not self.pip_files:
                        continue  # an inode seen already, by another of its links here
                else:
                    disk += st.st_blocks * 512
                if stat.S_ISLNK(st.st_mode):
                    if not self.pip_files:
                        continue  # a link is no file (its own blocks are counted, as du does)
                    if self._points_to_dir(parts, entry.name):
                        continue  # os.walk lists it as a directory and does not enter it: pip skips it
                    size = 0  # pip counts a link as a file of 0 bytes
                name = entry.name
                if not name.isprintable():
                    odd += 1
                if st.st_uid != owner:
                    foreign += 1
                    foreign_bytes += size
                mtime = st.st_mtime
                if oldest is None or mtime < oldest:
                    oldest = mtime
                if newest is None or mtime > newest:
                    newest = mtime
                total += size
                count += 1
                yield name, size, mtime
        finally:
            c = self.c
            c["total_files"] += count
            c["total_bytes"] += total
            c["disk_bytes"] += disk
            c["reclaimable_bytes"] += disk  # its only link is here
            if odd:
                c["odd_names"] += odd
            if foreign:
                c["foreign_files"] += foreign
                c["foreign_bytes"] += foreign_bytes
            self.oldest, self.newest = oldest, newest

    def _linked(self, st: os.stat_result, blocks: int) -> bool:
        """Count one link of a file with several: its disk bytes once, and how many of its links
        are still to be seen (none left: all lie in the cache, so removing it frees it). Whether
        it is the first of its links seen (past the cap: each one is)."""
        key = st.st_dev << 64 | st.st_ino
        record = self.linked.get(key)
        if record is not None:
            if record & LEFT:  # a link made during the walk may be one more than st_nlink said
                self.linked[key] = record - 1
            return False
        self.c["disk_bytes"] += blocks
        if len(self.linked) < MAX_LINKED:
            self.linked[key] = blocks << 32 | min(st.st_nlink - 1, LEFT)
            return True
        self.linked_past += 1
        if self.linked_past == 1 and len(self.problems) < MAX_PROBLEMS:
            why = f"files with several links past the first {MAX_LINKED:,}: counted as shared, each link again"
            self.problems.append(Skipped(self.path, why))
        return True

    def _points_to_dir(self, parts: tuple[str, ...], name: str) -> bool:
        """Whether a link names a directory, as pip's os.walk decides (it then skips it). The link
        is resolved inside the machine's root, following only links of root and of the cache's
        owner: the walk never looks where another account's link points. Raises
        :class:`safefs.OverBudget` once the cache's links have cost too much to resolve."""
        if self.anchor is None:
            return False
        link = "/".join((self.path.rstrip("/"), *parts, name))
        try:
            opened = safefs.open_path(
                self.anchor,
                link,
                trusted_links={0, self.owner},
                follow_last=True,
                budget=self.links,
            )
        except safefs.UnsafePath:
            return False
        os.close(opened.fd)
        return True

    def _http_v2(
        self, dir_fd: int, entries: Iterable[os.DirEntry[str]], parts: tuple[str, ...]
    ) -> None:
        c = self.c
        pairs = None  # most directories here hold only directories
        files = size_sum = 0
        for name, size, _ in self._files(dir_fd, entries, parts):
            files += 1
            size_sum += size
            if name.endswith(".tmp"):
                c["tmp_files"] += 1
                c["tmp_bytes"] += size
            else:
                pairs = pairs or Pairs(dir_fd)
                pairs.add(name, size)
        if not files:
            return
        c["http_files"] += files
        c["http_bytes"] += size_sum
        c["http_v2_files"] += files
        c["http_v2_bytes"] += size_sum
        if pairs is not None:
            pairs.done()
            c["http_entries"] += pairs.entries
            c["orphan_files"] += pairs.orphan_files
            c["orphan_bytes"] += pairs.orphan_bytes

    def _legacy_http(
        self, dir_fd: int, entries: Iterable[os.DirEntry[str]], parts: tuple[str, ...]
    ) -> None:
        c = self.c
        for name, size, _ in self._files(dir_fd, entries, parts):
            c["http_files"] += 1
            c["http_bytes"] += size
            c["legacy_http_files"] += 1
            c["legacy_http_bytes"] += size
            if name.endswith(".tmp"):
                c["tmp_files"] += 1
                c["tmp_bytes"] += size

    def _wheels(
        self, dir_fd: int, entries: Iterable[os.DirEntry[str]], parts: tuple[str, ...]
    ) -> None:
        c = self.c
        in_tmp = any(TMP_DIR.fullmatch(p) for p in parts[1:])
        wheels = 0
        entry_bytes = 0
        newest = 0.0
        has_origin = False
        for name, size, mtime in self._files(dir_fd, entries, parts):
            c["wheel_bytes"] += size
            entry_bytes += size
            newest = max(newest, mtime)
            if in_tmp:
                c["tmp_files"] += 1
                c["tmp_bytes"] += size
            if fnmatch.fnmatch(name, "*-*.whl"):
                c["wheel_files"] += 1
                wheels += 1
            elif name == "origin.json":
                has_origin = True
        if wheels and not in_tmp:
            c["wheel_entries"] += 1
            if not has_origin and newest < PIP20_RELEASED:
                c["legacy_wheel_entries"] += 1
                c["legacy_wheel_bytes"] += entry_bytes

    def _selfcheck(
        self, dir_fd: int, entries: Iterable[os.DirEntry[str]], parts: tuple[str, ...]
    ) -> None:
        c = self.c
        unread = 0
        for name, size, _ in self._files(dir_fd, entries, parts):
            c["selfcheck_files"] += 1
            c["selfcheck_bytes"] += size
            if name.endswith(".tmp"):
                c["tmp_files"] += 1
                c["tmp_bytes"] += size
            elif len(parts) != 1:
                continue
            elif len(self.selfcheck) >= MAX_SELFCHECK_KEYS:  # each may name a 4 kB prefix
                unread += 1
            else:
                key = _selfcheck_key(dir_fd, name)
                if key is not None:
                    self.selfcheck.append(key)
        if unread:
            self.problem(parts, f"{unread:,} keys past the first {MAX_SELFCHECK_KEYS:,} not read")


def _selfcheck_key(dir_fd: int, name: str) -> Optional[SelfcheckKey]:
    """The prefix a selfcheck file names, read without following links (it is a few hundred bytes)."""
    try:
        data = json.loads(safefs.read_at(dir_fd, name, 4096))
    except (OSError, ValueError, RecursionError, safefs.UnsafePath):
        return None  # a user's file: any JSON, nested however deep
    if not isinstance(data, dict) or not isinstance(data.get("key"), str):
        return None
    last = data.get("last_check")
    return SelfcheckKey(data["key"], last if isinstance(last, str) else None)


def selfcheck_keys(
    anchor: int, cache: str, trusted_owners: frozenset[int]
) -> tuple[Optional[int], tuple[SelfcheckKey, ...]]:
    """The owner of one cache's ``selfcheck/`` and the prefixes named there, without walking the
    rest of the cache."""
    try:
        opened = safefs.open_path(
            anchor, cache.rstrip("/") + "/selfcheck", trusted_links={0, *trusted_owners}
        )
    except safefs.UnsafePath:
        return None, ()
    try:
        if trusted_owners and opened.st.st_uid not in trusted_owners:
            return None, ()
        try:
            names = sorted(os.listdir(opened.fd))
        except OSError:
            return None, ()
        keys = (_selfcheck_key(opened.fd, n) for n in names if not n.endswith(".tmp"))
        return opened.st.st_uid, tuple(k for k in keys if k is not None)
    finally:
        os.close(opened.fd)
