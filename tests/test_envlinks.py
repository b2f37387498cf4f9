"""The home walk and linked directories: the account's own data elsewhere is followed, the rest refused."""

from __future__ import annotations

import os
import subprocess
import sys
from dataclasses import replace

import pytest

from fleetcache.discovery import homewalk
from fleetcache.machine import Machine
from fleetcache.model import Environment
from fleetcache.scan import Selection, environments
from tests.conftest import Tree, chown_tree
from tests.test_envs import VENV_CFG, conda_prefix

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="gives files to other uids: needs root")


@pytest.fixture
def tree(open_tree: Tree) -> Tree:
    """A machine tree the accounts' own processes may traverse: links are resolved as them too."""
    return open_tree


ALICE, BOB, MALLORY = 12345, 12346, 12347
A = "/home/alice"


def alices(tree: Tree) -> tuple[dict[str, Environment], dict[str, str]]:
    result = environments(Machine(root=str(tree.root)), Selection(users=("alice",), sizes=False))
    return {e.prefix: e for e in result.environments}, {s.path: s.reason for s in result.skipped}


def link(tree: Tree, target: str, path: str, uid: int = ALICE) -> None:
    os.symlink(target, tree.host(path))
    os.lchown(tree.host(path), uid, uid)


def accounts(tree: Tree) -> None:
    tree.user("alice", ALICE)
    tree.user("bob", BOB)
    tree.user("mallory", MALLORY)


def test_linked_directories_on_quota_machines_are_found_under_the_home(tree: Tree):
    accounts(tree)
    conda_prefix(
        tree, "/data/alice/miniconda3", "3.12.1", "/data/alice/miniconda3/bin/conda x", True
    )
    conda_prefix(tree, "/data/alice/miniconda3/envs/sci", "3.11.5", "conda create -n sci")
    tree.write("/scratch/alice/venvs/work/pyvenv.cfg", VENV_CFG)
    chown_tree(tree.host("/data/alice"), ALICE)
    chown_tree(tree.host("/scratch/alice"), ALICE)
    link(tree, "/data/alice/miniconda3", f"{A}/miniconda3")
    link(tree, "/scratch/alice/venvs", f"{A}/.virtualenvs")
    link(tree, "/scratch/alice/venvs", f"{A}/again")  # the same directory: walked once
    link(tree, "/data/alice", "/data/alice/miniconda3/loop")  # back up its own target
    found, skipped = alices(tree)
    base, sci, work = (
        found[f"{A}/{p}"] for p in ("miniconda3", "miniconda3/envs/sci", ".virtualenvs/work")
    )
    assert (base.kind, base.role, base.python_version) == ("conda", "interpreter", "3.12.1")
    assert (sci.kind, sci.python_version) == ("conda", "3.11.5")
    assert (work.kind, work.python_version) == ("virtualenvwrapper", "3.11.2")
    assert not any(p.startswith((f"{A}/again", "/data", "/scratch")) for p in found)
    assert f"{A}/again" not in skipped  # walked anyway: nothing was left out


def test_an_install_registered_by_its_real_path_is_listed_once(tree: Tree):
    accounts(tree)
    conda_prefix(
        tree, "/data/alice/miniconda3", "3.12.1", "/data/alice/miniconda3/bin/conda x", True
    )
    conda_prefix(tree, "/data/alice/miniconda3/envs/sci", "3.11.5", "conda create -n sci")
    tree.write(f"{A}/.conda/environments.txt", "/data/alice/miniconda3\n")
    chown_tree(tree.host("/data/alice"), ALICE)
    chown_tree(tree.host(A), ALICE)
    link(tree, "/data/alice/miniconda3", f"{A}/miniconda3")
    found, skipped = alices(tree)
    assert sorted(found) == ["/data/alice/miniconda3", "/data/alice/miniconda3/envs/sci"]
    assert skipped == {}


@pytest.mark.parametrize(
    ("target", "reason"),
    [
        ("/home/bob", "not followed: /home/bob belongs to uid 12346"),
        ("/home/bob/proj", "not followed: /home/bob belongs to uid 12346, who could change it"),
        ("/srv/svc", "not followed: /srv/svc is another account's home"),
        ("/srv/svc/alice", "not followed: /srv/svc/alice is in another account's home"),
        ("/home", "not followed: /home holds homes"),
        ("/", "not followed: / is a system directory"),
        ("/etc", "not followed: /etc is a system directory"),
        ("/srv/m/envs", "not followed: /srv/m belongs to uid 12347, who could change it"),
        ("/srv/theirs", "not followed: /srv/theirs belongs to uid 12347"),
    ],
)
def test_links_out_to_what_the_account_does_not_own_are_refused(
    tree: Tree, target: str, reason: str
):
    accounts(tree)
    tree.write("/home/bob/proj/.venv/pyvenv.cfg", VENV_CFG)
    chown_tree(tree.host("/home/bob"), BOB)
    tree.write("/etc/.venv/pyvenv.cfg", VENV_CFG)
    tree.write("/srv/m/envs/x/pyvenv.cfg", VENV_CFG)
    os.chown(tree.host("/srv/m"), MALLORY, MALLORY)  # a swap point on the way
    tree.write("/srv/theirs/x/pyvenv.cfg", VENV_CFG)
    os.chown(tree.host("/srv/theirs"), MALLORY, MALLORY)
    tree.user("svc", 12348, home="/srv/svc")  # a home root keeps, alice's data inside it
    tree.write("/srv/svc/alice/x/pyvenv.cfg", VENV_CFG)
    os.chown(tree.host("/srv/svc"), 0, 0)
    chown_tree(tree.host("/srv/svc/alice"), ALICE)
    link(tree, target, f"{A}/l")
    found, skipped = alices(tree)
    assert not any(p.startswith(f"{A}/l") for p in found)
    assert skipped[f"{A}/l"] == reason


