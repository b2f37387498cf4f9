"""The way to a cache: every directory from the machine's root to it must be writable by root and
the cache's owner only (a sticky one: where what it leads to is theirs), else a clean refuses the
cache and a scan flags it. Attacked as root with real accounts, real renames and real pips."""

from __future__ import annotations

import json
import os
import struct
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any, Callable

import pytest

from fleetcache.cli import main
from fleetcache.discovery.accounts import parse_group, parse_passwd
from fleetcache.transitions import Groups
from tests.conftest import Tree, chown_tree, fill_cache
from tests.test_clean import files_below, one, run, snapshot

ROOT = os.geteuid() == 0
pytestmark = pytest.mark.skipif(not ROOT, reason="renames as another uid and cleans as root")
VICTIM, MATE, TEAM = 12346, 12347, 1234
BASE = "/usr/bin/python3"
CACHE = "/srv/team/victim-cache"


@pytest.fixture
def tree(open_tree: Tree) -> Tree:
    """victim and a teammate, both in group team; victim's pip uses /srv/team/victim-cache."""
    open_tree.user("victim", VICTIM)
    open_tree.user("mate", MATE)
    open_tree.write("/etc/group", f"root:x:0:\nteam:x:{TEAM}:victim,mate\n")
    open_tree.write(
        "/home/victim/.config/pip/pip.conf", f"[global]\ncache-dir = {CACHE}\n", uid=VICTIM
    )
    chown_tree(open_tree.host("/home/victim"), VICTIM)
    return open_tree


@pytest.fixture
def state(tmp_path: Path) -> dict[str, str]:
    """Where this test's audit log and locks go."""
    return {"log": str(tmp_path / "log" / "audit.log"), "locks": str(tmp_path / "locks"),
            "state": str(tmp_path / "state")}  # fmt: skip


def shared_dir(tree: Tree, path: str, uid: int, gid: int, mode: int) -> Path:
    """A directory of the machine with its owner, group and mode (set after the umask)."""
    where = tree.host(path)
    where.mkdir(parents=True, exist_ok=True)
    os.chown(where, uid, gid)
    os.chmod(where, mode)
    return where


def as_mate(*code: str) -> None:
    """Run Python lines as the teammate: uid 12347, in group team, nothing else."""
    r = subprocess.run(
        [BASE, "-c", "\n".join(code)],
        user=MATE, group=MATE, extra_groups=[TEAM], cwd="/", capture_output=True, text=True,
    )  # fmt: skip
    assert r.returncode == 0, r.stderr


def scan_doc(tree: Tree, tmp_path: Path) -> dict[str, Any]:
    out = tmp_path / "scan.json"
    code = main(["scan", "--root", str(tree.root), "--user", "victim", "--no-envs",
                 "--jobs", "1", "--format", "json", "-o", str(out)])  # fmt: skip
    doc: dict[str, Any] = json.loads(out.read_text())
    assert code == 0, doc["skipped"]
    return doc


def test_a_teammate_cannot_swap_a_build_into_a_cache_in_a_team_writable_directory(
    tree, state, tmp_path, pip_python: Callable[[str], Path], index_url: str
):
    if not os.path.exists(BASE):
        pytest.skip(f"{BASE} is missing: the teammate's rename runs with it")
    shared_dir(tree, "/srv/team", 0, TEAM, 0o2775)
    cache = tree.host(CACHE)
    fill_cache(pip_python("26"), cache, index_url, "alpha", "beta", work=tmp_path / "w")
    chown_tree(cache, VICTIM)
    build = tree.host("/srv/team/build")
    tree.write("/srv/team/build/wheels/release-1.0-py3-none-any.whl", b"PK" + b"r" * 900)
    chown_tree(build, VICTIM)
    kept = snapshot(build)
    as_mate(
        "import os",
        f"os.rename({str(cache)!r}, {str(cache) + '.old'!r})",
        f"os.rename({str(build)!r}, {str(cache)!r})",
    )
    code, doc = run(tree, state, "--user", "victim")
    c = one(doc)
    assert code == 3 and c["state"] == "refused", doc
    assert "/srv/team is writable by group team (gid 1234)" in c["reason"], c["reason"]
    assert snapshot(cache) == kept  # the release wheel is still there
    problems = one(scan_doc(tree, tmp_path))["problems"]
    assert any("/srv/team is writable by group team" in p for p in problems), problems


def victims_cache(tree: Tree, path: str) -> Path:
    """victim's pip uses ``path``: a cache of one http-v2 entry, victim's (parents made root's)."""
    tree.write("/home/victim/.config/pip/pip.conf", f"[global]\ncache-dir = {path}\n", uid=VICTIM)
    key = "ab" + "0" * 54
    leaf = f"{path}/http-v2/a/b/0/0/0/{key}"
    tree.write(leaf, b"cc=4," + b"m" * 95, uid=VICTIM)
    tree.write(leaf + ".body", b"b" * 2000, uid=VICTIM)
    cache = tree.host(path)
    chown_tree(cache, VICTIM)
    return cache


