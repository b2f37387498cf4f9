"""The table cells of the report views that hold more than entries: `--by kind` (its caches'
figures) and the packages held by caches of several kinds."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Callable, Optional

from fleetcache import escape
from fleetcache.formats.fit import WORD

Size = Callable[[int], str]

# `report --by kind`: TOTAL as the scan's (apparent bytes), SIZE on disk, FREES what a clean of
# every cache of the kind would free; its entries in --wide
KIND_HEADERS = ["KIND", "CACHES", "FILES", "ENTRIES", "TOTAL", "SIZE", "FREES", "USERS"]
KIND_NARROW = {
    "KIND": ("KIND", WORD),
    "CACHES": ("CACHES", WORD),
    "FILES": ("FILES", WORD),
    "TOTAL": ("TOTAL", WORD),
    "SIZE": ("SIZE", WORD),
    "FREES": ("FREES", WORD),
    "USERS": ("USERS", WORD),
}
# `merge` of `report --by kind` documents: the same figures, each row with its host
MERGED_KIND_HEADERS = ["HOST", "KIND", "CACHES", "TOTAL", "SIZE", "FREES"]
MERGED_KIND_NARROW = {h: (h, WORD) for h in MERGED_KIND_HEADERS}


def kind_cells(row: Mapping[str, Any], size: Size) -> list[Any]:
    """One row of `report --by kind`, as KIND_HEADERS says."""
    users = row.get("users") or []
    return [
        escape.display(str(row.get("kind"))),
        row.get("caches", 0),
        row.get("total_files", 0),
        row.get("entries", 0),
        *(size(int(row.get(name) or 0)) for name in SIZES),
        escape.display(", ".join(map(str, users)) if len(users) < 3 else f"{len(users)} users"),
    ]


def merged_kind_cells(row: Mapping[str, Any], size: Size) -> list[Any]:
    """One host's row of a merged `report --by kind`, as MERGED_KIND_HEADERS says."""
    return [
        escape.display(str(row.get("host"))),
        escape.display(str(row.get("kind"))),
        row.get("caches", 0),
        *(size(int(row.get(name) or 0)) for name in SIZES),
    ]


SIZES = ("total_bytes", "disk_bytes", "reclaimable_bytes")  # TOTAL, SIZE, FREES


def across_kinds(found: Optional[Mapping[str, Any]], size: Size, cell: Callable[[str], str]) -> str:
    """``Held by several kinds: numpy held 9 times across 4 kinds (1.2 GB), ...``; empty when
    no package is (or the report predates kinds)."""
    if not found or not found.get("top"):
        return ""
    held = ", ".join(
        f"{cell(str(t['package']))} held {t['entries']} times across {t['kinds']} kinds "
        f"({size(int(t['bytes']))})"
        for t in found["top"]
    )
    count = found["packages"]
    return f"Held by caches of several kinds ({count} package{'' if count == 1 else 's'}): {held}"
