"""CSV: a header row, then one row per cache with the scalar fields (lists joined with ';')."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable
from typing import Any, TextIO

from fleetcache import escape
from fleetcache.formats.base import RenderOptions
from fleetcache.formats.fields import CACHE_FIELDS, ENTRY_FIELDS, ENV_FIELDS, entry_record
from fleetcache.model import CacheEntry, ScanResult, Skipped
from fleetcache.report.views import Report

COLUMNS = ["path", "owner", "owner_uid", "users", "sources", "busy", "busy_reasons", "problems"] + [
    f.name
    for f in CACHE_FIELDS
    if f.scalar and f.name not in ("path", "owner", "owner_uid", "busy")
]


# what makes a spreadsheet read a cell as a formula (OWASP "CSV injection")
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def defused(cell: str) -> str:
    """A cell a spreadsheet shows as text: one that could start a formula gets a leading ``'``."""
    return "'" + cell if cell.startswith(FORMULA_STARTS) else cell


class _Writer:
    """The csv writer of every CSV output: every cell defused."""

    def __init__(self, out: TextIO) -> None:
        self._writer = csv.writer(out, lineterminator="\n")

    def writerow(self, cells: Iterable[str]) -> None:
        self._writer.writerow([defused(c) for c in cells])


class CsvFormat:
    """RFC 4180 CSV; every name escaped so no control character reaches a terminal, and no cell
    starts a formula."""

    def scan(self, result: ScanResult, options: RenderOptions) -> str:
        """One row per cache."""
        out = io.StringIO()
        writer = _Writer(out)
        writer.writerow(COLUMNS)
        getters = {f.name: f.get for f in CACHE_FIELDS}
        for cache in result.caches:
            row = []
            for name in COLUMNS:
                if name == "users":
                    row.append(escape.display(";".join(cache.location.users)))
                elif name == "busy_reasons":
                    row.append(";".join(str(u.pid) for u in cache.busy_reasons if u.pid))
                elif name == "problems":
                    row.append(escape.display(";".join(cache.problems)))
                elif name == "sources":
                    row.append(
                        ";".join(_source(s.user, s.describe()) for s in cache.location.sources)
                    )
                else:
                    value = getters[name](cache)
                    row.append("" if value is None else _cell(value))
            writer.writerow(row)
        return out.getvalue()

    def envs(self, result: ScanResult, options: RenderOptions) -> str:
        """One row per environment; list fields joined with ';'."""
        out = io.StringIO()
        writer = _Writer(out)
        writer.writerow([f.name for f in ENV_FIELDS])
        for env in result.environments:
            row = []
            for f in ENV_FIELDS:
                value = f.cell(env) if f.cell is not None else f.get(env)
                row.append("" if value is None else _cell(value))
            writer.writerow(row)
        return out.getvalue()

    def report(self, report: Report, skipped: list[Skipped], options: RenderOptions) -> str:
        """One row per report row; lists joined with ';'."""
        out = io.StringIO()
        writer = _Writer(out)
        columns = list(report.rows[0]) if report.rows else ["entries", "bytes"]
        writer.writerow(columns)
        for row in report.rows:
            cells = []
            for name in columns:
                value = row.get(name)
                if isinstance(value, list):
                    value = ";".join(str(v) for v in value)
                cells.append("" if value is None else _cell(value))
            writer.writerow(cells)
        return out.getvalue()

    def entries(self, found: list[tuple[str, CacheEntry]], options: RenderOptions) -> str:
        """One row per entry, the fields of ``list --format json``."""
        out = io.StringIO()
        writer = _Writer(out)
        names = [name for name, _ in ENTRY_FIELDS]
        writer.writerow(names)
        for user, entry in found:
            record = entry_record(user, entry)
            writer.writerow(["" if record[n] is None else _cell(record[n]) for n in names])
        return out.getvalue()

    def merged(self, doc: dict[str, Any], options: RenderOptions) -> str:
        """One row per cache (or report row) of every host, ``host`` first."""
        out = io.StringIO()
        writer = _Writer(out)
        records = doc["rows"] if "by" in doc else doc["caches"]
        columns = ["host", *COLUMNS] if "caches" in doc else _keys(records)
        writer.writerow(columns)
        for record in records:
            writer.writerow([_merged_cell(name, record.get(name)) for name in columns])
        return out.getvalue()


def _keys(records: list[dict[str, Any]]) -> list[str]:
    return list(dict.fromkeys(k for r in records for k in r)) or ["host"]


def _merged_cell(name: str, value: Any) -> str:
    if name == "sources" and isinstance(value, list):
        return ";".join(_source(s.get("user"), str(s.get("description", ""))) for s in value)
    if name == "busy_reasons" and isinstance(value, list):
        return ";".join(str(u.get("pid")) for u in value if u.get("pid") is not None)
    if isinstance(value, list):
        return escape.display(";".join(str(v) for v in value))
    return "" if value is None else _cell(value)


def _source(user: str | None, description: str) -> str:
    return escape.display(f"{user}: {description}" if user else description)


def _cell(value: object) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return escape.display(str(value))
