"""The uv cache kind (issue 17), against the real uv 0.13.9 run as the account: its caches found
where `uv cache dir` says, measured as `uv cache size` and du say, its entries named, its clean
as uv's own, its lock honoured, and a cache that symlink-mode environments use refused."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from fleetcache.cli import main
from tests.conftest import Tree, chown_tree
from tests.index_server import make_sdist, make_wheel

ROOT = os.geteuid() == 0
pytestmark = pytest.mark.skipif(not ROOT, reason="runs uv as other uids: run as root (CI is)")
ALICE, BOB = 12345, 12346
HOME = "/home/alice"
PYTHON = "/usr/bin/python3"  # a Python the accounts may run
SLEEPER = "import time; print('ready', flush=True); time.sleep(120)"


@pytest.fixture(scope="session")
def uv_bin() -> Iterator[str]:
    """The real uv, where every account may run it."""
    found = shutil.which("uv", path=os.path.dirname(sys.executable))
    if found is None or not os.path.exists(PYTHON):
        pytest.skip("needs uv (test extras) and /usr/bin/python3")
    top = tempfile.mkdtemp(prefix="fleetcache-uv-")
    os.chmod(top, 0o755)
    shutil.copy2(found, f"{top}/uv")
    os.chmod(f"{top}/uv", 0o755)
    yield f"{top}/uv"
    shutil.rmtree(top, ignore_errors=True)


def uv_env(home: Path, index_url: str, **extra: str) -> dict[str, str]:
    """What a real uv of the account sees: its home, the loopback index, no downloads."""
    return {
        "PATH": "/usr/bin:/bin",
        "HOME": str(home),
        "UV_INDEX_URL": index_url,
        "UV_PYTHON_DOWNLOADS": "never",
        **extra,
    }


def run_uv(
    uv: str, uid: int, home: Path, index_url: str, *args: str, cwd: Path | None = None, **extra: str
) -> str:
    """Run the real uv as ``uid``; its stdout, or the test fails with its stderr."""
    result = subprocess.run(
        [uv, *args],
        env=uv_env(home, index_url, **extra),
        cwd=cwd or home,
        capture_output=True,
        text=True,
        user=uid,
        group=uid,
        extra_groups=[],
    )
    assert result.returncode == 0, result.stderr
    return result.stdout


def fill(
    uv: str, uid: int, home: Path, url: str, venv: Path, *more: str, cwd: Path | None = None,
    **extra: str,
) -> None:  # fmt: skip
    """A real venv made by uv, alpha 1.0 (then 2.0), beta and gamma (built) installed in it,
    then ``more``; uv run in ``cwd`` (the home by default) with the variables ``extra``."""
    run_uv(uv, uid, home, url, "venv", "-q", "--python", PYTHON, str(venv), cwd=cwd, **extra)
    py = str(venv / "bin" / "python")
    for pkgs in (("alpha==1.0", "beta", "gamma"), ("alpha==2.0", *more)):
        run_uv(uv, uid, home, url, "pip", "install", "-q", "--python", py, *pkgs, cwd=cwd,
               **extra)  # fmt: skip


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def doc(capsys: pytest.CaptureFixture[str], *argv: str) -> dict[str, Any]:
    code, out, err = run(capsys, *argv, "--format", "json")
    assert code in (0, 3), err
    got: dict[str, Any] = json.loads(out)
    return got


def uv_caches(capsys: pytest.CaptureFixture[str], tree: Tree, *more: str) -> dict[str, Any]:
    """The uv caches a scan finds, by path."""
    got = doc(capsys, "scan", "--root", str(tree.root), "--kind", "uv", "--jobs", "1", *more)
    return {c["path"]: c for c in got["caches"]}


@pytest.fixture(scope="session")
def filled(uv_bin: str, index_url: str) -> Iterator[Path]:
    """alice's home, made once: a real default uv cache and a real venv that hardlinks it."""
    top = Path(tempfile.mkdtemp(prefix="fleetcache-uvhome-"))
    top.chmod(0o755)
    home = top / "alice"
    home.mkdir()
    os.chown(home, ALICE, ALICE)
    fill(uv_bin, ALICE, home, index_url, home / "venv")
    yield home
    shutil.rmtree(top, ignore_errors=True)


