"""pip-tools' cache: the ``depcache-cpX.Y.json`` files pip-compile keeps its resolved
dependencies in; it has no clean of its own, so a clean takes the cache only whole, with --purge."""

from __future__ import annotations

import re

from fleetcache.discovery.run import Found
from fleetcache.kinds import tooldirs, tree
from fleetcache.kinds.base import Look, no_lock
from fleetcache.model import CacheLocation, Skipped
from fleetcache.report.entries import EntriesOutcome
from fleetcache.stats.walk import WalkTask

NAME = "pip-tools"
WHERE = tooldirs.Where("pip-tools", "PIP_TOOLS_CACHE_DIR", "pip-tools", author="pip-tools")
VARIABLES = tooldirs.variables(WHERE)
DEPCACHE = re.compile(r"depcache-[a-z]+\d+\.\d+\.json(\.lock)?")


def find(look: Look) -> tuple[list[CacheLocation], list[Skipped]]:
    """Each account's cache: $PIP_TOOLS_CACHE_DIR, else $XDG_CACHE_HOME/pip-tools or
    ~/.cache/pip-tools."""
    return tooldirs.find(look, NAME, WHERE)


def locations(found: Found) -> list[CacheLocation]:
    """The caches ``find`` gave."""
    return tooldirs.locations(found, NAME)


def looks_like(dir_fd: int, names: set[str]) -> bool:
    """pip-tools' layout: ``depcache-cpX.Y.json`` files, and ``pkgs/``, nothing else."""
    depcaches = {n for n in names if DEPCACHE.fullmatch(n)}
    return bool(depcaches) and names - depcaches <= {"pkgs"}


measure = tree.measure


def entries(task: WalkTask) -> EntriesOutcome:
    """No entry is named: a depcache file holds many projects' dependencies."""
    return EntriesOutcome()


plan = tooldirs.purge_only(NAME)
exclusive = no_lock  # pip-compile takes no lock on its cache
busy = tooldirs.busy
