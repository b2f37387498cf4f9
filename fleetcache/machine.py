"""The edge that adapts the real world: the machine's root, platform, environment and clock."""

from __future__ import annotations

import functools
import ntpath
import os
import posixpath
import socket
import sys
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from types import ModuleType
from typing import Callable, Optional

from fleetcache.activity.processes import ProcessTable, snapshot
from fleetcache.model import Account


def _mount_types() -> dict[int, str]:
    """Device number -> filesystem type, from this host's mount table (Linux)."""
    types: dict[int, str] = {}
    try:
        with open("/proc/self/mountinfo", encoding="utf-8", errors="replace") as f:
            lines = f.read().splitlines()
    except OSError:
        return types
    for line in lines:
        fields, _, rest = line.partition(" - ")
        parts = fields.split()
        if len(parts) < 3 or not rest:
            continue
        major, _, minor = parts[2].partition(":")
        if major.isdigit() and minor.isdigit():
            types.setdefault(os.makedev(int(major), int(minor)), rest.split()[0])
    return types


class MountTable:
    """The filesystem type of a device on this host, read once when first asked."""

    def __init__(self) -> None:
        self._types: Optional[dict[int, str]] = None

    def __call__(self, device: int) -> Optional[str]:
        if self._types is None:
            self._types = _mount_types()
        return self._types.get(device)


def _grouplist(name: str, gid: int) -> tuple[int, ...]:
    try:
        return tuple(os.getgrouplist(name, gid))
    except (OSError, AttributeError):  # not in the name service; Windows
        return (gid,)


GroupEntry = tuple[str, list[str]]  # a group's name and the member names it lists


class GroupTable:
    """Accounts' groups: this host's name service, or a tree's ``etc/group`` (read once)."""

    def __init__(self, lookup: Callable[[str, int], tuple[int, ...]] = _grouplist) -> None:
        self._lookup = lookup
        self._host: dict[tuple[str, int], tuple[int, ...]] = {}
        self._file: Optional[Optional[dict[int, GroupEntry]]] = None
        self._read = False
        self._members: Optional[dict[str, tuple[int, ...]]] = None  # name -> gids, from _file

    def host(self, name: str, gid: int) -> tuple[int, ...]:
        """The groups this host's name service gives the account (its own gid first)."""
        key = (name, gid)
        if key not in self._host:
            self._host[key] = self._lookup(name, gid)
        return self._host[key]

    def file(self, root: str) -> Optional[dict[int, GroupEntry]]:
        """``<root>/etc/group``: gid -> its entry; None when the tree has none (or it cannot
        be read): then no group is known."""
        if not self._read:
            self._file, self._read = _group_file(root), True
        return self._file

    def tree(self, root: str, name: str, gid: int) -> tuple[int, ...]:
        """The groups ``<root>/etc/group`` gives the account (its own gid first)."""
        from fleetcache.discovery.accounts import memberships

        if self._members is None:  # asked once per file read as an account: built once
            self._members = memberships(self.file(root) or {})
        listed = self._members.get(name, ())
        return tuple(dict.fromkeys((gid, *listed)))


def _group_file(root: str) -> Optional[dict[int, GroupEntry]]:
    """``<root>/etc/group`` parsed; links resolved inside the tree, never on this host."""
    from fleetcache import safefs
    from fleetcache.discovery.accounts import parse_group

    try:
        anchor = safefs.open_anchor(root)
    except OSError:
        return None
    try:
        got = safefs.read_small_file(anchor, "/etc/group", trusted_links=(0,), limit=64 << 20)
    except (OSError, safefs.UnsafePath):
        return None
    finally:
        os.close(anchor)
    return None if got is None else parse_group(got[0].decode("utf-8", "surrogateescape"))


@dataclass(frozen=True)
class Machine:
    """A machine to examine: its root on this host, its platform, and who is looking.

    ``env`` is the environment of the account running fleetcache; it applies to that account's
    pip only, and only when ``root`` is this host's own ``/``.
    """

    root: str = "/"
    platform: str = sys.platform
    env: Mapping[str, str] = field(default_factory=dict)
    current_uid: Optional[int] = None
    hostname: str = ""
    clock: Callable[[], float] = time.time
    # device number -> filesystem type ("nfs4", "ext4"), None when unknown
    fstype: Callable[[int], Optional[str]] = field(default_factory=MountTable)
    # this host's process table, read in one pass (the activity check's edge)
    processes: ProcessTable = snapshot
    # accounts' supplementary groups (the account database's edge)
    groups: GroupTable = field(default_factory=GroupTable)

    @classmethod
    def local(cls, root: str = "/") -> Machine:
        """This host (or the tree at ``root``), seen by the running process."""
        uid = os.getuid() if hasattr(os, "getuid") else None
        return cls(
            root=os.path.abspath(root),
            env=dict(os.environ),
            current_uid=uid,
            hostname=socket.gethostname() if root == "/" else os.path.basename(root.rstrip("/")),
        )

    @functools.cached_property  # asked for each file read as an account
    def is_host(self) -> bool:
        """True when the machine is this host itself, not a tree under --root."""
        return os.path.abspath(self.root) == "/"

    @property
    def pathmod(self) -> ModuleType:
        """``ntpath`` for Windows machines, ``posixpath`` for the rest."""
        return ntpath if self.platform == "win32" else posixpath

    def host_path(self, machine_path: str) -> str:
        """Where a path of the machine lies on this host."""
        if self.platform == "win32":
            drive, rest = ntpath.splitdrive(machine_path)
            rel = posixpath.join(drive.rstrip(":"), rest.replace("\\", "/").lstrip("/"))
        else:
            rel = machine_path.lstrip("/")
        return os.path.join(self.root, rel) if rel else self.root

    def groups_of(self, account: Account) -> tuple[int, ...]:
        """The groups a process of the account has: its own gid and its supplementary groups."""
        if self.is_host:
            return self.groups.host(account.name, account.gid)
        return self.groups.tree(self.root, account.name, account.gid)

    def env_for(self, uid: int) -> Mapping[str, str]:
        """The environment pip would see for this account: ours for ourselves, else none."""
        if self.is_host and self.current_uid == uid:
            return self.env
        return {}
