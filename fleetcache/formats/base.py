"""What every output format shares: the render options and the formatter interface."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol

from fleetcache.model import CacheEntry, ScanResult, Skipped
from fleetcache.report.views import Report


@dataclass(frozen=True)
class RenderOptions:
    """How to render: exact byte counts instead of human sizes; environments as the processes
    that run from them (``envs --active``)."""

    exact_bytes: bool = False
    processes: bool = False
    wide: bool = False  # every column, however wide (tables are made to fit 80 columns)
    unprivileged: bool = False  # run as an account, not root: what it may not read is summed up


class Formatter(Protocol):
    """Turns a result into text."""

    def scan(self, result: ScanResult, options: RenderOptions) -> str:
        """The text of a whole scan."""
        ...

    def envs(self, result: ScanResult, options: RenderOptions) -> str:
        """The text of the environments found."""
        ...

    def report(self, report: Report, skipped: list[Skipped], options: RenderOptions) -> str:
        """The text of a report view."""
        ...

    def entries(self, found: list[tuple[str, CacheEntry]], options: RenderOptions) -> str:
        """The text of ``fleetcache list``: (account, entry) pairs."""
        ...

    def merged(self, doc: dict[str, Any], options: RenderOptions) -> str:
        """The text of ``fleetcache merge``: many hosts' records, each with its ``host``."""
        ...
