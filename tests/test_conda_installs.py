"""conda installs wherever machines keep them (issue 19 item 2): system places beyond /opt and
/usr/local, and site installs climbed to from an account's registry, settings and processes."""

from __future__ import annotations

import os

import pytest

from fleetcache.machine import Machine
from fleetcache.scan import Selection, environments
from tests.conftest import Tree, chown_tree
from tests.test_envs import conda_prefix

ROOT = os.geteuid() == 0
ROOT_ONLY = pytest.mark.skipif(not ROOT, reason="gives files to other uids: needs root")
ALICE, BOB = 12345, 12346
A = "/home/alice"
SHELL_SLEEPER = ["/bin/sh", "-c", "echo ready; exec sleep 120"]


def install(tree: Tree, prefix: str, version: str = "3.12.1", envs: tuple[str, ...] = ()) -> None:
    """A conda install as its installer lays it out, with ``envs/<name>`` made by its conda."""
    conda_prefix(tree, prefix, version, f"{prefix}/bin/conda install -y x", base=True)
    tree.write(f"{prefix}/bin/conda", "#!/usr/bin/env python\n")
    tree.write(f"{prefix}/condabin/conda", "#!/bin/sh\n")
    for name in envs:
        conda_prefix(tree, f"{prefix}/envs/{name}", "3.11.5", f"conda create -n {name}")


def found(tree: Tree) -> dict[str, tuple[str, str, str | None]]:
    result = environments(Machine(root=str(tree.root)), Selection(users=("alice",), sizes=False))
    return {e.prefix: (e.kind, e.role, e.python_version) for e in result.environments}


def test_system_conda_installs_outside_opt_and_usr_local(tree: Tree):
    tree.user("alice", ALICE)
    install(tree, "/usr/share/miniconda", envs=("ci",))  # GitHub's Ubuntu runners
    install(tree, "/miniconda3", envs=("web",))
    install(tree, "/opt/conda")
    install(tree, "/apps/miniforge3", "3.12.2")
    install(tree, "/sw/conda/anaconda3", "3.11.9", envs=("bio",))
    got = found(tree)
    assert got["/usr/share/miniconda"] == ("conda", "interpreter", "3.12.1")
    assert got["/usr/share/miniconda/envs/ci"] == ("conda", "environment", "3.11.5")
    assert got["/miniconda3"] == ("conda", "interpreter", "3.12.1")
    assert got["/miniconda3/envs/web"] == ("conda", "environment", "3.11.5")
    assert got["/opt/conda"] == ("conda", "interpreter", "3.12.1")
    assert got["/apps/miniforge3"] == ("miniforge", "interpreter", "3.12.2")
    assert got["/sw/conda/anaconda3"] == ("conda", "interpreter", "3.11.9")
    assert got["/sw/conda/anaconda3/envs/bio"] == ("conda", "environment", "3.11.5")


@ROOT_ONLY
def test_a_registered_env_leads_to_its_install_and_siblings(open_tree: Tree):
    tree = open_tree
    home = tree.user("alice", ALICE)
    tree.user("daemon", 12347, home="/", make_home=False)  # a home of "/" holds no one's install
    install(tree, "/data/site/miniconda3", envs=("a", "b"))
    install(tree, "/proj/lab/mambaforge", "3.10.14", envs=("x", "y"))
    tree.write(f"{A}/.conda/environments.txt", "/data/site/miniconda3/envs/a\n")
    tree.write(f"{A}/.condarc", "envs_dirs: [/proj/lab/mambaforge/envs]\n")
    chown_tree(home, ALICE)
    result = environments(Machine(root=str(tree.root)), Selection(users=("alice",), sizes=False))
    by_prefix = {e.prefix: e for e in result.environments}
    assert by_prefix["/data/site/miniconda3"].found_by == (
        "conda install of /data/site/miniconda3/envs/a",
    )
    assert by_prefix["/data/site/miniconda3/envs/b"].found_by == ("conda envs/",)
    got = found(tree)
    assert got["/data/site/miniconda3"] == ("conda", "interpreter", "3.12.1")
    assert got["/data/site/miniconda3/envs/b"] == ("conda", "environment", "3.11.5")
    assert got["/proj/lab/mambaforge"] == ("miniforge", "interpreter", "3.10.14")
    assert got["/proj/lab/mambaforge/envs/y"] == ("conda", "environment", "3.11.5")


@ROOT_ONLY
def test_conda_exe_and_conda_prefix_of_processes_lead_to_installs(open_tree: Tree, procs):
    tree = open_tree
    home = tree.user("alice", ALICE)
    install(tree, "/srv/c1/miniconda3", envs=("one",))
    install(tree, "/srv/c2/miniconda3", "3.13.1", envs=("two", "three"))
    chown_tree(home, ALICE)
    env = {"PATH": "/usr/bin:/bin", "CONDA_EXE": f"{tree.root}/srv/c1/miniconda3/bin/conda"}
    env["CONDA_PREFIX"] = f"{tree.root}/srv/c2/miniconda3/envs/two"
    procs.start(SHELL_SLEEPER, cwd=home, uid=ALICE, env=env)
    got = found(tree)
    assert got["/srv/c1/miniconda3"] == ("conda", "interpreter", "3.12.1")
    assert got["/srv/c1/miniconda3/envs/one"] == ("conda", "environment", "3.11.5")
    assert got["/srv/c2/miniconda3/envs/two"] == ("conda", "environment", "3.11.5")
    assert got["/srv/c2/miniconda3"] == ("conda", "interpreter", "3.13.1")
    assert got["/srv/c2/miniconda3/envs/three"] == ("conda", "environment", "3.11.5")


@ROOT_ONLY
def test_a_registered_env_never_climbs_into_another_home(open_tree: Tree):
    """alice names envs of bob's install (readable to her), directly and through her own link:
    the envs she names are hers to list, but bob's install and his other envs are not climbed to."""
    tree = open_tree
    home = tree.user("alice", ALICE)
    bob = tree.user("bob", BOB)
    install(tree, "/home/bob/miniconda3", envs=("shared", "other"))
    install(tree, "/home/bob/mf", envs=("viz", "private"))
    chown_tree(bob, BOB)
    os.symlink("/home/bob/mf", tree.host(f"{A}/mc"))
    lines = ["/home/bob/miniconda3/envs/shared", f"{A}/mc/envs/viz"]
    tree.write(f"{A}/.conda/environments.txt", "\n".join(lines) + "\n")
    chown_tree(home, ALICE)
    got = found(tree)
    assert got["/home/bob/miniconda3/envs/shared"] == ("conda", "environment", "3.11.5")
    assert got[f"{A}/mc/envs/viz"] == ("conda", "environment", "3.11.5")
    climbed = ["/home/bob/miniconda3", "/home/bob/miniconda3/envs/other", f"{A}/mc"]
    assert not [p for p in got if p in climbed or p.endswith("/private")]
