"""pdm's cache: ``packages/<wheel>.cache/`` (installed files environments may link to, each with
the ``.referrers`` that use it), and its HTTP, wheel, hash and metadata caches."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Optional

from fleetcache import safefs
from fleetcache.clean.plan import CachePlan, Dir, Parts, Walked
from fleetcache.clean.policy import Policy
from fleetcache.discovery import caches as caches_mod
from fleetcache.discovery.run import Found
from fleetcache.kinds import tooldirs, tree
from fleetcache.kinds.base import Look, PlanContext, no_lock
from fleetcache.model import CacheLocation, Skipped
from fleetcache.report.entries import EntriesOutcome
from fleetcache.stats.walk import WalkTask

NAME = "pdm"
WHERE = tooldirs.Where(
    "pdm",
    "PDM_CACHE_DIR",
    "pdm",
    "pdm/config.toml",
    ("cache_dir",),
    author="pdm",
    config_variable=("PDM_CONFIG_FILE", ""),
)
VARIABLES = tooldirs.variables(WHERE)
AREAS = ("packages", "http", "wheels", "hashes", "metadata")
PACKAGE = ".cache"  # packages/<wheel file name>.cache/
REFERRERS = ".referrers"
REFERRERS_LIMIT = 1 << 20  # more than this is no list pdm wrote
REFERRERS_MAX = 1000  # paths asked about per package (each one a question to the owner's reader)


def find(look: Look) -> tuple[list[CacheLocation], list[Skipped]]:
    """Each account's cache: $PDM_CACHE_DIR, else ``cache_dir`` in its config.toml (or the file
    $PDM_CONFIG_FILE names), else $XDG_CACHE_HOME/pdm or ~/.cache/pdm."""
    return tooldirs.find(look, NAME, WHERE)


def locations(found: Found) -> list[CacheLocation]:
    """The caches ``find`` gave."""
    return tooldirs.locations(found, NAME)


def looks_like(dir_fd: int, names: set[str]) -> bool:
    """pdm's layout: ``packages/`` of ``<wheel>.cache`` directories, or two of its other areas;
    no environment (pyvenv.cfg) nor project (pyproject.toml) is one."""
    if names & {"pyvenv.cfg", "pyproject.toml"}:
        return False
    if "packages" in names and caches_mod.children_match(
        dir_fd, "packages", lambda c: c.endswith(".whl" + PACKAGE)
    ):
        return True
    return len(names & {"http", "wheels", "hashes", "metadata"}) >= 2


measure = tree.measure


def entries(task: WalkTask) -> EntriesOutcome:
    """Each cached package, named from its wheel's file name."""
    return tooldirs.entries(task, lambda w: _units(w, {}, PlanContext()), AREAS)


def _units(
    walked: Walked, referrers: dict[Parts, Optional[list[str]]], context: PlanContext
) -> Iterator[tree.Unit]:
    """Each cached package (kept while any of its referrers may exist); the other areas whole."""
    for parts in walked.dirs:
        if len(parts) == 2 and parts[0] == "packages" and parts[1].endswith(PACKAGE):
            project, version = tooldirs.dist_of(parts[1][: -len(PACKAGE)])
            keep = _used(referrers.get(parts, []), context)
            yield tree.Unit(parts, project, version, keep=keep)
    for area in AREAS[1:]:
        if (area,) in walked.dirs:
            yield tree.Unit((area,))


def _used(paths: Optional[list[str]], context: PlanContext) -> Optional[str]:
    """Why a package stays: a referrer its owner may still have (as ``pdm cache clear``
    keeps it), or a list that could not be read."""
    if paths is None:
        return "its .referrers not read (a link, odd or too long)"
    for path in paths:
        if context.exists(path) is not False:
            return "used by an environment (its .referrers)"
    return None


def plan(
    cache_fd: int, path: str, uid: int, policy: Policy, now: float, context: PlanContext
) -> CachePlan:
    """Unreferenced packages and the other areas, whole; a package still referred to stays."""
    referrers: dict[Parts, Optional[list[str]]] = {}

    def read(parts: Parts, dir_fd: int, d: Dir) -> None:
        if len(parts) == 2 and parts[0] == "packages" and any(f.name == REFERRERS for f in d.files):
            try:
                data = safefs.read_at(dir_fd, REFERRERS, REFERRERS_LIMIT + 1)
            except (OSError, safefs.UnsafePath):
                referrers[parts] = None
                return
            lines = [p for p in data.decode("utf-8", "replace").splitlines() if p.strip()]
            # a path not absolute, a list cut short or too long to ask: not known to be unused
            ok = len(data) <= REFERRERS_LIMIT and len(lines) <= REFERRERS_MAX
            ok = ok and all(p.startswith("/") for p in lines)
            referrers[parts] = lines if ok else None

    return tree.plan_units(
        cache_fd, path, uid, policy, now, context,
        lambda w: _units(w, referrers, context), areas=AREAS, on_dir=read,
    )  # fmt: skip


exclusive = no_lock  # pdm locks one package while it fills it, not the cache
busy = tooldirs.busy
