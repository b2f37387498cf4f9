"""Reading as an account: one child per account, dropped to it, judged by the kernel; and root's
side of that child's pipe: the child runs as the account, who may have taken it over, so each
answer is checked, and a child that says anything else, or nothing in time, is killed."""

from __future__ import annotations

import base64
import json
import os
import socket
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from typing import Any

import pytest

from fleetcache import handover, readas, safefs
from fleetcache.dropped import Identity
from fleetcache.machine import Machine
from fleetcache.readas import LIMIT, MAX_LINE, Readers, Unreadable, _Child
from tests.conftest import Tree

ROOT_ONLY = pytest.mark.skipif(os.geteuid() != 0, reason="reads as other uids: needs root")
GARBAGE = "the reading process sent garbage"
ALICE, BOB = 12345, 12346


@pytest.fixture
def children() -> Iterator[list[tuple[_Child, subprocess.Popen[bytes]]]]:
    made: list[tuple[_Child, subprocess.Popen[bytes]]] = []
    yield made
    for c, p in made:
        c.close()
        p.kill()
        p.wait()


def says(children: list[Any], *answers: Any) -> _Child:
    """A child (any process) that answers each request with the next of ``answers``, the first
    at once (a line, or a list sent as JSON); then it waits."""
    lines = [a if isinstance(a, str) else json.dumps(a) for a in answers]
    with tempfile.NamedTemporaryFile("w", suffix=".json", delete=False) as f:
        json.dump(lines, f)  # some are too long for a command line
    script = (
        "import json, os, sys, time\n"
        f"lines = json.load(open({f.name!r})); os.unlink({f.name!r})\n"
        "sys.stdout.write(lines[0] + '\\n'); sys.stdout.flush()\n"
        "for line in lines[1:]:\n"
        "    sys.stdin.readline(); sys.stdout.write(line + '\\n'); sys.stdout.flush()\n"
        "time.sleep(60)\n"
    )
    theirs, ours = os.pipe()
    p = subprocess.Popen([sys.executable, "-c", script], stdin=theirs, stdout=subprocess.PIPE)
    os.close(theirs)
    assert p.stdout is not None
    c = _Child(p.pid, ours, os.dup(p.stdout.fileno()))
    children.append((c, p))
    return c


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def test_a_well_behaved_child_is_taken_at_its_word(children):
    c = says(children, ["ready"], ["data", b64(b"[global]\n")], ["none"], ["unreadable"], ["no", 7])
    assert c.ask("read", "/etc/pip.conf") == ["data", b64(b"[global]\n")]
    assert c.ask("read", "/etc/xdg/pip/pip.conf") == ["none"]
    assert c.ask("read", "/etc/secret.conf") == ["unreadable"]
    assert c.ask("exists", "/opt/gone", 100) == ["no", 7]  # and the link steps it took
    assert c.broken is None


@pytest.mark.parametrize(
    ("op", "line"),
    [
        ("read", ["yes"]),  # an answer to another question
        ("exists", ["data", b64(b"x")]),
        ("read", ["data"]),
        ("read", ["data", 1]),
        ("read", ["data", "not base64!"]),
        ("read", ["data", b64(b"x" * (LIMIT + 1))]),  # more than any file it may send
        ("read", ["none", "and more"]),
        ("exists", ["error", "it says"]),
        ("exists", ["no"]),  # without the link steps it took
        ("exists", ["yes", -1]),
        ("exists", ["yes", "5"]),
        ("exists", ["over", 10**9]),  # more than any budget it is given
        ("read", [["data", "x"]]),
        ("read", "not json"),
        ("read", "[" * 100_000),  # nested too deep for the parser
        ("read", "x" * (MAX_LINE + 10)),  # no end of line in sight
        ("open", ["dir"]),
        ("open", ["dir", "relative/dir"]),  # where a directory really is starts at the root
        ("open", ["dir", "/", "more"]),
        ("open", ["data", b64(b"x")]),
        ("exists", ["dir", "/"]),
    ],
)
def test_anything_else_is_garbage_and_the_child_is_killed(children, op, line):
    c = says(children, ["ready"], line)
    assert c.ask(op, "/etc/pip.conf") is None
    assert c.broken == GARBAGE
    assert children[-1][1].poll() is not None  # killed (and reaped)
    assert c.ask(op, "/etc/pip.conf") is None  # and never asked again


HANDS = {
    "a directory": "[os.open('/', os.O_RDONLY | os.O_DIRECTORY)]",
    "a file": "[os.open(sys.executable, os.O_RDONLY)]",
    "a directory it may only pass through": "[os.open('/', os.O_PATH | os.O_DIRECTORY)]",
    "two directories": "[os.open('/', os.O_RDONLY | os.O_DIRECTORY) for _ in '12']",
    "nothing": "[]",
}


