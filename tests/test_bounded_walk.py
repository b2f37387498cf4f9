"""A hostile tree costs a bounded amount of work: links that take long to resolve make the cache
skipped (not the scan slow), and the widest directory does not grow the scan's memory."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import Tree, chown_tree

ROOT = os.geteuid() == 0
pytestmark = [
    pytest.mark.root,
    pytest.mark.skipif(not ROOT, reason="gives the caches to numeric uids: run as root (CI is)"),
]
MALLORY, ALICE = 12345, 12346
# as long as a link target may be: 800 detours through a directory and back
DETOUR = "d/../" * 800
HOPS = 40  # the most links one path may pass through (the kernel's limit, and fleetcache's)
WIDE = "/home/mallory/.cache/pip/http-v2/0/0/0/0/0"
PAIRS, LONE = 99_000, 1_000  # 200,000 files in one directory: whole entries and orphan halves
KEYS = 25_000
# runs a command, then prints its peak resident set (kB; its children included) on stderr
PEAK = (
    "import resource, subprocess, sys; code = subprocess.call(sys.argv[1:]); "
    "print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss, file=sys.stderr); "
    "sys.exit(code)"
)


def entries(tree: Tree, cache: str, count: int, uid: int) -> None:
    """``count`` complete http-v2 entries (10-byte metadata, 100-byte body) in ``cache``."""
    for n in range(count):
        key = f"{n + 1:056x}"
        leaf = f"{cache}/http-v2/{key[0]}/{key[1]}/{key[2]}/{key[3]}/{key[4]}/{key}"
        tree.write(leaf, b"cc=4," + b"m" * 5, uid=uid)
        tree.write(leaf + ".body", b"b" * 100, uid=uid)


def link_trap(where: Path, links: int) -> None:
    """``links`` links, each resolving through a chain of ``HOPS`` links, every hop a 4 kB
    detour: pip's os.walk would cost nothing here, a resolver that walks each target a lot."""
    (where / "d").mkdir(parents=True)
    chain = [f"c{n:02d}" for n in range(HOPS - 1)]
    for name, nxt in zip(chain, [*chain[1:], "d"]):
        (where / name).symlink_to(DETOUR + nxt)
    for n in range(links):
        (where / f"l{n:03d}").symlink_to(DETOUR + chain[0])


def scan_json(tree: Tree, *args: str, timeout: float = 60) -> tuple[int, dict[str, Any]]:
    """Run ``fleetcache scan --format json`` on the tree; a scan still running after ``timeout``
    seconds (the attack worked) fails the test."""
    code, out, _ = run_scan(tree, *args, timeout=timeout)
    return code, json.loads(out)


def run_scan(tree: Tree, *args: str, timeout: float, peak: bool = False) -> tuple[int, str, str]:
    """``fleetcache scan --format json`` on the tree: exit code, stdout, stderr (with ``peak``,
    its last line is the scan's peak RSS in kB)."""
    argv = [sys.executable, "-m", "fleetcache", "scan", "--root", str(tree.root)]
    argv += ["--format", "json", "--no-activity", "--no-envs", *args]
    if peak:
        argv = [sys.executable, "-c", PEAK, *argv]
    done = subprocess.run(argv, capture_output=True, text=True, timeout=timeout)
    assert done.returncode in (0, 3), done.stderr
    return done.returncode, done.stdout, done.stderr


@pytest.fixture(scope="session")
def wide(tmp_path_factory: pytest.TempPathFactory) -> Tree:
    """mallory's cache with one directory of 200,000 files (the tree is built once: it takes a
    few seconds). Sizes are set by truncating: nothing is written."""
    tree = Tree(tmp_path_factory.mktemp("wide") / "machine")
    tree.user("mallory", MALLORY)
    where = tree.host(WIDE)
    where.mkdir(parents=True)
    names = [(f"{n:056x}", 10) for n in range(PAIRS + LONE)]
    names += [(f"{n:056x}.body", 100) for n in range(PAIRS)]
    names += [(f"{n:056x}.body", 100) for n in range(PAIRS + LONE, PAIRS + 2 * LONE)]
    dir_fd = os.open(where, os.O_RDONLY | os.O_DIRECTORY)
    try:
        for name, size in names:
            fd = os.open(name, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644, dir_fd=dir_fd)
            os.ftruncate(fd, size)
            os.fchown(fd, MALLORY, MALLORY)
            os.close(fd)
    finally:
        os.close(dir_fd)
    chown_tree(tree.host("/home/mallory/.cache"), MALLORY)
    return tree


