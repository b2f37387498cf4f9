"""Issue 18 item 4: ``clean --quarantine`` renames what a clean removes into a per-run directory
beside the cache, made and filled as the cache's owner; ``restore`` puts it back where nothing took
its place; ``quarantine list`` and ``purge`` (and the next clean, once expired) show and end it.
Attacks first: a quarantine pre-made as a link or by another uid, a cache whose parent is another
account's, a directory swapped for a link before a restore, a hostile run id."""

from __future__ import annotations

import json
import os
import signal
import stat
import subprocess
import sys
import threading
from pathlib import Path
from typing import Any

import pytest

from fleetcache.clean import qindex
from fleetcache.clean.guard import Lock
from fleetcache.clean.policy import Policy
from fleetcache.clean.run import clean
from fleetcache.cli import main
from fleetcache.machine import Machine
from tests import test_kind_uv as uvt
from tests.conftest import Tree, chown_tree, fill_cache
from tests.index_server import default_index, serve
from tests.test_clean import (
    ALICE,
    BASE,
    BOB,
    CACHE,
    KEYS,
    copy_of_pip,
    counts,
    files_below,
    http_entry,
    pip_as_alice,
    request,
    snapshot,
    synthetic,
)

uv_bin, filled = uvt.uv_bin, uvt.filled  # the real uv, and alice's home it filled (session)
ROOT = os.geteuid() == 0
pytestmark = pytest.mark.skipif(not ROOT, reason="moves files as other uids: run as root (CI is)")
PARENT = "/home/alice/.cache"
PLACE = PARENT + "/.fleetcache-quarantine"


@pytest.fixture
def tree(open_tree: Tree) -> Tree:
    """A machine tree alice's child may traverse."""
    return open_tree


@pytest.fixture
def state(tmp_path: Path) -> dict[str, str]:
    """Where this test's audit log, locks and quarantine index go."""
    return {
        "log": str(tmp_path / "log" / "audit.log"),
        "locks": str(tmp_path / "locks"),
        "state": str(tmp_path / "state"),
    }


def fc(tree: Tree, state: dict[str, str], *argv: str) -> tuple[int, str, str]:
    """Run fleetcache (in a new process when threads run: fork is refused then); exit code,
    stdout, stderr."""
    args = [*argv, "--root", str(tree.root), "--state-dir", state["state"]]
    if argv[:2] != ("quarantine", "list"):  # the one that writes no log
        args += ["--audit-log", state["log"]]
    if argv[0] == "clean":
        args += ["--lock-dir", state["locks"], "--yes"]
    if argv[0] == "restore":
        args += ["--lock-dir", state["locks"]]
    if threading.active_count() > 1:
        r = subprocess.run([sys.executable, "-m", "fleetcache", *args], capture_output=True,
                           text=True)  # fmt: skip
        assert "Traceback" not in r.stderr, r.stderr
        return r.returncode, r.stdout, r.stderr
    out = Path(state["state"]).parent / "out.txt"
    to_file = argv[0] == "clean" or argv[:2] == ("quarantine", "list")
    code = main([*args, "-o", str(out)] if to_file else args)
    text = out.read_text() if out.exists() else ""
    if out.exists():
        out.unlink()
    return code, text, ""


def clean_json(tree: Tree, state: dict[str, str], *argv: str) -> tuple[int, dict[str, Any]]:
    code, out, err = fc(tree, state, "clean", "--format", "json", *argv)
    return code, json.loads(out) if out else {"err": err}


def only(doc: dict[str, Any]) -> dict[str, Any]:
    assert len(doc["caches"]) == 1, doc
    got: dict[str, Any] = doc["caches"][0]
    return got


def log_lines(state: dict[str, str]) -> list[dict[str, Any]]:
    return [json.loads(x) for x in Path(state["log"]).read_text().splitlines()]


# ---- the move, and the attacks on it


