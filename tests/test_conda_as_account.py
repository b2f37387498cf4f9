"""Issue 15 item 4, for conda's records: an account's ``~/.conda/environments.txt`` and
``.condarc`` files are read as that account, and the prefixes and ``envs_dirs`` they name are
inspected only where the account itself can open them (its uid, gid and groups, by the kernel)."""

from __future__ import annotations

import json
import os
from typing import Any

import pytest

from fleetcache.cli import main
from tests.conftest import Tree, chown_tree
from tests.test_envs import VENV_CFG, conda_prefix

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="acts as other uids: needs root")
MALLORY, VICTIM, ALICE, CAROL, TEAM = 12345, 12346, 12347, 12348, 12350
V = "/home/victim"


def envs_json(tree: Tree, user: str, capsys: pytest.CaptureFixture[str]) -> dict[str, Any]:
    main(["envs", "--root", str(tree.root), "--user", user, "--format", "json", "--no-activity"])
    doc: dict[str, Any] = json.loads(capsys.readouterr().out)
    return doc


def prefixes(doc: dict[str, Any]) -> set[str]:
    return {e["prefix"] for e in doc["environments"]}


def victims_private_envs(tree: Tree) -> None:
    """victim's 0700 home: a venv and a conda env, both in her registry, and an envs_dirs."""
    victim = tree.user("victim", VICTIM)
    tree.write(f"{V}/project/venv/pyvenv.cfg", VENV_CFG)
    tree.write(f"{V}/project/venv/pip.conf", f"[global]\ncache-dir = {V}/secret-cache\n")
    conda_prefix(tree, f"{V}/envs/private", "3.11.5", "conda create -p private")
    conda_prefix(tree, f"{V}/conda-envs/ml", "3.10.12", "conda create -n ml")
    tree.write(f"{V}/.conda/environments.txt", f"{V}/project/venv\n{V}/envs/private\n")
    tree.write(f"{V}/.condarc", f"envs_dirs:\n  - {V}/conda-envs\n")
    chown_tree(victim, VICTIM)
    victim.chmod(0o700)  # every file in it is 0644: only the home keeps others out


def test_records_linked_into_a_home_the_account_cannot_enter_are_not_read(tree: Tree, capsys):
    victims_private_envs(tree)
    mallory = tree.user("mallory", MALLORY)
    (mallory / ".conda").mkdir()
    (mallory / ".conda" / "environments.txt").symlink_to(f"{V}/.conda/environments.txt")
    (mallory / ".condarc").symlink_to(f"{V}/.condarc")
    chown_tree(mallory, MALLORY)
    doc = envs_json(tree, "mallory", capsys)
    # conda, as mallory, cannot read either file: nothing of victim's is listed, not even a path
    assert V not in json.dumps(doc)
    doc = envs_json(tree, "victim", capsys)
    found = {e["prefix"]: e["found_by"] for e in doc["environments"]}
    assert found[f"{V}/envs/private"] == ["~/.conda/environments.txt", "home walk"]
    assert found[f"{V}/conda-envs/ml"][0] == f"envs_dirs in {V}/.condarc"


def test_prefixes_an_account_names_in_a_home_it_cannot_enter_are_not_inspected(tree: Tree, capsys):
    victims_private_envs(tree)
    mallory = tree.user("mallory", MALLORY)
    # mallory's own records name victim's private environments
    tree.write("/home/mallory/.conda/environments.txt", f"{V}/project/venv\n{V}/envs/private\n")
    tree.write("/home/mallory/.condarc", f"envs_dirs: [{V}/conda-envs, {V}/envs]\n")
    chown_tree(mallory, MALLORY)
    doc = envs_json(tree, "mallory", capsys)
    assert not [p for p in prefixes(doc) if p.startswith(V)]
    assert "secret-cache" not in json.dumps(doc)  # victim's site pip.conf is not read either
    reasons = {s["path"]: s["reason"] for s in doc["skipped"]}
    registry = "/home/mallory/.conda/environments.txt"
    assert reasons[f"{V}/project/venv"].startswith(f"registered in {registry}; not inspected: ")
    assert reasons[f"{V}/conda-envs"].startswith("not searched for environments: ")
    doc = envs_json(tree, "victim", capsys)
    mine = {e["prefix"]: e for e in doc["environments"]}
    assert {f"{V}/project/venv", f"{V}/envs/private", f"{V}/conda-envs/ml"} <= set(mine)
    assert mine[f"{V}/project/venv"]["caches"][0]["path"] == f"{V}/secret-cache"


