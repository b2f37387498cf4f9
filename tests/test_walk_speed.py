"""What a walk costs per file and per link (issue 17's speed): a kind other than pip measures its
cache in one walk and resolves no link (uv points at its archives with thousands of them)."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from fleetcache.kinds import tree as kind_tree
from fleetcache.stats.walk import WalkTask
from tests.conftest import Tree

MEASURE = """
import sys
from fleetcache.kinds import tree
from fleetcache.stats.walk import WalkTask
got = tree.measure(WalkTask(sys.argv[1], sys.argv[2]))
assert got.exists and got.skipped is None, got
"""


def uv_like(top: Path, archives: int, pointers: bool) -> None:
    """``archives`` unpacked wheels, each with a few files, and (``pointers``) a symbolic link
    to each archive, as uv's ``wheels-v8/`` points at ``archive-v0/``."""
    for i in range(archives):
        pkg = top / "archive-v0" / f"a{i}" / f"pkg{i}"
        pkg.mkdir(parents=True)
        for m in range(3):
            (pkg / f"mod{m}.py").write_bytes(b"x" * 100)
        if pointers:
            link = top / "wheels-v8" / "pypi" / f"pkg{i}"
            link.mkdir(parents=True)
            os.symlink(f"../../../archive-v0/a{i}", link / f"pkg{i}-1.0-py3-none-any")


def syscalls(root: Path, cache: str) -> int:
    """Every system call of measuring the cache as a kind does, as strace counts them."""
    out = root.parent / "strace.txt"
    argv = ["strace", "-f", "-qq", "-c", "-o", str(out), sys.executable, "-c", MEASURE,
            str(root), cache]  # fmt: skip
    done = subprocess.run(argv, capture_output=True)
    assert done.returncode == 0, done.stderr
    last = out.read_text().splitlines()[-1].split()
    assert last[-1] == "total", last
    return int(last[3] if len(last) == 6 else last[2])


@pytest.mark.skipif(shutil.which("strace") is None, reason="counts system calls with strace")
def test_a_kinds_walk_resolves_no_link(tree: Tree):
    """N links to directories in a uv-like cache cost the walk N lstat calls, nothing more (pip
    resolves each to tell a link to a directory, which pip skips, from one to a file)."""
    n = 300
    uv_like(tree.host("/home/alice/.cache/uv"), n, pointers=False)
    plain = syscalls(tree.root, "/home/alice/.cache/uv")
    shutil.rmtree(tree.host("/home/alice/.cache/uv"))
    uv_like(tree.host("/home/alice/.cache/uv"), n, pointers=True)
    linked = syscalls(tree.root, "/home/alice/.cache/uv")
    # each link's lstat, and the directory holding it: open, fstat, dup for scandir, listing,
    # close (about 12 calls); resolving each link costs 40 more
    assert linked - plain <= 13 * n, (plain, linked)


def test_a_kinds_walk_counts_regular_files_each_inode_once_and_no_link(tree: Tree):
    """Issue 17: total_files and total_bytes of a kind's cache are its regular files, each
    inode once; uv's pointer links are no files."""
    top = tree.host("/home/alice/.cache/uv")
    uv_like(top, 2, pointers=True)
    first = next(p for p in top.rglob("*") if p.is_file() and not p.is_symlink())
    os.link(first, top / "again")  # one more link of a file already counted
    got = kind_tree.measure(WalkTask(str(tree.root), "/home/alice/.cache/uv"))
    assert (got.figures.total_files, got.figures.total_bytes) == (2 * 3, 2 * 3 * 100)
