"""A real clean's pages: alice's pip cache of three downloads, planned (``--dry-run``) and then
cleaned through the CLI, each written as HTML (tests/test_html.py reads them, and
tests/test_page_ux.py opens them in Chromium)."""

from __future__ import annotations

import hashlib
from pathlib import Path

from fleetcache.cli import main
from tests.conftest import Tree, chown_tree
from tests.test_report import hostile_entry

ALICE = 12345


def synthetic_cache(tree: Tree) -> Path:
    """alice's cache: three http-v2 entries of 1,000 bytes each."""
    tree.user("alice", ALICE)
    cache = tree.host("/home/alice/.cache/pip")
    for i in range(3):
        key = hashlib.sha224(str(i).encode()).hexdigest()
        hostile_entry(cache, key, b"cc=4," + b"m" * 95, b"b" * 1000)
    chown_tree(tree.host("/home/alice"), ALICE)
    return cache


def clean_page(tree: Tree, work: Path, name: str, *how: str) -> Path:
    """``fleetcache clean -u alice HOW -f html`` of the tree, its page written to WORK/NAME."""
    page = work / name
    state = ["--audit-log", str(work / "audit.log"), "--lock-dir", str(work / "locks"),
             "--state-dir", str(work / "state")]  # fmt: skip
    argv = ["clean", "--root", str(tree.root), "-u", "alice", *how, *state, "-f", "html"]
    assert main([*argv, "-o", str(page)]) in (0, 3, 4), argv  # 4: its busy cache
    return page
