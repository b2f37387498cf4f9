"""Naming what one http cache entry holds (project, version, kind) from what pip stored with it.

In order: the response headers PyPI's file host sends (``x-pypi-file-*``); the body's own
structure (a wheel's ``*.dist-info/``, an sdist's top directory, an index page's title or JSON
``name``, PEP 658 core metadata), reading only the bytes that tell; and, afterwards, the links of
cached index pages (:mod:`fleetcache.report.links`). Names are PEP 503-normalised. What none of
these names is "unknown", never a guess.
"""

from __future__ import annotations

import html
import json
import os
import re
import struct
import zlib
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, replace
from typing import Optional

import msgpack
from packaging.utils import (
    InvalidSdistFilename,
    InvalidWheelFilename,
    canonicalize_name,
    parse_sdist_filename,
    parse_wheel_filename,
)

HEAD = 64 << 10  # the first bytes of a body: enough for every signature and a tar header
PAGE_LIMIT = 16 << 20  # an index page is read whole (its links are needed), up to this
CD_LIMIT = 32 << 20  # a zip's central directory is read whole, up to this
MAX_NAMES = 200_000  # names looked at in one zip
# a project name, version or file name is kept up to this many characters (then "…"): real ones are
# far shorter, and a hostile one of megabytes would be carried into every row and report
NAME_LIMIT = 1000
LINK_LIMIT = 8192  # a JSON page's file URL longer than this is passed over, as an HTML tag would be
PAGE_TYPES = ("text/html", "application/vnd.pypi.simple")
# what hostile bytes can raise while being parsed: each stops naming that entry, never the run
PARSE_ERRORS = (ValueError, TypeError, LookupError, RecursionError, EOFError, OSError,
                struct.error, zlib.error)  # fmt: skip


@dataclass(frozen=True)
class Attribution:
    """What an entry holds; ``links`` are the hrefs an index page lists (as written)."""

    kind: str  # wheel, sdist, index page, core metadata, built wheel, unknown
    project: Optional[str] = None
    version: Optional[str] = None
    how: str = ""
    filename: Optional[str] = None
    links: tuple[str, ...] = ()
    base: Optional[str] = None  # an HTML page's <base href>, which its links are relative to


UNKNOWN = Attribution("unknown")


class Body:
    """``length`` bytes at ``offset`` of an open file, read with ``pread`` only where asked."""

    def __init__(self, fd: int, offset: int, length: int) -> None:
        self.fd, self.offset, self.length = fd, offset, length

    def read_at(self, pos: int, size: int) -> bytes:
        """Up to ``size`` bytes from ``pos`` (within the body)."""
        size = max(0, min(size, self.length - pos))
        return os.pread(self.fd, size, self.offset + pos) if size else b""

    def head(self, size: int = HEAD) -> bytes:
        """The first bytes."""
        return self.read_at(0, size)


def parse_metadata(data: bytes) -> Optional[dict[str, object]]:
    """pip's http-v2 metadata file (``cc=4,`` + msgpack), or None when it is not one."""
    if not data.startswith(b"cc=4,"):
        return None
    try:
        loaded = msgpack.unpackb(data[5:], raw=False, strict_map_key=False)
    except (ValueError, TypeError, RecursionError, msgpack.UnpackException):
        return None
    return loaded if isinstance(loaded, dict) else None


def headers_of(meta: Optional[Mapping[str, object]]) -> dict[str, str]:
    """The stored response headers, names lower-cased."""
    response = meta.get("response") if meta else None
    headers = response.get("headers") if isinstance(response, dict) else None
    if not isinstance(headers, dict):
        return {}
    return {str(k).lower(): str(v) for k, v in headers.items()}


def attribute(headers: Mapping[str, str], body: Optional[Body]) -> Attribution:
    """The entry's project, version and kind: from its headers, else its body."""
    return _bounded(_attribute(headers, body))


def _bounded(got: Attribution) -> Attribution:
    """The attribution with each name cut to NAME_LIMIT characters."""
    names = (got.project, got.version, got.filename)
    if all(n is None or len(n) <= NAME_LIMIT for n in names):
        return got
    project, version, filename = (None if n is None else _cut(n) for n in names)
    return replace(got, project=project, version=version, filename=filename)


def _cut(value: str, limit: int = NAME_LIMIT) -> str:
    """``value``, or its first ``limit`` characters and "…" when it is longer."""
    return value if len(value) <= limit else value[:limit] + "…"


