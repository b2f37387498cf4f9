"""Which environments are in use, which pips run, and so which caches are busy: one pass over
the process table, every process looked up in an index of prefixes (never a loop per environment).

A process runs from an environment when (strongest first) the script it runs is a console script
whose shebang names the environment's interpreter, its argv[0] lies under the prefix (joined to
its working directory when relative, normalised without resolving links: in a venv made with
links, the executable is the base interpreter), its executable lies under the prefix (copied
interpreters, conda), ``$VIRTUAL_ENV`` or ``$CONDA_PREFIX`` names the prefix (an activated shell
and everything started from it), or it has an extension module or libpython of the prefix
mapped in. An interpreter is active when a process runs it or an active venv is built on it.

What could not be read is not idle: an account's processes that could not be read make that
account's environments "possibly active" (``None``), with the reason (:mod:`doubt`).
"""

from __future__ import annotations

import os
import posixpath
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Callable, Optional

from fleetcache import safefs
from fleetcache.activity import commands
from fleetcache.activity import doubt as doubt_mod
from fleetcache.activity.processes import Proc, Snapshot
from fleetcache.activity.view import View
from fleetcache.machine import Machine
from fleetcache.model import (
    CACHE_COMMANDS,
    Account,
    AccountCaches,
    Activity,
    Environment,
    PipRun,
    ProcessUse,
)

# resolves an account's caches: (account, site prefix, environment variables, working directory)
Resolver = Callable[
    [Account, Optional[str], Optional[Mapping[str, str]], Optional[str]], AccountCaches
]
SHEBANG_BYTES = 256


class Index:
    """Environments by prefix (the deepest one containing a path wins), and the machine's
    system interpreters by their executable, as written and as the kernel resolves it."""

    def __init__(self, machine: Machine, envs: Sequence[Environment]) -> None:
        self.machine = machine
        self.by_prefix: dict[str, Environment] = {}
        self.system: dict[str, Environment] = {}  # by machine path
        self.system_host: dict[str, Environment] = {}  # by the host path the kernel resolves
        for env in envs:
            if not env.exists or env.kind == "unknown":
                continue
            if env.kind == "system":
                if env.interpreter:
                    self.system[env.interpreter] = env
                    self.system_host[self._real(env.interpreter)] = env
                continue
            self.by_prefix[posixpath.normpath(env.prefix)] = env

    def containing(self, path: Optional[str]) -> Optional[Environment]:
        """The environment whose prefix holds ``path`` (a machine path), if any."""
        if not path or not path.startswith("/"):
            return None
        here = posixpath.normpath(path)
        while True:
            env = self.by_prefix.get(here)
            if env is not None:
                return env
            parent = posixpath.dirname(here)
            if parent == here:
                return None
            here = parent

    def base_of(self, env: Environment) -> Optional[Environment]:
        """The interpreter an environment was built on, when discovery knows it."""
        base = env.base_interpreter
        if not base:
            return None
        found = self.system.get(base) or self.containing(base)
        if found is None and self.system and base.startswith("/"):
            found = self.system_host.get(self._real(base))
        return found

    def _real(self, machine_path: str) -> str:
        """Where the kernel resolves a machine path on this host (links followed)."""
        try:
            return os.path.realpath(self.machine.host_path(machine_path))
        except (OSError, ValueError):
            return ""

    def resolves_to(self, machine_path: str, host_exe: str) -> bool:
        """Whether a machine path resolves to this executable of a process."""
        return self._real(machine_path) == host_exe


@dataclass
class _Uses:
    """What one process makes active, in the order the signals were found."""

    by_key: dict[str, tuple[Environment, str]] = field(default_factory=dict)

    def add(self, env: Optional[Environment], why: str) -> None:
        if env is not None and env.key not in self.by_key:
            self.by_key[env.key] = (env, why)


