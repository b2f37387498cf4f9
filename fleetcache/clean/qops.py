"""Restore and purge of quarantine runs, root's side: for each cache of a run, open the directory
that holds it (no link on the way, the owner's), let a child dropped to the owner do the work
(fleetcache.clean.qwork), check and log what it says, and keep the index in step."""

from __future__ import annotations

import json
import os
import select
import stat
import threading
import time
from collections.abc import Collection, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Callable, Optional

from fleetcache import dropped, escape, safefs
from fleetcache.clean import qindex, qwork
from fleetcache.clean.guard import AuditLog, Lock, Refused, default_lock_dir
from fleetcache.clean.moves import RESTORED
from fleetcache.discovery.run import load_accounts
from fleetcache.machine import Machine
from fleetcache.model import Skipped

MAX_LISTED = 50
TIMEOUT = 3600.0  # seconds one cache's restore or purge may take (as a clean's deletion)


@dataclass
class Done:
    """What a restore or a purge did to one cache's part of a run."""

    run_id: str
    held: qindex.Held
    files: int = 0  # restored (or deleted)
    bytes: int = 0
    left: int = 0  # files that stay in the quarantine
    failed: list[tuple[str, str]] = field(default_factory=list)  # the first MAX_LISTED: why
    error: Optional[str] = None  # nothing was done: why
    ended: bool = False  # the child said it was done (killed before: what it did not do stays)


class Quarantines:
    """The runs of one state directory on one machine, and what can be done to them."""

    def __init__(self, machine: Machine, state_dir: str, log: Optional[AuditLog],
                 operator: str = "") -> None:  # fmt: skip
        self.machine = machine
        self.index = qindex.Index(state_dir)
        self.log = log
        self.operator = operator
        self.lock_dir: Optional[str] = None  # the clean's per-cache locks (default: as clean's)
        # the child runs as the account, which may stop it (SIGSTOP) or flood it: at the
        # deadline it is killed, and the clean or restore goes on without it
        self.timeout = TIMEOUT
        self.late: set[int] = set()  # uids a child of which was stopped at the deadline
        accounts = load_accounts(machine)
        self.who = dropped.identities(machine, accounts)

    def restore(
        self, run_id: str, users: Collection[str] = (), dry_run: bool = False
    ) -> list[Done]:
        """Put a run's files back (its caches of ``users`` only, when given)."""
        run = self.index.load(run_id)
        if run.root != self.machine.root:  # its paths are of another tree
            raise qindex.RunError(f"run {run_id} was made with --root {run.root}")
        out = []
        for held in [h for h in run.caches if not users or h.user in users]:
            done = Done(run_id, held)

            def work(w: int, parent: int, h: qindex.Held = held) -> None:
                qwork.restore(w, parent, _name(h.cache), run_id, dry_run)

            self._in_child(done, work, "restore", dry_run)
            out.append(done)
            if not dry_run and done.error is None:
                self._left(run, held, done)
        return out

    def purge(self, runs: Sequence[qindex.Run], dry_run: bool = False) -> list[Done]:
        """Delete these runs' quarantines and forget them."""
        out = []
        for run in runs:
            for held in list(run.caches):
                done = Done(run.run_id, held)
                if dry_run:
                    done.files, done.bytes = held.files, held.bytes
                else:

                    def work(w: int, p: int, h: qindex.Held = held, r: str = run.run_id) -> None:
                        qwork.purge(w, p, _name(h.cache), r)

                    self._in_child(done, work, "purge", False)
                    done.files, done.bytes = held.files - done.left, held.bytes
                    if not done.ended:  # what it deleted before it stopped is not known
                        done.files = done.bytes = 0
                    if done.error is None:
                        self._left(run, held, done)
                    outcome = "purged" if done.error is None and not done.left else "not purged"
                    self._log(done, "", done.bytes, "purge", outcome, done.files)
                out.append(done)
        return out

    def expired(self, now: float) -> list[qindex.Run]:
        """The runs every cache of which is past its expiry."""
        return [r for r in self.index.runs() if r.expires <= now]

    def _left(self, run: qindex.Run, held: qindex.Held, done: Done) -> None:
        """Keep the index in step: what stays of the cache's part, the run while any stays."""
        held.files = done.left
        held.bytes = max(0, held.bytes - done.bytes)
        if not done.left:
            run.caches.remove(held)
        if run.caches:
            self.index.save(run)
        else:
            self.index.remove(run.run_id)

    def _in_child(self, done: Done, work: Callable[[int, int], None], action: str,
                  dry_run: bool) -> None:  # fmt: skip
        held = done.held
        if threading.active_count() > 1:
            done.error = "not done: threads are running; fork is not safe"
            return
        if held.uid in self.late:  # its account stops them: one deadline a run is its share
            done.error = f"not done: a child of uid {held.uid} stopped at the deadline before"
            return
        lock = None
        try:
            parent = self._open_parent(held)
            try:  # a restore waits for no clean: one that cleans the cache now makes it refuse
                lock = self._lock(parent, held) if action == "restore" and not dry_run else None
            except Refused:
                os.close(parent)
                raise
        except Refused as exc:
            done.error = str(exc)
            return
        try:
            try:
                who = self.who(held.uid)
                pid, read_fd = dropped.start(who, lambda w: work(w, parent), keep=(parent,),
                                             refused="not done")  # fmt: skip
            finally:
                os.close(parent)
            late = False
            try:
                for line in _lines(read_fd, time.monotonic() + self.timeout):
                    self._take(done, line, action, dry_run)
            except TimeoutError:
                late = True
                self.late.add(held.uid)
                done.error = f"stopped at the deadline ({self.timeout:g}s); the rest is left"
            finally:
                os.close(read_fd)
                dropped.reap(pid, grace=0.0 if late else 5.0)
            if not done.ended and done.error is None:  # its account may have killed it
                done.error = "stopped before it was done; the rest is left"
        finally:
            if lock is not None:
                lock.release()

    def _lock(self, parent: int, held: qindex.Held) -> Optional[Lock]:
        """The cache's clean lock, held (None: no cache there, so no clean in it); Refused
        when a clean holds it."""
        try:
            st = os.stat(_name(held.cache), dir_fd=parent, follow_symlinks=False)
        except OSError:
            return None
        if not stat.S_ISDIR(st.st_mode):
            return None
        lock = Lock(self.lock_dir or default_lock_dir(os.geteuid()), (st.st_dev, st.st_ino))
        holder = lock.acquire()
        if holder is not None:
            raise Refused(f"not restored now: {holder}")
        return lock

    def _take(self, done: Done, line: bytes, action: str, dry_run: bool) -> None:
        """One line of the child's (it runs as the account: its words are checked, only logged)."""
        try:
            got = json.loads(line)
        except (ValueError, RecursionError):
            got = None
        if type(got) is list and len(got) == 4 and got[0] == "file":
            rel, outcome = str(got[1])[:500], str(got[3])[:500]
            size_n = got[2] if type(got[2]) is int else 0
            if outcome in (RESTORED, qwork.WOULD):
                done.files += 1
                done.bytes += size_n
            elif len(done.failed) < MAX_LISTED:
                done.failed.append((rel, outcome))
            if action == "restore":
                self._log(done, rel, size_n, action, outcome, dry_run=dry_run)
            return
        if type(got) is list and len(got) == 2 and got[0] == "end" and type(got[1]) is int:
            done.left, done.ended = got[1], True
            return
        if type(got) is list and len(got) == 2 and got[0] in ("refused", "error"):
            done.error = str(got[1])[:500]
            return
        done.error = done.error or "the child sent garbage"

    def _open_parent(self, held: qindex.Held) -> int:
        """The directory that holds the cache (and its quarantine): the owner's, no link."""
        parent = os.path.dirname(held.cache.rstrip("/")) or "/"
        anchor = safefs.open_anchor(self.machine.root)
        try:
            opened = safefs.open_path(anchor, parent, trusted_links=())
        except safefs.UnsafePath as exc:
            raise Refused(f"refused: {exc}") from None
        finally:
            os.close(anchor)
        if opened.st.st_uid != held.uid:
            os.close(opened.fd)
            raise Refused(f"refused: {parent} now belongs to uid {opened.st.st_uid}")
        return opened.fd

    def _log(self, done: Done, rel: str, size: int, action: str, outcome: str,
             files: Optional[int] = None, dry_run: bool = False) -> None:  # fmt: skip
        if self.log is None:
            return
        held = done.held
        record: dict[str, object] = {
            "run": done.run_id,
            "operator": self.operator,
            "account": held.user,
            "uid": held.uid,
            "cache": escape.text(held.cache),
            "path": escape.text(rel),
        }
        if files is not None:
            record["files"] = files
        record.update(size=size, action=action, reason=done.error, outcome=outcome, dry_run=dry_run)
        self.log.add(record)


