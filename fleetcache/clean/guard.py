"""What stands around a clean: the cache root opened without a link, the mount points inside it,
the per-cache lock, and the append-only audit log."""

from __future__ import annotations

import contextlib
import datetime
import errno
import fcntl
import hashlib
import json
import os
import stat
from collections.abc import Collection
from typing import Any, Optional

from fleetcache import safefs, transitions

SYSTEM_LOG = "/var/log/fleetcache/audit.log"
SYSTEM_LOCKS = "/run/fleetcache"
SYSTEM_STATE = "/var/lib/fleetcache"  # last cleans, quarantine runs: root's, 0700


class Refused(Exception):
    """A cache, lock or log that may not be used; the message says why."""


def open_cache(anchor: int, path: str, uid: int, known: transitions.Groups) -> safefs.Opened:
    """Open a cache root component by component from the machine's root: no link anywhere on the
    way, the root itself the account's, and nobody but root and the account able to change the way
    or the root (the unsafe path transition rule, judged on the descriptors the clean then uses)."""
    try:
        opened = safefs.open_path(anchor, path, trusted_links=())
    except safefs.NotFound as exc:
        raise Refused(str(exc)) from None
    except safefs.UnsafePath as exc:
        raise Refused(f"refused: {exc}") from None
    why = transitions.unsafe_way(opened.steps, opened.seen, uid, known)
    if opened.st.st_uid != uid:
        why = f"{path} belongs to uid {opened.st.st_uid}, not to uid {uid}"
    if why is not None:
        os.close(opened.fd)
        raise Refused(f"refused: {why}")
    return opened


def mount_points(fd: int) -> set[tuple[int, int]]:
    """(device, inode) of every mount point below the directory ``fd`` (Linux; else none).
    Raises Refused when one cannot be looked at without following a link: the clean could not
    tell it when it meets it."""
    found = set()
    for parts in sorted(safefs.mounts_below(fd) or ()):
        st = _lstat_no_link(fd, parts)
        if st is None:
            where = "/".join(parts)
            raise Refused(f"refused: the mount point {where} below it cannot be looked at"
                          " without following a link")  # fmt: skip
        found.add((st.st_dev, st.st_ino))
    return found


def _lstat_no_link(top: int, parts: tuple[str, ...]) -> Optional[os.stat_result]:
    """lstat ``parts`` below ``top`` without following a link on the way (an account may have put
    one where a directory above its mount point was): None when it cannot be."""
    if not parts:
        return None
    try:
        opened = safefs.open_path(top, "/".join(parts[:-1]), trusted_links=())
    except safefs.UnsafePath:
        return None
    try:
        return os.stat(parts[-1], dir_fd=opened.fd, follow_symlinks=False)
    except OSError:
        return None
    finally:
        os.close(opened.fd)


def default_log(euid: int, env: Optional[dict[str, str]] = None) -> str:
    """The audit log: under the system log directory for root, else the account's state dir."""
    if euid == 0:
        return SYSTEM_LOG
    from platformdirs import user_log_dir

    return os.path.join(user_log_dir("fleetcache", appauthor=False), "audit.log")


def default_lock_dir(euid: int) -> str:
    """Where the per-cache locks live: a root-owned runtime directory, or the account's own."""
    if euid == 0:
        return SYSTEM_LOCKS
    runtime = os.environ.get("XDG_RUNTIME_DIR")
    if runtime and os.path.isabs(runtime):
        return os.path.join(runtime, "fleetcache")
    import tempfile

    return os.path.join(tempfile.gettempdir(), f"fleetcache-{euid}")


def default_state_dir(euid: int) -> str:
    """Where fleetcache keeps what outlives a run (the last clean of each account, the
    quarantine runs): a root-owned directory, or the account's own state directory."""
    if euid == 0:
        return SYSTEM_STATE
    from platformdirs import user_state_dir

    return user_state_dir("fleetcache", appauthor=False)


def _private_dir(path: str) -> None:
    """Make (or check) a directory only this account may write: no link, owned by us, 0700-ish."""
    try:
        os.makedirs(path, mode=0o700, exist_ok=True)
    except OSError as exc:
        raise Refused(f"cannot create {path}: {exc.strerror}") from None
    st = os.lstat(path)
    if not stat.S_ISDIR(st.st_mode) or st.st_uid != os.geteuid() or st.st_mode & 0o022:
        raise Refused(f"{path} is not a private directory of uid {os.geteuid()}")


def _safe_parent(path: str, st: os.stat_result) -> None:
    """An existing directory to keep a log in: only root or this account may write to it, or, when
    others may, it is sticky (/tmp) so that nobody else can replace what is in it."""
    euid = os.geteuid()
    if not stat.S_ISDIR(st.st_mode):
        raise Refused(f"{path} is not a directory")
    if st.st_uid not in (0, euid):
        raise Refused(f"{path} belongs to uid {st.st_uid}, who could swap the log")
    if st.st_mode & 0o022 and not st.st_mode & stat.S_ISVTX:
        raise Refused(f"{path} is writable by others (mode {stat.S_IMODE(st.st_mode):o})")


