"""Poetry's cache: ``cache/`` (its repositories' HTTP and metadata) and ``artifacts/`` (the
files it downloaded), which a clean may take; never ``virtualenvs/``, where Poetry keeps live
environments by default."""

from __future__ import annotations

import re
from collections.abc import Iterator

from fleetcache.clean.plan import CachePlan, Walked
from fleetcache.clean.policy import Policy
from fleetcache.discovery import caches as caches_mod
from fleetcache.discovery.run import Found
from fleetcache.kinds import tooldirs, tree
from fleetcache.kinds.base import Look, PlanContext, no_lock
from fleetcache.model import CacheLocation, Skipped
from fleetcache.report.entries import EntriesOutcome
from fleetcache.stats.walk import WalkTask

NAME = "poetry"
WHERE = tooldirs.Where(
    "poetry",
    "POETRY_CACHE_DIR",
    "pypoetry",
    "pypoetry/config.toml",
    ("cache-dir",),
    config_variable=("POETRY_CONFIG_DIR", "config.toml"),
    roaming=True,
)
VARIABLES = tooldirs.variables(WHERE)
AREAS = ("cache", "artifacts")  # virtualenvs/ holds live environments
FAN = re.compile(r"[0-9a-f]{2}")


def find(look: Look) -> tuple[list[CacheLocation], list[Skipped]]:
    """Each account's cache: $POETRY_CACHE_DIR, else ``cache-dir`` in its config.toml (in
    $POETRY_CONFIG_DIR, else the config home), else $XDG_CACHE_HOME/pypoetry or ~/.cache/pypoetry."""
    return tooldirs.find(look, NAME, WHERE)


def locations(found: Found) -> list[CacheLocation]:
    """The caches ``find`` gave."""
    return tooldirs.locations(found, NAME)


def looks_like(dir_fd: int, names: set[str]) -> bool:
    """Poetry's layout: ``artifacts/`` fanned out by hex pairs, or ``cache/repositories/``; no
    environment (pyvenv.cfg) nor project (pyproject.toml) is one."""
    if names & {"pyvenv.cfg", "pyproject.toml"}:
        return False
    if "artifacts" in names and caches_mod.children_match(dir_fd, "artifacts", FAN.fullmatch):
        return True
    return "cache" in names and caches_mod.children_match(
        dir_fd, "cache", {"repositories"}.__contains__
    )


measure = tree.measure


def entries(task: WalkTask) -> EntriesOutcome:
    """Each downloaded file in ``artifacts/``, named from its file name."""
    return tooldirs.entries(task, _units, AREAS)


def _units(walked: Walked) -> Iterator[tree.Unit]:
    """``cache/`` whole; each ``artifacts/xx/yy/zz/<hash>/`` with the files it holds."""
    if ("cache",) in walked.dirs:
        yield tree.Unit(("cache",))
    for parts, d in walked.dirs.items():
        if len(parts) == 5 and parts[0] == "artifacts":
            project, version = next(
                (got for got in map(tooldirs.dist_of, (f.name for f in d.files)) if got[0]),
                (None, None),
            )
            yield tree.Unit(parts, project, version)


def plan(
    cache_fd: int, path: str, uid: int, policy: Policy, now: float, context: PlanContext
) -> CachePlan:
    """Whole entries of ``cache/`` and ``artifacts/``; ``virtualenvs/`` is never entered."""
    return tree.plan_units(cache_fd, path, uid, policy, now, context, _units, areas=AREAS)


exclusive = no_lock  # Poetry takes no lock on its cache
busy = tooldirs.busy
