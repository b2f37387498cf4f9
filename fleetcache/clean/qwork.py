"""What a restore and a purge do in a child that has dropped to the cache's owner: walk the run's
quarantine of one cache with directory descriptors, never following a link, never leaving the
filesystem, and put each file back (only where nothing took its place) or delete it.

Each reports to root in JSON lines: ``["file", rel, size, outcome]`` per file, then
``["end", files left]``; or ``["refused", why]`` before touching anything.
"""

from __future__ import annotations

import contextlib
import json
import os
import stat
from typing import Callable

from fleetcache.clean.guard import Refused
from fleetcache.clean.moves import RESTORED, TAKEN, Missing, move, open_dir
from fleetcache.dropped import write_all
from fleetcache.model import QUARANTINE_DIR as QUARANTINE

Report = Callable[[tuple[str, ...], int, str], None]
WOULD = "would be restored"
PURGED = "purged"


def _send(out: int, *line: object) -> None:
    write_all(out, json.dumps(list(line)).encode() + b"\n")


def restore(out: int, parent_fd: int, name: str, run_id: str, dry_run: bool) -> None:
    """Put the run's quarantined files of the cache ``name`` (in ``parent_fd``) back."""
    os.umask(0)  # directories made again get the modes they had
    device = os.fstat(parent_fd).st_dev
    try:
        held = _held(parent_fd, name, run_id, device)
        cache = open_dir(parent_fd, name, device, make=None if dry_run else 0o700)
    except Refused as exc:
        _send(out, "refused", str(exc))
        return

    def report(rel: tuple[str, ...], size: int, outcome: str) -> None:
        _send(out, "file", "/".join(rel), size, outcome)

    try:
        left = _put_back(held, cache, (), device, report, dry_run)
    finally:
        os.close(held)
        os.close(cache)
    if not left and not dry_run:
        _tidy(parent_fd, name, run_id)
    _send(out, "end", left)


def purge(out: int, parent_fd: int, name: str, run_id: str) -> None:
    """Delete the run's quarantine of the cache ``name`` (in ``parent_fd``)."""
    device = os.fstat(parent_fd).st_dev
    try:
        held = _held(parent_fd, name, run_id, device)
    except Missing:  # purged before (or never made): nothing to do
        _send(out, "end", 0)
        return
    except Refused as exc:
        _send(out, "refused", str(exc))
        return

    def report(rel: tuple[str, ...], size: int, outcome: str) -> None:
        if outcome != PURGED:  # each file deleted is one line too many: only what stays
            _send(out, "file", "/".join(rel), size, outcome)

    try:
        left = _delete_below(held, (), device, report)
    finally:
        os.close(held)
    if not left:
        _tidy(parent_fd, name, run_id)
    _send(out, "end", left)


def _held(parent_fd: int, name: str, run_id: str, device: int) -> int:
    top = open_dir(parent_fd, QUARANTINE, device)
    try:
        run = open_dir(top, run_id, device)
    finally:
        os.close(top)
    try:
        return open_dir(run, name, device)
    finally:
        os.close(run)


def _exists(parent_fd: int, parts: tuple[str, ...]) -> bool:
    try:
        os.stat("/".join(parts), dir_fd=parent_fd, follow_symlinks=False)
    except FileNotFoundError:
        return False
    except OSError:
        return True
    return True


def _put_back(held: int, cache: int, parts: tuple[str, ...], device: int, report: Report,
              dry_run: bool) -> int:  # fmt: skip
    """Move what is below ``held`` to the same places below ``cache``; how many stay."""
    left = 0
    for name in sorted(os.listdir(held)):
        rel = (*parts, name)
        st = os.stat(name, dir_fd=held, follow_symlinks=False)
        if not stat.S_ISDIR(st.st_mode):
            if dry_run:
                there = _exists(cache, (name,))
                outcome = TAKEN if there else WOULD
            else:
                outcome = move(held, cache, name, None, RESTORED)
            report(rel, st.st_size, outcome)
            left += outcome != RESTORED
            continue
        try:
            sub = open_dir(held, name, device)
        except Refused as exc:
            report(rel, 0, str(exc))
            left += 1
            continue
        try:
            left += _into_dir(sub, cache, name, st, rel, device, report, dry_run)
        finally:
            os.close(sub)
        if not dry_run:
            with contextlib.suppress(OSError):
                os.rmdir(name, dir_fd=held)  # emptied: it is back in the cache
    return left