def acl(*entries: tuple[int, int, int]) -> bytes:
    """Linux's system.posix_acl_access value: version 2, then (tag, perm, id) entries."""
    return struct.pack("<I", 2) + b"".join(struct.pack("<HHI", *e) for e in entries)


NOBODY_ID = 0xFFFFFFFF
# tags: 1 owner, 2 named user, 4 owning group, 8 named group, 0x10 mask, 0x20 other
MATE_MAY_WRITE = acl((1, 7, NOBODY_ID), (2, 7, MATE), (4, 5, NOBODY_ID), (0x10, 7, NOBODY_ID),
                     (0x20, 5, NOBODY_ID))  # fmt: skip
OWN_GROUP = f"root:x:0:\nvictim:x:{VICTIM}:\nteam:x:{TEAM}:victim,mate\n"

# (the way to the cache: (path, uid, gid, mode), the group database, an ACL on the last of them,
# where the cache is, what the refusal must say; None: the clean may go ahead)
WAYS: dict[str, Any] = {
    "sticky, leading to the owner's": (
        [("/scratch", 0, 0, 0o1777)], OWN_GROUP, None, "/scratch/victim-cache", None),
    "sticky, leading to another's": (
        [("/scratch", 0, 0, 0o1777), ("/scratch/proj", MATE, MATE, 0o755)], OWN_GROUP, None,
        "/scratch/proj/victim-cache",
        "/scratch is writable by everyone (mode 1777), not only by root or the owner; sticky, but "
        f"/scratch/proj belongs to uid {MATE}"),
    "writable by everyone, not sticky": (
        [("/pub", 0, 0, 0o777)], OWN_GROUP, None, "/pub/victim-cache",
        "/pub is writable by everyone (mode 777), not only by root or the owner"),
    "writable by the owner's own group": (
        [("/srv/own", 0, VICTIM, 0o2775)], OWN_GROUP, None, "/srv/own/victim-cache", None),
    "writable by the owner's group, which lists mate": (
        [("/srv/own", 0, VICTIM, 0o2775)], f"victim:x:{VICTIM}:mate\n", None,
        "/srv/own/victim-cache",
        f"/srv/own is writable by group victim (gid {VICTIM}), not only by root or the owner"),
    "writable by the owner's group, no group database": (
        [("/srv/own", 0, VICTIM, 0o2775)], None, None, "/srv/own/victim-cache",
        f"/srv/own is writable by gid {VICTIM}, not only by root or the owner"),
    "the cache root itself writable by the team": (
        [("/srv/caches", 0, 0, 0o755), ("/srv/caches/victim", VICTIM, TEAM, 0o2775)], OWN_GROUP,
        None, "/srv/caches/victim",
        f"/srv/caches/victim is writable by group team (gid {TEAM}), not only by root or the owner"),
    "writable by mate through an ACL": (
        [("/srv/acl", 0, VICTIM, 0o775)], OWN_GROUP, MATE_MAY_WRITE, "/srv/acl/victim-cache",
        f"/srv/acl is writable by uid {MATE} through its access control list, not only by root"
        " or the owner"),
    "an ACL that lets only root write": (
        [("/srv/acl", 0, VICTIM, 0o775)], OWN_GROUP,
        acl((1, 7, NOBODY_ID), (2, 7, 0), (4, 5, NOBODY_ID), (0x10, 7, NOBODY_ID),
            (0x20, 5, NOBODY_ID)),
        "/srv/acl/victim-cache", None),
}  # fmt: skip


@pytest.mark.parametrize("case", list(WAYS))
def test_the_way_to_a_cache_decides_whether_it_may_be_cleaned(tree, state, tmp_path, case):
    dirs, group, access, path, refusal = WAYS[case]
    if group is None:
        os.unlink(tree.host("/etc/group"))
    else:
        tree.write("/etc/group", group)
    for where, uid, gid, mode in dirs:
        shared_dir(tree, where, uid, gid, mode)
    if access is not None:
        try:
            os.setxattr(tree.host(dirs[-1][0]), "system.posix_acl_access", access)
        except OSError as exc:
            pytest.skip(f"no POSIX ACLs here: {exc.strerror}")
    cache = victims_cache(tree, path)
    for where, uid, gid, mode in dirs:  # the cache root's, when it is one of them
        shared_dir(tree, where, uid, gid, mode)
    code, doc = run(tree, state, "--user", "victim", "--dry-run")
    c = one(doc)
    if refusal is None:
        assert (code, c["state"], c["reason"]) == (0, "planned", None), c
        assert c["plan"]["files"] == 2
        assert one(scan_doc(tree, tmp_path))["problems"] == []
    else:
        assert (code, c["state"], c["reason"]) == (3, "refused", f"refused: {refusal}"), c
        problems = one(scan_doc(tree, tmp_path))["problems"]
        assert problems == [f"a clean would refuse it: {refusal}"]
    assert files_below(cache) == [
        "http-v2/a/b/0/0/0/ab" + "0" * 54,
        "http-v2/a/b/0/0/0/ab" + "0" * 54 + ".body",
    ]


