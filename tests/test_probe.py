"""Interpreters are run only when their files cannot tell the version, and never one another account
could have changed. Each interpreter here is a wrapper that leaves a mark when it is run."""

from __future__ import annotations

import os
import stat
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import pytest

from fleetcache.discovery.probe import Prober
from fleetcache.machine import Machine
from fleetcache.model import Account, Environment

ROOT_ONLY = pytest.mark.skipif(os.geteuid() != 0, reason="runs as root with other uids: needs root")
REAL = ".".join(map(str, sys.version_info[:3]))


def wrapper(path: Path, mark: Path, uid: int | None = None) -> str:
    """An executable that records it ran, then is this test's Python."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(f'#!/bin/sh\necho ran >> "{mark}"\nexec "{sys.executable}" "$@"\n')
    path.chmod(0o755)
    if uid is not None:
        os.lchown(path, uid, uid)
    return str(path)


def env_at(prefix: Path, interpreter: str, version: str | None = None) -> Environment:
    return Environment(
        prefix=str(prefix),
        kind="system",
        role="interpreter",
        python_version=version,
        interpreter=interpreter,
    )


def test_a_safe_interpreter_is_probed(tmp_path: Path):
    mark = tmp_path / "mark"
    exe = wrapper(tmp_path / "opt" / "py" / "bin" / "python3", mark)
    env = Prober(Machine.local(), [], None).complete(env_at(tmp_path / "opt" / "py", exe, "3.11"))
    assert (env.python_version, env.version_from) == (REAL, "probe")
    assert mark.read_text() == "ran\n"


def test_probe_results_are_cached_privately(tmp_path: Path):
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True)
    cache = tmp_path / "probe-cache"
    prober = Prober(Machine.local(), [], str(cache))
    env = prober.complete(env_at(venv, str(venv / "bin" / "python")))
    assert env.python_version == REAL
    assert stat.S_IMODE(os.stat(cache).st_mode) == 0o700
    assert len(list(cache.glob("py_info/*/*.json"))) == 1


def test_a_version_the_files_give_is_never_probed(tmp_path: Path):
    mark = tmp_path / "mark"
    exe = wrapper(tmp_path / "py" / "bin" / "python3", mark)
    env = Prober(Machine.local(), [], None).complete(env_at(tmp_path / "py", exe, "3.12.1"))
    assert env.python_version == "3.12.1" and not mark.exists()


def test_interpreters_under_root_are_never_run(tmp_path: Path):
    mark = tmp_path / "mark"
    exe = wrapper(tmp_path / "py" / "bin" / "python3", mark)
    machine = Machine(root=str(tmp_path), current_uid=os.getuid())
    env = Prober(machine, [], None).complete(env_at(tmp_path / "py", exe))
    assert env.python_version is None and not mark.exists()
    assert env.problems == ("version unknown: interpreters under --root are not run",)


@ROOT_ONLY
def test_as_root_nothing_in_another_accounts_home_is_run(tmp_path: Path):
    mark = tmp_path / "mark"
    home = tmp_path / "home" / "bob"
    exe = wrapper(home / "py" / "bin" / "python3", mark)  # owned by root, yet in bob's home
    bob = Account("bob", 12345, 12345, str(home))
    env = Prober(Machine.local(), [bob], None).complete(env_at(home / "py", exe))
    assert env.python_version is None and not mark.exists()
    assert env.problems == ("version unknown: not run: it lies in bob's home",)


@ROOT_ONLY
def test_as_root_an_interpreter_another_uid_owns_is_not_run(tmp_path: Path):
    mark = tmp_path / "mark"
    exe = wrapper(tmp_path / "srv" / "py" / "bin" / "python3", mark, uid=12345)
    env = Prober(Machine.local(), [], None).complete(env_at(tmp_path / "srv" / "py", exe))
    assert env.python_version is None and not mark.exists()
    assert env.problems == (f"version unknown: not run: {exe} is owned by uid 12345",)


def test_an_interpreter_that_does_not_answer(tmp_path: Path):
    exe = tmp_path / "py" / "bin" / "python3"
    exe.parent.mkdir(parents=True)
    exe.write_text("#!/bin/sh\nexit 3\n")
    exe.chmod(0o755)
    env = Prober(Machine.local(), [], None).complete(env_at(tmp_path / "py", str(exe)))
    assert env.problems == (f"version unknown: {exe} did not answer",)


@ROOT_ONLY
def test_as_root_a_root_binary_in_another_uids_prefix_is_not_run(tmp_path: Path):
    mark = tmp_path / "mark"
    exe = wrapper(tmp_path / "srv" / "team" / "bin" / "python3", mark)  # root's binary ...
    env = replace(env_at(tmp_path / "srv" / "team", exe), owner_uid=12345)  # ... in uid 12345's env
    env = Prober(Machine.local(), [], None).complete(env)
    assert env.python_version is None and not mark.exists()
    assert env.problems == ("version unknown: not run: its prefix belongs to uid 12345",)


def test_nothing_below_a_directory_others_may_write_is_run(tmp_path: Path):
    mark = tmp_path / "mark"
    exe = wrapper(tmp_path / "shared" / "py" / "bin" / "python3", mark)
    (tmp_path / "shared").chmod(0o777)  # anyone could swap py/ for their own
    env = Prober(Machine.local(), [], None).complete(env_at(tmp_path / "shared" / "py", exe))
    assert env.python_version is None and not mark.exists()
    shared = tmp_path / "shared"
    assert env.problems == (
        f"version unknown: not run: {shared} could be changed by another account",
    )
