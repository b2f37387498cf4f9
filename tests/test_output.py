"""``-o FILE`` as root: a device or FIFO is written into, a regular file replaced atomically with
its mode and owner, a new file made with the umask's mode, and a link (or a file) planted in a
sticky world-writable directory by another account refused, as the kernel's protected_symlinks
would (issue 15, item 9). Every device here is a real node made in the test's own directory."""

from __future__ import annotations

import contextlib
import os
import stat
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from fleetcache.cli import _emit, main
from tests.conftest import Tree

ROOT = os.geteuid() == 0
pytestmark = [
    pytest.mark.root,
    pytest.mark.skipif(not ROOT, reason="makes device nodes and files of other uids: run as root"),
]
MALLORY = 12345
HEADER = "path,owner,owner_uid,"  # how scan's CSV starts


def run(capsys: pytest.CaptureFixture[str], tree: Tree, target: Path) -> tuple[int, str, str]:
    """``fleetcache scan --format csv -o TARGET``: its exit code, stdout and stderr."""
    argv = ["scan", "--root", str(tree.root), "--no-activity", "-f", "csv", "-o", str(target)]
    code = main(argv)
    out, err = capsys.readouterr()
    return code, out, err


@pytest.fixture
def umask() -> Iterator[None]:
    """The usual umask (022) for the test, the runner's own afterwards."""
    old = os.umask(0o022)
    yield
    os.umask(old)


@pytest.fixture
def sticky(tmp_path: Path) -> Path:
    """A /tmp-like directory: root's, world-writable, sticky."""
    shared = tmp_path / "shared"
    shared.mkdir()
    shared.chmod(0o1777)
    return shared


def test_a_character_device_is_written_into_not_replaced(tree, tmp_path, capsys):
    """``-o /dev/null`` as root: the device stays (a copy of /dev/null, major 1 minor 3, here)."""
    null = tmp_path / "null"
    os.mknod(null, stat.S_IFCHR | 0o666, os.makedev(1, 3))
    null.chmod(0o666)
    code, out, err = run(capsys, tree, null)
    assert (code, out, err) == (0, "", "")
    st = null.lstat()
    assert stat.S_ISCHR(st.st_mode) and st.st_rdev == os.makedev(1, 3)
    assert stat.S_IMODE(st.st_mode) == 0o666 and st.st_uid == 0
    assert sorted(p.name for p in tmp_path.iterdir()) == ["machine", "null"]  # no temp left


def test_a_fifo_is_written_into_its_reader_gets_the_report(tree, tmp_path, capsys):
    fifo = tmp_path / "pipe"
    os.mkfifo(fifo)
    reader = subprocess.Popen(["cat", str(fifo)], stdout=subprocess.PIPE, text=True)
    try:
        code, _, err = run(capsys, tree, fifo)
        assert (code, err) == (0, "")
        assert stat.S_ISFIFO(fifo.lstat().st_mode)
        got, _ = reader.communicate(timeout=300)
        assert got.startswith(HEADER)
    finally:
        reader.kill()
        reader.wait()


def test_a_block_device_is_refused(tree, tmp_path, capsys):
    """Text written into a disk would destroy it: refused, the node left as it is."""
    disk = tmp_path / "disk"
    os.mknod(disk, stat.S_IFBLK | 0o600, os.makedev(7, 254))
    code, out, err = run(capsys, tree, disk)
    assert code == 1 and out == "" and err.count("\n") == 1
    assert err.startswith("fleetcache: error:") and "block device" in err
    assert stat.S_ISBLK(disk.lstat().st_mode)


def test_a_regular_file_is_replaced_whole_keeping_its_mode_and_owner(tree, tmp_path, capsys):
    prom = tmp_path / "fleet.csv"
    prom.write_text("previous report\n")
    os.chown(prom, MALLORY, MALLORY + 1)
    prom.chmod(0o640)
    before = prom.stat().st_ino
    code, out, err = run(capsys, tree, prom)
    assert (code, out, err) == (0, "", "")
    st = prom.stat()
    assert prom.read_text().startswith(HEADER) and st.st_ino != before  # a new file, renamed
    assert (stat.S_IMODE(st.st_mode), st.st_uid, st.st_gid) == (0o640, MALLORY, MALLORY + 1)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["fleet.csv", "machine"]


@pytest.mark.parametrize(("mask", "mode"), [(0o022, 0o644), (0o027, 0o640), (0o077, 0o600)])
def test_a_new_file_gets_its_mode_from_the_umask(tree, tmp_path, capsys, mask, mode):
    """node_exporter (not root) must read the .prom file root writes under umask 022."""
    old = os.umask(mask)
    try:
        code, _, err = run(capsys, tree, tmp_path / "fleetcache.prom")
    finally:
        os.umask(old)
    assert (code, err) == (0, "")
    assert stat.S_IMODE((tmp_path / "fleetcache.prom").stat().st_mode) == mode