def hands_over(children: list[Any], what: str) -> _Child:
    """A child that answers ``["open", ...]`` with ``["dir", "/"]``, handing over ``what``."""
    mine, given = handover.pair()
    script = (
        "import array, os, socket, sys, time\n"
        f"channel = socket.socket(fileno={given})\n"
        "print('[\"ready\"]', flush=True); sys.stdin.readline()\n"
        f"fds = {HANDS[what]}\n"
        "if fds: channel.sendmsg([b'.'], [(socket.SOL_SOCKET, socket.SCM_RIGHTS, "
        "array.array('i', fds))])\n"
        'print(\'["dir", "/"]\', flush=True); time.sleep(60)\n'
    )
    theirs, ours = os.pipe()
    p = subprocess.Popen(
        [sys.executable, "-c", script], stdin=theirs, stdout=subprocess.PIPE, pass_fds=(given,)
    )
    os.close(theirs)
    os.close(given)
    assert p.stdout is not None
    c = _Child(p.pid, ours, os.dup(p.stdout.fileno()), channel=socket.socket(fileno=mine))
    children.append((c, p))
    return c


def test_a_directory_handed_over_is_the_one_looked_at(children):
    got = hands_over(children, "a directory").open_dir("/home/alice/envs")
    assert got is not None
    answer, fd = got
    assert answer == ["dir", "/"] and fd is not None
    try:
        assert os.path.samestat(os.fstat(fd), os.stat("/"))
    finally:
        os.close(fd)


def held() -> list[str]:
    """What this process holds open of what a child may hand over (``/``, the interpreter)."""
    targets = {"/", os.path.realpath(sys.executable)}
    fds = os.listdir("/proc/self/fd")
    found = []
    for fd in fds:
        try:
            target = os.readlink(f"/proc/self/fd/{fd}")
        except OSError:
            continue
        if target in targets:
            found.append(target)
    return sorted(found)


@pytest.mark.parametrize("what", sorted(set(HANDS) - {"a directory"}))
def test_anything_handed_over_but_one_directory_to_list_is_garbage(children, monkeypatch, what):
    monkeypatch.setattr(readas, "TIMEOUT", 0.5)
    before = held()
    c = hands_over(children, what)
    assert c.open_dir("/home/alice/envs") is None
    expected = "the reading process did not answer in 0.5 s" if what == "nothing" else GARBAGE
    assert c.broken == expected
    assert children[-1][1].poll() is not None  # killed
    c.close()
    assert held() == before  # nothing it sent is kept open


def test_a_child_that_does_not_answer_is_killed(children, monkeypatch):
    monkeypatch.setattr(readas, "TIMEOUT", 0.5)
    c = says(children, ["ready"])
    assert c.ask("read", "/etc/pip.conf") is None
    assert c.broken == "the reading process did not answer in 0.5 s"
    assert children[-1][1].poll() is not None


def test_a_child_that_could_not_drop_says_why_and_is_not_asked(children):
    c = says(children, ["error", "not read: could become root again after dropping privileges"])
    assert c.ask("read", "/etc/pip.conf") is None
    assert c.broken == "not read: could become root again after dropping privileges"
    c = says(children, ["data", b64(b"x")])  # before it says it is ready: nothing is taken
    assert c.ask("read", "/etc/pip.conf") is None
    assert c.broken == "it sent garbage"


@ROOT_ONLY
def test_one_child_per_account_reads_as_that_account(tree: Tree):
    tree.user("alice", ALICE)
    bob = tree.user("bob", BOB)
    tree.write("/home/bob/open.conf", "bob's", BOB)
    tree.write("/home/bob/closed.conf", "bob's only", BOB).chmod(0o600)
    tree.write("/home/bob/private/x.conf", "in bob's private dir", BOB)
    os.chown(tree.host("/home/bob/private"), BOB, BOB)
    tree.host("/home/bob/private").chmod(0o700)
    (bob / "link.conf").symlink_to("/home/bob/closed.conf")
    machine = Machine(root=str(tree.root))
    alice, bob_, root = Identity(ALICE, ALICE), Identity(BOB, BOB), Identity(0, 0)
    with Readers.of(machine) as readers:
        assert readers.read(alice, "/home/bob/open.conf") == b"bob's"
        with pytest.raises(Unreadable):
            readers.read(alice, "/home/bob/closed.conf")
        with pytest.raises(Unreadable):
            readers.read(alice, "/home/bob/link.conf")  # followed, as alice's pip would
        assert readers.read(alice, "/home/bob/private/x.conf") is None  # she cannot see it
        assert readers.exists(alice, "/home/bob/private/x.conf") is None  # nor tell
        assert readers.exists(alice, "/home/bob/gone") is False
        assert readers.read(bob_, "/home/bob/link.conf") == b"bob's only"
        assert readers.exists(bob_, "/home/bob/private/x.conf") is True
        assert readers.read(root, "/home/bob/closed.conf") == b"bob's only"  # root reads as root
        assert set(readers.children) == {alice, bob_}  # one child each, none for root
        uids = {w.uid: os.stat(f"/proc/{c.pid}").st_uid for w, c in readers.children.items()}
        assert uids == {ALICE: ALICE, BOB: BOB}
        pids = [c.pid for c in readers.children.values()]
    assert all(not os.path.exists(f"/proc/{pid}") for pid in pids)  # ended with the readers


