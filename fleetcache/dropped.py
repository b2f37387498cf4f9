"""Work done for an account in a child process that has dropped to it for good: the one way
fleetcache acts as someone else (deleting a cache, reading config files, running an interpreter).

The child closes every descriptor it was not given, points stdin/out/err at /dev/null, drops
groups, gid and uid, checks that root cannot come back and no capability is left, and only
then does its work; it tells the parent through a pipe, in JSON lines the parent checks.
"""

from __future__ import annotations

import contextlib
import ctypes
import json
import os
import signal
import sys
import time
from collections.abc import Collection, Sequence
from dataclasses import dataclass
from typing import Callable

from fleetcache import interrupts
from fleetcache.machine import Machine
from fleetcache.model import Account

NOBODY = 65534  # nobody and nogroup, where the account database has no nobody
CAPABILITY_SETS = (b"CapPrm", b"CapEff", b"CapAmb")


class DropFailed(Exception):
    """The child could not become the account, or could become root again."""


@dataclass(frozen=True)
class Identity:
    """Who a child becomes."""

    uid: int
    gid: int
    groups: tuple[int, ...] = ()


def identities(machine: Machine, accounts: Sequence[Account]) -> Callable[[int], Identity]:
    """uid -> who acting as that uid means: its account's gid and groups; a uid without an
    account gets nobody's group and no other."""
    by_uid: dict[int, Account] = {}
    for account in accounts:
        by_uid.setdefault(account.uid, account)

    def who(uid: int) -> Identity:
        account = by_uid.get(uid)
        if account is None:
            return Identity(uid, nobody(machine, accounts).gid)
        return identity(machine, account)

    return who


def identity(machine: Machine, account: Account) -> Identity:
    """Who a process of the account is: its uid, gid and groups."""
    return Identity(account.uid, account.gid, machine.groups_of(account))


def nobody(machine: Machine, accounts: Sequence[Account]) -> Identity:
    """The account that owns nothing: what a root-owned environment's interpreter runs as."""
    for account in accounts:
        if account.name == "nobody" and account.uid != 0:
            return identity(machine, account)
    return Identity(NOBODY, NOBODY)


def drop_to(who: Identity) -> None:
    """Become ``who`` for good: groups, then gid, then uid, then check root cannot come back."""
    if os.geteuid() != 0:
        if os.geteuid() != who.uid:
            raise DropFailed(f"uid {os.geteuid()} cannot act as uid {who.uid}")
        return
    if who.uid == 0:
        return  # root's own: nothing to drop
    os.setgroups(list(who.groups))
    if hasattr(os, "setresgid"):
        os.setresgid(who.gid, who.gid, who.gid)
        os.setresuid(who.uid, who.uid, who.uid)
    else:  # macOS: setuid as root sets all three
        os.setgid(who.gid)
        os.setuid(who.uid)
    try:
        os.setuid(0)
    except PermissionError:
        pass
    else:
        raise DropFailed("could become root again after dropping privileges")
    if (os.getuid(), os.geteuid(), os.getgid(), os.getegid()) != (
        who.uid,
        who.uid,
        who.gid,
        who.gid,
    ):
        raise DropFailed("the uid or gid did not change as asked")
    if set(os.getgroups()) - {who.gid, *who.groups}:
        raise DropFailed("supplementary groups remain")
    left = _capabilities()
    if left:
        raise DropFailed(f"capabilities remain after dropping root ({left})")


def _capabilities() -> str:
    """The capability sets that are not empty (Linux: permitted, effective, ambient), or why they
    cannot be read; "" when none remain. Binary reads only: after the drop the child may not be
    able to import anything (a codec lookup included)."""
    if not sys.platform.startswith("linux"):
        return ""
    try:
        fd = os.open("/proc/self/status", os.O_RDONLY | os.O_CLOEXEC)
    except OSError:
        return "/proc/self/status cannot be read"
    try:
        data = os.read(fd, 1 << 16)
    finally:
        os.close(fd)
    seen = {}
    for line in data.splitlines():
        name, _, value = line.partition(b":")
        if name in CAPABILITY_SETS:
            seen[name] = int(value.strip() or b"0", 16)
    if len(seen) != len(CAPABILITY_SETS):
        return "/proc/self/status does not list the capability sets"
    return ", ".join(n.decode("ascii") for n in CAPABILITY_SETS if seen[n])


