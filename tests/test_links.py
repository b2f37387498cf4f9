"""Link-aware byte figures (issue 17): what a cache takes on disk, as du counts it, and what
removing it frees when an environment hardlinks its files, checked against du and a real clean."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from fleetcache.cli import main
from fleetcache.stats import walk
from tests.conftest import Tree, chown_tree

ROOT = os.geteuid() == 0
pytestmark = pytest.mark.skipif(not ROOT, reason="cleans as other uids: run as root (CI is)")
ALICE = 12345
CACHE = "/home/alice/.cache/pip"
VENV = "/home/alice/venv"


def du(*paths: Path) -> int:
    """``du -sB1`` of the paths together: allocated bytes, each inode once."""
    out = subprocess.run(["du", "-csB1", *map(str, paths)], capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    return int(out.stdout.splitlines()[-1].split()[0])


def blocks(*paths: Path) -> int:
    """Allocated bytes of the distinct inodes among ``paths``."""
    inodes = {(st.st_dev, st.st_ino): st.st_blocks * 512 for st in map(os.lstat, paths)}
    return sum(inodes.values())


def linked_cache(tree: Tree) -> tuple[Path, list[Path]]:
    """alice's pip cache whose wheels a venv hardlinks, plus files linked twice inside it; the
    cache files that the venv also holds are returned."""
    tree.user("alice", ALICE)
    cache, venv = tree.host(CACHE), tree.host(VENV)
    for i in range(4):
        where = cache / "http-v2" / "a" / "b" / "c" / "d" / str(i)
        where.mkdir(parents=True)
        (where / f"k{i}").write_bytes(b"m" * 50)
        (where / f"k{i}.body").write_bytes(bytes([i]) * 20_000)
    shared = []
    site = venv / "lib" / "site-packages"
    site.mkdir(parents=True)
    for i in range(3):
        where = cache / "wheels" / "ab" / "cd" / "ef" / f"entry{i}"
        where.mkdir(parents=True)
        wheel = where / f"pkg{i}-1.0-py3-none-any.whl"
        wheel.write_bytes(bytes([i]) * 30_000)
        os.link(wheel, site / f"pkg{i}.whl")  # held from outside: removing the cache keeps it
        shared.append(wheel)
    # one inode linked twice inside the cache (rdfind): both links go, so it is freed, counted once
    first = cache / "http-v2" / "a" / "b" / "c" / "d" / "0" / "k0.body"
    os.link(first, cache / "http-v2" / "a" / "b" / "c" / "d" / "1" / "dup.body")
    # three links: two in the cache, one in the venv: shared
    triple = cache / "wheels" / "ab" / "cd" / "ef" / "entry0" / "pkg0-1.0-py3-none-any.whl"
    os.link(triple, cache / "wheels" / "ab" / "cd" / "ef" / "entry1" / "copy-1.0-py3-none-any.whl")
    chown_tree(tree.host("/home/alice"), ALICE)
    return cache, shared


def scan_record(tree: Tree, tmp_path: Path) -> dict[str, Any]:
    out = tmp_path / "scan.json"
    argv = ["scan", "--root", str(tree.root), "--user", "alice", "-f", "json", "-o", str(out)]
    assert main(argv) in (0, 3)
    (record,) = [c for c in json.loads(out.read_text())["caches"] if c["exists"]]
    assert isinstance(record, dict)
    return record


def test_disk_bytes_is_du_and_shared_is_what_the_venv_holds(open_tree: Tree, tmp_path: Path):
    cache, shared = linked_cache(open_tree)
    c = scan_record(open_tree, tmp_path)
    assert c["disk_bytes"] == du(cache)
    assert c["shared_bytes"] == blocks(*shared) > 0
    assert c["reclaimable_bytes"] == c["disk_bytes"] - c["shared_bytes"]
    # pip's apparent figure is unchanged: every name counted, as pip counts them
    assert c["total_bytes"] == sum(
        os.lstat(os.path.join(d, f)).st_size for d, _, fs in os.walk(cache) for f in fs
    )


def test_reclaimable_bytes_is_what_a_real_purge_frees(open_tree: Tree, tmp_path: Path):
    cache, _ = linked_cache(open_tree)
    c = scan_record(open_tree, tmp_path)
    home = open_tree.host("/home/alice")
    before = du(home)
    log, locks = tmp_path / "log" / "audit.log", tmp_path / "locks"
    argv = ["clean", "--root", str(open_tree.root), "--user", "alice", "--purge", "--yes",
            "--audit-log", str(log), "--lock-dir", str(locks), "-f", "json",
            "--state-dir", str(tmp_path / "state"),
            "-o", str(tmp_path / "clean.json")]  # fmt: skip
    assert main(argv) == 0
    assert sorted(os.listdir(cache)) == []  # pip's purge keeps only the cache directory itself
    root_dir = os.lstat(cache).st_blocks * 512
    assert before - du(home) == c["reclaimable_bytes"] - root_dir
    assert du(open_tree.host(VENV)) > 90_000  # the venv's wheels are still there


def test_linked_figures_in_the_table(open_tree: Tree, tmp_path: Path, capsys):
    linked_cache(open_tree)
    c = scan_record(open_tree, tmp_path)
    argv = ["scan", "--root", str(open_tree.root), "--user", "alice", "--bytes", "--no-activity"]
    main(argv)
    lines = capsys.readouterr().out.splitlines()
    header = lines[0].split()
    assert header[-2:] == ["SIZE", "FREES"] and all(len(line) <= 80 for line in lines)
    row = lines[2].split()
    assert row[-2:] == [str(c["disk_bytes"]), str(c["reclaimable_bytes"])]


def clean_doc(tree: Tree, tmp_path: Path, *args: str) -> dict[str, Any]:
    """``fleetcache clean --yes --format json`` with ``args``; its one cache record."""
    out = tmp_path / "clean.json"
    argv = ["clean", "--root", str(tree.root), "--user", "alice", "--yes", "-f", "json",
            "--audit-log", str(tmp_path / "log" / "audit.log"),
            "--lock-dir", str(tmp_path / "locks"), "--state-dir", str(tmp_path / "state"),
            "-o", str(out), *args]  # fmt: skip
    assert main(argv) == 0
    (record,) = json.loads(out.read_text())["caches"]
    assert isinstance(record, dict)
    return record


@pytest.mark.parametrize("args", [("--purge",), ("--package", "pkg2"), ("--package", "pkg0")])
def test_the_plan_frees_what_the_clean_frees(open_tree: Tree, tmp_path: Path, args):
    """pkg2's wheel is hardlinked from the venv: its bytes are selected, but only its emptied
    directories are freed; pkg0's has a second link in the cache that the clean keeps."""
    linked_cache(open_tree)
    home = open_tree.host("/home/alice")
    planned = clean_doc(open_tree, tmp_path, "--dry-run", *args)["plan"]
    before = du(home)
    done = clean_doc(open_tree, tmp_path, *args)
    assert done["state"] == "cleaned" and done["plan"]["files"] == planned["files"] > 0
    assert before - du(home) == planned["frees"] == done["plan"]["frees"]
    assert planned["frees"] < planned["bytes"] + planned["dirs"] * 4096


