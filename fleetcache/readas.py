"""Reading files as an account would: the kernel judges with the account's uid, gid and groups,
in a child dropped to it (one per account, asked over a pipe), never root guessing from mode bits.

Where fleetcache runs as that account, or is not root, it reads in this process, as itself. Paths
are machine paths, resolved inside the machine's root. A file is read as the account's pip reads
it: links followed whoever made them (the kernel decides whether the account may). A directory
the account opens is handed over as its descriptor (``SCM_RIGHTS``), so what this process then
looks at is what the account itself opened. The child runs as the account, who may have taken
it over: each answer is checked and bounded, and a child that says anything else, or says
nothing in time, is killed and its account's files count as not read.
"""

from __future__ import annotations

import base64
import binascii
import json
import os
import select
import socket
import time
from collections.abc import Iterable, Sequence
from typing import Any, Optional

from fleetcache import dropped, handover, safefs
from fleetcache.dropped import Identity
from fleetcache.machine import Machine

LIMIT = 1 << 20  # a config file larger than this is not read
TIMEOUT = 10.0  # seconds one answer may take (a hung network filesystem, a FUSE mount of theirs)
MAX_LINE = LIMIT * 4 // 3 + 1024  # the longest answer: a file of LIMIT bytes in base64
ANSWERS = {
    "read": ("none", "unreadable", "data", "error"),
    "exists": ("yes", "no", "unknown", "over"),
    "open": ("dir", "none", "hidden", "unreadable", "error"),
}


class Unreadable(PermissionError):
    """A file the account sees but may not read (pip passes such a config file over)."""


def read_file(anchor: int, path: str) -> Optional[bytes]:
    """A file's bytes as a process of ours reads them, links followed; None when it cannot see
    it; raises Unreadable when it sees it but may not read it, OSError when it is no small
    regular file."""
    try:
        got = safefs.read_small_file(anchor, path, trusted_links=safefs.ANYONE, limit=LIMIT)
    except safefs.Denied as exc:
        if exc.seen:
            raise Unreadable(str(exc)) from None
        return None  # pip's os.path.exists says False: as absent
    except safefs.UnsafePath as exc:
        raise OSError(str(exc)) from None
    return None if got is None else got[0]


def lexists(anchor: int, path: str, budget: Optional[safefs.LinkBudget] = None) -> Optional[bool]:
    """Whether a path is there as a process of ours sees it (the last component not followed);
    None when it cannot tell. Only root's links and ours are followed on the way: another
    account's link could make a path look gone, and what is gone may be deleted."""
    if not path.startswith("/"):
        return None
    parent, _, name = path.rstrip("/").rpartition("/")
    if not name:
        return True  # the root itself
    ours = {0, os.geteuid()} if hasattr(os, "geteuid") else {0}
    try:
        opened = safefs.open_path(
            anchor, parent or "/", trusted_links=ours, follow_last=True, search=True, budget=budget
        )
    except safefs.NotFound:
        return False
    except safefs.UnsafePath:
        return None
    try:
        os.stat(name, dir_fd=opened.fd, follow_symlinks=False)
    except FileNotFoundError:
        return False
    except (OSError, ValueError):
        return None
    finally:
        os.close(opened.fd)
    return True


def open_dir(anchor: int, path: str) -> tuple[list[str], Optional[int]]:
    """A directory opened to be listed as a process of ours opens it, links followed whoever made
    them (the kernel decides whether we may): the answer ``["dir", where it really is]`` with its
    descriptor, or ``["none"]`` (not there), ``["hidden"]`` (behind a directory we may not
    search), ``["unreadable"]`` (there, but we may not list it), ``["error", why]``."""
    try:
        opened = safefs.open_path(anchor, path, trusted_links=safefs.ANYONE, follow_last=True)
    except safefs.NotFound:
        return ["none"], None
    except safefs.Denied as exc:
        return ["unreadable" if exc.seen else "hidden"], None
    except safefs.UnsafePath as exc:
        return ["error", str(exc)], None
    return ["dir", opened.path], opened.fd


