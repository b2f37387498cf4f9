"""What every cache kind supplies: a module with these members, checked by mypy through the
registry (fleetcache.kinds.all)."""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from typing import TYPE_CHECKING, Callable, Optional, Protocol

from fleetcache.model import CacheLocation, ProcessUse, Skipped
from fleetcache.stats.walk import WalkOutcome, WalkTask

if TYPE_CHECKING:  # discovery and the clean import the registry; only their types are needed
    from fleetcache.clean.plan import CachePlan
    from fleetcache.clean.policy import Policy
    from fleetcache.discovery.run import Found
    from fleetcache.machine import Machine
    from fleetcache.report.entries import EntriesOutcome


class CacheKind(Protocol):
    """One tool's caches: where they are and why, how one is measured, named, cleaned, in use."""

    NAME: str  # the kind as `--kind`, JSON's `kind` and the KIND column say it

    def locations(self, found: Found) -> list[CacheLocation]:
        """Each cache of this kind the discovered accounts (and running processes) use, and why."""

    def search(
        self, machine: Machine, anchor: int, top: str
    ) -> tuple[list[CacheLocation], list[Skipped]]:
        """Caches of this kind below ``top``, found by their layout, and what could not be read."""

    def looks_like(self, dir_fd: int, names: set[str]) -> bool:
        """Whether an opened directory holding ``names`` has this kind's layout."""

    def measure(self, task: WalkTask) -> WalkOutcome:
        """One cache walked once: its owner and figures, or why it was refused."""

    def entries(self, task: WalkTask) -> EntriesOutcome:
        """Every entry of one cache, named as well as its files allow."""

    def plan(
        self,
        cache_fd: int,
        path: str,
        uid: int,
        policy: Policy,
        now: float,
        *,
        mounts: Collection[tuple[int, int]] = (),
        prefix_exists: Callable[[str], bool] = ...,
        projects: Optional[Mapping[str, Optional[str]]] = None,
        legacy_kept: Optional[str] = ...,
    ) -> CachePlan:
        """What a clean under ``policy`` removes from the opened cache."""

    def busy(
        self, machine: Machine, found: Found, paths: Sequence[str], again: bool = False
    ) -> Mapping[str, Sequence[ProcessUse]]:
        """What makes each of these caches in use (processes using, sitting in or holding it):
        as discovery saw it, or ``again``, from a fresh look (a clean's, right before it deletes)."""
