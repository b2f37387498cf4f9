"""Age by last use (issue 18, item 3): on a tmpfs mounted in the test with ``strictatime``, the
real tools' reads keep what they read from --older-than; with ``noatime`` the age is the
download time again; fleetcache's own reads never move an access time."""

from __future__ import annotations

import json
import os
import shutil
import stat
import subprocess
import sys
import tempfile
import time
import zipfile
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any, Optional

import pytest

from fleetcache import lastuse
from tests import test_kind_uv
from tests.conftest import Tree, chown_tree, pip_env
from tests.test_kind_uv import PYTHON, run_uv, uv_env
from tests.test_timer import bounding
from tests.test_timer import unit as timer_unit

ROOT = os.geteuid() == 0
pytestmark = pytest.mark.skipif(
    not ROOT, reason="mounts a tmpfs and runs tools as other uids: run as root (CI is)"
)
ALICE = 12345
DAY = 86400.0
O_NOATIME = getattr(os, "O_NOATIME", 0)
uv_bin = test_kind_uv.uv_bin  # the real uv, as its own tests find it (a fixture)


@pytest.fixture
def mounted() -> Iterator[Callable[[str], Tree]]:
    """``mounted("strictatime")``: a machine tree on a fresh tmpfs mounted with that option,
    that other uids may traverse; unmounted at the end whatever happens."""
    tops: list[str] = []

    def mount(option: str) -> Tree:
        top = tempfile.mkdtemp(prefix="fleetcache-atime-")
        os.chmod(top, 0o755)
        tops.append(top)
        got = subprocess.run(
            ["mount", "-t", "tmpfs", "-o", f"{option},mode=0755,size=512m", "tmpfs", top],
            capture_output=True, text=True,
        )  # fmt: skip
        if got.returncode != 0:
            pytest.skip(f"mount(8) refused a tmpfs here: {got.stderr.strip()}")
        return Tree(Path(top) / "machine")

    try:
        yield mount
    finally:
        for top in tops:
            subprocess.run(["umount", top], capture_output=True)
            os.rmdir(top)


@pytest.fixture(scope="session")
def alice_pip(pip_python: Callable[[str], Path]) -> Iterator[Path]:
    """A Python alice may run (the system's) with pip 26.3, copied from the session's venv."""
    if not os.path.exists(PYTHON):
        pytest.skip(f"{PYTHON} is missing: alice's pip needs a Python she may run")
    top = Path(tempfile.mkdtemp(prefix="fleetcache-pip-"))
    top.chmod(0o755)
    subprocess.run([PYTHON, "-m", "venv", "--without-pip", str(top / "venv")], check=True)
    ours = next(pip_python("26").parent.parent.glob("lib/python3*/site-packages"))
    (theirs,) = (top / "venv").glob("lib/python3*/site-packages")
    for part in [ours / "pip", *ours.glob("pip-*.dist-info")]:
        shutil.copytree(part, theirs / part.name)
    try:
        yield top / "venv" / "bin" / "python"
    finally:
        shutil.rmtree(top, ignore_errors=True)


def as_alice(argv: list[str], env: dict[str, str], cwd: Path) -> str:
    """Run a real tool as alice; its stdout, or the test fails with its stderr."""
    got = subprocess.run(argv, env=env, cwd=cwd, capture_output=True, text=True,
                         user=ALICE, group=ALICE, extra_groups=[])  # fmt: skip
    assert got.returncode == 0, got.stderr
    return got.stdout


def pip_as_alice(python: Path, home: Path, index_url: str, *args: str) -> str:
    host = index_url.split("/")[2]
    argv = [str(python), "-m", "pip", *args, "--index-url", index_url, "--trusted-host", host]
    return as_alice(argv, pip_env(home), home)


def times_back(top: Path, seconds: float) -> None:
    """Every file and directory below ``top`` (itself too) accessed and modified that long ago."""
    then = time.time() - seconds
    for path in [top, *top.rglob("*")]:
        os.utime(path, (then, then), follow_symlinks=False)