def test_a_quarantine_clean_renames_the_files_beside_the_cache_as_the_owner(tree, state):
    cache = synthetic(tree)
    before = {p: os.lstat(cache / p).st_ino for p in files_below(cache)}
    code, doc = clean_json(tree, state, "--user", "alice", "--quarantine", "2d")
    c = only(doc)
    assert code == 0 and c["state"] == "cleaned", c
    assert files_below(cache) == []
    moved = tree.host(f"{PLACE}/{doc['run_id']}/pip")
    # renamed, not copied: the very inodes, at the same relative paths
    assert {p: os.lstat(moved / p).st_ino for p in files_below(moved)} == before
    for d in (tree.host(PLACE), moved.parent):
        st = os.lstat(d)
        assert (st.st_uid, stat.S_IMODE(st.st_mode)) == (ALICE, 0o700)
    assert all(os.lstat(os.path.join(d, n)).st_uid == ALICE
               for d, ds, fs in os.walk(moved) for n in ds + fs)  # fmt: skip
    actions = [x for x in log_lines(state) if x["action"] == "quarantine"]
    assert len(actions) == len(before) and {x["outcome"] for x in actions} == {"quarantined"}


def test_a_quarantine_premade_as_a_link_to_another_accounts_dir_is_not_written_through(tree, state):
    cache = synthetic(tree)
    bob = tree.user("bob", BOB)
    drop = bob / "drop"
    drop.mkdir()
    drop.chmod(0o777)  # alice could write there: only the link must stop her child
    os.lchown(drop, BOB, BOB)
    os.symlink(drop, tree.host(PLACE))
    os.lchown(tree.host(PLACE), ALICE, ALICE)
    victims, cached = snapshot(bob), snapshot(cache)
    code, doc = clean_json(tree, state, "--user", "alice", "--quarantine")
    c = only(doc)
    assert code == 3 and c["state"] == "refused", c
    assert "link" in c["reason"] and "nothing deleted" in c["reason"]
    assert snapshot(bob) == victims and list(drop.iterdir()) == []
    assert snapshot(cache) == cached


@pytest.mark.parametrize("owner", [0, BOB])
def test_a_quarantine_dir_made_by_another_uid_is_not_used(tree, state, owner):
    cache = synthetic(tree)
    tree.user("bob", BOB)
    place = tree.host(PLACE)
    place.mkdir()
    place.chmod(0o777)
    os.lchown(place, owner, owner)
    cached = snapshot(cache)
    code, doc = clean_json(tree, state, "--user", "alice", "--quarantine")
    c = only(doc)
    assert code == 3 and c["state"] == "refused", c
    assert f"uid {owner}" in c["reason"]
    assert snapshot(cache) == cached and list(place.iterdir()) == []


def test_a_cache_whose_parent_is_not_its_owners_is_refused_never_deleted(tree, state):
    shared = tree.host("/srv/shared/pip")
    http_entry(shared, KEYS[0])
    tree.user("alice", ALICE)
    chown_tree(shared, ALICE)  # /srv/shared stays root's
    cached = snapshot(shared)
    code, doc = clean_json(tree, state, "--cache", "/srv/shared/pip", "--quarantine", "-n")
    assert code == 3 and only(doc)["state"] == "refused"  # the plan says so already
    code, doc = clean_json(tree, state, "--cache", "/srv/shared/pip", "--quarantine")
    c = only(doc)
    assert code == 3 and c["state"] == "refused", c
    assert "not to the cache's owner" in c["reason"]
    assert (
        snapshot(shared) == cached and not tree.host("/srv/shared/.fleetcache-quarantine").exists()
    )


def test_a_cache_on_another_filesystem_than_its_parent_is_refused_never_copied(tree, state):
    tree.user("alice", ALICE)
    cache = tree.host(CACHE)
    cache.mkdir(parents=True)
    if subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "mode=0755", "tmpfs", str(cache)], capture_output=True
    ).returncode:
        pytest.skip("cannot mount a tmpfs here")
    try:
        http_entry(cache, KEYS[0])
        chown_tree(tree.host("/home/alice"), ALICE)
        cached = snapshot(cache)
        code, doc = clean_json(tree, state, "--user", "alice", "--quarantine")
        c = only(doc)
        assert code == 3 and c["state"] == "refused", c
        assert "on another filesystem than the cache" in c["reason"]
        assert snapshot(cache) == cached and not tree.host(PLACE).exists()
    finally:
        subprocess.run(["umount", str(cache)], check=True)