def copy_home(filled: Path, tree: Tree) -> Path:
    """The filled home as alice's in the tree (links between cache and venv kept)."""
    home = tree.host(HOME)
    subprocess.run(["cp", "-a", f"{filled}/.", str(home)], check=True)
    return home


@pytest.fixture
def alice(open_tree: Tree) -> Tree:
    """A machine with alice and bob, others may traverse (their uv runs in it)."""
    open_tree.user("alice", ALICE)
    open_tree.user("bob", BOB)
    return open_tree


CASES = ["default", "XDG_CACHE_HOME", "user uv.toml", "system uv.toml", "project uv.toml",
         "project pyproject.toml", "uv.toml hides pyproject.toml", "UV_CACHE_DIR"]  # fmt: skip
SYSTEM = "/etc/xdg-site/uv/uv.toml"  # found through $XDG_CONFIG_DIRS, as uv finds it


@pytest.mark.parametrize("case", CASES)
def test_found_where_uv_cache_dir_says_and_sized_as_uv_cache_size(
    alice: Tree, capsys, procs, uv_bin: str, index_url: str, case: str
):
    """Each way uv places its cache, set up for alice, found where alice's `uv cache dir` says
    (the variables only in a running process of hers), and measured as `uv cache size` and du."""
    home = alice.host(HOME)
    extra: dict[str, str] = {}
    cwd = home
    if case == "XDG_CACHE_HOME":
        extra["XDG_CACHE_HOME"] = str(home / "xdg")
    elif case == "UV_CACHE_DIR":
        extra["UV_CACHE_DIR"] = str(home / "elsewhere" / "uvc")
    elif case == "user uv.toml":
        alice.write(f"{HOME}/.config/uv/uv.toml", f'cache-dir = "{HOME}/cfg-cache"\n', ALICE)
    elif case == "system uv.toml":
        extra["XDG_CONFIG_DIRS"] = str(alice.host("/etc/xdg-site"))
    elif case.startswith(("project", "uv.toml")):
        cwd = home / "proj"
        project = '[project]\nname = "proj"\nversion = "1"\n'
        if case == "project uv.toml":
            alice.write(f"{HOME}/proj/uv.toml", 'cache-dir = "uvcache"\n', ALICE)
        else:  # beside a uv.toml (without cache-dir), uv ignores [tool.uv]
            project += '[tool.uv]\ncache-dir = "pycache"\n'
        if case == "uv.toml hides pyproject.toml":
            alice.write(f"{HOME}/proj/uv.toml", 'python-preference = "system"\n', ALICE)
        alice.write(f"{HOME}/proj/pyproject.toml", project, ALICE)
    chown_tree(home, ALICE)
    if case == "user uv.toml":  # uv reads the machine path: make it the host's
        alice.write(f"{HOME}/.config/uv/uv.toml", f'cache-dir = "{home}/cfg-cache"\n', ALICE)
    if case == "system uv.toml":
        alice.write(SYSTEM, f'cache-dir = "{home}/sys-cache"\n')
    fill(uv_bin, ALICE, home, index_url, cwd / ".venv", cwd=cwd, **extra)
    said = run_uv(uv_bin, ALICE, home, index_url, "cache", "dir", cwd=cwd, **extra).strip()
    said_path = Path(said) if os.path.isabs(said) else cwd / said
    # a process of hers (with the variables, if any): what it says is said once
    procs.start([PYTHON, "-c", SLEEPER], cwd=home, uid=ALICE, env=uv_env(home, "", **extra))
    size = run_uv(uv_bin, ALICE, home, index_url, "cache", "size", "--preview-features",
                  "cache-size", cwd=cwd, **extra)  # fmt: skip
    if case == "user uv.toml":  # fleetcache reads the file as the machine has it
        alice.write(f"{HOME}/.config/uv/uv.toml", f'cache-dir = "{HOME}/cfg-cache"\n', ALICE)
    if case == "system uv.toml":
        alice.write(SYSTEM, f'cache-dir = "{HOME}/sys-cache"\n')
    found = uv_caches(capsys, alice)
    machine_path = "/" + str(said_path.relative_to(alice.root))
    assert list(found) == [machine_path], found
    cache = found[machine_path]
    assert (cache["kind"], cache["owner"], cache["exists"]) == ("uv", "alice", True)
    assert len(cache["sources"]) == 1, cache["sources"]
    assert cache["disk_bytes"] == int(size) == disk(said_path)
    files = [p for p in said_path.rglob("*") if p.is_file() and not p.is_symlink()]
    inodes = {p.lstat().st_ino: p.lstat().st_size for p in files}
    assert (cache["total_files"], cache["total_bytes"]) == (len(files), sum(inodes.values()))