def test_a_real_cache_in_a_sticky_directory_is_cleaned(
    tree, state, tmp_path, pip_python: Callable[[str], Path], index_url: str
):
    shared_dir(tree, "/scratch", 0, 0, 0o1777)
    cache = tree.host("/scratch/victim-cache")
    fill_cache(pip_python("26"), cache, index_url, "alpha", "beta", work=tmp_path / "w")
    chown_tree(cache, VICTIM)
    tree.write("/home/victim/.config/pip/pip.conf", "[global]\ncache-dir = /scratch/victim-cache\n",
               uid=VICTIM)  # fmt: skip
    code, doc = run(tree, state, "--user", "victim")
    c = one(doc)
    assert (code, c["state"]) == (0, "cleaned"), c
    assert c["deleted"]["files"] > 0 and files_below(cache) == []


def test_a_way_opened_to_others_after_the_plan_is_refused_at_the_clean(tree, state):
    shared_dir(tree, "/srv/own", 0, VICTIM, 0o755)
    cache = victims_cache(tree, "/srv/own/victim-cache")
    before = snapshot(cache)
    # a process of its own: the clean forks its deleting child only where no thread runs
    script = textwrap.dedent(f"""
        import json, os
        from fleetcache.clean.run import clean, Request
        from fleetcache.clean.policy import Policy
        from fleetcache.machine import Machine
        from fleetcache.scan import Selection
        from fleetcache.discovery.envs import EnvSearch
        def loosen(result):  # between the plan and the deleting
            assert [c.state for c in result.caches] == ["planned"]
            os.chmod({str(tree.host("/srv/own"))!r}, 0o777)
            return True
        selection = Selection(users=("victim",), env_search=EnvSearch(probe=False))
        req = Request(Policy(), selection, audit_log={state["log"]!r}, lock_dir={state["locks"]!r},
                      state_dir={state["state"]!r})
        c = clean(Machine.local({str(tree.root)!r}), req, confirm=loosen).caches[0]
        print(json.dumps([c.state, c.reason, c.deleted_files]))
    """)
    r = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout) == [
        "refused",
        "refused: /srv/own is writable by everyone (mode 777), not only by root or the owner",
        0,
    ]
    assert snapshot(cache) == before


def test_scan_flags_a_cache_reached_through_a_link_in_a_team_writable_directory(tree, tmp_path):
    shared_dir(tree, "/srv/team", 0, TEAM, 0o2775)
    victims_cache(tree, "/home/victim/cache")
    os.symlink("/home/victim", tree.host("/srv/team/victim"))
    os.lchown(tree.host("/srv/team/victim"), VICTIM, VICTIM)  # victim's link: scan follows it
    conf = "[global]\ncache-dir = /srv/team/victim/cache\n"
    tree.write("/home/victim/.config/pip/pip.conf", conf, uid=VICTIM)
    c = one(scan_doc(tree, tmp_path))
    assert c["http_files"] == 2 and c["skipped"] is None, c
    assert c["problems"] == [
        f"a clean would refuse it: /srv/team is writable by group team (gid {TEAM}), not only by"
        " root or the owner"
    ]


def test_a_group_is_the_owners_own_only_when_nobody_else_can_be_in_it():
    every = parse_passwd(
        "root:x:0:0::/root:/bin/sh\n"
        f"victim:x:{VICTIM}:{VICTIM}::/home/victim:/bin/sh\n"
        f"mate:x:{MATE}:{TEAM}::/home/mate:/bin/sh\n",
        1000,
        60000,
    )
    database = parse_group(
        f"victim:x:{VICTIM}:\nwheel:x:10:root\nghosts:x:20:ghost\nteam:x:{TEAM}:\n"
        "root:x:0:\nroot2:x:0:victim\n"
    )
    known = Groups(every, database.get)
    assert known.only(VICTIM, VICTIM) and not known.only(VICTIM, MATE)
    assert known.only(10, VICTIM)  # root's only
    assert not known.only(20, VICTIM)  # a member no account database knows
    assert not known.only(TEAM, VICTIM)  # it lists nobody, but it is mate's primary group
    assert known.only(0, VICTIM) and not known.only(0, MATE)  # gid 0 listed twice: both count
    assert not known.only(999, VICTIM)  # in no database
    assert not Groups(every).only(VICTIM, VICTIM)  # no group database: nothing is known
    assert (known.label(TEAM), known.label(999)) == (f"group team (gid {TEAM})", "gid 999")
