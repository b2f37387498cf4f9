"""Which caches an account's pip uses: pip 26's config files, sections and variables, per account.

Mirrors ``pip._internal.configuration`` and ``pip._internal.cli.parser``: files load in override order
(global, user, site, ``PIP_CONFIG_FILE``), a later file's value replaces an earlier one (even an empty
one, which then counts as unset), ``[global]`` loses to the command's own section, ``PIP_*`` variables
win over both, and ``no-cache-dir`` with any valid boolean disables the cache whatever else is set.
"""

from __future__ import annotations

import configparser
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Callable, Optional

from fleetcache.machine import Machine
from fleetcache.model import CACHE_COMMANDS, Account, AccountCaches, CacheSource, CacheUse, Skipped

TRUE_WORDS = ("y", "yes", "t", "true", "on", "1")
FALSE_WORDS = ("n", "no", "f", "false", "off", "0")
ENV_SECTION = ":env:"

# Reads a machine path as the given account's pip would; None when the account cannot see it.
# Raises PermissionError when it sees the file but may not read it (pip passes it over), OSError
# when it cannot be read at all.
ConfigReader = Callable[[str, Account], Optional[bytes]]


class ConfigProblem(Exception):
    """A config file or value that makes pip stop before it touches any cache."""


@dataclass(frozen=True)
class ConfigFiles:
    """The config files pip reads for an account, in load order, by kind."""

    global_files: tuple[str, ...]
    user_files: tuple[str, ...]
    site_files: tuple[str, ...]
    env_file: Optional[str]

    def levels(self) -> dict[str, str]:
        """Each file and its level (global, user, site, PIP_CONFIG_FILE); a file named at two
        levels keeps its first, as pip keeps its first place."""
        out: dict[str, str] = {}
        for level, paths in (
            ("global", self.global_files),
            ("user", self.user_files),
            ("site", self.site_files),
            ("PIP_CONFIG_FILE", (self.env_file,) if self.env_file else ()),
        ):
            for path in paths:
                out.setdefault(path, level)
        return out


def _normalize(name: str) -> str:
    name = name.lower().replace("_", "-")
    return name[2:] if name.startswith("--") else name


class _Parser(configparser.RawConfigParser):
    def optionxform(self, optionstr: str) -> str:
        return _normalize(optionstr)


def strtobool(value: str) -> bool:
    """pip's strtobool: the words pip accepts as booleans; anything else is an error."""
    lowered = value.lower()
    if lowered in TRUE_WORDS:
        return True
    if lowered in FALSE_WORDS:
        return False
    raise ValueError(value)


def home_for(account: Account, machine: Machine, env: Mapping[str, str]) -> str:
    """The home pip expands ``~`` to: $HOME for ourselves, the account's home for others."""
    if env.get("HOME") and machine.platform != "win32":
        return env["HOME"]
    if machine.platform == "win32" and env.get("USERPROFILE"):
        return env["USERPROFILE"]
    return account.home


def default_cache_dir(
    home: str,
    machine: Machine,
    env: Mapping[str, str],
    app: str = "pip",
    author: Optional[str] = None,
) -> tuple[str, str | None]:
    """platformdirs' ``user_cache_dir(app, appauthor=author or False)`` for this home (pip's, or
    another tool's), and the variable it came from."""
    p = machine.pathmod
    if machine.platform == "darwin":
        return p.join(home, "Library", "Caches", app), None
    if machine.platform == "win32":
        parts = (author, app, "Cache") if author else (app, "Cache")
        local = env.get("LOCALAPPDATA", "").strip()
        if local:
            return p.join(local, *parts), "LOCALAPPDATA"
        return p.join(home, "AppData", "Local", *parts), None
    xdg = env.get("XDG_CACHE_HOME", "").strip()
    if xdg:
        return p.join(xdg, app), "XDG_CACHE_HOME"
    return p.join(home, ".cache", app), None


