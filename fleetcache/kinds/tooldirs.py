"""What the kinds of the smaller tools (poetry, pdm, pipenv, virtualenv, hatch, pip-tools) share:
an account's cache found as the tool finds it (its variable, then its config file read as the
account, then the XDG default), naming entries, whole-cache plans, and the busy check."""

from __future__ import annotations

import os
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Callable, Optional

from packaging import utils
from packaging.version import InvalidVersion

from fleetcache import dropped, safefs, tomlfile
from fleetcache.clean.plan import CachePlan, Walked
from fleetcache.clean.policy import Policy
from fleetcache.discovery import pipconfig
from fleetcache.discovery.run import Found, in_use
from fleetcache.kinds import tree
from fleetcache.kinds.base import Look, PlanContext
from fleetcache.kinds.tree import Unit, plan_units
from fleetcache.model import Account, CacheLocation, CacheSource, Skipped
from fleetcache.report.entries import EntriesOutcome
from fleetcache.stats.walk import WalkTask

if TYPE_CHECKING:
    from fleetcache.machine import Machine


@dataclass(frozen=True)
class Where:
    """How one tool finds its cache directory."""

    tool: str  # as the sources say it: "poetry"
    variable: str  # the variable that names it, first: POETRY_CACHE_DIR
    default: str  # below the cache home ($XDG_CACHE_HOME, ~/.cache): "pypoetry"
    config: Optional[str] = None  # its config file below the config home: "pypoetry/config.toml"
    keys: tuple[str, ...] = ()  # where in that file: ("cache-dir",), ("dirs", "cache")
    older: Optional[str] = None  # an older release's default below the data home (~/.local/share)
    # platformdirs' appauthor: on Windows a directory above the tool's (None: appauthor=False)
    author: Optional[str] = None
    # the variable that names the config file instead, and the file's name in the directory it
    # names ("": it names the file): ("POETRY_CONFIG_DIR", "config.toml"), ("HATCH_CONFIG", "")
    config_variable: Optional[tuple[str, str]] = None
    roaming: bool = False  # on Windows, its config is in APPDATA (roaming), not LOCALAPPDATA


def variables(where: Where) -> dict[str, str]:
    """The variables of the account's processes the tool reads: its cache's, its config's."""
    named = [where.variable] + ([where.config_variable[0]] if where.config_variable else [])
    return dict.fromkeys(named, "path")


def find(look: Look, kind: str, where: Where) -> tuple[list[CacheLocation], list[Skipped]]:
    """The existing caches the chosen accounts' tool uses: with the account's own environment,
    and with each of its processes' variables (those sources carry the process's pid)."""
    by_path: dict[str, list[CacheSource]] = {}
    owners: dict[str, set[int]] = {}
    skipped: list[Skipped] = []
    for account in look.chosen:
        base = dict(look.machine.env_for(account.uid))
        runs = [(None, base)] + [
            (s.pid, {**base, **s.env}) for s in look.settings.get(account.uid, ())
        ]
        seen: set[tuple[str, CacheSource]] = set()
        for pid, env in runs:
            for path, source in answers(look, account, where, env, skipped):
                if (path, source) in seen or not _is_dir(look, account, path):
                    continue
                seen.add((path, source))
                by_path.setdefault(path, []).append(replace(source, pid=pid))
                owners.setdefault(path, set()).add(account.uid)
    found = [CacheLocation(p, tuple(s), frozenset(owners[p]), kind) for p, s in by_path.items()]
    return found, list(dict.fromkeys(skipped))  # each process may meet the same unreadable file


def answers(
    look: Look, account: Account, where: Where, env: Mapping[str, str], skipped: list[Skipped]
) -> list[tuple[str, CacheSource]]:
    """The cache directory the tool uses with these variables (its variable, its config file,
    its default), and why; and an older release's default, when the tool had one."""
    machine = look.machine
    home = pipconfig.home_for(account, machine, env)
    named = _named(look, account, where, env, home, skipped)
    if named is None:
        path, variable = pipconfig.default_cache_dir(
            home, machine, env, where.default, where.author
        )
        named = (path, CacheSource("default", account.name, variable=variable, tool=where.tool))
    out = [named]
    if where.older is not None and machine.platform not in ("darwin", "win32"):
        p = machine.pathmod
        data = named_dir(machine, env.get("XDG_DATA_HOME"), home) or p.join(home, ".local", "share")
        source = CacheSource("default", account.name, tool=f"{where.tool} (older releases)")
        out.append((p.join(data, where.older), source))
    return out


def _named(
    look: Look,
    account: Account,
    where: Where,
    env: Mapping[str, str],
    home: str,
    skipped: list[Skipped],
) -> Optional[tuple[str, CacheSource]]:
    """The cache directory the tool's variable names, else its config file (None: neither)."""
    machine, user, tool = look.machine, account.name, where.tool
    value = named_dir(machine, env.get(where.variable), home)
    if value is not None:
        return value, CacheSource("env", user, variable=where.variable, tool=tool)
    file = config_file(machine, where, env, home)
    if file is None:
        return None
    table = tomlfile.loads(_read(look, account, file, skipped))
    value = named_dir(machine, tomlfile.text(table, *where.keys), home)
    if value is None:
        return None
    section = ".".join(where.keys[:-1]) or None
    return value, CacheSource("config", user, file=file, section=section, tool=tool)


