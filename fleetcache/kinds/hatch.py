"""Hatch's cache directory: hatch has no command that cleans it (pypa/hatch#1457), so a clean
takes it only whole, with --purge; its environments live elsewhere (``dirs.data``)."""

from __future__ import annotations

from fleetcache.discovery.run import Found
from fleetcache.kinds import tooldirs, tree
from fleetcache.kinds.base import Look, no_lock
from fleetcache.model import CacheLocation, Skipped
from fleetcache.report.entries import EntriesOutcome
from fleetcache.stats.walk import WalkTask

NAME = "hatch"
WHERE = tooldirs.Where(
    "hatch",
    "HATCH_CACHE_DIR",
    "hatch",
    "hatch/config.toml",
    ("dirs", "cache"),
    config_variable=("HATCH_CONFIG", ""),
)
VARIABLES = tooldirs.variables(WHERE)


def find(look: Look) -> tuple[list[CacheLocation], list[Skipped]]:
    """Each account's cache: $HATCH_CACHE_DIR, else ``[dirs] cache`` in its config.toml (or the
    file $HATCH_CONFIG names), else $XDG_CACHE_HOME/hatch or ~/.cache/hatch."""
    return tooldirs.find(look, NAME, WHERE)


def locations(found: Found) -> list[CacheLocation]:
    """The caches ``find`` gave."""
    return tooldirs.locations(found, NAME)


def looks_like(dir_fd: int, names: set[str]) -> bool:
    """Never: a directory is a hatch cache only because hatch's settings name it."""
    return False


measure = tree.measure


def entries(task: WalkTask) -> EntriesOutcome:
    """No entry is named: hatch's cache is cleaned whole."""
    return EntriesOutcome()


plan = tooldirs.purge_only(NAME)
exclusive = no_lock  # hatch takes no lock on its cache
busy = tooldirs.busy