def start(
    who: Identity,
    work: Callable[[int], None],
    keep: Collection[int] = (),
    refused: str = "refused",
    on_interrupt: signal.Handlers = signal.SIG_DFL,
) -> tuple[int, int]:
    """Fork a child that drops to ``who`` and runs ``work(out)``, ``out`` the write end of a
    pipe; (its pid, the read end). A child that cannot drop writes ``["error", "<refused>: why"]``
    and does nothing else. ``keep``: descriptors the work needs besides ``out``;
    ``on_interrupt``: what a Ctrl-C does to it (by default it ends quietly; ``SIG_IGN``: its
    parent stops it)."""
    read_fd, write_fd = os.pipe()
    sys.stdout.flush()
    sys.stderr.flush()
    held = interrupts.hold()  # until the child has made a Ctrl-C end it quietly
    try:
        pid = os.fork()
        if pid == 0:  # the child: never returns
            os.close(read_fd)
            _child(who, work, write_fd, keep, refused, on_interrupt)
    except OSError:
        os.close(read_fd)
        os.close(write_fd)
        raise
    finally:
        interrupts.release(held)
    os.close(write_fd)
    return pid, read_fd


def _child(
    who: Identity,
    work: Callable[[int], None],
    out: int,
    keep: Collection[int],
    refused: str,
    on_interrupt: signal.Handlers,
) -> None:
    status = 0
    try:
        signal.signal(signal.SIGPIPE, signal.SIG_DFL)
        interrupts.let_in(on_interrupt)
        null = os.open(os.devnull, os.O_RDWR)
        for std in (0, 1, 2):  # no descriptor of root's stays open in the account's process
            if std != null:
                os.dup2(null, std)
        close_all_but(*keep, out)
        arm = _parent_death_signal()
        drop_to(who)
        arm()
        work(out)
    except DropFailed as exc:
        write_all(out, json.dumps(["error", f"{refused}: {exc}"]).encode() + b"\n")
        status = 2
    except BaseException as exc:  # the child must end here, whatever happens
        with contextlib.suppress(OSError):
            write_all(out, json.dumps(["error", f"stopped: {exc!r}"]).encode() + b"\n")
        status = 1
    os._exit(status)


def reap(pid: int, patience: float = 5.0, grace: float = 0.0) -> bool:
    """Wait for a child, ``grace`` seconds for it to end by itself, then kill it and wait at most
    ``patience`` seconds more (one stuck in the kernel is left); whether it was reaped."""
    if _waited(pid, time.monotonic() + grace):
        return True
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGKILL)
    return _waited(pid, time.monotonic() + patience)


def _waited(pid: int, until: float) -> bool:
    pause = 0.0005
    while True:
        try:
            done, _ = os.waitpid(pid, os.WNOHANG)
        except ChildProcessError:
            return True
        if done:
            return True
        if time.monotonic() >= until:
            return False
        time.sleep(pause)
        pause = min(pause * 2, 0.01)


def close_all_but(*keep: int) -> None:
    """Close every inherited descriptor but stdin/out/err and ``keep``."""
    top = os.sysconf("SC_OPEN_MAX") if hasattr(os, "sysconf") else 1024
    low = 3
    for fd in sorted(keep):
        os.closerange(low, fd)
        low = fd + 1
    os.closerange(low, max(low, top))


def write_all(fd: int, data: bytes) -> None:
    """Write all of ``data`` to a pipe."""
    while data:
        data = data[os.write(fd, data) :]


def no_new_privileges() -> None:
    """Linux: nothing this process executes gains privileges (no set-uid, no file capabilities)."""
    prctl = _prctl()
    if prctl is not None:
        prctl(38, 1, 0, 0, 0)  # PR_SET_NO_NEW_PRIVS


def _prctl() -> Callable[..., int] | None:
    if not sys.platform.startswith("linux"):
        return None
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        prctl: Callable[..., int] = libc.prctl
    except (OSError, AttributeError):
        return None
    return prctl


def _parent_death_signal() -> Callable[[], None]:
    """Linux: a function that has the child killed when the parent dies (a killed fleetcache
    leaves nothing acting for it). Made before the drop (the library is loaded then), called
    after it (a change of credentials clears the setting)."""
    prctl = _prctl()
    if prctl is None:
        return lambda: None
    parent = os.getppid()

    def arm() -> None:
        prctl(1, signal.SIGKILL, 0, 0, 0)  # PR_SET_PDEATHSIG
        if os.getppid() != parent:
            os._exit(1)  # the parent is already gone

    return arm
