"""``fleetcache clean`` for real, as root against numeric uids: what it plans, that pip agrees
afterwards, and that no trick (links, hardlinks, a swapped directory, a bind mount, foreign
files, FIFOs, hostile names, a deep tree, a busy cache, a running pip, a second clean, a SIGKILL)
makes it delete anything outside the plan. Victim trees are snapshotted before and after."""

from __future__ import annotations

import hashlib
import json
import os
import resource
import shutil
import signal
import stat
import subprocess
import sys
import textwrap
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from fleetcache.clean.plan import CachePlan
from fleetcache.clean.policy import Policy
from fleetcache.clean.run import Cleaner, Request, clean
from fleetcache.cli import main
from fleetcache.discovery.envs import EnvSearch
from fleetcache.machine import Machine
from fleetcache.scan import Selection
from tests.conftest import Tree, chown_tree, fill_cache, pip_env, run_on_tty
from tests.index_server import Hold, default_index, make_wheel, serve

ROOT = os.geteuid() == 0
pytestmark = pytest.mark.skipif(not ROOT, reason="cleans as other uids: run as root (CI is)")
ALICE, BOB = 12345, 12346
CACHE = "/home/alice/.cache/pip"
BASE = "/usr/bin/python3"
KEYS = [hashlib.sha224(str(i).encode()).hexdigest() for i in range(40)]


@pytest.fixture
def tree(open_tree: Tree) -> Tree:
    """A machine tree alice's deleting child and processes may traverse."""
    return open_tree


@pytest.fixture
def state(tmp_path: Path) -> dict[str, str]:
    """Where this test's audit log, locks and state directory go."""
    return {"log": str(tmp_path / "log" / "audit.log"), "locks": str(tmp_path / "locks"),
            "state": str(tmp_path / "state")}  # fmt: skip


def http_entry(cache: Path, key: str, body: bytes = b"x" * 100, meta: bool = True) -> Path:
    where = cache / "http-v2" / key[0] / key[1] / key[2] / key[3] / key[4]
    where.mkdir(parents=True, exist_ok=True)
    if meta:
        (where / key).write_bytes(b"cc=4," + b"\x80")
    (where / f"{key}.body").write_bytes(body)
    return where


def built_wheel(cache: Path, key: str, name: str, mtime: float | None = None) -> Path:
    where = cache / "wheels" / key[:2] / key[2:4] / key[4:6] / key[6:]
    where.mkdir(parents=True, exist_ok=True)
    (where / name).write_bytes(b"PK" + b"w" * 500)
    (where / "origin.json").write_text('{"url": "https://example.org/x.tar.gz"}')
    if mtime is not None:
        for f in where.iterdir():
            os.utime(f, (mtime, mtime))
    return where


def synthetic(tree: Tree, n: int = 6) -> Path:
    """alice's cache: n http-v2 entries, two built wheels, a selfcheck key; alice owns it all."""
    cache = tree.host(CACHE)
    for key in KEYS[:n]:
        http_entry(cache, key)
    built_wheel(cache, KEYS[30], "alpha-1.0-py3-none-any.whl")
    built_wheel(cache, KEYS[31], "beta-2.0-py3-none-any.whl")
    tree.user("alice", ALICE)
    chown_tree(tree.host("/home/alice"), ALICE)
    return cache


def snapshot(top: Path) -> dict[str, tuple[str, int, str]]:
    """Every entry below ``top`` (links not followed): kind, size, content hash or link target."""
    out: dict[str, tuple[str, int, str]] = {}
    for dirpath, dirnames, filenames in os.walk(top):
        for name in dirnames + filenames:
            path = os.path.join(dirpath, name)
            st = os.lstat(path)
            rel = os.path.relpath(path, top)
            if stat.S_ISLNK(st.st_mode):
                out[rel] = ("link", 0, os.readlink(path))
            elif stat.S_ISREG(st.st_mode):
                out[rel] = ("file", st.st_size, hashlib.sha256(Path(path).read_bytes()).hexdigest())
            else:
                out[rel] = (stat.filemode(st.st_mode)[0], 0, "")
    return out


def files_below(top: Path) -> list[str]:
    return sorted(os.path.relpath(os.path.join(d, f), top) for d, _, fs in os.walk(top) for f in fs)


def run(tree: Tree, state: dict[str, str], *args: str) -> tuple[int, dict[str, Any]]:
    """``fleetcache clean --yes --format json``; (exit code, document). It runs in this process
    unless the test serves an index: then in a new one (fork is refused while threads run)."""
    argv = ["clean", "--root", str(tree.root), "--audit-log", state["log"], "--lock-dir",
            state["locks"], "--state-dir", state["state"], "--format", "json", "--yes", *args]  # fmt: skip
    if threading.active_count() > 1:
        r = subprocess.run([sys.executable, "-m", "fleetcache", *argv], capture_output=True)
        assert b"Traceback" not in r.stderr, r.stderr
        return r.returncode, json.loads(r.stdout) if r.stdout else {}
    out = Path(state["log"]).parent.parent / "out.json"
    code = main([*argv, "-o", str(out)])
    doc = json.loads(out.read_text()) if out.exists() else {}
    if out.exists():
        out.unlink()
    return code, doc


def audit(state: dict[str, str]) -> list[dict[str, Any]]:
    return [json.loads(line) for line in Path(state["log"]).read_text().splitlines()]


def one(doc: dict[str, Any]) -> dict[str, Any]:
    assert len(doc["caches"]) == 1, doc["caches"]
    record: dict[str, Any] = doc["caches"][0]
    return record


def request(state: dict[str, str], **more: Any) -> Request:
    policy = more.pop("policy", Policy())
    return Request(
        policy=policy,
        selection=Selection(users=("alice",), env_search=EnvSearch(probe=False)),
        audit_log=state["log"],
        lock_dir=state["locks"],
        state_dir=state["state"],
        **more,
    )


# ---- what is planned, and that pip agrees


def test_dry_run_plans_logs_and_deletes_nothing(tree, state, capsys):
    cache = synthetic(tree)
    before = snapshot(cache)
    code, doc = run(tree, state, "--user", "alice", "--dry-run")
    assert code == 0
    c = one(doc)
    assert c["state"] == "planned" and c["user"] == "alice" and c["uid"] == ALICE
    # 6 entries (12 files) + 2 wheels + their origin.json, which pip removes with the wheel
    assert c["plan"]["files"] == 16
    assert c["plan"]["why"]["purge"]["files"] == 14
    assert c["before"]["http_files"] == 12 and c["before"]["wheel_files"] == 2
    assert c["after"] is None
    assert snapshot(cache) == before
    # one summary line per cache, not one per file (issue 16 item 12): what it would remove
    lines = audit(state)
    assert len(lines) == 1, lines
    line = lines[0]
    assert (line["action"], line["path"], line["outcome"], line["dry_run"]) == (
        "cache", "", "planned", True)  # fmt: skip
    assert (line["files"], line["size"], line["reason"]) == (16, c["plan"]["bytes"], "purge")
    assert (line["cache"], line["account"], line["uid"]) == (CACHE, "alice", ALICE)
    st = os.stat(state["log"])
    assert st.st_uid == 0 and stat.S_IMODE(st.st_mode) == 0o600
    assert {"time", "run", "operator", "account", "uid", "cache", "path", "files", "size",
            "action", "reason", "outcome", "dry_run"} == set(line)  # fmt: skip
    assert line["run"] == doc["run_id"]


