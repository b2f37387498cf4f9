"""Root's cache is not held busy forever: a long-running Python of the system's interpreter that
never runs pip, a second fleetcache, and fleetcache's own processes do not make a cache busy; a
pip (of the system's interpreter too), a process sitting in the cache and a Python running from
an environment of root's still do."""

from __future__ import annotations

import os
import pty
import select
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import psutil
import pytest

from fleetcache.activity import commands
from fleetcache.activity.processes import snapshot
from fleetcache.machine import Machine
from fleetcache.scan import Selection, scan
from tests.conftest import Tree
from tests.index_server import Hold, default_index, serve
from tests.test_activity import SLEEPER, make_venv
from tests.test_clean import FLEETCACHE_IMPORTS, KEYS, copy_of_pip, http_entry, portable
from tests.test_selection_attacks import held_pip

ROOT = os.geteuid() == 0
ROOT_ONLY = pytest.mark.skipif(not ROOT, reason="root's processes and caches: run as root (CI is)")
BASE = "/usr/bin/python3"
ROOTS = Selection(users=("root",), sizes=False)


@pytest.fixture
def tree(open_tree: Tree) -> Tree:
    """root's cache holding two entries, and the system's interpreter: a copy of this host's
    (it runs from the tree, so the tree's /usr/bin/python3 is what the kernel shows)."""
    if not os.path.exists(BASE):
        pytest.skip(f"{BASE} is missing: root's daemon needs a system Python")
    real = Path(os.path.realpath(BASE))
    python = open_tree.host(f"/usr/bin/{real.name}")
    python.parent.mkdir(parents=True)
    shutil.copy(real, python)
    open_tree.host("/usr/bin/python3").symlink_to(real.name)
    for key in KEYS[:2]:
        http_entry(open_tree.host("/root/.cache/pip"), key)
    open_tree.host("/root").chmod(0o700)
    return open_tree


def roots_cache(tree: Tree) -> tuple[bool | None, dict[int | None, str]]:
    """Whether /root/.cache/pip is busy in a scan now, and why (pid -> reason)."""
    result = scan(Machine.local(str(tree.root)), ROOTS)
    (cache,) = [c for c in result.caches if c.location.path == "/root/.cache/pip"]
    return cache.busy, {u.pid: u.why for u in cache.busy_reasons}


def system_python(tree: Tree) -> str:
    return str(tree.host("/usr/bin/python3"))


@ROOT_ONLY
def test_a_python_daemon_of_roots_holds_nothing_back_but_its_pip_does(tree, procs, tmp_path):
    daemon = procs.start([system_python(tree), "-c", SLEEPER], cwd=tree.root, uid=0)
    assert psutil.Process(daemon.pid).exe().startswith(str(tree.root))  # the tree's Python
    busy, why = roots_cache(tree)
    assert busy is False, why

    # a clean of root's cache goes ahead while the daemon runs
    r = subprocess.run(
        [sys.executable, "-m", "fleetcache", "clean", "--root", str(tree.root), "--user", "root",
         "--yes", "--audit-log", str(tmp_path / "audit.log"), "--lock-dir", str(tmp_path / "l"),
         "--state-dir", str(tmp_path / "s")],
        capture_output=True, text=True,
    )  # fmt: skip
    assert r.returncode == 0 and " cleaned " in r.stdout, r.stdout + r.stderr
    assert daemon.poll() is None

    # the same interpreter running pip (root's default cache, by its $HOME) makes it busy
    hold = Hold()
    pip = copy_of_pip(Path(sys.executable), tmp_path / "pip")
    with serve(default_index(), hold) as url:
        running = held_pip(
            [system_python(tree), "-m", "pip"], 0, tree.root, url, pip, hold,
            HOME=str(tree.host("/root")),
        )  # fmt: skip
        try:
            busy, why = roots_cache(tree)
            assert busy is True and why == {
                running.pid: "pip download is running (its environment and config: default "
                "location)"
            }, why
        finally:
            hold.release.set()
            running.wait(60)


