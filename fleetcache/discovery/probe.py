"""Asking an interpreter its version, only when its files cannot tell, and never as root.

Running an interpreter runs code its owner (or anyone who may write its site-packages) put there,
so a probe runs as the environment's owner (``nobody`` for a root-owned one), in a child dropped
to that account that can gain no privilege, with ``-I -S`` (no ``.pth`` file, no
``sitecustomize``, no user site, no variable of ours), an empty environment, an empty working
directory, no stdin, a timeout that kills its whole process group, and a bounded answer.
Unprivileged, fleetcache probes only its own and root's environments, as itself. The
interpreters of a ``--root`` tree are never run (they belong to another system).
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import select
import signal
import stat
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Optional, Union

from fleetcache import dropped
from fleetcache.activity import own
from fleetcache.dropped import Identity
from fleetcache.machine import Machine
from fleetcache.model import Account, Environment

TIMEOUT_SECONDS = 10.0
MAX_ANSWER = 4096
SCRIPT = own.PROBE_ARGS[-1]  # what the interpreter runs; the snapshot knows its probes by it
ANSWER = re.compile(rb"(\d+) (\d+) (\d+) (alpha|beta|candidate|final) (\d+)\n")
LEVELS = {b"alpha": "a", b"beta": "b", b"candidate": "rc", b"final": ""}
ENVIRONMENT = {"PATH": os.defpath, "LC_ALL": "C"}


@dataclass(frozen=True)
class Prober:
    """Runs interpreters for the versions their files do not give."""

    machine: Machine
    accounts: Sequence[Account]

    def complete(self, env: Environment) -> Environment:
        """The environment, its version filled in by a probe when that is needed and safe."""
        if not _needs_probe(env) or env.interpreter is None:
            return env
        who = self.runner(env)
        if isinstance(who, str):
            if env.python_version is None:
                return replace(env, problems=(*env.problems, f"version unknown: {who}"))
            return env
        version, why = ask(env.interpreter, who)
        if version is None:
            problem = f"version unknown: {why or f'{env.interpreter} did not answer'}"
            return replace(env, problems=(*env.problems, problem))
        return replace(env, python_version=version, version_from="probe")

    def runner(self, env: Environment) -> Union[Identity, str]:
        """Who runs this environment's interpreter, or why nobody may."""
        if not self.machine.is_host:
            return "interpreters under --root are not run"
        if not hasattr(os, "fork"):
            return "not run: probes need a POSIX host"
        owner = env.owner_uid
        if owner is None:
            return "not run: its owner is unknown"
        euid = os.geteuid()
        if euid == 0:
            if owner == 0:
                return dropped.nobody(self.machine, self.accounts)
            return dropped.identities(self.machine, self.accounts)(owner)
        if owner in (0, euid):  # unprivileged: as ourselves, who may run them anyway
            return Identity(euid, os.getegid(), tuple(os.getgroups()))
        return f"not run: its prefix belongs to uid {owner} (only root runs it as its owner)"


def ask(interpreter: str, who: Identity) -> tuple[Optional[str], Optional[str]]:
    """The interpreter's version (``3.11.7``, ``3.13.0rc1``) run as ``who``; else None and why
    (None: it did not answer)."""
    if who.uid == 0:
        return None, "not run: never as root"
    cwd = _empty_dir()
    if cwd is None:
        return None, "not run: no empty directory to run it in"
    try:
        pid, answers = dropped.start(
            who, lambda out: _run(interpreter, cwd, out), keep=(cwd,), refused="not run"
        )
    except OSError as exc:
        os.close(cwd)
        return None, f"not run: no process to run it in ({exc.strerror})"
    try:
        got = _answer(answers, time.monotonic() + TIMEOUT_SECONDS)
    finally:
        os.close(answers)
        os.close(cwd)
        with contextlib.suppress(OSError):
            os.killpg(pid, signal.SIGKILL)  # whatever it started goes with it
        dropped.reap(pid)
    return _parse(got)


def _empty_dir() -> Optional[int]:
    """A new empty directory every account may enter and none may write, opened and removed at
    once: the probe runs in a directory that no longer has a name (nothing can be put in it)."""
    # root's in /tmp (sticky: nobody can swap it), never where a caller's TMPDIR points
    try:
        path = tempfile.mkdtemp(
            prefix="fleetcache-probe-", dir="/tmp" if os.geteuid() == 0 else None
        )
    except OSError:
        return None
    try:
        fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC)
    except OSError:
        return None
    try:
        st = os.fstat(fd)
        if st.st_uid != os.geteuid() or stat.S_IMODE(st.st_mode) != 0o700 or st.st_nlink != 2:
            raise OSError("not the directory just made")
        os.fchmod(fd, 0o555)  # made here: ours to chmod
        os.rmdir(path)
    except OSError:
        os.close(fd)
        return None
    return fd


def _run(interpreter: str, cwd: int, out: int) -> None:
    """The child's work, dropped: become a session of its own, then exec the interpreter."""
    os.setsid()
    os.fchdir(cwd)
    dropped.no_new_privileges()
    try:
        os.dup2(out, 1)
        os.execve(interpreter, [interpreter, *own.PROBE_ARGS], ENVIRONMENT)
    except OSError as exc:
        why = f"not run: {interpreter} cannot be run as uid {os.getuid()}: {exc.strerror}"
        dropped.write_all(out, json.dumps(["error", why]).encode() + b"\n")
        os._exit(1)


def _answer(fd: int, deadline: float) -> bytes:
    """What the probe wrote, up to MAX_ANSWER bytes, by the deadline."""
    got = b""
    while len(got) < MAX_ANSWER:
        left = deadline - time.monotonic()
        if left <= 0 or not select.select([fd], [], [], left)[0]:
            break
        chunk = os.read(fd, MAX_ANSWER - len(got))
        if not chunk:
            break
        got += chunk
    return got


def _parse(got: bytes) -> tuple[Optional[str], Optional[str]]:
    match = ANSWER.fullmatch(got)
    if match is not None:
        major, minor, micro, level, serial = match.groups()
        suffix = LEVELS[level] + (serial.decode() if level != b"final" else "")
        return f"{int(major)}.{int(minor)}.{int(micro)}{suffix}", None
    if got.startswith(b'["error", "not run: '):  # the child could not become the owner
        return None, _error_text(got)
    return None, None


def _error_text(got: bytes) -> Optional[str]:
    try:
        line = json.loads(got.split(b"\n", 1)[0])
    except ValueError:
        return None
    return str(line[1])[:300] if isinstance(line, list) and len(line) == 2 else None


def _needs_probe(env: Environment) -> bool:
    """No version, or only ``X.Y`` from a directory name."""
    return env.exists and (env.python_version is None or env.python_version.count(".") < 2)
