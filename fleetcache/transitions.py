"""The unsafe path transition rule (systemd-tmpfiles, sudo): root acts for an account only at the
end of a way that nobody but root and that account could have changed."""

from __future__ import annotations

import os
import stat
import struct
from collections.abc import Sequence
from typing import Callable, Optional

from fleetcache.model import Account
from fleetcache.safefs import Seen, Step

# Linux's system.posix_acl_access: a 4-byte version, then (tag, perm, id) entries
_ACL_ENTRY = struct.Struct("<HHI")
_ACL_USER, _ACL_GROUP_OBJ, _ACL_GROUP, _ACL_MASK = 0x02, 0x04, 0x08, 0x10
_WRITE = 0x02


GroupEntry = tuple[str, Sequence[str]]  # a group's name and the member names it lists


class Groups:
    """Who may be in a group: the accounts whose primary group it is, and the members the group
    database lists (asked for each group when first needed: the name service need not list every
    group). Without a database, no group counts as anyone's own."""

    def __init__(
        self,
        accounts: Sequence[Account] = (),
        lookup: Optional[Callable[[int], Optional[GroupEntry]]] = None,
    ) -> None:
        self.lookup = lookup
        self.uid_of: dict[str, int] = {}
        self.primary: dict[int, set[int]] = {}
        for account in accounts:
            self.uid_of.setdefault(account.name, account.uid)
            self.primary.setdefault(account.gid, set()).add(account.uid)
        self.entries: dict[int, Optional[GroupEntry]] = {}

    def entry(self, gid: int) -> Optional[GroupEntry]:
        """The group's database entry, None when it has none."""
        if gid not in self.entries:
            self.entries[gid] = None if self.lookup is None else self.lookup(gid)
        return self.entries[gid]

    def only(self, gid: int, owner: int) -> bool:
        """Whether nobody but root and ``owner`` can be in the group (not known: no)."""
        entry = self.entry(gid)
        if self.lookup is None or (entry is None and gid not in self.primary):
            return False
        uids: set[Optional[int]] = set(self.primary.get(gid, ()))
        if entry is not None:  # a member the account database does not know counts as someone
            uids.update(self.uid_of.get(name) for name in entry[1])
        return uids <= {0, owner}

    def label(self, gid: int) -> str:
        """``group team (gid 1234)``, or ``gid 1234`` for a group without a name."""
        entry = self.entry(gid)
        return f"group {entry[0]} (gid {gid})" if entry is not None else f"gid {gid}"


def unsafe_way(
    steps: Sequence[Step], end: Optional[Seen], owner: int, known: Groups
) -> Optional[str]:
    """Why someone other than root and ``owner`` could have changed where ``steps`` led, or what
    ``end`` (the directory reached) holds; None when no one could. A directory they may write to
    is let through only when it is sticky and what it led to is root's or the owner's (then they
    can neither rename nor remove it)."""
    if os.name != "posix":  # no owners and mode bits to judge by
        return None
    trusted = (0, owner)
    for step in steps:
        why = others_may_write(step.directory, owner, known)
        if why is None:
            continue
        d = step.directory
        if not d.st.st_mode & stat.S_ISVTX or d.st.st_uid not in trusted:
            return why
        if step.child.st_uid not in trusted:
            where = f"{d.path.rstrip('/')}/{step.name}"
            return f"{why}; sticky, but {where} belongs to uid {step.child.st_uid}"
    return None if end is None else others_may_write(end, owner, known)


def others_may_write(d: Seen, owner: int, known: Groups) -> Optional[str]:
    """Why someone other than root and ``owner`` may change what the directory holds, or None."""
    st = d.st
    if st.st_uid not in (0, owner):
        return f"{d.path} belongs to uid {st.st_uid}, not to root or the owner"
    mode = stat.S_IMODE(st.st_mode)
    if st.st_mode & stat.S_IWOTH:
        return f"{d.path} is writable by everyone (mode {mode:o}), not only by root or the owner"
    for kind, ident in _group_class_writers(d):
        if kind == "user" and ident not in (0, owner):
            return (
                f"{d.path} is writable by uid {ident} through its access control list,"
                " not only by root or the owner"
            )
        if kind != "user" and not known.only(ident, owner):
            how = " through its access control list" if kind == "acl group" else ""
            return (
                f"{d.path} is writable by {known.label(ident)}{how}, not only by root or the owner"
            )
    return None


def _group_class_writers(d: Seen) -> list[tuple[str, int]]:
    """Who the group bits let write: the group, or, with an access ACL (whose mask the group
    bits then show), each named user and group and the owning group that may write."""
    if not d.st.st_mode & stat.S_IWGRP:
        return []
    if len(d.acl) < 4 or (len(d.acl) - 4) % _ACL_ENTRY.size:
        return [("group", d.st.st_gid)]
    entries = [e for e in _ACL_ENTRY.iter_unpack(d.acl[4:])]
    if any(tag == _ACL_MASK and not perm & _WRITE for tag, perm, _ in entries):
        return []
    out = []
    for tag, perm, ident in entries:
        if not perm & _WRITE:
            continue
        if tag == _ACL_USER:
            out.append(("user", ident))
        elif tag == _ACL_GROUP_OBJ:
            out.append(("group", d.st.st_gid))
        elif tag == _ACL_GROUP:
            out.append(("acl group", ident))
    return out
