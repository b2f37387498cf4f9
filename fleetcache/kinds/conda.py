"""conda's (and mamba's) package caches, the pkgs dirs: found on conda's search path for each
account, cleaned by conda clean's rules (a package linked into any environment never goes)."""

from __future__ import annotations

import os
import stat
from collections.abc import Iterator
from typing import TYPE_CHECKING

from fleetcache import safefs
from fleetcache.clean.plan import CachePlan, Walked
from fleetcache.clean.policy import Policy
from fleetcache.discovery.run import Found, in_use
from fleetcache.kinds import condafind, condameta, condapkgs, tree
from fleetcache.kinds.base import Look, PlanContext, no_lock
from fleetcache.model import CacheLocation, Environment, Skipped
from fleetcache.report.entries import EntriesOutcome
from fleetcache.stats.walk import WalkTask

if TYPE_CHECKING:
    pass

NAME = "conda"
VARIABLES = {"CONDA_PKGS_DIRS": ",", "CONDARC": "path", "CONDA_ROOT": "path"}
LINKERS = (*condafind.INSTALL_KINDS, "pixi")  # environments with conda-meta records


def find(look: Look) -> tuple[list[CacheLocation], list[Skipped]]:
    """Each chosen account's pkgs dirs: ``CONDA_PKGS_DIRS``, every ``.condarc``'s ``pkgs_dirs``,
    else each install's ``pkgs/`` (its owner's) and ``~/.conda/pkgs``."""
    return condafind.find_pkgs(look)


def locations(found: Found) -> list[CacheLocation]:
    """The pkgs dirs discovery found."""
    return list(found.kind_caches.get(NAME, ()))


def looks_like(dir_fd: int, names: set[str]) -> bool:
    """A pkgs dir: ``urls.txt``, or an extracted package (``<dist>/info/index.json``); never an
    environment (it has ``conda-meta/``)."""
    if "conda-meta" in names:
        return False
    if "urls.txt" in names and _regular(dir_fd, "urls.txt"):
        return True
    dists = [n for n in names if condapkgs.dist_name(n) is not None][:8]
    return any(_regular(dir_fd, f"{n}/info/index.json") for n in dists)


def _regular(dir_fd: int, relative: str) -> bool:
    """Whether a regular file is there, below the opened directory, reached without links."""
    *dirs, name = relative.split("/")
    fd = dir_fd
    try:
        for d in dirs:
            nxt = os.open(d, safefs.O_DIR, dir_fd=fd)
            if fd != dir_fd:
                os.close(fd)
            fd = nxt
        return stat.S_ISREG(os.stat(name, dir_fd=fd, follow_symlinks=False).st_mode)
    except OSError:
        return False
    finally:
        if fd != dir_fd:
            os.close(fd)


measure = tree.measure


def entries(task: WalkTask) -> EntriesOutcome:
    """Every package (extracted or tarball), named from its ``info/index.json`` or its name."""
    return condapkgs.entries(task, ())


def plan(
    cache_fd: int, path: str, uid: int, policy: Policy, now: float, context: PlanContext
) -> CachePlan:
    """conda clean's rules: unused packages, tarballs, the index cache, logs and temp files go;
    a package with a hard-linked file, or linked by symbolic links into an environment,
    stays; so do ``urls.txt`` and ``urls``. A purge is ``conda clean --all``."""
    with condameta.viewer(context) as view:
        linked = condameta.softlinked(view, path, linking(view, context))
    names = condapkgs.Names(())

    def units(walked: Walked) -> Iterator[tree.Unit]:
        return condapkgs.units(walked, names, linked)

    return tree.plan_units(cache_fd, path, uid, policy, now, context, units, on_dir=names.on_dir)


def linking(view: condameta.Viewer, context: PlanContext) -> list[Environment]:
    """The environments whose ``conda-meta`` records may link packages from a cache: those
    discovery found, and those every account's conda registered (their homes may not have been
    searched: only the chosen accounts' are)."""
    envs = [e for e in context.environments if e.exists and e.kind in LINKERS]
    known = {e.prefix for e in context.environments}
    return [*envs, *condameta.registered(view, context, known)]


exclusive = no_lock  # conda's own locks guard its installs, not a clean from outside


busy = in_use  # what sits in a cache or holds a file in it (conda takes no lock on it)
