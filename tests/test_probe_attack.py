"""Issue 15 item 1: no code of another account ever runs as root. A team member's ``.pth`` in a
root-owned shared venv must not run when fleetcache probes the venv's interpreter."""

from __future__ import annotations

import json
import os
import subprocess
from dataclasses import dataclass
from pathlib import Path

import pytest

from fleetcache.cli import main
from fleetcache.discovery import accounts as accounts_mod
from fleetcache.model import Account
from tests.conftest import Tree

ROOT_ONLY = pytest.mark.skipif(os.geteuid() != 0, reason="runs as root with other uids: needs root")
BASE = "/usr/bin/python3"  # a Python every account may run
HER, TEAM = 12346, 12350


def with_accounts(monkeypatch: pytest.MonkeyPatch, *more: Account) -> None:
    """This host's account database, plus accounts that exist only for the test (the edge)."""
    real = accounts_mod.host_accounts
    monkeypatch.setattr(accounts_mod, "host_accounts", lambda lo, hi: [*real(lo, hi), *more])


@dataclass
class Shared:
    prefix: Path
    pwned: Path
    state: Path


@pytest.fixture
def shared_venv(open_tree: Tree, monkeypatch: pytest.MonkeyPatch) -> Shared:
    """A root-owned venv whose site-packages the team may write (root:team 2775), a team
    member's ``zz.pth`` in it, and the venv listed in her ``~/.conda/environments.txt``."""
    if os.geteuid() != 0:
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
    with_accounts(monkeypatch, Account("her", HER, HER, str(home)))
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
                "--lock-dir", str(shared_venv.state / "locks")]  # fmt: skip
    main(argv)
    pwned = shared_venv.pwned
    assert not pwned.exists(), pwned.read_text()


@ROOT_ONLY
def test_the_shared_venv_is_still_probed_as_nobody(shared_venv: Shared, capsys):
    main(["envs", "--user", "her", "--format", "json"])
    doc = json.loads(capsys.readouterr().out)
    (env,) = [e for e in doc["environments"] if e["prefix"] == str(shared_venv.prefix)]
    real = subprocess.run([BASE, "-c", "import platform; print(platform.python_version())"],
                          capture_output=True, text=True, check=True).stdout.strip()  # fmt: skip
    assert (env["python_version"], env["version_from"], env["problems"]) == (real, "probe", [])
    assert not shared_venv.pwned.exists()