def test_no_quarantine_deletes_and_both_at_once_is_a_usage_error(tree, state):
    cache = synthetic(tree)
    code, _, _ = fc(tree, state, "clean", "--user", "alice", "--quarantine", "--no-quarantine")
    assert code == 2 and files_below(cache) != []
    code, doc = clean_json(tree, state, "--user", "alice", "--no-quarantine")
    assert code == 0 and only(doc)["state"] == "cleaned"
    assert files_below(cache) == [] and not tree.host(PLACE).exists()


def test_discovery_never_takes_a_quarantine_for_a_cache_or_an_environment(tree, state, capsys):
    home = tree.user("alice", ALICE)
    held = home / ".fleetcache-quarantine" / ("a" * 32) / "uvc"
    http_entry(held / "pip", KEYS[0])  # a pip layout, for --search
    env = held / "environments-v2" / "x"  # a quarantined uv cached environment
    (env / "bin").mkdir(parents=True)
    (env / "pyvenv.cfg").write_text("home = /usr/bin\nuv = 0.5.0\nversion_info = 3.12.0\n")
    chown_tree(home, ALICE)
    main(["envs", "--root", str(tree.root), "--user", "alice", "--no-size", "--no-probe",
          "--format", "json"])  # fmt: skip
    assert json.loads(capsys.readouterr().out)["environments"] == []
    main(["scan", "--root", str(tree.root), "--user", "alice", "--search", "/home/alice",
          "--no-envs", "--format", "json"])  # fmt: skip
    paths = [c["path"] for c in json.loads(capsys.readouterr().out)["caches"]]
    assert not [p for p in paths if ".fleetcache-quarantine" in p], paths


def test_the_run_is_in_the_index_before_the_first_file_moves(tree, state):
    """The deleting child looks for the run's index file when it reaches the first directory
    (the state directory is made searchable for it) and dies when it is not there yet."""
    cache = synthetic(tree)
    state = {**state, "state": str(tree.root.parent / "state")}  # where alice may search
    index = Path(state["state"], "quarantine")
    index.mkdir(parents=True)
    for d in (index.parent, index):
        d.chmod(0o755)  # root's, not writable by others: still a state directory fleetcache takes

    def look(_: object) -> None:
        if not [n for n in os.listdir(index) if n.endswith(".json")]:
            os.kill(os.getpid(), signal.SIGKILL)

    policy = Policy(purge=True, quarantine=3600.0)
    req = request(state, policy=policy)
    result = clean(Machine.local(str(tree.root)), req, on_dir=look)
    (c,) = result.caches
    assert c.state == "cleaned", (c.state, c.reason)
    assert files_below(cache) == [] and c.quarantine is not None
    (run,) = qindex.Index(state["state"]).runs()
    assert run.run_id == result.run_id and run.caches[0].state == qindex.HELD
    assert run.caches[0].files == c.deleted_files == 16


# ---- restore, and the attacks on it


def quarantined(tree: Tree, state: dict[str, str]) -> tuple[Path, str]:
    """alice's synthetic cache, cleaned into a quarantine; (the cache, the run id)."""
    cache = synthetic(tree)
    code, doc = clean_json(tree, state, "--user", "alice", "--quarantine")
    assert code == 0 and only(doc)["state"] == "cleaned", doc
    return cache, doc["run_id"]


def test_a_restore_gives_back_every_file_and_directory_as_it_was(tree, state):
    cache = synthetic(tree)
    before = snapshot(cache)
    modes = {p: os.lstat(cache / p).st_mode for p in before}
    code, doc = clean_json(tree, state, "--user", "alice", "--quarantine")
    assert code == 0 and files_below(cache) == []
    code, out, err = fc(tree, state, "restore", doc["run_id"])
    assert code == 0, err
    assert snapshot(cache) == before
    assert {p: os.lstat(cache / p).st_mode for p in before} == modes
    assert not tree.host(PLACE).exists()  # emptied, then removed
    restores = [x for x in log_lines(state) if x["action"] == "restore"]
    assert {x["outcome"] for x in restores} == {"restored"}
    assert len(restores) == len(files_below(cache))
    code, out, _ = fc(tree, state, "quarantine", "list")
    assert out == "no quarantine runs\n"


