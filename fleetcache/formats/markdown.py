"""Markdown: the table format's rows as GitHub-flavoured tables, for wikis and tickets."""

from __future__ import annotations

from typing import Any, Optional

from fleetcache.formats.table import TableFormat


class MarkdownFormat(TableFormat):
    """The table format with GitHub tables; a ``|`` inside a cell is escaped."""

    tablefmt = "github"
    always_wide = True  # a document is not a terminal: every column

    @staticmethod
    def markup(text: str) -> str:
        """A cell's text with its ``|`` escaped."""
        return text.replace("|", "\\|")

    def _table(
        self, rows: list[list[Any]], headers: list[str], kinds: Optional[list[str]] = None
    ) -> str:
        return super()._table(rows, headers) + "\n"  # a blank line ends the table