def _into_dir(sub: int, cache: int, name: str, st: os.stat_result, rel: tuple[str, ...],
              device: int, report: Report, dry_run: bool) -> int:  # fmt: skip
    """Put a quarantined directory's content back into the cache's (made as it was, when it
    is missing; a link or another's directory in its place: nothing goes through it)."""
    if dry_run and not _exists(cache, (name,)):
        return _all_files(sub, rel, device, report, WOULD)
    try:
        target = open_dir(cache, name, device, make=None if dry_run else stat.S_IMODE(st.st_mode))
    except Refused as exc:
        return _all_files(sub, rel, device, report, f"not restored: {exc}")
    try:
        return _put_back(sub, target, rel, device, report, dry_run)
    finally:
        os.close(target)


def _all_files(fd: int, parts: tuple[str, ...], device: int, report: Report, why: str) -> int:
    """Report every file below ``fd`` with ``why``; how many (all stay)."""
    left = 0
    for name in sorted(os.listdir(fd)):
        st = os.stat(name, dir_fd=fd, follow_symlinks=False)
        if stat.S_ISDIR(st.st_mode):
            try:
                sub = open_dir(fd, name, device)
            except Refused as exc:
                report((*parts, name), 0, str(exc))
                left += 1
                continue
            try:
                left += _all_files(sub, (*parts, name), device, report, why)
            finally:
                os.close(sub)
        else:
            report((*parts, name), st.st_size, why)
            left += why != WOULD
    return left


def _delete_below(fd: int, parts: tuple[str, ...], device: int, report: Report) -> int:
    """Delete everything below ``fd`` (no link followed, no other filesystem or owner's
    directory entered); how many entries stay."""
    left = 0
    for name in os.listdir(fd):
        rel = (*parts, name)
        st = os.stat(name, dir_fd=fd, follow_symlinks=False)
        if stat.S_ISDIR(st.st_mode):
            try:
                sub = open_dir(fd, name, device)
            except Refused as exc:
                report(rel, 0, str(exc))
                left += 1
                continue
            try:
                below = _delete_below(sub, rel, device, report)
            finally:
                os.close(sub)
            left += below or _gone(os.rmdir, fd, name, rel, report)
        else:
            left += _gone(os.unlink, fd, name, rel, report, st.st_size)
    return left


def _gone(remove: Callable[..., None], fd: int, name: str, rel: tuple[str, ...],
          report: Report, size: int = 0) -> int:  # fmt: skip
    try:
        remove(name, dir_fd=fd)
    except FileNotFoundError:
        return 0
    except OSError as exc:
        report(rel, size, exc.strerror or str(exc))
        return 1
    report(rel, size, PURGED)
    return 0


def _tidy(parent_fd: int, name: str, run_id: str) -> None:
    """Remove the emptied quarantine of the cache, its run's and the quarantine itself when
    empty (never more: another run's or cache's is kept)."""
    device = os.fstat(parent_fd).st_dev
    try:
        top = open_dir(parent_fd, QUARANTINE, device)
    except Refused:
        return
    try:
        with contextlib.suppress(Refused):
            run = open_dir(top, run_id, device)
            try:
                _rmdir(run, name)
            finally:
                os.close(run)
        _rmdir(top, run_id)
    finally:
        os.close(top)
    _rmdir(parent_fd, QUARANTINE)


def _rmdir(fd: int, name: str) -> None:
    with contextlib.suppress(OSError):  # not empty (another's in it), or gone: it stays
        os.rmdir(name, dir_fd=fd)
