"""The policy file read as root's own: one that another account may write is refused, since
whoever writes the policy decides what root deletes."""

from __future__ import annotations

import os
import stat
from typing import Optional

LIMIT = 1 << 20  # a policy larger than this is no policy
MISSING = 'write one as README\'s "Policy" shows, or name another with --policy FILE'


class PolicyFileError(Exception):
    """A policy file that cannot be used: every problem, one line each (file, line, key)."""

    def __init__(self, errors: list[str]) -> None:
        super().__init__("\n".join(errors))
        self.errors = errors


def read(path: str, euid: int) -> str:
    """The text of the policy file at ``path``; raises PolicyFileError when it is missing,
    unreadable, too large, not UTF-8, or when anyone but root (and the account running
    fleetcache, when it is not root) could have written it or a directory above it."""
    owners = {0} if euid == 0 else {0, euid}
    full = os.path.abspath(path)
    for where in (full, os.path.realpath(full)):  # the name as given, and what it leads to
        _check_dirs(path, os.path.dirname(where), owners)
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0))
    except FileNotFoundError as exc:  # the first thing a new admin meets: say what to do
        raise PolicyFileError([f"{path}: cannot read: {exc.strerror} ({MISSING})"]) from None
    except OSError as exc:
        raise PolicyFileError([f"{path}: cannot read: {exc.strerror}"]) from None
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            raise PolicyFileError([f"{path}: not a regular file"])
        _check_writers(path, "it", st, owners)
        if st.st_size > LIMIT:
            raise PolicyFileError([f"{path}: too large ({st.st_size} bytes; at most {LIMIT})"])
        data = os.read(fd, LIMIT + 1)
    except OSError as exc:
        raise PolicyFileError([f"{path}: cannot read: {exc.strerror}"]) from None
    finally:
        os.close(fd)
    if len(data) > LIMIT:
        raise PolicyFileError([f"{path}: too large (more than {LIMIT} bytes)"])
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise PolicyFileError([f"{path}: not UTF-8 text (byte {exc.start})"]) from None


def _check_dirs(path: str, top: str, owners: set[int]) -> None:
    """Every directory from ``top`` up to / must be one only the owners may change (a sticky
    directory such as /tmp lets nobody replace another's file)."""
    here = top
    while True:
        try:
            st: Optional[os.stat_result] = os.lstat(here)
        except FileNotFoundError:  # the open says the file is missing
            st = None
        except OSError as exc:
            raise PolicyFileError([f"{path}: cannot read {here}: {exc.strerror}"]) from None
        if st is not None and not stat.S_ISLNK(st.st_mode):
            _check_writers(path, here, st, owners, sticky_ok=True)
        parent = os.path.dirname(here)
        if parent == here:
            return
        here = parent


def _check_writers(
    path: str, what: str, st: os.stat_result, owners: set[int], sticky_ok: bool = False
) -> None:
    if st.st_uid not in owners:
        raise PolicyFileError(
            [f"{path}: refused: {what} belongs to uid {st.st_uid}; a policy must be root's"]
        )
    if st.st_mode & 0o022 and not (sticky_ok and st.st_mode & stat.S_ISVTX):
        raise PolicyFileError(
            [f"{path}: refused: {what} may be written by group or others (mode "
             f"{stat.S_IMODE(st.st_mode):o}); a policy must be root's alone"]
        )  # fmt: skip