def test_a_restore_leaves_a_new_file_in_its_place_and_says_so(tree, state, capsys):
    cache, run_id = quarantined(tree, state)
    held = tree.host(f"{PLACE}/{run_id}/pip")
    taken = files_below(held)[0]
    (cache / taken).parent.mkdir(parents=True, exist_ok=True)
    (cache / taken).write_bytes(b"new")
    chown_tree(cache, ALICE)
    code, _, err = fc(tree, state, "restore", run_id)
    err += capsys.readouterr().err
    assert code == 3 and f"{taken}: something new is in its place" in err, err
    assert (cache / taken).read_bytes() == b"new"
    assert files_below(held) == [taken]  # it stays in the quarantine
    (run,) = list_json(tree, state)["runs"]
    assert run["caches"][0]["files"] == 1
    log = [x for x in log_lines(state) if x["action"] == "restore"]
    assert [x["path"] for x in log if x["outcome"] != "restored"] == [taken]


def list_json(tree: Tree, state: dict[str, str], *more: str) -> dict[str, Any]:
    code, out, _ = fc(tree, state, "quarantine", "list", "--format", "json", *more)
    assert code == 0
    got: dict[str, Any] = json.loads(out)
    return got


def test_a_directory_swapped_for_a_link_before_a_restore_is_not_written_through(
    tree, state, capsys
):
    cache, run_id = quarantined(tree, state)
    bob = tree.user("bob", BOB)
    drop = bob / "drop"
    drop.mkdir()
    drop.chmod(0o777)
    os.lchown(drop, BOB, BOB)
    victims = snapshot(bob)
    (cache / "wheels").symlink_to(drop)  # the clean removed the emptied wheels/ tree
    os.lchown(cache / "wheels", ALICE, ALICE)
    code, _, err = fc(tree, state, "restore", run_id)
    err += capsys.readouterr().err
    assert code == 3 and "wheels: a link or not a directory; not followed" in err, err
    assert snapshot(bob) == victims and list(drop.iterdir()) == []
    held = tree.host(f"{PLACE}/{run_id}/pip")
    assert files_below(held) and all(p.startswith("wheels/") for p in files_below(held))
    assert all(p.startswith("http-v2/") for p in files_below(cache))  # the rest is back


def test_a_restore_waits_for_no_clean_of_the_cache_it_would_restore_into(tree, state, capsys):
    cache, run_id = quarantined(tree, state)
    st = os.stat(cache)
    held = Lock(state["locks"], (st.st_dev, st.st_ino))
    assert held.acquire() is None  # a clean of the cache runs now
    try:
        code, _, err = fc(tree, state, "restore", run_id)
        err += capsys.readouterr().err
        assert code == 3 and "not restored now: another clean of this cache is running" in err
        assert files_below(cache) == []
    finally:
        held.release()
    assert fc(tree, state, "restore", run_id)[0] == 0 and files_below(cache)


@pytest.mark.parametrize("run_id", ["../x", "../../etc", "A" * 32, "0" * 31, ""])
def test_a_hostile_run_id_is_a_usage_error(tree, state, capsys, run_id):
    for argv in (("restore", run_id), ("quarantine", "purge", run_id)):
        code, _, err = fc(tree, state, *argv)
        err += capsys.readouterr().err
        assert code == 2 and "is not a run id" in err and "Traceback" not in err, err
        assert len(err.strip().splitlines()) == 1


# ---- the owner's own tools agree


@pytest.fixture
def pip_cache(tree: Tree, pip_python: Any, tmp_path: Path) -> tuple[Path, Path]:
    """alice's cache filled by real pip 26.3 from the loopback index (alpha; beta and gamma
    built); a copy of that pip alice may run with the system Python."""
    if not os.path.exists(BASE):
        pytest.skip(f"{BASE} is missing: pip must run as alice")
    python = pip_python("26")
    cache = tree.host(CACHE)
    with serve(default_index()) as url:
        fill_cache(python, cache, url, "alpha", "beta", "gamma", work=tmp_path / "w")
    tree.user("alice", ALICE)
    chown_tree(tree.host("/home/alice"), ALICE)
    return cache, copy_of_pip(python, tree.root.parent / "pip")


