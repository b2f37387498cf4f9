"""What a timer needs from a clean (issue 18, items 5 and 6): each account's last clean kept in the
state directory (when, what it freed, failures and busy skips in a row), the Prometheus gauges
made of it, and exit codes that tell a busy skip (4) and a repeated failure (5) from the rest."""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from prometheus_client.parser import text_string_to_metric_families

from tests.conftest import Tree, chown_tree
from tests.test_clean import (  # noqa: F401 (venv_user: a fixture used by name)
    ALICE,
    BOB,
    KEYS,
    http_entry,
    start_in_venv,
    synthetic,
    venv_user,
)

ROOT = os.geteuid() == 0
pytestmark = pytest.mark.skipif(not ROOT, reason="cleans as other uids: run as root (CI is)")


@pytest.fixture
def tree(open_tree: Tree) -> Tree:
    """A machine tree the accounts' deleting children may traverse."""
    return open_tree


@pytest.fixture
def work(tmp_path: Path) -> Path:
    """Where this test's audit log, locks and state directory go."""
    return tmp_path


def fleetcache(work: Path, *argv: str) -> tuple[int, str, str]:
    """fleetcache in a process of its own (a clean refuses to fork while threads run): its exit
    code, stdout and stderr; never a traceback."""
    r = subprocess.run([sys.executable, "-m", "fleetcache", *argv], capture_output=True, text=True)
    assert "Traceback" not in r.stderr, r.stderr
    return r.returncode, r.stdout, r.stderr


def clean(tree: Tree, work: Path, *args: str) -> tuple[int, dict[str, Any], str]:
    """A real clean, JSON on stdout, its state in WORK/state: (exit code, document, stderr)."""
    code, out, err = fleetcache(
        work, "clean", "--root", str(tree.root), "--audit-log", str(work / "log" / "audit.log"),
        "--lock-dir", str(work / "locks"), "--state-dir", str(work / "state"), "--yes",
        "--format", "json", *args,
    )  # fmt: skip
    return code, json.loads(out) if out else {}, err


def recorded(work: Path) -> dict[str, Any]:
    """The state file's accounts."""
    doc: dict[str, Any] = json.loads((work / "state" / "last-clean.json").read_text())
    return dict(doc["accounts"])


def gauges(tree: Tree, work: Path, state: Path) -> tuple[int, dict[str, dict[str, float]], str]:
    """``scan --format prometheus --state-dir STATE``: (exit code, {metric: {user: value}} of the
    last-clean gauges, stderr); the text parses as the exposition format, HELP and TYPE given."""
    prom = work / "fleetcache.prom"
    code, _, err = fleetcache(work, "scan", "--root", str(tree.root), "--no-envs", "--quiet",
                              "--format", "prometheus", "-o", str(prom), "--state-dir", str(state))  # fmt: skip
    found: dict[str, dict[str, float]] = {}
    for family in text_string_to_metric_families(prom.read_text()):
        assert family.type == "gauge" and family.documentation, family
        if family.name.startswith(("fleetcache_last_clean", "fleetcache_clean_")):
            found[family.name] = {s.labels["user"]: s.value for s in family.samples}
    return code, found, err


def bob_cache(tree: Tree) -> Path:
    cache = tree.host("/home/bob/.cache/pip")
    http_entry(cache, KEYS[20], body=b"b" * 1000)
    chown_tree(tree.host("/home/bob"), BOB)
    return cache


