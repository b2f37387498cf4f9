"""Which linked directories in a home its walk follows: the account's own data kept elsewhere.

Quota-limited machines link ``~/miniconda3``, ``~/.virtualenvs`` or ``~/.pyenv`` to ``/data``,
``/scratch`` or ``/software``. Such a link is followed when the link and every directory of its
target path belong to the account or to root, and the target is neither a system directory nor
below (or above) a home; each directory once (a link to what is walked anyway is passed over
silently), a bounded number per home. The rest is reported.
"""

from __future__ import annotations

import os
from collections.abc import Collection
from dataclasses import dataclass, field
from typing import Callable, Optional

from fleetcache import safefs

# never an account's own data, however a link names them (the system search covers /opt)
SYSTEM_DIRS = ("/bin", "/boot", "/dev", "/etc", "/lib", "/lib32", "/lib64", "/libx32", "/opt",
               "/proc", "/run", "/sbin", "/sys", "/usr", "/var", "/nonexistent")  # fmt: skip
MAX_FOLLOWED = 64  # linked directories one home's walk enters
MAX_LOOKED_AT = 1_000  # links one home's walk resolves (most lead to files: dotfiles)


@dataclass
class Links:
    """The linked directories one home walk has followed, and how many more it may."""

    anchor: int
    trusted: frozenset[int]  # root and the account
    homes: Collection[str]  # every account's home, as written and as really found
    # the directory as the account itself opens it (the kernel judges first: nothing it may not
    # see is looked at, nor named in a reason); None: no such gate (a walk of one's own)
    as_account: Optional[Callable[[str], safefs.Opened]] = None
    searched: list[str] = field(default_factory=list)  # real paths walked: the home, targets
    seen: set[tuple[int, int]] = field(default_factory=set)
    looked_at: int = 0
    followed: int = 0
    over: int = 0

    def start(self, opened: safefs.Opened) -> None:
        """The home itself: walked already, whatever links lead back to it."""
        self.searched.append(opened.path)
        self.seen.add((opened.st.st_dev, opened.st.st_ino))

    def follow(self, path: str, link: os.stat_result) -> tuple[Optional[safefs.Opened], str]:
        """The directory the link at ``path`` leads to, opened, or None and why not ("" when
        there is nothing to say: a link to a file, a dangling one)."""
        if link.st_uid not in self.trusted:
            return None, f"not followed: the link belongs to uid {link.st_uid}"
        if self.looked_at >= MAX_LOOKED_AT or self.followed >= MAX_FOLLOWED:
            self.over += 1
            return None, ""
        self.looked_at += 1
        try:
            theirs = self._theirs(path)
            opened = safefs.open_path(
                self.anchor, path, trusted_links=self.trusted, follow_last=True, owners=self.trusted
            )
        except safefs.NotFound:
            return None, ""
        except safefs.UnsafePath as exc:
            return None, "" if str(exc).endswith(" is not a directory") else f"not followed: {exc}"
        if theirs is not None and theirs != (opened.st.st_dev, opened.st.st_ino):
            os.close(opened.fd)
            return None, f"not followed: {path} changed while it was being opened"
        if (opened.st.st_dev, opened.st.st_ino) in self.seen or _below(opened.path, self.searched):
            os.close(opened.fd)  # walked anyway (pyenv-virtualenv's versions/NAME, a loop): no loss
            return None, ""
        why = self._refused(opened)
        if why:
            os.close(opened.fd)
            return None, f"not followed: {why}"
        self.followed += 1
        self.searched.append(opened.path)
        self.seen.add((opened.st.st_dev, opened.st.st_ino))
        return opened, ""

    def _theirs(self, path: str) -> Optional[tuple[int, int]]:
        """(device, inode) of the directory the account itself opens at ``path``; raises as
        :func:`safefs.open_path` does, a denial naming only ``path`` (the account's own link)."""
        if self.as_account is None:
            return None
        try:
            opened = self.as_account(path)
        except safefs.Denied:
            raise safefs.UnsafePath("the account itself may not open its target") from None
        os.close(opened.fd)
        return opened.st.st_dev, opened.st.st_ino

    def _refused(self, opened: safefs.Opened) -> str:
        real, st = opened.path, opened.st
        if st.st_uid not in self.trusted:
            return f"{real} belongs to uid {st.st_uid}"
        if real == "/" or any(real == d or real.startswith(d + "/") for d in SYSTEM_DIRS):
            return f"{real} is a system directory"
        for home in self.homes:
            if real == home:
                return f"{real} is another account's home"
            if real.startswith(home + "/"):
                return f"{real} is in another account's home"
            if home.startswith(real + "/"):
                return f"{real} holds homes"
        return ""

    def summary(self) -> str:
        """What the limits left out, or ""."""
        if not self.over:
            return ""
        return (
            f"{self.over} more {'link' if self.over == 1 else 'links'} not followed: one home's "
            f"walk follows {MAX_FOLLOWED} linked directories and resolves {MAX_LOOKED_AT:,} links"
        )


def _below(path: str, tops: Collection[str]) -> bool:
    return any(path == top or path.startswith(top.rstrip("/") + "/") for top in tops)
