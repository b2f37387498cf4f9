"""What pip does not show: pre-20.0 wheel entries, legacy selfcheck.json, files outside pip's dirs."""

from __future__ import annotations

import json
import os

from fleetcache.cli import main
from fleetcache.machine import Machine
from fleetcache.scan import Selection, scan
from fleetcache.stats.pairs import MAX_UNPAIRED, Pairs
from tests.conftest import Tree, chown_tree

ALICE = 1000 if os.geteuid() == 0 else os.getuid()
CACHE = "/home/alice/.cache/pip"
OLD = 1546300800  # 2019-01-01, before pip 20.0 keyed wheels by interpreter


def wheel_entry(tree: Tree, key: str, name: str, mtime: float, origin: bool) -> None:
    entry = f"{CACHE}/wheels/{key[:2]}/{key[2:4]}/{key[4:6]}/{key[6:]}"
    paths = [tree.write(f"{entry}/{name}", b"w" * 100)]
    if origin:
        paths.append(tree.write(f"{entry}/origin.json", b'{"url": "https://x/y.tar.gz"}'))
    for path in paths:
        os.utime(path, (mtime, mtime))


def test_pre_20_wheel_entries_selfcheck_json_and_other_files(tree: Tree):
    tree.user("alice", ALICE)
    wheel_entry(tree, "a" * 56, "old-1.0-py2.py3-none-any.whl", OLD, origin=False)
    wheel_entry(tree, "b" * 56, "kept-1.0-py3-none-any.whl", OLD, origin=True)  # has a URL: 23.0+
    wheel_entry(tree, "c" * 56, "new-1.0-py3-none-any.whl", 1700000000, origin=False)
    tree.write(f"{CACHE}/selfcheck.json", b'{"/usr": {"last_check": "2019-01-01"}}')
    tree.write(f"{CACHE}/README.txt", b"r" * 7)
    tree.write(f"{CACHE}/custom/notes", b"n" * 5)
    chown_tree(tree.host("/home/alice"), ALICE)
    (cache,) = [c for c in scan(Machine(root=str(tree.root))).caches if c.exists]
    f = cache.figures
    assert (f.wheel_entries, f.legacy_wheel_entries, f.legacy_wheel_bytes) == (3, 1, 100)
    assert f.legacy_selfcheck_bytes == 38
    assert (f.other_files, f.other_bytes) == (2, 12)
    assert f.total_files == 3 + 1 + 1 + 2  # wheels, origin.json, selfcheck.json, other files
    assert f.oldest_mtime == OLD


def test_all_users_adds_system_accounts_with_a_home(tree: Tree, capsys):
    tree.passwd.append("jenkins:x:110:110::/var/lib/jenkins:/bin/sh")
    tree.passwd.append("daemon:x:1:1::/usr/sbin:/usr/sbin/nologin")
    tree.user("alice", ALICE)
    tree.host("/var/lib/jenkins").mkdir(parents=True)
    machine = str(tree.root)
    assert main(["scan", "--root", machine, "-f", "json"]) == 0
    assert [u["name"] for u in json.loads(capsys.readouterr().out)["users"]] == ["root", "alice"]
    assert main(["scan", "--root", machine, "-f", "json", "--all-users"]) == 0
    names = [u["name"] for u in json.loads(capsys.readouterr().out)["users"]]
    assert names == ["root", "jenkins", "alice"]  # daemon's home /usr/sbin is not in the tree


def test_selection_by_user_keeps_the_order_asked(tree: Tree):
    tree.user("alice", ALICE)
    tree.user("bob", ALICE + 1)
    result = scan(Machine(root=str(tree.root)), Selection(users=("bob", "alice", "bob")))
    assert [a.account.name for a in result.accounts] == ["bob", "alice"]


def test_http_v2_halves_pair_the_same_whether_remembered_or_looked_up(tmp_path):
    """Past the halves it may remember, pairing asks the directory: the same entries and orphans
    whatever the order of the listing."""
    names = ["k1", "k1.body", "k2.body", "k3", "k4.body.body", "k4.body", "k5", "k5.body"]
    names += ["x.tmp.body", "k6.body", "k6"]
    for name in names:
        (tmp_path / name).write_bytes(b"x" * len(name))
    (tmp_path / "k7").write_bytes(b"m")
    (tmp_path / "k7.body").mkdir()  # a directory is no body
    names.append("k7")
    orphans = ["k3", "k2.body", "k4.body.body", "k4.body", "x.tmp.body", "k7"]
    fd = os.open(tmp_path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        for limit in (0, 1, 2, MAX_UNPAIRED):
            for order in (names, names[::-1]):
                pairs = Pairs(fd, limit)
                for name in order:
                    pairs.add(name, len(name))
                pairs.done()
                got = (pairs.entries, pairs.orphan_files, pairs.orphan_bytes)
                assert got == (3, len(orphans), sum(map(len, orphans))), (limit, order)
    finally:
        os.close(fd)
