"""The activity check with real processes: started from real venvs (by absolute path, as
``./bin/python``, activated, as a console script, loading an extension module of a venv), a real
pip held mid-download by the loopback index, processes that vanish mid-pass and a zombie; and
the settings running processes show, fed back into discovery."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any, Optional

import psutil
import pytest

from fleetcache.activity import commands
from fleetcache.activity.processes import Snapshot, snapshot
from fleetcache.cli import main
from fleetcache.discovery.envs import EnvSearch
from fleetcache.machine import Machine
from fleetcache.model import Environment, ScanResult
from fleetcache.scan import Selection, environments, scan
from tests.conftest import Tree, chown_tree, pip_env
from tests.index_server import Hold, default_index, serve

ROOT = os.geteuid() == 0
ALICE = 1000 if ROOT else os.getuid()
BOB = 1001 if ROOT else os.getuid()
ROOT_ONLY = pytest.mark.skipif(not ROOT, reason="needs processes of two uids: run as root")
# as root, processes run as alice: their interpreter must be one alice may run
BASE = "/usr/bin/python3" if ROOT else sys.executable
SLEEPER = "import time; print('ready', flush=True); time.sleep(120)"
A = "/home/alice"
SELECT = Selection(users=("alice", "bob"), sizes=False, env_search=EnvSearch(probe=False))


@pytest.fixture
def tree(open_tree: Tree) -> Tree:
    """A machine tree others may traverse, and a Python they may run."""
    if not os.path.exists(BASE):
        pytest.skip(f"{BASE} is missing: processes of another uid need a Python it may run")
    return open_tree


class Procs:
    """Processes a test starts, each as the given uid; all killed at the end."""

    def __init__(self) -> None:
        self.started: list[subprocess.Popen[bytes]] = []

    def start(
        self,
        argv: list[str],
        cwd: Path,
        uid: int = ALICE,
        env: Optional[dict[str, str]] = None,
        ready: bool = True,
    ) -> subprocess.Popen[bytes]:
        extra: dict[str, Any] = {}
        if ROOT and uid != 0:
            extra = {"user": uid, "group": uid, "extra_groups": []}
        proc = subprocess.Popen(
            argv,
            cwd=cwd,
            env=env if env is not None else {"PATH": "/usr/bin:/bin"},
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            **extra,
        )
        self.started.append(proc)
        if ready:
            assert proc.stdout is not None
            assert proc.stdout.readline().strip() == b"ready", argv
        return proc

    def stop(self) -> None:
        for proc in self.started:
            if proc.poll() is None:
                proc.kill()
            proc.wait()


def make_venv(tree: Tree, machine_path: str, tool: str = "venv", *more: str) -> Path:
    """A real venv (or virtualenv) on BASE; its base interpreter exists in the tree too."""
    target = tree.host(machine_path)
    target.parent.mkdir(parents=True, exist_ok=True)
    if tool == "venv":
        cmd = [BASE, "-m", "venv", "--without-pip", *more, str(target)]
    else:
        cmd = [sys.executable, "-m", "virtualenv", "--no-seed", "--python", BASE, str(target)]
    subprocess.run(cmd, check=True, capture_output=True)
    cfg = dict(line.split(" = ", 1) for line in (target / "pyvenv.cfg").read_text().splitlines())
    base = cfg.get("base-executable") or cfg.get("executable") or cfg["home"] + "/python3"
    if not tree.host(base).exists():
        tree.write(base, "")
    return target


def build(tree: Tree) -> None:
    """alice: venv (run), idle (never run), proj/.venv (activated), copied (its interpreter a
    copy), tools (virtualenv with a console script); bob: venv. Each account has a cache."""
    tree.user("alice", ALICE)
    tree.user("bob", BOB)
    for env in ("venv", "idle", "proj/.venv"):
        make_venv(tree, f"{A}/{env}")
    make_venv(tree, f"{A}/copied", "venv", "--copies")
    tools = make_venv(tree, f"{A}/tools", tool="virtualenv")
    script = tools / "bin" / "hello"
    script.write_text(f"#!{tools}/bin/python\n{SLEEPER}\n")
    script.chmod(0o755)
    make_venv(tree, "/home/bob/venv")
    for user in ("alice", "bob"):
        tree.write(f"/home/{user}/.cache/pip/selfcheck/note", "x")
        chown_tree(tree.host(f"/home/{user}"), ALICE if user == "alice" else BOB)


def by_prefix(result: ScanResult) -> dict[str, Environment]:
    return {e.prefix: e for e in result.environments}


def whys(env: Environment) -> dict[int | None, str]:
    return {u.pid: u.why for u in env.activity}


def test_processes_from_venvs_make_them_active_and_their_caches_busy(tree, procs, capsys):
    build(tree)
    venv = tree.host(f"{A}/venv")
    by_path = procs.start([str(venv / "bin/python"), "-c", SLEEPER], cwd=tree.host(A))
    relative = procs.start(["./bin/python", "-c", SLEEPER], cwd=venv)
    activated = procs.start(
        ["/bin/sh", "-c", "echo ready; exec sleep 120"],
        cwd=tree.host(A),
        env={"PATH": "/usr/bin:/bin", "VIRTUAL_ENV": str(tree.host(f"{A}/proj/.venv"))},
    )
    script = procs.start([str(tree.host(f"{A}/tools/bin/hello"))], cwd=tree.host(A))
    unrelated = procs.start(["/bin/sh", "-c", "echo ready; exec sleep 120"], cwd=tree.host(A))
    # found on $PATH: argv[0] is a bare name, the executable (a copy) lies in the prefix
    copied = procs.start(
        ["python3", "-c", SLEEPER],
        cwd=tree.host("/"),
        env={"PATH": f"{tree.host(A)}/copied/bin:/usr/bin:/bin"},
    )
    machine = Machine.local(str(tree.root))

    envs = by_prefix(environments(machine, SELECT))
    assert envs[f"{A}/venv"].active is True
    assert whys(envs[f"{A}/venv"]) == {
        by_path.pid: f"runs {A}/venv/bin/python",
        relative.pid: f"runs {A}/venv/bin/python",  # ./bin/python joined to its cwd
    }
    assert whys(envs[f"{A}/proj/.venv"]) == {activated.pid: "$VIRTUAL_ENV in its environment"}
    assert whys(envs[f"{A}/tools"]) == {script.pid: f"console script {A}/tools/bin/hello"}
    copy = next(iter(whys(envs[f"{A}/copied"]).items()))
    assert copy[0] == copied.pid and copy[1].startswith(f"executable {A}/copied/bin/python3")
    assert envs[f"{A}/idle"].active is False and envs[f"{A}/idle"].pids == ()
    assert envs["/home/bob/venv"].active is False
    assert all(unrelated.pid not in e.pids for e in envs.values())
    # the interpreter the venvs are built on is active through them
    base = envs[f"{A}/venv"].base_interpreter
    system = next(e for e in envs.values() if e.kind == "system" and e.interpreter == base)
    assert system.active is True
    assert whys(system)[by_path.pid] == f"runs {A}/venv, built on it"
    assert envs[f"{A}/venv"].activity[0].user == "alice"

    result = scan(machine, SELECT)
    caches = {c.location.path: c for c in result.caches}
    alice = caches[f"{A}/.cache/pip"]
    assert alice.busy is True
    assert {u.pid for u in alice.busy_reasons} == {
        by_path.pid,
        relative.pid,
        activated.pid,
        script.pid,
        copied.pid,
    }
    assert caches["/home/bob/.cache/pip"].busy is False
    assert result.activity is not None and result.activity.examined >= 5

    # the command line: only the environments in use, one row per process
    args = ["envs", "--root", str(tree.root), "--user", "alice", "--active", "--no-size"]
    assert main([*args, "--wide"]) == 0
    table = capsys.readouterr().out
    assert f"console script {A}/tools/bin/hello" in table and f"{A}/idle" not in table
    assert main(args) == 0  # the 80-column view wraps what is long
    narrow = capsys.readouterr().out.splitlines()
    assert narrow[0].split() == ["PREFIX", "PID", "USER", "WHY", "COMMAND"]
    assert max(map(len, narrow)) <= 80
    assert main(["scan", "--root", str(tree.root), "--user", "bob", "--format", "csv"]) == 0
    assert ",false," in capsys.readouterr().out.splitlines()[1]


def test_an_extension_module_of_an_environment_mapped_in_makes_it_active(tree, procs):
    """A base interpreter that loaded a venv's extension module: only /proc/PID/maps tells."""
    if not sys.platform.startswith("linux"):
        pytest.skip("memory maps are read on Linux only")
    build(tree)
    dynload = Path(
        subprocess.run(
            [BASE, "-c", "import sysconfig; print(sysconfig.get_path('platstdlib'))"],
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip(),
        "lib-dynload",
    )
    module = sorted(dynload.glob("_bz2*.so")) or sorted(dynload.glob("*.so"))
    if not module:
        pytest.skip(f"{BASE} has no extension modules in {dynload}")
    site = next(tree.host(f"{A}/idle/lib").glob("python3*"))
    target = site / "site-packages" / module[0].name
    shutil.copy(module[0], target)
    os.lchown(target, ALICE, ALICE)
    name = module[0].name.split(".", 1)[0]
    loader = (
        "import importlib.util as u; "
        f"s = u.spec_from_file_location({name!r}, {str(target)!r}); "
        "m = u.module_from_spec(s); s.loader.exec_module(m); " + SLEEPER
    )
    proc = procs.start([BASE, "-c", loader], cwd=tree.host(A))
    envs = by_prefix(environments(Machine.local(str(tree.root)), SELECT))
    idle = envs[f"{A}/idle"]
    assert idle.pids == (proc.pid,)
    assert whys(idle)[proc.pid].startswith(f"has {A}/idle/lib/python3")


def test_vanished_processes_and_zombies_cost_nothing(tree, procs):
    build(tree)
    python = str(tree.host(f"{A}/venv/bin/python"))
    victim = procs.start([python, "-c", SLEEPER], cwd=tree.host(A))
    zombie = subprocess.Popen([python, "-c", "pass"], cwd=tree.host(A))
    for _ in range(200):  # not waited for: it stays a zombie
        if psutil.Process(zombie.pid).status() == psutil.STATUS_ZOMBIE:
            break
        time.sleep(0.05)
    assert psutil.Process(zombie.pid).status() == psutil.STATUS_ZOMBIE

    def vanishing(*args: Any, **kwargs: Any) -> Iterator[psutil.Process]:
        """The real pass, but the victim ends (and is reaped) after the first process is read."""
        for i, proc in enumerate(psutil.process_iter(*args, **kwargs)):
            if i == 0:
                victim.kill()
                victim.wait()
            yield proc

    snap = snapshot(vanishing)
    pids = {p.pid for p in snap.procs}
    assert victim.pid not in pids and zombie.pid not in pids
    assert snap.seen >= len(snap.procs)
    machine = replace(Machine.local(str(tree.root)), processes=lambda: snap)
    assert by_prefix(environments(machine, SELECT))[f"{A}/venv"].active is False
    zombie.wait()

    # one that ends after the pass, before the check reads its script: still counted, no error
    script = procs.start([str(tree.host(f"{A}/tools/bin/hello"))], cwd=tree.host(A))
    snap = snapshot()
    script.kill()
    script.wait()
    machine = replace(Machine.local(str(tree.root)), processes=lambda: snap)
    assert by_prefix(environments(machine, SELECT))[f"{A}/tools"].pids == (script.pid,)


def test_the_process_table_is_read_once_per_run(tree, procs):
    """One pass, whatever the number of environments: never a loop per environment."""
    build(tree)
    procs.start([str(tree.host(f"{A}/venv/bin/python")), "-c", SLEEPER], cwd=tree.host(A))
    passes = []

    def counted(*args: Any, **kwargs: Any) -> Iterator[psutil.Process]:
        passes.append(1)
        yield from psutil.process_iter(*args, **kwargs)

    machine = replace(Machine.local(str(tree.root)), processes=lambda: snapshot(counted))
    result = scan(machine, SELECT)
    assert len(result.environments) >= 6 and len(passes) == 1
    assert by_prefix(result)[f"{A}/venv"].active is True


@ROOT_ONLY
def test_what_cannot_be_read_is_possibly_active_not_idle(tree, procs):
    """bob's python found on $PATH, its executable, environment and maps unreadable (as they
    are to an unprivileged scan): bob's environments are possibly active, alice's are not."""
    build(tree)
    path = f"{tree.host('/home/bob/venv')}/bin:/usr/bin:/bin"
    python = procs.start(["python3", "-c", SLEEPER], cwd=tree.host("/home/bob"), uid=BOB,
                         env={"PATH": path})  # fmt: skip
    sleeper = procs.start(["/bin/sh", "-c", "echo ready; exec sleep 120"], cwd=tree.host("/"),
                          uid=BOB)  # fmt: skip
    real = snapshot()
    hidden = {python.pid, sleeper.pid}

    def denied() -> Snapshot:
        procs_ = tuple(
            replace(p, exe=None, environ=None, maps=None) if p.pid in hidden else p
            for p in real.procs
        )
        return Snapshot(procs_, real.seen)

    machine = replace(Machine.local(str(tree.root)), processes=denied)
    envs = by_prefix(environments(machine, SELECT))
    bob = envs["/home/bob/venv"]
    assert bob.active is None and bob.pids == ()
    assert whys(bob) == {
        python.pid: "environment, executable, memory maps could not be read (access denied)"
    }
    assert envs[f"{A}/venv"].active is False
    result = scan(machine, SELECT)
    caches = {c.location.path: c for c in result.caches}
    assert caches["/home/bob/.cache/pip"].busy is None
    assert caches[f"{A}/.cache/pip"].busy is False
    assert result.activity is not None and result.activity.unreadable == 1  # not the sleep
    # readable, the same processes tie bob's venv for certain
    plain = by_prefix(environments(Machine.local(str(tree.root)), SELECT))["/home/bob/venv"]
    assert plain.active is False  # found on $PATH, no VIRTUAL_ENV: its exe is the base's


def test_a_running_pip_makes_the_cache_it_uses_busy(tree, procs, pip_python, tmp_path):
    """Three real pips held mid-download: one told --cache-dir, one $PIP_CACHE_DIR (a cache
    nothing else names), one with only $HOME (that home's default cache). As root the pips run as root: the cache
    only root's pip names is root's, so root is selected too."""
    build(tree)
    select = replace(SELECT, users=(*SELECT.users, "root") if ROOT else SELECT.users)
    tree.write("/srv/ci-cache/http-v2/.keep", "", uid=ALICE)
    python = str(pip_python("26"))
    hold = Hold()
    with serve(default_index(), hold) as url:
        host = url.split("/")[2]

        def pip(home: str, *more: str, **env: str) -> subprocess.Popen[bytes]:
            hold.started.clear()
            argv = [python, "-m", "pip", "download", "-q", "-d", str(tmp_path / home.strip("/")),
                    "--index-url", url, "--trusted-host", host, *more, "alpha==1.0"]  # fmt: skip
            started: subprocess.Popen[bytes] = procs.start(
                argv, cwd=tree.host(home), uid=0 if ROOT else ALICE, ready=False,
                env=pip_env(tree.host(home), **env),
            )  # fmt: skip
            assert hold.started.wait(60), "pip never reached the download"
            return started

        told = pip(A, "--cache-dir", str(tree.host(f"{A}/.cache/pip")), PIP_NO_CACHE_DIR="1")
        by_env = pip(A, PIP_CACHE_DIR=str(tree.host("/srv/ci-cache")))
        default = pip("/home/bob")
        machine = Machine.local(str(tree.root))
        result = scan(machine, select)
        caches = {c.location.path: c for c in result.caches}
        reasons = {path: {u.pid: u.why for u in c.busy_reasons} for path, c in caches.items()}
        assert reasons[f"{A}/.cache/pip"] == {
            told.pid: "pip download is running (--cache-dir on its command line)"
        }
        assert caches["/srv/ci-cache"].busy is True
        assert "$PIP_CACHE_DIR" in reasons["/srv/ci-cache"][by_env.pid]
        assert reasons["/home/bob/.cache/pip"][default.pid].startswith("pip download is running")
        assert result.activity is not None
        pips = {p.pid: p for p in result.activity.pips}
        assert set(pips) == {told.pid, by_env.pid, default.pid}
        assert pips[by_env.pid].caches == ("/srv/ci-cache",)
        assert all(p.subcommand == "download" for p in pips.values())
        # caches only (no environments searched): the pips still make them busy
        bare = {c.location.path: c for c in scan(machine, replace(select, envs=False)).caches}
        assert bare[f"{A}/.cache/pip"].busy is True and bare["/srv/ci-cache"].busy is True
        hold.release.set()
        for started in (told, by_env, default):
            assert started.wait(60) == 0
    after = {c.location.path: c for c in scan(machine, select).caches}
    assert after[f"{A}/.cache/pip"].busy is False
    assert "/srv/ci-cache" not in after  # only the running pip named it


def test_settings_of_running_processes_feed_discovery(tree, procs):
    """alice's shell exports PIP_CACHE_DIR, WORKON_HOME and an activated venv outside every
    home: the cache, the env in WORKON_HOME and the venv are found, each naming the pid."""
    build(tree)
    tree.write("/srv/alice-cache/wheels/.keep", "", uid=ALICE)
    make_venv(tree, "/srv/alice-envs/work")
    make_venv(tree, "/srv/deep/venv")
    for top in ("/srv/alice-cache", "/srv/alice-envs", "/srv/deep"):
        chown_tree(tree.host(top), ALICE)
    shell = procs.start(
        ["/bin/sh", "-c", "echo ready; exec sleep 120"],
        cwd=tree.host(A),
        env={
            "PATH": "/usr/bin:/bin",
            "PIP_CACHE_DIR": str(tree.host("/srv/alice-cache")),
            "WORKON_HOME": str(tree.host("/srv/alice-envs")),
            "VIRTUAL_ENV": str(tree.host("/srv/deep/venv")),
            "XDG_CACHE_HOME": "/outside/the/machine",  # not a path of the machine: dropped
        },
    )
    machine = Machine.local(str(tree.root))
    result = scan(machine, replace(SELECT, users=("alice",)))
    caches = {c.location.path: c for c in result.caches}
    source = caches["/srv/alice-cache"].location.sources[0]
    assert (source.variable, source.pid) == ("PIP_CACHE_DIR", shell.pid)
    assert source.describe() == f"$PIP_CACHE_DIR, environment of pid {shell.pid}"
    # the shell has that venv activated, and the venv's pip would use alice's caches
    (reason,) = caches["/srv/alice-cache"].busy_reasons
    assert (reason.pid, reason.environment) == (shell.pid, "/srv/deep/venv")
    envs = by_prefix(result)
    assert envs["/srv/alice-envs/work"].found_by == (
        f"$WORKON_HOME, environment of pid {shell.pid}",
    )
    deep = envs["/srv/deep/venv"]
    assert deep.found_by == (f"running process (pid {shell.pid}, $VIRTUAL_ENV)",)
    assert deep.pids == (shell.pid,)
    # without the process table none of it is known
    quiet = scan(machine, replace(SELECT, users=("alice",), activity=False))
    assert "/srv/alice-cache" not in {c.location.path for c in quiet.caches}
    assert all(c.busy is None for c in quiet.caches)
    assert quiet.activity is None


def test_hostile_processes_are_read_safely(tree, procs):
    """A Python "running" a FIFO (blocked opening it) and a script whose shebang holds a NUL:
    nothing hangs or crashes, neither is read; a fake pip naming a directory its account does not
    own adds no cache to the scan."""
    build(tree)
    home = tree.host(A)
    os.mkfifo(home / "fifo")
    nul = tree.write(f"{A}/nul.py", f"#!{home}/venv/bin/python\0x\n{SLEEPER}\n".encode(), ALICE)
    blocked = procs.start([BASE, str(home / "fifo")], cwd=home, ready=False)
    if shutil.which("perl") is None:
        pytest.skip("perl is missing: it stands in for a process that rewrites its command line")
    # Python refuses to run a NUL; a process that renamed itself "python3 nul.py" stands in
    odd = procs.start(
        ["perl", "-e", f'$0 = "python3 {nul.name}"; $| = 1; print "ready\\n"; sleep 120'],
        cwd=home,
    )
    assert psutil.Process(odd.pid).cmdline() == ["python3", nul.name]
    tree.write("/srv/rootonly/wheels/.keep", "")
    fake = procs.start(
        ["/bin/bash", "-c", f'exec -a pip {BASE} -c "{SLEEPER}" --cache-dir '
         f'{tree.host("/srv/rootonly")} install'],
        cwd=home,
    )  # fmt: skip
    for _ in range(200):  # until the blocked one has exec'd its Python
        if psutil.Process(blocked.pid).cmdline()[:1] == [BASE]:
            break
        time.sleep(0.05)
    result = scan(Machine.local(str(tree.root)), SELECT)
    envs = by_prefix(result)
    assert all(blocked.pid not in e.pids and odd.pid not in e.pids for e in envs.values()
               if e.kind != "system")  # fmt: skip
    assert result.activity is not None
    assert fake.pid in {p.pid for p in result.activity.pips}
    if ROOT:  # alice does not own /srv/rootonly: not taken as a cache
        assert "/srv/rootonly" not in {c.location.path for c in result.caches}


@ROOT_ONLY
def test_a_set_uid_programs_environment_is_not_roots(tree, procs):
    """alice runs a set-uid-root program with PIP_CACHE_DIR and WORKON_HOME pointing at her
    directories: that environment is hers, so none of it becomes root's cache or environments."""
    build(tree)
    tree.write("/srv/planted/wheels/.keep", "", uid=0)
    make_venv(tree, "/srv/planted-envs/x")
    sleeper = tree.host("/usr/local/bin/sleeper")
    sleeper.parent.mkdir(parents=True, exist_ok=True)
    shutil.copy(shutil.which("sleep") or "/bin/sleep", sleeper)
    sleeper.chmod(0o4755)  # set-uid root
    proc = procs.start(
        [str(sleeper), "120"],
        cwd=tree.host(A),
        ready=False,
        env={"PATH": "/usr/bin:/bin", "PIP_CACHE_DIR": str(tree.host("/srv/planted")),
             "WORKON_HOME": str(tree.host("/srv/planted-envs"))},
    )  # fmt: skip
    for _ in range(200):
        if psutil.Process(proc.pid).cmdline()[:1] == [str(sleeper)]:
            break
        time.sleep(0.05)
    real, effective, _ = psutil.Process(proc.pid).uids()
    if (real, effective) != (ALICE, 0):
        pytest.skip("set-uid bits are not honoured here (a nosuid mount)")
    result = scan(Machine.local(str(tree.root)), replace(SELECT, users=("root", "alice")))
    assert "/srv/planted" not in {c.location.path for c in result.caches}
    assert "/srv/planted-envs/x" not in {e.prefix for e in result.environments}


@pytest.mark.parametrize(
    ("argv", "args", "cache"),
    [
        (["pip", "install", "x"], ("install", "x"), (False, None)),
        (["/v/bin/pip3.12", "--cache-dir=/c", "wheel"], ("--cache-dir=/c", "wheel"), (True, "/c")),
        (["python3", "-m", "pip", "download", "--cache", "/c"], ("download", "--cache", "/c"), (True, "/c")),
        (["python", "-Im", "pip", "--no-cache", "install"], ("--no-cache", "install"), (True, None)),
        (["python3.11", "-mpip", "--no-cache-dir", "--cache-dir", "/c"], ("--no-cache-dir", "--cache-dir", "/c"), (True, "/c")),
        (["/v/bin/python", "-X", "dev", "/v/bin/pip", "list"], ("list",), (False, None)),
        (["python3", "-c", "import pip"], None, None),
        (["python3", "-m", "pipx", "install"], None, None),
        (["python3", "-m", "pip.__main__", "wheel"], ("wheel",), (False, None)),
        (["python3", "/tmp/pip.pyz", "install", "--cache-dir=~/c"], ("install", "--cache-dir=~/c"), (True, "~/c")),
        (["python3", "app.py", "pip"], None, None),
        (["bash", "-c", "pip install x"], None, None),
    ],
)  # fmt: skip
def test_pip_is_recognised_on_a_command_line(argv, args, cache):
    call = commands.pip_call(argv)
    if args is None:
        assert call is None
        return
    assert call is not None and call.args == args
    assert call.cache_option() == cache


def test_command_lines_are_shown_without_credentials():
    shown = commands.shown(
        ["pip", "install", "-i", "https://bob:s3cret@pypi.example/simple", "a b"]
    )
    assert shown == "pip install -i https://***@pypi.example/simple 'a b'"
    assert len(commands.shown(["x" * 5000])) == commands.MAX_COMMAND
