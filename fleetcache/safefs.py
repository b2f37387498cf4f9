"""Link-proof filesystem access: paths opened component by component, walks over directory fds."""

from __future__ import annotations

import contextlib
import errno
import os
import stat
from collections import deque
from collections.abc import Collection, Generator, Iterable, Iterator
from dataclasses import dataclass
from typing import Any, Callable, Optional

O_DIR = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC
O_FILE = os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC | os.O_NONBLOCK
O_NOATIME = getattr(os, "O_NOATIME", 0)
# a directory passed through: Linux needs only the right to search it (0711 homes), as the
# kernel's own lookup does; elsewhere it must be readable
O_SEARCH = (
    (os.O_PATH | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC) if hasattr(os, "O_PATH") else O_DIR
)
MAX_LINK_HOPS = 40
# Steps (a link followed, a name its target holds) one cache's links may cost to resolve. Pip's
# os.walk never resolves a link; fleetcache does, inside the machine root, to tell a link to a
# directory from one to a file, and a hostile account can make each resolution cost 40 hops of
# 4 kB targets. Legitimate caches hold few links, with short targets.
LINK_BUDGET = 20_000
# entries of one directory a walk reads at once; the rest of a wider one streams
READ_AHEAD = 1_000


class UnsafePath(Exception):
    """A path that may not be followed or opened; the message says why."""


class NotFound(UnsafePath):
    """A path (or one of its components) that does not exist."""


class Denied(UnsafePath):
    """The running account may not look up or open a path; ``seen``: the last component is
    there (it may not be opened), not merely hidden behind a directory it may not search."""

    def __init__(self, message: str, seen: bool) -> None:
        super().__init__(message)
        self.seen = seen


class _Anyone(Collection[int]):
    """Every uid: links are followed whoever owns them (where the kernel, not a list, judges)."""

    def __contains__(self, uid: object) -> bool:
        return True

    def __iter__(self) -> Iterator[int]:
        return iter(())

    def __len__(self) -> int:
        return 0


ANYONE: Collection[int] = _Anyone()


@dataclass(frozen=True)
class Seen:
    """A directory as :func:`open_path` saw it on its descriptor: path, stat, and its access ACL
    when its group bits let someone write (where an ACL shows its mask), else ``b""``."""

    path: str
    st: os.stat_result
    acl: bytes = b""


@dataclass(frozen=True)
class Step:
    """One move of :func:`open_path`: from a directory to what it holds under the next name (the
    link's lstat, or the fstat of what was opened). Another account that may write to the
    directory could have put anything there: see :mod:`fleetcache.transitions`."""

    directory: Seen
    name: str
    child: os.stat_result


class OverBudget(Exception):
    """Resolving links cost more than their :class:`LinkBudget` allows (deliberately not an
    :class:`UnsafePath`: a caller that passes a budget must say what running out means)."""


class LinkBudget:
    """The link-resolution work a whole cache may still cost, shared by every path opened in it."""

    __slots__ = ("left", "limit")

    def __init__(self, limit: int = LINK_BUDGET) -> None:
        self.limit = self.left = limit

    def spend(self, steps: int) -> None:
        """Take ``steps`` from what is left; raises :class:`OverBudget` once it is exceeded."""
        self.left -= steps
        if self.left < 0:
            raise OverBudget(f"resolving its links took more than {self.limit:,} steps")


@dataclass(frozen=True)
class Opened:
    """A descriptor opened by :func:`open_path`, the path it really names, its stat, and every
    step taken to reach it (links, ``..`` and all), each seen on the descriptor it was made from."""

    fd: int
    path: str
    st: os.stat_result
    via_links: tuple[str, ...] = ()
    steps: tuple[Step, ...] = ()
    seen: Optional[Seen] = None  # what was opened, when a directory


def seen(fd: int, path: str, st: os.stat_result) -> Seen:
    """How a directory open as ``fd`` may be written to: its stat, and its ACL where it matters."""
    acl = b""
    if st.st_mode & stat.S_IWGRP and hasattr(os, "getxattr"):
        with contextlib.suppress(OSError):  # no ACL (ENODATA), or a filesystem without them
            try:
                acl = os.getxattr(fd, "system.posix_acl_access")
            except OSError as exc:  # an O_PATH descriptor: read through its /proc name
                if exc.errno != errno.EBADF:
                    raise
                acl = os.getxattr(f"/proc/self/fd/{fd}", "system.posix_acl_access")
    return Seen(path, st, acl)


def open_anchor(root: str) -> int:
    """Open the machine's root directory, the anchor every other path is opened from."""
    return os.open(root, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)


