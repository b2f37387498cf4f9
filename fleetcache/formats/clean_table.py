"""The tables of a clean: its plan (what goes, why, what stays, what is skipped), then what it
did (before, freed, after, what failed)."""

from __future__ import annotations

import datetime
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Callable, Optional

from fleetcache import escape
from fleetcache.clean import moves
from fleetcache.clean.policy import age_text
from fleetcache.formats.base import RenderOptions
from fleetcache.formats.fit import FIXED, PATH, WORD, Total, cut, page
from fleetcache.formats.grid import grid
from fleetcache.formats.table import COMMAND_WIDTH, human_size, narrowed, plural, sources_phrase

if TYPE_CHECKING:
    from fleetcache.clean.run import CleanResult

# a clean's outcome in 80 columns: BEFORE is AFTER plus FREED
DONE_NARROW = {h: (h, PATH if h == "CACHE" else FIXED if h == "STATE" else WORD)
               for h in ("CACHE", "USER", "STATE", "FREED", "AFTER", "DELETED", "FAILED")}  # fmt: skip
PLAN_HEADERS = ["CACHE", "USER", "FILES", "SIZE", "FREES", "STATE"]
# a state is never shortened ("not…ng to do"): the path gives way
PLAN_NARROW = {h: (h, PATH if h == "CACHE" else FIXED if h == "STATE" else WORD)
               for h in PLAN_HEADERS}  # fmt: skip
QUARANTINED = "quarantined"  # a cleaned cache whose files went aside: the table says so


@dataclass(frozen=True)
class CleanTable:
    """A clean's table as every format draws it: rows, headers, the 80-column view, the lines
    after it, and its title."""

    rows: list[list[Any]]
    headers: list[str]
    narrow: Mapping[str, tuple[str, str]]
    notes: list[str]
    title: Optional[str] = None


def text(table: CleanTable, options: RenderOptions) -> str:
    """A clean's table as the terminal shows it: made to fit 80 columns unless ``--wide``."""
    if options.wide:
        drawn = grid(table.rows, table.headers)
    else:
        picked, names, kinds = narrowed(table.rows, table.headers, table.narrow)
        drawn = grid(picked, names, kinds=kinds)
    return page(drawn, table.notes, options.wide, table.title)


def clean_plan(result: CleanResult, options: RenderOptions) -> str:
    """The plan of a clean, as text."""
    return text(plan_table(result, options), options)


def clean_done(result: CleanResult, options: RenderOptions) -> str:
    """What a clean did, as text."""
    return text(done_table(result, options), options)


def plan_table(result: CleanResult, options: RenderOptions) -> CleanTable:
    """The plan of a clean, per cache: what goes, why, what stays and why, what is skipped."""
    size: Callable[[int], str] = str if options.exact_bytes else human_size
    rows: list[list[Any]] = []
    files = total = frees = 0
    shown = _existing(result)
    for c in shown:
        plan = c.plan
        if plan is None:
            rows.append([escape.display(c.path), c.user or "", "", "", "", c.state])
            continue
        row = [plan.files, size(plan.bytes), size(plan.frees)]  # SIZE as pip counts, FREES on disk
        rows.append([escape.display(c.path), c.user or "", *row, c.state])
        if c.state in ("planned", "busy"):
            files += plan.files
            total += plan.bytes
            frees += plan.frees
    label = Total(f"TOTAL ({plural(len(shown), 'cache')})")
    rows.append([label, "", files, size(total), size(frees), ""])
    title = f"Plan: {escape.display(result.describe())}" + (
        " (dry run: nothing is deleted)" if result.dry_run else ""
    )
    lines: list[str] = _per_account(result)
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
    lines += _to_quarantine(result)
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
    lines += _purged(result, size)
    accounts = [
        f"  {escape.display(name)}: {size(n)} over the account's max_size once all its policy"
        " may remove is gone"
        for name, n in result.accounts_over.items()
    ]
    if accounts:
        lines += ["Cannot get under an account's max_size:", *accounts]
    lines += _clean_skipped(result)
    return CleanTable(rows, PLAN_HEADERS, PLAN_NARROW, lines, title)


def _to_quarantine(result: CleanResult) -> list[str]:
    """Where the plan's files will wait instead of being deleted, and for how long: FREES is
    what their deletion frees once the run expires, not what the clean frees now."""
    aside = [(c, c.policy.quarantine) for c in result.caches
             if c.state == "planned" and c.plan is not None and c.plan.files
             and c.policy is not None and c.policy.quarantine is not None]  # fmt: skip
    if not aside:
        return []
    run = "RUN_ID" if result.dry_run else result.run_id  # a dry run's id names no run
    head = ("Quarantined, not deleted (FREES is freed once it expires; until then "
            f"`fleetcache restore {run}` puts it back):")  # fmt: skip
    return [head] + [
        f"  {escape.display(c.path)}: for {age_text(q)} -> "
        f"{escape.display(moves.place(c.path, run))}"
        for c, q in aside
    ]


