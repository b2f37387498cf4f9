"""How discovery reads the files and directories a record names: as root trusts them (records of
the system's), or only where the account whose record it is could read them itself."""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Optional, Protocol

from fleetcache import readas, safefs
from fleetcache.discovery import inspect as inspect_mod
from fleetcache.dropped import Identity


class Access(Protocol):
    """Reads records and opens the directories they name, on someone's behalf."""

    def read(self, path: str) -> Optional[bytes]:
        """A small file's bytes; None when absent; OSError (PermissionError) when not read."""

    def open_dir(self, path: str) -> safefs.Opened:
        """A directory to list and look into; raises as :func:`safefs.open_path` does."""

    def open_entry(self, parent: safefs.Opened, name: str) -> Optional[int]:
        """A directory inside an opened one (never a link), when it may be looked into."""


def names_in(access: Access, directory: str) -> list[str]:
    """The names in a directory as ``access`` opens it, in order (none when it cannot)."""
    try:
        opened = access.open_dir(directory)
    except safefs.UnsafePath:
        return []
    try:
        return sorted(inspect_mod.listdir(opened.fd))
    finally:
        os.close(opened.fd)


@dataclass(frozen=True)
class AsRoot:
    """Root's own view, for system-wide records: links followed only when ``trusted`` made them."""

    anchor: int
    trusted: frozenset[int] = frozenset({0})

    def read(self, path: str) -> Optional[bytes]:
        try:
            got = safefs.read_small_file(self.anchor, path, trusted_links=self.trusted)
        except safefs.UnsafePath as exc:
            raise OSError(str(exc)) from None
        return None if got is None else got[0]

    def open_dir(self, path: str) -> safefs.Opened:
        return safefs.open_path(self.anchor, path, trusted_links=self.trusted, follow_last=True)

    def open_entry(self, parent: safefs.Opened, name: str) -> Optional[int]:
        return _entry(parent, name)


@dataclass(frozen=True)
class AsAccount:
    """An account's view, for its own records: what it reads and opens itself (uid, gid and
    groups, judged by the kernel), as its conda would."""

    readers: readas.Readers
    who: Identity

    def read(self, path: str) -> Optional[bytes]:
        return self.readers.read(self.who, path)

    def open_dir(self, path: str) -> safefs.Opened:
        return self.readers.open_dir(self.who, path)

    def open_entry(self, parent: safefs.Opened, name: str) -> Optional[int]:
        """Its own directory is looked into (it could open it anyway); another's only when the
        account can open that very directory itself."""
        fd = _entry(parent, name)
        if fd is None:
            return None
        st = os.fstat(fd)
        if st.st_uid == self.who.uid:
            return fd
        os.close(fd)
        try:
            theirs = self.open_dir(f"{parent.path.rstrip('/')}/{name}")
        except safefs.UnsafePath:
            return None
        if (theirs.st.st_dev, theirs.st.st_ino) != (st.st_dev, st.st_ino):
            os.close(theirs.fd)
            return None
        return theirs.fd


def _entry(parent: safefs.Opened, name: str) -> Optional[int]:
    """A directory inside ``parent``, opened here without following a link."""
    try:
        return os.open(name, safefs.O_DIR, dir_fd=parent.fd)
    except OSError:
        return None