def config_file(machine: Machine, where: Where, env: Mapping[str, str], home: str) -> Optional[str]:
    """The config file the tool reads: the one its variable names, else the one in its config
    directory (None: the tool has no config file)."""
    p = machine.pathmod
    if where.config is None:
        return None
    if where.config_variable is not None:
        variable, name = where.config_variable
        named = named_dir(machine, env.get(variable), home)
        if named is not None:
            file: str = p.join(named, name) if name else named
            return file
    parts = where.config.split("/")
    if machine.platform == "win32" and where.author:  # platformdirs: author, then app
        parts.insert(0, where.author)
    found: str = p.join(_config_home(machine, where, env, home), *parts)
    return found


def _config_home(machine: Machine, where: Where, env: Mapping[str, str], home: str) -> str:
    """Where platformdirs puts the config directories of the tool's kind, for this home."""
    p = machine.pathmod
    if machine.platform == "win32":
        variable, default = ("APPDATA", "Roaming") if where.roaming else ("LOCALAPPDATA", "Local")
        return env.get(variable, "").strip() or p.join(home, "AppData", default)
    found: str = p.join(home, "Library", "Application Support")
    if machine.platform != "darwin":
        found = named_dir(machine, env.get("XDG_CONFIG_HOME"), home) or p.join(home, ".config")
    return found


def named_dir(machine: Machine, value: Optional[str], home: str) -> Optional[str]:
    """A directory a variable or config value names: ``~`` is the account's home; a relative
    path (relative to a cwd not known) or an empty value names none."""
    p = machine.pathmod
    if not value:
        return None
    if value == "~" or value.startswith(("~/", "~" + p.sep)):
        value = home + value[1:]
    if not p.isabs(value):
        return None
    normed: str = p.normpath(value)
    return normed


def _read(look: Look, account: Account, file: str, skipped: list[Skipped]) -> Optional[bytes]:
    """An account's config file as the account reads it (None: absent; unreadable: skipped)."""
    try:
        return look.read(account, file)
    except OSError as exc:  # readas.Unreadable is one: the account itself may not read it
        skipped.append(Skipped(file, f"config not read: {exc}"))
        return None


def _is_dir(look: Look, account: Account, path: str) -> bool:
    """Whether the account sees a directory there (a cache never made is not listed)."""
    who = dropped.identity(look.machine, account)
    try:
        os.close(look.readers.open_dir(who, path).fd)
    except (OSError, safefs.UnsafePath):
        return False
    return True


def locations(found: Found, kind: str) -> list[CacheLocation]:
    """The caches of ``kind`` that discovery's ``find`` gave."""
    return list(found.kind_caches.get(kind, ()))


busy = in_use  # what sits in a cache or holds a file in it


def dist_of(filename: str) -> tuple[Optional[str], Optional[str]]:
    """The project (PEP 503-normalised) and version a wheel's or sdist's file name says."""
    try:
        if filename.endswith(".whl"):
            name, version, _, _ = utils.parse_wheel_filename(filename)
        else:
            name, version = utils.parse_sdist_filename(filename)
    except (utils.InvalidWheelFilename, utils.InvalidSdistFilename, InvalidVersion):
        return None, None
    return str(name), str(version)


def top_units(walked: Walked, purge_only: Optional[str] = None) -> Iterator[Unit]:
    """Each top directory and file of the cache as one entry (``purge_only``: the kind whose
    cache only --purge cleans: otherwise kept whole, with that reason)."""
    root = walked.dirs.get(())
    if root is None:
        return
    for name in [*root.children, *(f.name for f in root.files)]:
        yield Unit((name,), keep=purge_only)


Plan = Callable[[int, str, int, Policy, float, PlanContext], CachePlan]


def purge_only(kind: str, check: Optional[Callable[[Walked], None]] = None) -> Plan:
    """The plan of a kind whose tool has no finer clean than removing its whole cache;
    ``check`` may refuse the cache from what the walk saw (raises guard.Refused)."""

    def units(walked: Walked, why: Optional[str]) -> Iterator[Unit]:
        if check is not None:
            check(walked)
        return top_units(walked, why)

    def plan(
        cache_fd: int, path: str, uid: int, policy: Policy, now: float, context: PlanContext
    ) -> CachePlan:
        why = None if policy.effective.purge else f"only --purge cleans a {kind} cache"
        return plan_units(cache_fd, path, uid, policy, now, context, lambda w: units(w, why))

    return plan


def entries(
    task: WalkTask, units: Callable[[Walked], Iterable[Unit]], areas: Optional[Sequence[str]]
) -> EntriesOutcome:
    """The units of one cache that have a name, each as an entry (for report --by package)."""

    def named(walked: Walked) -> Iterator[Unit]:
        for unit in units(walked):
            yield replace(unit, what=_file_kind(unit.parts[-1]), how="file name")

    return tree.entries(task, named, areas=areas, unnamed=False)


def _file_kind(name: str) -> str:
    """What an entry named so holds, as report --by package says it."""
    if ".whl" in name or name.endswith("-any"):  # a wheel, or one unpacked (pdm's, virtualenv's)
        return "wheel"
    return "sdist" if name.endswith((".tar.gz", ".zip")) else "file"
