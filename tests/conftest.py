"""Shared fixtures: machine trees under a --root, a loopback index, and real pips to fill caches."""

from __future__ import annotations

import fcntl
import os
import pty
import shutil
import struct
import subprocess
import sys
import tempfile
import termios
from collections.abc import Iterator
from pathlib import Path
from typing import Any, Callable, Optional

import pytest

from tests.index_server import default_index, serve_in_child

PIP_RELEASES = {"26": "26.3", "23": "23.0.1"}


class Tree:
    """A machine under a --root: etc/passwd, etc/login.defs, homes, files owned by numeric uids."""

    def __init__(self, root: Path) -> None:
        self.root = root
        (root / "etc").mkdir(parents=True, exist_ok=True)
        self.passwd: list[str] = ["root:x:0:0:root:/root:/bin/bash"]
        self._write_passwd()
        (root / "etc" / "login.defs").write_text("UID_MIN 1000\nUID_MAX 60000\n")

    def _write_passwd(self) -> None:
        (self.root / "etc" / "passwd").write_text("\n".join(self.passwd) + "\n")

    def host(self, machine_path: str) -> Path:
        """Where a machine path lies in this tree."""
        return self.root / machine_path.lstrip("/")

    def user(self, name: str, uid: int, home: str | None = None, make_home: bool = True) -> Path:
        """Add an account (and its home, owned by it); returns the home in the tree."""
        home = home or f"/home/{name}"
        self.passwd.append(f"{name}:x:{uid}:{uid}::{home}:/bin/bash")
        self._write_passwd()
        path = self.host(home)
        if make_home:
            path.mkdir(parents=True, exist_ok=True)
            os.lchown(path, uid, uid)
        return path

    def write(self, machine_path: str, text: str | bytes, uid: int = 0) -> Path:
        """Write a file (parents made), owned by ``uid``."""
        path = self.host(machine_path)
        path.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(text, bytes):
            path.write_bytes(text)
        else:
            path.write_text(text)
        os.lchown(path, uid, uid)
        return path


def chown_tree(top: Path, uid: int) -> None:
    """Give a whole tree (links themselves included) to ``uid``."""
    os.lchown(top, uid, uid)
    for dirpath, dirnames, filenames in os.walk(top):
        for name in dirnames + filenames:
            os.lchown(os.path.join(dirpath, name), uid, uid)


@pytest.fixture(scope="session", autouse=True)
def no_machine_state() -> Iterator[None]:
    """Every real clean records each account's last clean: a test keeps that record in its own
    directory (--state-dir), never in the machine's."""
    from fleetcache.clean.guard import SYSTEM_STATE

    there = os.path.lexists(SYSTEM_STATE)
    yield
    assert there or not os.path.lexists(SYSTEM_STATE), (
        f"a test wrote {SYSTEM_STATE}: give it --state-dir"
    )


@pytest.fixture
def open_tree() -> Iterator[Tree]:
    """A machine tree other uids may traverse (pytest's own temp dir is private to root)."""
    top = Path(tempfile.mkdtemp(prefix="fleetcache-tree-"))
    top.chmod(0o755)
    try:
        yield Tree(top / "machine")
    finally:
        shutil.rmtree(top, ignore_errors=True)


@pytest.fixture
def procs() -> Iterator[Any]:
    """Real processes a test starts (``tests.test_activity.Procs``), all killed at the end."""
    from tests.test_activity import Procs  # the module imports this one: not at load time

    started = Procs()
    try:
        yield started
    finally:
        started.stop()


@pytest.fixture
def tree(tmp_path: Path) -> Tree:
    """An empty machine with only root."""
    return Tree(tmp_path / "machine")


@pytest.fixture(scope="session")
def index_url() -> Iterator[str]:
    """The loopback index, for the whole session (served by a child process: see serve_in_child)."""
    with serve_in_child(default_index()) as url:
        yield url