def test_the_owners_pip_sees_the_same_cache_after_quarantine_and_restore(tree, state, pip_cache):
    cache, pip = pip_cache

    def pip_says() -> tuple[str, str]:
        where = ("--cache-dir", str(cache))
        return pip_as_alice(pip, "cache", "info", *where), pip_as_alice(
            pip, "cache", "list", *where
        )

    before = pip_says()
    assert counts(before[0])["Number of locally built wheels"] == "2"
    assert counts(before[0])["Number of HTTP files"] != "0" and "beta" in before[1]
    code, doc = clean_json(tree, state, "--user", "alice", "--quarantine", "3d")
    c = only(doc)
    assert code == 0 and c["state"] == "cleaned", c
    gone = counts(pip_says()[0])
    assert gone["Number of HTTP files"] == "0" and gone["Number of locally built wheels"] == "0"
    (run,) = list_json(tree, state, "--user", "alice")["runs"]
    (held,) = run["caches"]
    assert run["run_id"] == doc["run_id"] and not run["expired"]
    assert (held["files"], held["bytes"]) == (c["deleted"]["files"], c["deleted"]["bytes"])
    assert held["quarantine"] == f"{PLACE}/{doc['run_id']}/pip" and held["user"] == "alice"
    code, _, err = fc(tree, state, "restore", doc["run_id"], "--user", "alice")
    assert code == 0, err
    assert pip_says() == before
    assert list_json(tree, state)["runs"] == []


# ---- purge: asked for, and by expiry at the next clean


def test_purge_deletes_a_run_as_the_owner_and_forgets_it(tree, state, capsys):
    _, run_id = quarantined(tree, state)
    held = tree.host(f"{PLACE}/{run_id}/pip")
    code, _, _ = fc(tree, state, "quarantine", "purge")  # not expired: nothing goes
    assert code == 0 and "nothing to purge" in capsys.readouterr().out
    files = len(files_below(held))
    assert files == 16
    code, _, _ = fc(tree, state, "quarantine", "purge", run_id)
    assert code == 0 and f"purged run {run_id}" in capsys.readouterr().out
    assert not tree.host(PLACE).exists() and list_json(tree, state)["runs"] == []
    (line,) = [x for x in log_lines(state) if x["action"] == "purge"]
    assert line["outcome"] == "purged" and line["files"] == files and line["account"] == "alice"
    code, _, err = fc(tree, state, "restore", run_id)
    assert code == 2 and "no quarantine run" in err + capsys.readouterr().err


def test_purge_never_follows_a_link_the_owner_left_in_the_quarantine(tree, state):
    _, run_id = quarantined(tree, state)
    bob = tree.user("bob", BOB)
    (bob / "keep").mkdir()
    (bob / "keep" / "file").write_text("bob's")
    (bob / "keep").chmod(0o777)
    chown_tree(bob, BOB)
    victims = snapshot(bob)
    held = tree.host(f"{PLACE}/{run_id}/pip")
    os.symlink(bob / "keep", held / "http-v2" / "planted")
    os.lchown(held / "http-v2" / "planted", ALICE, ALICE)
    code, _, _ = fc(tree, state, "quarantine", "purge", "--all")
    assert code == 0 and snapshot(bob) == victims and not tree.host(PLACE).exists()