def test_purge_removes_what_pip_purge_removes_and_logs_each_action(tree, state):
    cache = synthetic(tree)
    (cache / "selfcheck").mkdir()
    tree.write(CACHE + "/selfcheck/" + KEYS[20], '{"key": "/usr", "last_check": "x"}', ALICE)
    tree.write(CACHE + "/selfcheck.json", "{}", ALICE)
    os.lchown(cache / "selfcheck", ALICE, ALICE)
    code, doc = run(tree, state, "--user", "alice", "--purge")
    assert code == 0, doc
    c = one(doc)
    assert c["state"] == "cleaned"
    assert c["deleted"]["files"] == 17 and c["failed"]["count"] == 0
    # pip's purge keeps selfcheck/ and leaves no http-v2/ or wheels/ directory behind
    assert files_below(cache) == [f"selfcheck/{KEYS[20]}"]
    assert sorted(os.listdir(cache)) == ["selfcheck"]
    assert c["after"]["http_files"] == 0 and c["after"]["wheel_files"] == 0
    deleted = [x for x in audit(state) if x["action"] == "delete"]
    assert len(deleted) == 17 and all(x["outcome"] == "deleted" for x in deleted)
    assert any(x["path"] == "selfcheck.json" for x in deleted)
    assert any(x["action"] == "rmdir" and x["path"] == "http-v2/" for x in audit(state))
    assert os.listdir(state["locks"]) == []  # the lock went with the clean


def test_selectors_pick_exactly_their_entries(tree, state):
    cache = synthetic(tree, n=4)
    now = time.time()
    # junk: an orphan half, a tmp leftover, a legacy http/ file, a pre-20.0 wheel, a dead key
    http_entry(cache, KEYS[10], meta=False)
    tmp = http_entry(cache, KEYS[11]) / f"{KEYS[11]}abcdefgh.tmp"
    tmp.write_bytes(b"t")
    legacy = cache / "http" / "a" / "b" / "c" / "d" / "e"
    legacy.mkdir(parents=True)
    (legacy / KEYS[12]).write_bytes(b"cc=4,old")
    old = built_wheel(cache, KEYS[32], "gamma-0.1-py3-none-any.whl", mtime=1_500_000_000)
    (old / "origin.json").unlink()
    (cache / "selfcheck").mkdir()
    (cache / "selfcheck" / KEYS[13]).write_text('{"key": "/opt/gone", "last_check": "x"}')
    (cache / "selfcheck" / KEYS[14]).write_text('{"key": "/usr", "last_check": "x"}')
    tree.host("/usr").mkdir(exist_ok=True)
    # an old entry (60 days) for --older-than
    aged = http_entry(cache, KEYS[15])
    for f in aged.iterdir():
        os.utime(f, (now - 60 * 86400, now - 60 * 86400))
    chown_tree(tree.host("/home/alice"), ALICE)

    def planned(*args: str) -> dict[str, list[int]]:
        code, doc = run(tree, state, "--user", "alice", "--dry-run", *args)
        assert code == 0
        return {k: [v["files"], v["bytes"]] for k, v in one(doc)["plan"]["why"].items()}

    # no pip is known to use the cache: one before 23.3 may read its legacy http/
    code, doc = run(tree, state, "--user", "alice", "--dry-run", "--junk")
    assert (
        code == 0
        and "junk: legacy http/ (pip >= 23.3 never reads it)" not in one(doc)["plan"]["why"]
    )
    why = "legacy http/: no pip known to use this cache (an older one may read it)"
    assert one(doc)["plan"]["left"][why] == {"files": 1, "bytes": 8}
    # the system's pip (every account's) is 26.3: pip never reads http/ again
    tree.write("/usr/bin/python3.11", "")
    tree.write("/usr/lib/python3/dist-packages/pip-26.3.dist-info/METADATA", "Version: 26.3\n")
    junk = planned("--junk")
    assert junk == {
        "junk: orphan half of an http entry": [1, 100],
        "junk: tmp leftover": [1, 1],
        "junk: legacy http/ (pip >= 23.3 never reads it)": [1, 8],
        "junk: wheel built before pip 20.0 (never read again)": [1, 502],
        "junk: selfcheck key of an interpreter that is gone": [1, 39],
    }
    assert planned("--older-than", "30d") == {"older than 30d": [3, 608]}  # + gamma (2017)
    both = planned("--junk", "--older-than", "30d")
    assert both == {
        "junk: wheel built before pip 20.0 (never read again), older than 30d": [1, 502]
    }
    # pip's pattern rule: 'alpha' means alpha-*.whl; its origin.json goes with it
    assert planned("--pattern", "alpha") == {
        "pattern": [1, 502],
        "no wheel left in its directory (as pip removes it)": [1, 39],
    }
    assert planned("--pattern", "Alpha") == {}  # no normalisation, as pip
    # --max-size: oldest first until the cache is under the size
    total = sum(os.lstat(os.path.join(d, f)).st_size for d, _, fs in os.walk(cache) for f in fs)
    sized = planned("--max-size", str(total - 200))
    # gamma's wheel (2017)
    assert sized == {"least recently used first, over the size limit": [1, 502]}