def _attribute(headers: Mapping[str, str], body: Optional[Body]) -> Attribution:
    project = headers.get("x-pypi-file-project")
    if project:
        kind = {"bdist_wheel": "wheel", "sdist": "sdist"}.get(
            headers.get("x-pypi-file-package-type", ""), "file"
        )
        return Attribution(
            kind, canonicalize_name(project), headers.get("x-pypi-file-version"), "headers"
        )
    if body is None:
        return UNKNOWN
    try:
        return _from_body(headers, body)
    except PARSE_ERRORS:
        return UNKNOWN


def _from_body(headers: Mapping[str, str], body: Body) -> Attribution:
    head = body.head()
    ctype = headers.get("content-type", "").lower()
    if head.startswith(b"PK\x03\x04"):
        return _zip(body)
    if head.startswith(b"\x1f\x8b"):
        if ctype.startswith(PAGE_TYPES) or headers.get("content-encoding") == "gzip":
            return _page(_gunzip(body.head(PAGE_LIMIT)), "gzip'd ")
        return _sdist_tar(zlib.decompressobj(16 + zlib.MAX_WBITS).decompress(head, HEAD))
    if ctype.startswith(PAGE_TYPES) or head.lstrip()[:1] in (b"<", b"{"):
        return _page(body.head(PAGE_LIMIT) if body.length > len(head) else head, "")
    if head.startswith(b"Metadata-Version:"):
        return _core_metadata(head)
    return UNKNOWN


def _gunzip(data: bytes) -> bytes:
    """At most PAGE_LIMIT bytes of a gzip stream (a bomb stops there)."""
    return zlib.decompressobj(16 + zlib.MAX_WBITS).decompress(data, PAGE_LIMIT)


def _zip(body: Body) -> Attribution:
    """A wheel (its ``NAME-VERSION.dist-info/``) or a zip sdist (its one top directory), from
    the central directory at the end of the file; nothing else of the archive is read."""
    tops: set[str] = set()
    for name in _zip_names(body):
        top, sep, _ = name.partition("/")
        if not sep:
            continue
        if top.endswith(".dist-info"):
            project, _, version = top[: -len(".dist-info")].rpartition("-")
            if project:
                return Attribution("wheel", canonicalize_name(project), version, "wheel contents")
        tops.add(top)
    if len(tops) == 1:
        return _top_dir(tops.pop(), "sdist top directory")
    return UNKNOWN


def _zip_names(body: Body) -> Iterator[str]:
    """The member names of a zip (zip64 too), read from its central directory (bounded)."""
    tail_size = min(body.length, 22 + 0xFFFF)
    tail = body.read_at(body.length - tail_size, tail_size)
    at = tail.rfind(b"PK\x05\x06")
    if at < 0 or len(tail) - at < 22:
        raise ValueError("no end of central directory")
    _, _, _, _, count, size, offset, _ = struct.unpack("<4sHHHHIIH", tail[at : at + 22])
    if 0xFFFFFFFF in (size, offset) or count == 0xFFFF:
        locator = tail[at - 20 : at] if at >= 20 else b""
        if not locator.startswith(b"PK\x06\x07"):
            raise ValueError("zip64 without its locator")
        (end64,) = struct.unpack("<Q", locator[8:16])
        record = body.read_at(end64, 56)
        if not record.startswith(b"PK\x06\x06"):
            raise ValueError("no zip64 end of central directory")
        count, size, offset = struct.unpack("<QQQ", record[32:56])
    if size > CD_LIMIT:
        raise ValueError("central directory too large")
    directory = body.read_at(offset, size)
    pos = 0
    for _ in range(min(count, MAX_NAMES)):
        if directory[pos : pos + 4] != b"PK\x01\x02":
            return
        name_len, extra_len, comment_len = struct.unpack("<HHH", directory[pos + 28 : pos + 34])
        yield directory[pos + 46 : pos + 46 + name_len].decode("utf-8", "replace")
        pos += 46 + name_len + extra_len + comment_len


def _sdist_tar(data: bytes) -> Attribution:
    """The top directory of a gzip'd tar's first member (a pax or GNU long name header skipped)."""
    offset = 0
    long_name: Optional[str] = None
    while offset + 512 <= len(data):
        block = data[offset : offset + 512]
        if not block.strip(b"\0"):
            return UNKNOWN
        name = block[:100].split(b"\0", 1)[0].decode("utf-8", "replace")
        prefix = block[345:500].split(b"\0", 1)[0].decode("utf-8", "replace")
        size = int(block[124:136].split(b"\0", 1)[0].strip() or b"0", 8)
        kind = block[156:157]
        payload = data[offset + 512 : offset + 512 + size]
        offset += 512 + (size + 511) // 512 * 512
        if kind == b"L":  # GNU long name: the next member's name
            long_name = payload.split(b"\0", 1)[0].decode("utf-8", "replace")
            continue
        if kind in (b"x", b"g"):  # pax headers: a path= record names the next member
            found = re.search(rb"\d+ path=([^\n]+)\n", payload)
            long_name = found.group(1).decode("utf-8", "replace") if found else None
            continue
        path = long_name or (f"{prefix}/{name}" if prefix else name)
        return _top_dir(path.lstrip("./").split("/", 1)[0], "sdist top directory")
    return UNKNOWN


