"""The walk is never fooled and never crashes: links, foreign owners, unreadable and vanishing entries."""

from __future__ import annotations

import os
import subprocess
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import pytest

from fleetcache import safefs
from fleetcache.machine import Machine
from fleetcache.model import CacheResult
from fleetcache.scan import Selection, scan
from fleetcache.stats.pool import walk_all
from fleetcache.stats.walk import WalkOutcome, WalkTask, walk_cache
from tests.conftest import Tree, chown_tree

ALICE = 1000 if os.geteuid() == 0 else os.getuid()
ROOT_ONLY = pytest.mark.skipif(os.geteuid() != 0, reason="gives files to other uids: needs root")


def entry(tree: Tree, cache: str, n: int, size: int = 100, uid: int = ALICE) -> None:
    """A complete http-v2 entry (metadata and body) in ``cache``."""
    key = f"{n:056x}"
    leaf = f"{cache}/http-v2/{key[0]}/{key[1]}/{key[2]}/{key[3]}/{key[4]}/{key}"
    tree.write(leaf, b"cc=4," + b"m" * 10, uid=uid)
    tree.write(leaf + ".body", b"b" * size, uid=uid)


def alice_cache(tree: Tree) -> CacheResult:
    result = scan(Machine(root=str(tree.root)), Selection(users=("alice",)))
    (cache,) = [c for c in result.caches if "alice" in c.location.users]
    return cache


@pytest.fixture
def victim(tree: Tree) -> Path:
    """Files outside any cache that a tricked walk would count."""
    for n in range(5):
        entry(tree, "/victim", n, size=1_000_000, uid=0)
    return tree.host("/victim")


def test_symlinked_cache_root_is_skipped_and_its_target_not_counted(tree: Tree, victim: Path):
    tree.user("alice", ALICE)
    tree.host("/home/alice/.cache").mkdir()
    tree.host("/home/alice/.cache/pip").symlink_to(victim)
    chown_tree(tree.host("/home/alice"), ALICE)
    cache = alice_cache(tree)
    assert cache.skipped == "not walked: /home/alice/.cache/pip is a symbolic link"
    assert cache.figures.total_bytes == 0


@ROOT_ONLY
def test_symlinked_dot_cache_owned_by_someone_else_is_refused(tree: Tree, victim: Path):
    tree.user("alice", ALICE)
    link = tree.host("/home/alice/.cache")
    link.symlink_to("/victim")
    os.lchown(link, 1234, 1234)
    cache = alice_cache(tree)
    assert cache.skipped is not None and "symbolic link owned by uid 1234" in cache.skipped
    assert cache.figures.total_bytes == 0


@ROOT_ONLY
def test_cache_owned_by_another_account_is_skipped(tree: Tree):
    tree.user("alice", ALICE)
    entry(tree, "/home/alice/.cache/pip", 1, uid=4321)
    os.lchown(tree.host("/home/alice/.cache/pip"), 4321, 4321)
    cache = alice_cache(tree)
    assert cache.skipped == "not walked: owned by uid 4321, not by an account that uses it"
    assert cache.owner == "4321" and cache.figures.total_files == 0


@ROOT_ONLY
def test_foreign_owned_entries_are_counted_as_such(tree: Tree):
    tree.user("alice", ALICE)
    entry(tree, "/home/alice/.cache/pip", 1)
    entry(tree, "/home/alice/.cache/pip", 2 << 220, size=50)
    chown_tree(tree.host("/home/alice"), ALICE)
    for leaf in tree.host("/home/alice/.cache/pip/http-v2/2").rglob("*"):
        if leaf.is_file():
            os.lchown(leaf, 0, 0)  # root's download into alice's cache, as `sudo pip` leaves
    figures = alice_cache(tree).figures
    assert (figures.foreign_files, figures.foreign_bytes) == (2, 15 + 50)
    assert figures.http_entries == 2


def test_links_inside_the_cache_are_not_followed(tree: Tree, victim: Path):
    tree.user("alice", ALICE)
    entry(tree, "/home/alice/.cache/pip", 1)
    wheels = tree.host("/home/alice/.cache/pip/wheels")
    wheels.mkdir()
    (wheels / "ab").symlink_to(victim)
    (tree.host("/home/alice/.cache/pip/http-v2") / "big-0-py3-none-any.whl").symlink_to(
        victim / "http-v2/0/0/0/0/0" / ("0" * 56 + ".body")
    )
    chown_tree(tree.host("/home/alice"), ALICE)
    figures = alice_cache(tree).figures
    assert figures.total_bytes == 15 + 100  # the one real entry; links are 0 bytes, not entered