def config_files(
    home: str,
    machine: Machine,
    env: Mapping[str, str],
    is_dir: Callable[[str], bool],
    site_prefix: Optional[str] = None,
) -> ConfigFiles:
    """The files pip 26 would load, per ``pip._internal.configuration.get_configuration_files``."""
    p = machine.pathmod
    if machine.platform == "win32":
        basename = "pip.ini"
        program_data = env.get("PROGRAMDATA", "C:\\ProgramData")
        global_files: tuple[str, ...] = (p.join(program_data, "pip", basename),)
        legacy = p.join(home, "pip", basename)
        appdata = env.get("APPDATA", "").strip() or p.join(home, "AppData", "Roaming")
        new = p.join(appdata, "pip", basename)
    else:
        basename = "pip.conf"
        if machine.platform == "darwin":
            global_files = (p.join("/Library/Application Support/pip", basename),)
            support = p.join(home, "Library", "Application Support", "pip")
            new_dir = support if is_dir(support) else p.join(home, ".config", "pip")
        else:
            dirs = env.get("XDG_CONFIG_DIRS", "").strip() or "/etc/xdg"
            global_files = (
                *(p.join(d, "pip", basename) for d in dirs.split(":")),
                p.join("/etc", basename),
            )
            config_home = env.get("XDG_CONFIG_HOME", "").strip() or p.join(home, ".config")
            new_dir = p.join(config_home, "pip")
        legacy = p.join(home, ".pip", basename)
        new = p.join(new_dir, basename)
    site = (p.join(site_prefix, basename),) if site_prefix else ()
    return ConfigFiles(global_files, (legacy, new), site, env.get("PIP_CONFIG_FILE"))


def parse_config(data: bytes, path: str) -> dict[str, str]:
    """``section.key -> value`` as pip stores it; never quotes file content in an error."""
    parser = _Parser()
    try:
        parser.read_string(data.decode("utf-8"), source=path)
    except UnicodeDecodeError:
        raise ConfigProblem(f"{path} contains invalid utf-8 characters") from None
    except configparser.Error as exc:
        line = getattr(exc, "lineno", None)
        if line is None and isinstance(exc, configparser.ParsingError) and exc.errors:
            line = exc.errors[0][0]
        where = f" (line {line})" if line else ""
        raise ConfigProblem(f"{path} is not a valid pip config file{where}") from None
    values: dict[str, str] = {}
    for section in parser.sections():
        for key, value in parser.items(section):
            values[f"{section}.{_normalize(key)}"] = value
    return values


def expand_user(
    value: str, home: str, homes: Callable[[str], Optional[str]], machine: Machine
) -> str:
    """``os.path.expanduser`` as pip would run it for this account (``~`` and ``~name``)."""
    if not value.startswith("~"):
        return value
    p = machine.pathmod
    seps = "/\\" if machine.platform == "win32" else "/"
    end = next((i for i, c in enumerate(value) if c in seps), len(value))
    name = value[1:end]
    base = home if not name else homes(name)
    if base is None:
        return value
    rest = value[end:].lstrip(seps)
    return p.join(base, rest) if rest else base


@dataclass
class _Setting:
    value: str
    source: CacheSource