def _shebang(view: View, proc: Proc, anchor: int) -> Optional[tuple[str, str]]:
    """``(script, interpreter)`` when a Python runs a script whose first line names an
    interpreter. The script is opened like every file of the machine (component by component,
    links only when root or the process's account owns them, inside the root) and only when it
    is a regular file of root or that account: never a device, FIFO or another's file."""
    argv = proc.argv
    if not argv or not commands.is_python(argv[0]) or proc.uid is None:
        return None
    at = commands.script_of(argv)
    if at is None:
        return None
    script = argv[at]
    if not script.startswith("/"):
        if not proc.cwd:
            return None
        script = posixpath.join(proc.cwd, script)
    where = view.path(posixpath.normpath(script))
    if where is None:
        return None
    trusted = {0, proc.uid}
    try:
        opened = safefs.open_path(
            anchor, where, trusted_links=trusted, follow_last=True, directory=False
        )
    except safefs.UnsafePath:
        return None
    try:
        if opened.st.st_uid not in trusted:
            return None
        head = os.read(opened.fd, SHEBANG_BYTES)
    except OSError:
        return None
    finally:
        os.close(opened.fd)
    line = head[2:].split(b"\n", 1)[0]
    if not head.startswith(b"#!") or b"\0" in line:
        return None
    words = os.fsdecode(line).split()
    interpreter = view.path(words[0]) if words else None
    return None if interpreter is None else (where, interpreter)


def _environments_of(
    proc: Proc, view: View, index: Index, anchor: int
) -> tuple[_Uses, Optional[Environment]]:
    """Every environment the process runs from, with why; and the one it runs (its program)."""
    uses = _Uses()
    program_host, _ = view.program(proc)
    program = view.path(program_host)
    exe = view.path(proc.exe)
    got = _shebang(view, proc, anchor)
    if got is not None:
        script, interpreter = got
        env = index.containing(interpreter)
        # the kernel put the shebang's interpreter in argv[0]; or it was found on $PATH and
        # the executable is what the shebang's interpreter resolves to
        same = index.containing(program) is env or (
            program_host is None
            and proc.exe is not None
            and index.resolves_to(interpreter, proc.exe)
        )
        if env is not None and same:
            uses.add(env, f"console script {script}")
    uses.add(index.containing(program), f"runs {program}")
    environ = view.environ(proc) or {}
    for name in ("VIRTUAL_ENV", "CONDA_PREFIX"):
        value = environ.get(name)
        if value:
            found = index.by_prefix.get(posixpath.normpath(value))
            uses.add(found, f"${name} in its environment")
    _add_bases(uses, index)
    uses.add(index.containing(exe), f"executable {exe}")
    runs = index.containing(program) or index.containing(exe)
    for mapped in sorted(m for m in proc.maps or () if "python" in m):
        path = view.path(mapped)
        uses.add(index.containing(path), f"has {path} loaded")
    _add_bases(uses, index)
    # the interpreter it runs directly, when that is a system one
    direct = index.system_host.get(proc.exe or "") or index.system.get(program or "")
    if direct is not None:
        uses.add(direct, f"runs {exe or program or proc.exe}")
        runs = runs or direct
    return uses, runs


def _pip_call(proc: Proc) -> Optional[commands.PipCall]:
    """The pip a process runs, by its command line; a process named otherwise (``exec -a``, a
    copied interpreter) counts as a Python when the kernel shows one: its executable's name or
    the modules it has mapped."""
    argv = proc.argv or ()
    call = commands.pip_call(argv)
    if call is None and any("pip" in word for word in argv[1:]):
        python = commands.is_python(proc.exe or "") or any("python" in m for m in proc.maps or ())
        call = commands.pip_call(argv, python) if python else None
    return call


def _add_bases(uses: _Uses, index: Index) -> None:
    """The interpreters the environments a process uses are built on are in use too."""
    for env, _why in list(uses.by_key.values()):
        base = index.base_of(env)
        if base is not None:
            uses.add(base, f"runs {env.prefix}, built on it")


@dataclass
class Result:
    """The activity check's answer."""

    environments: list[Environment]
    activity: Activity
    busy: dict[str, list[ProcessUse]]  # cache path -> what makes it busy
    pip_caches: list[tuple[PipRun, str]]  # (pip, a cache it uses) for caches not yet known