def test_past_the_cap_linked_files_count_as_shared_and_it_says_so(
    open_tree: Tree, tmp_path: Path, monkeypatch
):
    """Memory is bounded by the files of several links: past the cap, they are not tracked (a
    real cache needs 200,000 such files; a cap of 2 shows the same)."""
    linked_cache(open_tree)
    exact = scan_record(open_tree, tmp_path)
    monkeypatch.setattr(walk, "MAX_LINKED", 2)
    out = tmp_path / "capped.json"
    argv = ["scan", "--root", str(open_tree.root), "--user", "alice", "-f", "json", "-o", str(out)]
    assert main(argv) == 3  # something was not measured exactly: said, as anything skipped is
    doc = json.loads(out.read_text())
    (capped,) = [c for c in doc["caches"] if c["exists"]]
    reasons = [s["reason"] for s in doc["skipped"]]
    assert any("past the first 2" in r and "counted as shared" in r for r in reasons), reasons
    assert capped["reclaimable_bytes"] < exact["reclaimable_bytes"]  # never more than is freed
    assert capped["total_bytes"] == exact["total_bytes"]


def stat_calls(tree: Tree, tmp_path: Path) -> int:
    """stat-family system calls of a whole ``fleetcache scan`` of the tree, as strace counts them."""
    out = tmp_path / "strace.txt"
    argv = ["strace", "-f", "-qq", "-c", "-o", str(out), sys.executable, "-m", "fleetcache",
            "scan", "--root", str(tree.root), "--user", "alice", "-f", "json", "--no-activity",
            "--no-envs"]  # fmt: skip
    done = subprocess.run(argv, capture_output=True)
    assert done.returncode == 0, done.stderr
    calls = 0
    for line in out.read_text().splitlines():
        cols = line.split()
        if cols and cols[-1] in ("newfstatat", "statx", "lstat", "stat", "fstat", "fstatat64"):
            calls += int(cols[3] if len(cols) == 6 else cols[2])
    return calls


@pytest.mark.skipif(shutil.which("strace") is None, reason="counts system calls with strace")
def test_hardlink_accounting_adds_no_system_call_per_file(open_tree: Tree, tmp_path: Path):
    """N files hardlinked from a venv cost the walk the same stat calls as N files of one link,
    and N more files cost at most N more: the one lstat the walk already does."""
    n = 400
    open_tree.user("alice", ALICE)
    where = open_tree.host(CACHE) / "http-v2" / "a" / "b" / "c" / "d" / "e"
    where.mkdir(parents=True)
    venv = open_tree.host(VENV)
    venv.mkdir()
    for i in range(n):
        (where / f"f{i}").write_bytes(b"x")
    chown_tree(open_tree.host("/home/alice"), ALICE)
    plain = stat_calls(open_tree, tmp_path)
    for i in range(n):
        os.link(where / f"f{i}", venv / f"f{i}")
    assert scan_record(open_tree, tmp_path)["shared_bytes"] > 0
    linked = stat_calls(open_tree, tmp_path)
    assert abs(linked - plain) < n // 10, (plain, linked)
    for i in range(n, 2 * n):
        (where / f"f{i}").write_bytes(b"x")
        os.lchown(where / f"f{i}", ALICE, ALICE)
    assert stat_calls(open_tree, tmp_path) - plain <= n + n // 10


def test_prometheus_gauges_say_what_a_clean_frees(open_tree: Tree, tmp_path: Path, capsys):
    linked_cache(open_tree)
    c = scan_record(open_tree, tmp_path)
    argv = ["scan", "--root", str(open_tree.root), "--user", "alice", "-f", "prometheus"]
    assert main(argv) in (0, 3)
    gauges = {
        line.split("{")[0]: float(line.rsplit(" ", 1)[1])
        for line in capsys.readouterr().out.splitlines()
        if line.startswith("fleetcache_cache_")
    }
    assert gauges["fleetcache_cache_disk_bytes"] == c["disk_bytes"]
    assert gauges["fleetcache_cache_reclaimable_bytes"] == c["reclaimable_bytes"]