def purge_expired(machine: Machine, state_dir: str, log_path: str, operator: str,
                  dry_run: bool, now: float, timeout: float = TIMEOUT) -> list[Done]:  # fmt: skip
    """What a clean does first: delete the runs past their expiry (a dry run: only list them),
    each cache's in at most ``timeout`` seconds."""
    index = qindex.Index(state_dir)
    if not os.path.isdir(index.dir):  # no runs; a state dir that is no directory: said later
        return []
    expired = [r for r in index.runs() if r.expires <= now and r.root == machine.root]
    if not expired:
        return []
    log = None if dry_run else AuditLog(log_path)
    try:
        quarantines = Quarantines(machine, state_dir, log, operator)
        quarantines.timeout = timeout
        return quarantines.purge(expired, dry_run)
    finally:
        if log is not None:
            log.close()


def unpurged(done: Sequence[Done]) -> list[Skipped]:
    """The expired runs' caches a clean could not delete whole, as what it skipped."""
    return [Skipped(d.held.place, f"expired quarantine not purged: {d.error or f'{d.left} left'}")
            for d in done if d.error is not None or d.left]  # fmt: skip


def _name(cache: str) -> str:
    return os.path.basename(cache.rstrip("/"))


def _lines(fd: int, deadline: float) -> Iterator[bytes]:
    """Each line the child writes, as it comes, until it closes its end; TimeoutError when it
    has not by ``deadline`` (time.monotonic)."""
    buffer = b""
    while True:
        if not select.select([fd], [], [], max(0.0, deadline - time.monotonic()))[0]:
            raise TimeoutError
        chunk = os.read(fd, 1 << 16)
        if not chunk:
            return
        buffer += chunk
        *got, buffer = buffer.split(b"\n")
        yield from got
