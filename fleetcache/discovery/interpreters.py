"""Installed Pythons: the system's (/usr/bin, /usr/local/bin, /opt), pyenv versions, uv-managed
Pythons, Linuxbrew's kegs."""

from __future__ import annotations

import os
import re
from dataclasses import replace
from typing import Callable, Optional

from fleetcache import safefs
from fleetcache.discovery import homewalk
from fleetcache.discovery import inspect as inspect_mod
from fleetcache.discovery.access import Access, AsRoot, names_in
from fleetcache.model import Environment, Skipped

SYSTEM_BIN_DIRS = ("/usr/bin", "/usr/local/bin")
# where system-wide Pythons and conda installs live outside the package manager's bin dirs
SYSTEM_ROOTS = ("/opt", "/usr/local")
INTERPRETER_NAME = re.compile(r"python(\d(\.\d+)?t?)?")
# cpython-3.13.0rc1+freethreaded-linux-x86_64-gnu: the variant is not part of the version
UV_PYTHON = re.compile(r"[a-z]+-(\d+\.\d+\.\d+(?:(?:a|b|rc)\d+)?)(?:\+[a-z]+)?-.+")
# 3.12.1, 3.13.0rc1, 3.13.0t (free-threaded)
PYENV_VERSION = re.compile(r"(\d+\.\d+\.\d+(?:(?:a|b|rc)\d+)?)t?")
# a keg: 3.12.7, or 3.12.7_1 (brew's rebuild of the same version)
BREW_KEG = re.compile(r"(\d+\.\d+\.\d+(?:(?:a|b|rc)\d+)?)(?:_\d+)?")
BREW_PYTHON = re.compile(r"python(@\d+\.\d+)?|python3")
# the machine-wide Linuxbrew (its own account's home); ~/.linuxbrew is each account's
LINUXBREW = "/home/linuxbrew/.linuxbrew"
VERSION_NAMES = {"pyenv": PYENV_VERSION, "uv-python": UV_PYTHON, "homebrew": BREW_KEG}
FOUND_BY = {
    "pyenv": "pyenv versions/",
    "uv-python": "uv python dir",
    "homebrew": "Linuxbrew Cellar",
}

Join = Callable[..., str]


def system(anchor: int, platform: str, join: Join) -> tuple[list[Environment], list[Skipped]]:
    """System interpreters: versioned ``python3.X`` in the bin dirs, and installs under /opt."""
    if platform == "win32":
        return [], []
    found: dict[str, Environment] = {}
    skipped: list[Skipped] = []
    for bin_dir in SYSTEM_BIN_DIRS:
        for env in _bin_dir(anchor, bin_dir, "system bin dir", join):
            found.setdefault(env.key, env)
    for root in SYSTEM_ROOTS:
        more, missed = _system_root(anchor, root, platform, join)
        skipped.extend(missed)
        for env in more:
            found.setdefault(env.key, env)
    for env in cellar(AsRoot(anchor), join(LINUXBREW, "Cellar"), platform, join):
        found.setdefault(env.key, env)
    return list(found.values()), skipped


def _bin_dir(anchor: int, bin_dir: str, found_by: str, join: Join) -> list[Environment]:
    """One interpreter per real file among a bin dir's ``python*`` names (links resolved in root)."""
    try:
        opened = safefs.open_path(anchor, bin_dir, follow_last=True)
    except safefs.UnsafePath:
        return []
    try:
        names = sorted(n for n in inspect_mod.listdir(opened.fd) if INTERPRETER_NAME.fullmatch(n))
    finally:
        os.close(opened.fd)
    by_real: dict[str, list[str]] = {}
    for name in names:
        try:
            target = safefs.open_path(
                anchor, join(opened.path, name), follow_last=True, directory=False
            )
        except safefs.UnsafePath:
            continue
        os.close(target.fd)
        by_real.setdefault(target.path, []).append(name)
    found = []
    for real, aliases in by_real.items():
        bin_path, _, exe = real.rpartition("/")
        prefix = bin_path.rpartition("/")[0] or "/"
        env = _system_prefix(anchor, prefix, exe, found_by)
        if env is not None:
            also = ", ".join(a for a in aliases if a != exe)
            marker = found_by + (f" (also {also})" if also else "")
            found.append(replace(env, interpreter=real, marker=marker))
    return found


