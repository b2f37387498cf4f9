"""When a cache's entry was last used: its access time where the cache's filesystem records one
(relatime, strictatime), else its modification time (noatime; or where it cannot be told)."""

from __future__ import annotations

import os
import stat

ATIME = "atime"
MTIME = "mtime"
# Linux's statvfs flag for a noatime mount (relatime and strictatime record access times)
_ST_NOATIME = getattr(os, "ST_NOATIME", 0)


def basis(fd: int) -> str:
    """What the filesystem of the opened ``fd`` lets a last use be read from: ATIME or MTIME."""
    if not _ST_NOATIME:  # no flag to read it from (not Linux): download time, as pip's mtime
        return MTIME
    try:
        flags = os.fstatvfs(fd).f_flag
    except OSError:
        return MTIME
    return MTIME if flags & _ST_NOATIME else ATIME


def used(st: os.stat_result, atime: bool) -> float:
    """A file's last use: the later of its access and modification times with ``atime`` (a
    write is a use, and the kernel may leave atime behind mtime), else its modification time.
    A symbolic link's is its mtime: reading one moves its access time, and no flag keeps a
    readlink (fleetcache's own too: uv's pointers are links) from doing so."""
    if atime and not stat.S_ISLNK(st.st_mode):
        return max(st.st_atime, st.st_mtime)
    return st.st_mtime