def _purged(result: CleanResult, size: Callable[[int], str]) -> list[str]:
    """The expired quarantine runs the clean deleted before it planned."""
    if not result.purged:
        return []
    word = "would be deleted first" if result.dry_run else "deleted first"
    return [f"Expired quarantine runs ({word}):"] + [
        f"  {d.run_id}: {escape.display(d.held.place)}: {plural(d.files, 'file')}, "
        f"{size(d.bytes)}" + (f"; {escape.display(d.error)}" if d.error else "")
        for d in result.purged
    ]


def _quarantined(result: CleanResult, size: Callable[[int], str]) -> list[str]:
    """Where the cleaned files wait, how many, and how to have them back."""
    held = [(c, c.quarantine) for c in result.caches if c.quarantine is not None]
    if not held:
        return []
    return [
        f"Quarantined until {_when(max(h.expires for _, h in held))} "
        f"(fleetcache restore {result.run_id}):",
        *(
            f"  {escape.display(c.path)}: {plural(c.deleted_files, 'file')}, "
            f"{size(c.deleted_bytes)} -> {escape.display(h.place)}"
            for c, h in held
        ),
    ]


def _when(moment: float) -> str:
    return datetime.datetime.fromtimestamp(moment, tz=datetime.timezone.utc).strftime(
        "%Y-%m-%d %H:%M UTC"
    )


def _per_account(result: CleanResult) -> list[str]:
    """Under a policy file: each cache's own policy (its account's rule)."""
    if result.policy_file is None:
        return []
    lines = [
        f"  {escape.display(c.path)}: {_rule(c)}{c.policy.describe()}"
        for c in _existing(result)
        if c.policy is not None and c.state != "excluded"
    ]
    return ["Policy of each cache:", *lines] if lines else []


def _deleted(c: Any) -> tuple[int, int]:
    """The files and bytes a clean deleted from a cache: none where they went into a quarantine
    (moved, they still take their space: the note under the table says where)."""
    return (0, 0) if c.quarantine is not None else (c.deleted_files, c.deleted_bytes)


def _rule(c: Any) -> str:
    """``rule policy.toml:18 [[rule]] "students": ``: what in the file gives a cache its policy."""
    return "" if c.rule is None else f"{escape.display(c.rule)}: "


def done_table(result: CleanResult, options: RenderOptions) -> CleanTable:
    """What a clean did, per cache: before, freed, after, and what failed or was skipped."""
    size: Callable[[int], str] = str if options.exact_bytes else human_size
    rows = []
    shown = _existing(result)
    for c in shown:
        before = c.before.total_bytes if c.before is not None else None
        after = c.after.total_bytes if c.after is not None else None
        rows.append(
            [
                escape.display(c.path),
                c.user or "",
                QUARANTINED if c.quarantine is not None and c.state == "cleaned" else c.state,
                "" if before is None else size(before),
                size(_deleted(c)[1]),
                "" if after is None else size(after),
                _deleted(c)[0],
                c.failed_count,
            ]
        )
    rows.append(
        [
            Total(f"TOTAL ({plural(len(shown), 'cache')})"),
            "",
            "",
            "",
            size(sum(_deleted(c)[1] for c in result.caches)),
            "",
            sum(_deleted(c)[0] for c in result.caches),
            sum(c.failed_count for c in result.caches),
        ]
    )
    headers = ["CACHE", "USER", "STATE", "BEFORE", "FREED", "AFTER", "DELETED", "FAILED"]
    lines: list[str] = []
    for c in result.caches:
        for path, reason in c.failed:
            lines.append(
                f"  not removed: {escape.display(c.path)}/{escape.display(path)}: {escape.display(reason)}"
            )
        if c.failed_count > len(c.failed):
            lines.append(
                f"  ... and {c.failed_count - len(c.failed)} more in {escape.display(c.path)}"
            )
    lines += _quarantined(result, size) + _purged(result, size) + _clean_skipped(result)
    if result.audit_log:
        lines.append(f"Audit log: {escape.display(result.audit_log)} (run {result.run_id})")
    return CleanTable(rows, headers, DONE_NARROW, lines)


def _existing(result: CleanResult) -> list[Any]:
    """The caches a clean shows as rows: not those that do not exist (an account that never ran
    pip, a system account whose home is a link or no directory at all)."""
    return [c for c in result.caches if c.state != "missing"]


def _no_cache(result: CleanResult) -> list[str]:
    """``No cache yet: bin (default location), ...``, as the scan says it."""
    missing = [c for c in result.caches if c.state == "missing"]
    names = [sources_phrase(c.sources) if any(s.user for s in c.sources) else c.path
             for c in missing]  # fmt: skip
    return [f"No cache yet: {escape.display(', '.join(names))}"] if names else []


def _clean_skipped(result: CleanResult) -> list[str]:
    out = []
    for c in _existing(result):
        if c.reason:
            out.append(f"  {escape.display(c.path)}: {escape.display(c.reason)}")
            for use in c.busy_reasons[:5]:
                who = f"pid {use.pid}" if use.pid is not None else "?"
                what = (
                    f"{escape.display(use.why)}: {escape.display(cut(use.command, COMMAND_WIDTH))}"
                )
                out.append(f"    {who} {escape.display(use.user or '?')}: {what}")
    out.extend(f"  {escape.display(s.path)}: {escape.display(s.reason)}" for s in result.skipped)
    return _no_cache(result) + (["Notes:", *out] if out else [])
