"""Where an account's uv keeps its cache, in uv's own order: UV_CACHE_DIR of its processes, a
project's uv.toml or pyproject.toml [tool.uv], the user's uv.toml, the system's
($XDG_CONFIG_DIRS, /etc/xdg, then /etc/uv), $XDG_CACHE_HOME/uv, ~/.cache/uv. Every file is read
as the account."""

from __future__ import annotations

import os
import posixpath
from collections.abc import Iterator, Mapping
from dataclasses import replace
from typing import Optional

from fleetcache import readas, tomlfile
from fleetcache.kinds.base import Look
from fleetcache.model import Account, CacheLocation, CacheSource, Skipped

NAME = "uv"
SYSTEM_CONFIG = "/etc/uv/uv.toml"

# (path, source, whether root may own it: a system config names system-wide caches)
Found = tuple[str, CacheSource, bool]


def find(look: Look) -> tuple[list[CacheLocation], list[Skipped]]:
    """Each chosen account's uv caches, one location per path, every reason kept."""
    found: list[tuple[Account, Found]] = []
    skipped: list[Skipped] = []
    for account in look.chosen:
        base = look.machine.env_for(account.uid)
        found.extend((account, got) for got in _projects(look, account, skipped))
        got = _account_level(look, account, base, skipped)
        known = set()  # (path, source but its pid): a process that says the same adds nothing
        if got is not None:
            found.append((account, got))
            known.add((got[0], got[1]))
        for settings in look.settings.get(account.uid, ()):
            got = _process(look, account, {**base, **settings.env}, settings.pid, skipped)
            if got is not None and (got[0], replace(got[1], pid=None)) not in known:
                known.add((got[0], replace(got[1], pid=None)))
                found.append((account, got))
    return _merged(found), skipped


def _merged(found: list[tuple[Account, Found]]) -> list[CacheLocation]:
    """One location per path: every source, every account it may belong to."""
    sources: dict[str, list[CacheSource]] = {}
    owners: dict[str, set[int]] = {}
    for account, (path, source, system) in found:
        if source not in sources.setdefault(path, []):
            sources[path].append(source)
        owners.setdefault(path, set()).update({account.uid, 0} if system else {account.uid})
    return [CacheLocation(p, tuple(s), frozenset(owners[p]), NAME) for p, s in sources.items()]


def _process(
    look: Look, account: Account, env: Mapping[str, str], pid: int, skipped: list[Skipped]
) -> Optional[Found]:
    """The cache uv uses in one process's environment, outside any project (when it exists):
    its UV_CACHE_DIR, else the configs and defaults as its XDG variables place them."""
    if env.get("UV_NO_CACHE", "").lower() not in ("", "0", "false", "no", "off"):
        why = f"uv of pid {pid} runs with UV_NO_CACHE: its cache is temporary, not listed"
        skipped.append(Skipped(account.home, why))
    path = env.get("UV_CACHE_DIR", "")
    if posixpath.isabs(path):
        source = CacheSource("env", account.name, variable="UV_CACHE_DIR", pid=pid)
        got: Optional[Found] = (posixpath.normpath(path), source, False)
    else:
        got = _account_level(look, account, env, [])
        if got is not None:
            got = (got[0], replace(got[1], pid=pid), got[2])
    return got if got is not None and _is_dir(look, got[0]) else None


def _projects(look: Look, account: Account, skipped: list[Skipped]) -> Iterator[Found]:
    """The cache-dir of each project of the account's that the environment search met."""
    seen: set[str] = set()
    for env in look.environments:
        project = env.project
        if project is None or env.owner_uid != account.uid or project in seen:
            continue
        seen.add(project)
        # a uv.toml there hides pyproject.toml's [tool.uv], cache-dir or not
        for name, keys in (("uv.toml", ("cache-dir",)),
                           ("pyproject.toml", ("tool", "uv", "cache-dir"))):  # fmt: skip
            file = posixpath.join(project, name)
            there, value = _setting(look, account, file, keys, skipped)
            if value is not None:
                path = posixpath.normpath(posixpath.join(project, value))
                section = "tool.uv" if name == "pyproject.toml" else "cache-dir"
                yield path, CacheSource("config", account.name, file=file, section=section), False
            if there:
                break


def _account_level(
    look: Look, account: Account, env: Mapping[str, str], skipped: list[Skipped]
) -> Optional[Found]:
    """The cache uv uses outside any project with these variables: user config, system config,
    then the defaults (a default only when it is there)."""
    config_home = _xdg(env, "XDG_CONFIG_HOME") or posixpath.join(account.home, ".config")
    files = [(posixpath.join(config_home, "uv", "uv.toml"), False)]
    files += [(posixpath.join(d, "uv", "uv.toml"), True) for d in _config_dirs(env)]
    for file, system in [*files, (SYSTEM_CONFIG, True)]:
        value = _setting(look, account, file, ("cache-dir",), skipped)[1]
        if value is None:
            continue
        if not posixpath.isabs(value):  # uv takes it from the working directory: unknown here
            skipped.append(Skipped(file, f"relative cache-dir {value!r}: where depends on cwd"))
            return None
        source = CacheSource("config", account.name, file=file, section="cache-dir")
        return posixpath.normpath(value), source, system
    cache_home = _xdg(env, "XDG_CACHE_HOME")
    path = posixpath.join(cache_home or posixpath.join(account.home, ".cache"), "uv")
    if not _is_dir(look, path):
        return None
    variable = "XDG_CACHE_HOME" if cache_home else None
    return path, CacheSource("default", account.name, variable=variable), False


def _setting(
    look: Look, account: Account, file: str, keys: tuple[str, ...], skipped: list[Skipped]
) -> tuple[bool, Optional[str]]:
    """Whether a config file is there, as the account reads it, and uv's cache-dir in it."""
    try:
        data = look.read(account, file)
    except readas.Unreadable:
        return True, None  # there, and uv, run as the account, cannot read it either
    except OSError as exc:
        skipped.append(Skipped(file, f"not read: {exc}"))
        return True, None
    return data is not None, tomlfile.text(tomlfile.loads(data), *keys) or None


def _xdg(env: Mapping[str, str], name: str) -> Optional[str]:
    """An XDG base directory variable, when set to an absolute path (else uv ignores it)."""
    value = env.get(name, "")
    return posixpath.normpath(value) if posixpath.isabs(value) else None


def _config_dirs(env: Mapping[str, str]) -> list[str]:
    """The system config directories uv looks in before /etc/uv: $XDG_CONFIG_DIRS, or /etc/xdg."""
    dirs = [posixpath.normpath(d) for d in env.get("XDG_CONFIG_DIRS", "").split(":")]
    return [d for d in dirs if posixpath.isabs(d)] or ["/etc/xdg"]


def _is_dir(look: Look, path: str) -> bool:
    """Whether a machine path is a directory (a link to one is not followed)."""
    host = look.machine.host_path(path)
    return os.path.isdir(host) and not os.path.islink(host)
