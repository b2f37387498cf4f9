"""HTML: one self-contained page for people (a treemap, the insights, the table format's tables,
sortable); scripts read JSON, the contract."""

from __future__ import annotations

import socket
import time
from collections.abc import Sequence
from html import escape
from typing import TYPE_CHECKING, Any, Callable, Optional

from fleetcache import escape as names
from fleetcache.formats import clean_table, html_page, treemap
from fleetcache.formats.base import RenderOptions
from fleetcache.formats.fields import totals
from fleetcache.formats.fit import Total
from fleetcache.formats.grid import cell
from fleetcache.formats.table import (
    Size,
    TableFormat,
    busy_lines,
    cache_problem_lines,
    env_problem_lines,
    human_size,
    insight_lines,
    junk_lines,
    plural,
    skipped_lines,
)
from fleetcache.model import CacheEntry, ScanResult, Skipped
from fleetcache.report import merge
from fleetcache.report.views import TOP, Report

if TYPE_CHECKING:
    from fleetcache.clean.run import CleanResult

DETAILS = 3  # an insight's first details; the notes under its table list them all


class Markup(str):
    """HTML made here, put in a page as it is (any other text is escaped)."""


class HtmlFormat(TableFormat):
    """The table format's rows and fields in sortable HTML tables, inside a page with the
    treemap (:mod:`fleetcache.formats.treemap`) and the insights."""

    always_wide = True  # every column: the page scrolls

    def _table(
        self, rows: list[list[Any]], headers: list[str], kinds: Optional[list[str]] = None
    ) -> str:
        return Markup(sortable(rows, headers))

    def _page(self, table: str, notes: list[str], options: RenderOptions) -> str:
        """The table, then the lines the table format prints under it."""
        shown = table if isinstance(table, Markup) else f"<p>{escape(table.strip())}</p>"
        lines = f'<pre class="notes">{escape(chr(10).join(notes))}</pre>' if notes else ""
        return Markup(shown + lines)

    def scan(self, result: ScanResult, options: RenderOptions) -> str:
        """The scan's page, its treemap down to caches (``scan_report``: down to packages)."""
        return self._scan(result, None, [], options)

    def scan_report(self, report: Report, problems: list[Skipped], options: RenderOptions) -> str:
        """The scan's page with its caches' entries read: packages, and the report's insights."""
        return self._scan(report.scan, report, problems, options)

    def _scan(self, result: ScanResult, report: Optional[Report], problems: list[Skipped],
              options: RenderOptions) -> str:  # fmt: skip
        size = sizer(options)
        present = [c for c in result.caches if c.exists and not c.skipped]
        # the report's insights hold the junk line too (from the same figures)
        found = insight_lines(report, size) if report else junk_lines(present, totals(result), size)
        found += busy_lines(result) + skipped_lines(result, options)
        found += cache_problem_lines(result) + env_problem_lines(result) + _problems(problems)
        tree = treemap.of_scan(result)
        made = html_page.Made(f"fleetcache scan of {result.host}", result.generated_at,
                              [result.host], "fleetcache scan")  # fmt: skip
        body = html_page.section("Caches", super().scan(result, options))
        return page(made, found, tree, size, body)

    def envs(self, result: ScanResult, options: RenderOptions) -> str:
        """The environments' page: sized by owner and kind, then their table."""
        size = sizer(options)
        active = [e.prefix for e in result.environments if e.active]
        found = (
            listed("Active", active) + env_problem_lines(result) + skipped_lines(result, options)
        )
        title = "Processes" if options.processes else "Environments"
        made = html_page.Made(f"fleetcache environments of {result.host}", result.generated_at,
                              [result.host], "fleetcache envs")  # fmt: skip
        body = html_page.section(title, super().envs(result, options))
        return page(made, found, treemap.of_envs(result), size, body)

    def report(self, report: Report, skipped: list[Skipped], options: RenderOptions) -> str:
        """A report view's page: the scan's treemap down to packages, the view's table."""
        size = sizer(options)
        result = report.scan
        found = insight_lines(report, size) + skipped_lines(result, options) + _problems(skipped)
        made = html_page.Made(f"fleetcache report by {report.by}", result.generated_at,
                              [result.host], f"fleetcache report --by {report.by}")  # fmt: skip
        body = html_page.section(f"By {report.by}", super().report(report, skipped, options))
        return page(made, found, treemap.of_scan(result), size, body)

    def entries(self, found: list[tuple[str, CacheEntry]], options: RenderOptions,
                host: Optional[str] = None) -> str:  # fmt: skip
        """``fleetcache list``'s page: the entries by account and cache, then their table;
        ``host`` the machine's name (this host's when not given)."""
        host = host or socket.gethostname()
        unnamed = [e for _, e in found if not e.project]
        lines = [f"Unnamed: {plural(len(unnamed), 'entry')}"] if unnamed else []
        made = html_page.Made(f"fleetcache list on {host}", time.time(), [host], "fleetcache list")
        body = html_page.section(
            "Entries", self._page(super().entries(found, options), [], options)
        )
        return page(made, lines, treemap.of_entries(found, host), sizer(options), body)

    def merged(self, doc: dict[str, Any], options: RenderOptions) -> str:
        """A fleet's page: hosts, their accounts, kinds and caches (or a view's rows)."""
        hosts = [str(h.get("host")) for h in doc["hosts"]]
        failed = [f"{h['host']}: {h['failed']}" for h in doc["hosts"] if h.get("failed")]
        busy = [f"{c.get('host')}: {c.get('path')}" for c in doc.get("caches", [])
                if c.get("busy") is True]  # fmt: skip
        found = (
            held_lines(doc, sizer(options)) + listed("Failed hosts", failed) + listed("Busy", busy)
        )
        made = html_page.Made(f"fleetcache merge of {plural(len(hosts), 'host')}", time.time(),
                              hosts, "fleetcache merge")  # fmt: skip
        title = f"By {doc['by']}, per host" if "by" in doc else "Caches of every host"
        body = html_page.section(title, super().merged(doc, options))
        return page(made, found, treemap.of_merged(doc), sizer(options), body)

    def clean(self, result: CleanResult, options: RenderOptions, done: bool) -> str:
        """A clean's page: its plan (``done`` False) or what it did, by account, kind, cache."""
        table = (clean_table.done_table if done else clean_table.plan_table)(result, options)
        found = _clean_insights(result)
        title = "fleetcache clean" + (f" of {result.host}" if done else " plan")
        command = "fleetcache clean" + ("" if done else " --dry-run" if result.dry_run else "")
        measure = _measure(result) if done else "The plan would free"
        made = html_page.Made(title, result.generated_at, [result.host], command, measure)
        shown = self._page(self._table(table.rows, table.headers), table.notes, options)
        body = html_page.section(table.title or "What was done", shown)
        return page(made, found, treemap.of_clean(result), sizer(options), body)


