"""The terminal table: one row per cache, totals, then what was not read and why."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Callable, Optional

from fleetcache import escape
from fleetcache.discovery.pipconfig import describe_disabled
from fleetcache.formats import report_rows
from fleetcache.formats.base import RenderOptions
from fleetcache.formats.fields import iso, totals
from fleetcache.formats.fit import PATH, TEXT, WORD, Total, cut, page
from fleetcache.formats.grid import cell, grid, plain
from fleetcache.model import (
    CacheEntry,
    CacheResult,
    CacheSource,
    Environment,
    ScanResult,
    Skipped,
)
from fleetcache.report.views import KEY_FIELDS, Report

HEADERS = [
    "CACHE",
    "KIND",
    "OWNER",
    "USED BY",
    "ENVS",
    "BUSY",
    "HTTP FILES",
    "HTTP",
    "WHEELS",
    "WHEEL SIZE",
    "TOTAL",
    "SIZE",
    "FREES",
]
ENV_HEADERS = [
    "PREFIX",
    "KIND",
    "OWNER",
    "PYTHON",
    "PIP",
    "INTERPRETER",
    "BASE",
    "CACHES",
    "SIZE",
    "MODIFIED",
    "ACTIVE",
    "FOUND BY",
]
ACTIVE_HEADERS = ["PREFIX", "KIND", "OWNER", "ACTIVE", "PID", "USER", "WHY", "COMMAND"]
COMMAND_WIDTH = 60
DENIED = "permission denied"
HEADERS_AGE = ["OLDEST", "NEWEST"]
# the 80-column views: header -> (shown as, what it holds: how a cell too wide gives way,
# fleetcache.formats.fit); --wide shows every column, every cell whole
SCAN_NARROW = {
    "CACHE": ("CACHE", PATH),
    "KIND": ("KIND", WORD),
    "OWNER": ("OWNER", WORD),
    "BUSY": ("BUSY", WORD),
    "ENVS": ("ENVS", WORD),
    "HTTP": ("HTTP", WORD),
    # on disk, and what removing the cache frees (less when environments hardlink its files);
    # pip's WHEEL SIZE and TOTAL (apparent bytes) are in --wide
    "SIZE": ("SIZE", WORD),
    "FREES": ("FREES", WORD),
}
ENV_NARROW = {
    "PREFIX": ("PREFIX", PATH),
    "KIND": ("KIND", WORD),
    "OWNER": ("OWNER", WORD),
    "PYTHON": ("PYTHON", WORD),
    "SIZE": ("SIZE", WORD),
    "ACTIVE": ("ACTIVE", WORD),
}
ACTIVE_NARROW = {
    "PREFIX": ("PREFIX", PATH),
    "PID": ("PID", WORD),
    "USER": ("USER", WORD),
    "WHY": ("WHY", TEXT),
    "COMMAND": ("COMMAND", TEXT),
}
LIST_HEADERS = ["FROM", "KIND", "PACKAGE", "VERSION", "SIZE", "MODIFIED", "PATH"]
LIST_NARROW = {
    "FROM": ("FROM", WORD),
    "KIND": ("KIND", WORD),
    "PACKAGE": ("PACKAGE", WORD),
    "VERSION": ("VERSION", WORD),
    "SIZE": ("SIZE", WORD),
    "MODIFIED": ("MODIFIED", WORD),
}


class Size(str):
    """A size as people read it (``4.0 MB``) that keeps its bytes: a page sorts by them."""

    raw: int  # the bytes

    def __new__(cls, text: str, raw: int) -> Size:
        made = super().__new__(cls, text)
        made.raw = raw
        return made


def human_size(size: int) -> Size:
    """Decimal units like pip's, up to TB."""
    value = float(size)
    for unit in ("B", "kB", "MB", "GB"):
        if value < 1000:
            return Size(f"{int(value)} {unit}" if unit == "B" else f"{value:.1f} {unit}", size)
        value /= 1000
    return Size(f"{value:.1f} TB", size)


def used_by(cache: CacheResult) -> str:
    """``alice (default location), bob (/etc/pip.conf [global])``"""
    return sources_phrase(cache.location.sources)