@pytest.fixture(scope="session")
def pip_python(tmp_path_factory: pytest.TempPathFactory) -> Callable[[str], Path]:
    """``pip_python("26")``: the interpreter of a venv holding that pip (made once per session)."""
    made: dict[str, Path] = {}

    def get(release: str) -> Path:
        if release not in made:
            venv = tmp_path_factory.mktemp(f"pip{release}")
            subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True)
            python = venv / "bin" / "python"
            result = subprocess.run(
                [sys.executable, "-m", "pip", "--python", str(python), "install", "-q",
                 "--no-cache-dir", "--disable-pip-version-check", f"pip=={PIP_RELEASES[release]}"],
                capture_output=True,
                text=True,
            )  # fmt: skip
            if result.returncode != 0:
                pytest.skip(
                    f"cannot install pip {PIP_RELEASES[release]} from PyPI: {result.stderr}"
                )
            made[release] = python
        return made[release]

    return get


def pip_env(home: Path, **extra: str) -> dict[str, str]:
    """An environment in which pip reads no machine config and no PIP_* of ours."""
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "HOME": str(home),
        "PIP_CONFIG_FILE": os.devnull,
        "PIP_DISABLE_PIP_VERSION_CHECK": "1",
        "PIP_NO_INPUT": "1",
    }
    env.update(extra)
    return env


def run_pip(python: Path, *args: str, home: Path, **extra: str) -> str:
    """Run a real pip; its stdout, or the test fails with its stderr."""
    result = subprocess.run(
        [str(python), "-m", "pip", *args],
        env=pip_env(home, **extra),
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, result.stderr
    return result.stdout


def fill_cache(python: Path, cache: Path, index_url: str, *packages: str, work: Path) -> None:
    """Let a real pip install ``packages`` from the loopback index through ``cache``."""
    work.mkdir(parents=True, exist_ok=True)
    target = work / f"target-{len(list(work.iterdir()))}"
    host = index_url.split("/")[2]
    run_pip(
        python, "install", "-q", "--index-url", index_url, "--trusted-host", host,
        "--cache-dir", str(cache), "--target", str(target), *packages, home=work,
    )  # fmt: skip


def run_on_tty(*argv: str, answer: Optional[bytes] = None) -> tuple[int, str]:
    """Run fleetcache with its stderr on a pseudo-terminal; its exit code and what it showed.
    With ``answer``, its stdin and stdout are the terminal too, and ``answer`` is typed at the
    first ``[y/N]`` prompt."""
    main_fd, child_fd = pty.openpty()
    # a terminal of 24 x 80 (a new pty has no size, and a bar on 0 columns shows nothing)
    fcntl.ioctl(child_fd, termios.TIOCSWINSZ, struct.pack("HHHH", 24, 80, 0, 0))
    proc = subprocess.Popen(
        [sys.executable, "-m", "fleetcache", *argv],
        stdin=subprocess.DEVNULL if answer is None else child_fd,
        stdout=subprocess.DEVNULL if answer is None else child_fd,
        stderr=child_fd,
    )
    os.close(child_fd)
    shown = b""
    while True:
        try:
            chunk = os.read(main_fd, 4096)
        except OSError:  # the child closed the terminal
            break
        if not chunk:
            break
        shown += chunk
        if answer is not None and b"[y/N] " in shown:
            os.write(main_fd, answer)
            answer = None
    os.close(main_fd)
    return proc.wait(), shown.decode("utf-8", "replace")


def unwrapped(text: str) -> list[str]:
    """The lines of a table's output with the lines the 80-column fitting wrapped joined again
    (a continuation is indented 4 more than the line it continues)."""
    out: list[str] = []
    for line in text.splitlines():
        indent = len(line) - len(line.lstrip(" "))
        if out and line.strip():
            first = out[-1]
            if indent >= len(first) - len(first.lstrip(" ")) + 4 and first.strip():
                out[-1] = f"{first} {line.strip()}"
                continue
        out.append(line)
    return out
