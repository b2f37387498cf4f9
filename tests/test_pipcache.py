"""``fleetcache dir`` answers every cache an account's pips use (issue 16, item 5): its own
config's and its environments' site configs' too, each line saying why; compared with what a
real venv's ``pip cache dir`` prints."""

from __future__ import annotations

import os
import subprocess

import pytest

from fleetcache.cli import main
from tests.conftest import Tree, chown_tree, pip_env

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="reads as other uids: needs root")
ALICE, BOB = 12345, 12346
BASE = "/usr/bin/python3"  # a Python alice may run, for her venv
VENV = "/home/alice/proj/.venv"
ALL_BUT_INSTALL = "cache, download, index, list, lock, search, uninstall, wheel"


def dir_lines(tree: Tree, capsys: pytest.CaptureFixture[str], *users: str) -> tuple[int, str]:
    argv = ["dir", "--root", str(tree.root)]
    for user in users:
        argv += ["--user", user]
    code = main(argv)
    return code, capsys.readouterr().out


@pytest.fixture
def alice(open_tree: Tree) -> Tree:
    """alice: a user config sending `pip install` to ~/install-cache, and a real venv (with pip)
    whose own pip.conf names ~/venv-cache; bob: nothing but his home."""
    if not os.path.exists(BASE):
        pytest.skip(f"{BASE} is missing: alice's venv needs a Python she may run")
    home = open_tree.user("alice", ALICE)
    open_tree.user("bob", BOB)
    subprocess.run([BASE, "-m", "venv", str(open_tree.host(VENV))], check=True)
    open_tree.write(VENV + "/pip.conf", "[global]\ncache-dir = ~/venv-cache\n")
    open_tree.write("/home/alice/.config/pip/pip.conf", "[install]\ncache-dir = ~/install-cache\n")
    chown_tree(home, ALICE)
    return open_tree


def test_dir_lists_the_cache_a_venv_site_config_names_as_its_pip_does(alice: Tree, capsys):
    # what that venv's own pip answers, run by alice (its site pip.conf, her home, no variable
    # of ours: only the machine's global config files, which name no cache here)
    home = alice.host("/home/alice")
    env = pip_env(home)
    del env["PIP_CONFIG_FILE"]
    asked = subprocess.run(
        [str(alice.host(VENV + "/bin/python")), "-m", "pip", "cache", "dir"],
        env=env, cwd=home, user=ALICE, group=ALICE, extra_groups=[], capture_output=True,
        text=True,
    )  # fmt: skip
    assert asked.returncode == 0, asked.stderr
    real = asked.stdout.strip()
    assert real == str(alice.host("/home/alice/venv-cache"))
    code, out = dir_lines(alice, capsys, "alice")
    assert code == 0
    assert out.splitlines() == [
        f"/home/alice/.cache/pip\tdefault location: {ALL_BUT_INSTALL}",
        "/home/alice/install-cache\tuser config /home/alice/.config/pip/pip.conf [install]: "
        "install",
        f"/home/alice/venv-cache\tsite config {VENV}/pip.conf [global]: {ALL_BUT_INSTALL}",
    ]
    assert "/" + os.path.relpath(real, alice.root) in out


def test_one_cache_alone_is_printed_as_pip_prints_it_and_several_accounts_are_named(
    alice: Tree, capsys
):
    code, out = dir_lines(alice, capsys, "bob")
    assert (code, out) == (0, "/home/bob/.cache/pip\n")  # as `pip cache dir`, for scripts
    code, out = dir_lines(alice, capsys, "bob", "alice")
    assert code == 0
    assert out.splitlines()[0] == "bob\t/home/bob/.cache/pip\tdefault location: all commands"
    assert out.splitlines()[3] == (
        f"alice\t/home/alice/venv-cache\tsite config {VENV}/pip.conf [global]: {ALL_BUT_INSTALL}"
    )
    code = main(["dir", "--root", str(alice.root), "-u", "alice", "--no-envs"])
    out = capsys.readouterr().out
    assert code == 0 and "venv-cache" not in out and "install-cache" in out