def test_records_and_envs_readable_only_through_a_supplementary_group_are_read(tree: Tree, capsys):
    (tree.root / "etc" / "group").write_text("root:x:0:\nteam:x:12350:bob,alice\n")
    conda_prefix(tree, "/srv/team/envs/analysis", "3.12.1", "conda create -p analysis")
    conda_prefix(tree, "/srv/team/shared/tools", "3.12.1", "conda create -p tools")
    registry = tree.write("/srv/team/environments.txt", "/srv/team/shared/tools\n")
    condarc = tree.write("/srv/team/condarc", "envs_dirs:\n  - /srv/team/envs\n")
    for path in (registry, condarc):
        os.chown(path, 0, TEAM)
        path.chmod(0o640)
    for directory in ("/srv/team/envs", "/srv/team/shared"):
        os.chown(tree.host(directory), 0, TEAM)
        tree.host(directory).chmod(0o750)
    for name, uid in (("alice", ALICE), ("carol", CAROL)):  # carol is not in team
        home = tree.user(name, uid)
        (home / ".conda").mkdir()
        (home / ".conda" / "environments.txt").symlink_to("/srv/team/environments.txt")
        (home / ".condarc").symlink_to("/srv/team/condarc")
        chown_tree(home, uid)
    found = {e["prefix"]: e["found_by"] for e in envs_json(tree, "alice", capsys)["environments"]}
    assert found["/srv/team/shared/tools"] == ["~/.conda/environments.txt"]
    assert found["/srv/team/envs/analysis"] == ["envs_dirs in /home/alice/.condarc"]
    doc = envs_json(tree, "carol", capsys)
    assert not [p for p in prefixes(doc) if p.startswith("/srv/team")]


def test_in_a_shared_envs_dir_only_what_the_account_can_open_is_looked_into(tree: Tree, capsys):
    # /srv/envs is the team's (2775): each member keeps environments there, one of them private
    os.makedirs(tree.host("/srv/envs"))
    os.chown(tree.host("/srv/envs"), 0, TEAM)
    tree.host("/srv/envs").chmod(0o2775)
    conda_prefix(tree, "/srv/envs/victims-private", "3.11.5", "conda create -p victims-private")
    chown_tree(tree.host("/srv/envs/victims-private"), VICTIM)
    tree.host("/srv/envs/victims-private").chmod(0o700)
    conda_prefix(tree, "/srv/envs/mallorys", "3.12.1", "conda create -p mallorys")
    chown_tree(tree.host("/srv/envs/mallorys"), MALLORY)
    tree.host("/srv/envs/mallorys").chmod(0o700)  # her own: she could open it anyway
    conda_prefix(tree, "/srv/envs/common", "3.12.1", "conda create -p common")  # root's, 0755
    for name, uid in (("mallory", MALLORY), ("victim", VICTIM)):
        tree.user(name, uid)
        tree.write(f"/home/{name}/.condarc", "envs_dirs: [/srv/envs]\n", uid)
    doc = envs_json(tree, "mallory", capsys)
    assert {p for p in prefixes(doc) if p.startswith("/srv/")} == {
        "/srv/envs/mallorys",
        "/srv/envs/common",
    }
    doc = envs_json(tree, "victim", capsys)
    assert "/srv/envs/victims-private" in prefixes(doc)


@pytest.mark.parametrize(
    ("link", "target"),
    [
        ("/home/mallory/.pyenv", f"{V}/.pyenv"),  # pyenv versions/
        ("/home/mallory/.cache/pypoetry", f"{V}/.cache/pypoetry"),  # poetry's virtualenvs
    ],
)
def test_a_tools_directory_linked_into_a_home_the_account_cannot_enter_is_not_listed(
    tree: Tree, capsys, link: str, target: str
):
    victim = tree.user("victim", VICTIM)
    tree.write(f"{V}/.pyenv/versions/3.11.7/bin/python3", "")
    tree.write(f"{V}/.pyenv/versions/3.11.7/lib/python3.11/os.py", "")
    tree.write(f"{V}/.cache/pypoetry/virtualenvs/app-Ab12Cd34-py3.11/pyvenv.cfg", VENV_CFG)
    chown_tree(victim, VICTIM)
    victim.chmod(0o700)
    mallory = tree.user("mallory", MALLORY)
    tree.host(link).parent.mkdir(parents=True, exist_ok=True)
    tree.host(link).symlink_to(target)
    chown_tree(mallory, MALLORY)
    assert V not in json.dumps(envs_json(tree, "mallory", capsys))
    assert [p for p in prefixes(envs_json(tree, "victim", capsys)) if p.startswith(V)]
