"""Asking an interpreter its version, only when its files cannot tell, and only when that is safe.

Running an interpreter runs whatever its owner put in it (``sitecustomize``, ``.pth`` files), so
fleetcache never runs one that another account could have changed: nothing inside another
account's home, nothing in a prefix another account owns, no binary another account owns, nothing
below a directory others may write. It never runs the interpreters of a ``--root`` tree (they
belong to another system). Probes have a timeout and a
cache (python_discovery's ``DiskCache``) in a directory private to the running account.
"""

from __future__ import annotations

import contextlib
import io
import logging
import os
import stat
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Optional

import platformdirs

from fleetcache.machine import Machine
from fleetcache.model import Account, Environment

TIMEOUT_SECONDS = 10


@dataclass(frozen=True)
class Prober:
    """Runs interpreters for the versions their files do not give."""

    machine: Machine
    accounts: Sequence[Account]
    cache_dir: Optional[str] = None  # None: probes are not cached

    def complete(self, env: Environment) -> Environment:
        """The environment, its version filled in by a probe when that is needed and allowed."""
        if not _needs_probe(env) or env.interpreter is None:
            return env
        refusal = self.refusal(env)
        if refusal is not None:
            if env.python_version is None:
                return replace(env, problems=(*env.problems, f"version unknown: {refusal}"))
            return env
        version = self.run(env.interpreter)
        if version is None:
            problem = f"version unknown: {env.interpreter} did not answer"
            return replace(env, problems=(*env.problems, problem))
        return replace(env, python_version=version, version_from="probe")

    def refusal(self, env: Environment) -> Optional[str]:
        """Why this interpreter may not be run, or None when it may."""
        if not self.machine.is_host:
            return "interpreters under --root are not run"
        assert env.interpreter is not None
        me = self.machine.current_uid
        if env.owner_uid is not None and env.owner_uid not in (0, me):
            # its site-packages (.pth files) would run too, whoever owns the binary
            return f"not run: its prefix belongs to uid {env.owner_uid}"
        real_prefix = os.path.realpath(env.prefix) + "/"
        for account in self.accounts:
            if account.uid == me or account.home in ("", "/"):
                continue
            homes = {account.home.rstrip("/") + "/", os.path.realpath(account.home) + "/"}
            if any(p.startswith(h) for h in homes for p in (env.prefix + "/", real_prefix)):
                return f"not run: it lies in {account.name}'s home"
        try:
            real = os.path.realpath(env.interpreter)
            st = os.stat(real)
        except OSError as exc:
            return f"not run: {exc.strerror}"
        if not stat.S_ISREG(st.st_mode):
            return "not run: not a regular file"
        writable = _writable_by_others(env.prefix, me)
        if writable is not None:
            return f"not run: {writable} could be changed by another account"
        if st.st_uid not in (0, me):
            return f"not run: {real} is owned by uid {st.st_uid}"
        if st.st_mode & (stat.S_IWGRP | stat.S_IWOTH):
            return f"not run: {real} is writable by others"
        return None

    def run(self, interpreter: str) -> Optional[str]:
        """The interpreter's version (``3.11.7``, ``3.13.0rc1``), or None when it does not answer."""
        from python_discovery import DiskCache, PythonInfo

        cache = None
        if self.cache_dir is not None and private_dir(self.cache_dir):
            cache = DiskCache(Path(self.cache_dir))
        env = {
            "PATH": os.defpath,
            "LC_ALL": "C.UTF-8",
            "PYTHONNOUSERSITE": "1",
            "PY_DISCOVERY_TIMEOUT": str(TIMEOUT_SECONDS),
        }
        logging.getLogger("python_discovery").setLevel(logging.ERROR)
        try:
            # python_discovery forwards whatever the interpreter printed to our stdout: not ours
            with contextlib.redirect_stdout(io.StringIO()):
                info = PythonInfo.from_exe(
                    interpreter, cache, raise_on_error=False, resolve_to_host=False, env=env
                )
        except Exception:  # a broken interpreter must not break the scan
            return None
        if info is None:
            return None
        v = info.version_info
        suffix = "" if v.releaselevel == "final" else f"{v.releaselevel[0]}{v.serial}"
        suffix = suffix.replace("c", "rc") if v.releaselevel == "candidate" else suffix
        return f"{v.major}.{v.minor}.{v.micro}{suffix}"


def _writable_by_others(prefix: str, me: Optional[int]) -> Optional[str]:
    """The first directory an interpreter run from ``prefix`` reads code from that an account other
    than root and us could change: the prefix's ancestors, itself, its bin/ and lib/ trees' tops."""
    real = os.path.realpath(prefix)
    parts = real.strip("/").split("/")
    paths = ["/" + "/".join(parts[:i]) for i in range(len(parts) + 1)]
    paths += [os.path.join(real, d) for d in ("bin", "lib", "lib64", "Scripts", "Lib")]
    for path in paths:
        try:
            st = os.lstat(path)
        except OSError:
            continue
        if st.st_uid not in (0, me):
            return path
        loose = st.st_mode & (stat.S_IWGRP | stat.S_IWOTH) and not stat.S_ISLNK(st.st_mode)
        if loose and not (stat.S_ISDIR(st.st_mode) and st.st_mode & stat.S_ISVTX):
            return path
    return None


def private_dir(path: str) -> bool:
    """Make (or accept) a directory only the running account can use; False when it is not one."""
    try:
        os.makedirs(path, mode=0o700, exist_ok=True)
        st = os.lstat(path)
    except OSError:
        return False
    uid = os.geteuid() if hasattr(os, "geteuid") else None
    return (
        stat.S_ISDIR(st.st_mode)
        and (uid is None or st.st_uid == uid)
        and not st.st_mode & (stat.S_IRWXG | stat.S_IRWXO)
    )


def default_cache_dir(env: Mapping[str, str], euid: Optional[int]) -> str:
    """Where probe results are kept: root's own system cache as root (never a sudo caller's HOME)."""
    if euid == 0:
        return "/var/cache/fleetcache/py-info"
    xdg = env.get("XDG_CACHE_HOME")
    base = xdg if xdg and os.path.isabs(xdg) else platformdirs.user_cache_dir()
    return os.path.join(base, "fleetcache", "py-info")


def _needs_probe(env: Environment) -> bool:
    """No version, or only ``X.Y`` from a directory name."""
    return env.exists and (env.python_version is None or env.python_version.count(".") < 2)