def test_a_real_clean_records_each_accounts_last_clean_and_a_dry_run_nothing(tree, work):
    synthetic(tree, n=4)
    tree.user("bob", BOB)
    bob_cache(tree)
    tree.user("carol", 12347)  # never ran pip: no cache, no record
    code, _, err = clean(tree, work, "--all-users", "--dry-run")
    assert code == 0 and not (work / "state").exists(), err

    code, doc, err = clean(tree, work, "--all-users")
    assert code == 0, err
    freed = {c["user"]: c["deleted"]["bytes"] for c in doc["caches"] if c["state"] == "cleaned"}
    assert set(freed) == {"alice", "bob"} and freed["bob"] == 1000 + 6
    state = recorded(work)
    assert set(state) == {"alice", "bob"}, state
    for user, uid in (("alice", ALICE), ("bob", BOB)):
        assert state[user]["uid"] == uid and state[user]["freed_bytes"] == freed[user]
        assert state[user]["outcome"] == "cleaned" and state[user]["run"] == doc["run_id"]
        assert state[user]["failures"] == state[user]["busy_runs"] == 0
    # root's alone: the directory 0700, the file 0600, nothing left beside it but the lock
    top = (work / "state").stat()
    assert (top.st_uid, stat.S_IMODE(top.st_mode)) == (0, 0o700)
    st = (work / "state" / "last-clean.json").stat()
    assert (st.st_uid, stat.S_IMODE(st.st_mode)) == (0, 0o600)
    assert sorted(os.listdir(work / "state")) == ["last-clean.json", "last-clean.json.lock"]

    # the gauges, one per account, from what was recorded
    code, found, err = gauges(tree, work, work / "state")
    assert code == 0 and err == "", err
    assert found["fleetcache_last_clean_freed_bytes"] == {u: float(b) for u, b in freed.items()}
    assert found["fleetcache_clean_failures"] == {"alice": 0.0, "bob": 0.0}
    assert found["fleetcache_clean_busy_runs"] == {"alice": 0.0, "bob": 0.0}
    stamps = found["fleetcache_last_clean_timestamp_seconds"]
    assert stamps["alice"] == stamps["bob"] == state["alice"]["time"]

    # a later clean of bob alone leaves alice's record as it was
    http_entry(tree.host("/home/bob/.cache/pip"), KEYS[21], body=b"c" * 50)
    chown_tree(tree.host("/home/bob"), BOB)
    code, doc, _ = clean(tree, work, "--user", "bob")
    assert code == 0
    again = recorded(work)
    assert again["alice"] == state["alice"] and again["bob"]["freed_bytes"] == 56


def test_a_failure_exits_3_and_5_when_it_repeats_and_the_gauge_counts_it(tree, work):
    cache = synthetic(tree, n=3)
    locked = http_entry(cache, KEYS[0])
    locked.chmod(0o000)  # alice's deleting child cannot empty it: cleaned in part
    try:
        code, doc, _ = clean(tree, work, "--user", "alice")
        assert code == 3 and doc["caches"][0]["state"] == "partial"
        assert recorded(work)["alice"]["failures"] == 1
        _, found, _ = gauges(tree, work, work / "state")
        assert found["fleetcache_clean_failures"] == {"alice": 1.0}

        code, doc, err = clean(tree, work, "--user", "alice")  # the same, the run after
        assert code == 5, err
        assert recorded(work)["alice"]["failures"] == 2
        assert "alice: its clean failed in 2 runs in a row" in [s["reason"] for s in doc["skipped"]]
        _, found, _ = gauges(tree, work, work / "state")
        assert found["fleetcache_clean_failures"] == {"alice": 2.0}
    finally:
        locked.chmod(0o755)
    code, doc, _ = clean(tree, work, "--user", "alice")  # mended: 0, and the count starts again
    assert code == 0 and recorded(work)["alice"]["failures"] == 0


def test_a_refused_cache_counts_for_the_account_whose_tools_use_it(tree, work):
    """carol's cache root is a link: refused before any owner is known; it is still carol's
    failure, not nobody's (else a cache refused every night would never exit 5)."""
    http_entry(tree.host("/srv/victim"), KEYS[0])
    tree.user("carol", 12347)
    tree.host("/home/carol/.cache").mkdir()
    os.symlink("/srv/victim", tree.host("/home/carol/.cache/pip"))
    chown_tree(tree.host("/home/carol"), 12347)
    assert clean(tree, work, "--user", "carol")[0] == 3
    code, doc, _ = clean(tree, work, "--user", "carol")
    assert code == 5 and doc["caches"][0]["state"] == "refused"
    assert recorded(work)["carol"]["failures"] == 2


