"""The deleting itself: a child process that has dropped for good to the cache owner's uid, gid and
groups removes exactly the planned files, reached with directory descriptors from the cache root.

Every directory on the way is opened with ``O_NOFOLLOW`` and must still be the one planned (same
device and inode), the owner's, and no mount point; every file is looked at without following it
and must still be the planned inode and the owner's before it is unlinked. A link is unlinked,
never followed. Nothing is ever chmod'ed. With a quarantine (``moves.Into``) each file is moved
there instead of unlinked, and the cache is refused whole when the quarantine cannot be made.
The parent (root) reads one line of outcomes per directory, keeps the audit log, and kills the
child at the deadline.
"""

from __future__ import annotations

import contextlib
import errno
import json
import os
import select
import signal
import stat
import threading
import time
from collections.abc import Collection, Iterator
from dataclasses import dataclass
from typing import Callable, Optional

from fleetcache import dropped
from fleetcache.clean import moves
from fleetcache.clean.guard import Refused
from fleetcache.clean.moves import DELETED, GONE, QUARANTINED
from fleetcache.clean.plan import CachePlan, DirPlan, FileItem, Parts
from fleetcache.dropped import Identity, write_all

OK = (DELETED, GONE, QUARANTINED)  # outcomes of one file: see moves

OnDir = Callable[[DirPlan], None]
# the child reports this many files at most per line: at most this many files can be gone
# without a line in the audit log if the child dies (a deadline stops it cleanly instead)
BATCH = 64
GRACE = 5.0  # seconds the child has to stop after SIGTERM at the deadline
MAX_LINE = 1 << 20  # a report is far shorter: BATCH outcomes of at most a few hundred bytes
UNKNOWN = "unknown: the deleting process stopped before reporting it"
# (directory index, index of its first file reported here, their outcomes, the directory's own
# outcome on the directory's last report when its removal was planned)
Report = tuple[int, int, list[str], Optional[str]]


