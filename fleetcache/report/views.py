"""What fills the caches, by cache, user, environment, package or host, and what could go:
bytes several accounts hold twice, superseded versions, junk pip never reads, and ages."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any, Callable, Optional

from packaging.version import Version

from fleetcache.model import CacheEntry, CacheResult, PackageHeld, ScanResult

VIEWS = ("package", "cache", "user", "env", "kind", "host")
# the field that names a row, per view
KEY_FIELDS = {"package": "package", "cache": "cache", "user": "user", "env": "environment",
              "kind": "kind", "host": "host"}  # fmt: skip
# what a view's rows are ordered by, largest first (else the bytes of their entries)
ORDER = {"kind": "disk_bytes"}
# the scan's figures a kind's row sums over its caches
KIND_FIGURES = ("total_files", "total_bytes", "disk_bytes", "reclaimable_bytes", "shared_bytes")
UNKNOWN = "(unknown)"
AGES = ((7, "< 7 days"), (30, "7-30 days"), (90, "30-90 days"), (365, "90-365 days"))
TOP = 5

Row = dict[str, Any]


@dataclass(frozen=True)
class Report:
    """One view of the named entries of every scanned cache, and the insights; ``scan``'s caches
    that were read carry their packages (:func:`with_packages`)."""

    by: str
    rows: tuple[Row, ...]
    insights: Mapping[str, Any]
    scan: ScanResult
    entries: int


def _sort_versions(versions: Iterable[str]) -> list[str]:
    def key(v: str) -> tuple[int, Any]:
        try:
            return (1, Version(v))
        except ValueError:  # InvalidVersion, or a number past int()'s digit limit
            return (0, v)

    return sorted(set(versions), key=key, reverse=True)


def _sums(entries: Sequence[CacheEntry]) -> Row:
    named = [e for e in entries if e.project]
    return {
        "entries": len(entries),
        "files": sum(e.files for e in entries),
        "bytes": sum(e.size for e in entries),
        "download_bytes": sum(e.size for e in entries if e.download),
        "wheel_bytes": sum(e.size for e in entries if not e.download),
        "unknown_entries": len(entries) - len(named),
        "unknown_bytes": sum(e.size for e in entries if not e.project),
        "packages": len({e.project for e in named}),
    }


def _top_packages(entries: Sequence[CacheEntry]) -> list[str]:
    sizes: dict[str, int] = defaultdict(int)
    for e in entries:
        if e.project:
            sizes[e.project] += e.size
    return [p for p, _ in sorted(sizes.items(), key=lambda kv: (-kv[1], kv[0]))[:3]]


def build(
    by: str, scan: ScanResult, entries: Sequence[CacheEntry], top: Optional[int] = None
) -> Report:
    """The rows of one view (largest first, ``top`` of them) and the insights over all entries."""
    groups, extra = GROUPS[by](scan, entries)
    rows = [{**extra[k], **_sums(g)} for k, g in groups.items()]
    order = ORDER.get(by, "bytes")
    rows.sort(key=lambda r: (-r[order], str(next(iter(r.values())))))
    if top is not None:
        rows = rows[:top]
    held = with_packages(scan, entries)
    return Report(by, tuple(rows), insights(scan, entries), held, len(entries))


def per_cache(entries: Sequence[CacheEntry]) -> dict[str, tuple[PackageHeld, ...]]:
    """The entries and bytes of each package (UNKNOWN when unnamed) in each cache, largest first."""
    sums: dict[str, dict[str, list[int]]] = defaultdict(lambda: defaultdict(lambda: [0, 0]))
    for e in entries:
        held = sums[e.cache][e.project or UNKNOWN]
        held[0] += 1
        held[1] += e.size
    return {
        path: tuple(PackageHeld(name, n, size) for name, (n, size) in
                    sorted(held.items(), key=lambda kv: (-kv[1][1], kv[0])))
        for path, held in sums.items()
    }  # fmt: skip


def with_packages(scan: ScanResult, entries: Sequence[CacheEntry]) -> ScanResult:
    """The scan with each cache that was read holding its packages (none: an empty tuple)."""
    held = per_cache(entries)
    caches = tuple(
        replace(c, packages=held.get(c.location.path, ())) if c.exists and not c.skipped else c
        for c in scan.caches
    )
    return replace(scan, caches=caches)


Groups = tuple[dict[str, list[CacheEntry]], dict[str, Row]]


def kinds_of(scan: ScanResult) -> dict[str, str]:
    """Each cache's kind (an entry's kind is its cache's)."""
    return {c.location.path: c.location.kind for c in scan.caches}