def test_an_expired_run_is_purged_by_the_next_clean_and_its_plan_says_so(tree, state):
    cache = synthetic(tree)
    code, first = clean_json(tree, state, "--user", "alice", "--quarantine", "1d")
    assert code == 0 and only(first)["quarantine"]["path"].endswith(first["run_id"] + "/pip")
    noted = Path(state["state"]) / "quarantine" / f"{first['run_id']}.json"
    index = json.loads(noted.read_text())
    for held in index["caches"]:  # a day has passed (a quarantine of 0 is refused)
        held["expires"] -= 86400 + 1
    noted.write_text(json.dumps(index))
    (run,) = list_json(tree, state)["runs"]
    assert run["expired"]
    http_entry(cache, KEYS[20])
    chown_tree(cache, ALICE)
    code, dry = clean_json(tree, state, "--user", "alice", "--dry-run")
    assert [p["run_id"] for p in dry["purged"]] == [first["run_id"]]
    assert tree.host(f"{PLACE}/{first['run_id']}").exists()  # a dry run only says so
    code, out, _ = fc(tree, state, "clean", "--user", "alice", "--dry-run")
    assert f"Expired quarantine runs (would be deleted first):\n  {first['run_id']}" in out
    code, doc = clean_json(tree, state, "--user", "alice")
    assert code == 0 and [(p["run_id"], p["files"]) for p in doc["purged"]] == [
        (first["run_id"], 16)
    ]
    assert not tree.host(PLACE).exists() and list_json(tree, state)["runs"] == []


def test_the_owners_uv_sees_the_same_cache_after_quarantine_and_restore(
    tree, state, filled, uv_bin, index_url
):
    tree.user("alice", ALICE)
    home = uvt.copy_home(filled, tree)
    cache = home / ".cache" / "uv"
    links = {str(p.relative_to(cache)): os.readlink(p) for p in cache.rglob("*") if p.is_symlink()}
    assert links  # uv's own links (archive pointers): moved as links, never followed

    def uv_says() -> tuple[str, set[str]]:
        size = uvt.run_uv(uv_bin, ALICE, home, index_url, "cache", "size")
        return size, uvt.listing(cache)

    before = uv_says()
    modes = {p: p.lstat().st_mode for p in cache.rglob("*")}
    code, doc = clean_json(tree, state, "--user", "alice", "--kind", "uv", "--quarantine")
    c = only(doc)
    assert code == 0 and c["state"] == "cleaned" and c["kind"] == "uv", c
    assert uv_says()[0] != before[0]
    held = tree.host(c["quarantine"]["path"])
    assert held.parent.parent.name == ".fleetcache-quarantine" and held.name == "uv"
    moved = {str(p.relative_to(held)): os.readlink(p) for p in held.rglob("*") if p.is_symlink()}
    assert moved == links
    code, _, err = fc(tree, state, "restore", doc["run_id"])
    assert code == 0, err
    assert uv_says() == before  # uv counts directories too: those the clean removed are back
    assert {p: p.lstat().st_mode for p in cache.rglob("*")} == modes
    venv = home / "venv" / "bin" / "python"
    r = subprocess.run(
        [str(venv), "-c", "import alpha, beta, gamma"], capture_output=True, text=True
    )
    assert r.returncode == 0, r.stderr


def test_a_run_of_another_root_is_neither_restored_nor_purged_here(tree, state, capsys, tmp_path):
    cache, run_id = quarantined(tree, state)
    other = Tree(tmp_path / "other")
    base = ["--root", str(other.root), "--state-dir", state["state"], "--audit-log", state["log"]]
    assert main(["restore", run_id, *base]) == 2
    assert "was made with --root" in capsys.readouterr().err
    assert main(["quarantine", "purge", "--all", *base]) == 0
    assert tree.host(f"{PLACE}/{run_id}/pip").exists() and files_below(cache) == []


def test_a_broken_index_file_is_a_one_line_error(tree, state, capsys):
    _, run_id = quarantined(tree, state)
    Path(state["state"], "quarantine", f"{run_id}.json").write_text("{")
    assert fc(tree, state, "quarantine", "list")[0] == 1
    err = capsys.readouterr().err
    assert "not a quarantine run" in err and "Traceback" not in err