class Executor:
    """Carries out one plan below an opened cache root, one directory at a time."""

    def __init__(
        self,
        plan: CachePlan,
        root_fd: int,
        mounts: Collection[tuple[int, int]] = (),
        on_dir: Optional[OnDir] = None,
        into: Optional[moves.Into] = None,
    ) -> None:
        self.plan = plan
        self.into = into  # files are moved there, not unlinked
        self.root_fd = root_fd
        self.mounts = mounts
        self.on_dir = on_dir
        self.stack: list[tuple[Parts, int]] = [((), root_fd)]
        self.stopping = False  # set (by SIGTERM in the child) to stop after the current file
        # inodes this run unlinked a name of: unlinking changes the inode's change time, and
        # a hard link to the same inode elsewhere in the plan must not then count as changed
        self.unlinked: set[int] = set()

    def run(self) -> Iterator[Report]:
        """Reports of what became of the planned files, a batch of at most BATCH at a time, in
        the plan's order; the last of each directory says what became of the directory."""
        try:
            for index, d in enumerate(self.plan.dirs):
                if self._stop_asked():
                    return
                fd, why = self._enter(d.parts)
                if fd is not None and self.on_dir is not None:
                    self.on_dir(d)
                qfd = None
                if fd is not None and self.into is not None and (d.files or d.remove):
                    # a directory the clean removes has its twin there: a restore makes it again
                    qfd, why = self.into.enter(d.parts, self.stack)
                    fd = fd if qfd is not None else None
                start = 0
                outcomes: list[str] = []
                for f in d.files:
                    if fd is None:
                        outcomes.append(why or "not reached")
                    elif self._stop_asked():
                        break
                    else:
                        outcomes.append(self._unlink(fd, f, qfd))
                    if len(outcomes) == BATCH and start + BATCH < len(d.files):
                        yield index, start, outcomes, None
                        start, outcomes = start + BATCH, []
                else:
                    if d.remove is None or fd is None:
                        yield index, start, outcomes, None if d.remove is None else why
                        continue
                    if not self._stop_asked():
                        yield index, start, outcomes, self._rmdir(d)
                        continue
                if outcomes:  # stopped: what was done is reported, the rest left
                    yield index, start, outcomes, None
                return
        finally:
            self._leave(0)
            if self.into is not None:
                self.into.close()

    def _stop_asked(self) -> bool:
        return self.stopping  # set by a signal handler, between any two lines

    def _leave(self, depth: int) -> None:
        while len(self.stack) > depth + 1:
            os.close(self.stack.pop()[1])

    def _enter(self, parts: Parts) -> tuple[Optional[int], Optional[str]]:
        """The descriptor of the planned directory, opened from the nearest one held; or why not."""
        common = 0
        for (held, _), _ in zip(self.stack[1:], parts):
            if held != parts[: len(held)]:
                break
            common += 1
        self._leave(common)
        while len(self.stack) - 1 < len(parts):
            parent_parts, parent_fd = self.stack[-1]
            name = parts[len(parent_parts)]
            here = (*parent_parts, name)
            try:
                fd = os.open(
                    name,
                    os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC,
                    dir_fd=parent_fd,
                )
            except OSError as exc:
                return None, _opened_error(exc, here)
            st = os.fstat(fd)
            why = None
            if st.st_dev != self.plan.device or (st.st_dev, st.st_ino) in self.mounts:
                why = f"{'/'.join(here)}: a mount point now; not entered"
            elif st.st_ino != self.plan.inos.get(here):
                why = f"{'/'.join(here)}: replaced since the plan; not entered"
            elif st.st_uid != self.plan.uid:
                why = f"{'/'.join(here)}: now owned by uid {st.st_uid}; not entered"
            if why is not None:
                os.close(fd)
                return None, why
            self.stack.append((here, fd))
        return self.stack[-1][1], None

    def _unlink(self, dir_fd: int, f: FileItem, into: Optional[int] = None) -> str:
        """Unlink one planned file, or move it into the quarantine's directory ``into``."""
        why = self._changed(dir_fd, f.name, f.ino, directory=False, ctime=f.ctime)
        if why is not None:
            return why
        if into is not None:
            outcome = moves.move(dir_fd, into, f.name, f.ino, QUARANTINED)
        else:
            outcome = _removed(os.unlink, dir_fd, f.name)
        if outcome in (DELETED, QUARANTINED):
            self.unlinked.add(f.ino)
        return outcome

    def _rmdir(self, d: DirPlan) -> str:
        """Remove the (now empty) directory just done, through its parent's descriptor."""
        parts = d.parts
        self._leave(len(parts) - 1)  # close it: we remove it by name from its parent
        parent_fd = self.stack[-1][1]
        why = self._changed(parent_fd, parts[-1], self.plan.inos.get(parts), directory=True)
        return why or _removed(os.rmdir, parent_fd, parts[-1])

    def _changed(
        self,
        dir_fd: int,
        name: str,
        ino: Optional[int],
        directory: bool,
        ctime: Optional[int] = None,
    ) -> Optional[str]:
        """Why ``name`` is no longer what was planned (looked at without following it). A file
        must have the planned inode and inode change time: a number alone may have been reused.
        A directory is only removed once empty, so its inode number is enough."""
        try:
            st = os.stat(name, dir_fd=dir_fd, follow_symlinks=False)
        except FileNotFoundError:
            return GONE
        except OSError as exc:
            return exc.strerror or str(exc)
        if st.st_ino != ino or stat.S_ISDIR(st.st_mode) != directory:
            return "replaced since the plan; left"
        if ctime is not None and st.st_ctime_ns != ctime and st.st_ino not in self.unlinked:
            return "changed since the plan; left"
        if st.st_uid != self.plan.uid:
            return f"now owned by uid {st.st_uid}; left"
        if directory and (st.st_dev, st.st_ino) in self.mounts:
            return "a mount point now; left"
        return None


def _removed(remove: Callable[..., None], dir_fd: int, name: str) -> str:
    """Unlink or rmdir one name in ``dir_fd``: its outcome."""
    try:
        remove(name, dir_fd=dir_fd)
    except FileNotFoundError:
        return GONE
    except OSError as exc:
        if exc.errno in (errno.ENOTEMPTY, errno.EEXIST):
            return "not empty; kept"
        return exc.strerror or str(exc)
    return DELETED


def _opened_error(exc: OSError, parts: Parts) -> str:
    where = "/".join(parts)
    if exc.errno in (errno.ELOOP, errno.ENOTDIR):
        return f"{where}: no longer a directory (a link?); not followed"
    if exc.errno == errno.ENOENT:
        return GONE
    if exc.errno == errno.EMFILE:
        return f"{where}: too deep: out of file descriptors"
    return f"{where}: {exc.strerror or exc}"