def atimes(top: Path) -> dict[str, float]:
    """The access time of everything below ``top`` but links, read without moving any (every
    directory opened with O_NOATIME: a listing is an access)."""
    out: dict[str, float] = {}
    stack = [(os.open(top, os.O_RDONLY | os.O_DIRECTORY | O_NOATIME), "")]
    while stack:
        fd, rel = stack.pop()
        with os.scandir(fd) as it:
            for entry in it:
                st = entry.stat(follow_symlinks=False)
                if stat.S_ISLNK(st.st_mode):
                    continue  # a readlink moves it, whatever the flags (uv's pointers are links)
                out[f"{rel}/{entry.name}"] = st.st_atime
                if stat.S_ISDIR(st.st_mode):
                    flags = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | O_NOATIME
                    stack.append((os.open(entry.name, flags, dir_fd=fd), f"{rel}/{entry.name}"))
        os.close(fd)
    return out


def fleetcache(
    tree: Tree, tmp_path: Path, *argv: str, prefix: Sequence[str] = ()
) -> tuple[int, dict[str, Any]]:
    """fleetcache in its own process (the loopback index's thread makes this one unfit to
    fork a deleting child), after ``prefix`` (setpriv ...); its exit code and JSON document."""
    state = ("--audit-log", str(tmp_path / "audit.log"), "--lock-dir", str(tmp_path / "locks"),
             "--state-dir", str(tmp_path / "state")) if argv[0] == "clean" else ()  # fmt: skip
    got = subprocess.run(
        [*prefix, sys.executable, "-m", "fleetcache", *argv, "--root", str(tree.root), *state,
         "--format", "json"],
        capture_output=True, text=True,
    )  # fmt: skip
    assert got.stdout, got.stderr
    doc: dict[str, Any] = json.loads(got.stdout)
    return got.returncode, doc


def downloaded_wheels(cache: Path) -> dict[str, Path]:
    """The wheels pip's http cache holds as downloads (``alpha-1.0``), and their bodies."""
    out: dict[str, Path] = {}
    for body in cache.glob("http-v2/**/*.body"):
        try:
            with zipfile.ZipFile(body) as zf:
                names = zf.namelist()
        except zipfile.BadZipFile:
            continue  # an index page, an sdist
        out.update((n.split(".dist-info/")[0], body) for n in names if ".dist-info/" in n)
    return out


def wheels_in_bodies(cache: Path) -> set[str]:
    """The names of the wheels pip's http cache holds as downloads."""
    return set(downloaded_wheels(cache))


def pip_cache(tree: Tree, python: Path, index_url: str) -> tuple[Path, Path]:
    """alice's real pip cache: alpha 1.0 (a download) and gamma (an sdist pip built a wheel
    of) installed through it by her pip, then every time in it set three days back."""
    home = tree.user("alice", ALICE)
    for packages in (("alpha==1.0",), ("gamma",)):
        target = home / f"t-{packages[0]}"
        pip_as_alice(python, home, index_url, "install", "-q", "--target", str(target), *packages)
    cache = home / ".cache" / "pip"
    times_back(cache, 3 * DAY)
    return home, cache