def sources_phrase(sources: tuple[CacheSource, ...]) -> str:
    """Whose pip uses a cache, and why: ``alice (default location)``."""
    parts = []
    for source in sources:
        why = source.describe()
        parts.append(f"{source.user} ({why})" if source.user else why)
    return ", ".join(dict.fromkeys(parts))


class TableFormat:
    """A plain table for people; every cell escaped and cut (:mod:`fleetcache.formats.grid`).
    ``tablefmt`` is tabulate's (markdown: github)."""

    tablefmt = "simple"
    always_wide = False
    markup = staticmethod(plain)

    def _table(
        self, rows: list[list[Any]], headers: list[str], kinds: Optional[list[str]] = None
    ) -> str:
        return grid(rows, headers, self.tablefmt, kinds, self.markup)

    def _view(
        self,
        rows: list[list[Any]],
        headers: list[str],
        narrow: Mapping[str, tuple[str, str]],
        options: RenderOptions,
    ) -> str:
        """All the columns (``--wide``), or the narrow view's, renamed and made to fit 80."""
        if options.wide or self.always_wide:
            return self._table(rows, headers)
        return self._table(*narrowed(rows, headers, narrow))

    def _page(self, table: str, notes: list[str], options: RenderOptions) -> str:
        """The table, then the lines about it, each wrapped to 80 columns unless ``--wide``."""
        return page(table, notes, options.wide or self.always_wide)

    def entries(self, found: list[tuple[str, CacheEntry]], options: RenderOptions) -> str:
        """``fleetcache list``: one row per entry (download or built), named."""
        if not found:
            return "No cache entries.\n"
        size: Callable[[int], str] = str if options.exact_bytes else human_size
        rows = [
            [
                "download" if e.download else "built",
                e.kind,
                escape.display(e.project or "?"),
                escape.display(e.version or ""),
                size(e.size),
                _day(e.mtime),
                escape.display(e.cache.rstrip("/") + "/" + e.path),
            ]
            for _, e in found
        ]
        return self._page(self._view(rows, LIST_HEADERS, LIST_NARROW, options), [], options)

    def scan(self, result: ScanResult, options: RenderOptions) -> str:
        """The scan as a table, its totals, missing caches and what was skipped."""
        size: Callable[[int], str] = str if options.exact_bytes else human_size
        rows = []
        present = [c for c in result.caches if c.exists and not c.skipped]
        for c in present:
            f = c.figures
            rows.append(
                [
                    escape.display(c.location.path),
                    c.location.kind,
                    escape.display(c.owner or ""),
                    escape.display(used_by(c)),
                    len(c.environments) if result.envs_searched else "?",
                    state(c.busy, c.busy_checked),
                    f.http_files,
                    size(f.http_bytes),
                    f.wheel_files,
                    size(f.wheel_bytes),
                    size(f.total_bytes),
                    size(f.disk_bytes),
                    size(f.reclaimable_bytes),
                    _day(f.oldest_mtime),
                    _day(f.newest_mtime),
                ]
            )
        sums = totals(result)
        rows.append(
            [
                Total(f"TOTAL ({plural(len(present), 'cache')})"),
                "",
                "",
                "",
                len({p for c in present for p in c.environments}) if result.envs_searched else "?",
                sum(1 for c in present if c.busy) if result.activity is not None else "?",
                sums["http_files"],
                size(sums["http_bytes"]),
                sums["wheel_files"],
                size(sums["wheel_bytes"]),
                size(sums["total_bytes"]),
                size(sums["disk_bytes"]),
                size(sums["reclaimable_bytes"]),
                "",
                "",
            ]
        )
        table = self._view(rows, HEADERS + HEADERS_AGE, SCAN_NARROW, options)
        lines: list[str] = []
        if not (options.wide or self.always_wide) and present:
            lines.append("Used by:")
            lines.extend(
                f"  {escape.display(c.location.path)}: {escape.display(used_by(c))}"
                for c in present
            )
        lines.extend(junk_lines(present, sums, size))
        lines.extend(busy_lines(result))
        missing = [c for c in result.caches if not c.exists]
        if missing:
            names = ", ".join(escape.display(used_by(c)) for c in missing)
            lines.append(f"No cache yet: {names}")
        disabled = [
            escape.display(f"{ac.account.name}: {phrase}")
            for ac in result.accounts
            for phrase in describe_disabled(ac.uses)
        ]
        if disabled:
            lines.append("Cache disabled: " + "; ".join(disabled))
        lines.extend(cache_problem_lines(result))
        lines.extend(env_problem_lines(result))
        lines.extend(skipped_lines(result, options))
        return self._page(table, lines, options)

    def envs(self, result: ScanResult, options: RenderOptions) -> str:
        """One row per interpreter or environment, then their problems and what was skipped."""
        if options.processes:
            return self.processes(result, options)
        size: Callable[[int], str] = str if options.exact_bytes else human_size
        rows = [
            [
                escape.display(e.prefix),
                e.kind,
                escape.display(e.owner or ""),
                escape.display(e.python_version or "?"),
                escape.display(e.pip_version or ""),
                escape.display(_short(e.interpreter, e.prefix)),
                escape.display(e.base_interpreter or ""),
                escape.display(_caches(e)),
                "" if e.size_bytes is None else size(e.size_bytes),
                _day(e.last_modified),
                _active(e),
                escape.display(", ".join(e.found_by)),
            ]
            for e in result.environments
        ]
        envs = result.environments
        gone = sum(1 for e in envs if not e.exists)
        label = plural(len(envs), "environment") + (f", {gone} gone" if gone else "")
        total = sum(e.size_bytes or 0 for e in envs if e.exists)
        active = sum(1 for e in envs if e.active)
        rows.append(
            [
                Total(f"TOTAL ({label})"),
                "",
                "",
                "",
                "",
                "",
                "",
                "",
                size(total),
                "",
                str(active) if result.activity is not None else "?",
                "",
            ]
        )
        table = self._view(rows, ENV_HEADERS, ENV_NARROW, options)
        return self._page(
            table, env_problem_lines(result) + skipped_lines(result, options), options
        )

    def merged(self, doc: dict[str, Any], options: RenderOptions) -> str:
        """``fleetcache merge``: every host's caches (or report rows), then the hosts."""
        size: Callable[[int], str] = str if options.exact_bytes else human_size
        if doc.get("by") == "kind":
            rows = [report_rows.merged_kind_cells(r, size) for r in doc["rows"]]
            headers = report_rows.MERGED_KIND_HEADERS
            narrow = report_rows.MERGED_KIND_NARROW
        elif "by" in doc:
            key = KEY_FIELDS[doc["by"]]
            rows = [
                [escape.display(str(r.get("host"))), escape.display(str(r.get(key, ""))),
                 r.get("entries", 0), size(int(r.get("bytes") or 0))]
                for r in doc["rows"]
            ]  # fmt: skip
            headers = ["HOST", key.upper(), "ENTRIES", "TOTAL"]
            narrow = {"HOST": ("HOST", WORD), key.upper(): (key.upper(), KEY_KINDS[key]),
                      "ENTRIES": ("ENTRIES", WORD), "TOTAL": ("TOTAL", WORD)}  # fmt: skip
        else:
            busy = {True: "yes", False: "no", None: "maybe"}
            rows = [
                [escape.display(str(c.get("host"))), escape.display(str(c.get("path"))),
                 escape.display(str(c.get("kind") or "")),
                 escape.display(str(c.get("owner") or "")), busy.get(c.get("busy"), "?"),
                 size(int(c.get("http_bytes") or 0)),
                 *(size(int(c.get(k) or 0)) for k in MERGED_SIZES),
                 escape.display(", ".join(map(str, c.get("users") or [])))]
                for c in doc["caches"] if c.get("exists") and not c.get("skipped")
            ]  # fmt: skip
            headers = ["HOST", "CACHE", "KIND", "OWNER", "BUSY", "HTTP", "TOTAL", "SIZE", "FREES",
                       "USERS"]  # fmt: skip
            narrow = MERGED_NARROW
            present = [c for c in doc["caches"] if c.get("exists")]
            sums = [size(sum(int(c.get(k) or 0) for c in present)) for k in MERGED_SIZES]
            rows.append([Total("TOTAL"), "", "", "", "", "", *sums, ""])
        table = self._view(rows, headers, narrow, options) if rows else "No records."
        lines = ["Hosts:"]
        lines.extend(
            f"  {escape.display(str(h['host']))}: FAILED: {escape.display(str(h['failed']))}"
            if h.get("failed")
            else f"  {escape.display(str(h['host']))}: {escape.display(str(h['file']))}, generated "
            f"{escape.display(str(h['generated_at']))}, {plural(h['skipped'], 'thing')} skipped"
            for h in doc["hosts"]
        )
        return self._page(table, lines, options)

    def processes(self, result: ScanResult, options: RenderOptions) -> str:
        """``envs --active``: one row per process running from an environment, and why."""
        rows = []
        for e in result.environments:
            for i, use in enumerate(e.activity):
                rows.append(
                    [
                        escape.display(e.prefix) if i == 0 else "",
                        e.kind if i == 0 else "",
                        escape.display(e.owner or "") if i == 0 else "",
                        state(e.active, e.activity_checked) if i == 0 else "",
                        "" if use.pid is None else str(use.pid),
                        escape.display(use.user or ""),
                        escape.display(why(use.why, e.prefix, options.wide)),
                        escape.display(_shorten(use.command)),
                    ]
                )
        if result.activity is None:
            table = "The process table was not read (--no-activity)."
        elif not rows:
            table = "No environment is in use."
        else:
            table = self._view(rows, ACTIVE_HEADERS, ACTIVE_NARROW, options)
        return self._page(table, skipped_lines(result, options), options)

    def report(self, report: Report, skipped: list[Skipped], options: RenderOptions) -> str:
        """The view's rows, then the insights: duplicated, superseded, junk, unnamed, ages."""
        size: Callable[[int], str] = str if options.exact_bytes else human_size
        lines = insight_lines(report, size) + skipped_lines(report.scan, options)
        lines.extend(f"  {escape.display(s.path)}: {escape.display(s.reason)}" for s in skipped)
        if report.by == "kind":
            rows = [report_rows.kind_cells(row, size) for row in report.rows]
            headers, narrow = report_rows.KIND_HEADERS, report_rows.KIND_NARROW
            table = self._view(rows, headers, narrow, options) if rows else "No caches."
            return self._page(table, lines, options)
        key = KEY_FIELDS[report.by]
        extra = REPORT_EXTRA.get(report.by, "top_packages")
        rows = []
        for row in report.rows:
            shown = escape.display(str(row.get(key, "")))
            more = row.get(extra)
            listed = ", ".join(map(str, more)) if isinstance(more, list) else str(more or "")
            rows.append(
                [
                    shown,
                    row["entries"],
                    size(row["download_bytes"]),
                    size(row["wheel_bytes"]),
                    size(row["bytes"]),
                    size(row["unknown_bytes"]) if row["unknown_bytes"] else "",
                    *([escape.display(", ".join(row["kinds"]))] if "kinds" in row else []),
                    escape.display(_shorten(listed)),
                ]
            )
        last = extra.upper().replace("_", " ")
        # by package, KINDS (of the caches holding it) in --wide
        kinds = ["KINDS"] if report.by == "package" else []
        headers = [key.upper(), "ENTRIES", "DOWNLOADS", "BUILT", "TOTAL", "UNNAMED", *kinds, last]
        narrow = {
            key.upper(): (key.upper(), KEY_KINDS[key]),
            "ENTRIES": ("ENTRIES", WORD),
            "DOWNLOADS": ("DOWNLOADS", WORD),
            "BUILT": ("BUILT", WORD),
            "TOTAL": ("TOTAL", WORD),
            last: (last, TEXT),
        }
        table = self._view(rows, headers, narrow, options) if rows else "No cache entries."
        return self._page(table, lines, options)


