"""YAML files the tools' users write (conda's ``.condarc``), read as data: an account's file is
untrusted input, so any fault in it means "says nothing"."""

from __future__ import annotations

from typing import Any, Optional

import yaml

LIMIT = 1 << 20  # a config file larger than this is no config file
DEPTH = 32  # conda's settings nest two or three deep; a deeper file is an attack, not a config


class _Refused(yaml.YAMLError):
    """A document this reader does not take (aliases, too deep)."""


class _Loader(yaml.SafeLoader):
    """The safe loader, refusing aliases (an alias bomb, or merge keys doubling at each level,
    grows without bound from a small file) and nesting past DEPTH (the composer recurses)."""

    def __init__(self, stream: str) -> None:
        super().__init__(stream)
        self.depth = 0

    def compose_node(self, parent: Optional[yaml.Node], index: Any) -> Optional[yaml.Node]:
        if self.check_event(yaml.AliasEvent):
            raise _Refused("aliases are not read")
        self.depth += 1
        try:
            if self.depth > DEPTH:
                raise _Refused("nested too deep")
            return super().compose_node(parent, index)
        finally:
            self.depth -= 1


def loads(data: Optional[bytes]) -> Optional[dict[str, Any]]:
    """The mapping a YAML file holds, or None when there is no file or it is no YAML mapping."""
    if data is None or len(data) > LIMIT:
        return None
    loader = None
    try:
        loader = _Loader(data.decode("utf-8"))
        got = loader.get_single_data()
    except (UnicodeDecodeError, yaml.YAMLError, RecursionError, ValueError, TypeError):
        return None
    finally:
        if loader is not None:
            loader.dispose()
    return got if isinstance(got, dict) else None


def strings(table: Optional[dict[str, Any]], key: str) -> list[str]:
    """The strings of a list (or the one string) at a top-level key; anything else is left out."""
    got = None if table is None else table.get(key)
    if isinstance(got, str):
        return [got]
    if not isinstance(got, list):
        return []
    return [item for item in got if isinstance(item, str) and item]