def test_a_link_another_account_planted_in_a_sticky_directory_is_refused(
    tree, tmp_path, sticky, capsys, umask
):
    """mallory's link /tmp/report.csv -> a file of root's: the kernel's protected_symlinks would
    not let root follow it, and neither does fleetcache; the link and the file stay."""
    victim = tmp_path / "victim.conf"
    victim.write_text("root's\n")
    link = sticky / "report.csv"
    link.symlink_to(victim)
    os.lchown(link, MALLORY, MALLORY)
    code, out, err = run(capsys, tree, link)
    assert code == 1 and out == "" and err.count("\n") == 1 and err.startswith("fleetcache: error:")
    assert "symbolic link" in err and f"uid {MALLORY}" in err
    assert link.is_symlink() and victim.read_text() == "root's\n"
    assert sorted(p.name for p in sticky.iterdir()) == ["report.csv"]


def test_a_link_root_owns_in_a_sticky_directory_is_followed(tree, tmp_path, sticky, capsys, umask):
    target = tmp_path / "reports" / "fleet.csv"
    target.parent.mkdir()
    target.write_text("old\n")
    target.chmod(0o604)
    link = sticky / "report.csv"
    link.symlink_to(target)
    code, _, err = run(capsys, tree, link)
    assert (code, err) == (0, "")
    assert link.is_symlink() and target.read_text().startswith(HEADER)
    assert stat.S_IMODE(target.stat().st_mode) == 0o604


@pytest.mark.parametrize("kind", ["file", "fifo"])
def test_a_file_another_account_planted_in_a_sticky_directory_is_refused(
    tree, sticky, capsys, kind
):
    """As the kernel's protected_regular and protected_fifos: mallory's file or FIFO waiting in
    /tmp would hand her the report (its owner is kept; a FIFO's reader is hers)."""
    planted = sticky / "report.csv"
    if kind == "file":
        planted.write_text("mallory's\n")
    else:
        os.mkfifo(planted)
    os.lchown(planted, MALLORY, MALLORY)
    code, out, err = run(capsys, tree, planted)
    assert code == 1 and out == "" and err.count("\n") == 1
    assert f"uid {MALLORY}" in err
    st = planted.lstat()
    assert st.st_uid == MALLORY and stat.S_ISFIFO(st.st_mode) == (kind == "fifo")


def test_a_failed_write_keeps_the_old_file_and_leaves_no_temp(tmp_path):
    old = tmp_path / "fleet.csv"
    old.write_text("previous report\n")
    with pytest.raises(UnicodeEncodeError):
        _emit("a lone surrogate \udcff cannot be written\n", str(old))
    assert old.read_text() == "previous report\n"
    assert [p.name for p in tmp_path.iterdir()] == ["fleet.csv"]


@pytest.fixture
def textfile_dir(tmp_path: Path) -> Path:
    """node_exporter's textfile directory as Debian makes it: its account's (here a numeric
    uid), 0755, not sticky: that account may put anything in it."""
    where = tmp_path / "node-exporter"
    where.mkdir()
    os.chown(where, NODE_EXPORTER, NODE_EXPORTER)
    return where


NODE_EXPORTER = MALLORY + 5


def test_a_link_in_a_directory_another_account_owns_is_not_followed(
    tree, tmp_path, textfile_dir, capsys, umask
):
    """The scan unit and cron line write fleetcache.prom as root into node_exporter's directory:
    its account plants fleetcache.prom -> a file of root's (its own link, or one it swaps in
    after fleetcache looked): root must not write through it; the link and the file stay."""
    victim = tmp_path / "shadow"
    victim.write_text("root's\n")
    victim.chmod(0o640)
    link = textfile_dir / "fleetcache.prom"
    for owner in (NODE_EXPORTER, 0):  # a root-owned link there can be swapped as well
        with contextlib.suppress(FileNotFoundError):
            link.unlink()
        link.symlink_to(victim)
        os.lchown(link, owner, owner)
        code, out, err = run(capsys, tree, link)
        assert code == 1 and out == "" and err.count("\n") == 1, err
        assert "symbolic link" in err and "others may write" in err
        assert link.is_symlink() and victim.read_text() == "root's\n"
        assert stat.S_IMODE(victim.stat().st_mode) == 0o640
        assert sorted(p.name for p in textfile_dir.iterdir()) == ["fleetcache.prom"]


def test_a_fifo_another_account_left_in_its_directory_is_refused(tree, textfile_dir, capsys):
    """Its FIFO would hand it the report, or stop the scan until a reader comes."""
    fifo = textfile_dir / "fleetcache.prom"
    os.mkfifo(fifo)
    os.lchown(fifo, NODE_EXPORTER, NODE_EXPORTER)
    code, out, err = run(capsys, tree, fifo)
    assert code == 1 and out == "" and err.count("\n") == 1 and f"uid {NODE_EXPORTER}" in err
    assert stat.S_ISFIFO(fifo.lstat().st_mode)


def test_its_own_report_in_its_directory_is_replaced_keeping_its_owner(
    tree, textfile_dir, capsys, umask
):
    """What the scan unit does each hour: node_exporter's file, replaced whole, still its own."""
    prom = textfile_dir / "fleetcache.prom"
    prom.write_text("old\n")
    os.chown(prom, NODE_EXPORTER, NODE_EXPORTER)
    code, _, err = run(capsys, tree, prom)
    assert (code, err) == (0, "")
    assert prom.read_text().startswith(HEADER) and prom.stat().st_uid == NODE_EXPORTER