MERGED_NARROW = {
    "HOST": ("HOST", WORD),
    "CACHE": ("CACHE", PATH),
    "KIND": ("KIND", WORD),
    "OWNER": ("OWNER", WORD),
    "BUSY": ("BUSY", WORD),
    "HTTP": ("HTTP", WORD),
    "SIZE": ("SIZE", WORD),  # as the scan's table: pip's TOTAL is in --wide
    "FREES": ("FREES", WORD),
}
MERGED_SIZES = ("total_bytes", "disk_bytes", "reclaimable_bytes")  # TOTAL, SIZE, FREES
# what the key column of each report view holds (views.KEY_FIELDS)
KEY_KINDS = {"package": WORD, "cache": PATH, "user": WORD, "environment": PATH, "kind": WORD,
             "host": WORD}  # fmt: skip


def narrowed(
    rows: list[list[Any]], headers: list[str], narrow: Mapping[str, tuple[str, str]]
) -> tuple[list[list[Any]], list[str], list[str]]:
    """The narrow view's columns of ``rows``: the cells, the headers as shown, what each holds."""
    keep = [headers.index(h) for h in narrow]
    picked = [[row[i] for i in keep] for row in rows]
    return picked, [title for title, _ in narrow.values()], [kind for _, kind in narrow.values()]