@dataclass
class ChildOutcome:
    """How the deleting child ended."""

    finished: bool
    error: Optional[str] = None
    interrupted: bool = False  # a Ctrl-C stopped it: the caller logs, then stops too
    refused: bool = False  # it touched nothing: its quarantine could not be made


def run_as_owner(
    plan: CachePlan,
    root_fd: int,
    who: Identity,
    deadline: float,
    on_result: Callable[[int, int, list[str], Optional[str]], None],
    mounts: Collection[tuple[int, int]] = (),
    on_dir: Optional[OnDir] = None,
    into: Optional[moves.Into] = None,
) -> ChildOutcome:
    """Fork a child that drops to ``who`` and carries out ``plan`` (moving each file ``into`` a
    quarantine when given: its parent_fd is kept open for the child); feed its reports to
    ``on_result`` as they arrive; stop the child at ``deadline`` (time.monotonic). Files the
    child may have removed without reporting them (it died) are reported as UNKNOWN."""
    if threading.active_count() > 1:
        return ChildOutcome(False, "not cleaned: threads are running; fork is not safe")
    executor = Executor(plan, root_fd, mounts, on_dir, into)
    pid, read_fd = dropped.start(
        who,
        lambda out: _carry_out(executor, out),
        keep=(root_fd,) if into is None else (root_fd, into.parent_fd),
        refused="not cleaned",
        on_interrupt=signal.SIG_IGN,  # a Ctrl-C is ours to handle: we stop it, as at the deadline
    )
    parent = _Parent(pid, read_fd, plan, on_result)
    try:
        with _interrupts_noted(parent):
            return parent.run(deadline)
    except BaseException:  # the log failed: the child stops with us
        with contextlib.suppress(OSError):
            os.kill(pid, signal.SIGKILL)
            os.waitpid(pid, 0)
        raise
    finally:
        os.close(read_fd)


@contextlib.contextmanager
def _interrupts_noted(parent: _Parent) -> Iterator[None]:
    """While the child deletes, a Ctrl-C is noted, not raised: the parent stops the child as at
    the deadline and logs all it did before the clean ends (only in the main thread, where
    Python runs signal handlers; elsewhere the caller's own handling stands)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def note(signum: int, frame: object) -> None:
        parent.interrupted = True

    previous = signal.signal(signal.SIGINT, note)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)


def _carry_out(executor: Executor, out: int) -> None:
    """The child's work, once it is the owner: report as it deletes."""

    def stop(signum: int, frame: object) -> None:
        executor.stopping = True

    signal.signal(signal.SIGTERM, stop)  # the deadline: stop after the current file
    if executor.into is not None:
        try:
            executor.into.open()
        except Refused as exc:  # never deleted instead: nothing happens to this cache
            write_all(out, json.dumps(["refused", f"quarantine: {exc}"]).encode() + b"\n")
            return
    write_all(out, b'["ready"]\n')  # from here on, files may go
    for report in executor.run():
        write_all(out, json.dumps(report).encode() + b"\n")
    write_all(out, b'["end"]\n')  # whatever it did (all, or up to a SIGTERM) is reported


