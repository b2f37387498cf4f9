"""pipenv's caches: pip caches (pipenv runs pip with ``PIP_CACHE_DIR=$PIPENV_CACHE_DIR``, else
``~/.cache/pipenv``), found as pipenv finds them, then measured, named, cleaned and checked for
use by pip's rules. By layout alone one is a pip cache: ``--search`` calls it pip."""

from __future__ import annotations

from fleetcache.discovery.run import Found
from fleetcache.kinds import pip, tooldirs
from fleetcache.kinds.base import Look
from fleetcache.model import CacheLocation, Skipped

NAME = "pipenv"
WHERE = tooldirs.Where("pipenv", "PIPENV_CACHE_DIR", "pipenv", author="pipenv")
VARIABLES = tooldirs.variables(WHERE)


def find(look: Look) -> tuple[list[CacheLocation], list[Skipped]]:
    """The pipenv caches of the chosen accounts that exist: its variable, else its default."""
    return tooldirs.find(look, NAME, WHERE)


def locations(found: Found) -> list[CacheLocation]:
    """The caches ``find`` gave."""
    return tooldirs.locations(found, NAME)


def looks_like(dir_fd: int, names: set[str]) -> bool:
    """Never by layout: a directory with pip's layout is a pip cache (pip's kind says so)."""
    return False


measure = pip.measure  # pip's exact figures: it is pip that fills it
entries = pip.entries
plan = pip.plan  # pip's clean rules
exclusive = pip.exclusive
busy = pip.busy