def test_a_busy_cache_exits_4_and_5_once_it_was_skipped_three_runs_in_a_row(
    tree,
    work,
    venv_user,  # noqa: F811 (the fixture imported above)
):
    _, procs = venv_user
    p = start_in_venv(tree, procs)
    for run in (1, 2):
        code, doc, _ = clean(tree, work, "--user", "alice")
        assert code == 4 and doc["caches"][0]["state"] == "busy", doc
        assert recorded(work)["alice"]["busy_runs"] == run
    code, doc, _ = clean(tree, work, "--user", "alice")
    assert code == 5 and recorded(work)["alice"]["busy_runs"] == 3
    why = "alice: a cache of it was skipped busy in 3 runs in a row"
    assert why in [s["reason"] for s in doc["skipped"]]
    _, found, _ = gauges(tree, work, work / "state")
    assert found["fleetcache_clean_busy_runs"] == {"alice": 3.0}
    p.kill()
    p.wait()
    code, doc, _ = clean(tree, work, "--user", "alice")
    assert code == 0 and doc["caches"][0]["state"] == "cleaned"
    assert recorded(work)["alice"]["busy_runs"] == 0


def test_a_missing_or_corrupt_state_file_is_a_warning_never_a_crash(tree, work):
    synthetic(tree, n=2)
    state = work / "state"
    code, found, err = gauges(tree, work, state)  # no clean yet
    assert code == 0 and found == {}
    assert err.count("\n") == 1 and "no clean recorded yet" in err, err
    for junk in ("{not json", '{"version": 1, "accounts": {"alice": {"uid": "0"}}}', "[]"):
        state.mkdir(mode=0o700, exist_ok=True)
        (state / "last-clean.json").write_text(junk)
        code, found, err = gauges(tree, work, state)
        assert code == 0 and found == {} and err.count("\n") == 1 and "corrupt" in err, err
    # a clean starts the record afresh, and says why
    code, doc, err = clean(tree, work, "--user", "alice")
    assert code == 3 and recorded(work)["alice"]["failures"] == 0
    assert any("corrupt" in s["reason"] and "started afresh" in s["reason"] for s in doc["skipped"])


def test_a_state_directory_another_account_could_change_is_not_written(tree, work):
    """A state directory of alice's (she could swap the file for a link to anything root may
    write), or a link to one, is refused: the clean is done, the record is not, exit 3."""
    synthetic(tree, n=2)
    theirs = tree.host("/home/alice/state")
    theirs.mkdir(mode=0o700)
    os.lchown(theirs, ALICE, ALICE)
    link = work / "link"
    link.symlink_to(theirs)
    for where in (theirs, link):
        http_entry(tree.host("/home/alice/.cache/pip"), KEYS[5])
        chown_tree(tree.host("/home/alice/.cache"), ALICE)
        code, doc, err = clean(tree, work, "--user", "alice", "--state-dir", str(where))
        assert code == 3 and doc["caches"][0]["state"] == "cleaned", err
        (why,) = [s["reason"] for s in doc["skipped"]]
        assert why.startswith("last clean not recorded: state directory") and str(where) in why
        assert os.listdir(theirs) == []


def test_a_link_planted_as_the_state_file_is_replaced_not_followed(tree, work):
    synthetic(tree, n=2)
    state = work / "state"
    state.mkdir(mode=0o700)
    target = work / "precious"
    target.write_text("keep")
    (state / "last-clean.json").symlink_to(target)
    code, _, _ = clean(tree, work, "--user", "alice")
    assert code == 3 and target.read_text() == "keep"
    assert not (state / "last-clean.json").is_symlink() and recorded(work)["alice"]