@pytest.mark.parametrize(
    ("option", "basis", "how"),
    [("strictatime", "atime", "option"), ("noatime", "mtime", "option"),
     ("strictatime", "atime", "policy")],
)  # fmt: skip
def test_a_wheel_pip_read_yesterday_survives_older_than_1d_where_atime_is_recorded(
    mounted, tmp_path: Path, alice_pip, index_url: str, option: str, basis: str, how: str
):
    """Three days after alice's pip filled her cache, her pip installs alpha 1.0 again (a real
    read of its cached wheel). With strictatime, --older-than 1d (or a policy file's
    ``older_than = "1d"``) keeps that wheel and takes gamma's (never read since); with noatime
    the read left no trace: both go."""
    tree = mounted(option)
    home, cache = pip_cache(tree, alice_pip, index_url)
    assert wheels_in_bodies(cache) == {"alpha-1.0"}
    again = home / "again"
    pip_as_alice(alice_pip, home, index_url, "install", "-q", "--target", str(again), "alpha==1.0")
    if how == "policy":
        tree.write("/etc/fleetcache/policy.toml", 'older_than = "1d"\nkinds = ["pip"]\n').chmod(
            0o644
        )
        age: tuple[str, ...] = ("--policy",)
    else:
        age = ("--kind", "pip", "--older-than", "1d")
    code, got = fleetcache(tree, tmp_path, "clean", "--user", "alice", *age, "--yes")
    assert (code, got["caches"][0]["state"]) == (0, "cleaned"), got
    built = as_alice([str(alice_pip), "-m", "pip", "cache", "list", "--cache-dir", str(cache)],
                     pip_env(home), home)  # fmt: skip
    assert "gamma" not in built  # built three days ago, never read since: gone either way
    assert wheels_in_bodies(cache) == ({"alpha-1.0"} if basis == "atime" else set())
    _, scan = fleetcache(tree, tmp_path, "scan", "--user", "alice", "--kind", "pip")
    assert [c["age_basis"] for c in scan["caches"]] == [basis]


@pytest.mark.parametrize(("option", "basis"), [("strictatime", "atime"), ("noatime", "mtime")])
def test_max_size_takes_the_least_recently_used_entry_first(
    mounted, tmp_path: Path, alice_pip, index_url: str, option: str, basis: str
):
    """alice's alpha 1.0 download is the oldest entry of her cache (five days; the rest three),
    and her pip has just read it again: --max-size one byte under the cache's size takes one
    entry, the least recently used: with strictatime another one (alpha stays), with noatime
    alpha (the oldest download)."""
    tree = mounted(option)
    home, cache = pip_cache(tree, alice_pip, index_url)
    body = downloaded_wheels(cache)["alpha-1.0"]
    then = time.time() - 5 * DAY
    for half in (body, body.with_suffix("")):
        os.utime(half, (then, then))
    again = home / "again"
    pip_as_alice(alice_pip, home, index_url, "install", "-q", "--target", str(again), "alpha==1.0")
    _, scan = fleetcache(tree, tmp_path, "scan", "--user", "alice", "--kind", "pip")
    size = scan["caches"][0]["total_bytes"]
    code, got = fleetcache(tree, tmp_path, "clean", "--user", "alice", "--kind", "pip",
                           "--max-size", str(size - 1), "--yes")  # fmt: skip
    assert (code, got["caches"][0]["state"]) == (0, "cleaned"), got
    assert ("alpha-1.0" in wheels_in_bodies(cache)) == (basis == "atime")
    assert "least recently used first, over the size limit" in got["caches"][0]["plan"]["why"]
    assert [c["age_basis"] for c in scan["caches"]] == [basis]