def _by_package(scan: ScanResult, entries: Sequence[CacheEntry]) -> Groups:
    users = {c.location.path: list(c.location.users) for c in scan.caches}
    kind_of = kinds_of(scan)
    groups: dict[str, list[CacheEntry]] = defaultdict(list)
    extra: dict[str, Row] = {}
    for e in entries:
        groups[e.project or UNKNOWN].append(e)
    for name, group in groups.items():
        caches = sorted({e.cache for e in group})
        extra[name] = {
            "package": name,
            "versions": _sort_versions(e.version for e in group if e.version),
            "caches": caches,
            "users": sorted({u for c in caches for u in users.get(c, [])}),
            "kinds": sorted({kind_of.get(c, UNKNOWN) for c in caches}),
        }
    return groups, extra


def _by_cache(scan: ScanResult, entries: Sequence[CacheEntry]) -> Groups:
    groups: dict[str, list[CacheEntry]] = defaultdict(list)
    extra: dict[str, Row] = {}
    for e in entries:
        groups[e.cache].append(e)
    for c in _present(scan):
        groups.setdefault(c.location.path, [])
    caches = {c.location.path: c for c in scan.caches}
    for path, group in groups.items():
        cache = caches.get(path)
        extra[path] = {
            "cache": path,
            "owner": cache.owner if cache else None,
            "users": list(cache.location.users) if cache else [],
            "top_packages": _top_packages(group),
        }
    return groups, extra


def _by_user(scan: ScanResult, entries: Sequence[CacheEntry]) -> Groups:
    users = {c.location.path: list(c.location.users) for c in scan.caches}
    groups: dict[str, list[CacheEntry]] = defaultdict(list)
    for e in entries:
        for user in users.get(e.cache, []) or ["(none)"]:
            groups[user].append(e)
    extra = {
        user: {
            "user": user,
            "caches": sorted({e.cache for e in group}),
            "top_packages": _top_packages(group),
        }
        for user, group in groups.items()
    }
    return groups, extra


def _by_env(scan: ScanResult, entries: Sequence[CacheEntry]) -> Groups:
    by_cache: dict[str, list[CacheEntry]] = defaultdict(list)
    for e in entries:
        by_cache[e.cache].append(e)
    groups: dict[str, list[CacheEntry]] = {}
    extra: dict[str, Row] = {}
    for env in scan.environments:
        if not env.exists or not env.cache_paths:
            continue
        groups[env.key] = [e for path in env.cache_paths for e in by_cache.get(path, [])]
        extra[env.key] = {
            "environment": env.prefix,
            "kind": env.kind,
            "owner": env.owner,
            "caches": list(env.cache_paths),
            "top_packages": _top_packages(groups[env.key]),
        }
    return groups, extra


def _by_kind(scan: ScanResult, entries: Sequence[CacheEntry]) -> Groups:
    """One row per cache kind: its caches' figures as the scan measured them, and its entries."""
    kind_of = kinds_of(scan)
    present = _present(scan)
    groups: dict[str, list[CacheEntry]] = {c.location.kind: [] for c in present}
    for e in entries:
        groups.setdefault(kind_of.get(e.cache, UNKNOWN), []).append(e)
    extra: dict[str, Row] = {}
    for kind, group in groups.items():
        caches = [c for c in present if c.location.kind == kind]
        # the accounts that own or use its caches (one found by layout names no user)
        users = {u for c in caches for u in (*c.location.users, c.owner) if u is not None}
        extra[kind] = {
            "kind": kind,
            "caches": len(caches),
            "users": sorted(users),
            **{name: sum(getattr(c.figures, name) for c in caches) for name in KIND_FIGURES},
            "top_packages": _top_packages(group),
        }
    return groups, extra


def _by_host(scan: ScanResult, entries: Sequence[CacheEntry]) -> Groups:
    groups = {scan.host: list(entries)}
    return groups, {scan.host: {"host": scan.host, "caches": len({e.cache for e in entries})}}


def _present(scan: ScanResult) -> list[CacheResult]:
    return [c for c in scan.caches if c.exists and not c.skipped]


GROUPS: dict[str, Callable[[ScanResult, Sequence[CacheEntry]], Groups]] = {
    "package": _by_package,
    "cache": _by_cache,
    "user": _by_user,
    "env": _by_env,
    "kind": _by_kind,
    "host": _by_host,
}


def insights(scan: ScanResult, entries: Sequence[CacheEntry], now: Optional[float] = None) -> Row:
    """Duplicated bytes across accounts, superseded versions, junk, unattributed, ages."""
    now = scan.generated_at if now is None else now
    owners = {c.location.path: c.owner_uid for c in scan.caches}
    return {
        "duplicated": _duplicated(entries, owners),
        "superseded": _superseded(entries),
        "across_kinds": _across_kinds(entries, kinds_of(scan)),
        "junk": junk(scan.caches),
        "unattributed": {
            "entries": sum(1 for e in entries if not e.project),
            "bytes": sum(e.size for e in entries if not e.project),
        },
        "ages": _ages(entries, now),
    }


