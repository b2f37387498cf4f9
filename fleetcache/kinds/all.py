"""The one registry of cache kinds: `--kind` choices, and what scan, report and clean go through."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from fleetcache.kinds import (
    conda,
    hatch,
    pdm,
    pip,
    pipenv,
    piptools,
    poetry,
    rattler,
    uv,
    virtualenv,
)
from fleetcache.kinds.base import CacheKind
from fleetcache.model import CacheLocation, ProcessUse
from fleetcache.report.entries import EntriesOutcome
from fleetcache.stats.walk import WalkOutcome, WalkTask

if TYPE_CHECKING:
    from fleetcache.discovery.run import Found
    from fleetcache.machine import Machine

# kind name -> its module; mypy checks each module against CacheKind here
KINDS: dict[str, CacheKind] = {
    pip.NAME: pip,
    uv.NAME: uv,
    conda.NAME: conda,
    rattler.NAME: rattler,
    poetry.NAME: poetry,
    pdm.NAME: pdm,
    pipenv.NAME: pipenv,
    virtualenv.NAME: virtualenv,
    hatch.NAME: hatch,
    piptools.NAME: piptools,
}


def of(location: CacheLocation) -> CacheKind:
    """The kind a cache location belongs to."""
    return KINDS[location.kind]


def chosen(names: Sequence[str]) -> list[CacheKind]:
    """The kinds named (every kind when none is), in registry order."""
    return [kind for name, kind in KINDS.items() if not names or name in names]


def names(kinds: Sequence[CacheKind]) -> set[str]:
    """The names of these kinds."""
    return {kind.NAME for kind in kinds}


def measure(job: tuple[str, WalkTask]) -> WalkOutcome:
    """One (kind, cache) walked by its kind: a worker process's task (stats.pool.run_all)."""
    return KINDS[job[0]].measure(job[1])


def entries(job: tuple[str, WalkTask]) -> EntriesOutcome:
    """One (kind, cache)'s entries named by its kind: a worker process's task."""
    return KINDS[job[0]].entries(job[1])


def busy(
    machine: Machine, found: Found, locations: Sequence[CacheLocation]
) -> dict[str, Sequence[ProcessUse]]:
    """What makes each cache in use now, as its kind tells."""
    out: dict[str, Sequence[ProcessUse]] = {}
    for name, kind in KINDS.items():
        paths = [loc.path for loc in locations if loc.kind == name]
        if paths:
            out.update(kind.busy(machine, found, paths))
    return out


def variables() -> dict[str, str]:
    """Every kind's process variables (``CacheKind.VARIABLES``), for the process table to keep."""
    return {name: how for kind in KINDS.values() for name, how in kind.VARIABLES.items()}
