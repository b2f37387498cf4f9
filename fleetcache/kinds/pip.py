"""pip's caches (pipenv's kind reuses all but where they are: pipenv runs pip), behind the cache
kind members (fleetcache.kinds.base): each one delegates to the modules that did it before kinds."""

from __future__ import annotations

from typing import TYPE_CHECKING

from fleetcache.clean import plan as plan_mod
from fleetcache.clean.plan import CachePlan
from fleetcache.clean.policy import Policy
from fleetcache.discovery import caches as caches_mod
from fleetcache.discovery.run import Found, in_use
from fleetcache.kinds.base import Look, PlanContext, no_lock
from fleetcache.model import CacheLocation, Skipped
from fleetcache.report import entries as entries_mod
from fleetcache.stats.walk import WalkOutcome, WalkTask, walk_cache

if TYPE_CHECKING:
    pass

NAME = "pip"
VARIABLES: dict[str, str] = {}  # pip's own (PIP_*, XDG_*) are discovery's: see pipconfig


def find(look: Look) -> tuple[list[CacheLocation], list[Skipped]]:
    """Nothing more: discovery resolves pip's caches itself (``Found.resolved``), as pip would
    (pipenv's are the pipenv kind's)."""
    return [], []


def locations(found: Found) -> list[CacheLocation]:
    """Each cache the accounts' pip resolves to (config files, variables, defaults, the site
    configs of their environments) and those running pips use, one per path."""
    known = caches_mod.locations([*found.resolved, *found.site_caches])
    return caches_mod.merge_found(known, found.pip_caches)


def looks_like(dir_fd: int, names: set[str]) -> bool:
    """Whether the opened directory has pip's cache layout (http-v2/, wheels/, selfcheck/...)."""
    return caches_mod.looks_like_cache(dir_fd, names)


def measure(task: WalkTask) -> WalkOutcome:
    """pip's figures (what `pip cache info` says, and more) from one walk."""
    return walk_cache(task)


def entries(task: WalkTask) -> entries_mod.EntriesOutcome:
    """Every http-v2/http entry and built wheel, named from its stored headers and body."""
    return entries_mod.read_entries(task)


def plan(
    cache_fd: int, path: str, uid: int, policy: Policy, now: float, context: PlanContext
) -> CachePlan:
    """pip's clean plan: whole entries (an http-v2 entry with its body), junk first."""
    return plan_mod.plan_cache(
        cache_fd,
        path,
        uid,
        policy,
        now,
        mounts=context.mounts,
        prefix_exists=lambda p: context.exists(p) is not False,
        projects=context.projects,
        legacy_kept=context.legacy_kept,
    )


exclusive = no_lock  # pip takes no lock on its cache


busy = in_use  # the environments and pips that use it, what sits in it or holds it