def _duplicated(entries: Sequence[CacheEntry], owners: Mapping[str, Optional[int]]) -> Row:
    """The same entry (same key: the same URL, or the same built wheel) held by several accounts'
    caches: what one shared cache or a proxy would save (every copy but one)."""
    copies: dict[str, list[CacheEntry]] = defaultdict(list)
    for e in entries:
        copies[e.path].append(e)
    saved = 0
    count = 0
    by_package: dict[str, int] = defaultdict(int)
    for group in copies.values():
        if len({owners.get(e.cache) for e in group}) < 2:
            continue
        extra = sum(e.size for e in group) - max(e.size for e in group)
        saved += extra
        count += len(group) - 1
        by_package[group[0].project or "(unknown)"] += extra
    return {"bytes": saved, "entries": count, "top": _ranked(by_package)}


def _across_kinds(entries: Sequence[CacheEntry], kind_of: Mapping[str, str]) -> Row:
    """Packages held by caches of several kinds (pip's, uv's, conda's...): how many times each
    is held, in how many kinds, and its bytes; the most held first."""
    held: dict[str, list[CacheEntry]] = defaultdict(list)
    for e in entries:
        if e.project and e.kind != "index page":
            held[e.project].append(e)
    found: list[tuple[str, int, int, int]] = []  # package, entries, kinds, bytes
    for name, group in held.items():
        kinds = len({kind_of.get(e.cache, UNKNOWN) for e in group})
        if kinds > 1:
            found.append((name, len(group), kinds, sum(e.size for e in group)))
    found.sort(key=lambda t: (-t[1], -t[3], t[0]))
    top = [{"package": p, "entries": n, "kinds": k, "bytes": b} for p, n, k, b in found[:TOP]]
    return {"packages": len(found), "top": top}


def _superseded(entries: Sequence[CacheEntry]) -> Row:
    """Older versions of a project in a cache that also holds a newer one."""
    newest: dict[tuple[str, str], Version] = {}
    parsed: list[tuple[CacheEntry, Version]] = []
    for e in entries:
        if not e.project or not e.version or e.kind == "index page":
            continue
        try:
            v = Version(e.version)
        except ValueError:  # as above
            continue
        parsed.append((e, v))
        key = (e.cache, e.project)
        if key not in newest or v > newest[key]:
            newest[key] = v
    old = [e for e, v in parsed if v < newest[(e.cache, e.project or "")]]
    by_package: dict[str, int] = defaultdict(int)
    for e in old:
        by_package[e.project or ""] += e.size
    return {"bytes": sum(e.size for e in old), "entries": len(old), "top": _ranked(by_package)}


def _ranked(sizes: Mapping[str, int]) -> list[Row]:
    ranked = sorted(sizes.items(), key=lambda kv: (-kv[1], kv[0]))[:TOP]
    return [{"package": p, "bytes": b} for p, b in ranked if b]


def junk(caches: Sequence[CacheResult]) -> Row:
    """What pip can never use again, from the caches' own figures: a cache's legacy http/ only
    when no pip that may read it (one before 23.3) is known to use the cache; what such pips
    may still read is ``legacy_http_kept_bytes``."""
    present = [c for c in caches if c.exists and not c.skipped]
    figures = {
        "orphan_bytes": sum(c.figures.orphan_bytes for c in present),
        "tmp_bytes": sum(c.figures.tmp_bytes for c in present),
        "legacy_http_bytes": sum(c.junk_legacy_http[1] for c in present),
        "legacy_wheel_bytes": sum(c.figures.legacy_wheel_bytes for c in present),
        "dead_selfcheck": sum(1 for c in present for k in c.figures.selfcheck if k.exists is False),
    }
    figures["bytes"] = sum(v for k, v in figures.items() if k.endswith("_bytes"))
    every = sum(c.figures.legacy_http_bytes for c in present)
    figures["legacy_http_kept_bytes"] = every - figures["legacy_http_bytes"]
    return figures


def _ages(entries: Sequence[CacheEntry], now: float) -> list[Row]:
    """Entries and bytes by how long ago they were last used (as a clean's --older-than reads
    it: see fleetcache.lastuse)."""
    buckets = [*(label for _, label in AGES), "> 1 year"]
    counts = {b: [0, 0] for b in buckets}
    for e in entries:
        days = (now - e.last_used) / 86400
        label = next((label for limit, label in AGES if days < limit), "> 1 year")
        counts[label][0] += 1
        counts[label][1] += e.size
    return [{"age": b, "entries": counts[b][0], "bytes": counts[b][1]} for b in buckets]