def clean(capsys, tree: Tree, tmp_path: Path, *more: str) -> tuple[int, dict[str, Any]]:
    """A real clean of uv caches (no question asked), in its own process (the loopback index's
    thread makes this one unfit to fork); its exit code and JSON document."""
    logs = ("--audit-log", str(tmp_path / "audit.log"), "--lock-dir", str(tmp_path / "locks"),
            "--state-dir", str(tmp_path / "state"))  # fmt: skip
    argv = [sys.executable, "-m", "fleetcache", "clean", "--root", str(tree.root), "--kind", "uv",
            "--yes", *logs, *more, "--format", "json"]  # fmt: skip
    result = subprocess.run(argv, capture_output=True, text=True)
    assert result.stdout, result.stderr
    got: dict[str, Any] = json.loads(result.stdout)
    return result.returncode, got


def snapshot(top: Path) -> dict[str, bytes]:
    return {str(p): p.read_bytes() for p in top.rglob("*") if p.is_file() and not p.is_symlink()}


@pytest.mark.parametrize("target", ["/etc", f"{HOME}/work"])
def test_a_hostile_config_cannot_make_anothers_directory_its_cache(
    alice: Tree, capsys, tmp_path: Path, target: str
):
    """bob's uv.toml names /etc or alice's work as his cache: listed as bob's, never walked nor
    cleaned as his (it belongs to another account), nothing of it touched."""
    alice.write(f"{HOME}/work/thesis.tex", "years of work", ALICE)
    alice.write(f"{HOME}/work/wheels-v8/x", "looks like uv", ALICE)
    alice.write(f"{HOME}/work/CACHEDIR.TAG", "Signature: 8a477f597d28d172789f06886806bc55", ALICE)
    chown_tree(alice.host(HOME), ALICE)
    alice.write("/home/bob/.config/uv/uv.toml", f'cache-dir = "{target}"\n', BOB)
    chown_tree(alice.host("/home/bob"), BOB)
    before = {t: snapshot(alice.host(t)) for t in ("/etc", f"{HOME}/work")}
    found = uv_caches(capsys, alice, "--user", "bob", "--no-activity")
    assert list(found) == [target]
    assert found[target]["total_files"] == 0 and "not walked" in found[target]["skipped"], found
    code, got = clean(capsys, alice, tmp_path, "--user", "bob", "--purge")
    (item,) = got["caches"]
    assert item["state"] == "refused" and "not to an account that uses it" in item["reason"]
    assert code != 0
    assert {t: snapshot(alice.host(t)) for t in before} == before


def test_a_uv_cache_is_found_by_layout_and_a_uv_venv_is_not_one(
    alice: Tree, capsys, tmp_path: Path, filled: Path
):
    """Below --search: the real cache (moved where no config says) is found by its layout; the
    real venv uv made beside it has CACHEDIR.TAG and .lock too, and is no uv cache."""
    home = copy_home(filled, alice)
    (home / ".cache" / "uv").rename(home / "stash")
    for made in ("venv", "stash"):
        assert (home / made / "CACHEDIR.TAG").is_file() and (home / made / ".lock").is_file()
    found = uv_caches(capsys, alice, "--search", HOME, "--no-activity")
    assert list(found) == [f"{HOME}/stash"], found
    assert [s["kind"] for s in found[f"{HOME}/stash"]["sources"]] == ["layout"]
    before = snapshot(home / "venv")
    code, got = clean(capsys, alice, tmp_path, "--cache", f"{HOME}/venv", "--purge")
    (item,) = got["caches"]
    assert item["state"] == "refused" and "uv's cache layout" in item["reason"], item
    assert snapshot(home / "venv") == before and code != 0