def open_path(
    anchor: int,
    path: str,
    *,
    trusted_links: Collection[int] = (0,),
    follow_last: bool = False,
    directory: bool = True,
    owners: Optional[Collection[int]] = None,
    search: bool = False,
    budget: Optional[LinkBudget] = None,
) -> Opened:
    """Open an absolute machine path below ``anchor`` without ever following an untrusted link.

    Every component is opened with ``O_NOFOLLOW`` relative to its parent's descriptor. A symbolic
    link on the way is followed only when its owner is in ``trusted_links`` (root, the account),
    and its target is resolved inside the anchor, never on the host. The last component must not
    be a link unless ``follow_last``. With ``owners``, every directory on the way must belong to
    one of them (another account could swap what lies below its own directories). With
    ``search``, the last directory is opened only to look up names in it. Directories on the
    way need only be searchable. Each step is kept in the result, seen on the descriptors used,
    for :mod:`fleetcache.transitions` to judge. Raises :class:`NotFound`, :class:`Denied` or
    :class:`UnsafePath`; with ``budget``, every link followed and every name in its target is
    charged to it, and :class:`OverBudget` is raised once it runs out.
    """
    pending = [p for p in reversed(path.split("/")) if p not in ("", ".")]
    stack: list[int] = [os.dup(anchor)]
    dirs = [seen(stack[0], "/", os.fstat(stack[0]))]
    names: list[str] = []
    links: list[str] = []
    steps: list[Step] = []
    try:
        while pending:
            name = pending.pop()
            if name == "..":
                if len(stack) > 1:
                    os.close(stack.pop())
                    names.pop()
                    dirs.pop()
                continue
            here = "/" + "/".join([*names, name])
            last = not pending
            try:
                st = os.stat(name, dir_fd=stack[-1], follow_symlinks=False)
            except FileNotFoundError:
                raise NotFound(f"{here} does not exist") from None
            except NotADirectoryError:
                raise UnsafePath(f"{'/' + '/'.join(names)} is not a directory") from None
            except PermissionError:
                raise Denied(f"{here}: permission denied", seen=False) from None
            if stat.S_ISLNK(st.st_mode):
                if last and not follow_last:
                    raise UnsafePath(f"{here} is a symbolic link")
                if st.st_uid not in trusted_links:
                    raise UnsafePath(f"{here} is a symbolic link owned by uid {st.st_uid}")
                if len(links) >= MAX_LINK_HOPS:
                    raise UnsafePath(f"{here}: too many levels of symbolic links")
                target = os.readlink(name, dir_fd=stack[-1])
                links.append(here)
                steps.append(Step(dirs[-1], name, st))
                more = [p for p in reversed(target.split("/")) if p not in ("", ".")]
                if budget is not None:
                    budget.spend(1 + len(more))
                if target.startswith("/"):
                    while len(stack) > 1:
                        os.close(stack.pop())
                    names.clear()
                    del dirs[1:]
                pending.extend(more)
                continue
            if last and not directory:
                if not stat.S_ISREG(st.st_mode):
                    raise UnsafePath(f"{here} is not a regular file")
                flags = O_FILE
            else:
                if not stat.S_ISDIR(st.st_mode):
                    raise UnsafePath(f"{here} is not a directory")
                flags = O_SEARCH if search or not last else O_DIR
            try:
                fd = open_quietly(name, flags, stack[-1])
            except PermissionError:
                raise Denied(f"{here}: permission denied", seen=True) from None
            opened = os.fstat(fd)
            if (opened.st_dev, opened.st_ino) != (st.st_dev, st.st_ino):
                os.close(fd)
                raise UnsafePath(f"{here} changed while it was being opened")
            if owners is not None and not last and opened.st_uid not in owners:
                os.close(fd)
                raise UnsafePath(f"{here} belongs to uid {opened.st_uid}, who could change it")
            steps.append(Step(dirs[-1], name, opened))
            stack.append(fd)
            names.append(name)
            if stat.S_ISDIR(opened.st_mode):
                dirs.append(seen(fd, here, opened))
        fd = stack.pop()
        if not search and O_SEARCH != O_DIR and _search_only(fd):
            # a link (or "..") ended on a directory passed through, opened only to search it
            stack.append(fd)
            try:
                fd = open_quietly(".", O_DIR, stack[-1])
            except PermissionError:
                raise Denied(f"{path}: permission denied", seen=True) from None
        st = os.fstat(fd)
        end = dirs[-1] if stat.S_ISDIR(st.st_mode) else None
        return Opened(fd, "/" + "/".join(names), st, tuple(links), tuple(steps), end)
    except PermissionError as exc:
        raise UnsafePath(f"{path}: permission denied ({exc.strerror})") from None
    except FileNotFoundError:
        raise NotFound(f"{path} vanished while it was being opened") from None
    except OSError as exc:  # a name too long, a loop, an I/O error: never a crash
        raise UnsafePath(f"{path}: {exc.strerror or exc}") from None
    except ValueError:  # a NUL byte in a name read from someone's file
        raise UnsafePath("a path with a NUL byte") from None
    finally:
        for fd in stack:
            os.close(fd)


