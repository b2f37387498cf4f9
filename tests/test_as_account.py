"""Issue 15 item 4: what an account's pip would read is decided as that account would decide it
(its uid, gid and supplementary groups, by the kernel), never guessed from mode bits as root:
its config files, and whether the interpreter prefix a selfcheck key names is gone."""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path
from typing import Any

import pytest

from fleetcache.cli import main
from fleetcache.machine import Machine
from fleetcache.scan import Selection, resolve
from tests.conftest import Tree, chown_tree

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="acts as other uids: needs root")
MALLORY, VICTIM, ALICE, CAROL, TEAM = 12345, 12346, 12347, 12348, 12350


def cache_paths(tree: Tree, name: str) -> tuple[str, ...]:
    _, resolved = resolve(Machine(root=str(tree.root)), Selection(users=(name,)))
    return resolved[0].cache_paths


def test_a_link_to_a_file_in_a_home_the_account_cannot_enter_is_not_read(tree: Tree, capsys):
    tree.user("mallory", MALLORY)
    victim = tree.user("victim", VICTIM)
    conf = "/home/victim/.config/pip/pip.conf"
    tree.write(conf, "[global]\ncache-dir = /home/victim/secret\n", VICTIM)
    chown_tree(victim, VICTIM)
    victim.chmod(0o700)  # the file itself is 0644: only the home keeps mallory out
    link = tree.host("/home/mallory/.config/pip/pip.conf")
    link.parent.mkdir(parents=True)
    link.symlink_to(conf)
    chown_tree(tree.host("/home/mallory"), MALLORY)
    assert cache_paths(tree, "mallory") == ("/home/mallory/.cache/pip",)
    assert cache_paths(tree, "victim") == ("/home/victim/secret",)  # victim's own pip reads it
    main(["dir", "--root", str(tree.root), "--user", "mallory"])  # what `pip cache dir` says
    shown = capsys.readouterr().out
    assert "/home/mallory/.cache/pip" in shown and "secret" not in shown


def test_a_config_read_through_a_supplementary_group_is_read(tree: Tree):
    tree.user("alice", ALICE)
    tree.user("carol", CAROL)
    (tree.root / "etc" / "group").write_text("root:x:0:\nteam:x:12350:bob,alice\n")
    conf = tree.write("/etc/pip.conf", "[global]\ncache-dir = /srv/team\n")
    os.chown(conf, 0, TEAM)
    conf.chmod(0o640)
    assert cache_paths(tree, "alice") == ("/srv/team",)  # through the group file's team
    assert cache_paths(tree, "carol") == ("/home/carol/.cache/pip",)  # not in team


def selfcheck(cache: Path, prefix: str) -> None:
    key = hashlib.sha224(prefix.encode()).hexdigest()
    (cache / "selfcheck").mkdir(parents=True, exist_ok=True)
    (cache / "selfcheck" / key).write_text(json.dumps({"key": prefix, "last_check": "x"}))


def run_json(tmp_path: Path, *argv: str) -> dict[str, Any]:
    out = tmp_path / "out.json"
    main([*argv, "--format", "json", "-o", str(out)])
    doc: dict[str, Any] = json.loads(out.read_text())
    out.unlink()
    return doc


def test_whether_a_selfcheck_prefix_is_gone_is_asked_as_the_caches_owner(tree: Tree, tmp_path):
    tree.user("mallory", MALLORY)
    victim = tree.user("victim", VICTIM)
    (victim / "project" / "venv").mkdir(parents=True)
    victim.chmod(0o700)
    cache = tree.host("/home/mallory/.cache/pip")
    # mallory asks, through her own cache, which paths exist in victim's home
    selfcheck(cache, "/home/victim/project/venv")
    selfcheck(cache, "/home/victim/guess/venv")
    selfcheck(cache, "/opt/gone")  # what mallory may see is gone: junk
    chown_tree(tree.host("/home/mallory"), MALLORY)
    state = tmp_path / "state"
    doc = run_json(tmp_path, "clean", "--root", str(tree.root), "--user", "mallory", "--junk",
                   "--dry-run", "--audit-log", str(state / "log"), "--lock-dir", str(state / "l"))  # fmt: skip
    (planned,) = doc["caches"]
    gone = planned["plan"]["why"]["junk: selfcheck key of an interpreter that is gone"]
    assert gone["files"] == 1
    doc = run_json(tmp_path, "scan", "--root", str(tree.root), "--user", "mallory")
    (scanned,) = doc["caches"]
    exists = {k["prefix"]: k["exists"] for k in scanned["selfcheck"]}
    assert exists == {
        "/home/victim/project/venv": None,  # mallory cannot tell, so neither do we
        "/home/victim/guess/venv": None,
        "/opt/gone": False,
    }