def _top_dir(top: str, how: str) -> Attribution:
    name, _, version = top.rpartition("-")
    if not name or not version[:1].isdigit():
        return UNKNOWN
    return Attribution("sdist", canonicalize_name(name), version, how)


# tags and their attributes, every repetition bounded and never across a "<": linear in the page
TAG = re.compile(rb"<(a|base)\s([^<>]{0,8192})>", re.I)
HREF_ATTR = re.compile(rb"""(?:^|\s)href\s*=\s*(?:"([^"]*)"|'([^']*)'|([^\s"'>]+))""", re.I)
TITLE = re.compile(rb"<(title|h1)(?:\s[^<>]{0,1024})?>([^<]{0,1024})</\1\s*>", re.I)


def _href(attributes: bytes) -> Optional[str]:
    found = HREF_ATTR.search(attributes)
    if found is None:
        return None
    raw = next(g for g in found.groups() if g is not None)
    return html.unescape(raw.decode("utf-8", "replace"))


def _page(data: bytes, how: str) -> Attribution:
    """An index page: PEP 691 JSON (``name``, ``files[].url``) or PEP 503 HTML (title, hrefs)."""
    stripped = data.lstrip()
    if stripped.startswith(b"{"):
        doc = json.loads(stripped)
        if not isinstance(doc, dict) or not isinstance(doc.get("name"), str):
            return UNKNOWN
        files = doc.get("files")
        if not isinstance(files, list):
            files = []
        links = tuple(
            f["url"]
            for f in files
            if isinstance(f, dict) and isinstance(f.get("url"), str) and len(f["url"]) <= LINK_LIMIT
        )
        return Attribution(
            "index page", canonicalize_name(doc["name"]), None, how + "JSON name", links=links
        )
    found = TITLE.search(data)
    title = " ".join(found.group(2).decode("utf-8", "replace").split()) if found else ""
    if not title.startswith("Links for ") or len(title) <= len("Links for "):
        return UNKNOWN
    base: Optional[str] = None
    hrefs: list[str] = []
    for tag in TAG.finditer(data):
        href = _href(tag.group(2))
        if href is None:
            continue
        if tag.group(1).lower() == b"a":
            hrefs.append(href)
        elif base is None:
            base = href
    return Attribution(
        "index page",
        canonicalize_name(html.unescape(title[len("Links for ") :])),
        None,
        how + "page title",
        links=tuple(hrefs),
        base=base,
    )


def _core_metadata(head: bytes) -> Attribution:
    """A PEP 658 ``.metadata`` response: its ``Name:`` and ``Version:`` lines."""
    fields: dict[str, str] = {}
    for line in head.split(b"\n"):
        key, sep, value = line.partition(b":")
        if not sep:
            if not line.strip():
                break
            continue
        name = key.strip().lower().decode("ascii", "replace")
        fields.setdefault(name, value.strip().decode("utf-8", "replace"))
    if "name" not in fields:
        return UNKNOWN
    return Attribution(
        "core metadata", canonicalize_name(fields["name"]), fields.get("version"), "core metadata"
    )


def from_filename(filename: str, kind: Optional[str] = None) -> Attribution:
    """A wheel or sdist file name's project and version (PEP 427, PEP 625 and older sdists)."""
    return _bounded(_from_filename(filename, kind))


def _from_filename(filename: str, kind: Optional[str]) -> Attribution:
    try:
        if filename.endswith(".whl"):
            name, version, _, _ = parse_wheel_filename(filename)
            return Attribution(kind or "wheel", name, str(version), "file name", filename)
        name, sdist_version = parse_sdist_filename(filename)
        return Attribution("sdist", name, str(sdist_version), "file name", filename)
    except (InvalidWheelFilename, InvalidSdistFilename, ValueError):
        for suffix in (".tar.bz2", ".tar.xz", ".tgz", ".egg"):
            if filename.endswith(suffix):
                got = _top_dir(filename[: -len(suffix)], "file name")
                return Attribution(got.kind, got.project, got.version, "file name", filename)
        return UNKNOWN