def resolve(
    account: Account,
    machine: Machine,
    read: ConfigReader,
    homes: Callable[[str], Optional[str]],
    is_dir: Callable[[str], bool],
    site_prefix: Optional[str] = None,
    env: Optional[Mapping[str, str]] = None,
    cwd: Optional[str] = None,
) -> AccountCaches:
    """Every cache the account's pip uses, per command, with the source of each decision
    (under ``env``, a process's environment, when given; else the account's own). A relative
    path is resolved against ``cwd``, a running pip's working directory, as pip resolves it;
    without one it is reported as depending on the working directory."""
    env = machine.env_for(account.uid) if env is None else env
    home = home_for(account, machine, env)
    problems: list[Skipped] = []
    env = _placed_config_file(env, machine, cwd, problems)
    files = config_files(home, machine, env, is_dir, site_prefix)
    loaded: dict[str, dict[str, str]] = {}
    stop_all: Optional[str] = None
    for path in _files_to_load(files, machine, env, account, read):
        got = _read(path, account, read, problems)
        if got is None:
            continue
        try:
            loaded[path] = parse_config(got, path)
        except ConfigProblem as exc:
            # pip stops at this file; the caches the others name are still listed, marked
            stop_all = stop_all or str(exc)
    if stop_all is not None:
        problems.append(
            Skipped(account.home, f"every pip command stops for {account.name}: {stop_all}")
        )
    decisions = _decisions(_sections(loaded, env, files.levels()), account, problems)
    default, variable = default_cache_dir(home, machine, env)
    grouped: dict[tuple[Optional[str], CacheSource], list[str]] = {}
    for cmd, (decision, halt) in decisions.items():
        halt = stop_all or halt
        if decision is None:
            source = CacheSource("default", account.name, variable=variable, stopped=halt)
            value, where = default, _placed(default, machine, cwd)
        elif decision.value == "":
            grouped.setdefault((None, replace(decision.source, stopped=halt)), []).append(cmd)
            continue
        else:
            source = replace(decision.source, stopped=halt)
            value = decision.value
            where = _placed(expand_user(value, home, homes, machine), machine, cwd)
        if where is None:
            problems.append(_relative(account, value, source))
            continue
        grouped.setdefault((where, source), []).append(cmd)
    uses = tuple(
        CacheUse(path, replace(source, commands=tuple(cmds)))
        for (path, source), cmds in grouped.items()
    )
    return AccountCaches(account, uses, tuple(loaded), tuple(dict.fromkeys(problems)))


def _decisions(
    sections: Mapping[str, Mapping[str, _Setting]], account: Account, problems: list[Skipped]
) -> dict[str, tuple[Optional[_Setting], Optional[str]]]:
    """Per command, the setting that decides its cache, and why pip stops when it does (the
    setting is then the one pip would use once the config is mended)."""
    decisions: dict[str, tuple[Optional[_Setting], Optional[str]]] = {}
    stopped: dict[str, list[str]] = {}
    for cmd in CACHE_COMMANDS:
        try:
            decisions[cmd] = (_decide(cmd, sections, account), None)
        except ConfigProblem as exc:
            stopped.setdefault(str(exc), []).append(cmd)
            decisions[cmd] = (_decide(cmd, sections, account, lenient=True), str(exc))
    for reason, cmds in stopped.items():
        which = (
            "every pip command" if len(cmds) == len(CACHE_COMMANDS) else "pip " + ", ".join(cmds)
        )
        problems.append(Skipped(account.home, f"{which} stops for {account.name}: {reason}"))
    return decisions


def _placed(path: str, machine: Machine, cwd: Optional[str]) -> Optional[str]:
    """A path as pip would open it: relative ones joined to the working directory, when known."""
    p = machine.pathmod
    if not p.isabs(path):
        if cwd is None:
            return None
        path = p.join(cwd, path)
    return str(p.normpath(path))


def _relative(account: Account, value: str, source: CacheSource) -> Skipped:
    return Skipped(
        value,
        f"{account.name}: cache dir {value!r} from {source.describe()} is relative: pip resolves "
        "it against its working directory (a running pip's is used; none runs now)",
    )


def _placed_config_file(
    env: Mapping[str, str], machine: Machine, cwd: Optional[str], problems: list[Skipped]
) -> Mapping[str, str]:
    """The variables with a relative ``PIP_CONFIG_FILE`` placed in the working directory; not
    read (and said so) when that is not known."""
    named = env.get("PIP_CONFIG_FILE")
    if not named or named in (os.devnull, "nul") or machine.pathmod.isabs(named):
        return env
    placed = _placed(named, machine, cwd)
    if placed is None:
        problems.append(
            Skipped(named, "PIP_CONFIG_FILE is relative: pip reads it from its working directory")
        )
        return {k: v for k, v in env.items() if k != "PIP_CONFIG_FILE"}
    return {**env, "PIP_CONFIG_FILE": placed}