# the list column a view shows after the counts (its key column is views.KEY_FIELDS')
REPORT_EXTRA = {"package": "versions", "host": "packages"}


def insight_lines(report: Report, size: Callable[[int], str]) -> list[str]:
    """The report's insights, one line each."""
    found = report.insights
    lines = []
    dup = found["duplicated"]
    if dup["bytes"]:
        top = _top(dup["top"], size)
        lines.append(
            f"Held by several accounts: {size(dup['bytes'])} in "
            f"{plural(dup['entries'], 'extra copy', 'extra copies')} "
            f"(one shared cache or a proxy would save it): {top}"
        )
    old = found["superseded"]
    if old["bytes"]:
        top = _top(old["top"], size)
        lines.append(
            f"Superseded versions: {size(old['bytes'])} in {plural(old['entries'], 'entry')} "
            f"(a newer version is cached beside them): {top}"
        )
    held = report_rows.across_kinds(found.get("across_kinds"), size, cell)
    if held:
        lines.append(held)
    junk = found["junk"]
    if junk["bytes"] or junk["dead_selfcheck"]:
        lines.append(
            f"Never used again by pip: {size(junk['bytes'])} (orphan halves "
            f"{size(junk['orphan_bytes'])}, tmp leftovers {size(junk['tmp_bytes'])}, legacy "
            f"http/ {size(junk['legacy_http_bytes'])}, pre-20.0 wheels "
            f"{size(junk['legacy_wheel_bytes'])}, {junk['dead_selfcheck']} dead selfcheck keys)"
        )
    if junk["legacy_http_kept_bytes"]:
        kept = size(junk["legacy_http_kept_bytes"])
        lines.append(f"Legacy http/ that pips before 23.3 may read: {kept}")
    unnamed = found["unattributed"]
    if unnamed["entries"]:
        lines.append(f"Unnamed: {plural(unnamed['entries'], 'entry')}, {size(unnamed['bytes'])}")
    ages = ", ".join(f"{a['age']} {size(a['bytes'])}" for a in found["ages"] if a["entries"])
    if ages:
        lines.append(f"Ages (downloaded or built): {ages}")
    return lines