STOPPER = """
import os, signal, sys
me = os.getpid()
old = set()
if sys.argv[3:]:  # wait until the purge child deletes in this directory: then it is the one
    old = set(os.listdir("/proc"))  # and it is none of these (reading only new ones is quick)
    first = os.stat(sys.argv[3]).st_mtime_ns
    while os.stat(sys.argv[3]).st_mtime_ns == first:
        pass
while True:  # every process of the account but this one is stopped, as soon as it is seen
    for pid in filter(str.isdigit, set(os.listdir("/proc")) - old):
        try:
            with open(f"/proc/{pid}/status") as f:
                status = dict(l.split(":", 1) for l in f if ":" in l)
        except OSError:
            continue
        alive = status.get("State", "Z").split()[0] not in ("Z", "X")  # not a zombie yet
        if alive and int(status["Uid"].split()[0]) == os.getuid() and int(pid) != me:
            os.kill(int(pid), int(sys.argv[1]) if sys.argv[1:] else signal.SIGSTOP)
            print(pid, flush=True)
            if sys.argv[2:] != ["all"]:
                sys.exit(0)
"""


def as_alice() -> None:
    os.setgroups([])
    os.setresgid(ALICE, ALICE, ALICE)
    os.setresuid(ALICE, ALICE, ALICE)


def test_the_owner_stopping_its_purge_child_does_not_hang_the_timers_clean(tree, state):
    """The purge child runs as alice, so alice may SIGSTOP it (she floods her quarantine so that
    it lives long enough to be seen): the clean that purges expired runs first must still end,
    the run stay in the index for the next clean, and the clean go on to clean the cache."""
    cache = synthetic(tree)
    code, first = clean_json(tree, state, "--user", "alice", "--quarantine", "1d")
    assert code == 0, first
    expire_all(state)
    flood = tree.host(f"{PLACE}/{first['run_id']}/pip/flood")
    flood.mkdir()
    for n in range(30000):
        (flood / str(n)).touch()
    chown_tree(flood, ALICE)
    http_entry(cache, KEYS[20])
    chown_tree(cache, ALICE)
    stopper = subprocess.Popen(["/usr/bin/python3", "-c", STOPPER, str(int(signal.SIGSTOP)),
                                "one", str(flood)], stdout=subprocess.PIPE, text=True,
                               preexec_fn=as_alice)  # fmt: skip
    args = ["clean", "--user", "alice", "--format", "json", "--timeout", "3s", "--root",
            str(tree.root), "--audit-log", state["log"], "--state-dir", state["state"],
            "--lock-dir", state["locks"], "--yes"]  # fmt: skip
    clean_run = subprocess.Popen([sys.executable, "-m", "fleetcache", *args], text=True,
                                 stdout=subprocess.PIPE, stderr=subprocess.PIPE)  # fmt: skip
    try:
        stopped = int(stopper.communicate(timeout=600)[0])
        try:  # a hang guard, not a timing: the clean never ended before the fix
            out, err = clean_run.communicate(timeout=120)
        except subprocess.TimeoutExpired:
            pytest.fail(f"the clean hangs on alice's stopped child {stopped}")
    finally:
        for p in (stopper, clean_run):
            p.kill()
            p.wait()
    assert "Traceback" not in err, err
    doc = json.loads(out)
    (purge,) = doc["purged"]
    assert purge["run_id"] == first["run_id"] and "deadline" in purge["error"], purge
    assert clean_run.returncode == 3  # a person should look
    assert only(doc)["state"] == "cleaned"  # the clean went on
    assert [r["run_id"] for r in list_json(tree, state)["runs"]] == [first["run_id"]]
    with pytest.raises(ProcessLookupError):  # killed and reaped, not left stopped
        os.kill(stopped, 0)