def test_entries_are_named_from_their_paths_and_report_by_package_shows_them(
    alice: Tree, capsys, filled: Path
):
    """Wheels (a link and its .http/.msgpack/.lock as one), built sdists, archives (by their
    dist-info) and index pages, each with its package: `report --by package` says alpha, beta
    and gamma are held in alice's uv cache."""
    from fleetcache.kinds import uv
    from fleetcache.stats.walk import WalkTask

    copy_home(filled, alice)
    cache = f"{HOME}/.cache/uv"
    got = uv.entries(WalkTask(str(alice.root), cache, frozenset({ALICE})))
    named = {(e.kind, e.project, e.version) for e in got.entries}
    assert {("wheel", "alpha", "1.0"), ("wheel", "alpha", "2.0"), ("archive", "alpha", "1.0"),
            ("archive", "alpha", "2.0"), ("index page", "alpha", None), ("sdist", "beta", "1.0"),
            ("archive", "beta", "1.0"), ("sdist", "gamma", "0.5"),
            ("archive", "gamma", "0.5")} <= named  # fmt: skip
    wheel = next(e for e in got.entries if e.kind == "wheel" and e.version == "1.0")
    assert wheel.files == 4 and not wheel.path.endswith((".http", ".lock")), wheel
    argv = ("report", "--root", str(alice.root), "--by", "package", "--kind", "uv", "-j", "1")
    rows = {r["package"]: r for r in doc(capsys, *argv, "--no-activity")["rows"]}
    assert sorted(rows["alpha"]["versions"]) == ["1.0", "2.0"]
    for name, entries in (("alpha", 5), ("beta", 3), ("gamma", 3)):
        assert (rows[name]["caches"], rows[name]["entries"]) == ([cache], entries), rows[name]


def twin(filled: Path) -> Iterator[Path]:
    """A second copy of the filled home, outside any tree, for uv's own clean to act on."""
    top = Path(tempfile.mkdtemp(prefix="fleetcache-uvtwin-"))
    top.chmod(0o755)
    try:
        subprocess.run(["cp", "-a", str(filled), str(top / "alice")], check=True)
        yield top / "alice"
    finally:
        shutil.rmtree(top, ignore_errors=True)


def listing(top: Path) -> set[str]:
    return {str(p.relative_to(top)) for p in top.rglob("*")}


def disk(*paths: Path) -> int:
    """``du -csB1`` of the paths together (an inode counted once: what the disk holds)."""
    out = subprocess.run(["du", "-csB1", *map(str, paths)], capture_output=True, text=True)
    return int(out.stdout.splitlines()[-1].split()[0])


def prunable(home: Path) -> None:
    """What `uv cache prune` removes: an old bucket, a cached environment, a lone archive."""
    cache = home / ".cache" / "uv"
    for where in ("wheels-v7/index/x", "environments-v2/e1", "archive-v0/orphan1"):
        (cache / where).mkdir(parents=True)
        (cache / where / "f").write_bytes(b"p" * 5000)
    chown_tree(cache, ALICE)


WAYS = {
    "purge": (("--purge",), ("cache", "clean")),
    "package": (("--package", "alpha"), ("cache", "clean", "alpha")),
    "junk": (("--junk",), ("cache", "prune")),
    "direct packages": (
        ("--package", "eps", "--package", "delta"),
        ("cache", "clean", "eps", "delta"),
    ),
}