class _Parent:
    """Root's side: reads the child's reports, checks each (the child runs as another account
    and is not trusted), and stops the child at the deadline."""

    def __init__(
        self,
        pid: int,
        read_fd: int,
        plan: CachePlan,
        on_result: Callable[[int, int, list[str], Optional[str]], None],
    ) -> None:
        self.pid = pid
        self.read_fd = read_fd
        self.plan = plan
        self.on_result = on_result
        self.index = 0  # the directory the next report must be about
        self.offset = 0  # and its first file
        self.error: Optional[str] = None
        self.ready = False  # the child has dropped privileges and starts deleting
        self.ended = False  # the child said it reported all it did
        self.interrupted = False  # a Ctrl-C came: stop the child now, as at the deadline
        self.refused = False  # the child said, before it began, that it would not

    def run(self, deadline: float) -> ChildOutcome:
        buffer = b""
        stop_at, kill_at, give_up_at = deadline, deadline + GRACE, deadline + 2 * GRACE
        stopped = killed = gave_up = False
        while True:
            now = time.monotonic()
            if not stopped and self.interrupted:
                stop_at, kill_at, give_up_at = now, now + GRACE, now + 2 * GRACE
            if not stopped and now >= stop_at:
                stopped = True
                os.kill(self.pid, signal.SIGTERM)
            if stopped and not killed and now >= kill_at:
                killed = True
                os.kill(self.pid, signal.SIGKILL)
            if killed and now >= give_up_at:
                gave_up = True  # killed, still not gone (stuck in the kernel): it deletes no more
                break
            wake = stop_at if not stopped else kill_at if not killed else give_up_at
            ready, _, _ = select.select([self.read_fd], [], [], max(0.05, min(wake - now, 1.0)))
            if not ready:
                continue
            chunk = os.read(self.read_fd, 1 << 16)
            buffer += chunk
            *lines, buffer = buffer.split(b"\n")
            for line in lines:
                self._take(line)
            if len(buffer) > MAX_LINE:  # no end of line in sight: not a report
                self.error = self.error or "the deleting process sent garbage"
                os.kill(self.pid, signal.SIGKILL)
                killed, buffer = True, b""
                give_up_at = min(give_up_at, time.monotonic() + GRACE)
            if not chunk:
                break
        reaped, status = os.waitpid(self.pid, os.WNOHANG if gave_up else 0)
        finished = self.index == len(self.plan.dirs)
        if not finished and self.ready and not self.ended:
            self._unknown()
        if not finished and stopped:
            why = "interrupted (Ctrl-C)" if self.interrupted else "stopped at the deadline"
            self.error = self.error or f"{why}; the rest is left"
        if self.error is None and reaped and status != 0 and not finished:
            code = os.waitstatus_to_exitcode(status)
            how = f"was killed by signal {-code}" if code < 0 else f"ended with status {code}"
            self.error = f"the deleting process {how}"
        if self.error is None and not finished:
            self.error = "the deleting process stopped before the end"
        done = self.error is None and finished
        return ChildOutcome(done, self.error, self.interrupted, self.refused and not self.ready)

    def _take(self, line: bytes) -> None:
        got = self._parse(line)
        if got is None:
            return
        if isinstance(got, str):
            self.error = self.error or got
            return
        index, start, outcomes, removed = got
        self.on_result(index, start, outcomes, removed)
        self.offset = start + len(outcomes)
        if self.offset == len(self.plan.dirs[index].files) and (
            removed is not None or self.plan.dirs[index].remove is None
        ):
            self.index, self.offset = index + 1, 0

    def _parse(self, line: bytes) -> Report | str | None:
        """One line, checked against what the child may say next; its words are only logged."""
        garbage = "the deleting process sent garbage"
        try:
            got = json.loads(line)
        except (ValueError, RecursionError):
            return garbage
        if self.ended:
            return garbage
        if got == ["ready"] and not self.ready:
            self.ready = True
            return None
        if got == ["end"] and self.ready:
            self.ended = True
            return None
        if type(got) is list and len(got) == 2 and got[0] in ("error", "refused"):
            self.refused = got[0] == "refused" and not self.ready
            return str(got[1])[:500]
        if not (self.ready and type(got) is list and len(got) == 4):
            return garbage
        index, start, outcomes, removed = got
        if type(index) is not int or type(start) is not int:
            return garbage  # (0.0 == 0, but it is no index)
        if (index, start) != (self.index, self.offset) or index >= len(self.plan.dirs):
            return garbage
        if type(outcomes) is not list or not all(type(o) is str for o in outcomes):
            return garbage
        d = self.plan.dirs[index]
        if len(outcomes) > BATCH or start + len(outcomes) > len(d.files):
            return garbage
        last = start + len(outcomes) == len(d.files)
        if removed is not None and (type(removed) is not str or not last or d.remove is None):
            return garbage
        if not outcomes and removed is None:
            return garbage
        return index, start, [o[:500] for o in outcomes], None if removed is None else removed[:500]

    def _unknown(self) -> None:
        """The child died: the files of the batch it was doing may be gone unreported."""
        if self.index >= len(self.plan.dirs):
            return
        d = self.plan.dirs[self.index]
        files = d.files[self.offset : self.offset + BATCH]
        whole = self.offset + BATCH >= len(d.files) and d.remove is not None
        self.on_result(self.index, self.offset, [UNKNOWN] * len(files), UNKNOWN if whole else None)