def _top(top: list[dict[str, Any]], size: Callable[[int], str]) -> str:
    """``alpha 1.2 MB, beta 800 kB``: each name escaped and cut as in a table."""
    return ", ".join(f"{cell(str(t['package']))} {size(t['bytes'])}" for t in top)


def plural(count: int, one: str, many: Optional[str] = None) -> str:
    """``1 entry``, ``2 entries``."""
    if count == 1:
        return f"1 {one}"
    return f"{count} {many or (one[:-1] + 'ies' if one.endswith('y') else one + 's')}"


def why(text: str, prefix: str, wide: bool) -> str:
    """A reason, its environment's own paths shown relative to it in the narrow view."""
    return text if wide else text.replace(prefix.rstrip("/") + "/", "")


def state(value: bool | None, checked: bool) -> str:
    """yes / no / maybe (a process could not be read) / ? (not checked)."""
    if not checked:
        return "?"
    return "maybe" if value is None else ("yes" if value else "no")


def _active(env: Environment) -> str:
    """``yes (3)``: how many processes run from it; maybe; no."""
    shown = state(env.active, env.activity_checked)
    return f"yes ({len(env.pids)})" if env.active else shown


def _shorten(command: str) -> str:
    """A command line (or list) in at most COMMAND_WIDTH characters, cut between words."""
    return cut(command, COMMAND_WIDTH)


