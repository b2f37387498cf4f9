"""Interpreters are run only when their files cannot tell the version, and never as root: as the
environment's owner (``nobody`` for root's), with ``-I -S``, nothing of ours in their environment
and an empty working directory. Issue 15, item 1: a team member's ``.pth`` in a root-owned shared
venv never runs as root, whichever command finds the venv."""

from __future__ import annotations

import json
import os
import pwd
import subprocess
import sys
from dataclasses import dataclass, replace
from pathlib import Path

import pytest

from fleetcache.cli import main
from fleetcache.discovery import accounts as accounts_mod
from fleetcache.discovery.probe import Prober
from fleetcache.machine import GroupTable, Machine
from fleetcache.model import Account, Environment
from tests.conftest import Tree

ROOT = os.geteuid() == 0
ROOT_ONLY = pytest.mark.skipif(not ROOT, reason="runs as root with other uids: needs root")
BASE = "/usr/bin/python3"  # a Python every account may run
OWNER, HER, TEAM = 12345, 12346, 12350


@pytest.fixture
def base() -> str:
    if not os.path.exists(BASE):
        pytest.skip(f"{BASE} is missing: the probed interpreters need a Python anyone may run")
    return BASE


def version_of(python: str) -> str:
    script = "import platform; print(platform.python_version())"
    return subprocess.run([python, "-c", script], capture_output=True, text=True).stdout.strip()


@pytest.fixture
def top(open_tree: Tree) -> Path:
    """A directory every uid may traverse, with ``marks/`` where anyone may write."""
    (open_tree.root / "marks").mkdir(parents=True)
    (open_tree.root / "marks").chmod(0o1777)
    return open_tree.root


def wrapper(path: Path, python: str, uid: int = 0) -> str:
    """An interpreter that records who ran it, how, where and with what environment, in
    ``marks/<its prefix's name>``, then is ``python``."""
    mark = path.parent.parent.parent / "marks" / path.parent.parent.name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(
        f'#!/bin/sh\n{{ id -u; id -G; echo "$@"; ls -A | wc -l; env; }} > "{mark}"\n'
        f'exec "{python}" "$@"\n'
    )
    path.chmod(0o755)
    for p in (path, path.parent, path.parent.parent):
        os.lchown(p, uid, uid)
    return str(path)


def ran(exe: str) -> list[str] | None:
    """What the wrapper recorded: uid, groups, arguments, entries in its cwd, then its
    environment; None when it never ran."""
    mark = Path(exe).parent.parent.parent / "marks" / Path(exe).parent.parent.name
    return mark.read_text().splitlines() if mark.exists() else None


def env_at(prefix: Path, interpreter: str, version: str | None = None, owner: int | None = 0):
    return Environment(
        prefix=str(prefix),
        kind="system",
        role="interpreter",
        owner_uid=owner,
        python_version=version,
        interpreter=interpreter,
    )


def nobody() -> tuple[int, int]:
    try:
        entry = pwd.getpwnam("nobody")
    except KeyError:
        return 65534, 65534
    return entry.pw_uid, entry.pw_gid


def everyone(*more: Account) -> list[Account]:
    return [*accounts_mod.host_accounts(0, 0), *more]


def test_a_version_the_files_give_is_never_probed(top: Path, base: str):
    exe = wrapper(top / "py" / "bin" / "python3", base, os.geteuid())
    env = Prober(Machine.local(), everyone()).complete(env_at(top / "py", exe, "3.12.1"))
    assert env.python_version == "3.12.1" and ran(exe) is None


def test_interpreters_under_root_are_never_run(top: Path, base: str):
    exe = wrapper(top / "py" / "bin" / "python3", base, os.geteuid())
    machine = Machine(root=str(top), current_uid=os.getuid())
    env = Prober(machine, []).complete(env_at(top / "py", exe))
    assert env.python_version is None and ran(exe) is None
    assert env.problems == ("version unknown: interpreters under --root are not run",)


def test_an_interpreter_that_does_not_answer(top: Path):
    exe = top / "py" / "bin" / "python3"
    exe.parent.mkdir(parents=True)
    exe.write_text("#!/bin/sh\nexit 3\n")
    exe.chmod(0o755)
    env = Prober(Machine.local(), everyone()).complete(env_at(top / "py", str(exe)))
    assert env.problems == (f"version unknown: {exe} did not answer",)