def test_unreadable_directory_is_recorded_and_passed(tree: Tree, monkeypatch):
    tree.user("alice", ALICE)
    for n in range(3):
        entry(tree, "/home/alice/.cache/pip", n << 220)
    chown_tree(tree.host("/home/alice"), ALICE)
    real_scandir = os.scandir
    locked = os.stat(tree.host("/home/alice/.cache/pip/http-v2/1")).st_ino

    def scandir(fd: int):  # the failing syscall, as an unreadable directory gives it
        if isinstance(fd, int) and os.fstat(fd).st_ino == locked:
            raise PermissionError(13, "Permission denied")
        return real_scandir(fd)

    monkeypatch.setattr(os, "scandir", scandir)
    result = scan(Machine(root=str(tree.root)), Selection(users=("alice",)))
    (cache,) = [c for c in result.caches if c.exists]
    assert cache.figures.http_entries == 2 and cache.figures.unreadable == 1
    assert [s.path for s in result.skipped] == ["/home/alice/.cache/pip/http-v2/1"]
    assert not result.complete


def test_files_vanishing_mid_walk_are_counted_as_vanished(tree: Tree, monkeypatch):
    tree.user("alice", ALICE)
    entry(tree, "/home/alice/.cache/pip", 7)
    chown_tree(tree.host("/home/alice"), ALICE)
    real_scandir = os.scandir

    class Listed(list[os.DirEntry[str]]):  # what scandir read, closed as its iterator is
        def close(self) -> None:
            pass

    def scandir(fd: int) -> Listed:
        with real_scandir(fd) as it:
            entries = Listed(it)
        for e in entries:  # a concurrent pip purge removes the body after it was listed
            if e.name.endswith(".body"):
                os.unlink(e.name, dir_fd=fd)
        return entries

    monkeypatch.setattr(os, "scandir", scandir)
    figures = alice_cache(tree).figures
    assert figures.vanished == 1 and figures.orphan_files == 1 and figures.http_entries == 0


def test_a_directory_swapped_for_a_link_mid_walk_is_not_followed(tree: Tree, victim: Path):
    tree.user("alice", ALICE)
    entry(tree, "/home/alice/.cache/pip", 1)
    chown_tree(tree.host("/home/alice"), ALICE)
    cache = tree.host("/home/alice/.cache/pip")
    anchor = safefs.open_anchor(str(tree.root))
    opened = safefs.open_path(anchor, "/home/alice/.cache/pip")
    seen: list[tuple[str, ...]] = []
    errors: list[str] = []
    for parts, _fd, files, _dirs in safefs.walk(opened.fd, lambda p, r: errors.append(r)):
        seen.append(parts)
        safefs.rest(files)
        if parts == ("http-v2",):  # listed; now swap the subtree for a link before it is entered
            os.rename(cache / "http-v2/0", cache / "moved")
            (cache / "http-v2/0").symlink_to(victim / "http-v2/0")
    os.close(opened.fd)
    os.close(anchor)
    assert not any("victim" in "/".join(p) for p in seen)
    assert seen == [(), ("http-v2",)]
    assert errors == ["no longer a directory (replaced during the walk); not followed"]


def test_odd_names_are_counted_and_escaped_in_the_table(tree: Tree, capsys):
    from fleetcache.cli import main

    tree.user("al\x1b[31mice", ALICE)
    tree.write("/home/al\x1b[31mice/.cache/pip/http-v2/\x1b]0;pwned\x07", b"x", uid=ALICE)
    tree.write("/ci/odd\nname/pip/http-v2/0/" + "e" * 56, b"m")
    chown_tree(tree.host("/home"), ALICE)
    assert main(["scan", "--root", str(tree.root), "--search", "/ci"]) == 0
    out = capsys.readouterr().out
    assert "\x1b" not in out and "\x07" not in out
    assert "/ci/odd\\nname/pip" in out and "/home/al\\x1b[31mice/.cache/pip" in out
    assert main(["scan", "--root", str(tree.root), "--format", "csv"]) == 0
    assert "\x1b" not in capsys.readouterr().out


@ROOT_ONLY
def test_another_filesystem_mounted_inside_is_not_entered(tree: Tree):
    tree.user("alice", ALICE)
    entry(tree, "/home/alice/.cache/pip", 1)
    mnt = tree.host("/home/alice/.cache/pip/http-v2/f")
    mnt.mkdir()
    if subprocess.run(["mount", "-t", "tmpfs", "tmpfs", str(mnt)], capture_output=True).returncode:
        pytest.skip("mounting a tmpfs is not permitted here")
    try:
        (mnt / "inside").write_bytes(b"z" * 999)
        chown_tree(tree.host("/home/alice"), ALICE)
        cache = alice_cache(tree)
        assert cache.figures.total_bytes == 115
        assert cache.figures.unreadable == 1
    finally:
        subprocess.run(["umount", str(mnt)], check=True)


def test_parallel_walks_equal_serial_ones(tree: Tree):
    tasks = []
    for n in range(6):
        for k in range(n + 1):
            entry(tree, f"/caches/c{n}", k)
        tasks.append(WalkTask(str(tree.root), f"/caches/c{n}"))
    serial = [walk_cache(t) for t in tasks]

    def told(outcomes: Iterable[WalkOutcome]) -> list[tuple[Any, ...]]:
        # what a walk tells (the way's stats hold atimes the first walk itself may have moved)
        return [(o.exists, o.owner_uid, o.figures, o.skipped) for o in outcomes]

    assert told(walk_all(tasks, jobs=2)) == told(serial)
    assert [o.figures.http_entries for o in serial] == [1, 2, 3, 4, 5, 6]
