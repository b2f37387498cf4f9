"""The two halves of each http-v2 entry in one directory, paired as its listing streams by."""

from __future__ import annotations

import os
import stat

# halves remembered per directory while waiting for their other half; pip writes a few entries
# per directory, so only a directory someone made wide ever reaches this
MAX_UNPAIRED = 10_000


class Pairs:
    """Pairs each metadata file ``KEY`` with its body ``KEY.body``, in bounded memory.

    A half is remembered until its other half is listed. Past ``limit`` remembered halves, for
    the rest of the listing the other half of each name is looked up in the directory instead:
    memory stays the same whatever the directory's width, and each entry is counted once (at its
    metadata half), each orphan half once.
    """

    __slots__ = ("dir_fd", "entries", "limit", "orphan_bytes", "orphan_files", "unpaired", "wide")

    def __init__(self, dir_fd: int, limit: int = MAX_UNPAIRED) -> None:
        self.dir_fd = dir_fd
        self.limit = limit
        self.entries = 0  # both halves listed
        self.orphan_files = self.orphan_bytes = 0  # halves whose other half is not there
        # name -> size: a half whose other half is not listed yet
        self.unpaired: dict[str, int] = {}
        self.wide = False

    def add(self, name: str, size: int) -> None:
        """One listed file that is not a ``*.tmp`` leftover."""
        body = name.endswith(".body")
        other = name[:-5] if body else name + ".body"
        if body and other.endswith((".body", ".tmp")):
            self._orphan(size)  # no metadata file has that name: it never pairs
        elif other in self.unpaired:
            del self.unpaired[other]
            self.entries += 1
        elif not self.wide and len(self.unpaired) < self.limit:
            self.unpaired[name] = size
        else:
            self.wide = True
            if not self._listed(other):
                self._orphan(size)
            elif not body:
                self.entries += 1

    def done(self) -> None:
        """The listing is over: the halves still waiting are orphans."""
        for size in self.unpaired.values():
            self._orphan(size)
        self.unpaired.clear()

    def _orphan(self, size: int) -> None:
        self.orphan_files += 1
        self.orphan_bytes += size

    def _listed(self, name: str) -> bool:
        """Whether the directory holds a file (anything but a directory) of that name."""
        try:
            st = os.stat(name, dir_fd=self.dir_fd, follow_symlinks=False)
        except OSError:
            return False
        return not stat.S_ISDIR(st.st_mode)
