"""pip's own words and numbers: its size format and the text of `pip cache info` and `pip cache list`."""

from __future__ import annotations

import fnmatch
import posixpath
from collections.abc import Iterable, Sequence

from packaging.version import InvalidVersion, Version

from fleetcache.model import CacheFigures

# pip 23.3 moved its http cache from http/ to http-v2/; older pips read only http/
HTTP_V2_SINCE = Version("23.3")


def format_size(size: float) -> str:
    """pip's ``format_size``: decimal units, MB the largest."""
    if size > 1000 * 1000:
        return f"{size / 1000.0 / 1000:.1f} MB"
    if size > 10 * 1000:
        return f"{int(size / 1000)} kB"
    if size > 1000:
        return f"{size / 1000.0:.1f} kB"
    return f"{int(size)} bytes"


def info_lines(cache_dir: str, figures: CacheFigures) -> list[str]:
    """The seven lines of ``pip cache info`` (pip 26) for a cache with these figures."""
    return [
        f"Package index page cache location (pip v23.3+): {posixpath.join(cache_dir, 'http-v2')}",
        f"Package index page cache location (older pips): {posixpath.join(cache_dir, 'http')}",
        f"Package index page cache size: {format_size(figures.http_bytes)}",
        f"Number of HTTP files: {figures.http_files}",
        f"Locally built wheels location: {posixpath.join(cache_dir, 'wheels')}",
        f"Locally built wheels size: {format_size(figures.wheel_bytes)}",
        f"Number of locally built wheels: {figures.wheel_files}",
    ]


def reads_legacy_http(version: str) -> bool:
    """Whether a pip of this version reads only the legacy ``http/`` tree: one before 23.3, or
    one whose version cannot be told (it may be old)."""
    try:
        return Version(version) < HTTP_V2_SINCE
    except InvalidVersion:
        return True


def legacy_info_lines(cache_dir: str, figures: CacheFigures) -> list[str]:
    """The six lines of ``pip cache info`` of a pip before 23.3 (as 23.0.1 prints them): its
    http figures are those of ``http/`` alone."""
    return [
        f"Package index page cache location: {posixpath.join(cache_dir, 'http')}",
        f"Package index page cache size: {format_size(figures.legacy_http_bytes)}",
        f"Number of HTTP files: {figures.legacy_http_files}",
        f"Locally built wheels location: {posixpath.join(cache_dir, 'wheels')}",
        f"Locally built wheels size: {format_size(figures.wheel_bytes)}",
        f"Number of locally built wheels: {figures.wheel_files}",
    ]


def wheel_pattern(pattern: str = "*") -> str:
    """pip's completion of a `pip cache list/remove` pattern into a wheel file name glob."""
    return pattern + ("*.whl" if "-" in pattern else "-*.whl")


def matches(name: str, glob: str) -> bool:
    """fnmatch as pip runs it on POSIX: case-sensitive, no name normalisation."""
    return fnmatch.fnmatchcase(name, glob)


def list_human(wheels: Iterable[tuple[str, int]]) -> list[str]:
    """``pip cache list`` lines for (file name, size) pairs."""
    rows = sorted(f" - {name} ({format_size(size)})" for name, size in wheels)
    if not rows:
        return ["No locally built wheels cached."]
    return ["Cache contents:", "", *rows]


def list_abspath(paths: Sequence[str]) -> list[str]:
    """``pip cache list --format abspath`` lines."""
    return sorted(paths)