@ROOT_ONLY
def test_a_root_owned_interpreter_runs_as_nobody_with_nothing_of_ours(
    top: Path, base: str, monkeypatch
):
    monkeypatch.setenv("FLEETCACHE_SECRET", "x")
    monkeypatch.setenv("PYTHONPATH", str(top))
    exe = wrapper(top / "py" / "bin" / "python3", base)
    env = Prober(Machine.local(), everyone()).complete(env_at(top / "py", exe, "3.11"))
    assert (env.python_version, env.version_from) == (version_of(base), "probe")
    record = ran(exe)
    assert record is not None
    uid, gid = nobody()
    assert record[:2] == [str(uid), str(gid)]
    assert record[2].startswith("-I -S -c ")
    assert record[3] == "0"  # its working directory is empty
    names = {line.split("=", 1)[0] for line in record[4:]}
    assert not names & {"FLEETCACHE_SECRET", "PYTHONPATH", "HOME", "USER"}, names


@ROOT_ONLY
def test_an_interpreter_its_runner_may_not_run_says_so(top: Path, base: str):
    exe = wrapper(top / "closed" / "py" / "bin" / "python3", base)
    (top / "closed").chmod(0o700)  # root's: nobody may not enter
    env = Prober(Machine.local(), everyone()).complete(env_at(top / "closed" / "py", exe))
    assert env.python_version is None and ran(exe) is None
    uid = nobody()[0]
    assert env.problems == (
        f"version unknown: not run: {exe} cannot be run as uid {uid}: Permission denied",
    )


@ROOT_ONLY
def test_an_environment_is_probed_as_its_owner_with_its_groups(top: Path, base: str):
    exe = wrapper(top / "py" / "bin" / "python3", base, OWNER)
    owner = Account("owner", OWNER, OWNER, str(top / "home"))
    # what the host's name service says of it (the edge: no account is added to the host)
    machine = replace(Machine.local(), groups=GroupTable(lambda name, gid: (OWNER, TEAM)))
    env = Prober(machine, everyone(owner)).complete(env_at(top / "py", exe, owner=OWNER))
    assert env.python_version == version_of(base)
    assert ran(exe)[:2] == [str(OWNER), f"{OWNER} {TEAM}"]  # type: ignore[index]


@ROOT_ONLY
def test_a_uid_without_an_account_is_probed_with_nobodys_group(top: Path, base: str):
    exe = wrapper(top / "py" / "bin" / "python3", base, OWNER)
    env = Prober(Machine.local(), everyone()).complete(env_at(top / "py", exe, owner=OWNER))
    assert env.python_version == version_of(base)
    assert ran(exe)[:2] == [str(OWNER), str(nobody()[1])]  # type: ignore[index]


def test_no_pth_sitecustomize_or_usercustomize_runs(top: Path, base: str, monkeypatch):
    prefix = top / "venv"
    subprocess.run([base, "-m", "venv", "--without-pip", str(prefix)], check=True)
    (site,) = prefix.glob("lib/python3*/site-packages")
    marks = top / "marks"
    for name in ("zz.pth", "sitecustomize.py", "usercustomize.py"):
        code = f"open({str(marks / name)!r}, 'w').write('ran')"
        (site / name).write_text(f"import os; {code}\n" if name.endswith(".pth") else code)
    monkeypatch.setenv("PYTHONSTARTUP", str(site / "sitecustomize.py"))
    env = Prober(Machine.local(), everyone()).complete(
        env_at(prefix, str(prefix / "bin" / "python"), "3.11", owner=os.geteuid())
    )
    assert (env.python_version, env.problems) == (version_of(base), ())
    assert sorted(os.listdir(marks)) == []


