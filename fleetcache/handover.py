"""Handing an open directory from a child dropped to an account to root (``SCM_RIGHTS``): what
root then looks at is what the account itself opened, never a path it could have lied about."""

from __future__ import annotations

import array
import fcntl
import os
import socket
import stat

# Linux: a descriptor received is not inherited by what this process starts next
CLOEXEC_FLAG = getattr(socket, "MSG_CMSG_CLOEXEC", 0)
INT = array.array("i").itemsize


class Garbage(Exception):
    """What came over the socket was not one directory opened to be listed."""


def pair() -> tuple[int, int]:
    """Both ends of a new channel, as plain descriptors (no socket object crosses a fork)."""
    ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
    return ours.detach(), theirs.detach()


def send(channel: socket.socket, fd: int) -> None:
    """Send one descriptor (the child's side)."""
    channel.sendmsg([b"."], [(socket.SOL_SOCKET, socket.SCM_RIGHTS, array.array("i", [fd]))])


def receive(channel: socket.socket) -> int:
    """The one descriptor waiting on ``channel`` (call once it is readable); raises OSError
    when the other side is gone, :class:`Garbage` when it sent anything but one directory
    opened to be read."""
    _, ancillary, flags, _ = channel.recvmsg(1, socket.CMSG_SPACE(INT), CLOEXEC_FLAG)
    fds = array.array("i")
    for level, kind, data in ancillary:
        if (level, kind) == (socket.SOL_SOCKET, socket.SCM_RIGHTS):
            fds.frombytes(data[: len(data) - len(data) % INT])
    if len(fds) == 1 and not flags & socket.MSG_CTRUNC and listable_dir(fds[0]):
        os.set_inheritable(fds[0], False)  # where MSG_CMSG_CLOEXEC is missing
        return fds[0]
    for fd in fds:
        os.close(fd)
    raise Garbage("not one directory")


def listable_dir(fd: int) -> bool:
    """Whether a descriptor is a directory opened to be read (not one opened only to be passed
    through, which may be all the account could do)."""
    try:
        st = os.fstat(fd)
        flags = fcntl.fcntl(fd, fcntl.F_GETFL)
    except OSError:
        return False
    return stat.S_ISDIR(st.st_mode) and not flags & getattr(os, "O_PATH", 0)
