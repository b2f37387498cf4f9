"""TOML files the tools' users write (uv.toml, poetry's and pdm's config.toml, pyproject.toml),
read as data: an account's file is untrusted input, so any fault in it means "says nothing"."""

from __future__ import annotations

import sys
from typing import Any, Optional

if sys.version_info >= (3, 11):
    import tomllib
else:  # the same parser, from PyPI, before Python 3.11
    import tomli as tomllib

LIMIT = 1 << 20  # a config file larger than this is no config file


def loads(data: Optional[bytes]) -> Optional[dict[str, Any]]:
    """The table a TOML file holds, or None when there is no file or it is not valid TOML."""
    if data is None or len(data) > LIMIT:
        return None
    try:
        table: dict[str, Any] = tomllib.loads(data.decode("utf-8"))
        return table
    except (UnicodeDecodeError, tomllib.TOMLDecodeError, RecursionError):
        return None


def text(table: Optional[dict[str, Any]], *keys: str) -> Optional[str]:
    """The string at ``keys`` (``"tool", "uv", "cache-dir"``), None when absent or not a string."""
    got: Any = table
    for key in keys:
        if not isinstance(got, dict):
            return None
        got = got.get(key)
    return got if isinstance(got, str) else None
