"""The way to a cache: every directory from the machine's root to it must be writable by root and
the cache's owner only (a sticky one: where what it leads to is theirs), else a clean refuses the
cache and a scan flags it. Attacked as root with real accounts, real renames and real pips."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path
from typing import Any, Callable

import pytest

from fleetcache.cli import main
from tests.conftest import Tree, chown_tree, fill_cache
from tests.test_clean import one, run, snapshot

ROOT = os.geteuid() == 0
pytestmark = pytest.mark.skipif(not ROOT, reason="renames as another uid and cleans as root")
VICTIM, MATE, TEAM = 12346, 12347, 1234
BASE = "/usr/bin/python3"
CACHE = "/srv/team/victim-cache"


@pytest.fixture
def tree(open_tree: Tree) -> Tree:
    """victim and a teammate, both in group team; victim's pip uses /srv/team/victim-cache."""
    open_tree.user("victim", VICTIM)
    open_tree.user("mate", MATE)
    open_tree.write("/etc/group", f"root:x:0:\nteam:x:{TEAM}:victim,mate\n")
    open_tree.write(
        "/home/victim/.config/pip/pip.conf", f"[global]\ncache-dir = {CACHE}\n", uid=VICTIM
    )
    chown_tree(open_tree.host("/home/victim"), VICTIM)
    return open_tree


@pytest.fixture
def state(tmp_path: Path) -> dict[str, str]:
    """Where this test's audit log and locks go."""
    return {"log": str(tmp_path / "log" / "audit.log"), "locks": str(tmp_path / "locks")}


def shared_dir(tree: Tree, path: str, uid: int, gid: int, mode: int) -> Path:
    """A directory of the machine with its owner, group and mode (set after the umask)."""
    where = tree.host(path)
    where.mkdir(parents=True, exist_ok=True)
    os.chown(where, uid, gid)
    os.chmod(where, mode)
    return where


def as_mate(*code: str) -> None:
    """Run Python lines as the teammate: uid 12347, in group team, nothing else."""
    r = subprocess.run(
        [BASE, "-c", "\n".join(code)],
        user=MATE, group=MATE, extra_groups=[TEAM], cwd="/", capture_output=True, text=True,
    )  # fmt: skip
    assert r.returncode == 0, r.stderr


def scan_doc(tree: Tree, tmp_path: Path) -> dict[str, Any]:
    out = tmp_path / "scan.json"
    code = main(["scan", "--root", str(tree.root), "--user", "victim", "--no-envs",
                 "--jobs", "1", "--format", "json", "-o", str(out)])  # fmt: skip
    assert code == 0
    doc: dict[str, Any] = json.loads(out.read_text())
    return doc


def test_a_teammate_cannot_swap_a_build_into_a_cache_in_a_team_writable_directory(
    tree, state, tmp_path, pip_python: Callable[[str], Path], index_url: str
):
    if not os.path.exists(BASE):
        pytest.skip(f"{BASE} is missing: the teammate's rename runs with it")
    shared_dir(tree, "/srv/team", 0, TEAM, 0o2775)
    cache = tree.host(CACHE)
    fill_cache(pip_python("26"), cache, index_url, "alpha", "beta", work=tmp_path / "w")
    chown_tree(cache, VICTIM)
    build = tree.host("/srv/team/build")
    tree.write("/srv/team/build/wheels/release-1.0-py3-none-any.whl", b"PK" + b"r" * 900)
    chown_tree(build, VICTIM)
    kept = snapshot(build)
    as_mate(
        "import os",
        f"os.rename({str(cache)!r}, {str(cache) + '.old'!r})",
        f"os.rename({str(build)!r}, {str(cache)!r})",
    )
    code, doc = run(tree, state, "--user", "victim")
    c = one(doc)
    assert code == 3 and c["state"] == "refused", doc
    assert "/srv/team is writable by group team (gid 1234)" in c["reason"], c["reason"]
    assert snapshot(cache) == kept  # the release wheel is still there
    problems = one(scan_doc(tree, tmp_path))["problems"]
    assert any("/srv/team is writable by group team" in p for p in problems), problems
