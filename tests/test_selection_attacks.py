"""Attacks on what a scan or a clean selects and on what it calls busy, with real processes of other
uids: a cache only another account's pip names, a relative cache dir, a pip under another name,
a process sitting inside a cache, and a config that makes pip stop."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import Tree, chown_tree, pip_env
from tests.index_server import Hold, default_index, serve
from tests.test_clean import (
    ALICE,
    BASE,
    BOB,
    KEYS,
    copy_of_pip,
    http_entry,
    one,
    run,
    snapshot,
    synthetic,
)

ROOT = os.geteuid() == 0
pytestmark = pytest.mark.skipif(not ROOT, reason="processes of other uids: run as root (CI is)")
SLEEPER = "import time; print('ready', flush=True); time.sleep(120)"


@pytest.fixture
def tree(open_tree: Tree) -> Tree:
    if not os.path.exists(BASE):
        pytest.skip(f"{BASE} is missing: processes of other uids need a Python they may run")
    return open_tree


@pytest.fixture
def state(tmp_path: Path) -> dict[str, str]:
    return {"log": str(tmp_path / "log" / "audit.log"), "locks": str(tmp_path / "locks")}


@pytest.fixture
def started() -> Any:
    procs: list[subprocess.Popen[bytes]] = []
    yield procs
    for p in procs:
        if p.poll() is None:
            p.kill()
        p.wait()


def mallory_cache(tree: Tree) -> Path:
    """bob (the attacker) and a cache of his that nothing but his running pip names."""
    tree.user("bob", BOB)
    pc = tree.host("/home/bob/pc")
    for key in KEYS[:8]:
        http_entry(pc, key)
    chown_tree(tree.host("/home/bob"), BOB)
    return pc


def scan_json(tree: Tree, *args: str) -> tuple[int, dict[str, Any]]:
    r = subprocess.run(
        [sys.executable, "-m", "fleetcache", "scan", "--root", str(tree.root), "--no-probe",
         "--format", "json", *args],
        capture_output=True,
    )  # fmt: skip
    assert b"Traceback" not in r.stderr, r.stderr
    return r.returncode, json.loads(r.stdout)


def test_a_cache_only_anothers_pip_names_is_not_selected_with_the_victim(
    tree, state, pip_python, started
):
    """mallory runs ``pip download --cache-dir ~/pc``; ``clean --user victim --wait`` must not
    touch ~mallory/pc, and ``scan --user victim`` must not report it."""
    synthetic(tree, n=2)  # the victim: alice
    pc = mallory_cache(tree)
    before = snapshot(pc)
    pip_copy = copy_of_pip(pip_python("26"), tree.root.parent / "pip")
    downloads = tree.root.parent / "dl"
    downloads.mkdir()
    os.lchown(downloads, BOB, BOB)
    hold = Hold()
    with serve(default_index(), hold) as url:
        p = subprocess.Popen(
            [BASE, "-m", "pip", "download", "--index-url", url, "-d", str(downloads),
             "--cache-dir", str(pc), "alpha"],
            user=BOB, group=BOB, extra_groups=[], cwd=tree.host("/home/bob"),
            env=pip_env(Path("/nonexistent"), PYTHONPATH=str(pip_copy)),
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )  # fmt: skip
        started.append(p)
        assert hold.started.wait(60), "pip never reached the index"
        code, doc = scan_json(tree, "--user", "alice")
        assert [c["path"] for c in doc["caches"]] == ["/home/alice/.cache/pip"], doc["caches"]
        # selected with its own account, the cache is bob's, named by his pip
        code, doc = scan_json(tree, "--user", "bob")
        mine = {c["path"]: c for c in doc["caches"]}["/home/bob/pc"]
        assert mine["owner"] == "bob" and mine["sources"][0]["pid"] == p.pid
        # the attack: the victim's clean waits for mallory's pip to finish, then purges pc
        threading.Timer(3.0, hold.release.set).start()
        code, doc = run(tree, state, "--user", "alice", "--purge", "--wait", "2m")
        assert code == 0, doc
        assert [c["path"] for c in doc["caches"]] == ["/home/alice/.cache/pip"], doc
        assert one(doc)["state"] == "cleaned"
        assert p.wait(60) == 0
    assert {k: v for k, v in snapshot(pc).items() if k in before} == before


@pytest.mark.parametrize(
    "conf",
    ["[global]\nno-cache-dir = maybe\n", "[install]\nno-cache-dir = maybe\n", "[global\nbroken\n"],
    ids=["not-a-boolean", "one-command", "unparsable"],
)
def test_a_config_that_makes_pip_stop_does_not_hide_the_cache(tree, state, conf):
    """bob's pip.conf makes pip stop (``no-cache-dir = maybe``, a broken file): his 900 kB cache
    is still listed, counted in the totals, the problem shown, and scan and clean exit 3."""
    tree.user("bob", BOB)
    cache = tree.host("/home/bob/.cache/pip")
    where = cache / "wheels" / "ab" / "cd" / "ef" / ("0" * 50)
    where.mkdir(parents=True)
    (where / "big-1.0-py3-none-any.whl").write_bytes(b"w" * 900_000)
    tree.write("/home/bob/.config/pip/pip.conf", conf)
    chown_tree(tree.host("/home/bob"), BOB)
    code, doc = scan_json(tree, "--user", "bob")
    assert code == 3
    assert [c["path"] for c in doc["caches"]] == ["/home/bob/.cache/pip"]
    assert doc["totals"]["total_bytes"] >= 900_000
    assert any("pip stops" in s["description"] for s in doc["caches"][0]["sources"])
    assert any("/home/bob" in s["path"] and "stops" in s["reason"] for s in doc["skipped"])
    code, doc = run(tree, state, "--user", "bob", "--purge", "--dry-run")
    assert code == 3 and one(doc)["state"] == "planned" and one(doc)["plan"]["bytes"] >= 900_000
    assert any("stops" in s["reason"] for s in doc["skipped"]), doc
    out = subprocess.run(
        [sys.executable, "-m", "fleetcache", "clean", "--root", str(tree.root), "--user", "bob",
         "--purge", "--dry-run", "--audit-log", state["log"], "--lock-dir", state["locks"]],
        capture_output=True, text=True,
    )  # fmt: skip
    shown = out.stdout + out.stderr
    assert out.returncode == 3, out
    assert "no-cache-dir is not a boolean" in shown or "not a valid pip config file" in shown


def test_a_relative_cache_dir_is_resolved_against_the_running_pips_cwd(
    tree, state, pip_python, started
):
    """Two pips of alice's in ~/work, one with ``PIP_CACHE_DIR=pipcache``, one whose config file
    says ``cache-dir = pipcache2``: both caches are busy, and a clean of either skips it."""
    synthetic(tree, n=1)
    work = tree.host("/home/alice/work")
    for name in ("pipcache", "pipcache2"):
        http_entry(work / name, KEYS[5])
    tree.write("/home/alice/work/pip.conf", "[global]\ncache-dir = pipcache2\n")
    chown_tree(tree.host("/home/alice"), ALICE)
    pip_copy = copy_of_pip(pip_python("26"), tree.root.parent / "pip")
    downloads = tree.root.parent / "dl"
    downloads.mkdir()
    os.lchown(downloads, ALICE, ALICE)
    hold = Hold()
    with serve(default_index(), hold) as url:
        for extra in ({"PIP_CACHE_DIR": "pipcache"}, {"PIP_CONFIG_FILE": str(work / "pip.conf")}):
            hold.started.clear()
            env = pip_env(Path("/nonexistent"), PYTHONPATH=str(pip_copy))
            env.update(extra)
            p = subprocess.Popen(
                [BASE, "-m", "pip", "download", "--index-url", url, "-d", str(downloads), "alpha"],
                user=ALICE, group=ALICE, extra_groups=[], cwd=work, env=env,
                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
            )  # fmt: skip
            started.append(p)
            assert hold.started.wait(60), "pip never reached the index"
        try:
            code, doc = scan_json(tree, "--user", "alice")
            caches = {c["path"]: c for c in doc["caches"]}
            for name, p in (("pipcache", started[0]), ("pipcache2", started[1])):
                c = caches[f"/home/alice/work/{name}"]
                assert c["busy"] is True and c["busy_reasons"][0]["pid"] == p.pid, c
                code, doc = run(tree, state, "--cache", f"/home/alice/work/{name}", "--purge")
                assert code == 3 and one(doc)["state"] == "busy", doc
        finally:
            hold.release.set()
    assert all(p.wait(60) == 0 for p in started)
