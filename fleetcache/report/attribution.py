"""Naming what one http cache entry holds (project, version, kind) from what pip stored with it.

In order: the response headers PyPI's file host sends (``x-pypi-file-*``); the body's own
structure (a wheel's ``*.dist-info/``, an sdist's top directory, an index page's title or JSON
``name``, PEP 658 core metadata), reading only the bytes that tell; and, afterwards, the links of
cached index pages (:mod:`fleetcache.report.links`). Names are PEP 503-normalised. What none of
these names is "unknown", never a guess.
"""

from __future__ import annotations

import gzip
import io
import json
import os
import re
import tarfile
import zipfile
import zlib
from collections.abc import Mapping
from dataclasses import dataclass
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
PAGE_LIMIT = 32 << 20  # an index page is read whole (its links are needed), up to this
TITLE = re.compile(rb"<title>\s*Links for ([^<]+?)\s*</title>", re.I)
H1 = re.compile(rb"<h1>\s*Links for ([^<]+?)\s*</h1>", re.I)
HREF = re.compile(rb"""<a\s[^>]*?href\s*=\s*["']([^"']+)["']""", re.I)
PAGE_TYPES = ("text/html", "application/vnd.pypi.simple")


@dataclass(frozen=True)
class Attribution:
    """What an entry holds; ``links`` are the hrefs an index page lists (as written)."""

    kind: str  # wheel, sdist, index page, core metadata, built wheel, unknown
    project: Optional[str] = None
    version: Optional[str] = None
    how: str = ""
    filename: Optional[str] = None
    links: tuple[str, ...] = ()


UNKNOWN = Attribution("unknown")


class Body(io.RawIOBase):
    """A read-only, seekable view of ``length`` bytes at ``offset`` of an open file (``pread``)."""

    def __init__(self, fd: int, offset: int, length: int) -> None:
        super().__init__()
        self.fd, self.offset, self.length, self.pos = fd, offset, length, 0

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def tell(self) -> int:
        return self.pos

    def seek(self, pos: int, whence: int = 0) -> int:
        base = (0, self.pos, self.length)[whence]
        self.pos = max(0, base + pos)
        return self.pos

    def readinto(self, buffer: bytearray | memoryview) -> int:  # type: ignore[override]
        want = min(len(buffer), self.length - self.pos)
        if want <= 0:
            return 0
        data = os.pread(self.fd, want, self.offset + self.pos)
        buffer[: len(data)] = data
        self.pos += len(data)
        return len(data)

    def head(self, size: int = HEAD) -> bytes:
        """The first bytes."""
        return os.pread(self.fd, min(size, self.length), self.offset)


def parse_metadata(data: bytes) -> Optional[dict[str, object]]:
    """pip's http-v2 metadata file (``cc=4,`` + msgpack), or None when it is not one."""
    if not data.startswith(b"cc=4,"):
        return None
    try:
        loaded = msgpack.unpackb(data[5:], raw=False, strict_map_key=False)
    except (ValueError, msgpack.UnpackException):
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
    except (OSError, ValueError, EOFError, zipfile.BadZipFile, tarfile.TarError, zlib.error):
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
    try:
        return gzip.decompress(data)[:PAGE_LIMIT]
    except (OSError, EOFError):
        return zlib.decompressobj(16 + zlib.MAX_WBITS).decompress(data, PAGE_LIMIT)


def _zip(body: Body) -> Attribution:
    """A wheel (its ``NAME-VERSION.dist-info/``) or a zip sdist (its top directory); only the
    central directory at the end of the file is read."""
    with zipfile.ZipFile(io.BufferedReader(body)) as archive:
        names = archive.namelist()
    tops = {n.split("/", 1)[0] for n in names if "/" in n}
    for top in sorted(tops):
        if top.endswith(".dist-info"):
            name, _, version = top[: -len(".dist-info")].rpartition("-")
            if name:
                return Attribution("wheel", canonicalize_name(name), version, "wheel contents")
    if len(tops) == 1:
        return _top_dir(tops.pop(), "sdist top directory")
    return UNKNOWN


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


def _page(data: bytes, how: str) -> Attribution:
    """An index page: PEP 691 JSON (``name``, ``files[].url``) or PEP 503 HTML (title, hrefs)."""
    stripped = data.lstrip()
    if stripped.startswith(b"{"):
        try:
            doc = json.loads(stripped)
        except ValueError:
            return UNKNOWN
        if not isinstance(doc, dict) or not isinstance(doc.get("name"), str):
            return UNKNOWN
        files = doc.get("files")
        if not isinstance(files, list):
            files = []
        links = tuple(
            f["url"] for f in files if isinstance(f, dict) and isinstance(f.get("url"), str)
        )
        return Attribution(
            "index page", canonicalize_name(doc["name"]), None, how + "JSON name", links=links
        )
    found = TITLE.search(data) or H1.search(data)
    if found is None:
        return UNKNOWN
    name = found.group(1).decode("utf-8", "replace")
    links = tuple(h.decode("utf-8", "replace") for h in HREF.findall(data))
    return Attribution("index page", canonicalize_name(name), None, how + "page title", links=links)


def _core_metadata(head: bytes) -> Attribution:
    """A PEP 658 ``.metadata`` response: its ``Name:`` and ``Version:`` lines."""
    fields: dict[str, str] = {}
    for line in head.split(b"\n"):
        key, sep, value = line.partition(b":")
        if not sep:
            if not line.strip():
                break
            continue
        fields.setdefault(key.strip().lower().decode("ascii", "replace"), value.strip().decode())
    if "name" not in fields:
        return UNKNOWN
    return Attribution(
        "core metadata", canonicalize_name(fields["name"]), fields.get("version"), "core metadata"
    )


def from_filename(filename: str, kind: Optional[str] = None) -> Attribution:
    """A wheel or sdist file name's project and version (PEP 427, PEP 625 and older sdists)."""
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
