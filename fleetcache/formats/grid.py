"""The one way a table is drawn: every cell escaped and cut to CELL_LIMIT, then made to fit
(:mod:`fleetcache.formats.fit`) unless every column is asked for whole, then tabulate."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Callable, Optional

from tabulate import tabulate

from fleetcache import escape
from fleetcache.formats import fit

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
    kinds: Optional[Sequence[str]] = None,
    markup: Callable[[str], str] = plain,
) -> str:
    """``rows`` under ``headers``; with ``kinds`` (what each column holds: fit.PATH, TEXT or
    WORD) made to fit fit.WIDTH, else every cell whole; ``markup`` escapes what the table format
    itself gives a meaning (markdown's ``|``)."""
    shown = [[_cell(c) for c in row] for row in rows]
    if kinds is not None:
        widths = fit.widths(shown, headers, kinds)
        shown = [[fit.cell(c, w, k) for c, w, k in zip(row, widths, kinds)] for row in shown]
    return tabulate(
        [[markup(c) for c in row] for row in shown],
        headers=list(headers),
        tablefmt=tablefmt,
        disable_numparse=True,
    )


def _cell(value: Any) -> str:
    """A value as its cell's text; a label wrapped between words stays one (fit.Words)."""
    text = cell(value if isinstance(value, str) else str(value))
    return fit.Words(text) if isinstance(value, fit.Words) else text
