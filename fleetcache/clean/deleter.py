"""The deleting itself: a child process that has dropped for good to the cache owner's uid, gid and
groups removes exactly the planned files, reached with directory descriptors from the cache root.

Every directory on the way is opened with ``O_NOFOLLOW`` and must still be the one planned (same
device and inode), the owner's, and no mount point; every file is looked at without following it
and must still be the planned inode and the owner's before it is unlinked. A link is unlinked,
never followed. Nothing is ever chmod'ed. The parent (root) reads one line of outcomes per
directory, keeps the audit log, and kills the child at the deadline.
"""

from __future__ import annotations

import contextlib
import ctypes
import errno
import json
import os
import select
import signal
import stat
import sys
import threading
import time
from collections.abc import Collection, Iterator
from dataclasses import dataclass
from typing import Callable, Optional

from fleetcache.clean.plan import CachePlan, DirPlan, Parts

# outcomes of one file (or of removing a directory), as the child reports them
DELETED = "deleted"
GONE = "already gone"
OK = (DELETED, GONE)

OnDir = Callable[[DirPlan], None]


class DropFailed(Exception):
    """The child could not become the owner, or could become root again."""


@dataclass(frozen=True)
class Identity:
    """Who the deleting child becomes."""

    uid: int
    gid: int
    groups: tuple[int, ...] = ()


def drop_to(who: Identity) -> None:
    """Become ``who`` for good: groups, then gid, then uid, then check root cannot come back."""
    if os.geteuid() != 0:
        if os.geteuid() != who.uid:
            raise DropFailed(f"uid {os.geteuid()} cannot act as uid {who.uid}")
        return
    if who.uid == 0:
        return  # root's own cache: nothing to drop
    os.setgroups(list(who.groups))
    if hasattr(os, "setresgid"):
        os.setresgid(who.gid, who.gid, who.gid)
        os.setresuid(who.uid, who.uid, who.uid)
    else:  # macOS: setuid as root sets all three
        os.setgid(who.gid)
        os.setuid(who.uid)
    try:
        os.setuid(0)
    except PermissionError:
        pass
    else:
        raise DropFailed("could become root again after dropping privileges")
    if (os.getuid(), os.geteuid(), os.getgid(), os.getegid()) != (
        who.uid,
        who.uid,
        who.gid,
        who.gid,
    ):
        raise DropFailed("the uid or gid did not change as asked")
    if set(os.getgroups()) - {who.gid, *who.groups}:
        raise DropFailed("supplementary groups remain")
    if _capabilities():
        raise DropFailed("capabilities remain after dropping root")


def _capabilities() -> int:
    """The effective capability set (Linux), 0 elsewhere. Binary reads only: after the drop
    the child may not be able to import anything (a codec lookup included)."""
    try:
        fd = os.open("/proc/self/status", os.O_RDONLY | os.O_CLOEXEC)
    except OSError:
        return 0
    try:
        data = os.read(fd, 1 << 16)
    finally:
        os.close(fd)
    for line in data.splitlines():
        if line.startswith(b"CapEff:"):
            return int(line.split()[1], 16)
    return 0


class Executor:
    """Carries out one plan below an opened cache root, one directory at a time."""

    def __init__(
        self,
        plan: CachePlan,
        root_fd: int,
        mounts: Collection[tuple[int, int]] = (),
        on_dir: Optional[OnDir] = None,
    ) -> None:
        self.plan = plan
        self.root_fd = root_fd
        self.mounts = mounts
        self.on_dir = on_dir
        self.stack: list[tuple[Parts, int]] = [((), root_fd)]

    def run(self) -> Iterator[tuple[int, list[str], Optional[str]]]:
        """(directory index, outcome of each planned file, outcome of removing the directory)."""
        try:
            for index, d in enumerate(self.plan.dirs):
                fd, why = self._enter(d.parts)
                if fd is None:
                    yield (
                        index,
                        [why or "not reached"] * len(d.files),
                        (None if d.remove is None else why),
                    )
                    continue
                if self.on_dir is not None:
                    self.on_dir(d)
                outcomes = [self._unlink(fd, f.name, f.ino) for f in d.files]
                removed = self._rmdir(d) if d.remove is not None else None
                yield index, outcomes, removed
        finally:
            self._leave(0)

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

    def _unlink(self, dir_fd: int, name: str, ino: int) -> str:
        why = self._changed(dir_fd, name, ino, directory=False)
        return why or _removed(os.unlink, dir_fd, name)

    def _rmdir(self, d: DirPlan) -> str:
        """Remove the (now empty) directory just done, through its parent's descriptor."""
        parts = d.parts
        self._leave(len(parts) - 1)  # close it: we remove it by name from its parent
        parent_fd = self.stack[-1][1]
        why = self._changed(parent_fd, parts[-1], self.plan.inos.get(parts), directory=True)
        return why or _removed(os.rmdir, parent_fd, parts[-1])

    def _changed(
        self, dir_fd: int, name: str, ino: Optional[int], directory: bool
    ) -> Optional[str]:
        """Why ``name`` is no longer what was planned (looked at without following it)."""
        try:
            st = os.stat(name, dir_fd=dir_fd, follow_symlinks=False)
        except FileNotFoundError:
            return GONE
        except OSError as exc:
            return exc.strerror or str(exc)
        if st.st_ino != ino or stat.S_ISDIR(st.st_mode) != directory:
            return "replaced since the plan; left"
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