@pytest.mark.parametrize("way", ["purge", "package", "junk"])
def test_a_clean_removes_what_uvs_own_clean_removes_and_frees_what_it_says(
    alice: Tree, capsys, tmp_path: Path, filled: Path, uv_bin: str, index_url: str, way: str
):
    """--purge, --package alpha and --junk against `uv cache clean`, `uv cache clean alpha` and
    `uv cache prune` on a twin of the cache: the same left (a purge also keeps CACHEDIR.TAG and
    .gitignore, which 0.13.9 removes); the plan's frees is the drop of du over the cache and the
    venv that hardlinks it, far less than it selects; the venv still imports everything."""
    against_uv(alice, capsys, tmp_path, filled, uv_bin, index_url, way)


@pytest.fixture(scope="session")
def filled_direct(uv_bin: str, index_url: str) -> Iterator[Path]:
    """Like ``filled``, plus a wheel and an sdist installed from local files and a wheel from
    its URL: uv keeps those under wheels-vN/url and sdists-vN/path, laid out otherwise."""
    top = Path(tempfile.mkdtemp(prefix="fleetcache-uvhome-"))
    top.chmod(0o755)
    home = top / "alice"
    home.mkdir()
    (home / "delta-1.0-py3-none-any.whl").write_bytes(make_wheel("delta", "1.0", b"d" * 9000))
    (home / "eps-1.0.tar.gz").write_bytes(make_sdist("eps", "1.0"))
    chown_tree(home, ALICE)
    url = index_url.replace("/simple/", "/files/") + "alpha-2.0-py3-none-any.whl"
    fill(uv_bin, ALICE, home, index_url, home / "venv", str(home / "delta-1.0-py3-none-any.whl"),
         str(home / "eps-1.0.tar.gz"), url)  # fmt: skip
    yield home
    shutil.rmtree(top, ignore_errors=True)


@pytest.mark.parametrize("way", ["junk", "package", "direct packages"])
def test_archives_that_path_and_url_installs_point_to_are_found(
    alice: Tree, capsys, tmp_path: Path, filled_direct: Path, uv_bin: str, index_url: str,
    way: str,
):  # fmt: skip
    """uv points at their archives from other places (sdists-vN/path/<hash>/<rev>/, beside a
    .rev; an sdist of a path named only by its metadata.msgpack): a prune and a package clean
    still take exactly what uv's take."""
    against_uv(alice, capsys, tmp_path, filled_direct, uv_bin, index_url, way)


def against_uv(
    alice: Tree, capsys, tmp_path: Path, filled: Path, uv_bin: str, index_url: str, way: str
) -> None:
    flags, uv_args = WAYS[way]
    home = copy_home(filled, alice)
    cache, venv = home / ".cache" / "uv", home / "venv"
    for other in twin(filled):
        prunable(home)
        prunable(other)
        run_uv(uv_bin, ALICE, other, index_url, *uv_args)
        expected = listing(other / ".cache" / "uv")
    if way == "purge":
        expected |= {"CACHEDIR.TAG", ".gitignore"}
    _, dry = clean(capsys, alice, tmp_path, "--user", "alice", *flags, "--dry-run")
    (planned,) = dry["caches"]
    before, alone = disk(cache, venv), disk(cache)
    linked = {p: p.lstat() for p in cache.rglob("*") if p.lstat().st_nlink > 1 and p.is_file()}
    code, got = clean(capsys, alice, tmp_path, "--user", "alice", *flags)
    (item,) = got["caches"]
    assert (code, item["state"]) == (0, "cleaned"), json.dumps(item)[:3000]
    assert listing(cache) == expected
    frees = planned["plan"]["frees"]
    assert frees == before - disk(cache, venv)
    # what the venv links went from the cache, and freed nothing: du of the cache alone says
    gone = {(st.st_ino, st.st_blocks * 512) for p, st in linked.items() if not p.exists()}
    held = sum(size for _, size in gone)
    assert alone - disk(cache) == frees + held
    assert held >= (20_000 if way != "junk" else 0)
    result = subprocess.run([str(venv / "bin" / "python"), "-c", "import alpha, beta, gamma"],
                            capture_output=True, text=True)  # fmt: skip
    assert result.returncode == 0, result.stderr