def _search_only(fd: int) -> bool:
    """Whether ``fd`` was opened with ``O_PATH`` (Linux): it may be searched, not listed."""
    import fcntl  # where O_PATH exists

    return bool(fcntl.fcntl(fd, fcntl.F_GETFL) & getattr(os, "O_PATH", 0))


def read_small_file(
    anchor: int, path: str, *, trusted_links: Collection[int], limit: int = 1 << 20
) -> Optional[tuple[bytes, os.stat_result]]:
    """A small regular file's bytes and stat, opened like :func:`open_path`; None when absent."""
    try:
        opened = open_path(
            anchor, path, trusted_links=trusted_links, follow_last=True, directory=False
        )
    except NotFound:
        return None
    try:
        if opened.st.st_size > limit:
            raise UnsafePath(f"{path} is larger than {limit} bytes")
        return os.read(opened.fd, limit + 1), opened.st
    finally:
        os.close(opened.fd)


def open_quietly(name: str, flags: int, dir_fd: Optional[int] = None) -> int:
    """``os.open`` that leaves the access time of what it reads alone where the kernel lets it
    (the file's owner, root): a read (a listing too) is no use of a cache's entry, and the access
    time is how a clean tells use (see fleetcache.lastuse)."""
    if O_NOATIME:
        try:
            return os.open(name, flags | O_NOATIME, dir_fd=dir_fd)
        except PermissionError as exc:
            if exc.errno != errno.EPERM:  # EPERM: O_NOATIME on another account's file
                raise
    return os.open(name, flags, dir_fd=dir_fd)


def read_at(dir_fd: int, name: str, limit: int = 1 << 16) -> bytes:
    """The first ``limit`` bytes of a regular file in ``dir_fd``, opened without following links
    (only once it is seen to be a regular file: never a FIFO or a device) and, where allowed,
    without updating its access time (pip's only "last used" signal)."""
    if not stat.S_ISREG(os.stat(name, dir_fd=dir_fd, follow_symlinks=False).st_mode):
        raise UnsafePath(f"{name} is not a regular file")
    fd = open_quietly(name, O_FILE, dir_fd)
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            raise UnsafePath(f"{name} is not a regular file")
        return os.read(fd, limit)
    finally:
        os.close(fd)


Walked = tuple[tuple[str, ...], int, Iterable[os.DirEntry[str]], list[str]]
OnError = Callable[[tuple[str, ...], str], None]


def walk(
    top_fd: int,
    on_error: OnError,
    rel: tuple[str, ...] = (),
    skip: Collection[tuple[int, int]] = (),
    on_skip: Optional[Callable[[tuple[str, ...]], None]] = None,
) -> Generator[Walked, None, None]:
    """Walk the tree below ``top_fd`` depth-first, never following a link nor leaving its device.

    Yields ``(relative parts, dir fd, non-directories, subdirectory names)`` for each directory.
    The non-directories of a wide directory stream from the kernel as the consumer iterates them
    (at most ``READ_AHEAD`` are held: a million files cost what a thousand do); each
    subdirectory's name is added to the list as it passes, so the list is complete once the
    entries are exhausted (the walk reads what the consumer left). The consumer may then remove
    names from it to prune them.
    The descriptor stays open while the consumer looks at the directory. Unreadable or vanished
    directories go to ``on_error``. A directory whose (device, inode) is in ``skip`` (a mount
    point) is not even listed: it goes to ``on_skip``. ``top_fd`` is borrowed, not closed.

    This is the loop every scan spends its time in: one frame per directory in a plain list, no
    generator or object per directory (but a wide one's stream), and per directory only open, the
    listing and close. Mount points are known from the mount table
    when the walk starts (on Linux; elsewhere, or with ``skip``, each directory's device is
    checked with fstat).
    """
    device = os.fstat(top_fd).st_dev
    mounted = None if skip else mounts_below(top_fd)
    # [fd, parts, subdirectory names, index of the next one, whether the walk opened fd]
    stack: list[list[Any]] = []
    fd, parts, owned = top_fd, rel, False
    try:
        while True:
            dirs: list[str] = []
            entries = _listing(fd, parts, dirs, on_error)
            stack.append([fd, parts, dirs, 0, owned])
            yield parts, fd, entries, dirs
            if not isinstance(entries, list):  # the rest: the names of the subdirectories
                rest(entries)
            fd = -1
            while stack:  # the next directory to list: the first child not yet done, up the stack
                frame = stack[-1]
                pending = frame[2]
                if frame[3] >= len(pending):
                    stack.pop()
                    if frame[4]:
                        os.close(frame[0])
                    continue
                name = pending[frame[3]]
                frame[3] += 1
                parts = (*frame[1], name)
                if mounted and parts[len(rel) :] in mounted:
                    on_error(parts, "another filesystem is mounted here; not entered")
                    continue
                fd = _open_child(
                    frame[0], name, parts, None if mounted is not None else device,
                    on_error, skip, on_skip,
                )  # fmt: skip
                if fd >= 0:
                    break
            if fd < 0:
                return
            owned = True
    finally:
        for frame in stack:
            if frame[4]:
                os.close(frame[0])


