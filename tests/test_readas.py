"""Reading as an account: one child per account, dropped to it, judged by the kernel; and root's
side of that child's pipe: the child runs as the account, who may have taken it over, so each
answer is checked, and a child that says anything else, or nothing in time, is killed."""

from __future__ import annotations

import base64
import json
import os
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from typing import Any

import pytest

from fleetcache import readas, safefs
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
    ],
)
def test_anything_else_is_garbage_and_the_child_is_killed(children, op, line):
    c = says(children, ["ready"], line)
    assert c.ask(op, "/etc/pip.conf") is None
    assert c.broken == GARBAGE
    assert children[-1][1].poll() is not None  # killed (and reaped)
    assert c.ask(op, "/etc/pip.conf") is None  # and never asked again


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