def busy_lines(result: ScanResult) -> list[str]:
    """``Busy (N):`` then, per busy cache of the table, what uses it."""
    busy = [c for c in result.caches if c.busy_reasons and c.exists and not c.skipped]
    if not busy:
        return []
    lines = [f"Busy ({len(busy)}):"]
    for cache in busy:
        lines.append(f"  {escape.display(cache.location.path)}:")
        for use in cache.busy_reasons:
            parts = ["possibly:"] if not use.certain else []
            if use.pid is not None:
                parts.append(f"pid {use.pid} {use.user or '?'}")
            parts.append(use.why + (f": {_shorten(use.command)}" if use.command else ""))
            lines.append("    " + escape.display(" ".join(parts)))
    return lines


def skipped_lines(result: ScanResult, options: RenderOptions) -> list[str]:
    """``Skipped (N):`` then one line per thing not read, when there is any; in an unprivileged
    run, what it was denied is one line (root reads it; JSON lists each)."""
    if not result.skipped:
        return []
    shown = list(result.skipped)
    lines = [f"Skipped ({len(shown)}):"]
    denied = [s for s in shown if DENIED in s.reason]
    if options.unprivileged and len(denied) > 1:
        shown = [s for s in shown if DENIED not in s.reason]
        homes = [(a.account.home.rstrip("/") + "/", a.account.name) for a in result.accounts]
        names = dict.fromkeys(n for s in denied for h, n in homes if (s.path + "/").startswith(h))
        whose = f" of {escape.display(', '.join(names))}" if names else ""
        lines.append(f"  {DENIED} (run as root to read them): {plural(len(denied), 'path')}{whose}")
    lines.extend(f"  {escape.display(s.path)}: {escape.display(s.reason)}" for s in shown)
    return lines


def _short(path: str | None, prefix: str) -> str:
    """An interpreter inside its prefix as ``bin/python``."""
    if path is None:
        return ""
    head = prefix.rstrip("/") + "/"
    return path[len(head) :] if path.startswith(head) else path


def _caches(env: Environment) -> str:
    if env.shared and not env.caches:
        return "each user's own"
    parts = [u.path if u.path is not None else "disabled" for u in env.caches]
    return ", ".join(dict.fromkeys(parts))


def cache_problem_lines(result: ScanResult) -> list[str]:
    """``Cache problems (N):`` then one line per problem of a cache that was walked."""
    found = [(c.location.path, p) for c in result.caches for p in c.problems]
    if not found:
        return []
    lines = [f"Cache problems ({len(found)}):"]
    lines.extend(f"  {escape.display(path)}: {escape.display(p)}" for path, p in found)
    return lines


def env_problem_lines(result: ScanResult) -> list[str]:
    """``Problems (N):`` then one line per environment problem."""
    found = [(e.prefix, p) for e in result.environments for p in e.problems]
    if not found:
        return []
    lines = [f"Environment problems ({len(found)}):"]
    lines.extend(f"  {escape.display(prefix)}: {escape.display(p)}" for prefix, p in found)
    return lines


def _day(ts: float | None) -> str:
    stamp = iso(ts)
    return stamp[:10] if stamp else ""


def junk_lines(
    present: list[CacheResult], sums: dict[str, int], size: Callable[[int], str]
) -> list[str]:
    """What pip can never use again, when there is any (a cache's legacy http/ only when no pip
    that may read it uses the cache); then the legacy http/ such pips may still read."""
    legacy = [c.junk_legacy_http for c in present]
    legacy_files, legacy_bytes = sum(f for f, _ in legacy), sum(b for _, b in legacy)
    parts = [
        (sums["orphan_bytes"], plural(sums["orphan_files"], "orphan half", "orphan halves")),
        (sums["tmp_bytes"], f"{sums['tmp_files']} tmp leftovers"),
        (legacy_bytes, f"{legacy_files} legacy http/ files"),
        (sums["legacy_wheel_bytes"], f"{sums['legacy_wheel_entries']} pre-20.0 wheel entries"),
    ]
    found = [(b, what) for b, what in parts if b]
    lines = []
    if found:
        total = sum(b for b, _ in found)
        detail = ", ".join(f"{what} {size(b)}" for b, what in found)
        lines.append(f"Never used again by pip: {size(total)} ({detail})")
    kept = sums["legacy_http_bytes"] - legacy_bytes
    if kept:
        files = sums["legacy_http_files"] - legacy_files
        lines.append(f"Legacy http/ that pips before 23.3 may read: {files} files, {size(kept)}")
    return lines
