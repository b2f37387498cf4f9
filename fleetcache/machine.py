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
