"""The fields of a scan report, each with its meaning: one list that JSON, CSV and the README share."""

from __future__ import annotations

import datetime
from typing import Any, Callable, NamedTuple, Optional

from fleetcache import __version__, escape
from fleetcache.model import CacheResult, CacheSource, ScanResult

SCHEMA_VERSION = 1


class Field(NamedTuple):
    """One field of a cache record: its name, what it means, how to get it, and if CSV has it."""

    name: str
    doc: str
    get: Callable[[CacheResult], Any]
    scalar: bool = True


def iso(ts: Optional[float]) -> Optional[str]:
    """A timestamp as ISO 8601 UTC, or None."""
    if ts is None:
        return None
    moment = datetime.datetime.fromtimestamp(ts, tz=datetime.timezone.utc)
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def source_record(source: CacheSource) -> dict[str, Any]:
    """A cache source as JSON."""
    return {
        "kind": source.kind,
        "user": source.user,
        "commands": list(source.commands),
        "file": None if source.file is None else escape.text(source.file),
        "section": source.section,
        "variable": source.variable,
        "description": escape.text(source.describe()),
    }


def _fig(name: str) -> Callable[[CacheResult], Any]:
    return lambda r: getattr(r.figures, name)


def _dead_selfcheck(r: CacheResult) -> int:
    return sum(1 for k in r.figures.selfcheck if k.exists is False)


CACHE_FIELDS: list[Field] = [
    Field("path", "the cache directory, as a path of the scanned machine", lambda r: escape.text(r.location.path)),
    Field("owner", "account owning the cache directory (uid when it has no name)", lambda r: r.owner),
    Field("owner_uid", "uid owning the cache directory", lambda r: r.owner_uid),
    Field("users", "accounts whose pip uses this cache (CSV: joined with ';')", lambda r: list(r.location.users), scalar=False),
    Field("sources", "why it is a cache: list of {kind, user, commands, file, section, variable, description}; kind is default, config, env or layout", lambda r: [source_record(s) for s in r.location.sources], scalar=False),
    Field("exists", "whether the directory exists", lambda r: r.exists),
    Field("skipped", "why the cache was not walked (symlink, foreign owner, unreadable), else null", lambda r: r.skipped),
    Field("http_files", "pip's 'Number of HTTP files' (http-v2/ and http/, every file)", _fig("http_files")),
    Field("http_bytes", "pip's 'Package index page cache size', in bytes", _fig("http_bytes")),
    Field("wheel_files", "pip's 'Number of locally built wheels' (*-*.whl under wheels/)", _fig("wheel_files")),
    Field("wheel_bytes", "pip's 'Locally built wheels size', in bytes (everything under wheels/)", _fig("wheel_bytes")),
    Field("total_files", "files under the cache directory", _fig("total_files")),
    Field("total_bytes", "bytes under the cache directory (apparent size, like du -sb less directories)", _fig("total_bytes")),
    Field("dirs", "directories under the cache directory, itself included", _fig("dirs")),
    Field("http_v2_files", "files under http-v2/ (pip >= 23.3)", _fig("http_v2_files")),
    Field("http_v2_bytes", "bytes under http-v2/", _fig("http_v2_bytes")),
    Field("http_entries", "usable http-v2 entries (metadata and body both present)", _fig("http_entries")),
    Field("orphan_files", "http-v2 halves without their other half: never usable", _fig("orphan_files")),
    Field("orphan_bytes", "bytes of those orphan halves", _fig("orphan_bytes")),
    Field("tmp_files", "*.tmp leftovers and files in wheel build dirs left by an interrupted pip", _fig("tmp_files")),
    Field("tmp_bytes", "bytes of those leftovers", _fig("tmp_bytes")),
    Field("legacy_http_files", "files under the legacy http/ tree, which pip >= 23.3 never reads", _fig("legacy_http_files")),
    Field("legacy_http_bytes", "bytes under http/", _fig("legacy_http_bytes")),
    Field("wheel_entries", "wheel cache entries (directories holding built wheels)", _fig("wheel_entries")),
    Field("legacy_wheel_entries", "wheel entries keyed before pip 20.0 (no origin.json, every file older than 2020-01-21): never read again", _fig("legacy_wheel_entries")),
    Field("legacy_wheel_bytes", "bytes of those entries", _fig("legacy_wheel_bytes")),
    Field("selfcheck_files", "files under selfcheck/ (pip's version-check state, one per interpreter)", _fig("selfcheck_files")),
    Field("selfcheck_bytes", "bytes under selfcheck/", _fig("selfcheck_bytes")),
    Field("dead_selfcheck", "selfcheck keys naming an interpreter prefix that no longer exists", _dead_selfcheck),
    Field("legacy_selfcheck_bytes", "bytes of the legacy selfcheck.json (pip 18-19.2)", _fig("legacy_selfcheck_bytes")),
    Field("other_files", "files outside pip's known subdirectories", _fig("other_files")),
    Field("other_bytes", "bytes of those files", _fig("other_bytes")),
    Field("foreign_files", "files not owned by the cache's owner", _fig("foreign_files")),
    Field("foreign_bytes", "bytes of those files", _fig("foreign_bytes")),
    Field("odd_names", "names with control characters or undecodable bytes", _fig("odd_names")),
    Field("unreadable", "entries that could not be read (listed under skipped)", _fig("unreadable")),
    Field("vanished", "files that disappeared during the walk", _fig("vanished")),
    Field("oldest", "oldest file modification time (ISO 8601 UTC)", lambda r: iso(r.figures.oldest_mtime)),
    Field("newest", "newest file modification time (ISO 8601 UTC)", lambda r: iso(r.figures.newest_mtime)),
    Field("selfcheck", "interpreters that used this cache: list of {prefix, last_check, exists}", lambda r: [{"prefix": escape.text(k.prefix), "last_check": k.last_check, "exists": k.exists} for k in r.figures.selfcheck], scalar=False),
]  # fmt: skip

