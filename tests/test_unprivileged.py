"""An unprivileged scan's table says each thing once: a process it could not read is one line,
not one per environment, and names its pid once; the homes it may not enter are one summary with
the hint to run as root (the JSON keeps each); Busy lists only caches that are in the table."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import Tree, chown_tree, unwrapped
from tests.test_activity import BASE, SLEEPER, make_venv
from tests.test_clean import FLEETCACHE_IMPORTS, KEYS, http_entry, portable

ROOT = os.geteuid() == 0
pytestmark = pytest.mark.skipif(not ROOT, reason="runs fleetcache as another uid: run as root")
ALICE, CAROL = 12345, 12347
PRIVATE = {"bob": 12346, "dave": 12348, "erin": 12349, "frank": 12350}
A = "/home/alice"


def machine(tree: Tree) -> None:
    """alice: an open home, a cache, two venvs whose pip uses it, a pip.conf sending `pip
    install` to a cache not made yet, and a Python of her own outside any environment; bob,
    dave, erin and frank: private homes (0700), each with a cache; carol runs the scan."""
    tree.user("alice", ALICE)
    http_entry(tree.host(f"{A}/.cache/pip"), KEYS[0])
    for name in ("one", "two"):
        make_venv(tree, f"{A}/{name}")
    tree.write(f"{A}/.config/pip/pip.conf", "[install]\ncache-dir = ~/scratch\n")
    tree.host(f"{A}/bin").mkdir()
    tree.host(f"{A}/bin/python3").symlink_to(os.path.realpath(BASE))
    chown_tree(tree.host(A), ALICE)
    for i, (name, uid) in enumerate(PRIVATE.items()):
        tree.user(name, uid)
        http_entry(tree.host(f"/home/{name}/.cache/pip"), KEYS[i + 1])
        chown_tree(tree.host(f"/home/{name}"), uid)
        tree.host(f"/home/{name}").chmod(0o700)
    tree.user("carol", CAROL)


def as_carol(tree: Tree, lib: Path, *args: str) -> tuple[int, str]:
    users = [w for name in ("alice", *PRIVATE) for w in ("--user", name)]
    r = subprocess.run(
        [BASE, "-m", "fleetcache", "scan", "--root", str(tree.root), *users, *args],
        user=CAROL, group=CAROL, extra_groups=[], cwd="/", capture_output=True, text=True,
        env={"PATH": "/usr/bin:/bin", "PYTHONPATH": str(lib), "HOME": "/nonexistent"},
    )  # fmt: skip
    assert "Traceback" not in r.stderr, r.stderr
    return r.returncode, r.stdout if r.returncode in (0, 3) else r.stderr


def test_an_unprivileged_table_says_each_thing_once(open_tree: Tree, procs):
    if not os.path.exists(BASE):
        pytest.skip(f"{BASE} is missing: fleetcache must run as carol")
    same = f"import sys; sys.exit(sys.version_info[:2] != {tuple(sys.version_info[:2])})"
    if subprocess.run([BASE, "-c", same]).returncode:
        pytest.skip(f"{BASE} is not Python {sys.version_info[0]}.{sys.version_info[1]}")
    machine(open_tree)
    lib = portable(sys.executable, FLEETCACHE_IMPORTS, open_tree.root.parent / "lib")
    python = open_tree.host(f"{A}/bin/python3")
    held = procs.start([str(python), "-c", SLEEPER], cwd=open_tree.host(A), uid=ALICE)

    code, out = as_carol(open_tree, lib)
    assert code == 3, out  # what it could not read is still a reason to look
    lines = unwrapped(out)
    assert "Busy (1):" in lines, out
    busy = lines[lines.index("Busy (1):") :]
    assert busy[1] == f"  {A}/.cache/pip:", out
    (line,) = [x for x in busy if str(held.pid) in x]  # once, not once per environment
    assert line.startswith(f"    possibly: pid {held.pid} alice "), line
    assert "could not be read (access denied)" in line, line
    assert line.count(str(held.pid)) == 1 and "of alice" not in line, line
    assert f"{A}/scratch" not in "\n".join(busy)  # no such cache yet: not in the table
    skipped = lines[next(i for i, x in enumerate(lines) if x.startswith("Skipped")) :]
    # per account: its home, its pip cache, poetry's and hatch's environment directories
    assert skipped == [
        "Skipped (16):",
        "  permission denied (run as root to read them): 16 paths of bob, dave, erin, frank",
    ], out

    code, out = as_carol(open_tree, lib, "--format", "json")
    doc = json.loads(out)
    assert len(doc["skipped"]) == 16  # the data keeps every one
    assert all("permission denied" in s["reason"] for s in doc["skipped"])
