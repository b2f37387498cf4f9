"""The terminal table: one row per cache, totals, then what was not read and why."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, Callable, Optional

from fleetcache import escape
from fleetcache.discovery.pipconfig import describe_disabled
from fleetcache.formats.base import RenderOptions
from fleetcache.formats.fields import iso, totals
from fleetcache.formats.grid import cell, grid, plain
from fleetcache.model import CacheEntry, CacheResult, Environment, ScanResult, Skipped
from fleetcache.report.views import KEY_FIELDS, Report

if TYPE_CHECKING:
    from fleetcache.clean.run import CleanResult

HEADERS = [
    "CACHE",
    "OWNER",
    "USED BY",
    "ENVS",
    "BUSY",
    "HTTP FILES",
    "HTTP",
    "WHEELS",
    "WHEEL SIZE",
    "TOTAL",
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
HEADERS_AGE = ["OLDEST", "NEWEST"]
# the 80-column views: header -> (shown as, wrap width); --wide shows every column
SCAN_NARROW = {
    "CACHE": ("CACHE", 26),
    "OWNER": ("OWNER", 8),
    "BUSY": ("BUSY", 5),
    "ENVS": ("ENVS", 4),
    "HTTP": ("HTTP", 8),
    "WHEEL SIZE": ("WHEELS", 8),
    "TOTAL": ("TOTAL", 8),
}
ENV_NARROW = {
    "PREFIX": ("PREFIX", 28),
    "KIND": ("KIND", 12),
    "OWNER": ("OWNER", 8),
    "PYTHON": ("PYTHON", 7),
    "SIZE": ("SIZE", 8),
    "ACTIVE": ("ACTIVE", 7),
}
ACTIVE_NARROW = {
    "PREFIX": ("PREFIX", 22),
    "PID": ("PID", 7),
    "USER": ("USER", 8),
    "WHY": ("WHY", 17),
    "COMMAND": ("COMMAND", 18),
}
LIST_HEADERS = ["FROM", "KIND", "PACKAGE", "VERSION", "SIZE", "MODIFIED", "PATH"]
LIST_NARROW = {
    "FROM": ("FROM", 8),
    "KIND": ("KIND", 11),
    "PACKAGE": ("PACKAGE", 18),
    "VERSION": ("VERSION", 10),
    "SIZE": ("SIZE", 8),
    "MODIFIED": ("MODIFIED", 10),
}


def human_size(size: int) -> str:
    """Decimal units like pip's, up to TB."""
    value = float(size)
    for unit in ("B", "kB", "MB", "GB"):
        if value < 1000:
            return f"{int(value)} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1000
    return f"{value:.1f} TB"


