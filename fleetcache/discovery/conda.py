"""conda's own records of environments: ``~/.conda/environments.txt`` and ``.condarc``'s ``envs_dirs``."""

from __future__ import annotations

import re
from collections.abc import Sequence

# the per-user condarc files conda reads (system-wide ones are read once, for everyone)
USER_CONDARCS = (
    ".config/conda/.condarc",
    ".config/conda/condarc",
    ".conda/.condarc",
    ".conda/condarc",
    ".condarc",
)
SYSTEM_CONDARCS = (
    "/etc/conda/.condarc",
    "/etc/conda/condarc",
    "/var/lib/conda/.condarc",
    "/var/lib/conda/condarc",
)
# directories of condarc snippets (*.yml, *.yaml), read in name order
SYSTEM_CONDARC_DIRS = ("/etc/conda/condarc.d", "/var/lib/conda/condarc.d")
ENVIRONMENTS_TXT = ".conda/environments.txt"
_KEY = re.compile(r"(?:envs_dirs|envs_path)\s*:\s*(.*)")
_ITEM = re.compile(r"\s*-\s*(.*)")


def environments_txt(data: bytes) -> list[str]:
    """The prefixes registered in ``environments.txt``: one absolute path per line."""
    lines = data.decode("utf-8", "surrogateescape").splitlines()
    return list(dict.fromkeys(line.strip() for line in lines if line.strip()))


def envs_dirs(data: bytes) -> list[str]:
    """The ``envs_dirs`` list of a ``.condarc``, block (``- path``) or flow (``[a, b]``) style.

    Only this one key is read, so a small reader does; YAML features conda never writes here
    (anchors, multi-line strings) are not understood and yield nothing rather than a guess.
    """
    lines = data.decode("utf-8", "replace").splitlines()
    for i, line in enumerate(lines):
        match = _KEY.match(line)
        if not match:
            continue
        rest = _strip_comment(match.group(1))
        if rest.startswith("[") and rest.endswith("]"):
            return [_unquote(v) for v in rest[1:-1].split(",") if v.strip()]
        if rest:
            return [_unquote(rest)]
        return _block(lines[i + 1 :])
    return []


def _block(lines: Sequence[str]) -> list[str]:
    found = []
    for line in lines:
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        item = _ITEM.match(line)
        if item is None:
            break
        found.append(_unquote(_strip_comment(item.group(1))))
    return [v for v in found if v]


def _strip_comment(value: str) -> str:
    if value.startswith(("'", '"')):
        return value.strip()
    return value.split(" #", 1)[0].strip()


def _unquote(value: str) -> str:
    value = value.strip()
    if len(value) >= 2 and value[0] == value[-1] and value[0] in "'\"":
        return value[1:-1]
    return value