def page(made: html_page.Made, insights: Sequence[str], tree: treemap.Node,
         size: Callable[[int], str], body: str) -> str:  # fmt: skip
    """The whole page: insight lines made escaped text, one item per note and its details."""
    items = [names.display(line) for line in grouped(insights)]  # HTML-escaped by the page
    made = html_page.Made(names.display(made.title), made.when,
                          [names.display(h) for h in made.hosts], made.command,
                          made.measure)  # fmt: skip
    return html_page.render(made, items, treemap.document(tree, size), body)


def grouped(lines: Sequence[str]) -> list[str]:
    """The table format's notes as insights: a heading line with its first DETAILS details (its
    lines indented by two, each with its deeper lines in brackets: what uses a busy cache), the
    rest counted."""
    out: list[str] = []
    details: list[list[str]] = []  # a detail, then its deeper lines
    for line in [*lines, ""]:
        if line.startswith("   "):
            if details:  # who holds a busy cache tells a reader more than its path
                details[-1].append(line.strip())
            continue
        if line.startswith("  "):
            details.append([line.strip().rstrip(":")])
            continue
        if out and details:
            shown = [d[0] + (f" ({'; '.join(d[1:])})" if d[1:] else "") for d in details]
            out[-1] = out[-1].rstrip(":") + ": " + "; ".join(shown[:DETAILS])
            more = f"; and {len(details) - DETAILS} more (listed under the table)"
            out[-1] += more if len(details) > DETAILS else ""
        details = []
        if line:
            out.append(line)
    return out