def _files_to_load(
    files: ConfigFiles,
    machine: Machine,
    env: Mapping[str, str],
    account: Account,
    read: ConfigReader,
) -> list[str]:
    env_file = files.env_file
    if env_file is not None and env_file in (os.devnull, "nul"):
        return []
    load_user = True
    if env_file:
        try:
            load_user = read(env_file, account) is None
        except OSError:
            load_user = False
    ordered = [*files.global_files]
    if load_user:
        ordered.extend(files.user_files)
    ordered.extend(files.site_files)
    if env_file:
        ordered.append(env_file)
    # pip keys its loaded files by name: a file named twice keeps its first place.
    return list(dict.fromkeys(ordered))


def _read(
    path: str, account: Account, read: ConfigReader, problems: list[Skipped]
) -> Optional[bytes]:
    try:
        return read(path, account)
    except PermissionError:
        return None  # pip, running as the account, silently passes it over
    except OSError as exc:
        problems.append(Skipped(path, f"config file not read: {exc}"))
        return None


def _sections(
    loaded: Mapping[str, Mapping[str, str]],
    env: Mapping[str, str],
    levels: Mapping[str, str],
) -> dict[str, dict[str, _Setting]]:
    """section -> key -> last setting, over every file in order, then the PIP_* variables."""
    sections: dict[str, dict[str, _Setting]] = {}
    for path, values in loaded.items():
        for section_key, value in values.items():
            section, key = section_key.split(".", 1)
            source = CacheSource("config", file=path, section=section, level=levels.get(path))
            sections.setdefault(section, {})[key] = _Setting(value, source)
    for name, value in env.items():
        if name.startswith("PIP_") and name[4:].lower() not in ("version", "help"):
            source = CacheSource("env", variable=name)
            sections.setdefault(ENV_SECTION, {})[_normalize(name[4:])] = _Setting(value, source)
    return sections


def _decide(
    command: str,
    sections: Mapping[str, Mapping[str, _Setting]],
    account: Account,
    lenient: bool = False,
) -> Optional[_Setting]:
    """The setting that decides ``command``'s cache: a cache-dir, a no-cache-dir (value ""), or None.
    ``lenient``: a no-cache-dir that is no boolean (pip stops) is passed over, to name the cache
    that pip would use once the value is mended."""
    cache_dir: Optional[_Setting] = None
    disabled: Optional[_Setting] = None
    for section in ("global", command, ENV_SECTION):
        for key, setting in sections.get(section, {}).items():
            if not setting.value:
                continue
            if key == "cache-dir":
                cache_dir = setting
            elif key == "no-cache-dir":
                try:
                    strtobool(setting.value)
                except ValueError:
                    if lenient:
                        continue
                    raise ConfigProblem(
                        f"{setting.source.describe()}: no-cache-dir is not a boolean"
                    ) from None
                disabled = setting
    chosen = disabled or cache_dir
    if chosen is None:
        return None
    source = CacheSource(
        chosen.source.kind,
        account.name,
        file=chosen.source.file,
        section=chosen.source.section,
        variable=chosen.source.variable,
        level=chosen.source.level,
    )
    return _Setting("" if chosen is disabled else chosen.value, source)


def describe_disabled(uses: Sequence[CacheUse]) -> list[str]:
    """Phrases for the commands whose cache is disabled, e.g. ``install by ~/.pip/pip.conf [install]``."""
    return [
        f"{u.source.commands_phrase()} by {u.source.describe()}" for u in uses if u.path is None
    ]
