"""Attacks on what a scan or a clean selects and on what it calls busy, with real processes of other
uids: a cache only another account's pip names, a relative cache dir, a pip under another name,
a process sitting inside a cache, and a config that makes pip stop."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import pytest

from fleetcache.clean.run import Cleaner
from fleetcache.machine import Machine
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
    request,
    run,
    snapshot,
    synthetic,
)

ROOT = os.geteuid() == 0
pytestmark = pytest.mark.skipif(not ROOT, reason="processes of other uids: run as root (CI is)")
# maps a file and closes its descriptor (Python's own mmap keeps a duplicate of it open)
MAP_AND_CLOSE = """
import ctypes, os, sys, time
libc = ctypes.CDLL(None, use_errno=True)
libc.mmap.restype = ctypes.c_void_p
libc.mmap.argtypes = [ctypes.c_void_p, ctypes.c_size_t, ctypes.c_int, ctypes.c_int, ctypes.c_int,
                      ctypes.c_long]
fd = os.open(sys.argv[1], os.O_RDONLY)
assert libc.mmap(None, os.fstat(fd).st_size, 1, 2, fd, 0) not in (None, ctypes.c_void_p(-1).value)
os.close(fd)
print("ready", flush=True)
time.sleep(120)
"""


@pytest.fixture
def tree(open_tree: Tree) -> Tree:
    if not os.path.exists(BASE):
        pytest.skip(f"{BASE} is missing: processes of other uids need a Python they may run")
    return open_tree


@pytest.fixture
def state(tmp_path: Path) -> dict[str, str]:
    return {"log": str(tmp_path / "log" / "audit.log"), "locks": str(tmp_path / "locks"),
            "state": str(tmp_path / "state")}  # fmt: skip


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


def held_pip(
    argv: list[str],
    uid: int,
    cwd: Path,
    url: str,
    pip_copy: Path,
    hold: Hold,
    *more: str,
    **env: str,
) -> subprocess.Popen[bytes]:
    """A real ``pip download`` of ``uid``'s in ``cwd`` (downloads go there too), held at the
    index until the test releases it."""
    hold.started.clear()
    p = subprocess.Popen(
        [*argv, "download", "--index-url", url, "-d", str(cwd), *more, "alpha"],
        user=uid, group=uid, extra_groups=[], cwd=cwd,
        env=pip_env(Path("/nonexistent"), PYTHONPATH=str(pip_copy), **env),
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    assert hold.started.wait(60), "pip never reached the index"
    return p


PIP = [BASE, "-m", "pip"]


def test_a_cache_only_anothers_pip_names_is_not_selected_with_the_victim(
    tree, state, pip_python, started
):
    """mallory runs ``pip download --cache-dir ~/pc``; ``clean --user victim --wait`` must not
    touch ~mallory/pc, and ``scan --user victim`` must not report it."""
    synthetic(tree, n=2)  # the victim: alice
    pc = mallory_cache(tree)
    before = snapshot(pc)
    pip_copy = copy_of_pip(pip_python("26"), tree.root.parent / "pip")
    hold = Hold()
    with serve(default_index(), hold) as url:
        home = tree.host("/home/bob")
        p = held_pip(PIP, BOB, home, url, pip_copy, hold, "--cache-dir", str(pc))
        started.append(p)
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
    hold = Hold()
    with serve(default_index(), hold) as url:
        for extra in ({"PIP_CACHE_DIR": "pipcache"}, {"PIP_CONFIG_FILE": str(work / "pip.conf")}):
            started.append(held_pip(PIP, ALICE, work, url, pip_copy, hold, **extra))
        try:
            code, doc = scan_json(tree, "--user", "alice")
            caches = {c["path"]: c for c in doc["caches"]}
            for name, p in (("pipcache", started[0]), ("pipcache2", started[1])):
                c = caches[f"/home/alice/work/{name}"]
                assert c["busy"] is True and c["busy_reasons"][0]["pid"] == p.pid, c
                code, doc = run(tree, state, "--cache", f"/home/alice/work/{name}", "--purge")
                # 3, not 4: beside the busy skip, the relative cache dir is a note to read
                assert code == 3 and one(doc)["state"] == "busy", doc
        finally:
            hold.release.set()
    assert all(p.wait(60) == 0 for p in started)


def test_a_pip_under_another_name_makes_its_cache_busy(tree, state, pip_python, started):
    """``exec -a worker python3 -m pip ... --cache-dir X`` and a copy of the interpreter named
    ``runner``: the kernel shows a Python (its executable, its mapped modules), so both pips are
    recognised, their caches busy, and a clean skips them."""
    synthetic(tree, n=1)
    x, y = tree.host("/home/alice/x"), tree.host("/home/alice/y")
    for cache in (x, y):
        http_entry(cache, KEYS[3])
    work = tree.host("/home/alice/work")
    work.mkdir()
    chown_tree(tree.host("/home/alice"), ALICE)
    runner = tree.root.parent / "bin" / "runner"
    runner.parent.mkdir()
    runner.write_bytes(Path(os.path.realpath(BASE)).read_bytes())
    runner.chmod(0o755)
    pip_copy = copy_of_pip(pip_python("26"), tree.root.parent / "pip")
    hold = Hold()
    with serve(default_index(), hold) as url:
        try:
            renamed = ["bash", "-c", 'exec -a worker "$0" "$@"', *PIP]
            for argv, cache in ((renamed, x), ([str(runner), "-m", "pip"], y)):
                more = ("--cache-dir", str(cache))
                started.append(held_pip(argv, ALICE, work, url, pip_copy, hold, *more))
            for cache, p in ((x, started[0]), (y, started[1])):
                path = "/" + str(cache.relative_to(tree.root))
                code, doc = run(tree, state, "--cache", path, "--purge")
                c = one(doc)
                assert code == 4 and c["state"] == "busy", doc
                assert c["busy_reasons"][0]["pid"] == p.pid
                assert "pip download is running" in c["busy_reasons"][0]["why"]
        finally:
            hold.release.set()
    assert all(p.wait(60) == 0 for p in started)


def test_a_process_sitting_in_or_holding_a_file_of_a_cache_makes_it_busy(tree, state, started):
    """bob's ``sleep`` with its working directory in alice's cache, another holding one of its
    files open, a third with one mapped (its descriptor closed): whatever they are called, each
    cache is busy with that pid, and neither scan nor clean calls it idle."""
    cache = synthetic(tree, n=2)
    tree.user("bob", BOB, make_home=False)
    tree.write("/home/alice/.config/pip/pip.conf",
               "[install]\ncache-dir = /home/alice/c2\n[download]\ncache-dir = /home/alice/c3\n")  # fmt: skip
    for name in ("c2", "c3"):
        http_entry(tree.host(f"/home/alice/{name}"), KEYS[7])
    chown_tree(tree.host("/home/alice"), ALICE)
    before = {p: snapshot(tree.host(p)) for p in ("/home/alice/c2", "/home/alice/c3")}
    c2_file = next(p for p in tree.host("/home/alice/c2").rglob("*") if p.is_file())
    c3_file = next(p for p in tree.host("/home/alice/c3").rglob("*") if p.is_file())
    as_bob: dict[str, Any] = {"user": BOB, "group": BOB, "extra_groups": []}
    sitting = subprocess.Popen(["sleep", "120"], cwd=cache / "http-v2", **as_bob)
    holding = subprocess.Popen(["bash", "-c", f'exec 3<"{c2_file}"; exec sleep 120'], cwd="/",
                               **as_bob)  # fmt: skip
    mapping = subprocess.Popen(
        [BASE, "-c", MAP_AND_CLOSE, str(c3_file)],
        cwd="/", stdout=subprocess.PIPE, **as_bob,
    )  # fmt: skip
    started.extend((sitting, holding, mapping))
    assert mapping.stdout is not None and mapping.stdout.readline() == b"ready\n"
    deadline = time.monotonic() + 10
    while "/home/alice" not in os.readlink(f"/proc/{holding.pid}/fd/3"):  # bash has exec'ed
        assert time.monotonic() < deadline
        time.sleep(0.05)
    code, doc = scan_json(tree, "--user", "alice")
    caches = {c["path"]: c for c in doc["caches"]}
    for path, p, why in (
        ("/home/alice/.cache/pip", sitting, "its working directory is /home/alice/.cache/pip"),
        ("/home/alice/c2", holding, "has open /home/alice/c2/"),
        ("/home/alice/c3", mapping, "has mapped /home/alice/c3/"),
    ):
        reasons = {r["pid"]: r for r in caches[path]["busy_reasons"]}
        assert caches[path]["busy"] is True and reasons[p.pid]["user"] == "bob", caches[path]
        assert reasons[p.pid]["why"].startswith(why)
    code, doc = run(tree, state, "--user", "alice", "--purge")
    assert code == 4 and {c["state"] for c in doc["caches"]} == {"busy"}, doc
    assert {p: snapshot(tree.host(p)) for p in before} == before


def test_a_process_that_enters_a_cache_after_planning_stops_its_clean(tree, state, started):
    """The check is made again right before the cache is cleaned."""
    cache = synthetic(tree, n=3)
    before = snapshot(cache)
    cleaner = Cleaner(Machine.local(str(tree.root)), request(state))
    result = cleaner.plan()
    assert result.caches[0].state == "planned"
    p = subprocess.Popen(["sleep", "120"], cwd=cache, user=BOB, group=BOB, extra_groups=[])
    started.append(p)
    deadline = time.monotonic() + 10
    while os.readlink(f"/proc/{p.pid}/exe").endswith("python3"):  # until it has exec'ed
        assert time.monotonic() < deadline
        time.sleep(0.05)
    cleaner.execute(result)
    c = result.caches[0]
    assert c.state == "busy" and [u.pid for u in c.busy_reasons] == [p.pid]
    assert snapshot(cache) == before


def test_a_process_in_a_cache_reached_through_a_link_above_it_makes_it_busy(tree, started):
    """/home is root's link to /data/home: the kernel shows the process's working directory with
    the link resolved, and the cache is still busy."""
    real = tree.host("/data/home")
    real.mkdir(parents=True)
    tree.host("/home").symlink_to("data/home")
    cache = synthetic(tree, n=2)
    p = subprocess.Popen(["sleep", "120"], cwd=cache / "wheels", user=BOB, group=BOB,
                         extra_groups=[])  # fmt: skip
    started.append(p)
    deadline = time.monotonic() + 10
    while "/data/home/" not in os.readlink(f"/proc/{p.pid}/cwd"):
        assert time.monotonic() < deadline
        time.sleep(0.05)
    tree.user("bob", BOB, make_home=False)
    _, doc = scan_json(tree, "--user", "alice")
    (c,) = doc["caches"]
    assert c["busy"] is True and [r["pid"] for r in c["busy_reasons"]] == [p.pid], c
    assert c["busy_reasons"][0]["why"].startswith("its working directory is /data/home/alice/")