def test_pip_tidy_rules_and_older_than_spare_what_they_must(tree, state):
    cache = synthetic(tree, n=2)
    old = time.time() - 90 * 86400
    # a wheels directory whose only wheel has no '-': pip's purge keeps it (any *.whl keeps its
    # directory), with its origin.json
    odd = built_wheel(cache, KEYS[33], "odd.whl")
    # a young wheel-less directory (just origin.json) and a young empty http-v2 directory
    young = cache / "wheels" / "ee" / "ee" / "ee" / ("e" * 50)
    young.mkdir(parents=True)
    (young / "origin.json").write_text("{}")
    empty = cache / "http-v2" / "f" / "f" / "f" / "f" / "f"
    empty.mkdir(parents=True)
    (cache / "selfcheck.json").write_text("{}")
    # an old entry, and beside it an old empty directory this clean did not empty
    aged = http_entry(cache, KEYS[15])
    stale = aged.parent / "z"
    stale.mkdir()
    for f in [*aged.iterdir(), stale, aged]:
        os.utime(f, (old, old))
    # a selfcheck key whose interpreter lies behind bob's link: root does not follow it
    tree.host("/srv").mkdir()
    os.symlink("/nowhere", tree.host("/srv/bobs"))
    os.lchown(tree.host("/srv/bobs"), BOB, BOB)
    (cache / "selfcheck").mkdir()
    (cache / "selfcheck" / KEYS[13]).write_text('{"key": "/srv/bobs/venv", "last_check": "x"}')
    chown_tree(tree.host("/home/alice"), ALICE)

    def plan(**policy: Any) -> tuple[set[str], set[str], dict[str, Any]]:
        cleaner = Cleaner(Machine.local(str(tree.root)), request(state, policy=Policy(**policy)))
        result = cleaner.plan()
        p = result.caches[0].plan
        assert p is not None
        files = {"/".join((*d.parts, f.name)) for d in p.dirs for f in d.files}
        dirs = {"/".join(d.parts) for d in p.dirs if d.remove}
        return files, dirs, {"over": p.over_limit, "removed_dirs": p.removed_dirs}

    def rel(path: Path) -> str:
        return str(path.relative_to(cache))

    files, dirs, _ = plan(purge=True)
    assert rel(odd / "odd.whl") not in files and rel(odd / "origin.json") not in files
    assert rel(young / "origin.json") in files and rel(young) in dirs and rel(empty) in dirs
    assert "selfcheck.json" in files
    # --purge --older-than 30d: only the old entry; nothing young is tidied away
    files, dirs, _ = plan(purge=True, older_than=30 * 86400)
    assert files == {rel(aged / KEYS[15]), rel(aged / f"{KEYS[15]}.body")}
    assert rel(aged) in dirs and rel(stale) in dirs and rel(young) not in dirs
    assert rel(empty) not in dirs
    # --pattern removes selfcheck.json too, as every `pip cache remove` does
    files, _, _ = plan(patterns=("alpha",))
    assert "selfcheck.json" in files
    # --junk: bob's link is not followed to call the key dead
    files, _, _ = plan(junk=True)
    assert f"selfcheck/{KEYS[13]}" not in files
    # --older-than alone: the old entry's directory goes; its untouched empty sibling stays,
    # so neither does their parent: every planned directory removal can succeed
    files, dirs, _ = plan(older_than=30 * 86400)
    assert rel(aged) in dirs and rel(stale) not in dirs and rel(aged.parent) not in dirs
    code, doc = run(tree, state, "--user", "alice", "--older-than", "30d")
    c = one(doc)
    assert code == 0 and c["state"] == "cleaned" and c["failed"]["count"] == 0
    assert c["deleted"]["dirs"] == c["plan"]["dirs"] == 1
    assert stale.is_dir() and not aged.exists()
    # --max-size it cannot reach: it says by how much (bob's file is not alice's to remove)
    (cache / "wheels" / "bobs").mkdir()
    (cache / "wheels" / "bobs" / "big").write_bytes(b"b" * 30_000)
    os.lchown(cache / "wheels" / "bobs", ALICE, ALICE)
    os.lchown(cache / "wheels" / "bobs" / "big", BOB, BOB)
    _, _, got = plan(max_size=10_000)
    assert got["over"] is not None and 20_000 <= got["over"] < 21_000
    code, doc = run(tree, state, "--user", "alice", "--max-size", "10k", "--dry-run")
    assert one(doc)["plan"]["over_limit"] == got["over"]
    out = subprocess.run(
        [sys.executable, "-m", "fleetcache", "clean", "--root", str(tree.root), "--user",
         "alice", "--max-size", "10k", "--dry-run", "--audit-log", state["log"]],
        capture_output=True, text=True,
    ).stdout  # fmt: skip
    assert "Cannot get under --max-size:" in out and "over the size limit" in out


def test_bad_arguments_are_one_line_errors(tree, state, capsys):
    synthetic(tree)
    for args, message in [
        (["--user", "alice", "--older-than", "soon"], "not a duration"),
        (["--user", "alice", "--max-size", "huge"], "not a size"),
        (["--user", "alice", "--package", "../x"], "not a project name"),
        (["--user", "alice", "--pattern", "a/b"], "without '/'"),
        ([], "name whose caches"),
        (["--user", "nobody-here"], "nobody-here"),
        (["--cache", "relative/path"], "absolute path"),
    ]:
        code, _ = run(tree, state, *args)
        err = capsys.readouterr().err
        assert code == 2, (args, err)
        assert message in err and "Traceback" not in err
        assert len(err.strip().splitlines()) == 1


def test_a_terminal_is_shown_the_plan_and_asked_and_only_yes_deletes(tree, state):
    cache = synthetic(tree, n=2)
    before = snapshot(cache)
    argv = ("clean", "--root", str(tree.root), "--user", "alice", "--quiet",
            "--audit-log", state["log"], "--lock-dir", state["locks"], "--state-dir", state["state"])  # fmt: skip
    for no in (b"n\n", b"\n", b"whatever\n"):
        code, shown = run_on_tty(*argv, answer=no)
        assert code == 0 and "Plan: purge" in shown, shown
        assert "Delete 8 files (1.3 kB) from 1 cache? [y/N]" in shown and "nothing deleted" in shown
        assert snapshot(cache) == before
    assert not Path(state["log"]).exists()  # nothing done, nothing logged
    code, shown = run_on_tty(*argv, answer=b"y\n")
    assert code == 0 and "cleaned" in shown and "FREED" in shown, shown
    assert files_below(cache) == []


def test_the_plan_and_the_question_say_sizes_as_a_person_would(tree, state):
    """Issue 16 item 10: ``--max-size 10G`` is "until at most 10 GB", and 12 GB to delete is
    "12.0 GB" (not 10000000000 bytes, nor pip's 12000.0 MB)."""
    cache = synthetic(tree, n=1)
    big = http_entry(cache, KEYS[20], body=b"") / f"{KEYS[20]}.body"
    os.truncate(big, 12 * 10**9)  # sparse: 12 GB that take no room
    old = time.time() - 86400
    for half in big.parent.iterdir():
        os.utime(half, (old, old))
    chown_tree(tree.host("/home/alice"), ALICE)
    argv = ("clean", "--root", str(tree.root), "--user", "alice", "--max-size", "10G", "--quiet",
            "--audit-log", state["log"], "--lock-dir", state["locks"], "--state-dir", state["state"])  # fmt: skip
    code, shown = run_on_tty(*argv, answer=b"n\n")
    assert code == 0 and "Plan: until at most 10 GB" in shown, shown
    assert "Delete 2 files (12.0 GB) from 1 cache? [y/N]" in shown, shown
    assert big.exists()


def test_no_terminal_and_no_yes_is_refused_before_anything_happens(tree, state, capsys):
    cache = synthetic(tree)
    before = snapshot(cache)
    r = subprocess.run(
        [sys.executable, "-m", "fleetcache", "clean", "--root", str(tree.root), "--user", "alice",
         "--audit-log", state["log"], "--lock-dir", state["locks"], "--state-dir", state["state"]],
        stdin=subprocess.DEVNULL, capture_output=True, text=True,
    )  # fmt: skip
    assert r.returncode == 2 and "--yes" in r.stderr
    assert snapshot(cache) == before and not os.path.exists(state["log"])


# ---- safe as root