@pytest.mark.parametrize("verb", ["restore", "purge"])
def test_the_owner_killing_its_restore_or_purge_child_leaves_the_run_in_the_index(
    tree, state, verb
):
    """alice SIGKILLs the process that restores or purges as her, half way: what it did not do
    must stay in the index (else her files stay in the quarantine, forgotten, never purged nor
    restorable), and the command must not say it is done (exit 3)."""
    _, run_id = quarantined(tree, state)
    flood = tree.host(f"{PLACE}/{run_id}/pip/flood")
    flood.mkdir()
    for n in range(30000):
        (flood / str(n)).touch()
    chown_tree(flood, ALICE)
    stopper = subprocess.Popen(["/usr/bin/python3", "-c", STOPPER, str(int(signal.SIGKILL)),
                                "all"], stdout=subprocess.PIPE, text=True,
                               preexec_fn=as_alice)  # fmt: skip
    argv = ["restore", run_id] if verb == "restore" else ["quarantine", "purge", run_id]
    args = [*argv, "--root", str(tree.root), "--audit-log", state["log"], "--state-dir",
            state["state"]]  # fmt: skip
    try:
        got = subprocess.run([sys.executable, "-m", "fleetcache", *args], capture_output=True,
                             text=True, timeout=300)  # fmt: skip
    finally:
        stopper.kill()
        killed = stopper.communicate()[0]
    assert killed, "the stopper saw no process of alice's"
    assert "Traceback" not in got.stderr and got.returncode == 3, (got.stdout, got.stderr)
    assert files_below(flood), "the child was killed after it had done everything"
    assert "stopped before it was done" in got.stderr
    assert verb == "restore" or ": 0 files" in got.stdout  # none claimed purged
    (run,) = list_json(tree, state)["runs"]
    assert run["run_id"] == run_id and run["caches"][0]["files"] > 0


def expire_all(state: dict[str, str]) -> None:
    """Time passes: every run in the index is past its expiry."""
    for f in (Path(state["state"]) / "quarantine").glob("*.json"):
        doc = json.loads(f.read_text())
        for held in doc["caches"]:
            held["expires"] = 0.0
        f.write_text(json.dumps(doc))


def test_an_owner_stopping_every_purge_child_costs_one_deadline_per_clean_not_one_per_run(
    tree, state
):
    """alice has many expired runs and stops each child that purges one: after the first
    deadline her other runs wait for the next clean (else each costs a deadline, and the
    timer's clean starts a day later as her runs pile up)."""
    cache = synthetic(tree)
    runs = []
    for key in KEYS[20:22]:
        http_entry(cache, key)
        chown_tree(cache, ALICE)
        code, doc = clean_json(tree, state, "--user", "alice", "--quarantine", "1d")
        assert code == 0, doc
        runs.append(doc["run_id"])
    expire_all(state)
    stopper = subprocess.Popen(["/usr/bin/python3", "-c", STOPPER, str(int(signal.SIGSTOP)),
                                "all"], stdout=subprocess.PIPE, text=True,
                               preexec_fn=as_alice)  # fmt: skip
    args = ["clean", "--user", "alice", "--format", "json", "--timeout", "2s", "--root",
            str(tree.root), "--audit-log", state["log"], "--state-dir", state["state"],
            "--lock-dir", state["locks"], "--yes"]  # fmt: skip
    try:
        got = subprocess.run([sys.executable, "-m", "fleetcache", *args], capture_output=True,
                             text=True, timeout=300)  # fmt: skip
    finally:
        stopper.kill()
        stopper.wait()
    doc = json.loads(got.stdout)
    errors = sorted(p["error"] for p in doc["purged"])
    assert len(errors) == 2 and "deadline" in errors[1], errors
    assert errors[0] == "not done: a child of uid 12345 stopped at the deadline before", errors
    assert sorted(r["run_id"] for r in list_json(tree, state)["runs"]) == sorted(runs)


@pytest.mark.parametrize("option", ["--quarantine", "--timeout"])
@pytest.mark.parametrize("value", ["99999999999w", "9" * 400 + "d"])
def test_a_duration_too_long_for_a_date_is_a_usage_error_before_anything_moves(
    tree, state, capsys, option, value
):
    """A quarantine kept past year 9999 (or forever: a number too long for a float) used to move
    the files, then end in a traceback printing its expiry; a deadline that long, in select()."""
    cache = synthetic(tree)
    before = snapshot(cache)
    argv = ["--quarantine", "1d", option, value] if option == "--timeout" else [option, value]
    code, out, _ = fc(tree, state, "clean", "--user", "alice", *argv)
    err = capsys.readouterr().err
    assert code == 2 and out == "" and err.count("\n") == 1 and "too long" in err, err
    assert snapshot(cache) == before and not tree.host(PLACE).exists()
