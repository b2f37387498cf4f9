"""Every entry of one pip cache, named: http-v2 entries (metadata and body), legacy http/ files
and built wheels. Opened like the scan opens caches; each file read only as far as naming needs.
Made to run in a worker process (one cache per task)."""

from __future__ import annotations

import os
import re
import stat
from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from typing import Callable, Optional

import msgpack

from fleetcache import lastuse, safefs
from fleetcache.model import CacheEntry, Skipped
from fleetcache.report import attribution as attr
from fleetcache.stats.walk import WalkTask

KEY = re.compile(r"[0-9a-f]{56}")
META_LIMIT = 1 << 20


@dataclass(frozen=True)
class Page:
    """A cached index page: the entry key it is stored under, its project, the links it lists."""

    cache: str
    key: str
    project: str
    links: tuple[str, ...]
    base: Optional[str] = None  # its <base href>, when it has one


@dataclass(frozen=True)
class EntriesOutcome:
    """The named entries of one cache, its index pages, and what could not be read."""

    entries: tuple[CacheEntry, ...] = ()
    pages: tuple[Page, ...] = ()
    problems: tuple[Skipped, ...] = ()


@dataclass
class _Reader:
    path: str
    atime: bool = False  # its filesystem records access times (see fleetcache.lastuse)
    entries: list[CacheEntry] = field(default_factory=list)
    pages: list[Page] = field(default_factory=list)
    problems: list[Skipped] = field(default_factory=list)

    def problem(self, parts: tuple[str, ...], reason: str) -> None:
        if len(self.problems) < 20:
            self.problems.append(Skipped("/".join((self.path, *parts)), reason))

    def add(
        self,
        parts: tuple[str, ...],
        name: str,
        got: attr.Attribution,
        sts: list[os.stat_result],
        complete: bool = True,
    ) -> None:
        entry = CacheEntry(
            cache=self.path,
            path="/".join((*parts, name)),
            area=parts[0],
            kind=got.kind,
            project=got.project,
            version=got.version,
            how=got.how,
            files=len(sts),
            size=sum(s.st_size for s in sts),
            mtime=max(s.st_mtime for s in sts),
            complete=complete,
            used=max(lastuse.used(s, self.atime) for s in sts),
        )
        self.entries.append(entry)
        if got.kind == "index page" and got.project:
            key = name[: -len(".body")] if name.endswith(".body") else name
            self.pages.append(Page(self.path, key, got.project, got.links, got.base))


def read_entries(task: WalkTask) -> EntriesOutcome:
    """Open the cache root safely (as the scan does) and name every entry in it."""
    return read_opened(task, _read_pip)


def read_opened(
    task: WalkTask, read: Callable[[str, safefs.Opened], EntriesOutcome]
) -> EntriesOutcome:
    """Open the cache root safely (as the scan does: no link but a trusted owner's followed, an
    owner it may have) and let ``read`` name the entries of the cache (its path, as opened)."""
    anchor = safefs.open_anchor(task.root)
    try:
        try:
            opened = safefs.open_path(anchor, task.path, trusted_links={0, *task.trusted_owners})
        except safefs.NotFound:
            return EntriesOutcome()
        except safefs.UnsafePath as exc:
            return EntriesOutcome(problems=(Skipped(task.path, f"not read: {exc}"),))
        try:
            if task.trusted_owners and opened.st.st_uid not in task.trusted_owners:
                reason = f"not read: owned by uid {opened.st.st_uid}"
                return EntriesOutcome(problems=(Skipped(task.path, reason),))
            return read(task.path, opened)
        finally:
            os.close(opened.fd)
    finally:
        os.close(anchor)


def _read_pip(path: str, opened: safefs.Opened) -> EntriesOutcome:
    """pip's entries: http-v2 and legacy http entries, built wheels."""
    reader = _Reader(path, lastuse.basis(opened.fd) == lastuse.ATIME)
    for parts, fd, files, dirs in safefs.walk(opened.fd, reader.problem):
        if not parts:
            safefs.rest(files)
            dirs[:] = [d for d in dirs if d in ("http-v2", "http", "wheels")]
        elif parts[0] == "http-v2":
            _http_v2(reader, fd, files, parts)
        elif parts[0] == "http":
            _legacy(reader, fd, files, parts)
        else:
            _wheels(reader, fd, files, parts)
    return EntriesOutcome(tuple(reader.entries), tuple(reader.pages), tuple(reader.problems))


def _regular(fd: int, entry: os.DirEntry[str]) -> Optional[os.stat_result]:
    try:
        st = entry.stat(follow_symlinks=False)
    except OSError:
        return None
    return st if stat.S_ISREG(st.st_mode) else None


