"""The size of one environment on disk: one walk, links not followed, hard links counted once."""

from __future__ import annotations

import os
import stat
from dataclasses import dataclass
from typing import Optional

from fleetcache import safefs
from fleetcache.model import Skipped

MAX_PROBLEMS = 5


@dataclass(frozen=True)
class SizeTask:
    """A prefix to measure, below a machine root; ``exclude`` names top-level entries not counted."""

    root: str
    prefix: str
    trusted: frozenset[int] = frozenset({0})
    exclude: tuple[str, ...] = ()


@dataclass(frozen=True)
class SizeOutcome:
    """Files, bytes (apparent size) and the newest modification time under a prefix."""

    files: Optional[int] = None
    size_bytes: Optional[int] = None
    newest_mtime: Optional[float] = None
    problems: tuple[Skipped, ...] = ()


def measure(task: SizeTask) -> SizeOutcome:
    """Walk the prefix once; a file with several links (conda hard-links its packages) counts once."""
    anchor = safefs.open_anchor(task.root)
    try:
        try:
            opened = safefs.open_path(
                anchor, task.prefix, trusted_links={0, *task.trusted}, follow_last=True
            )
        except safefs.UnsafePath as exc:
            return SizeOutcome(problems=(Skipped(task.prefix, f"size not measured: {exc}"),))
        try:
            return _walk(opened, task)
        finally:
            os.close(opened.fd)
    finally:
        os.close(anchor)


def _walk(opened: safefs.Opened, task: SizeTask) -> SizeOutcome:
    files = 0
    size = 0
    newest = opened.st.st_mtime
    seen: set[tuple[int, int]] = set()
    problems: list[Skipped] = []

    def on_error(parts: tuple[str, ...], reason: str) -> None:
        if len(problems) < MAX_PROBLEMS:
            problems.append(Skipped("/".join((opened.path, *parts)), f"not counted: {reason}"))

    for parts, fd, entries, dirs in safefs.walk(opened.fd, on_error):
        newest = max(newest, os.fstat(fd).st_mtime)  # a directory's own time counts too
        for entry in entries:
            try:
                st = entry.stat(follow_symlinks=False)
            except OSError:
                continue
            newest = max(newest, st.st_mtime)
            if st.st_nlink > 1:
                key = (st.st_dev, st.st_ino)
                if key in seen:
                    continue
                seen.add(key)
            files += 1
            size += st.st_size if stat.S_ISREG(st.st_mode) else 0
        if not parts and task.exclude:
            dirs[:] = [d for d in dirs if d not in task.exclude]
    return SizeOutcome(files, size, newest, tuple(problems))
