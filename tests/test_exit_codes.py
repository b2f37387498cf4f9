"""Exit 3 means something a person should look at: on a healthy merged-/usr Debian image (system
accounts whose homes are ``/bin`` (a link), ``/usr/sbin`` (root's) and ``/nonexistent``), the
README's timer line and a scan of every account exit 0, and still 3 when something is wrong."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.conftest import Tree, chown_tree, unwrapped
from tests.test_clean import KEYS, http_entry

ROOT = os.geteuid() == 0
pytestmark = pytest.mark.skipif(not ROOT, reason="gives files to other uids: run as root (CI is)")
ALICE, BOB, POSTGRES = 12345, 12346, 110
OLD = time.time() - 200 * 86400

# Debian 12's own system accounts (their homes as shipped), two humans
PASSWD = """\
daemon:x:1:1:daemon:/usr/sbin:/usr/sbin/nologin
bin:x:2:2:bin:/bin:/usr/sbin/nologin
sys:x:3:3:sys:/dev:/usr/sbin/nologin
sync:x:4:65534:sync:/bin:/bin/sync
www-data:x:33:33:www-data:/var/www:/usr/sbin/nologin
_apt:x:42:65534::/nonexistent:/usr/sbin/nologin
nobody:x:65534:65534:nobody:/nonexistent:/usr/sbin/nologin
messagebus:x:100:106::/nonexistent:/usr/sbin/nologin
postgres:x:110:118:PostgreSQL administrator:/var/lib/postgresql:/bin/bash
"""


def debian(tree: Tree) -> Path:
    """A merged-/usr image: ``bin -> usr/bin`` (and sbin, lib), Debian's system accounts, and
    alice with a cache holding three entries from 200 days ago and one from today; bob and the
    system accounts never ran pip. Returns alice's cache."""
    for d in ("usr/bin", "usr/sbin", "usr/lib", "var/www", "var/lib/postgresql", "dev"):
        tree.host(d).mkdir(parents=True, exist_ok=True)
    for name in ("bin", "sbin", "lib"):
        tree.host(name).symlink_to(f"usr/{name}")
    os.lchown(tree.host("var/lib/postgresql"), POSTGRES, POSTGRES)
    tree.passwd.extend(PASSWD.splitlines())
    tree.user("alice", ALICE)
    tree.user("bob", BOB)
    cache = tree.host("/home/alice/.cache/pip")
    for i, key in enumerate(KEYS[:4]):
        where = http_entry(cache, key)
        if i < 3:
            for f in where.iterdir():
                os.utime(f, (OLD, OLD))
    chown_tree(tree.host("/home/alice"), ALICE)
    return cache


def run(tree: Tree, tmp_path: Path, *argv: str) -> tuple[int, str]:
    """fleetcache against the image, in a process of its own (a clean refuses to fork while
    threads run, and an earlier test may have left some); its exit code and stdout."""
    extra = []
    if argv[0] == "clean":
        extra = ["--audit-log", str(tmp_path / "audit.log"), "--lock-dir", str(tmp_path / "locks"),
                 "--state-dir", str(tmp_path / "state")]  # fmt: skip
    r = subprocess.run(
        [sys.executable, "-m", "fleetcache", *argv, "--root", str(tree.root), *extra],
        capture_output=True,
        text=True,
    )
    assert "Traceback" not in r.stderr, r.stderr
    return r.returncode, r.stdout


def test_a_healthy_merged_usr_machine_exits_0(open_tree: Tree, tmp_path):
    cache = debian(open_tree)
    code, out = run(open_tree, tmp_path, "scan", "--all-users")
    assert code == 0, out
    assert "Skipped" not in out and "refused" not in out
    code, out = run(open_tree, tmp_path, "scan", "--all-users", "--format", "json")
    doc = json.loads(out)
    system = {c["path"]: c for c in doc["caches"] if c["path"].startswith(("/bin", "/usr/sbin"))}
    assert all(not c["exists"] and c["skipped"] is None for c in system.values()), system

    # the README's timer line: alice's old entries go, the accounts without a cache are no rows
    code, out = run(open_tree, tmp_path, "clean", "--all-users", "--older-than", "90d", "--yes")
    assert code == 0, out
    assert "refused" not in out and "missing" not in out, out
    rows = [line.split()[0] for line in out.splitlines() if line.startswith("/")]
    assert rows == ["/home/alice/.cache/pip"] * 2, out  # in the plan, and in what was done
    said = [line for line in unwrapped(out) if line.startswith("No cache yet:")]
    assert len(said) == 2 and said[0] == said[1], out  # below the plan, and below the result
    no_cache = said[0]
    for name in ("root", "daemon", "bin", "www-data", "postgres", "bob"):
        assert f"{name} (default location)" in no_cache
    assert len(list(cache.rglob("*.body"))) == 1  # today's entry stays
    log = [json.loads(line) for line in (tmp_path / "audit.log").read_text().splitlines()]
    assert {x["cache"] for x in log} == {"/home/alice/.cache/pip"}, log

    # scan and clean agree, in JSON too: none of them is refused or failed
    code, out = run(
        open_tree, tmp_path, "clean", "--all-users", "--older-than", "90d", "--yes",
        "--format", "json",
    )  # fmt: skip
    assert code == 0
    states = {c["path"]: c["state"] for c in json.loads(out)["caches"]}
    assert states["/bin/.cache/pip"] == states["/usr/sbin/.cache/pip"] == "missing"
    assert states["/home/alice/.cache/pip"] == "nothing to do"


def test_something_to_look_at_still_exits_3(open_tree: Tree, tmp_path):
    """bin's cache exists, reached through the /bin link: a clean refuses it (exit 3) and the
    scan says so in its problems; a human's cache that is a link is skipped by both."""
    debian(open_tree)
    behind = open_tree.host("/usr/bin/.cache/pip")
    http_entry(behind, KEYS[9])
    chown_tree(open_tree.host("/usr/bin/.cache"), 2)
    code, out = run(open_tree, tmp_path, "scan", "--all-users", "--format", "json")
    problems = {c["path"]: c["problems"] for c in json.loads(out)["caches"]}
    assert problems["/bin/.cache/pip"] == [
        "a clean would refuse it: /bin is a symbolic link (clean the real path with --cache)"
    ]
    code, out = run(open_tree, tmp_path, "clean", "--all-users", "--older-than", "90d", "--yes")
    assert code == 3 and "/bin/.cache/pip: refused: /bin is a symbolic link" in out, out

    bob = open_tree.host("/home/bob/.cache")
    bob.mkdir()
    (bob / "pip").symlink_to("/srv/elsewhere")
    chown_tree(bob, BOB)
    code, out = run(open_tree, tmp_path, "scan", "--user", "bob")
    assert code == 3 and "/home/bob/.cache/pip: not walked: " in out, out
    code, out = run(open_tree, tmp_path, "clean", "--user", "bob", "--yes")
    assert code == 3 and "/home/bob/.cache/pip: refused" in out, out