TOTAL_FIELDS = [
    f.name
    for f in CACHE_FIELDS
    if f.name.endswith(("_files", "_bytes", "_entries")) or f.name == "dead_selfcheck"
]


def cache_record(result: CacheResult) -> dict[str, Any]:
    """Every field of one cache, as JSON."""
    return {f.name: f.get(result) for f in CACHE_FIELDS}


def totals(result: ScanResult) -> dict[str, int]:
    """Sums of the countable fields over the caches that exist."""
    records = [cache_record(c) for c in result.caches]
    return {name: sum(r[name] for r in records) for name in TOTAL_FIELDS}


def user_record(result: ScanResult, index: int) -> dict[str, Any]:
    """One account: who it is, its caches, config files read, disabled commands, problems."""
    ac = result.accounts[index]
    return {
        "name": escape.text(ac.account.name),
        "uid": ac.account.uid,
        "home": escape.text(ac.account.home),
        "caches": [escape.text(p) for p in ac.cache_paths],
        "config_files": [escape.text(p) for p in ac.config_files],
        "cache_disabled": [
            {"commands": list(u.source.commands), "by": escape.text(u.source.describe())}
            for u in ac.uses
            if u.path is None
        ],
        "problems": [{"path": escape.text(p.path), "reason": p.reason} for p in ac.problems],
    }


def document(result: ScanResult) -> dict[str, Any]:
    """The whole scan as the JSON contract (schema_version 1)."""
    return {
        "schema_version": SCHEMA_VERSION,
        "host": result.host,
        "generated_at": iso(result.generated_at),
        "fleetcache_version": __version__,
        "root": escape.text(result.root),
        "users": [user_record(result, i) for i in range(len(result.accounts))],
        "caches": [cache_record(c) for c in result.caches],
        "totals": totals(result),
        "skipped": [{"path": escape.text(s.path), "reason": s.reason} for s in result.skipped],
    }