def check(
    machine: Machine,
    snap: Snapshot,
    envs: Sequence[Environment],
    every: Sequence[Account],
    resolved: Sequence[AccountCaches],
    resolve: Resolver,
    anchor: int,
    linux: bool = True,
    envs_known: bool = True,
) -> Result:
    """Mark each environment active or not, find the running pips, and what makes caches busy.
    ``anchor`` is the machine's root directory, opened: scripts are read through it.
    ``envs_known``: False when ``envs`` are only those processes run from (``--no-envs``)."""
    view = View(machine)
    index = Index(machine, envs)
    names = {a.uid: a.name for a in every}
    accounts = {a.uid: a for a in every}
    by_uid = {ac.account.uid: ac for ac in resolved}
    activity: dict[str, list[ProcessUse]] = {}
    unreadable: dict[Optional[int], list[doubt_mod.Doubt]] = {}
    pips: list[PipRun] = []
    examined = 0
    for proc in snap.procs:
        if not view.belongs(proc):
            continue
        examined += 1
        if commands.is_fleetcache(proc.argv):
            continue  # another fleetcache run: it counts by what it holds (holders), nothing else
        user = names.get(proc.uid) if proc.uid is not None else None
        if user is None and proc.uid is not None:
            user = str(proc.uid)
        uses, runs = _environments_of(proc, view, index, anchor)
        call = _pip_call(proc)
        command = commands.shown(proc.argv) if uses.by_key or call is not None else ""
        for key, (_env, why) in uses.by_key.items():
            activity.setdefault(key, []).append(ProcessUse(proc.pid, proc.uid, user, command, why))
        doubt = doubt_mod.doubt(proc, call, view, linux)
        if doubt is not None:
            unreadable.setdefault(proc.uid, []).append(doubt)
        if call is not None:
            pips.append(_pip(proc, call, runs, view, user, command, accounts, resolve))
    doubt_mod.possibly(activity, unreadable, envs, names)
    checked = [
        replace(e, activity=tuple(activity.get(e.key, ())), activity_checked=True) for e in envs
    ]
    busy = _busy(checked, pips, by_uid, names)
    if not envs_known:
        doubt_mod.possibly_busy(busy, unreadable, by_uid, names)
    known = {p for ac in resolved for p in ac.cache_paths} | {
        p for e in checked for p in e.cache_paths
    }
    extra = [(pip, path) for pip in pips for path in pip.caches if path not in known]
    summary = Activity(
        processes=snap.seen,
        examined=examined,
        unreadable=sum(len(v) for v in unreadable.values()),
        pips=tuple(pips),
    )
    return Result(checked, summary, busy, extra)


def _pip(
    proc: Proc,
    call: commands.PipCall,
    runs: Optional[Environment],
    view: View,
    user: Optional[str],
    command: str,
    accounts: Mapping[int, Account],
    resolve: Resolver,
) -> PipRun:
    """A running pip and the caches it uses: its command line's ``--cache-dir``, else what its
    environment and config files give for its command, else the account's settings."""
    sub = call.subcommand
    environ = view.environ(proc)
    home = (environ or {}).get("HOME")
    account = accounts.get(proc.uid) if proc.uid is not None else None
    if account is None:
        uid = -1 if proc.uid is None else proc.uid
        account = Account(user or str(uid), uid, uid, home or "/")
    prefix = None if runs is None or runs.kind == "system" else runs.prefix
    given, path = call.cache_option()
    if given and path is None:
        how = "--no-cache-dir on its command line"
        return PipRun(proc.pid, proc.uid, user, command, sub, prefix, (), how)
    if given and path is not None:
        where = _cache_dir(path, proc, view, account)
        if where is not None:
            how = "--cache-dir on its command line"
            return PipRun(proc.pid, proc.uid, user, command, sub, prefix, (where,), how)
    if sub is not None and sub not in CACHE_COMMANDS:
        how = f"pip {sub} does not use a cache"
        return PipRun(proc.pid, proc.uid, user, command, sub, prefix, (), how)
    ac = resolve(account, prefix, environ, view.path(proc.cwd))
    caches = tuple(
        dict.fromkeys(
            u.path
            for u in ac.uses
            if u.path is not None and (sub is None or sub in u.source.commands)
        )
    )
    if given:  # a --cache-dir fleetcache could not place: what it would use else, maybe
        how = "--cache-dir on its command line could not be placed: its other settings assumed"
        return PipRun(proc.pid, proc.uid, user, command, sub, prefix, caches, how, certain=False)
    if environ is None:
        how = "its environment could not be read: the account's settings assumed"
        return PipRun(proc.pid, proc.uid, user, command, sub, prefix, caches, how, certain=False)
    sources = {u.source.describe() for u in ac.uses if u.path in caches}
    how = "its environment and config: " + "; ".join(sorted(sources)) if sources else "none"
    return PipRun(proc.pid, proc.uid, user, command, sub, prefix, caches, how)