def test_a_linked_cache_root_or_home_cache_or_foreign_cache_is_refused(tree, state):
    victim = tree.host("/srv/victim")
    http_entry(victim, KEYS[0])
    http_entry(tree.host("/srv/pip"), KEYS[2])  # what bob's link leads to (else: no cache)
    synthetic(tree)
    # bob's ~/.cache is a link to the victims' parent; carol's cache root is a link itself
    tree.user("bob", BOB)
    os.symlink("/srv", tree.host("/home/bob/.cache"))  # a machine path: links resolve inside it
    os.lchown(tree.host("/home/bob/.cache"), BOB, BOB)
    tree.user("carol", 12347)
    tree.host("/home/carol/.cache").mkdir()
    os.symlink("/srv/victim", tree.host("/home/carol/.cache/pip"))
    chown_tree(tree.host("/home/carol"), 12347)
    # dave's cache belongs to bob
    tree.user("dave", 12348)
    http_entry(tree.host("/home/dave/.cache/pip"), KEYS[1])
    chown_tree(tree.host("/home/dave"), 12348)
    chown_tree(tree.host("/home/dave/.cache/pip"), BOB)
    before = snapshot(tree.root / "srv")
    dave = snapshot(tree.host("/home/dave"))
    code, doc = run(tree, state, "--user", "bob", "--user", "carol", "--user", "dave")
    assert code == 3
    states = {c["path"]: (c["state"], c["reason"]) for c in doc["caches"]}
    assert states["/home/bob/.cache/pip"][0] == "refused"
    assert "symbolic link" in states["/home/bob/.cache/pip"][1]
    assert states["/home/carol/.cache/pip"][0] == "refused"
    assert "symbolic link" in states["/home/carol/.cache/pip"][1]
    assert states["/home/dave/.cache/pip"] == (
        "refused",
        f"refused: it belongs to uid {BOB}, not to an account that uses it (dave)",
    )
    assert snapshot(tree.root / "srv") == before and snapshot(tree.host("/home/dave")) == dave
    # --cache naming the link itself is refused the same way
    code, doc = run(tree, state, "--cache", "/home/carol/.cache/pip")
    # (and carol's second refusal in a row: 5, a failure that repeats)
    assert code == 5 and "symbolic link" in one(doc)["reason"]
    assert snapshot(tree.root / "srv") == before


def test_links_hardlinks_fifos_foreign_files_and_odd_names_inside(tree, state):
    cache = synthetic(tree, n=2)
    victim = tree.host("/srv/victim")
    victim.mkdir(parents=True)
    (victim / "precious").write_text("keep me")
    (victim / "sub").mkdir()
    (victim / "sub" / "file").write_text("keep me too")
    where = cache / "http-v2" / "f" / "f" / "f" / "f" / "f"
    where.mkdir(parents=True)
    os.symlink(str(victim), where / "dirlink")
    os.symlink(str(victim / "precious"), where / "filelink")
    os.link(victim / "precious", where / "hardlink")  # root's file, linked in
    os.mkfifo(where / "fifo")
    (where / "theirs").write_text("bob's")
    hostile = [b"new\nline", b"\x1b[31mred", b"bad\xff\xfeutf8", b"-rf"]
    for name in hostile:
        with open(os.path.join(os.fsencode(where), name), "wb") as f:
            f.write(b"h")
    chown_tree(tree.host("/home/alice"), ALICE)
    os.lchown(where / "theirs", BOB, BOB)
    os.lchown(where / "hardlink", 0, 0)  # the hard link is the victim's inode: root's
    before = snapshot(victim)
    code, doc = run(tree, state, "--user", "alice")
    assert code == 0, doc
    c = one(doc)
    assert c["plan"]["left"] == {"owned by another account": {"files": 2, "bytes": 12}}
    assert snapshot(victim) == before
    assert sorted(os.listdir(where)) == ["hardlink", "theirs"]
    shown = [x["path"] for x in audit(state) if x["action"] == "delete"]
    assert "http-v2/f/f/f/f/f/new\\nline" not in shown  # JSON escapes, not terminal escapes
    assert "http-v2/f/f/f/f/f/bad\\xff\\xfeutf8" in shown
    assert "http-v2/f/f/f/f/f/new\nline" in shown
    # the table escapes the names for a terminal
    tree_text = subprocess.run(
        [sys.executable, "-m", "fleetcache", "clean", "--root", str(tree.root), "--user",
         "alice", "--dry-run", "--audit-log", state["log"], "--lock-dir", state["locks"]],
        capture_output=True,
    )  # fmt: skip
    assert b"\x1b" not in tree_text.stdout and tree_text.returncode == 0


def test_a_directory_swapped_for_a_link_after_planning_loses_nothing(tree, state):
    """The race: after the plan, alice replaces a planned directory with a link to a victim.
    fleetcache removes nothing there; a naive path-based deleter, the control, loses the victim."""
    cache = synthetic(tree, n=3)
    victim = tree.host("/srv/victim")

    def make_victim() -> None:
        shutil.rmtree(victim, ignore_errors=True)
        where = victim / "e" / "d"
        where.mkdir(parents=True)
        for key in KEYS[:3]:  # the very names the plan expects
            (victim / key).write_text("victim")
            (victim / f"{key}.body").write_text("victim")

    make_victim()
    before = snapshot(victim)
    cleaner = Cleaner(Machine.local(str(tree.root)), request(state))
    result = cleaner.plan()
    plan = result.caches[0].plan
    assert plan is not None and plan.files == 10
    leaf = http_entry(cache, KEYS[0]).parent  # http-v2/x/x/x/x: holds the planned leaf dir

    def swap() -> None:
        target = leaf / KEYS[0][4]
        shutil.rmtree(target)
        os.symlink(str(victim), target)
        os.lchown(target, ALICE, ALICE)

    swap()
    cleaner.execute(result)
    assert snapshot(victim) == before
    c = result.caches[0]
    assert c.state == "partial"
    assert any("no longer a directory" in why for _, why in c.failed)

    # the control: the same race against a path-based deleter loses the victim's files
    make_victim()
    http_entry(cache, KEYS[1])
    chown_tree(tree.host("/home/alice"), ALICE)
    naive_plan = Cleaner(Machine.local(str(tree.root)), request(state)).plan().caches[0].plan
    target = http_entry(cache, KEYS[1])
    shutil.rmtree(target)
    os.symlink(str(victim), target)
    lost = naive_delete(tree.host(CACHE), naive_plan)
    assert lost and snapshot(victim) != before


def test_a_file_changed_in_place_after_planning_is_left(tree, state):
    """Same inode, new content: the inode number alone would pass; its change time does not."""
    cache = synthetic(tree, n=2)
    cleaner = Cleaner(Machine.local(str(tree.root)), request(state))
    result = cleaner.plan()
    body = cache.joinpath("http-v2", *KEYS[0][:5], f"{KEYS[0]}.body")
    ino = body.stat().st_ino
    time.sleep(0.01)
    with open(body, "ab") as f:
        f.write(b"rewritten after the plan")
    cleaner.execute(result)
    c = result.caches[0]
    assert body.exists() and body.stat().st_ino == ino
    assert c.state == "partial" and c.failed == [
        (f"{body.relative_to(cache)}", "changed since the plan; left")
    ]
    assert c.plan is not None and c.deleted_files == c.plan.files - 1 == 7  # its other half goes


def test_two_names_of_one_file_in_the_cache_both_go(tree, state):
    """A deduplicated cache (hardlink, rdfind): unlinking the first name changes the inode's
    change time; the second name is still the planned file, and goes too."""
    cache = synthetic(tree, n=2)
    first = cache.joinpath("http-v2", *KEYS[0][:5], f"{KEYS[0]}.body")
    second = cache.joinpath("http-v2", *KEYS[1][:5], f"{KEYS[1]}.body")
    second.unlink()
    os.link(first, second)
    code, doc = run(tree, state, "--user", "alice")
    c = one(doc)
    assert code == 0 and c["state"] == "cleaned" and c["failed"]["count"] == 0, c
    assert files_below(cache) == []