def run_as_owner(
    plan: CachePlan,
    root_fd: int,
    who: Identity,
    deadline: float,
    on_result: Callable[[int, list[str], Optional[str]], None],
    mounts: Collection[tuple[int, int]] = (),
    on_dir: Optional[OnDir] = None,
) -> ChildOutcome:
    """Fork a child that drops to ``who`` and carries out ``plan``; feed each directory's
    outcomes to ``on_result`` as they arrive; kill the child at ``deadline`` (time.monotonic)."""
    if threading.active_count() > 1:
        return ChildOutcome(False, "not cleaned: threads are running; fork is not safe")
    read_fd, write_fd = os.pipe()
    sys.stdout.flush()
    sys.stderr.flush()
    try:
        pid = os.fork()
    except OSError:
        os.close(read_fd)
        os.close(write_fd)
        raise
    if pid == 0:  # the child: never returns
        os.close(read_fd)
        _child(plan, root_fd, who, write_fd, mounts, on_dir)
    os.close(write_fd)
    try:
        return _parent(pid, read_fd, deadline, plan, on_result)
    except BaseException:  # the log failed, or an interrupt: the child stops with us
        with contextlib.suppress(OSError):
            os.kill(pid, signal.SIGKILL)
            os.waitpid(pid, 0)
        raise
    finally:
        os.close(read_fd)


def _child(
    plan: CachePlan,
    root_fd: int,
    who: Identity,
    out: int,
    mounts: Collection[tuple[int, int]],
    on_dir: Optional[OnDir],
) -> None:
    status = 0
    try:
        signal.signal(signal.SIGINT, signal.SIG_DFL)
        signal.signal(signal.SIGPIPE, signal.SIG_DFL)
        null = os.open(os.devnull, os.O_RDWR)
        for std in (0, 1, 2):  # no descriptor of root's stays open in the owner's process
            if std != null:
                os.dup2(null, std)
        _close_all_but(root_fd, out)
        arm = _parent_death_signal()
        drop_to(who)
        arm()
        for index, outcomes, removed in Executor(plan, root_fd, mounts, on_dir).run():
            _write(out, json.dumps([index, outcomes, removed]).encode() + b"\n")
    except DropFailed as exc:
        _write(out, json.dumps(["error", f"not cleaned: {exc}"]).encode() + b"\n")
        status = 2
    except BaseException as exc:  # the child must end here, whatever happens
        with contextlib.suppress(OSError):
            _write(out, json.dumps(["error", f"stopped: {exc!r}"]).encode() + b"\n")
        status = 1
    os._exit(status)


def _close_all_but(*keep: int) -> None:
    """Close every inherited descriptor but stdin/out/err and ``keep``."""
    top = os.sysconf("SC_OPEN_MAX") if hasattr(os, "sysconf") else 1024
    low = 3
    for fd in sorted(keep):
        os.closerange(low, fd)
        low = fd + 1
    os.closerange(low, max(low, top))


def _write(fd: int, data: bytes) -> None:
    while data:
        data = data[os.write(fd, data) :]


def _parent_death_signal() -> Callable[[], None]:
    """Linux: a function that has the child killed when the parent dies (a killed clean stops
    deleting). Made before the drop (the library is loaded then), called after it (a change of
    credentials clears the setting)."""
    if not sys.platform.startswith("linux"):
        return lambda: None
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        prctl = libc.prctl
    except (OSError, AttributeError):
        return lambda: None
    parent = os.getppid()

    def arm() -> None:
        prctl(1, signal.SIGKILL, 0, 0, 0)  # PR_SET_PDEATHSIG
        if os.getppid() != parent:
            os._exit(1)  # the parent is already gone

    return arm


def _parent(
    pid: int,
    read_fd: int,
    deadline: float,
    plan: CachePlan,
    on_result: Callable[[int, list[str], Optional[str]], None],
) -> ChildOutcome:
    buffer = b""
    error: Optional[str] = None
    done: set[int] = set()
    eof = False
    while not eof:
        left = deadline - time.monotonic()
        if left <= 0:
            os.kill(pid, signal.SIGKILL)
            os.waitpid(pid, 0)
            return ChildOutcome(False, "stopped at the deadline; the rest is left")
        ready, _, _ = select.select([read_fd], [], [], min(left, 1.0))
        if not ready:
            continue
        chunk = os.read(read_fd, 1 << 16)
        if not chunk:
            eof = True
        buffer += chunk
        *lines, buffer = buffer.split(b"\n")
        for line in lines:
            got = _parse(line, plan, done)
            if isinstance(got, str):
                error = got
            else:
                done.add(got[0])
                on_result(*got)
    _, status = os.waitpid(pid, 0)
    if error is None and status != 0:
        error = f"the deleting process ended with status {status}"
    if error is None and len(done) != len(plan.dirs):
        error = "the deleting process stopped before the end"
    return ChildOutcome(error is None and len(done) == len(plan.dirs), error)


def _parse(
    line: bytes, plan: CachePlan, done: set[int]
) -> tuple[int, list[str], Optional[str]] | str:
    """One line from the child, checked: it runs as another account and is not trusted."""
    try:
        got = json.loads(line)
    except ValueError:
        return "the deleting process sent garbage"
    if isinstance(got, list) and len(got) == 2 and got[0] == "error" and isinstance(got[1], str):
        return got[1][:500]
    if not (isinstance(got, list) and len(got) == 3 and isinstance(got[0], int)):
        return "the deleting process sent garbage"
    index, outcomes, removed = got
    if not 0 <= index < len(plan.dirs) or index in done:
        return "the deleting process sent garbage"
    if not isinstance(outcomes, list) or len(outcomes) != len(plan.dirs[index].files):
        return "the deleting process sent garbage"
    if not all(isinstance(o, str) for o in outcomes):
        return "the deleting process sent garbage"
    if removed is not None and not isinstance(removed, str):
        return "the deleting process sent garbage"
    return index, [o[:500] for o in outcomes], None if removed is None else removed[:500]
