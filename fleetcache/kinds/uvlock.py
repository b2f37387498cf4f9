"""uv's lock: every uv process holds a shared flock on ``<cache>/.lock`` while it uses the cache,
and `uv cache clean` takes it exclusive. fleetcache joins that protocol without ever waiting,
creating the file, following a link there or opening anything but a regular file."""

from __future__ import annotations

import contextlib
import errno
import fcntl
import os
import stat
from collections.abc import Iterator
from typing import Optional

from fleetcache import safefs

LOCK = ".lock"
HOLDS = "holds uv's lock"
PROC_LOCKS = "/proc/locks"


def _open(cache_fd: int) -> Optional[int]:
    """The cache's lock file, opened by root without waiting; None when there is no regular
    file there (a link, a FIFO or a device is never opened, a missing one never created), or
    it is a hard link to a file of another account's (a root file, say: never locked)."""
    try:
        st = os.stat(LOCK, dir_fd=cache_fd, follow_symlinks=False)
        if not stat.S_ISREG(st.st_mode):
            return None
        if st.st_nlink > 1 and st.st_uid != os.fstat(cache_fd).st_uid:
            return None
        fd = os.open(LOCK, safefs.O_FILE, dir_fd=cache_fd)
    except OSError:
        return None
    seen = os.fstat(fd)
    if not stat.S_ISREG(seen.st_mode) or (seen.st_dev, seen.st_ino) != (st.st_dev, st.st_ino):
        os.close(fd)  # replaced between the look and the open
        return None
    return fd


def _try(fd: int) -> bool:
    """Whether the exclusive lock was taken (without waiting)."""
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError as exc:
        if exc.errno in (errno.EWOULDBLOCK, errno.EAGAIN):
            return False
        raise
    return True


def holders(cache_fd: int) -> Optional[list[int]]:
    """None when no uv holds the cache's lock; else the pids /proc/locks names (maybe none)."""
    fd = _open(cache_fd)
    if fd is None:
        return None
    try:
        if _try(fd):
            return None  # released with the descriptor, at once
        st = os.fstat(fd)
    finally:
        os.close(fd)
    return pids_locking(st.st_dev, st.st_ino)


def pids_locking(device: int, inode: int, table: str = PROC_LOCKS) -> list[int]:
    """The pids /proc/locks says hold a lock on this inode (empty when it cannot be read)."""
    key = f"{os.major(device):02x}:{os.minor(device):02x}:{inode}"
    out: list[int] = []
    try:
        with open(table, encoding="ascii", errors="replace") as f:
            for line in f:
                fields = line.split()
                if "->" in fields:  # a waiter: "1: -> FLOCK ..."
                    continue
                if len(fields) >= 6 and fields[5] == key and fields[4].isdigit():
                    out.append(int(fields[4]))
    except OSError:
        return []
    return sorted(set(out))


@contextlib.contextmanager
def exclusive(cache_fd: int) -> Iterator[Optional[str]]:
    """uv's lock held exclusive while a clean deletes (None), or why it cannot be: a uv uses
    the cache. Never waits, never forces; no regular lock file: nothing to hold."""
    fd = _open(cache_fd)
    if fd is None:
        yield None
        return
    try:
        if not _try(fd):
            yield f"a uv process {HOLDS} (it uses the cache)"
            return
        yield None
    finally:
        os.close(fd)  # the lock goes with it
