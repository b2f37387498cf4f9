"""The report's front door: scan, read every cache's entries (in parallel), name them, build a view."""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import Optional

from fleetcache import safefs
from fleetcache import scan as scan_mod
from fleetcache.discovery import pipconfig
from fleetcache.kinds import all as kinds_mod
from fleetcache.machine import Machine
from fleetcache.model import AccountCaches, CacheEntry, CacheLocation, Skipped
from fleetcache.progress import Progress, silent
from fleetcache.report import views
from fleetcache.report.entries import Page
from fleetcache.report.links import name_by_links
from fleetcache.stats.pool import run_all
from fleetcache.stats.walk import WalkTask


def named_entries(
    machine: Machine,
    locations: Sequence[CacheLocation],
    accounts: Sequence[AccountCaches],
    jobs: Optional[int] = None,
    progress: Progress = silent,
) -> tuple[list[CacheEntry], list[Skipped]]:
    """Every entry of these caches, named as well as pip's files allow (the accounts' config
    gives the index URLs that place relative page links)."""
    tasks = [(loc.kind, WalkTask(machine.root, loc.path, loc.trusted_owners)) for loc in locations]
    entries: list[CacheEntry] = []
    pages: list[Page] = []
    problems: list[Skipped] = []
    tick = progress("reading entries", len(tasks), "cache")
    for outcome in run_all(kinds_mod.entries, tasks, jobs):
        tick()
        entries.extend(outcome.entries)
        pages.extend(outcome.pages)
        problems.extend(outcome.problems)
    return name_by_links(entries, pages, index_urls(machine, accounts)), problems


def index_urls(machine: Machine, accounts: Sequence[AccountCaches]) -> list[str]:
    """The index URLs the accounts' pip config files name (``index-url``, ``extra-index-url``)."""
    found: dict[str, None] = {}
    anchor = safefs.open_anchor(machine.root)
    try:
        for ac in accounts:
            for path in ac.config_files:
                try:
                    got = safefs.read_small_file(anchor, path, trusted_links={0, ac.account.uid})
                    values = pipconfig.parse_config(got[0], path) if got else {}
                except (OSError, safefs.UnsafePath, pipconfig.ConfigProblem):
                    continue
                for key, value in values.items():
                    if key.endswith((".index-url", ".extra-index-url")):
                        found.update(dict.fromkeys(value.split()))
    finally:
        os.close(anchor)
    return list(found)


def report(
    machine: Machine, selection: scan_mod.Selection, by: str, top: Optional[int] = None
) -> tuple[views.Report, list[Skipped]]:
    """One view of what fills the selected accounts' caches, and what could not be read."""
    scan = scan_mod.scan(machine, selection)
    present = [c.location for c in scan.caches if c.exists and not c.skipped]
    entries, problems = named_entries(
        machine, present, scan.accounts, selection.jobs, selection.progress
    )
    return views.build(by, scan, entries, top), problems