@pytest.mark.parametrize("target", [A, f"{A}/proj", "proj", ".", "proj/..", "proj/.venv/.."])
def test_a_link_back_into_the_home_is_walked_once_and_says_nothing(tree: Tree, target: str):
    accounts(tree)
    tree.write(f"{A}/proj/.venv/pyvenv.cfg", VENV_CFG)
    chown_tree(tree.host(A), ALICE)
    link(tree, target, f"{A}/l")
    found, skipped = alices(tree)
    assert list(found) == [f"{A}/proj/.venv"]
    assert skipped == {}


def test_a_link_someone_else_made_in_the_home_is_refused(tree: Tree):
    accounts(tree)
    tree.write("/data/alice/envs/x/pyvenv.cfg", VENV_CFG)
    chown_tree(tree.host("/data/alice"), ALICE)
    link(tree, "/data/alice/envs", f"{A}/l", uid=MALLORY)
    found, skipped = alices(tree)
    assert f"{A}/l/x" not in found
    assert skipped[f"{A}/l"] == "not followed: the link belongs to uid 12347"


def test_links_followed_are_bounded(tree: Tree):
    accounts(tree)
    for i in range(70):
        tree.write(f"/data/alice/d{i}/.keep", "")
        link(tree, f"/data/alice/d{i}", f"{A}/l{i:02}")
    chown_tree(tree.host("/data/alice"), ALICE)
    _, skipped = alices(tree)
    assert skipped[A] == (
        "6 more links not followed: one home's walk follows 64 linked directories and resolves 1,000 links"
    )


def test_real_virtualenv_through_a_link(tree: Tree):
    accounts(tree)
    target = tree.host("/scratch/alice/ve")
    target.parent.mkdir(parents=True)
    cmd = [
        sys.executable,
        "-m",
        "virtualenv",
        "--no-pip",
        "--no-setuptools",
        "--no-wheel",
        str(target),
    ]
    subprocess.run(cmd, check=True, capture_output=True)
    chown_tree(tree.host("/scratch/alice"), ALICE)
    link(tree, "/scratch/alice", f"{A}/scratch")
    found, _ = alices(tree)
    ve = found[f"{A}/scratch/ve"]
    assert ve.kind == "virtualenv"
    assert ve.python_version == ".".join(map(str, sys.version_info[:3]))


def pyenv_virtualenv(tree: Tree, root: str, version: str, name: str) -> None:
    """What ``pyenv virtualenv VERSION NAME`` leaves: a venv in the version's envs/, an absolute
    link to it in versions/."""
    base = f"{root}/versions/{version}"
    tree.write(f"{base}/bin/python{version[:4]}", "")
    tree.write(
        f"{base}/include/python{version[:4]}/patchlevel.h", f'#define PY_VERSION "{version}"\n'
    )
    tree.write(f"{base}/lib/python{version[:4]}/os.py", "")
    cfg = (
        f"home = {base}/bin\ninclude-system-site-packages = false\nversion = {version}\n"
        f"executable = {base}/bin/python{version[:4]}\n"
        f"command = {base}/bin/python{version[:4]} -m venv {base}/envs/{name}\n"
    )
    tree.write(f"{base}/envs/{name}/pyvenv.cfg", cfg)
    tree.write(f"{base}/envs/{name}/bin/python", "")
    os.symlink(f"{base}/envs/{name}", tree.host(f"{root}/versions/{name}"))


@pytest.mark.parametrize("root", [f"{A}/.pyenv", "/software/alice-pyenv"])
def test_pyenv_virtualenv_envs_are_found_once_with_their_kind(tree: Tree, root: str):
    accounts(tree)
    pyenv_virtualenv(tree, root, "3.12.1", "tools")
    chown_tree(tree.host(A), ALICE)
    if root != f"{A}/.pyenv":  # ~/.pyenv -> a disk without quota
        chown_tree(tree.host("/software/alice-pyenv"), ALICE)
        link(tree, root, f"{A}/.pyenv")
    found, skipped = alices(tree)
    pyenv = f"{A}/.pyenv/versions"
    assert {p: (e.kind, e.python_version) for p, e in found.items()} == {
        f"{pyenv}/3.12.1": ("pyenv", "3.12.1"),
        f"{pyenv}/3.12.1/envs/tools": ("pyenv-virtualenv", "3.12.1"),
    }
    assert skipped == {}