def answer(anchor: int, request: Sequence[Any]) -> list[Any]:
    """The answer to ``["read", path]`` or ``["exists", path, steps]``, as a line of the protocol
    (``steps``: how much link resolution it may cost; the answer says how much it did, or
    ``over``)."""
    op, path = request[0], request[1]
    if op == "exists":
        budget = safefs.LinkBudget(int(request[2]))
        try:
            got = lexists(anchor, path, budget)
        except safefs.OverBudget:
            return ["over", budget.limit]
        used = budget.limit - budget.left
        return ["unknown" if got is None else "yes" if got else "no", used]
    if op == "read":
        try:
            data = read_file(anchor, path)
        except Unreadable:
            return ["unreadable"]
        except OSError as exc:
            return ["error", str(exc)]
        return ["none"] if data is None else ["data", base64.b64encode(data).decode("ascii")]
    return ["error", f"no such request: {op}"]


class Readers:
    """Reads machine paths as accounts would, a child per account, each asked once per path."""

    def __init__(self, anchor: int, owned: bool = False) -> None:
        self.anchor = anchor  # the machine's root; closed with the readers when ``owned``
        self.owned = owned
        self.children: dict[Identity, _Child] = {}
        self.known: dict[tuple[Identity, str, str], list[Any]] = {}

    @classmethod
    def of(cls, machine: Machine, anchor: Optional[int] = None) -> Readers:
        """Readers below ``anchor`` (by default the machine's root, opened here)."""
        if anchor is not None:
            return cls(anchor)
        return cls(safefs.open_anchor(machine.root), owned=True)

    def prepare(self, accounts: Iterable[Identity]) -> None:
        """Start the children of these accounts now, to start up side by side."""
        for who in accounts:
            if who not in self.children and not _ourselves(who):
                self.children[who] = _Child.start(self.anchor, who)

    def read(self, who: Identity, path: str) -> Optional[bytes]:
        """A file's bytes as the account reads them (see :func:`read_file`)."""
        got = self._ask(who, "read", path)
        if got[0] == "none":
            return None
        if got[0] == "unreadable":
            raise Unreadable(f"{path}: permission denied")
        if got[0] == "error":
            raise OSError(got[1][:1000])
        return base64.b64decode(got[1])

    def exists(
        self, who: Identity, path: str, budget: Optional[safefs.LinkBudget] = None
    ) -> Optional[bool]:
        """Whether the account sees the path there (see :func:`lexists`); the links on the way
        are charged to ``budget`` (:class:`safefs.OverBudget` once it runs out)."""
        left = safefs.LINK_BUDGET if budget is None else max(budget.left, 0)
        key = (who, "exists", path)
        got = self._ask(who, "exists", path, left)
        if got[0] == "over":  # not kept: with more left, it may yet be found out
            del self.known[key]
            if budget is not None:
                budget.spend(left + 1)
            return None
        if budget is not None and got[1]:
            budget.spend(got[1])
            self.known[key] = [got[0], 0]  # asked again, it costs nothing more
        return None if got[0] == "unknown" else got[0] == "yes"

    def open_dir(self, who: Identity, path: str) -> safefs.Opened:
        """A directory as the account opens it to list it, links followed as the kernel lets
        it: the descriptor the account opened (never reopened here by path), and where it
        really is. Raises :class:`safefs.NotFound`, :class:`safefs.Denied` or
        :class:`safefs.UnsafePath`, as :func:`safefs.open_path` does."""
        got, fd = open_dir(self.anchor, path) if _ourselves(who) else self._open_in(who, path)
        if fd is not None:
            return safefs.Opened(fd, got[1], os.fstat(fd))
        if got[0] == "none":
            raise safefs.NotFound(f"{path} does not exist")
        if got[0] == "error":
            raise safefs.UnsafePath(got[1][:1000])
        denied = f"{path}: permission denied to uid {who.uid}"
        raise safefs.Denied(denied, seen=got[0] == "unreadable")

    def _open_in(self, who: Identity, path: str) -> tuple[list[str], Optional[int]]:
        """Ask the account's child to open a directory (never cached: each gives a descriptor)."""
        self.prepare((who,))
        child = self.children[who]
        got = child.open_dir(path)
        return got or (["error", f"not read as uid {who.uid}: {child.broken}"], None)

    def _ask(self, who: Identity, op: str, path: str, *more: Any) -> list[Any]:
        key = (who, op, path)
        if key not in self.known:
            if _ourselves(who):
                self.known[key] = answer(self.anchor, (op, path, *more))
            else:
                self.prepare((who,))
                got = self.children[who].ask(op, path, *more)
                why = f"not read as uid {who.uid}: {self.children[who].broken}"
                self.known[key] = got or (["error", why] if op == "read" else ["unknown", 0])
        return self.known[key]

    def close(self) -> None:
        """End every child: all are told at once (they end when their requests end)."""
        for child in self.children.values():
            child.hang_up()
        for child in self.children.values():
            child.close()
        self.children.clear()
        if self.owned:
            os.close(self.anchor)
            self.owned = False

    def __enter__(self) -> Readers:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _ourselves(who: Identity) -> bool:
    """Whether reading as ``who`` is reading as this process: we are it, or we are not root
    (then we read as ourselves)."""
    return not hasattr(os, "geteuid") or os.geteuid() != 0 or who.uid == 0