def stray_files(cache: Path, name: str, count: int) -> Path:
    """``count`` files in one http-v2 directory (a purge removes them all)."""
    where = cache / "http-v2" / name / name / name / name / name
    where.mkdir(parents=True)
    for i in range(count):
        (where / f"stray{i:03}").write_bytes(b"s" * 10)
    return where


def test_the_deadline_stops_the_child_and_every_removal_is_logged(tree, state):
    cache = synthetic(tree, n=3)
    shutil.rmtree(cache / "wheels")  # (they would come first: the plan goes in reverse order)
    big = stray_files(cache, "z", 150)  # the first directory of the plan: three reports
    chown_tree(tree.host("/home/alice"), ALICE)

    def slow(d: Any) -> None:  # in the child: the second directory takes 3 s
        if d.parts == big.parent.relative_to(cache).parts:
            time.sleep(3)

    result = clean(Machine.local(str(tree.root)), request(state, timeout=1.0), on_dir=slow)
    c = result.caches[0]
    assert c.state == "partial" and "stopped at the deadline" in (c.reason or "")
    lines = [x for x in audit(state) if x["action"] in ("delete", "rmdir")]
    assert not any(x["outcome"].startswith("unknown") for x in lines)  # it stopped and said so
    deleted = {x["path"] for x in lines if x["outcome"] == "deleted" and x["action"] == "delete"}
    assert deleted == {f"{big.relative_to(cache)}/stray{i:03}" for i in range(150)}
    assert not big.exists() and big.parent.is_dir()
    assert len(files_below(cache)) == 6  # the rest of the plan is left


def test_ctrl_c_while_deleting_stops_the_child_and_every_removal_is_logged(tree, state):
    """A terminal's Ctrl-C reaches the whole process group, the deleting child too: the clean
    stops it as at the deadline, logs every file it removed and the cache's outcome, and only
    then ends with 130."""
    cache = synthetic(tree, n=3)
    shutil.rmtree(cache / "wheels")
    big = stray_files(cache, "z", 150)
    chown_tree(tree.host("/home/alice"), ALICE)
    marks = tree.root.parent / "marks"
    marks.mkdir()
    os.lchown(marks, ALICE, ALICE)
    script = textwrap.dedent(f"""
        import sys, time
        from fleetcache.clean.run import clean, Request
        from fleetcache.clean.policy import Policy
        from fleetcache.machine import Machine
        from fleetcache.scan import Selection
        from fleetcache.discovery.envs import EnvSearch
        def slow(d):  # in the deleting child: the second directory takes 3 s
            if d.parts == {big.parent.relative_to(cache).parts!r}:
                open({str(marks / "slow")!r}, "w").close()
                time.sleep(3)
        try:
            clean(Machine.local({str(tree.root)!r}),
                  Request(Policy(), Selection(users=("alice",), env_search=EnvSearch(probe=False)),
                          audit_log={state["log"]!r}, lock_dir={state["locks"]!r},
                          state_dir={state["state"]!r}), on_dir=slow)
        except KeyboardInterrupt:
            sys.exit(130)
    """)
    p = subprocess.Popen([sys.executable, "-c", script], start_new_session=True,
                         stderr=subprocess.PIPE)  # fmt: skip
    deadline = time.monotonic() + 60
    while not (marks / "slow").exists():
        assert time.monotonic() < deadline and p.poll() is None, "the clean never got there"
        time.sleep(0.05)
    os.killpg(p.pid, signal.SIGINT)  # as a terminal sends it: to the whole group
    assert p.wait(60) == 130
    assert p.stderr is not None and b"Traceback" not in p.stderr.read()
    log = audit(state)
    lines = [x for x in log if x["action"] in ("delete", "rmdir")]
    assert not any(x["outcome"].startswith("unknown") for x in lines)  # it stopped and said so
    deleted = {x["path"] for x in lines if x["outcome"] == "deleted" and x["action"] == "delete"}
    assert deleted == {f"{big.relative_to(cache)}/stray{i:03}" for i in range(150)}
    assert not big.exists() and len(files_below(cache)) == 6  # the rest of the plan is left
    (done,) = [x for x in log if x["action"] == "cache"]
    assert done["outcome"] == "partial" and "interrupted" in done["reason"], done


def test_a_child_that_dies_leaves_unknown_outcomes_in_the_log_not_silence(tree, state):
    cache = synthetic(tree, n=1)
    shutil.rmtree(cache / "wheels")
    first = stray_files(cache, "z", 150)
    second = stray_files(cache, "y", 100)
    chown_tree(tree.host("/home/alice"), ALICE)

    def die(d: Any) -> None:
        if d.parts == second.relative_to(cache).parts:
            os._exit(9)

    result = clean(Machine.local(str(tree.root)), request(state), on_dir=die)
    c = result.caches[0]
    assert c.state == "partial" and "status" in (c.reason or "")
    lines = [x for x in audit(state) if x["action"] == "delete"]
    outcomes: dict[str, int] = {}
    for x in lines:
        outcomes[x["outcome"]] = outcomes.get(x["outcome"], 0) + 1
    # the first directory was reported in batches (64, 64, 22); of the second, the batch the
    # child may have been doing is logged as unknown (here it had not started)
    assert outcomes == {
        "deleted": 150,
        "unknown: the deleting process stopped before reporting it": 64,
    }
    assert not first.exists() and len(os.listdir(second)) == 100


def naive_delete(cache: Path, plan: CachePlan | None) -> int:
    """What a path-based deleter does with the same plan: join strings, unlink."""
    assert plan is not None
    count = 0
    for d in plan.dirs:
        for f in d.files:
            try:
                os.unlink(os.path.join(cache, *d.parts, f.name))
                count += 1
            except OSError:
                pass
    return count


def test_the_owner_does_the_deleting_and_cannot_become_root_again(tree, state):
    synthetic(tree, n=1)
    (tree.root / "etc" / "group").write_text("team:x:12350:bob,alice\n")

    def report(_: Any) -> None:
        raise RuntimeError(f"ids {os.getresuid()} {os.getresgid()} groups {os.getgroups()}")

    result = clean(Machine.local(str(tree.root)), request(state), on_dir=report)
    c = result.caches[0]
    assert c.state == "partial"
    assert c.reason is not None
    # groups: as a login gives them: its own gid, and those the tree's etc/group lists it in
    assert (
        f"ids ({ALICE}, {ALICE}, {ALICE}) ({ALICE}, {ALICE}, {ALICE}) groups [{ALICE}, 12350]"
        in c.reason
    )


def test_unreadable_directories_are_reported_never_chmoded(tree, state):
    cache = synthetic(tree, n=3)
    locked = http_entry(cache, KEYS[0])
    locked.chmod(0o000)
    try:
        code, doc = run(tree, state, "--user", "alice")
        assert code == 3
        c = one(doc)
        assert c["state"] == "partial" and c["failed"]["count"] == 2
        assert "Permission denied" in c["failed"]["first"][0]["reason"]
        assert stat.S_IMODE(locked.stat().st_mode) == 0
        assert sorted(os.listdir(locked)) == [KEYS[0], f"{KEYS[0]}.body"]
    finally:
        locked.chmod(0o755)


