"""conda's own records: ``~/.conda/environments.txt``, and ``.condarc``'s ``envs_dirs`` and ``pkgs_dirs``
(read as YAML, with the safe loader: fleetcache.yamlfile)."""

from __future__ import annotations

import posixpath
import re
from collections.abc import Iterable, Mapping
from typing import Callable, Optional

from fleetcache import yamlfile

# the system-wide condarc files (read once, for everyone); an account's own: user_condarcs
SYSTEM_CONDARCS = (
    "/etc/conda/.condarc",
    "/etc/conda/condarc",
    "/var/lib/conda/.condarc",
    "/var/lib/conda/condarc",
)
# directories of condarc snippets (*.yml, *.yaml), read in name order
SYSTEM_CONDARC_DIRS = ("/etc/conda/condarc.d", "/var/lib/conda/condarc.d")
ENVIRONMENTS_TXT = ".conda/environments.txt"
SNIPPETS = 64  # condarc.d files read per directory: more is no configuration
_VAR = re.compile(r"\$(?:\{(\w+)\}|(\w+))")
# a condarc.d directory -> its snippet files (as whoever reads them lists it)
Snippets = Callable[[str], list[str]]


def environments_txt(data: bytes) -> list[str]:
    """The prefixes registered in ``environments.txt``: one absolute path per line."""
    lines = data.decode("utf-8", "surrogateescape").splitlines()
    return list(dict.fromkeys(line.strip() for line in lines if line.strip()))


def envs_dirs(data: Optional[bytes]) -> list[str]:
    """The ``envs_dirs`` of a ``.condarc`` (``envs_path``, conda's older name, after them)."""
    table = yamlfile.loads(data)
    return list(
        dict.fromkeys(
            [*yamlfile.strings(table, "envs_dirs"), *yamlfile.strings(table, "envs_path")]
        )
    )


def pkgs_dirs(data: Optional[bytes]) -> list[str]:
    """The ``pkgs_dirs`` of a ``.condarc``."""
    return yamlfile.strings(yamlfile.loads(data), "pkgs_dirs")


def expand(path: str, home: str, env: Mapping[str, str]) -> Optional[str]:
    """A configured path as conda expands it (``~`` and ``$VARS``, from this account's own
    variables only); None unless it is then absolute (conda would make it so from a cwd)."""
    path = path.strip()
    if path == "~" or path.startswith("~/"):
        path = home + path[1:]
    path = _VAR.sub(lambda m: env.get(m.group(1) or m.group(2), m.group(0)), path)
    return posixpath.normpath(path) if path.startswith("/") and "\0" not in path else None


def snippet_names(names: Iterable[str]) -> list[str]:
    """The names conda reads in a condarc.d directory, in its order (and no more than SNIPPETS)."""
    return sorted(n for n in names if n.endswith((".yml", ".yaml")))[:SNIPPETS]


def rc_files(directory: str, snippets: Snippets) -> list[str]:
    """The settings files conda reads in one of its config directories."""
    join = posixpath.join
    return [
        join(directory, ".condarc"),
        join(directory, "condarc"),
        *snippets(join(directory, "condarc.d")),
    ]


def user_condarcs(home: str, env: Mapping[str, str], snippets: Snippets) -> list[str]:
    """The account's part of conda's search path (base/constants.py SEARCH_PATH), in conda's
    order: ``$XDG_CONFIG_HOME/conda``, ``~/.config/conda``, ``~/.conda``, ``~/.condarc``,
    ``$CONDA_PREFIX``, ``$CONDARC``."""
    join = posixpath.join
    dirs = [join(home, ".config", "conda"), join(home, ".conda")]
    if env.get("XDG_CONFIG_HOME", "").startswith("/"):
        dirs.insert(0, join(env["XDG_CONFIG_HOME"], "conda"))
    out = [f for d in dirs for f in rc_files(d, snippets)]
    out.append(join(home, ".condarc"))
    if env.get("CONDA_PREFIX", "").startswith("/"):
        out += rc_files(env["CONDA_PREFIX"], snippets)
    if env.get("CONDARC", "").startswith("/"):
        out.append(env["CONDARC"])
    return list(dict.fromkeys(out))
