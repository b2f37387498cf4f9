"""Markdown: the table format's rows as GitHub-flavoured tables, for wikis and tickets."""

from __future__ import annotations

from typing import Any, Optional

from fleetcache.formats.table import TableFormat


class MarkdownFormat(TableFormat):
    """The table format with GitHub tables; a ``|`` inside a cell is escaped."""

    tablefmt = "github"
    always_wide = True  # a document is not a terminal: every column

    def _table(
        self, rows: list[list[Any]], headers: list[str], widths: Optional[list[Any]] = None
    ) -> str:
        cells = [[c.replace("|", "\\|") if isinstance(c, str) else c for c in r] for r in rows]
        return super()._table(cells, headers) + "\n"  # a blank line ends the table