def _system_prefix(anchor: int, prefix: str, exe: str, found_by: str) -> Optional[Environment]:
    """An install prefix holding ``bin/<exe>``, unless it is an environment (found elsewhere)."""
    try:
        opened = safefs.open_path(anchor, prefix, follow_last=True)
    except safefs.UnsafePath:
        return None
    try:
        names = set(inspect_mod.listdir(opened.fd))
        if "pyvenv.cfg" in names or "conda-meta" in names:
            return None
        match = re.fullmatch(r"python(\d\.\d+)t?", exe)
        return inspect_mod.installed_python(
            opened.fd, opened.path, "system", found_by, match.group(1) if match else None, "linux"
        )
    finally:
        os.close(opened.fd)


def _system_root(
    anchor: int, root: str, platform: str, join: Join
) -> tuple[list[Environment], list[Skipped]]:
    """Environments and conda installs directly under /opt or /usr/local, with conda's envs/."""
    system = AsRoot(anchor)
    found, skipped = homewalk.children(system, root, f"{root}/*", platform, join)
    for env in list(found):
        if env.role == "interpreter" and env.kind != "system":
            more, missed = homewalk.children(
                system, join(env.prefix, "envs"), "conda envs/", platform, join
            )
            found.extend(more)
            skipped.extend(missed)
    if root == "/opt":
        try:
            opened = safefs.open_path(anchor, root)
        except safefs.UnsafePath:
            return found, skipped
        try:
            names = sorted(inspect_mod.listdir(opened.fd))
        finally:
            os.close(opened.fd)
        known = {e.prefix for e in found}
        for name in names:
            if join(root, name) not in known:
                found.extend(_bin_dir(anchor, join(root, name, "bin"), "/opt/*/bin", join))
    return found, skipped


def versions_dir(
    access: Access, directory: str, kind: str, platform: str, join: Join
) -> list[Environment]:
    """The installed Pythons in pyenv's ``versions/`` or uv's ``python/`` directory, as
    ``access`` may open it and look into its entries."""
    try:
        opened = access.open_dir(directory)
    except safefs.UnsafePath:
        return []
    found = []
    try:
        for name in sorted(inspect_mod.listdir(opened.fd)):
            match = VERSION_NAMES[kind].fullmatch(name)
            version = None
            if match:
                version = match.group(1)
            env = _installed(access, opened, name, join(directory, name), kind, version, platform)
            if env is not None:
                found.append(env)
    finally:
        os.close(opened.fd)
    return found


def cellar(access: Access, directory: str, platform: str, join: Join) -> list[Environment]:
    """The Python kegs in a (Linux)brew ``Cellar/``: ``python@3.X/<version>``, one row per keg
    (brew's ``opt/`` and ``bin/`` links to them are not followed)."""
    formulas = [n for n in names_in(access, directory) if BREW_PYTHON.fullmatch(n)]
    found: list[Environment] = []
    for formula in formulas:
        found.extend(versions_dir(access, join(directory, formula), "homebrew", platform, join))
    return found


def _installed(
    access: Access,
    parent: safefs.Opened,
    name: str,
    prefix: str,
    kind: str,
    version: Optional[str],
    platform: str,
) -> Optional[Environment]:
    fd = access.open_entry(parent, name)  # a link (uv's minor aliases) is passed over
    if fd is None:
        return None
    try:
        names = set(inspect_mod.listdir(fd))
        if "pyvenv.cfg" in names or "conda-meta" in names:
            return None  # an environment, found by the home walk
        return inspect_mod.installed_python(fd, prefix, kind, FOUND_BY[kind], version, platform)
    finally:
        os.close(fd)
