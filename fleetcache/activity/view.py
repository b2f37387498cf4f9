"""This host's processes seen from the machine being scanned: their paths as paths of the machine.

On the host itself that is the identity. Under ``--root DIR`` a process belongs to the machine
only when its executable, working directory or program path lies inside DIR, and its paths are
rewritten relative to DIR; a path outside DIR means nothing to the machine and is dropped.
"""

from __future__ import annotations

import os
import posixpath
from collections.abc import Mapping
from typing import Callable, Optional

from fleetcache.activity.processes import Proc
from fleetcache.machine import Machine

# variables holding one path, and those holding a colon-separated list of them
PATH_VARIABLES = frozenset(
    {"HOME", "VIRTUAL_ENV", "CONDA_PREFIX", "CONDA_EXE", "PIP_CACHE_DIR", "PIP_CONFIG_FILE",
     "XDG_CACHE_HOME", "XDG_CONFIG_HOME", "XDG_DATA_HOME", "WORKON_HOME", "PYENV_ROOT", "PIPX_HOME",
     "POETRY_VIRTUALENVS_PATH", "UV_PYTHON_INSTALL_DIR"}
)  # fmt: skip
PATH_LISTS = {"XDG_CONFIG_DIRS": ":", "CONDA_ENVS_PATH": ":", "CONDA_ENVS_DIRS": ":"}


def _kinds() -> tuple[frozenset[str], dict[str, str]]:
    """(variables holding one path, lists of paths -> separator), every kind's included."""
    from fleetcache.kinds import all as kinds_all  # the kinds read processes: not at load

    theirs = kinds_all.variables()
    paths = PATH_VARIABLES | {n for n, how in theirs.items() if how == "path"}
    lists = {**PATH_LISTS, **{n: how for n, how in theirs.items() if how in (":", ",")}}
    return paths, lists


class View:
    """Translates one process's host paths into machine paths."""

    def __init__(self, machine: Machine) -> None:
        self.identity = machine.is_host
        self.machine = machine
        # the root as given and as the kernel shows it (a linked --root)
        self.roots = tuple(
            dict.fromkeys(
                os.path.abspath(r).rstrip("/")
                for r in (machine.root, os.path.realpath(machine.root))
            )
        )

    def path(self, host_path: Optional[str]) -> Optional[str]:
        """A host path as a path of the machine; None when it lies outside it (or is unknown)."""
        if not host_path:
            return None
        if self.identity:
            return host_path
        for root in self.roots:
            if host_path == root:
                return "/"
            if host_path.startswith(root + "/"):
                return host_path[len(root) :]
        return None

    def host(self, machine_path: str) -> str:
        """A machine path as a path of this host."""
        return self.machine.host_path(machine_path)

    def program(self, proc: Proc) -> tuple[Optional[str], bool]:
        """argv[0] as an absolute host path, normalised without resolving links (a venv's
        ``bin/python`` stays itself); ``(None, True)`` when it is relative and the working
        directory could not be read, ``(None, False)`` when it names no path (found on $PATH)."""
        if not proc.argv or "/" not in proc.argv[0]:
            return None, False
        argv0 = proc.argv[0]
        if not argv0.startswith("/"):
            if proc.cwd is None:
                return None, True
            if not proc.cwd:
                return None, False
            argv0 = posixpath.join(proc.cwd, argv0)
        return posixpath.normpath(argv0), False

    def belongs(self, proc: Proc) -> bool:
        """Whether the process runs on (or from) the machine being scanned."""
        if self.identity:
            return True
        program, _ = self.program(proc)
        return any(self.path(p) is not None for p in (proc.exe, proc.cwd, program))

    def environ(self, proc: Proc) -> Optional[dict[str, str]]:
        """The process's variables fleetcache reads, with paths made machine paths (those
        outside the machine dropped); None when the environment could not be read."""
        if proc.environ is None:
            return None
        return translate(proc.environ, self.path) if not self.identity else dict(proc.environ)


def translate(environ: Mapping[str, str], path: Callable[[str], Optional[str]]) -> dict[str, str]:
    """Variables with their paths translated; a path that does not translate is dropped."""
    out: dict[str, str] = {}
    paths, lists = _kinds()
    for name, value in environ.items():
        if name == "PIP_CONFIG_FILE" and value == os.devnull:
            out[name] = value
        elif name in paths and not value.startswith("/"):
            out[name] = value  # relative to the process's working directory, itself translated
        elif name in paths:
            moved = path(value)
            if moved is not None:
                out[name] = moved
        elif name in lists:
            sep = lists[name]
            parts = [path(p.strip()) for p in value.split(sep) if p.strip()]
            kept = [p for p in parts if p is not None]
            if kept:
                out[name] = sep.join(kept)
        else:
            out[name] = value
    return out