def used_by(cache: CacheResult) -> str:
    """``alice (default location), bob (/etc/pip.conf [global])``"""
    parts = []
    for source in cache.location.sources:
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
        self, rows: list[list[Any]], headers: list[str], widths: Optional[list[Any]] = None
    ) -> str:
        return grid(rows, headers, self.tablefmt, widths, self.markup)

    def _view(
        self,
        rows: list[list[Any]],
        headers: list[str],
        narrow: Mapping[str, tuple[str, int]],
        options: RenderOptions,
    ) -> str:
        """All the columns (``--wide``), or the narrow view's, renamed and wrapped to fit 80."""
        if options.wide or self.always_wide:
            return self._table(rows, headers)
        keep = [headers.index(h) for h in narrow]
        picked = [[row[i] for i in keep] for row in rows]
        names = [title for title, _ in narrow.values()]
        return self._table(picked, names, [width for _, width in narrow.values()])

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
        return self._view(rows, LIST_HEADERS, LIST_NARROW, options) + "\n"

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
                    escape.display(c.owner or ""),
                    escape.display(used_by(c)),
                    len(c.environments),
                    state(c.busy, c.busy_checked),
                    f.http_files,
                    size(f.http_bytes),
                    f.wheel_files,
                    size(f.wheel_bytes),
                    size(f.total_bytes),
                    _day(f.oldest_mtime),
                    _day(f.newest_mtime),
                ]
            )
        sums = totals(result)
        rows.append(
            [
                f"TOTAL ({len(present)} cache{'' if len(present) == 1 else 's'})",
                "",
                "",
                len({p for c in present for p in c.environments}),
                sum(1 for c in present if c.busy),
                sums["http_files"],
                size(sums["http_bytes"]),
                sums["wheel_files"],
                size(sums["wheel_bytes"]),
                size(sums["total_bytes"]),
                "",
                "",
            ]
        )
        lines = [self._view(rows, HEADERS + HEADERS_AGE, SCAN_NARROW, options)]
        if not (options.wide or self.always_wide) and present:
            lines.append("Used by:")
            lines.extend(
                f"  {escape.display(c.location.path)}: {escape.display(used_by(c))}"
                for c in present
            )
        lines.extend(_junk(present, sums, size))
        lines.extend(_busy(result))
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
        lines.extend(_cache_problems(result))
        lines.extend(_env_problems(result))
        lines.extend(_skipped(result))
        return "\n".join(lines) + "\n"

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
        present = [e for e in result.environments if e.exists]
        total = sum(e.size_bytes or 0 for e in present)
        noun = "environment" if len(present) == 1 else "environments"
        active = sum(1 for e in present if e.active)
        rows.append(
            [
                f"TOTAL ({len(present)} {noun})",
                "",
                "",
                "",
                "",
                "",
                "",
                "",
                size(total),
                "",
                str(active),
                "",
            ]
        )
        lines = [self._view(rows, ENV_HEADERS, ENV_NARROW, options)]
        lines.extend(_env_problems(result))
        lines.extend(_skipped(result))
        return "\n".join(lines) + "\n"

    def merged(self, doc: dict[str, Any], options: RenderOptions) -> str:
        """``fleetcache merge``: every host's caches (or report rows), then the hosts."""
        size: Callable[[int], str] = str if options.exact_bytes else human_size
        if "by" in doc:
            key = KEY_FIELDS[doc["by"]]
            rows = [
                [escape.display(str(r.get("host"))), escape.display(str(r.get(key, ""))),
                 r.get("entries", 0), size(int(r.get("bytes") or 0))]
                for r in doc["rows"]
            ]  # fmt: skip
            headers = ["HOST", key.upper(), "ENTRIES", "TOTAL"]
            narrow = {"HOST": ("HOST", 12), key.upper(): (key.upper(), 30),
                      "ENTRIES": ("ENTRIES", 7), "TOTAL": ("TOTAL", 8)}  # fmt: skip
        else:
            busy = {True: "yes", False: "no", None: "maybe"}
            rows = [
                [escape.display(str(c.get("host"))), escape.display(str(c.get("path"))),
                 escape.display(str(c.get("owner") or "")), busy.get(c.get("busy"), "?"),
                 size(int(c.get("http_bytes") or 0)), size(int(c.get("total_bytes") or 0)),
                 escape.display(", ".join(map(str, c.get("users") or [])))]
                for c in doc["caches"] if c.get("exists") and not c.get("skipped")
            ]  # fmt: skip
            headers = ["HOST", "CACHE", "OWNER", "BUSY", "HTTP", "TOTAL", "USERS"]
            narrow = MERGED_NARROW
            total = sum(int(c.get("total_bytes") or 0) for c in doc["caches"] if c.get("exists"))
            rows.append(["TOTAL", "", "", "", "", size(total), ""])
        lines = [self._view(rows, headers, narrow, options) if rows else "No records."]
        lines.append("Hosts:")
        lines.extend(
            f"  {escape.display(str(h['host']))}: FAILED: {escape.display(str(h['failed']))}"
            if h.get("failed")
            else f"  {escape.display(str(h['host']))}: {escape.display(str(h['file']))}, generated "
            f"{escape.display(str(h['generated_at']))}, {plural(h['skipped'], 'thing')} skipped"
            for h in doc["hosts"]
        )
        return "\n".join(lines) + "\n"

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
            lines = ["The process table was not read (--no-activity)."]
        elif not rows:
            lines = ["No environment is in use."]
        else:
            lines = [self._view(rows, ACTIVE_HEADERS, ACTIVE_NARROW, options)]
        lines.extend(_skipped(result))
        return "\n".join(lines) + "\n"

    def report(self, report: Report, skipped: list[Skipped], options: RenderOptions) -> str:
        """The view's rows, then the insights: duplicated, superseded, junk, unnamed, ages."""
        size: Callable[[int], str] = str if options.exact_bytes else human_size
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
                    escape.display(_shorten(listed)),
                ]
            )
        last = extra.upper().replace("_", " ")
        headers = [key.upper(), "ENTRIES", "DOWNLOADS", "BUILT", "TOTAL", "UNNAMED", last]
        narrow = {
            key.upper(): (key.upper(), 22),
            "ENTRIES": ("ENTRIES", 7),
            "DOWNLOADS": ("DOWNLOADS", 9),
            "BUILT": ("BUILT", 8),
            "TOTAL": ("TOTAL", 8),
            last: (last, 14),
        }
        lines = [self._view(rows, headers, narrow, options)] if rows else []
        if not rows:
            lines.append("No cache entries.")
        lines.extend(_insights(report, size))
        lines.extend(_skipped(report.scan))
        lines.extend(f"  {escape.display(s.path)}: {escape.display(s.reason)}" for s in skipped)
        return "\n".join(lines) + "\n"