def uv_run(procs, uv: str, home: Path, index_url: str) -> Any:
    """A real `uv run` of alice's, sleeping: it holds a shared lock on its cache all along."""
    argv = [uv, "run", "--no-project", "--python", PYTHON, "python", "-c", SLEEPER]
    return procs.start(argv, cwd=home, uid=ALICE, env=uv_env(home, index_url))


def test_a_cache_a_running_uv_holds_is_busy_and_its_clean_skipped(
    alice: Tree, capsys, tmp_path: Path, procs, filled: Path, uv_bin: str, index_url: str
):
    home = copy_home(filled, alice)
    cache = f"{HOME}/.cache/uv"
    running = uv_run(procs, uv_bin, home, index_url)
    found = uv_caches(capsys, alice)
    reasons = found[cache]["busy_reasons"]
    assert found[cache]["busy"] is True
    assert (reasons[0]["pid"], reasons[0]["why"]) == (running.pid, "holds uv's lock"), reasons
    before = snapshot(home / ".cache" / "uv")
    code, got = clean(capsys, alice, tmp_path, "--user", "alice", "--purge")
    (item,) = got["caches"]
    assert item["state"] == "busy" and code != 0, item
    assert running.pid in [u["pid"] for u in item["busy_reasons"]]
    assert snapshot(home / ".cache" / "uv") == before


def test_the_lock_is_never_waited_for_and_taken_only_while_deleting(
    alice: Tree, procs, filled: Path, uv_bin: str, index_url: str
):
    """While a uv holds the lock, the clean's exclusive hold says why it cannot; once it is
    gone, the clean holds the lock (a uv then waits), and lets it go after."""
    from fleetcache.kinds import uv

    home = copy_home(filled, alice)
    fd = os.open(home / ".cache" / "uv", os.O_RDONLY | os.O_DIRECTORY)
    try:
        running = uv_run(procs, uv_bin, home, index_url)
        with uv.exclusive(fd) as busy:
            assert busy is not None and "holds uv's lock" in busy
        running.kill()
        running.wait()
        with uv.exclusive(fd) as busy:
            assert busy is None
            probe = subprocess.run(["flock", "-n", str(home / ".cache" / "uv" / ".lock"), "true"])
            assert probe.returncode != 0  # held: a uv would wait
        assert (
            subprocess.run(["flock", "-n", str(home / ".cache/uv/.lock"), "true"]).returncode == 0
        )
    finally:
        os.close(fd)


@pytest.mark.parametrize("what", ["fifo", "link", "hardlink"])
def test_a_lock_file_that_is_a_fifo_or_a_link_is_neither_waited_on_nor_followed(
    alice: Tree, capsys, tmp_path: Path, filled: Path, what: str
):
    """alice makes her cache's .lock a FIFO (opening it blocking would hang root), a link to a
    root file something holds a lock on (following it would say busy, and lock it), or a hard
    link to it (where fs.protected_hardlinks is off): none is opened; the scan and the clean
    end, the cache is not busy, the root file untouched."""
    home = copy_home(filled, alice)
    lock = home / ".cache" / "uv" / ".lock"
    lock.unlink()
    shadow = alice.write("/etc/shadow", "root:$6$secret:19000::::::\n")
    holder = None
    if what == "fifo":
        os.mkfifo(lock)
        os.lchown(lock, ALICE, ALICE)
    else:
        lock.symlink_to(shadow) if what == "link" else os.link(shadow, lock)
        holder = subprocess.Popen(["flock", str(shadow), "sleep", "120"])
    if what == "link":
        os.lchown(lock, ALICE, ALICE)
    try:
        argv = [sys.executable, "-m", "fleetcache", "scan", "--root", str(alice.root), "--kind",
                "uv", "--format", "json", "--jobs", "1"]  # fmt: skip
        result = subprocess.run(argv, capture_output=True, text=True, timeout=300)
        (cache,) = json.loads(result.stdout)["caches"]
        assert cache["busy"] is False, cache["busy_reasons"]
        code, got = clean(capsys, alice, tmp_path, "--user", "alice", "--purge")
        assert (code, got["caches"][0]["state"]) == (0, "cleaned"), got
    finally:
        if holder is not None:
            holder.kill()
            holder.wait()
    assert shadow.read_text() == "root:$6$secret:19000::::::\n"
    assert {"link": lock.is_symlink(), "fifo": lock.is_fifo()}.get(what, lock.is_file())