def _listing(
    fd: int, parts: tuple[str, ...], dirs: list[str], on_error: OnError
) -> Iterable[os.DirEntry[str]]:
    """The non-directories of one directory; each subdirectory's name goes to ``dirs`` instead.
    Up to ``READ_AHEAD`` of them are read at once into a list (the common case, and the fastest);
    past that, the rest streams from the kernel as the consumer iterates: a directory is never
    held whole. A listing that fails goes to ``on_error``."""
    files: list[os.DirEntry[str]] = []
    try:
        it = os.scandir(fd)
    except OSError as exc:
        on_error(parts, exc.strerror or str(exc))
        return files
    try:
        for entry in it:
            if entry.is_dir(follow_symlinks=False):
                dirs.append(entry.name)
            else:
                files.append(entry)
                if len(files) == READ_AHEAD:
                    return _streamed(it, files, parts, dirs, on_error)
    except OSError as exc:
        on_error(parts, exc.strerror or str(exc))
    it.close()
    return files


def _streamed(
    it: os._ScandirIterator[str],
    head: list[os.DirEntry[str]],
    parts: tuple[str, ...],
    dirs: list[str],
    on_error: OnError,
) -> Iterator[os.DirEntry[str]]:
    """A wide directory's non-directories: those read ahead, then the rest of the listing ``it``
    (closed at the end), one at a time."""
    try:
        yield from head
        head.clear()
        for entry in it:
            if entry.is_dir(follow_symlinks=False):
                dirs.append(entry.name)
            else:
                yield entry
    except OSError as exc:
        on_error(parts, exc.strerror or str(exc))
    finally:
        it.close()


def rest(entries: Iterable[os.DirEntry[str]]) -> None:
    """Read what is left of a listing from :func:`walk`, for its complete subdirectory names."""
    deque(entries, maxlen=0)


def _open_child(
    parent: int,
    name: str,
    parts: tuple[str, ...],
    device: Optional[int],
    on_error: OnError,
    skip: Collection[tuple[int, int]],
    on_skip: Optional[Callable[[tuple[str, ...]], None]],
) -> int:
    """A subdirectory's descriptor, or -1 (and why, to ``on_error``) when it is not entered.
    ``device`` None: the mount table already said it is no mount point."""
    try:
        fd = open_quietly(name, O_DIR, parent)
    except FileNotFoundError:
        return -1
    except OSError as exc:
        if exc.errno == errno.EMFILE:
            on_error(parts, "too deep: out of file descriptors; not entered")
        elif exc.errno in (errno.ELOOP, errno.ENOTDIR):
            on_error(parts, "no longer a directory (replaced during the walk); not followed")
        else:
            on_error(parts, exc.strerror or str(exc))
        return -1
    if device is None:
        return fd
    st = os.fstat(fd)
    if st.st_dev != device:
        os.close(fd)
        on_error(parts, "another filesystem is mounted here; not entered")
        return -1
    if skip and (st.st_dev, st.st_ino) in skip:
        os.close(fd)
        if on_skip is not None:
            on_skip(parts)
        return -1
    return fd


def mounts_below(fd: int) -> Optional[set[tuple[str, ...]]]:
    """The mount points below the directory ``fd`` (bind mounts too), as parts relative to it,
    from this process's mount table; None where that table cannot be read (not Linux)."""
    try:
        top = os.readlink(f"/proc/self/fd/{fd}")
        with open("/proc/self/mountinfo", "rb") as f:
            table = f.read()
    except OSError:
        return None
    if not top.startswith("/") or top.endswith(" (deleted)"):
        return None
    prefix = top.rstrip("/") + "/"
    found: set[tuple[str, ...]] = set()
    for line in table.split(b"\n"):
        fields = line.split(b" ", 5)
        if len(fields) < 5:
            continue
        point = unescape_mount_path(fields[4])
        if point.startswith(prefix):
            found.add(tuple(p for p in point[len(prefix) :].split("/") if p))
    return found


def unescape_mount_path(field: bytes) -> str:
    """A mount table path with its octal escapes (``\\040`` for a space) undone."""
    out = bytearray()
    i = 0
    while i < len(field):
        if field[i : i + 1] == b"\\" and field[i + 1 : i + 4].isdigit():
            out.append(int(field[i + 1 : i + 4], 8))
            i += 4
        else:
            out.append(field[i])
            i += 1
    return out.decode("utf-8", "surrogateescape")