MERGED_NARROW = {
    "HOST": ("HOST", 10),
    "CACHE": ("CACHE", 22),
    "OWNER": ("OWNER", 8),
    "BUSY": ("BUSY", 5),
    "HTTP": ("HTTP", 8),
    "TOTAL": ("TOTAL", 8),
}


# the list column a view shows after the counts (its key column is views.KEY_FIELDS')
REPORT_EXTRA = {"package": "versions", "host": "packages"}


def clean_plan(result: CleanResult, options: RenderOptions) -> str:
    """The plan of a clean, per cache: what goes, why, what stays and why, what is skipped."""
    size: Callable[[int], str] = str if options.exact_bytes else human_size
    rows: list[list[Any]] = []
    files = total = 0
    for c in result.caches:
        plan = c.plan
        if plan is None:
            rows.append([escape.display(c.path), c.user or "", "", "", c.state])
            continue
        rows.append([escape.display(c.path), c.user or "", plan.files, size(plan.bytes), c.state])
        if c.state in ("planned", "busy"):
            files += plan.files
            total += plan.bytes
    rows.append([f"TOTAL ({plural(len(result.caches), 'cache')})", "", files, size(total), ""])
    title = f"Plan: {result.policy.describe()}" + (
        " (dry run: nothing is deleted)" if result.dry_run else ""
    )
    lines = [
        title,
        grid(
            rows,
            ["CACHE", "USER", "FILES", "SIZE", "STATE"],
            widths=[None if options.wide else 40, 10, None, None, None],
        ),
    ]
    why = [
        f"  {escape.display(c.path)}: "
        + "; ".join(
            f"{escape.display(r)}: {plural(n, 'file')}, {size(b)}"
            for r, (n, b) in c.plan.by_reason().items()
        )
        + (
            f"; {plural(c.plan.removed_dirs, 'emptied directory', 'emptied directories')}"
            if c.plan.removed_dirs
            else ""
        )
        for c in result.caches
        if c.plan is not None and (c.plan.files or c.plan.removed_dirs)
    ]
    if why:
        lines += ["Why:", *why]
    left = [
        f"  {escape.display(c.path)}: "
        + "; ".join(
            f"{escape.display(r)}: {plural(n, 'file')}, {size(b)}"
            for r, (n, b) in c.plan.left.items()
        )
        for c in result.caches
        if c.plan is not None and c.plan.left
    ]
    if left:
        lines += ["Left in place:", *left]
    mounted = [
        f"  {escape.display(c.path)}: mount point {escape.display(m)}: not entered"
        for c in result.caches
        if c.plan is not None
        for m in c.plan.mounts
    ]
    if mounted:
        lines += ["Mount points below:", *mounted]
    over = [
        f"  {escape.display(c.path)}: {size(c.plan.over_limit)} over the size limit once all"
        " it may remove is gone"
        for c in result.caches
        if c.plan is not None and c.plan.over_limit
    ]
    if over:
        lines += ["Cannot get under --max-size:", *over]
    lines += _clean_skipped(result)
    return "\n".join(lines) + "\n"


