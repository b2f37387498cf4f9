"""Moving a cache's files by name, never copying them: into a run's quarantine beside the cache
(a clean) and back (a restore), done by a child that has already dropped to the cache's owner.

A move is a hard link of the name (a link itself, never followed) into a directory this child made
fresh, then the unlink of the old name: unlike rename(2) it can never replace what is at the target
(the link fails), and across filesystems it fails instead of copying. Every directory is opened with
``O_NOFOLLOW`` and must be the owner's and on the cache's filesystem.
"""

from __future__ import annotations

import errno
import os
import stat
from collections.abc import Sequence
from typing import Optional

from fleetcache.clean.guard import Refused
from fleetcache.model import QUARANTINE_DIR as QUARANTINE

# outcomes of one file, as the deleting child reports them
DELETED = "deleted"
GONE = "already gone"
QUARANTINED = "quarantined"
RESTORED = "restored"
TAKEN = "something new is in its place; kept in the quarantine"
DIR_FLAGS = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC


class Missing(Refused):
    """The directory is not there."""


def place(cache: str, run_id: str) -> str:
    """Where a run's quarantine of this cache lies: ``<parent>/.fleetcache-quarantine/<run>/<name>``."""
    parent, name = os.path.split(cache.rstrip("/"))
    return os.path.join(parent, QUARANTINE, run_id, name)


def open_dir(parent_fd: int, name: str, device: int, make: Optional[int] = None,
             fresh: bool = False) -> int:  # fmt: skip
    """A directory below ``parent_fd`` (made with mode ``make`` first when given; ``fresh``: it
    must not have been there), no link followed, this process's own, on ``device``; raises Refused."""
    if make is not None:
        try:
            os.mkdir(name, make, dir_fd=parent_fd)
        except FileExistsError:
            if fresh:
                raise Refused(f"{name}: already there; not used") from None
        except OSError as exc:
            raise Refused(f"{name}: cannot be made: {exc.strerror}") from None
    try:
        fd = os.open(name, DIR_FLAGS, dir_fd=parent_fd)
    except OSError as exc:
        if exc.errno in (errno.ELOOP, errno.ENOTDIR):
            raise Refused(f"{name}: a link or not a directory; not followed") from None
        if exc.errno == errno.ENOENT:
            raise Missing(f"{name}: not there") from None
        raise Refused(f"{name}: {exc.strerror}") from None
    st = os.fstat(fd)
    why = None
    if st.st_uid != os.geteuid():
        why = f"{name}: belongs to uid {st.st_uid}; not used"
    elif st.st_dev != device:
        why = f"{name}: on another filesystem; not used"
    if why is not None:
        os.close(fd)
        raise Refused(why)
    return fd


def move(src_fd: int, dst_fd: int, name: str, ino: Optional[int], done: str) -> str:
    """Move ``name`` from one directory to the other, replacing nothing; ``ino``: what it must
    still be (None: whatever it is). ``done`` when moved, else why not."""
    try:
        os.link(name, name, src_dir_fd=src_fd, dst_dir_fd=dst_fd, follow_symlinks=False)
    except FileNotFoundError:
        return GONE
    except FileExistsError:
        return TAKEN if done == RESTORED else "already in the quarantine; left"
    except OSError as exc:
        return exc.strerror or str(exc)
    st = os.stat(name, dir_fd=dst_fd, follow_symlinks=False)
    if ino is not None and st.st_ino != ino:  # swapped between the check and the link
        os.unlink(name, dir_fd=dst_fd)
        return "replaced since the plan; left"
    try:
        os.unlink(name, dir_fd=src_fd)
    except OSError as exc:
        os.unlink(name, dir_fd=dst_fd)  # it stays where it was, under one name
        return GONE if exc.errno == errno.ENOENT else exc.strerror or str(exc)
    return done


def _private(fd: int) -> int:
    """``fd`` when no one but its owner may enter the directory; else Refused."""
    if stat.S_IMODE(os.fstat(fd).st_mode) & 0o077:
        os.close(fd)
        raise Refused("open to others; not used")
    return fd


class Into:
    """The deleting child's quarantine of one cache: the run's directory, made fresh beside the
    cache, and in it the cache's directories, made as each is first needed."""

    def __init__(self, parent_fd: int, name: str, run_id: str, device: int) -> None:
        self.parent_fd = parent_fd
        self.name = name
        self.run_id = run_id
        self.device = device
        self.stack: list[tuple[tuple[str, ...], int]] = []
        self.made: dict[tuple[str, ...], int] = {}  # what this child made: (relative) -> inode

    def open(self) -> None:
        """Make ``.fleetcache-quarantine/<run>/<cache name>``; raises Refused (nothing moved)."""
        os.umask(0)  # the modes given are the modes made: a restore gives the cache's back
        st = os.fstat(self.parent_fd)
        if st.st_uid != os.geteuid() or st.st_dev != self.device:
            raise Refused("the cache's parent is no longer its owner's")
        top = _private(open_dir(self.parent_fd, QUARANTINE, self.device, make=0o700))
        try:  # the run's may be there: this run's other caches in the same parent made it
            run = _private(open_dir(top, self.run_id, self.device, make=0o700))
        finally:
            os.close(top)
        try:
            fd = open_dir(run, self.name, self.device, make=0o700, fresh=True)
        finally:
            os.close(run)
        self.stack = [((), fd)]
        self.made[()] = os.fstat(fd).st_ino

    def enter(
        self, parts: tuple[str, ...], source: Sequence[tuple[tuple[str, ...], int]]
    ) -> tuple[Optional[int], Optional[str]]:
        """The quarantine's directory for the cache's ``parts`` (``source``: the cache's open
        directories down to it, whose modes the new ones get); or why not."""
        common = 0
        for (held, _), _ in zip(self.stack[1:], parts):
            if held != parts[: len(held)]:
                break
            common += 1
        while len(self.stack) > common + 1:
            os.close(self.stack.pop()[1])
        modes = {p: os.fstat(fd).st_mode for p, fd in source}
        while len(self.stack) - 1 < len(parts):
            here = parts[: len(self.stack)]
            made = self.made.get(here)
            mode = None if made is not None else stat.S_IMODE(modes.get(here, 0o700)) | 0o700
            try:
                fd = open_dir(self.stack[-1][1], here[-1], self.device, make=mode, fresh=True)
            except Refused as exc:
                return None, f"quarantine: {'/'.join(here)}: {exc}"
            ino = os.fstat(fd).st_ino
            if made is not None and ino != made:
                os.close(fd)
                return None, f"quarantine: {'/'.join(here)}: replaced; not used"
            self.made[here] = ino
            self.stack.append((here, fd))
        return self.stack[-1][1], None

    def close(self) -> None:
        """Close what is held."""
        while self.stack:
            os.close(self.stack.pop()[1])