def _http_v2(
    reader: _Reader, fd: int, files: Iterable[os.DirEntry[str]], parts: tuple[str, ...]
) -> None:
    """Each key's metadata and body, named together; a lone half by what it has."""
    metas: dict[str, os.stat_result] = {}
    bodies: dict[str, os.stat_result] = {}
    for entry in files:
        name = entry.name
        key = name[:-5] if name.endswith(".body") else name
        if not KEY.fullmatch(key):
            continue  # *.tmp leftovers and strays: counted by the scan, not entries
        st = _regular(fd, entry)
        if st is not None:
            (bodies if name.endswith(".body") else metas)[key] = st
    for key in sorted({*metas, *bodies}):
        meta_st, body_st = metas.get(key), bodies.get(key)
        headers: dict[str, str] = {}
        if meta_st is not None:
            try:
                headers = attr.headers_of(attr.parse_metadata(safefs.read_at(fd, key, META_LIMIT)))
            except (OSError, safefs.UnsafePath) as exc:
                reader.problem((*parts, key), str(exc))
        got = _with_body(reader, fd, f"{key}.body", body_st, parts, headers)
        sts = [s for s in (meta_st, body_st) if s is not None]
        # a lone body is listed by its own name: the path always names a file that is there
        name = key if meta_st is not None else f"{key}.body"
        reader.add(parts, name, got, sts, complete=len(sts) == 2)


def _with_body(
    reader: _Reader,
    fd: int,
    name: str,
    st: Optional[os.stat_result],
    parts: tuple[str, ...],
    headers: dict[str, str],
    offset: int = 0,
    length: Optional[int] = None,
) -> attr.Attribution:
    if st is None:
        return attr.attribute(headers, None)
    if headers.get("x-pypi-file-project"):
        return attr.attribute(headers, None)  # the headers say it all: the body stays unread
    try:
        body_fd = safefs.open_quietly(name, safefs.O_FILE, fd)
    except OSError as exc:
        reader.problem((*parts, name), exc.strerror or str(exc))
        return attr.UNKNOWN
    try:
        opened = os.fstat(body_fd)
        if not stat.S_ISREG(opened.st_mode) or opened.st_ino != st.st_ino:
            return attr.UNKNOWN  # replaced since it was listed: not read
        size = st.st_size - offset if length is None else length
        return attr.attribute(headers, attr.Body(body_fd, offset, size))
    finally:
        os.close(body_fd)


def _legacy(
    reader: _Reader, fd: int, files: Iterable[os.DirEntry[str]], parts: tuple[str, ...]
) -> None:
    """pip < 23.3's one-file entries: the body lies inside the msgpack, before the headers."""
    for entry in files:
        if not KEY.fullmatch(entry.name):
            continue
        st = _regular(fd, entry)
        if st is None:
            continue
        got = attr.UNKNOWN
        try:
            located = _legacy_layout(fd, entry.name, st.st_size)
            if located is not None:
                headers, offset, length = located
                got = _with_body(reader, fd, entry.name, st, parts, headers, offset, length)
        except (*attr.PARSE_ERRORS, msgpack.UnpackException):
            got = attr.UNKNOWN
        reader.add(parts, entry.name, got, [st])


def _legacy_layout(fd: int, name: str, size: int) -> Optional[tuple[dict[str, str], int, int]]:
    """(headers, body offset, body length) of a legacy entry, reading around the body only:
    cachecontrol wrote ``{"response": {"body": <bin>, "headers": ..., ...}, "vary": ...}``."""
    file_fd = safefs.open_quietly(name, safefs.O_FILE, fd)
    try:
        if not stat.S_ISREG(os.fstat(file_fd).st_mode):
            return None
        head = os.pread(file_fd, 64, 0)
        if len(head) < 32 or not head.startswith(b"cc=4,"):
            return None
        pos = 5
        pos, outer = _map(head, pos)
        if head[pos : pos + 9] != b"\xa8response":
            return None
        pos, inner = _map(head, pos + 9)
        if outer < 1 or inner < 1 or head[pos : pos + 5] != b"\xa4body":
            return None
        pos += 5
        width = {0xC4: 1, 0xC5: 2, 0xC6: 4}.get(head[pos]) if pos < len(head) else None
        if width is None or pos + 1 + width > len(head):
            return None
        length = int.from_bytes(head[pos + 1 : pos + 1 + width], "big")
        start = pos + 1 + width
        if start + length > size:
            return None
        rest = os.pread(file_fd, min(size - start - length, META_LIMIT), start + length)
    finally:
        os.close(file_fd)
    unpacker = msgpack.Unpacker(raw=False, strict_map_key=False)
    unpacker.feed(rest)
    headers: dict[str, object] = {}
    for _ in range(inner - 1):
        key = unpacker.unpack()
        value = unpacker.unpack()
        if key == "headers" and isinstance(value, dict):
            headers = value
    return attr.headers_of({"response": {"headers": headers}}), start, length


def _map(data: bytes, pos: int) -> tuple[int, int]:
    """A msgpack map header at ``pos``: (position after it, number of pairs)."""
    if pos + 3 > len(data):
        raise ValueError("truncated")
    first = data[pos]
    if 0x80 <= first <= 0x8F:
        return pos + 1, first & 0x0F
    if first == 0xDE:
        return pos + 3, int.from_bytes(data[pos + 1 : pos + 3], "big")
    raise ValueError("not a msgpack map")


def _wheels(
    reader: _Reader, fd: int, files: Iterable[os.DirEntry[str]], parts: tuple[str, ...]
) -> None:
    """Built wheels, named by their file names."""
    for entry in files:
        if not entry.name.endswith(".whl"):
            continue
        st = _regular(fd, entry)
        if st is None:
            continue
        got = attr.from_filename(entry.name, "built wheel")
        got = replace(got, kind="built wheel") if got.kind != "unknown" else got
        reader.add(parts, entry.name, got, [st])
