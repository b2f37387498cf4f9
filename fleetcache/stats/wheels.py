"""The built wheels of a cache whose names match a pattern, as `pip cache list` finds them."""

from __future__ import annotations

import os
import stat
from dataclasses import dataclass

from fleetcache import safefs
from fleetcache.model import Skipped
from fleetcache.pipcompat import matches, wheel_pattern


@dataclass(frozen=True)
class WheelFile:
    """One built wheel: its machine path, name and size (0 for a link, as pip shows it)."""

    path: str
    name: str
    size: int


def find_wheels(
    root: str, cache_dir: str, pattern: str = "*", trusted_owners: frozenset[int] = frozenset()
) -> tuple[list[WheelFile], list[Skipped]]:
    """Wheels below ``cache_dir/wheels`` matching pip's completion of ``pattern``."""
    glob = wheel_pattern(pattern)
    wheels_dir = cache_dir.rstrip("/") + "/wheels"
    found: list[WheelFile] = []
    skipped: list[Skipped] = []
    anchor = safefs.open_anchor(root)
    try:
        try:
            opened = safefs.open_path(anchor, wheels_dir, trusted_links={0, *trusted_owners})
        except safefs.NotFound:
            return [], []
        except safefs.UnsafePath as exc:
            return [], [Skipped(wheels_dir, f"not listed: {exc}")]
        if trusted_owners and opened.st.st_uid not in trusted_owners:
            os.close(opened.fd)
            return [], [Skipped(wheels_dir, f"not listed: owned by uid {opened.st.st_uid}")]

        def on_error(parts: tuple[str, ...], reason: str) -> None:
            skipped.append(Skipped("/".join((wheels_dir, *parts)), reason))

        try:
            for parts, _fd, files, _dirs in safefs.walk(opened.fd, on_error):
                for entry in files:
                    if not matches(entry.name, glob):
                        continue
                    try:
                        st = entry.stat(follow_symlinks=False)
                    except OSError:
                        continue
                    size = 0 if stat.S_ISLNK(st.st_mode) else st.st_size
                    path = "/".join((wheels_dir, *parts, entry.name))
                    found.append(WheelFile(path, entry.name, size))
        finally:
            os.close(opened.fd)
    finally:
        os.close(anchor)
    return found, skipped