class AuditLog:
    """JSON lines appended to a private file: one per action, written as the action is known."""

    def __init__(self, path: str) -> None:
        self.path = path
        parent, name = os.path.split(os.path.abspath(path))
        if not os.path.lexists(parent):
            _private_dir(parent)
        # the directory is opened with no link of another account on the way, and checked by its
        # descriptor: what is checked is where the log is opened, whatever is renamed meanwhile
        host = safefs.open_anchor("/")
        try:
            opened = safefs.open_path(host, parent, owners={0, os.geteuid()}, follow_last=True)
        except safefs.UnsafePath as exc:
            raise Refused(f"audit log {path}: {exc}") from None
        finally:
            os.close(host)
        flags = (
            os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_NOFOLLOW | os.O_CLOEXEC | os.O_NONBLOCK
        )
        try:
            _safe_parent(parent, opened.st)
            self.fd = os.open(name, flags, 0o600, dir_fd=opened.fd)  # a FIFO: no wait
        except OSError as exc:
            raise Refused(f"audit log {path}: {exc.strerror}") from None
        finally:
            os.close(opened.fd)
        st = os.fstat(self.fd)
        problem = None
        if not stat.S_ISREG(st.st_mode):
            problem = "not a regular file"
        elif st.st_uid != os.geteuid():
            problem = f"owned by uid {st.st_uid}"
        elif st.st_mode & 0o077:
            problem = f"mode {stat.S_IMODE(st.st_mode):o}, not 600"
        elif st.st_nlink != 1:
            problem = "it has other hard links"
        if problem:
            os.close(self.fd)
            raise Refused(f"audit log {path}: {problem}; refusing to write to it")
        self.pending: list[bytes] = []

    def add(self, record: dict[str, Any]) -> None:
        """Queue one action (written at the next flush; every record ends a line)."""
        record = {"time": _now(), **record}
        self.pending.append(json.dumps(record, ensure_ascii=True).encode() + b"\n")
        if len(self.pending) >= 256:
            self.flush()

    def flush(self) -> None:
        """Write what is queued, whole lines only."""
        data = b"".join(self.pending)
        self.pending.clear()
        while data:
            written = os.write(self.fd, data)
            data = data[written:]

    def close(self) -> None:
        """Flush and close."""
        try:
            self.flush()
        finally:
            os.close(self.fd)


def _now() -> str:
    moment = datetime.datetime.now(tz=datetime.timezone.utc)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.%fZ")


class Lock:
    """An exclusive lock on one cache, held by this process until released (or it dies). The
    lock file is removed on release, so that caches come and go without leaving files behind."""

    def __init__(self, directory: str, cache: tuple[int, int]) -> None:
        """``cache`` is the (device, inode) of the cache's root: the same cache under any path."""
        _private_dir(directory)
        self.path = _lock_path(directory, cache)
        self.fd: Optional[int] = None

    def acquire(self) -> Optional[str]:
        """None when held now; else who holds it."""
        flags = os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW | os.O_CLOEXEC | os.O_NONBLOCK
        while True:
            fd = os.open(self.path, flags, 0o600)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError as exc:
                holder = os.pread(fd, 32, 0).decode("ascii", "replace").strip()
                os.close(fd)
                if exc.errno not in (errno.EWOULDBLOCK, errno.EAGAIN, errno.EACCES):
                    raise
                return f"another clean of this cache is running (pid {holder or '?'})"
            try:  # the file may have been removed by the holder we waited for: lock the new one
                same = os.path.samestat(os.fstat(fd), os.lstat(self.path))
            except FileNotFoundError:
                same = False
            if same:
                break
            os.close(fd)
        self.fd = fd
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
        return None

    def release(self) -> None:
        """Let the next clean of this cache in (removing the file while it is still held)."""
        if self.fd is None:
            return
        with contextlib.suppress(FileNotFoundError):
            os.unlink(self.path)
        os.close(self.fd)
        self.fd = None


def _lock_path(directory: str, cache: tuple[int, int]) -> str:
    name = hashlib.sha256("{}:{}".format(*cache).encode()).hexdigest()[:32]
    return os.path.join(directory, f"{name}.lock")


def lock_holder(directory: str, cache: tuple[int, int]) -> Optional[str]:
    """Who holds the lock of a cache now (another clean deleting in it), or None; creates
    nothing (a plan only looks)."""
    try:
        fd = os.open(_lock_path(directory, cache), os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC)
    except OSError:
        return None
    try:
        fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
    except OSError:
        holder = os.pread(fd, 32, 0).decode("ascii", "replace").strip()
        return f"another clean of this cache is running (pid {holder or '?'})"
    finally:
        os.close(fd)
    return None


def relative(parts: Collection[str]) -> str:
    """A path below the cache, as the log writes it."""
    return "/".join(parts)