def test_a_bind_mount_inside_the_cache_is_never_entered(tree, state):
    cache = synthetic(tree, n=2)
    victim = tree.host("/srv/victim")
    victim.mkdir(parents=True)
    (victim / KEYS[5]).write_text("victim")
    (victim / f"{KEYS[5]}.body").write_text("victim")
    point = http_entry(cache, KEYS[5])
    for f in point.iterdir():
        f.unlink()
    outside = cache / "data" / "m"  # below a directory outside pip's areas: not read either
    outside.mkdir(parents=True)
    chown_tree(tree.host("/home/alice"), ALICE)
    chown_tree(victim, ALICE)
    points = []
    try:
        for where in (point, outside):
            mounted = subprocess.run(["mount", "--bind", str(victim), str(where)],
                                     capture_output=True)  # fmt: skip
            if mounted.returncode != 0:
                pytest.skip(f"mounting is not permitted here: {mounted.stderr.decode().strip()}")
            points.append(where)
        before = snapshot(victim)
        code, doc = run(tree, state, "--user", "alice")
        assert snapshot(victim) == before
        c = one(doc)
        assert sorted(c["plan"]["mounts"]) == sorted(str(p.relative_to(cache)) for p in points)
        assert "below a mount point" not in c["plan"]["left"]  # not even listed
        assert code == 0 and c["state"] == "cleaned", c
        assert c["after"]["total_files"] == 0  # the measuring walk does not enter them either
    finally:
        for where in reversed(points):
            subprocess.run(["umount", str(where)], check=False)


def test_a_tree_deeper_than_the_descriptor_limit(tree, state):
    cache = synthetic(tree, n=2)
    deep = cache / "http-v2" / "0"
    for _ in range(120):
        deep = deep / "d"
    deep.mkdir(parents=True)
    (deep / KEYS[9]).write_text("deep")
    chown_tree(tree.host("/home/alice"), ALICE)
    outside = snapshot(tree.root / "etc")

    def limit() -> None:
        resource.setrlimit(resource.RLIMIT_NOFILE, (64, 64))

    r = subprocess.run(
        [sys.executable, "-m", "fleetcache", "clean", "--root", str(tree.root), "--user", "alice",
         "--yes", "--audit-log", state["log"], "--lock-dir", state["locks"], "-f", "json",
         "--state-dir", state["state"]],
        capture_output=True, text=True, preexec_fn=limit,
    )  # fmt: skip
    assert "Traceback" not in r.stderr, r.stderr
    doc = json.loads(r.stdout)
    c = one(doc)
    assert r.returncode == 3 and c["state"] in ("partial", "cleaned")
    assert (deep / KEYS[9]).exists()  # never reached, never deleted blindly
    assert c["deleted"]["files"] >= 6  # the rest is cleaned
    assert snapshot(tree.root / "etc") == outside


def test_a_tree_deeper_than_pythons_recursion_limit(tree, state):
    """1,100 nested directories: nothing on the way (walk, plan, tidy, delete) recurses."""
    cache = synthetic(tree, n=1)
    chown_tree(tree.host("/home/alice"), ALICE)
    deep = cache / "wheels"
    for _ in range(1100):
        deep = deep / "d"
        deep.mkdir()
        os.lchown(deep, ALICE, ALICE)
    wheel = deep / "deep-1.0-py3-none-any.whl"
    wheel.write_bytes(b"w")
    os.lchown(wheel, ALICE, ALICE)
    hard = resource.getrlimit(resource.RLIMIT_NOFILE)[1]
    if hard != resource.RLIM_INFINITY and hard < 4096:
        pytest.skip(f"needs 4096 descriptors; the hard limit is {hard}")

    def limit() -> None:
        resource.setrlimit(resource.RLIMIT_NOFILE, (4096, hard))

    r = subprocess.run(
        [sys.executable, "-m", "fleetcache", "clean", "--root", str(tree.root), "--user", "alice",
         "--yes", "--audit-log", state["log"], "--lock-dir", state["locks"], "-f", "json",
         "--state-dir", state["state"]],
        capture_output=True, text=True, preexec_fn=limit,
    )  # fmt: skip
    assert "Traceback" not in r.stderr, r.stderr[-2000:]
    c = one(json.loads(r.stdout))
    assert r.returncode == 0 and c["state"] == "cleaned", c
    assert c["deleted"]["files"] == 2 + 4 + 1 and c["deleted"]["dirs"] >= 1100
    assert sorted(os.listdir(cache)) == []


# ---- busy caches, locks, a killed clean


@pytest.fixture
def venv_user(tree: Tree) -> Iterator[tuple[Path, list[subprocess.Popen[bytes]]]]:
    """alice's cache and a venv in her home whose pip uses it; processes to kill at the end."""
    if not os.path.exists(BASE):
        pytest.skip(f"{BASE} is missing: alice's processes need a Python she may run")
    cache = synthetic(tree, n=2)
    subprocess.run([BASE, "-m", "venv", "--without-pip", str(tree.host("/home/alice/venv"))],
                   check=True)  # fmt: skip
    chown_tree(tree.host("/home/alice"), ALICE)
    procs: list[subprocess.Popen[bytes]] = []
    yield cache, procs
    for p in procs:
        p.kill()
        p.wait()


def start_in_venv(tree: Tree, procs: list[subprocess.Popen[bytes]]) -> subprocess.Popen[bytes]:
    python = str(tree.host("/home/alice/venv/bin/python"))
    p = subprocess.Popen(
        [python, "-c", "import time; print('ready', flush=True); time.sleep(120)"],
        user=ALICE, group=ALICE, extra_groups=[], stdout=subprocess.PIPE,
        cwd="/", env={"PATH": "/usr/bin:/bin"},
    )  # fmt: skip
    procs.append(p)
    assert p.stdout is not None and p.stdout.readline() == b"ready\n"
    return p


def test_a_busy_cache_is_skipped_waited_for_or_forced(tree, state, venv_user):
    cache, procs = venv_user
    before = snapshot(cache)
    p = start_in_venv(tree, procs)
    code, doc = run(tree, state, "--user", "alice")
    c = one(doc)
    assert code == 4 and c["state"] == "busy" and c["busy"] is True  # 4: busy skipped
    assert c["busy_reasons"][0]["pid"] == p.pid and c["busy_reasons"][0]["user"] == "alice"
    assert "venv/bin/python" in c["busy_reasons"][0]["why"]
    assert snapshot(cache) == before
    assert any(x["action"] == "cache" and x["outcome"] == "busy" and str(p.pid) in x["reason"]
               for x in audit(state))  # fmt: skip

    # --wait: the process ends while the clean waits, and the cache is cleaned
    threading.Timer(2.0, p.kill).start()
    code, doc = run(tree, state, "--user", "alice", "--wait", "60s")
    assert code == 0 and one(doc)["state"] == "cleaned"

    # --force-busy: cleaned, and says so
    synthetic(tree, n=2)
    start_in_venv(tree, procs)
    code, doc = run(tree, state, "--user", "alice", "--force-busy")
    c = one(doc)
    assert code == 0 and c["state"] == "cleaned" and "--force-busy" in c["reason"]


def test_the_busy_check_is_repeated_right_before_the_cache_is_cleaned(tree, state, venv_user):
    cache, procs = venv_user
    before = snapshot(cache)
    cleaner = Cleaner(Machine.local(str(tree.root)), request(state))
    result = cleaner.plan()
    assert result.caches[0].state == "planned"  # idle when planned
    p = start_in_venv(tree, procs)  # ... busy by the time it would be cleaned
    cleaner.execute(result)
    c = result.caches[0]
    assert c.state == "busy" and c.busy_reasons[0].pid == p.pid
    assert snapshot(cache) == before