def held_lines(doc: dict[str, Any], size: Callable[[int], str]) -> list[str]:
    """The fleet's packages held by several accounts or hosts, in the report's words."""
    held = merge.held_by_several(doc)
    if not held:
        return []
    top = ", ".join(f"{cell(name)} {size(b)} ({n} accounts)" for name, n, b in held[:TOP])
    return [
        f"Held by several accounts: {size(sum(b for _, _, b in held))} of "
        f"{plural(len(held), 'package')} in the caches of more than one account or host (one "
        f"shared cache or a proxy would keep one copy): {top}"
    ]


def listed(heading: str, items: Sequence[str]) -> list[str]:
    """``Heading (N):`` and one line per item, as the table format's notes (none: nothing)."""
    return [f"{heading} ({len(items)}):", *(f"  {item}" for item in items)] if items else []


def sortable(rows: Sequence[Sequence[Any]], headers: Sequence[str]) -> str:
    """A table the page's script sorts by any column; a TOTAL row (fit.Total) in its foot."""
    body = [r for r in rows if not (r and isinstance(r[0], Total))]
    foot = [r for r in rows if r and isinstance(r[0], Total)]
    parts = [f'<table class="sortable"><thead><tr>{html_page.header_cells(headers)}</tr></thead>',
             "<tbody>", *(row_html(r) for r in body), "</tbody>"]  # fmt: skip
    if foot:
        parts += ["<tfoot>", *(row_html(r) for r in foot), "</tfoot>"]
    return "".join([*parts, "</table>"])


def row_html(row: Sequence[Any]) -> str:
    """One row: each cell escaped and cut as every table's, its number kept to sort by."""
    cells = []
    for value in row:
        text = cell(value if isinstance(value, str) else str(value))
        number = sort_key(value)
        attr = "" if number is None else f' data-sort="{number}"'
        cells.append(f"<td{attr}>{escape(text)}</td>")
    return "<tr>" + "".join(cells) + "</tr>"


def sort_key(value: Any) -> Optional[int]:
    """The number a cell sorts by: a size's bytes, a count; None for text."""
    if isinstance(value, Size):
        return value.raw
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    if isinstance(value, str) and value.isdigit() and value.isascii():  # --bytes
        return int(value)
    return None


def sizer(options: RenderOptions) -> Callable[[int], str]:
    """Exact bytes with ``--bytes``, else human sizes, as the table's."""
    return str if options.exact_bytes else human_size


def _problems(skipped: Sequence[Skipped]) -> list[str]:
    """What the report could not read, as the table format lists it."""
    if not skipped:
        return []
    lines = [f"Not read ({len(skipped)}):"]
    return lines + [f"  {names.display(s.path)}: {names.display(s.reason)}" for s in skipped]


def _measure(result: CleanResult) -> str:
    """What a clean's treemap counts: what it deleted, or moved into a quarantine (which frees
    nothing until it expires)."""
    aside = [c.quarantine is not None for c in result.caches if c.deleted_files]
    if aside and all(aside):
        return "Moved into the quarantine (nothing freed until it expires)"
    return "Deleted or quarantined" if any(aside) else "Deleted"


def _why(state: str, reason: str) -> str:
    """``busy: pid 12 ...``; a reason that starts with its state says it once (``excluded by
    policy.toml:13 [[rule]] "staff"``, not ``excluded: excluded by ...``)."""
    return reason if reason.startswith(state) else f"{state}: {reason}"


def _clean_insights(result: CleanResult) -> list[str]:
    """What a clean left alone, and why (busy, refused); what it failed to remove."""
    kept = [c for c in result.caches if c.reason and c.state != "missing"]
    lines = listed("Not cleaned", [f"{c.path}: {_why(c.state, c.reason or '')}" for c in kept])
    failed = sum(c.failed_count for c in result.caches)
    if failed:
        lines.append(f"Not removed: {plural(failed, 'file')} (listed under the table)")
    return lines + _problems(result.skipped)
