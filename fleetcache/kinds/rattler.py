"""rattler's (pixi's) package cache: ``PIXI_CACHE_DIR`` > ``RATTLER_CACHE_DIR`` >
``~/.cache/rattler/cache``. Its ``pkgs/`` is cleaned by conda's package rule, ``repodata/`` may
go; the rest (PyPI and build caches) goes only with the whole cache, on a purge."""

from __future__ import annotations

import posixpath
from collections.abc import Iterator

from fleetcache.clean.plan import CachePlan, Walked
from fleetcache.clean.policy import Policy
from fleetcache.discovery.run import Found
from fleetcache.kinds import conda, condafind, condameta, condapkgs, tree
from fleetcache.kinds.base import Look, PlanContext, no_lock
from fleetcache.model import CacheLocation, CacheSource, Skipped
from fleetcache.report.entries import EntriesOutcome
from fleetcache.stats.walk import WalkTask

NAME = "rattler"
PKGS = ("pkgs",)
ORDER = ("PIXI_CACHE_DIR", "RATTLER_CACHE_DIR")  # the first one set wins
VARIABLES = dict.fromkeys(ORDER, "path")


def find(look: Look) -> tuple[list[CacheLocation], list[Skipped]]:
    """Each chosen account's rattler cache, under its login's and its processes' variables."""
    places = condafind.Places(look, NAME)
    for account in look.chosen:
        for env, pid in condafind.environs(look, account):
            variable = next((v for v in ORDER if env.get(v, "").startswith("/")), None)
            if variable is not None:
                path = posixpath.normpath(env[variable])
                source = CacheSource("env", user=account.name, variable=variable, pid=pid)
            else:
                xdg = env.get("XDG_CACHE_HOME", "")
                cache = xdg if xdg.startswith("/") else posixpath.join(account.home, ".cache")
                path = posixpath.join(cache, "rattler", "cache")
                source = CacheSource("default", user=account.name, pid=pid)
            places.add(account, path, source, {account.uid})
    return places.locations(), places.skipped


def locations(found: Found) -> list[CacheLocation]:
    """The rattler caches discovery found."""
    return list(found.kind_caches.get(NAME, ()))


def looks_like(dir_fd: int, names: set[str]) -> bool:
    """A rattler cache: a ``pkgs/`` of extracted packages beside ``repodata/``, never an
    environment."""
    return "conda-meta" not in names and {"pkgs", "repodata"} <= names


measure = tree.measure


def entries(task: WalkTask) -> EntriesOutcome:
    """Every package in ``pkgs/``, named from its ``info/index.json`` or its name."""
    return condapkgs.entries(task, PKGS)


def plan(
    cache_fd: int, path: str, uid: int, policy: Policy, now: float, context: PlanContext
) -> CachePlan:
    """conda's package rule in ``pkgs/`` (a package linked into an environment stays);
    ``repodata/`` is junk; every other top directory goes whole, on a purge only."""
    pkgs = posixpath.join(path, *PKGS)
    with condameta.viewer(context) as view:
        linked = condameta.softlinked(view, pkgs, conda.linking(view, context))
    names = condapkgs.Names(PKGS)

    def units(walked: Walked) -> Iterator[tree.Unit]:
        yield from condapkgs.units(walked, names, linked)
        for name in walked.dirs[()].children if () in walked.dirs else ():
            if (name,) == PKGS:
                continue
            junk = "rattler's repodata cache" if name == "repodata" else None
            yield tree.Unit((name,), junk=junk)

    return tree.plan_units(cache_fd, path, uid, policy, now, context, units, on_dir=names.on_dir)


exclusive = no_lock  # rattler's per-package locks guard its writers, not a clean from outside


busy = conda.busy  # what sits in a cache or holds a file in it
