"""The edge that adapts the real world: the machine's root, platform, environment and clock."""

from __future__ import annotations

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

    @property
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

    def env_for(self, uid: int) -> Mapping[str, str]:
        """The environment pip would see for this account: ours for ourselves, else none."""
        if self.is_host and self.current_uid == uid:
            return self.env
        return {}
