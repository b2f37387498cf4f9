"""Ctrl-C at any moment (issue 16, item 9): ``fleetcache: interrupted``, exit 130, no traceback,
from the first import on, by ``python -m fleetcache`` and by the console script, and no child
(pool worker, reading child) prints anything. As a terminal does, the signal goes to the whole
process group."""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.conftest import Tree, chown_tree

REPO = Path(__file__).resolve().parent.parent
# from before Python has loaded, through its imports and the scan, to its report (see interrupt)
DELAYS = (0.0, 0.05, 0.1, 0.15, 0.2, 0.3, 0.4, 0.5, 1.0)
INTERRUPTED = "fleetcache: interrupted\n"


@pytest.fixture
def scan_argv(tree: Tree) -> list[str]:
    """``scan`` of two accounts with a cache each (two caches: walked by pool workers)."""
    for name, uid in (("alice", 12345), ("bob", 12346)):
        home = tree.user(name, uid)
        (home / ".cache" / "pip" / "http-v2").mkdir(parents=True)
        if os.geteuid() == 0:
            chown_tree(home, uid)
    return ["scan", "--root", str(tree.root)]


def sigint_caught(pid: int) -> bool:
    """Whether the process has a SIGINT handler yet (Python installs one as it starts)."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("SigCgt:"):
            return bool(int(line.split()[1], 16) & (1 << (signal.SIGINT - 1)))
    raise AssertionError("no SigCgt in /proc/PID/status")


def full_pipe() -> tuple[int, int]:
    """A pipe filled until it holds no more: the next write to it waits. (read end, write end)"""
    read_end, write_end = os.pipe()
    os.set_blocking(write_end, False)
    with contextlib.suppress(BlockingIOError):
        while True:
            os.write(write_end, b"." * 4096)
    os.set_blocking(write_end, True)
    return read_end, write_end


def interrupt(command: list[str], delay: float) -> tuple[int, str, bool]:
    """Start ``command`` with its stdout a full pipe (it cannot finish before the signal: its
    report waits there), SIGINT its process group after ``delay`` seconds; (exit status, its
    stderr, whether it had a SIGINT handler when the signal was sent)."""
    read_end, write_end = full_pipe()
    proc = subprocess.Popen(
        command,
        stdin=subprocess.DEVNULL,
        stdout=write_end,
        stderr=subprocess.PIPE,
        start_new_session=True,
    )
    os.close(write_end)
    try:
        time.sleep(delay)
        caught = sigint_caught(proc.pid)
        os.killpg(proc.pid, signal.SIGINT)
        with os.fdopen(read_end, "rb") as out:
            out.read()  # what it had left to say, so that it can end
        assert proc.stderr is not None
        err = proc.stderr.read()
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
    return proc.returncode, err.decode("utf-8", "replace"), caught


def check(command: list[str]) -> None:
    for delay in DELAYS:
        code, shown, caught = interrupt(command, delay)
        assert "Traceback" not in shown, (delay, shown)
        if caught or code != -signal.SIGINT:
            assert code == 130, (delay, code, shown)
            assert shown.endswith(INTERRUPTED), (delay, shown)
            assert shown.count(INTERRUPTED) == 1, (delay, shown)
        else:  # before Python set up signals: SIGINT ends it as any program (130 in a shell)
            assert shown == "", (delay, shown)


def test_python_m_fleetcache_is_interrupted_at_any_moment(scan_argv):
    check([sys.executable, "-m", "fleetcache", *scan_argv])


def test_the_console_script_is_interrupted_at_any_moment(scan_argv):
    script = shutil.which("fleetcache", path=os.path.dirname(sys.executable))
    if script is None:
        pytest.skip("no fleetcache console script beside this Python (pip install -e . makes it)")
    check([script, *scan_argv])


POOL_SCRIPT = """
import sys
from fleetcache.stats.pool import run_all
from tests.test_interrupt import held
try:
    list(run_all(held, sys.argv[1:], 2))
except KeyboardInterrupt:
    sys.stderr.write("interrupted\\n")
"""


def held(marker: str) -> int:
    """A pool task: says it runs (its pid in ``marker``), then waits to be stopped."""
    Path(marker + ".tmp").write_text(str(os.getpid()))
    os.rename(marker + ".tmp", marker)
    time.sleep(120)
    return 0


def test_pool_workers_print_nothing_on_ctrl_c(tmp_path: Path):
    markers = [str(tmp_path / "one"), str(tmp_path / "two")]
    proc = subprocess.Popen(
        [sys.executable, "-c", POOL_SCRIPT, *markers],
        cwd=REPO,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        start_new_session=True,
    )
    try:
        while not all(os.path.exists(m) for m in markers):  # both workers are in their task
            assert proc.poll() is None, proc.communicate()
            time.sleep(0.01)
        workers = [int(Path(m).read_text()) for m in markers]
        os.killpg(proc.pid, signal.SIGINT)
        _, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
    assert (proc.returncode, err.decode()) == (0, "interrupted\n")
    assert not any(os.path.exists(f"/proc/{pid}") for pid in workers)