@ROOT_ONLY
def test_a_python_of_an_environment_of_roots_still_makes_roots_cache_busy(tree, procs):
    venv = make_venv(tree, "/root/app")
    app = procs.start([str(venv / "bin/python"), "-c", SLEEPER], cwd=tree.root, uid=0)
    busy, why = roots_cache(tree)
    assert busy is True and why == {app.pid: "runs /root/app/bin/python"}, why


@ROOT_ONLY
def test_a_second_fleetcache_does_not_make_roots_cache_busy(tree, tmp_path):
    """Another fleetcache run from a venv of root's (pipx's way), waiting at its prompt."""
    venv = make_venv(tree, "/root/tools")
    lib = portable(sys.executable, FLEETCACHE_IMPORTS, tmp_path / "lib")
    main_fd, child_fd = pty.openpty()
    other = subprocess.Popen(
        [str(venv / "bin/python"), "-m", "fleetcache", "clean", "--root", str(tree.root),
         "--user", "root", "--audit-log", str(tmp_path / "audit.log"), "--lock-dir",
         str(tmp_path / "l"), "--state-dir", str(tmp_path / "s")],
        stdin=child_fd, stdout=child_fd, stderr=child_fd, cwd=tree.root,
        env={"PATH": "/usr/bin:/bin", "PYTHONPATH": str(lib)},
    )  # fmt: skip
    os.close(child_fd)
    try:
        shown = b""
        until = time.monotonic() + 120
        while b"[y/N]" not in shown and time.monotonic() < until:
            if select.select([main_fd], [], [], 1)[0]:
                shown += os.read(main_fd, 4096)
        assert b"[y/N]" in shown, shown
        busy, why = roots_cache(tree)
        assert busy is False, why
    finally:
        os.write(main_fd, b"n\n")
        other.wait(60)
        os.close(main_fd)


@ROOT_ONLY
def test_fleetcaches_own_processes_never_count(tree, procs):
    """Processes this process forked (as fleetcache forks its walkers, readers and deleting
    child), and theirs, sitting in root's cache: passed over. A program it started (a library
    caller's own process) still counts."""
    cache = tree.host("/root/.cache/pip")
    ready_r, ready_w = os.pipe()
    forked = os.fork()
    if forked == 0:  # a fork of this process, sitting in the cache, with a fork of its own
        try:
            os.chdir(cache)
            if os.fork() == 0:
                os.write(ready_w, b"g")
                time.sleep(120)
                os._exit(0)
            os.write(ready_w, b"c")
            time.sleep(120)
        finally:
            os._exit(0)
    grandchild: list[int] = []
    try:
        assert sorted(os.read(ready_r, 1) + os.read(ready_r, 1)) == sorted(b"cg")
        grandchild = [c.pid for c in psutil.Process(forked).children()]
        sleeper = procs.start(["/bin/sh", "-c", "echo ready; exec sleep 120"], cwd=cache, uid=0)
        pids = {p.pid for p in snapshot().procs}
        assert forked not in pids and not set(grandchild) & pids and sleeper.pid in pids
        busy, why = roots_cache(tree)
        assert busy is True and set(why) == {sleeper.pid}, why
    finally:
        for pid in (forked, *grandchild):
            os.kill(pid, signal.SIGKILL)
        os.waitpid(forked, 0)
        os.close(ready_r)
        os.close(ready_w)


@pytest.mark.parametrize(
    ("argv", "expected"),
    [
        (["/opt/fleetcache/bin/python", "/opt/fleetcache/bin/fleetcache", "clean"], True),
        (["python3", "-m", "fleetcache", "scan"], True),
        (["python3", "-I", "-m", "fleetcache.__main__"], True),
        (["/usr/local/bin/fleetcache", "scan"], True),
        (["python3", "-m", "pip", "install", "fleetcache"], False),
        (["python3", "app.py", "fleetcache"], False),
        (["sh", "-c", "fleetcache scan"], False),
    ],
)
def test_another_fleetcache_is_known_by_its_command_line(argv, expected):
    assert commands.is_fleetcache(argv) is expected