def test_links_that_take_long_to_resolve_skip_their_cache_not_the_scan(tree: Tree):
    tree.user("mallory", MALLORY)
    tree.user("alice", ALICE)
    entries(tree, "/home/mallory/.cache/pip", 3, MALLORY)
    link_trap(tree.host("/home/mallory/.cache/pip/wheels/trap"), 100)
    chown_tree(tree.host("/home/mallory"), MALLORY)
    entries(tree, "/home/alice/.cache/pip", 4, ALICE)
    chown_tree(tree.host("/home/alice"), ALICE)
    code, report = scan_json(tree)
    caches = {c["path"]: c for c in report["caches"]}
    trapped = caches["/home/mallory/.cache/pip"]
    assert trapped["skipped"] is not None and "link" in trapped["skipped"]
    assert trapped["total_files"] == 0  # nothing half-counted
    assert {"path": "/home/mallory/.cache/pip", "reason": trapped["skipped"]} in report["skipped"]
    assert code == 3
    control = caches["/home/alice/.cache/pip"]
    assert control["skipped"] is None
    assert (control["http_entries"], control["http_files"], control["http_bytes"]) == (4, 8, 440)
    assert (control["total_files"], control["total_bytes"], control["dirs"]) == (8, 440, 1 + 1 + 5)


def test_selfcheck_keys_that_take_long_to_resolve_refuse_the_clean(tree: Tree, tmp_path: Path):
    tree.user("mallory", MALLORY)
    cache = "/home/mallory/.cache/pip"
    entries(tree, cache, 2, MALLORY)
    tree.write(f"{cache}/http-v2/0/0/0/0/0/{'f' * 56}.tmp", b"t" * 10, uid=MALLORY)
    link_trap(tree.host(f"{cache}/wheels/trap"), 0)
    for n in range(100):  # each key names an interpreter prefix behind the whole chain
        prefix = f"{cache}/wheels/trap/c00/k{n}"  # c00 itself is followed to reach k{n}
        key = json.dumps({"key": prefix, "last_check": "2020-01-01T00:00:00Z"})
        tree.write(f"{cache}/selfcheck/{n:056x}", key, uid=MALLORY)
    chown_tree(tree.host("/home/mallory"), MALLORY)
    argv = [sys.executable, "-m", "fleetcache", "clean", "--root", str(tree.root), "--user",
            "mallory", "--junk", "--dry-run", "--format", "json", "--quiet",
            "--audit-log", str(tmp_path / "audit.log"), "--lock-dir", str(tmp_path / "locks")]  # fmt: skip
    done = subprocess.run(argv, capture_output=True, text=True, timeout=60)
    (result,) = json.loads(done.stdout)["caches"]
    assert result["state"] == "refused" and "link" in result["reason"], result
    assert done.returncode == 3


@pytest.fixture(scope="session")
def named(tmp_path_factory: pytest.TempPathFactory) -> Tree:
    """mallory's cache whose selfcheck/ holds 25,000 keys, each naming a 4 kB prefix."""
    tree = Tree(tmp_path_factory.mktemp("named") / "machine")
    tree.user("mallory", MALLORY)
    where = tree.host("/home/mallory/.cache/pip/selfcheck")
    where.mkdir(parents=True)
    for n in range(KEYS):
        key = {"key": f"/home/mallory/{n}/" + "x/" * 2000, "last_check": "2026-01-01T00:00:00Z"}
        (where / f"{n:056x}").write_text(json.dumps(key))
    chown_tree(tree.host("/home/mallory/.cache"), MALLORY)
    return tree


def test_the_widest_directory_does_not_grow_the_scans_memory(wide: Tree):
    code, out, err = run_scan(wide, timeout=300, peak=True)
    peak_kb = int(err.splitlines()[-1])
    (cache,) = [c for c in json.loads(out)["caches"] if c["exists"]]
    assert cache["skipped"] is None and code == 0
    assert cache["http_files"] == 2 * PAIRS + 2 * LONE == 200_000
    assert cache["http_bytes"] == (PAIRS + LONE) * 10 + (PAIRS + LONE) * 100
    assert (cache["http_entries"], cache["orphan_files"]) == (PAIRS, 2 * LONE)
    assert cache["orphan_bytes"] == LONE * 10 + LONE * 100
    assert peak_kb < 100 * 1024, f"peak RSS {peak_kb / 1024:.0f} MB"


def test_selfcheck_keys_do_not_grow_the_scans_memory(named: Tree):
    code, out, err = run_scan(named, timeout=300, peak=True)
    peak_kb = int(err.splitlines()[-1])
    report = json.loads(out)
    (cache,) = [c for c in report["caches"] if c["exists"]]
    assert cache["selfcheck_files"] == KEYS and cache["skipped"] is None
    assert peak_kb < 100 * 1024, f"peak RSS {peak_kb / 1024:.0f} MB"
    assert 0 < len(cache["selfcheck"]) < KEYS  # the first ones, and a note that says so
    cut = [s for s in report["skipped"] if s["path"] == "/home/mallory/.cache/pip/selfcheck"]
    assert cut and "not read" in cut[0]["reason"] and code == 3
