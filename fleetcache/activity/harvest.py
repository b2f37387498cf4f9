"""What running processes tell discovery: each account's settings as its processes see them
(``PIP_CACHE_DIR``, ``XDG_CACHE_HOME``, ``WORKON_HOME``, ...), and the environments they run from.

A login shell's settings live in files fleetcache cannot evaluate (``.bashrc``); a process's
environment is their result. Each distinct set of settings of an account is kept once, with the
first process that showed it, so that what it adds is reported as "environment of pid N".
"""

from __future__ import annotations

import posixpath
from collections.abc import Collection, Iterator, Mapping
from dataclasses import dataclass
from typing import Optional

from fleetcache.activity.processes import Snapshot
from fleetcache.activity.view import View

# variables that say where an environment is, not how the account is set up
PREFIX_VARIABLES = ("VIRTUAL_ENV", "CONDA_PREFIX")
# distinct settings kept per account: beyond this, processes repeat themselves
MAX_PER_ACCOUNT = 16


@dataclass(frozen=True)
class Settings:
    """One account's variables as one of its processes sees them (paths of the machine)."""

    pid: int
    env: Mapping[str, str]


@dataclass(frozen=True)
class Running:
    """A prefix a process runs from (or has activated), which discovery may not have found."""

    prefix: str
    uid: int
    pid: int
    how: str  # "$VIRTUAL_ENV", "$CONDA_PREFIX", "program", "maps"


def settings(snap: Snapshot, view: View, uids: Collection[int]) -> dict[int, list[Settings]]:
    """Per account, each distinct set of settings its readable processes show."""
    found: dict[int, dict[tuple[tuple[str, str], ...], Settings]] = {}
    for proc in snap.procs:
        if proc.uid is None or proc.uid not in uids or not proc.environ or proc.setid:
            continue  # a set-uid program's environment is its caller's, not its account's
        if not view.belongs(proc):
            continue
        env = view.environ(proc) or {}
        kept = {k: v for k, v in env.items() if k not in PREFIX_VARIABLES}
        if not kept:
            continue
        seen = found.setdefault(proc.uid, {})
        key = tuple(sorted(kept.items()))
        if key not in seen and len(seen) < MAX_PER_ACCOUNT:
            seen[key] = Settings(proc.pid, kept)
    return {uid: list(by_key.values()) for uid, by_key in found.items()}


def running(snap: Snapshot, view: View, uids: Optional[Collection[int]]) -> list[Running]:
    """Prefixes the accounts' processes (every account's with ``uids`` None) run from:
    ``$VIRTUAL_ENV``, ``$CONDA_PREFIX``, the prefix of a program in a ``bin/`` directory and of
    a Python library it has mapped (checked by discovery for an environment)."""
    out: dict[str, Running] = {}
    for proc in snap.procs:
        if proc.uid is None or (uids is not None and proc.uid not in uids) or proc.setid:
            continue
        env = view.environ(proc) or {}
        for name in PREFIX_VARIABLES:
            value = env.get(name)
            if value and value.startswith("/"):
                prefix = posixpath.normpath(value)
                out.setdefault(prefix, Running(prefix, proc.uid, proc.pid, f"${name}"))
        program, _ = view.program(proc)
        for path in (view.path(program), view.path(proc.exe)):
            if path is None:
                continue
            bin_dir = posixpath.dirname(path)
            if posixpath.basename(bin_dir) == "bin":
                prefix = posixpath.dirname(bin_dir)
                out.setdefault(prefix, Running(prefix, proc.uid, proc.pid, "program"))
        for prefix in _mapped_prefixes(proc.maps or (), view):
            out.setdefault(prefix, Running(prefix, proc.uid, proc.pid, "maps"))
    return list(out.values())


def _mapped_prefixes(maps: Collection[str], view: View) -> Iterator[str]:
    """The prefixes of the Python libraries a process has mapped: ``PREFIX/lib/pythonX.Y/...``
    (an extension module) and ``PREFIX/lib/libpythonX.Y.so`` (conda's interpreter)."""
    for mapped in maps:
        at = mapped.find("/lib/python")
        if at < 0:
            at = mapped.find("/lib/libpython")
        if at > 0:
            prefix = view.path(mapped[:at])
            if prefix is not None:
                yield prefix
