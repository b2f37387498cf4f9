"""Issue 18 item 4 over every cache kind: caches filled by the real poetry, pdm, pip-tools and pip
(as pipenv runs it), hatch's laid out as hatch does, and a conda pkgs dir that environments link
into, cleaned into a quarantine and restored: each comes back as it was, byte for byte, link for
link, mode for mode (pip's and uv's round trips with their own tools: tests/test_quarantine.py)."""

from __future__ import annotations

import os
import shutil
import stat

import pytest

from tests import test_kind_tools as kt
from tests import test_quarantine as tq
from tests.conftest import Tree
from tests.test_clean import snapshot
from tests.test_kind_conda import ML, PKGS, WEB, conda_fleet, every_file

TOOLS = pytest.mark.skipif(
    os.geteuid() != 0 or shutil.which("unshare") is None,
    reason="root and unshare(1) are needed to run the tools with the tree's /home mounted",
)
filled, copied, state, tree = kt.filled, kt.copied, tq.state, tq.tree  # fixtures
KINDS = ("poetry", "pdm", "pip-tools", "pipenv", "hatch")


@TOOLS
def test_every_kind_comes_back_whole_after_quarantine_and_restore(copied: Tree, state):
    top = copied.host(f"{kt.HOME}/.cache")
    before = snapshot(top)
    modes = {p: os.lstat(top / p).st_mode for p in before}
    argv = ["--user", "alice", "--quarantine"]
    for kind in KINDS:
        argv += ["--kind", kind]
    code, doc = tq.clean_json(copied, state, *argv)
    cleaned = {c["kind"] for c in doc["caches"] if c["state"] == "cleaned"}
    assert cleaned == set(KINDS), [(c["kind"], c["state"], c["reason"]) for c in doc["caches"]]
    assert snapshot(top) != before
    for c in doc["caches"]:
        assert c["quarantine"]["path"].startswith(f"{kt.HOME}/.cache/.fleetcache-quarantine/")
    code, _, err = tq.fc(copied, state, "restore", doc["run_id"])
    assert code == 0, err
    assert snapshot(top) == before
    assert {p: os.lstat(top / p).st_mode for p in before} == modes
    assert not (top / ".fleetcache-quarantine").exists()
    assert all(stat.S_ISDIR(m) or stat.S_ISREG(m) or stat.S_ISLNK(m) for m in modes.values())


@pytest.mark.skipif(os.geteuid() != 0, reason="gives files to other uids: needs root")
def test_a_conda_pkgs_dir_comes_back_and_its_environments_links_work_again(tree: Tree, state):
    conda_fleet(tree)
    pkgs = tree.host(PKGS)
    before = snapshot(pkgs)
    envs = {env: every_file(tree.host(env)) for env in (ML, WEB)}
    code, doc = tq.clean_json(tree, state, "--user", "alice", "--kind", "conda", "--quarantine")
    (c,) = doc["caches"]
    assert code == 0 and c["state"] == "cleaned" and c["deleted"]["files"] > 0, c
    assert (
        c["quarantine"]["path"] == f"/home/alice/.conda/.fleetcache-quarantine/{doc['run_id']}/pkgs"
    )
    code, _, err = tq.fc(tree, state, "restore", doc["run_id"])
    assert code == 0, err
    assert snapshot(pkgs) == before
    assert {env: every_file(tree.host(env)) for env in (ML, WEB)} == envs