def test_a_running_pip_makes_its_cache_busy(tree, state, pip_python):
    if not os.path.exists(BASE):
        pytest.skip(f"{BASE} is missing: pip must run as alice")
    cache = synthetic(tree, n=1)
    before = snapshot(cache)
    pip_copy = copy_of_pip(pip_python("26"), tree.root.parent / "pip")
    downloads = tree.root.parent / "dl"
    downloads.mkdir()
    os.lchown(downloads, ALICE, ALICE)
    hold = Hold()
    with serve(default_index(), hold) as url:
        p = subprocess.Popen(
            [BASE, "-m", "pip", "download", "--index-url", url,
             "-d", str(downloads), "--cache-dir", str(cache), "alpha"],
            user=ALICE, group=ALICE, extra_groups=[], cwd=tree.host("/home/alice"),
            env=pip_env(Path("/nonexistent"), PYTHONPATH=str(pip_copy)), stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
        )  # fmt: skip
        try:
            assert hold.started.wait(60), "pip never reached the index"
            code, doc = run(tree, state, "--user", "alice")
            c = one(doc)
            assert code == 4 and c["state"] == "busy", json.dumps(doc)
            assert c["busy_reasons"][0]["pid"] == p.pid
            assert "pip download is running" in c["busy_reasons"][0]["why"]
        finally:
            hold.release.set()
            p.kill()
            p.wait()
    assert {k: v for k, v in snapshot(cache).items() if k in before} == before


def test_a_second_clean_waits_its_turn_and_a_killed_clean_can_be_run_again(tree, state):
    cache = synthetic(tree, n=12)
    victim = tree.host("/srv/victim")
    victim.mkdir(parents=True)
    (victim / "precious").write_text("keep")
    before = snapshot(victim)
    script = textwrap.dedent(f"""
        import sys, time
        from fleetcache.clean.run import clean, Request
        from fleetcache.clean.policy import Policy
        from fleetcache.machine import Machine
        from fleetcache.scan import Selection
        from fleetcache.discovery.envs import EnvSearch
        seen = []
        def pause(d):  # runs in the deleting child, as alice
            seen.append(d)
            if len(seen) == 4:
                open({str(tree.root.parent / "marks" / "paused")!r}, "w").close()
                time.sleep(300)
        clean(Machine.local({str(tree.root)!r}),
              Request(Policy(), Selection(users=("alice",), env_search=EnvSearch(probe=False)),
                      audit_log={state["log"]!r}, lock_dir={state["locks"]!r},
                      state_dir={state["state"]!r}), on_dir=pause)
    """)
    marks = tree.root.parent / "marks"
    marks.mkdir()
    os.lchown(marks, ALICE, ALICE)
    first = subprocess.Popen([sys.executable, "-c", script])
    try:
        for _ in range(600):
            if (marks / "paused").exists():
                break
            time.sleep(0.05)
        else:
            pytest.fail("the first clean never reached its fourth directory")
        child = [p for p in _children(first.pid)]
        assert child, "the deleting child is not running"
        code, doc = run(tree, state, "--user", "alice")
        c = one(doc)
        assert code == 4 and c["state"] == "locked" and str(first.pid) in c["reason"]
        first.send_signal(signal.SIGKILL)
        first.wait()
        for _ in range(100):  # the child dies with its parent (PR_SET_PDEATHSIG)
            if not any(os.path.exists(f"/proc/{pid}") and _state(pid) != "Z" for pid in child):
                break
            time.sleep(0.05)
        else:
            pytest.fail("the deleting child outlived the killed clean")
        left = files_below(cache)
        assert 0 < len(left) < 28  # killed half way
    finally:
        first.kill()
        first.wait()
    code, doc = run(tree, state, "--user", "alice")
    assert code == 0 and one(doc)["state"] == "cleaned"
    assert files_below(cache) == []
    assert snapshot(victim) == before
    for line in Path(state["log"]).read_text().splitlines():
        json.loads(line)  # every line whole


