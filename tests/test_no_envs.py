"""``--no-envs`` and ``--no-activity`` never say idle (or 0) when they cannot know: without the
search for environments, the environments processes run from are still found from the processes
themselves, and what could not be read is "maybe"; without the process table, totals are "?"."""

from __future__ import annotations

import os
from dataclasses import replace

import pytest

from fleetcache.activity.processes import Snapshot, snapshot
from fleetcache.cli import main
from fleetcache.machine import Machine
from fleetcache.scan import scan
from tests.conftest import Tree
from tests.test_activity import BASE, BOB, ROOT_ONLY, SELECT, SLEEPER, A, build

ALICES = replace(SELECT, users=("alice",))


@pytest.fixture
def tree(open_tree: Tree) -> Tree:
    if not os.path.exists(BASE):
        pytest.skip(f"{BASE} is missing: processes of another uid need a Python it may run")
    return open_tree


def busy(machine: Machine, envs: bool = True) -> dict[str, object]:
    result = scan(machine, replace(ALICES, envs=envs))
    return {c.location.path: c.busy for c in result.caches}


def test_no_envs_still_sees_a_python_running_from_a_venv(tree, procs):
    build(tree)
    venv = tree.host(f"{A}/venv")
    procs.start([str(venv / "bin/python"), "-c", SLEEPER], cwd=tree.host(A))
    machine = Machine.local(str(tree.root))
    assert busy(machine) == {f"{A}/.cache/pip": True}
    assert busy(machine, envs=False) == {f"{A}/.cache/pip": True}  # before: False ("no")


@ROOT_ONLY
def test_no_envs_still_sees_another_accounts_process_running_a_selected_accounts_venv(tree, procs):
    """bob (not selected) runs alice's venv, found by the home walk only: --no-envs finds it
    from bob's process."""
    build(tree)
    venv = tree.host(f"{A}/venv")
    procs.start([str(venv / "bin/python"), "-c", SLEEPER], cwd=tree.host("/home/bob"), uid=BOB)
    machine = Machine.local(str(tree.root))
    assert busy(machine) == {f"{A}/.cache/pip": True}
    assert busy(machine, envs=False) == {f"{A}/.cache/pip": True}


@ROOT_ONLY
def test_no_envs_says_maybe_for_a_python_it_could_not_read(tree, procs):
    """alice's python found on $PATH, its executable, environment and maps unreadable (as they
    are to an unprivileged scan by someone else): without the environments it could run from,
    alice's cache may be in use, not idle. (Its working directory stays readable: under --root
    only that ties the process to the tree.)"""
    build(tree)
    path = f"{tree.host(A)}/venv/bin:/usr/bin:/bin"
    python = procs.start(["python3", "-c", SLEEPER], cwd=tree.host(A), env={"PATH": path})
    real = snapshot()

    def denied() -> Snapshot:
        hidden = tuple(
            replace(p, exe=None, environ=None, maps=None) if p.pid == python.pid else p
            for p in real.procs
        )
        return Snapshot(hidden, real.seen)

    machine = replace(Machine.local(str(tree.root)), processes=denied)
    assert busy(machine) == {f"{A}/.cache/pip": None}
    assert busy(machine, envs=False) == {f"{A}/.cache/pip": None}  # before: False


def test_totals_are_unknown_without_the_process_table(tree, capsys):
    build(tree)
    args = ["--root", str(tree.root), "--user", "alice", "--no-activity", "--no-probe"]
    assert main(["scan", *args]) == 0
    lines = capsys.readouterr().out.splitlines()
    header, total = lines[0].split(), next(x for x in lines if x.startswith("TOTAL"))
    assert header[:5] == ["CACHE", "KIND", "OWNER", "BUSY", "ENVS"]
    assert total.split()[3] == "?", total  # BUSY of TOTAL (1 cache): before, 0
    assert main(["envs", *args, "--no-size"]) == 0
    lines = capsys.readouterr().out.splitlines()
    total = next(x for x in lines if x.startswith("TOTAL"))
    assert total.split()[-1] == "?", total  # ACTIVE: before, 0
    # and --no-envs: how many environments use a cache is not known either
    assert main(["scan", "--root", str(tree.root), "--user", "alice", "--no-envs"]) == 0
    lines = capsys.readouterr().out.splitlines()
    row, total = lines[2].split(), next(x for x in lines if x.startswith("TOTAL")).split()
    assert row[0].endswith("/.cache/pip") and (row[1], row[3], row[4]) == ("pip", "no", "?"), lines
    assert total[3:5] == ["0", "?"], total