def clean_done(result: CleanResult, options: RenderOptions) -> str:
    """What a clean did, per cache: before, freed, after, and what failed or was skipped."""
    size: Callable[[int], str] = str if options.exact_bytes else human_size
    rows = []
    for c in result.caches:
        before = c.before.total_bytes if c.before is not None else None
        after = c.after.total_bytes if c.after is not None else None
        rows.append(
            [
                escape.display(c.path),
                c.user or "",
                c.state,
                "" if before is None else size(before),
                size(c.deleted_bytes),
                "" if after is None else size(after),
                c.deleted_files,
                c.failed_count,
            ]
        )
    rows.append(
        [
            f"TOTAL ({plural(len(result.caches), 'cache')})",
            "",
            "",
            "",
            size(sum(c.deleted_bytes for c in result.caches)),
            "",
            sum(c.deleted_files for c in result.caches),
            sum(c.failed_count for c in result.caches),
        ]
    )
    headers = ["CACHE", "USER", "STATE", "BEFORE", "FREED", "AFTER", "DELETED", "FAILED"]
    widths = None if options.wide else [28, 8, 9, None, None, None, None, None]
    lines = [grid(rows, headers, widths=widths)]
    for c in result.caches:
        for path, reason in c.failed:
            lines.append(
                f"  not removed: {escape.display(c.path)}/{escape.display(path)}: {escape.display(reason)}"
            )
        if c.failed_count > len(c.failed):
            lines.append(
                f"  ... and {c.failed_count - len(c.failed)} more in {escape.display(c.path)}"
            )
    lines += _clean_skipped(result)
    if result.audit_log:
        lines.append(f"Audit log: {escape.display(result.audit_log)} (run {result.run_id})")
    return "\n".join(lines) + "\n"


def _clean_skipped(result: CleanResult) -> list[str]:
    out = []
    for c in result.caches:
        if c.reason:
            out.append(f"  {escape.display(c.path)}: {escape.display(c.reason)}")
            for use in c.busy_reasons[:5]:
                who = f"pid {use.pid}" if use.pid is not None else "?"
                what = f"{escape.display(use.why)}: {escape.display(_shorten(use.command))}"
                out.append(f"    {who} {escape.display(use.user or '?')}: {what}")
    out.extend(f"  {escape.display(s.path)}: {escape.display(s.reason)}" for s in result.skipped)
    return ["Notes:", *out] if out else []


def _insights(report: Report, size: Callable[[int], str]) -> list[str]:
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
    return command if len(command) <= COMMAND_WIDTH else command[: COMMAND_WIDTH - 1] + "…"


def _busy(result: ScanResult) -> list[str]:
    """``Busy (N):`` then, per busy cache, what uses it; the running pips outside any cache."""
    busy = [c for c in result.caches if c.busy_reasons]
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


def _skipped(result: ScanResult) -> list[str]:
    """``Skipped (N):`` then one line per thing not read, when there is any."""
    if not result.skipped:
        return []
    lines = [f"Skipped ({len(result.skipped)}):"]
    lines.extend(f"  {escape.display(s.path)}: {escape.display(s.reason)}" for s in result.skipped)
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


def _cache_problems(result: ScanResult) -> list[str]:
    """``Cache problems (N):`` then one line per problem of a cache that was walked."""
    found = [(c.location.path, p) for c in result.caches for p in c.problems]
    if not found:
        return []
    lines = [f"Cache problems ({len(found)}):"]
    lines.extend(f"  {escape.display(path)}: {escape.display(p)}" for path, p in found)
    return lines


def _env_problems(result: ScanResult) -> list[str]:
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


def _junk(
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