class _Child:
    """One child dropped to one account, answering one request at a time: root's side of it."""

    def __init__(
        self,
        pid: int,
        requests: int,
        answers: int,
        broken: Optional[str] = None,
        channel: Optional[socket.socket] = None,
    ):
        self.pid = pid
        self.requests = requests  # we write requests here
        self.answers = answers  # and read its answers here
        self.channel = channel  # and receive the directories it opened here
        self.broken = broken  # why it answers no more
        self.buffer = b""
        self.ready = False  # it said it has dropped (it is not waited for until it is asked)

    def _wait_ready(self) -> None:
        first = self._receive()
        if first == ["ready"]:
            self.ready = True
        elif self.broken is None:
            error = first[1] if _valid(first, ("error",)) else "it sent garbage"
            self._fail(str(error)[:300])

    @classmethod
    def start(cls, anchor: int, who: Identity) -> _Child:
        """Fork a child that drops to ``who`` and answers questions about paths below ``anchor``."""
        theirs, ours = os.pipe()
        mine, given = handover.pair()
        try:
            pid, answers = dropped.start(
                who,
                lambda out: _serve(anchor, theirs, out, given),
                (anchor, theirs, given),
                "not read",
            )
        except OSError as exc:
            os.close(ours)
            os.close(mine)
            return cls(0, -1, -1, f"no process to read with: {exc.strerror}")
        finally:
            os.close(theirs)
            os.close(given)
        return cls(pid, ours, answers, channel=socket.socket(fileno=mine))

    def open_dir(self, path: str) -> Optional[tuple[list[str], Optional[int]]]:
        """The child's answer to ``["open", path]`` and the descriptor it handed over with a
        ``dir`` answer; None once it has failed."""
        got = self.ask("open", path)
        if got is None or got[0] != "dir":
            return None if got is None else (got, None)
        fd = self._receive_fd()
        return None if fd is None else (got, fd)

    def _receive_fd(self) -> Optional[int]:
        """The directory the child handed over; None (and it is killed) for anything else."""
        if self.channel is None:  # nothing to hand a directory over with: it said nonsense
            self._fail("the reading process sent garbage")
            return None
        if not select.select([self.channel], [], [], TIMEOUT)[0]:
            self._fail(f"the reading process did not answer in {TIMEOUT:g} s")
            return None
        try:
            return handover.receive(self.channel)
        except handover.Garbage:
            self._fail("the reading process sent garbage")
        except OSError:
            self._fail("the reading process is gone")
        return None

    def ask(self, op: str, path: str, *more: Any) -> Optional[list[Any]]:
        """The child's answer, checked; None once it has failed (``broken`` says how)."""
        if not self.ready and self.broken is None:
            self._wait_ready()
        if self.broken is not None:
            return None
        try:
            dropped.write_all(self.requests, json.dumps([op, path, *more]).encode() + b"\n")
        except OSError:
            self._fail("the reading process is gone")
            return None
        got = self._receive()
        if got is None:
            return None
        if not _valid(got, ANSWERS[op]):
            self._fail("the reading process sent garbage")
            return None
        return list(got)

    def _receive(self) -> Any:
        deadline = time.monotonic() + TIMEOUT
        while b"\n" not in self.buffer and self.broken is None:
            left = deadline - time.monotonic()
            if len(self.buffer) > MAX_LINE:
                self._fail("the reading process sent garbage")
            elif left <= 0 or not select.select([self.answers], [], [], left)[0]:
                self._fail(f"the reading process did not answer in {TIMEOUT:g} s")
            else:
                chunk = os.read(self.answers, 1 << 16)
                self.buffer += chunk
                if not chunk:
                    self._fail("the reading process ended")
        if self.broken is not None:
            return None
        line, self.buffer = self.buffer.split(b"\n", 1)
        try:
            return json.loads(line)
        except (ValueError, RecursionError):
            self._fail("the reading process sent garbage")
            return None

    def _fail(self, why: str) -> None:
        self.broken = why
        if self.pid:
            dropped.reap(self.pid)
            self.pid = 0

    def hang_up(self) -> None:
        """No more requests: the child ends."""
        if self.requests >= 0:
            os.close(self.requests)
            os.close(self.answers)
            self.requests = self.answers = -1
        if self.channel is not None:
            self.channel.close()
            self.channel = None

    def close(self) -> None:
        self.hang_up()
        if self.pid:
            dropped.reap(self.pid, grace=1.0)
            self.pid = 0