def test_a_cache_a_symlink_mode_environment_links_is_refused(
    alice: Tree, capsys, tmp_path: Path, uv_bin: str, index_url: str
):
    """alice's venv made with UV_LINK_MODE=symlink: its modules are links into her cache's
    archive-v0. uv's own clean would break it; fleetcache refuses to clean that cache."""
    home = alice.host(HOME)
    fill(uv_bin, ALICE, home, index_url, home / "symvenv", UV_LINK_MODE="symlink")
    site = next((home / "symvenv" / "lib").glob("python*/site-packages"))
    assert (site / "alpha.py").is_symlink()
    before = snapshot(home / ".cache" / "uv")
    code, got = clean(capsys, alice, tmp_path, "--user", "alice", "--purge")
    (item,) = got["caches"]
    check = [str(home / "symvenv" / "bin" / "python"), "-c", "import alpha, beta, gamma"]
    imported = subprocess.run(check, capture_output=True, text=True)
    assert imported.returncode == 0, imported.stderr
    assert item["state"] == "refused" and code != 0, item
    assert item["reason"] == (
        f"refused: environment {HOME}/symvenv links it in symlink mode; cleaning would break it"
    )
    assert snapshot(home / ".cache" / "uv") == before


def test_the_system_config_names_a_shared_cache_root_may_own(alice: Tree, capsys, filled: Path):
    """/etc/uv/uv.toml's cache-dir (the shared-cache recipe of astral-sh/uv#5611) is each
    account's (root's too), and may be root's: walked, every account among its users."""
    shared = alice.host("/var/cache/uv")
    shared.parent.mkdir(parents=True)
    subprocess.run(["cp", "-a", str(filled / ".cache" / "uv"), str(shared)], check=True)
    chown_tree(shared, 0)
    alice.write("/etc/uv/uv.toml", 'cache-dir = "/var/cache/uv"\n')
    found = uv_caches(capsys, alice, "--no-activity")
    cache = found["/var/cache/uv"]
    assert list(found) == ["/var/cache/uv"] and cache["owner"] == "root", found
    assert {s["user"] for s in cache["sources"]} == {"root", "alice", "bob"}
    assert cache["skipped"] is None and cache["total_files"] > 20


def test_a_process_without_uv_cache_is_said(alice: Tree, capsys, procs):
    """A uv that runs with UV_NO_CACHE uses a temporary cache: said, nothing listed."""
    home = alice.host(HOME)
    env = {"PATH": "/usr/bin:/bin", "HOME": str(home), "UV_NO_CACHE": "1"}
    running = procs.start([PYTHON, "-c", SLEEPER], cwd=home, uid=ALICE, env=env)
    got = doc(capsys, "scan", "--root", str(alice.root), "--kind", "uv", "--user", "alice")
    assert got["caches"] == []
    assert f"uv of pid {running.pid} runs with UV_NO_CACHE" in json.dumps(got["skipped"])


def test_older_than_takes_whole_entries_by_their_newest_file(
    alice: Tree, capsys, tmp_path: Path, filled: Path
):
    """alpha's wheels and archives untouched for 60 days, the rest new: --older-than 30d
    removes those entries whole, and nothing else."""
    home = copy_home(filled, alice)
    cache = home / ".cache" / "uv"
    old = [*cache.glob("wheels-v*/index/*/alpha"), *cache.glob("archive-v0/*/alpha.py")]
    entries = [p if p.name == "alpha" else p.parent for p in old]
    assert len(entries) == 3  # its wheels, the archives of 1.0 and 2.0
    then = time.time() - 60 * 86400
    for entry in entries:
        for p in [entry, *entry.rglob("*")]:
            os.utime(p, (then, then), follow_symlinks=False)
    before = listing(cache)
    gone = {str(p.relative_to(cache)) for e in entries for p in [e, *e.rglob("*")]}
    code, got = clean(capsys, alice, tmp_path, "--user", "alice", "--older-than", "30d")
    assert (code, got["caches"][0]["state"]) == (0, "cleaned"), got
    assert before - listing(cache) == gone