def _children(pid: int) -> list[int]:
    out = []
    for name in os.listdir("/proc"):
        if name.isdigit():
            try:
                fields = Path(f"/proc/{name}/stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            if int(fields[1]) == pid:
                out.append(int(name))
    return out


def _state(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return "gone"


def test_the_audit_log_must_be_private(tree, state, tmp_path, capsys):
    synthetic(tree, n=1)
    shared = tmp_path / "shared.log"
    shared.write_text("")
    shared.chmod(0o644)
    linked = tmp_path / "linked.log"
    os.symlink(str(tmp_path / "elsewhere"), linked)
    for path, why in [(shared, "mode 644"), (linked, "")]:
        code = main(["clean", "--root", str(tree.root), "--user", "alice", "--yes",
                     "--audit-log", str(path), "--lock-dir", state["locks"],
                     "--state-dir", state["state"]])  # fmt: skip
        err = capsys.readouterr().err
        assert code == 1 and "audit log" in err and why in err, err
    assert not (tmp_path / "elsewhere").exists()
    # a directory others may write to (and not sticky): someone could swap the log in it
    loose = tmp_path / "loose"
    loose.mkdir()
    loose.chmod(0o777)
    code = main(["clean", "--root", str(tree.root), "--user", "alice", "--yes",
                 "--audit-log", str(loose / "audit.log"), "--lock-dir", state["locks"],
                 "--state-dir", state["state"]])  # fmt: skip
    err = capsys.readouterr().err
    assert code == 1 and "writable by others" in err, err
    assert not (loose / "audit.log").exists()
    assert files_below(tree.host(CACHE))  # nothing deleted without a log


def test_an_account_cleans_its_own_caches_with_the_same_walker_and_no_one_elses(
    tree, state, tmp_path
):
    if not os.path.exists(BASE):
        pytest.skip(f"{BASE} is missing: fleetcache must run as alice")
    same = f"import sys; sys.exit(sys.version_info[:2] != {tuple(sys.version_info[:2])})"
    if subprocess.run([BASE, "-c", same]).returncode:
        pytest.skip(f"{BASE} is not Python {sys.version_info[0]}.{sys.version_info[1]}: the "
                    "copied dependencies' extensions would not load")  # fmt: skip
    cache = synthetic(tree, n=3)
    bob = tree.host("/home/bob/.cache/pip")
    http_entry(bob, KEYS[0])
    tree.user("bob", BOB)
    chown_tree(tree.host("/home/bob"), BOB)
    bobs = snapshot(bob)
    lib = portable(sys.executable, FLEETCACHE_IMPORTS, tree.root.parent / "lib")
    own = tree.root.parent / "alice-state"
    own.mkdir(mode=0o700)
    os.lchown(own, ALICE, ALICE)

    def as_alice(*args: str) -> tuple[int, dict[str, Any], str]:
        r = subprocess.run(
            [BASE, "-m", "fleetcache", "clean", "--root", str(tree.root), "--yes", "--format",
             "json", "--audit-log", str(own / "audit.log"), "--lock-dir", str(own / "locks"),
             "--state-dir", str(own / "state"),
             *args],
            user=ALICE, group=ALICE, extra_groups=[], cwd="/", capture_output=True, text=True,
            env={"PATH": "/usr/bin:/bin", "PYTHONPATH": str(lib), "HOME": "/nonexistent"},
        )  # fmt: skip
        assert "Traceback" not in r.stderr, r.stderr
        return r.returncode, json.loads(r.stdout) if r.stdout else {}, r.stderr

    code, doc, err = as_alice("--cache", "/home/bob/.cache/pip")
    c = one(doc)
    assert code == 3 and c["state"] == "refused", (doc, err)
    assert "only root cleans other accounts' caches" in c["reason"]
    code, doc, err = as_alice()  # no whose-option: the caller's own caches
    c = one(doc)
    assert code == 0 and c["state"] == "cleaned" and c["user"] == "alice", (doc, err)
    assert c["deleted"]["files"] == 10 and files_below(cache) == []
    assert snapshot(bob) == bobs
    log = [json.loads(x) for x in (own / "audit.log").read_text().splitlines()]
    assert os.stat(own / "audit.log").st_uid == ALICE
    assert len([x for x in log if x["action"] == "delete" and x["outcome"] == "deleted"]) == 10


# ---- pip agrees afterwards


@pytest.fixture
def real_cache(tree: Tree, pip_python: Any, tmp_path: Path) -> Iterator[tuple[Path, str, Path]]:
    """alice's cache filled by real pip 26.3 with alpha, beta (built), gamma (built) and six;
    the index, still serving; a copy of pip that alice may run with the system Python."""
    if not os.path.exists(BASE):
        pytest.skip(f"{BASE} is missing: pip must run as alice")
    python = pip_python("26")
    index = default_index()
    index.add("six-1.16.0-py2.py3-none-any.whl", make_wheel("six", "1.16.0", b"s" * 4000))
    cache = tree.host(CACHE)
    with serve(index) as url:
        fill_cache(python, cache, url, "alpha", "beta", "gamma", "six", work=tmp_path / "w")
        tree.user("alice", ALICE)
        chown_tree(tree.host("/home/alice"), ALICE)
        yield cache, url, copy_of_pip(python, tree.root.parent / "pip")


def copy_of_pip(python: Path, where: Path) -> Path:
    """pip's package, copied where another uid may import it (with the system Python)."""
    return portable(str(python), ["pip"], where)


# what `python -m fleetcache clean` imports
FLEETCACHE_IMPORTS = ["fleetcache", "psutil", "tabulate", "platformdirs", "packaging", "msgpack",
                      "tqdm", "yaml", "squarify"]  # fmt: skip


def portable(python: str, modules: list[str], where: Path) -> Path:
    """``modules`` as ``python`` finds them, copied where another uid may import them."""
    find = "import importlib.util as u, sys; [print(u.find_spec(m).origin) for m in sys.argv[1:]]"
    origins = subprocess.run(
        [python, "-c", find, *modules], capture_output=True, text=True, check=True
    ).stdout.split()
    where.mkdir(parents=True, exist_ok=True)
    for origin in map(Path, origins):
        if origin.name == "__init__.py":
            shutil.copytree(origin.parent, where / origin.parent.name,
                            ignore=shutil.ignore_patterns("__pycache__"))  # fmt: skip
        else:
            shutil.copy(origin, where / origin.name)
    for d, _, files in os.walk(where):
        os.chmod(d, 0o755)
        for f in files:
            os.chmod(os.path.join(d, f), 0o644)
    return where


def pip_as_alice(pip_copy: Path, *args: str) -> str:
    r = subprocess.run(
        [BASE, "-m", "pip", *args], user=ALICE, group=ALICE, extra_groups=[], cwd="/",
        env=pip_env(Path("/nonexistent"), PYTHONPATH=str(pip_copy)), capture_output=True,
        text=True,
    )  # fmt: skip
    assert r.returncode == 0, r.stderr
    return r.stdout


def counts(info: str) -> dict[str, str]:
    return dict(line.split(": ", 1) for line in info.splitlines() if ": " in line)


def test_pip_agrees_after_purge(tree, state, real_cache):
    cache, _, pip_copy = real_cache
    info = counts(pip_as_alice(pip_copy, "cache", "info", "--cache-dir", str(cache)))
    assert info["Number of HTTP files"] != "0" and info["Number of locally built wheels"] == "2"
    code, doc = run(tree, state, "--user", "alice", "--purge")
    assert code == 0 and one(doc)["state"] == "cleaned", json.dumps(one(doc))
    info = counts(pip_as_alice(pip_copy, "cache", "info", "--cache-dir", str(cache)))
    assert info["Number of HTTP files"] == "0"
    assert info["Number of locally built wheels"] == "0"
    assert info["Package index page cache size"] == "0 bytes"
    assert info["Locally built wheels size"] == "0 bytes"


def test_package_removes_exactly_that_projects_entries_and_pip_still_installs(
    tree, state, real_cache, tmp_path
):
    cache, url, pip_copy = real_cache
    before = counts(pip_as_alice(pip_copy, "cache", "info", "--cache-dir", str(cache)))
    from fleetcache.report.entries import read_entries
    from fleetcache.stats.walk import WalkTask

    entries = read_entries(WalkTask("/", str(cache))).entries
    six = [e for e in entries if e.project == "six"]
    assert {e.kind for e in six} == {"index page", "wheel"}
    six_files = sum(e.files for e in six)
    code, doc = run(tree, state, "--user", "alice", "--package", "Six")
    c = one(doc)
    assert code == 0 and c["state"] == "cleaned"
    assert c["plan"]["why"] == {
        "package six": {"files": six_files, "bytes": sum(e.size for e in six)}
    }
    after = counts(pip_as_alice(pip_copy, "cache", "info", "--cache-dir", str(cache)))
    assert int(after["Number of HTTP files"]) == int(before["Number of HTTP files"]) - six_files
    assert after["Number of locally built wheels"] == before["Number of locally built wheels"]
    assert after["Locally built wheels size"] == before["Locally built wheels size"]
    left = read_entries(WalkTask("/", str(cache))).entries
    assert not [e for e in left if e.project == "six"]
    assert len(left) == len(entries) - len(six)
    # pip still installs from what is left: beta's wheel, built before, is not built again
    target = tree.root.parent / "target"
    target.mkdir()
    os.lchown(target, ALICE, ALICE)
    out = pip_as_alice(pip_copy, "install", "--index-url", url, "--target", str(target),
                       "--cache-dir", str(cache), "alpha", "beta")  # fmt: skip
    assert "Successfully installed alpha-2.0 beta-1.0" in out
    assert "Building wheel for beta" not in out and "Created wheel" not in out


def test_a_hostile_selfcheck_file_does_not_stop_the_clean(tree, state, capsys):
    cache = synthetic(tree, n=1)
    (cache / "selfcheck").mkdir()
    (cache / "selfcheck" / KEYS[20]).write_text("[" * 4000)  # json.loads: RecursionError
    chown_tree(tree.host("/home/alice"), ALICE)
    code, doc = run(tree, state, "--user", "alice", "--junk", "--dry-run")
    assert code == 0 and one(doc)["state"] == "nothing to do"  # not junk: its key is unread
    assert "Traceback" not in capsys.readouterr().err