@ROOT_ONLY
def test_links_resolve_inside_the_machines_root(tree: Tree):
    tree.user("alice", ALICE)
    tree.write("/etc/pip.conf", "the tree's", 0)
    link = tree.host("/home/alice/pip.conf")
    link.symlink_to("/etc/pip.conf")  # absolute: the tree's /etc, never this host's
    os.lchown(link, ALICE, ALICE)
    with Readers.of(Machine(root=str(tree.root))) as readers:
        assert readers.read(Identity(ALICE, ALICE), "/home/alice/pip.conf") == b"the tree's"
        with pytest.raises(OSError, match="not a regular file"):
            readers.read(Identity(ALICE, ALICE), "/home/alice")


@ROOT_ONLY
def test_an_account_whose_child_failed_has_its_files_not_read(tree: Tree):
    alice = Identity(ALICE, ALICE)
    with Readers.of(Machine(root=str(tree.root))) as readers:
        readers.children[alice] = _Child(0, -1, -1, "the reading process did not answer in 10 s")
        with pytest.raises(OSError, match=f"not read as uid {ALICE}: the reading process did not"):
            readers.read(alice, "/etc/pip.conf")
        assert readers.exists(alice, "/etc") is None


@ROOT_ONLY
def test_a_directory_is_opened_by_the_account_and_handed_over(tree: Tree):
    tree.user("alice", ALICE)
    bob = tree.user("bob", BOB)
    (bob / "envs" / "ml").mkdir(parents=True)
    (bob / "private" / "envs").mkdir(parents=True)
    (bob / "private").chmod(0o700)
    (bob / "link").symlink_to("/home/bob/envs")
    tree.write("/home/bob/file", "x")
    for p in (bob / "envs", bob / "envs" / "ml", bob / "private", bob / "private" / "envs"):
        os.chown(p, BOB, BOB)
    alice, bob_ = Identity(ALICE, ALICE), Identity(BOB, BOB)
    with Readers.of(Machine(root=str(tree.root))) as readers:
        opened = readers.open_dir(alice, "/home/bob/link")  # followed, as her conda would
        try:
            assert opened.path == "/home/bob/envs"
            assert os.listdir(opened.fd) == ["ml"]
            assert os.path.samestat(opened.st, os.stat(bob / "envs"))
        finally:
            os.close(opened.fd)
        with pytest.raises(safefs.Denied) as denied:
            readers.open_dir(alice, "/home/bob/private")  # there, but not hers to list
        assert denied.value.seen
        with pytest.raises(safefs.Denied) as denied:
            readers.open_dir(alice, "/home/bob/private/envs")  # behind it: she cannot tell
        assert not denied.value.seen
        with pytest.raises(safefs.NotFound):
            readers.open_dir(alice, "/home/bob/gone")
        with pytest.raises(safefs.UnsafePath, match="not a directory"):
            readers.open_dir(alice, "/home/bob/file")
        os.close(readers.open_dir(bob_, "/home/bob/private/envs").fd)  # bob's own
        os.close(readers.open_dir(Identity(0, 0), "/home/bob/private/envs").fd)  # root's
        assert set(readers.children) == {alice, bob_}


def test_read_file_and_lexists_as_ourselves(tree: Tree):
    tree.write("/etc/pip.conf", "x")
    anchor = safefs.open_anchor(str(tree.root))
    try:
        assert readas.read_file(anchor, "/etc/pip.conf") == b"x"
        assert readas.read_file(anchor, "/etc/none.conf") is None
        assert readas.lexists(anchor, "/etc/pip.conf") is True
        assert readas.lexists(anchor, "/etc/none/deeper") is False
        assert readas.lexists(anchor, "relative/path") is None
        assert readas.lexists(anchor, "/") is True
    finally:
        os.close(anchor)


@ROOT_ONLY
def test_only_roots_and_the_accounts_own_links_can_make_a_path_look_gone(tree: Tree):
    link = tree.host("/srv/bobs")
    link.parent.mkdir()
    link.symlink_to("/nowhere")
    os.lchown(link, BOB, BOB)
    with Readers.of(Machine(root=str(tree.root))) as readers:
        assert readers.exists(Identity(ALICE, ALICE), "/srv/bobs/venv") is None  # not "gone"
        assert readers.exists(Identity(BOB, BOB), "/srv/bobs/venv") is False
        assert readers.exists(Identity(ALICE, ALICE), "/srv/bobs") is True  # the link is there