@pytest.mark.parametrize(("option", "basis"), [("strictatime", "atime"), ("noatime", "mtime")])
def test_a_package_uv_installed_yesterday_survives_older_than_1d_where_atime_is_recorded(
    mounted, tmp_path: Path, uv_bin: str, index_url: str, option: str, basis: str
):
    """alice's real uv cache, filled three days ago with alpha and beta (built from its sdist);
    her uv then installs alpha again (it reads alpha's wheel pointer and archive). With
    strictatime, --older-than 1d keeps what alpha needs: uv installs it offline afterwards; beta
    is gone. With noatime, alpha goes too."""
    tree = mounted(option)
    home = tree.user("alice", ALICE)
    run_uv(uv_bin, ALICE, home, index_url, "venv", "-q", "--python", PYTHON, str(home / "v1"))
    run_uv(uv_bin, ALICE, home, index_url, "pip", "install", "-q", "--python",
           str(home / "v1/bin/python"), "alpha==1.0", "beta")  # fmt: skip
    cache = home / ".cache" / "uv"
    times_back(cache, 3 * DAY)
    run_uv(uv_bin, ALICE, home, index_url, "venv", "-q", "--python", PYTHON, str(home / "v2"))
    run_uv(uv_bin, ALICE, home, index_url, "pip", "install", "-q", "--python",
           str(home / "v2/bin/python"), "alpha==1.0")  # fmt: skip
    code, got = fleetcache(tree, tmp_path, "clean", "--user", "alice", "--kind", "uv",
                           "--older-than", "1d", "--yes")  # fmt: skip
    assert (code, got["caches"][0]["state"]) == (0, "cleaned"), got

    def offline(package: str) -> int:
        venv = home / f"off-{package}"
        run_uv(uv_bin, ALICE, home, index_url, "venv", "-q", "--python", PYTHON, str(venv))
        return subprocess.run(
            [uv_bin, "pip", "install", "-q", "--offline", "--python", str(venv / "bin/python"),
             package], env=uv_env(home, index_url), cwd=home,
            capture_output=True, user=ALICE, group=ALICE, extra_groups=[],
        ).returncode  # fmt: skip

    assert offline("beta") != 0  # not used for three days: gone either way
    assert (offline("alpha==1.0") == 0) == (basis == "atime")
    _, scan = fleetcache(tree, tmp_path, "scan", "--user", "alice", "--kind", "uv")
    assert [c["age_basis"] for c in scan["caches"]] == [basis]


@pytest.mark.parametrize("unit", [None, "fleetcache-clean.service", "fleetcache-scan.service"])
def test_fleetcaches_own_reads_never_move_an_access_time(
    mounted, tmp_path: Path, alice_pip, index_url: str, uv_bin: str, unit: Optional[str]
):
    """On strictatime, with every time of alice's pip and uv caches three days back: scan,
    scan --packages, report --by package and clean --dry-run leave every access time of every
    file and directory in them as it was (a read without O_NOATIME would move it to now). A
    link's moves when it is read, whatever the flags: a clean goes by a link's mtime alone.
    The same as the shipped units run it, with root's capabilities cut to the unit's bounding
    set (O_NOATIME on another account's file needs CAP_FOWNER: without it every daily run would
    make what it reads look used today)."""
    prefix = [] if unit is None else bounding(timer_unit(unit))
    tree = mounted("strictatime")
    home, _ = pip_cache(tree, alice_pip, index_url)
    run_uv(uv_bin, ALICE, home, index_url, "venv", "-q", "--python", PYTHON, str(home / "v1"))
    run_uv(uv_bin, ALICE, home, index_url, "pip", "install", "-q", "--python",
           str(home / "v1/bin/python"), "alpha==1.0", "beta")  # fmt: skip
    caches = home / ".cache"
    chown_tree(caches, ALICE)
    times_back(caches, 3 * DAY)
    before = atimes(caches)
    assert len(before) > 50
    for argv in (["scan"], ["scan", "--packages"], ["report", "--by", "package"],
                 ["clean", "--dry-run"]):  # fmt: skip
        fleetcache(tree, tmp_path, *argv, "--user", "alice", prefix=prefix)
        after = atimes(caches)
        moved = sorted(p for p, t in after.items() if t != before.get(p))
        assert moved == [], f"{' '.join(argv)} moved the access time of {moved[:5]}"


@pytest.mark.parametrize(
    ("option", "basis"),
    [("relatime", "atime"), ("strictatime", "atime"), ("relatime,nodiratime", "atime"),
     ("noatime", "mtime")],
)  # fmt: skip
def test_the_age_basis_follows_the_mount_options(mounted, option: str, basis: str):
    """relatime and strictatime record access times (relatime at most once a day); noatime
    does not: told from the opened directory's statvfs flags, as a clean asks them."""
    tree = mounted(option)
    fd = os.open(tree.root, os.O_RDONLY | os.O_DIRECTORY)
    try:
        assert lastuse.basis(fd) == basis
    finally:
        os.close(fd)
