"""Prometheus: the text exposition format, for node_exporter's textfile collector.

Every metric is a gauge named ``fleetcache_*`` with HELP and TYPE lines; labels carry the path,
user, kind, ... Write it atomically into the collector's directory: ``-o DIR/fleetcache.prom``.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any, Optional

from fleetcache import escape
from fleetcache.formats.base import RenderOptions
from fleetcache.formats.fields import totals
from fleetcache.model import CacheEntry, ScanResult, Skipped
from fleetcache.report.views import KEY_FIELDS, Report

if TYPE_CHECKING:
    from fleetcache.clean.history import LastClean

Labels = Mapping[str, Optional[str]]
# a view's key field as a label, where the field's name is not the label used elsewhere
LABELS = {"cache": "path", "environment": "prefix"}


def _label(value: str) -> str:
    """A label value: control characters shown as escapes (as in a table, so none reaches a
    dashboard or a terminal), then the exposition format's own escapes."""
    return escape.display(value).replace("\\", "\\\\").replace('"', '\\"')


def _number(value: Optional[float]) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "NaN"
    return repr(float(value)) if isinstance(value, float) else str(int(value))


def _state(value: Optional[bool]) -> float:
    return math.nan if value is None else float(value)


class _Metrics:
    """Samples grouped by metric, written with their HELP and TYPE lines."""

    def __init__(self) -> None:
        self.families: dict[str, tuple[str, list[str]]] = {}

    def add(self, name: str, doc: str, labels: Labels, value: Optional[float]) -> None:
        full = "fleetcache_" + name
        family = self.families.setdefault(full, (doc, []))
        shown = ",".join(f'{k}="{_label(v)}"' for k, v in labels.items() if v is not None)
        family[1].append(
            f"{full}{{{shown}}} {_number(value)}" if shown else f"{full} {_number(value)}"
        )

    def text(self) -> str:
        lines = []
        for name, (doc, samples) in self.families.items():
            lines.append(f"# HELP {name} {doc}")
            lines.append(f"# TYPE {name} gauge")
            lines.extend(samples)
        return "\n".join(lines) + "\n"


def _run(m: _Metrics, result: ScanResult) -> None:
    m.add(
        "scan_timestamp_seconds", "When the report was made (Unix time).", {}, result.generated_at
    )
    m.add("scan_skipped", "Things the run could not read or refused (see its JSON).", {},
          len(result.skipped))  # fmt: skip


def _disk(m: _Metrics, labels: Labels, disk: int, reclaimable: int) -> None:
    """A cache's gauges as du sees the disk: what it takes, and what removing it would free."""
    m.add("cache_disk_bytes", "Bytes a cache takes on disk (du -sB1).", labels, disk)
    m.add("cache_reclaimable_bytes", "Bytes removing the cache would free (not those an "
          "environment also hardlinks).", labels, reclaimable)  # fmt: skip


