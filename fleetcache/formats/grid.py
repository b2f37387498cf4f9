"""The one way a table is drawn: every cell escaped and cut to CELL_LIMIT before tabulate."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Callable, Optional

from tabulate import tabulate

from fleetcache import escape

# characters of one cell in any table, --wide too (JSON has the whole value); wrapping a cell
# costs its length squared over the column's width, so this also keeps drawing linear
CELL_LIMIT = 256


def cell(text: str) -> str:
    """A cell's text as every table shows it: escaped, and cut to CELL_LIMIT."""
    return escape.clip(text, CELL_LIMIT)


def plain(text: str) -> str:
    """A cell's text as a plain table writes it: as it is."""
    return text


def grid(
    rows: Sequence[Sequence[Any]],
    headers: Sequence[str],
    tablefmt: str = "simple",
    widths: Optional[Sequence[Optional[int]]] = None,
    markup: Callable[[str], str] = plain,
) -> str:
    """``rows`` under ``headers``, columns wrapped to ``widths`` (None: as wide as they are);
    ``markup`` escapes what the table format itself gives a meaning (markdown's ``|``)."""
    shown = [[markup(cell(c)) if isinstance(c, str) else c for c in row] for row in rows]
    return tabulate(
        shown,
        headers=list(headers),
        tablefmt=tablefmt,
        disable_numparse=True,
        maxcolwidths=None if widths is None else list(widths),
    )
