"""What every cache kind supplies: a module with these members, checked by mypy through the
registry (fleetcache.kinds.all)."""

from __future__ import annotations

import contextlib
from collections.abc import Collection, Iterator, Mapping, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Callable, Optional, Protocol

from fleetcache.activity.harvest import Settings
from fleetcache.discovery.pipusers import NONE_KNOWN
from fleetcache.model import Account, CacheLocation, Environment, ProcessUse, Skipped
from fleetcache.stats.walk import WalkOutcome, WalkTask

if TYPE_CHECKING:  # discovery and the clean import the registry; only their types are needed
    from fleetcache.clean.plan import CachePlan
    from fleetcache.clean.policy import Policy
    from fleetcache.discovery.access import Access
    from fleetcache.discovery.run import Found
    from fleetcache.dropped import Identity
    from fleetcache.machine import Machine
    from fleetcache.readas import Readers
    from fleetcache.report.entries import EntriesOutcome


@dataclass(frozen=True)
class Look:
    """What a kind finds an account's caches with (``find``), while discovery runs: the machine,
    readers that read and open as each account, and what its processes' environments say."""

    machine: Machine
    readers: Readers
    every: Sequence[Account]
    chosen: Sequence[Account]  # the accounts whose caches are wanted
    settings: Mapping[int, Sequence[Settings]]  # uid -> what its processes' environments say
    environments: Sequence[Environment] = ()  # the environments found (a project's config)
    # (identity, path) -> what reading gave: every kind reads a project's files, and accounts
    # that share a uid see the same environments; each file is read once per identity
    _read: dict[tuple[Identity, str], Optional[bytes]] = field(
        default_factory=dict, compare=False, repr=False
    )

    def read(self, account: Account, path: str) -> Optional[bytes]:
        """A small file of the machine as ``account`` may read it (None: absent or unreadable)."""
        from fleetcache import dropped  # the drop is only needed when a kind reads

        who = dropped.identity(self.machine, account)
        key = (who, path)
        if key not in self._read:
            self._read[key] = self.readers.read(who, path)
        return self._read[key]


@dataclass(frozen=True)
class PlanContext:
    """What a clean's plan of one cache may ask beyond the cache itself."""

    mounts: Collection[tuple[int, int]] = ()  # mount points: never entered
    # whether the cache's owner sees a path there (None: cannot tell)
    exists: Callable[[str], Optional[bool]] = lambda path: None
    projects: Optional[Mapping[str, Optional[str]]] = None  # entry path -> its project (--package)
    legacy_kept: Optional[str] = NONE_KNOWN  # pip: why its legacy http/ is no junk (None: junk)
    environments: Sequence[Environment] = field(default=())  # every environment discovery found
    root: str = "/"  # the machine's root on this host (the environments' paths are below it)
    accounts: Sequence[Account] = ()  # every account of the machine (chosen or not)
    # uid -> reads and opens as that account (the kernel judges); None: root's view, no link
    # followed but the owner's
    access: Optional[Callable[[int], Access]] = None
    anchor: Optional[int] = None  # the machine's root, opened: where environments are read from


@contextlib.contextmanager
def no_lock(cache_fd: int) -> Iterator[Optional[str]]:
    """A kind whose tool has no lock to take: nothing to hold while deleting."""
    yield None


class CacheKind(Protocol):
    """One tool's caches: where they are and why, how one is measured, named, cleaned, in use."""

    NAME: str  # the kind as `--kind`, JSON's `kind` and the KIND column say it
    # the variables of an account's processes its tool reads: name -> "path", "flag", or the
    # separator of a list of paths (":" or ","); kept from the process table, paths translated
    VARIABLES: dict[str, str]

    def find(self, look: Look) -> tuple[list[CacheLocation], list[Skipped]]:
        """This kind's caches of the chosen accounts, found as its tool finds them (config files
        read as the account, its processes' variables, the defaults), while discovery runs."""

    def locations(self, found: Found) -> list[CacheLocation]:
        """Each cache of this kind the discovered accounts (and running processes) use, and why."""

    def looks_like(self, dir_fd: int, names: set[str]) -> bool:
        """Whether an opened directory holding ``names`` (its files and subdirectories) has this
        kind's layout: what --search finds it by (one walk for every kind), and what a clean
        checks on a cache found only so."""

    def measure(self, task: WalkTask) -> WalkOutcome:
        """One cache walked once: its owner and figures, or why it was refused."""

    def entries(self, task: WalkTask) -> EntriesOutcome:
        """Every entry of one cache, named as well as its files allow."""

    def plan(
        self, cache_fd: int, path: str, uid: int, policy: Policy, now: float, context: PlanContext
    ) -> CachePlan:
        """What a clean under ``policy`` removes from the opened cache (raises
        fleetcache.clean.guard.Refused when the cache must not be cleaned at all)."""

    def exclusive(self, cache_fd: int) -> AbstractContextManager[Optional[str]]:
        """Held while a clean deletes from the opened cache: the tool's own lock, taken without
        waiting; yields None when held, else why the cache is busy."""

    def busy(
        self, machine: Machine, found: Found, paths: Sequence[str], again: bool = False
    ) -> Mapping[str, Sequence[ProcessUse]]:
        """What makes each of these caches in use (processes using, sitting in or holding it):
        as discovery saw it, or ``again``, from a fresh look (a clean's, right before it deletes)."""