@ROOT_ONLY
def test_unprivileged_only_its_own_and_roots_interpreters_are_run(top: Path, base: str):
    if version_of(base).split(".")[:2] != [str(x) for x in sys.version_info[:2]]:
        pytest.skip(f"{base} is not this Python: the copied dependencies would not load")
    from tests.test_clean import FLEETCACHE_IMPORTS, portable

    lib = portable(sys.executable, FLEETCACHE_IMPORTS, top / "lib")
    mine = wrapper(top / "mine" / "bin" / "python3", base, OWNER)
    roots = wrapper(top / "roots" / "bin" / "python3", base, 0)
    hers = wrapper(top / "hers" / "bin" / "python3", base, HER)
    script = (
        "import sys\n"
        "from fleetcache.discovery.probe import Prober\n"
        "from fleetcache.machine import Machine\n"
        "from fleetcache.model import Environment\n"
        "for prefix, owner in ((sys.argv[1], 12345), (sys.argv[2], 0), (sys.argv[3], 12346)):\n"
        "    env = Environment(prefix, 'system', 'interpreter', owner_uid=owner,\n"
        "                      interpreter=prefix + '/bin/python3')\n"
        "    env = Prober(Machine.local(), []).complete(env)\n"
        "    print(env.python_version, env.problems)\n"
    )
    prefixes = [str(Path(p).parent.parent) for p in (mine, roots, hers)]
    r = subprocess.run(
        [base, "-c", script, *prefixes], user=OWNER, group=OWNER, extra_groups=[], cwd="/",
        env={"PATH": "/usr/bin:/bin", "PYTHONPATH": str(lib)}, capture_output=True, text=True,
    )  # fmt: skip
    v = version_of(base)
    assert r.stdout.splitlines() == [
        f"{v} ()",
        f"{v} ()",
        "None ('version unknown: not run: its prefix belongs to uid 12346 (only root runs it "
        "as its owner)',)",
    ], r.stderr
    assert ran(mine)[0] == ran(roots)[0] == str(OWNER) and ran(hers) is None  # type: ignore[index]


# ---- issue 15, item 1: the attack as reported


@dataclass
class Shared:
    prefix: Path
    pwned: Path
    state: Path


@pytest.fixture
def shared_venv(open_tree: Tree, monkeypatch: pytest.MonkeyPatch) -> Shared:
    """A root-owned venv whose site-packages the team may write (root:team 2775), a team
    member's ``zz.pth`` in it, and the venv listed in her ``~/.conda/environments.txt``."""
    if not ROOT:
        pytest.skip("runs as root with other uids: needs root")
    if not os.path.exists(BASE):
        pytest.skip(f"{BASE} is missing: the shared venv needs a Python every account may run")
    top = open_tree.root
    out = top / "out"
    out.mkdir()
    out.chmod(0o1777)  # whoever the .pth ran as could write here
    pwned = out / "pwned"
    prefix = top / "srv" / "shared"
    subprocess.run([BASE, "-m", "venv", "--without-pip", str(prefix)], check=True)
    cfg = prefix / "pyvenv.cfg"
    lines = [x for x in cfg.read_text().splitlines() if not x.startswith("version")]
    cfg.write_text("\n".join([*lines, "version = 3.11"]) + "\n")  # no micro version: a probe
    (site,) = prefix.glob("lib/python3*/site-packages")
    os.chown(site, 0, TEAM)
    site.chmod(0o2775)
    pth = site / "zz.pth"
    pth.write_text(f'import os; os.system("id > {pwned}")\n')
    os.lchown(pth, HER, TEAM)
    home = top / "home" / "her"
    (home / ".conda").mkdir(parents=True)
    (home / ".conda" / "environments.txt").write_text(f"{prefix}\n")
    for p in (home, home / ".conda", home / ".conda" / "environments.txt"):
        os.lchown(p, HER, HER)
    # this host's account database, and her (the edge: no account is added to the host)
    real = accounts_mod.host_accounts
    her = Account("her", HER, HER, str(home))
    monkeypatch.setattr(accounts_mod, "host_accounts", lambda lo, hi: [*real(lo, hi), her])
    return Shared(prefix, pwned, top / "state")


@pytest.mark.parametrize(
    "argv",
    [
        ["envs", "--user", "her"],
        ["scan", "--user", "her"],
        ["clean", "--user", "her", "--dry-run"],
    ],
)
def test_a_pth_file_in_a_shared_venv_never_runs_as_root(shared_venv: Shared, argv, capsys):
    if argv[0] == "clean":
        argv = [*argv, "--audit-log", str(shared_venv.state / "audit.log"),
                "--lock-dir", str(shared_venv.state / "locks"),
                "--state-dir", str(shared_venv.state / "last")]  # fmt: skip
    main(argv)
    pwned = shared_venv.pwned
    assert not pwned.exists(), pwned.read_text()


def test_the_shared_venv_is_still_probed_as_nobody(shared_venv: Shared, capsys):
    main(["envs", "--user", "her", "--format", "json"])
    doc = json.loads(capsys.readouterr().out)
    (env,) = [e for e in doc["environments"] if e["prefix"] == str(shared_venv.prefix)]
    real = version_of(BASE)
    assert (env["python_version"], env["version_from"], env["problems"]) == (real, "probe", [])
    assert not shared_venv.pwned.exists()