def _valid(got: Any, kinds: Sequence[str]) -> bool:
    """Whether an answer is one of ``kinds``, with what that kind carries."""
    if type(got) is not list or not got or got[0] not in kinds:
        return False
    if got[0] in ("error", "dir"):
        return len(got) == 2 and type(got[1]) is str and (got[0] == "error" or _absolute(got[1]))
    if got[0] in ANSWERS["exists"]:  # with the link steps it took
        return len(got) == 2 and type(got[1]) is int and 0 <= got[1] <= safefs.LINK_BUDGET
    if got[0] != "data":
        return len(got) == 1
    if len(got) != 2 or type(got[1]) is not str:
        return False
    try:
        return len(base64.b64decode(got[1], validate=True)) <= LIMIT
    except (binascii.Error, ValueError):
        return False


def _absolute(path: str) -> bool:
    return path.startswith("/")


def _serve(anchor: int, requests: int, out: int, given: int) -> None:
    """The child's work, as the account: answer each request line until the parent hangs up;
    a directory it opened goes over ``given`` before the answer that tells of it."""
    channel = socket.socket(fileno=given)
    dropped.write_all(out, b'["ready"]\n')
    pending = b""
    while True:
        while b"\n" not in pending:
            chunk = os.read(requests, 1 << 16)
            if not chunk:
                return
            pending += chunk
        line, pending = pending.split(b"\n", 1)
        request = json.loads(line)
        if request[0] == "open":
            got, fd = open_dir(anchor, request[1])
            if fd is not None:
                handover.send(channel, fd)
                os.close(fd)
        else:
            got = answer(anchor, request)
        dropped.write_all(out, json.dumps(got).encode() + b"\n")