def _cache_dir(path: str, proc: Proc, view: View, account: Account) -> Optional[str]:
    """A ``--cache-dir`` value as a machine path: ``~`` and a relative path resolved as that
    pip did (its $HOME, its working directory); None when that cannot be known."""
    if path.startswith("~"):
        if path[1:2] not in ("", "/"):
            return None  # ~name: another account's home, as pip would expand it; not guessed
        home = (proc.environ or {}).get("HOME") or view.host(account.home)
        if not home:
            return None
        path = home + path[1:]
    if not path.startswith("/"):
        if not proc.cwd:
            return None
        path = posixpath.join(proc.cwd, path)
    return view.path(posixpath.normpath(path))


def caches_for(
    env: Environment, uid: Optional[int], by_uid: Mapping[int, AccountCaches]
) -> tuple[str, ...]:
    """The caches a process of ``uid`` running from ``env`` (an account's own, not a system-wide
    one) would use: the environment's own (its owner's settings and its site config); for
    another account's process, also that account's own."""
    own = by_uid.get(uid) if uid is not None else None
    if uid is None or uid == env.owner_uid or own is None:
        return env.cache_paths
    return tuple(dict.fromkeys((*env.cache_paths, *own.cache_paths)))


def _busy(
    envs: Sequence[Environment],
    pips: Sequence[PipRun],
    by_uid: Mapping[int, AccountCaches],
    names: Mapping[int, str],
) -> dict[str, list[ProcessUse]]:
    """Per cache path, the processes that make it busy (or possibly busy). A system-wide
    interpreter or environment in use makes no cache busy by itself (a service that never runs
    pip would hold its account's cache for ever): its pips do, as any pip, and so does any of
    its processes sitting in a cache or holding one of its files (:mod:`holders`)."""
    busy: dict[str, list[ProcessUse]] = {}
    for env in envs:
        if env.shared:
            continue
        for use in env.activity:
            reason = replace(use, environment=env.prefix)
            if use.why.startswith("runs ") and use.why.endswith(", built on it"):
                continue  # the environment built on it already counts this process
            for path in caches_for(env, use.uid, by_uid):
                busy.setdefault(path, []).append(reason)
    for pip in pips:
        what = f"pip {pip.subcommand}" if pip.subcommand else "pip"
        why = f"{what} is running ({pip.cache_from})"
        for path in pip.caches:
            busy.setdefault(path, []).append(
                ProcessUse(
                    pip.pid, pip.uid, pip.user, pip.command, why, pip.certain, pip.environment
                )
            )
    return {path: _once(uses) for path, uses in busy.items()}


def _once(uses: Sequence[ProcessUse]) -> list[ProcessUse]:
    """Each process once per cache (one that runs several of the environments using it, or a
    doubt counted for each of its account's environments): its first certain reason, else its
    first reason."""
    kept: dict[object, ProcessUse] = {}
    for use in uses:
        key = use.pid if use.pid is not None else use.why
        if key not in kept or (use.certain and not kept[key].certain):
            kept[key] = use
    return list(kept.values())