def test_pyenv_root_outside_the_home_lists_its_virtualenvs(tree: Tree, procs):
    """$PYENV_ROOT of alice's shell names a pyenv no link in her home leads to."""
    accounts(tree)
    pyenv_virtualenv(tree, "/software/alice-pyenv", "3.12.1", "tools")
    chown_tree(tree.host("/software/alice-pyenv"), ALICE)
    env = {"PATH": "/usr/bin:/bin", "PYENV_ROOT": str(tree.host("/software/alice-pyenv"))}
    procs.start(["/bin/sh", "-c", "echo ready; exec sleep 120"], tree.host(A), ALICE, env)
    machine = Machine.local(str(tree.root))
    result = environments(machine, Selection(users=("alice",), sizes=False))
    found = {e.prefix: e for e in result.environments}
    assert found["/software/alice-pyenv/versions/3.12.1"].kind == "pyenv"  # the root was seen
    tools = found["/software/alice-pyenv/versions/3.12.1/envs/tools"]
    assert (tools.kind, tools.python_version) == ("pyenv-virtualenv", "3.12.1")
    assert "/software/alice-pyenv/versions/tools" not in found


def test_a_link_to_a_network_filesystem_is_followed_only_when_asked(tree: Tree):
    accounts(tree)
    mnt = tree.host("/scratch")
    mnt.mkdir()
    if subprocess.run(["mount", "-t", "tmpfs", "tmpfs", str(mnt)], capture_output=True).returncode:
        pytest.skip("mounting a tmpfs is not permitted here")
    try:
        tree.write("/scratch/alice/venvs/work/pyvenv.cfg", VENV_CFG)
        chown_tree(tree.host("/scratch/alice"), ALICE)
        link(tree, "/scratch/alice/venvs", f"{A}/.virtualenvs")
        lustre = os.stat(mnt).st_dev
        machine = Machine(
            root=str(tree.root), fstype=lambda dev: "lustre" if dev == lustre else "ext4"
        )
        select = Selection(users=("alice",), sizes=False)
        result = environments(machine, select)
        assert f"{A}/.virtualenvs/work" not in {e.prefix for e in result.environments}
        assert {s.path: s.reason for s in result.skipped}[f"{A}/.virtualenvs"] == (
            "not followed: /scratch/alice/venvs is on a network filesystem (lustre) (--include-remote)"
        )
        remote = replace(select.env_search, limits=homewalk.WalkLimits(include_remote=True))
        result = environments(machine, replace(select, env_search=remote))
        assert f"{A}/.virtualenvs/work" in {e.prefix for e in result.environments}
    finally:
        subprocess.run(["umount", str(mnt)], check=True)


def test_a_home_of_links_costs_a_bounded_amount(tree: Tree):
    accounts(tree)
    tree.write(f"{A}/dotfiles/rc", "")
    for i in range(1_100):  # dotfile links: to files, each resolved until the limit
        link(tree, "dotfiles/rc", f"{A}/.rc{i}")
    _, skipped = alices(tree)
    assert skipped[A] == (
        "100 more links not followed: one home's walk follows 64 linked directories and "
        "resolves 1,000 links"
    )


def test_a_link_into_a_home_the_account_cannot_enter_names_nothing_of_it(tree: Tree):
    accounts(tree)
    tree.write("/home/bob/private/.venv/pyvenv.cfg", VENV_CFG)
    chown_tree(tree.host("/home/bob"), BOB)
    tree.host("/home/bob").chmod(0o700)
    link(tree, "/home/bob/private", f"{A}/l")
    found, skipped = alices(tree)
    assert not any(p.startswith(f"{A}/l") for p in found)
    assert skipped == {f"{A}/l": "not followed: the account itself may not open its target"}


def test_linked_directories_are_walked_on_the_homes_time_budget(tree: Tree):
    accounts(tree)
    for i in range(3):
        tree.write(f"/data/alice/d{i}/v/pyvenv.cfg", VENV_CFG)
        link(tree, f"/data/alice/d{i}", f"{A}/l{i}")
    chown_tree(tree.host("/data/alice"), ALICE)
    ticks = iter(range(1000))
    anchor = os.open(tree.root, os.O_RDONLY)
    try:
        envs, skipped = homewalk.walk_home(
            Machine(root=str(tree.root)), anchor, A, frozenset({0, ALICE}),
            homewalk.WalkLimits(budget=4), clock=lambda: float(next(ticks)),
        )  # fmt: skip
    finally:
        os.close(anchor)
    # a tick to start (0), one per directory: the home 1, l0 2, l0/v 3, l1 4; l1/v is past 4 s
    assert [e.prefix for e in envs] == [f"{A}/l0/v"]
    assert skipped[-1].reason.startswith("environment search stopped after 4 s")
