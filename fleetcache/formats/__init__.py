"""Output formats: one module each, one entry in FORMATS; adding a format touches only those two."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from fleetcache.model import ScanResult


@dataclass(frozen=True)
class RenderOptions:
    """How to render: exact byte counts instead of human sizes."""

    exact_bytes: bool = False


class Formatter(Protocol):
    """Turns a result into text."""

    def scan(self, result: ScanResult, options: RenderOptions) -> str:
        """The text of a whole scan."""
        ...


def formatters() -> dict[str, Formatter]:
    """Every format by its ``--format`` name."""
    from fleetcache.formats import csv_format, json_format, table

    return {
        "table": table.TableFormat(),
        "json": json_format.JsonFormat(),
        "csv": csv_format.CsvFormat(),
    }


FORMAT_NAMES = ("table", "json", "csv")