def test_prune_keeps_a_cached_environment_a_process_runs_from(
    alice: Tree, capsys, tmp_path: Path, procs, filled: Path, uv_bin: str, index_url: str
):
    """`uv tool run --from alpha` leaves a cached environment: environments-vN/<id>/<key>, a
    link to archive-v0/<venv>. A process that runs its Python (not through uv: no lock held)
    keeps both from --junk and --purge (`uv cache prune` and `clean` would remove them); once
    that process is gone, --junk takes them."""
    home = copy_home(filled, alice)
    run_uv(uv_bin, ALICE, home, index_url, "tool", "run", "--python", PYTHON, "--from", "alpha",
           "python", "-c", "import alpha")  # fmt: skip
    cache = home / ".cache" / "uv"
    (link,) = [p for p in cache.glob("environments-v*/*/*") if p.is_symlink()]
    env, venv = link.parent, link.resolve()
    assert venv.parent.name == "archive-v0" and (venv / "pyvenv.cfg").is_file()
    running = procs.start([str(venv / "bin" / "python"), "-c", SLEEPER], cwd=home, uid=ALICE,
                          env={"PATH": "/usr/bin:/bin", "HOME": str(home)})  # fmt: skip
    for way in ("--junk", "--purge"):
        code, got = clean(capsys, alice, tmp_path, "--user", "alice", way)
        assert env.is_dir() and (venv / "bin" / "python").exists(), got
        left = got["caches"][0]["plan"]["left"]
        assert "a running environment uses it" in left, left
    running.kill()
    running.wait()
    code, got = clean(capsys, alice, tmp_path, "--user", "alice", "--junk")
    assert (code, got["caches"][0]["state"]) == (0, "cleaned"), got
    assert not env.exists() and not venv.exists()


def test_a_relative_cache_dir_in_a_users_config_is_said_not_guessed(alice: Tree, capsys):
    """uv 0.13.9 takes a user's relative cache-dir (and "~/...", which it does not expand)
    from its working directory: unknown here, so said, and no cache guessed for it."""
    alice.write(f"{HOME}/.config/uv/uv.toml", 'cache-dir = "~/uvc"\n', ALICE)
    chown_tree(alice.host(HOME), ALICE)
    got = doc(capsys, "scan", "--root", str(alice.root), "--kind", "uv", "--no-activity")
    assert got["caches"] == []
    said = [s for s in got["skipped"] if s["path"] == f"{HOME}/.config/uv/uv.toml"]
    assert len(said) == 1 and "relative cache-dir '~/uvc'" in said[0]["reason"], got["skipped"]


def test_max_size_takes_the_oldest_entries_first_until_under_it(
    alice: Tree, capsys, tmp_path: Path, filled: Path
):
    """alpha's wheels are the oldest entry: a limit one byte under the cache's size takes
    them whole, and nothing else."""
    home = copy_home(filled, alice)
    cache = home / ".cache" / "uv"
    (oldest,) = cache.glob("wheels-v*/index/*/alpha")
    then = time.time() - 70 * 86400
    for p in [oldest, *oldest.rglob("*")]:
        os.utime(p, (then, then), follow_symlinks=False)
    total = uv_caches(capsys, alice, "--no-activity")[f"{HOME}/.cache/uv"]["total_bytes"]
    before = listing(cache)
    gone = {str(p.relative_to(cache)) for p in [oldest, *oldest.rglob("*")]}
    code, got = clean(capsys, alice, tmp_path, "--user", "alice", "--max-size", str(total - 1))
    assert (code, got["caches"][0]["state"]) == (0, "cleaned"), got
    assert before - listing(cache) == gone