class PrometheusFormat:
    """Gauges for caches, environments, report rows and cache entries."""

    def scan(self, result: ScanResult, options: RenderOptions) -> str:
        """One set of gauges per cache, and the run's own."""
        m = _Metrics()
        for c in result.caches:
            if not c.exists or c.skipped:
                continue
            f = c.figures
            labels = {"path": c.location.path, "kind": c.location.kind, "owner": c.owner,
                      "users": ",".join(c.location.users)}  # fmt: skip
            m.add("cache_bytes", "Bytes under a pip cache directory.", labels, f.total_bytes)
            m.add("cache_files", "Files under a pip cache directory.", labels, f.total_files)
            _disk(m, labels, f.disk_bytes, f.reclaimable_bytes)
            m.add(
                "cache_http_bytes", "Bytes of downloads (pip's http cache).", labels, f.http_bytes
            )
            m.add("cache_wheel_bytes", "Bytes of wheels pip built.", labels, f.wheel_bytes)
            junk = f.orphan_bytes + f.tmp_bytes + c.junk_legacy_http[1] + f.legacy_wheel_bytes
            m.add("cache_junk_bytes", "Bytes pip can never use again.", labels, junk)
            m.add("cache_environments", "Environments whose pip uses the cache.", labels,
                  len(c.environments))  # fmt: skip
            m.add("cache_busy", "1 while a process uses the cache, 0 when none, NaN unknown.",
                  labels, _state(c.busy))  # fmt: skip
            if f.newest_mtime is not None:
                m.add("cache_newest_timestamp_seconds", "Newest file in the cache (Unix time).",
                      labels, f.newest_mtime)  # fmt: skip
        sums = totals(result)
        m.add("caches_bytes", "Bytes under every cache scanned.", {}, sums["total_bytes"])
        _run(m, result)
        return m.text()

    def envs(self, result: ScanResult, options: RenderOptions) -> str:
        """One set of gauges per environment."""
        m = _Metrics()
        for e in result.environments:
            labels = {"prefix": e.prefix, "kind": e.kind, "owner": e.owner}
            info = {**labels, "python_version": e.python_version, "role": e.role}
            m.add("environment_info", "An interpreter or environment (always 1).", info, 1)
            if e.size_bytes is not None:
                m.add("environment_bytes", "Bytes of its files.", labels, e.size_bytes)
            m.add("environment_active", "1 while a process runs from it, 0 when none, NaN unknown.",
                  labels, _state(e.active))  # fmt: skip
            m.add("environment_processes", "Processes running from it.", labels, len(e.pids))
        _run(m, result)
        return m.text()

    def report(self, report: Report, skipped: list[Skipped], options: RenderOptions) -> str:
        """One gauge per report row, and the insights."""
        m = _Metrics()
        key = KEY_FIELDS[report.by]
        label = LABELS.get(key, key)
        for row in report.rows:
            labels = {"by": report.by, label: str(row.get(key, ""))}
            m.add("report_bytes", "Bytes of the row's cache entries.", labels, row["bytes"])
            m.add("report_download_bytes", "Bytes of its downloads.", labels, row["download_bytes"])
            m.add("report_wheel_bytes", "Bytes of its built wheels.", labels, row["wheel_bytes"])
            m.add("report_entries", "Cache entries of the row.", labels, row["entries"])
            if "disk_bytes" in row:  # by kind: its caches' figures
                m.add("report_disk_bytes", "Bytes the kind's caches take on disk (du -sB1).",
                      labels, row["disk_bytes"])  # fmt: skip
                m.add("report_reclaimable_bytes", "Bytes removing the kind's caches would free.",
                      labels, row["reclaimable_bytes"])  # fmt: skip
        found = report.insights
        m.add("duplicated_bytes", "Bytes several accounts' caches hold twice (every copy but one).",
              {}, found["duplicated"]["bytes"])  # fmt: skip
        m.add("superseded_bytes", "Bytes of older versions beside a newer one in the same cache.",
              {}, found["superseded"]["bytes"])  # fmt: skip
        m.add("junk_bytes", "Bytes pip can never use again.", {}, found["junk"]["bytes"])
        m.add(
            "unnamed_bytes", "Bytes of entries nothing names.", {}, found["unattributed"]["bytes"]
        )
        for age in found["ages"]:
            m.add("age_bytes", "Bytes of entries by age.", {"age": age["age"]}, age["bytes"])
        _run(m, report.scan)
        return m.text()

    def entries(self, found: list[tuple[str, CacheEntry]], options: RenderOptions) -> str:
        """One gauge per cache entry (a large cache makes many series: mind the cardinality)."""
        m = _Metrics()
        for user, e in found:
            labels = {"user": user, "cache": e.cache, "path": e.path, "kind": e.kind,
                      "project": e.project, "version": e.version}  # fmt: skip
            m.add("entry_bytes", "Bytes of a cache entry.", labels, e.size)
        return m.text() if found else ""

    def merged(self, doc: dict[str, Any], options: RenderOptions) -> str:
        """The caches' gauges (or the report rows'), each with its host."""
        m = _Metrics()
        if "by" in doc:
            key = KEY_FIELDS[doc["by"]]
            label = LABELS.get(key, key)
            for row in doc["rows"]:
                labels = {"host": str(row.get("host")), "by": doc["by"], label: str(row.get(key))}
                m.add("report_bytes", "Bytes of the row's cache entries.", labels,
                      int(row.get("bytes") or 0))  # fmt: skip
        for c in doc.get("caches", []):
            if not c.get("exists") or c.get("skipped"):
                continue
            labels = {"host": str(c.get("host")), "path": str(c.get("path")), "kind": c.get("kind"),
                      "owner": c.get("owner"), "users": ",".join(map(str, c.get("users") or []))}  # fmt: skip
            m.add("cache_bytes", "Bytes under a pip cache directory.", labels,
                  int(c.get("total_bytes") or 0))  # fmt: skip
            m.add("cache_http_bytes", "Bytes of downloads (pip's http cache).", labels,
                  int(c.get("http_bytes") or 0))  # fmt: skip
            _disk(m, labels, int(c.get("disk_bytes") or 0), int(c.get("reclaimable_bytes") or 0))
            m.add("cache_wheel_bytes", "Bytes of wheels pip built.", labels,
                  int(c.get("wheel_bytes") or 0))  # fmt: skip
            busy = c.get("busy")
            m.add("cache_busy", "1 while a process uses the cache, 0 when none, NaN unknown.",
                  labels, math.nan if busy is None else float(bool(busy)))  # fmt: skip
        for h in doc["hosts"]:
            m.add("host_skipped", "Things the host's run could not read or refused.",
                  {"host": str(h["host"])}, int(h["skipped"]))  # fmt: skip
        return m.text()


def last_cleans(records: Sequence[LastClean]) -> str:
    """Each account's last clean (the state directory's), for alerts: a clean too long ago, one
    that failed, one that failed again."""
    m = _Metrics()  # a sample per account in each family (the families keep their order)
    for r in sorted(records, key=lambda r: r.user):
        labels = {"user": r.user}
        m.add("last_clean_timestamp_seconds", "When the account's caches were last cleaned "
              "(Unix time; busy or failed ones too).", labels, r.time)  # fmt: skip
        m.add("last_clean_freed_bytes", "Bytes the account's last clean deleted.", labels,
              r.freed_bytes)  # fmt: skip
        m.add("clean_failures", "Cleans in a row that failed for the account (a cache refused "
              "or cleaned in part); 0 after one that did not.", labels, r.failures)  # fmt: skip
        m.add("clean_busy_runs", "Cleans in a row that skipped a cache of the account because "
              "it was in use.", labels, r.busy_runs)  # fmt: skip
    return m.text() if records else ""
