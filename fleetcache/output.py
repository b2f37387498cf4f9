"""Writing a report to ``-o FILE`` as root without harming what FILE names: a device or FIFO is
written into, a regular file replaced whole (its mode and owner kept), a new file made with the
umask's mode; links and files another account planted in a sticky world-writable directory (a
/tmp) are refused, as the kernel's protected_symlinks, protected_regular and protected_fifos do,
and in a directory another account may change (node_exporter's) no link is followed at all."""

from __future__ import annotations

import os
import secrets
import stat

from fleetcache import safefs

MAX_LINK_HOPS = safefs.MAX_LINK_HOPS
O_WRITE = os.O_WRONLY | os.O_NOCTTY | os.O_NOFOLLOW | os.O_CLOEXEC


class OutputError(Exception):
    """FILE may not be written; the message says why, in one line."""


def write(text: str, path: str) -> None:
    """Put ``text`` in ``path``: into a FIFO or character device, else a file renamed into place.
    A block device (text would wreck the disk), a directory or a socket is refused."""
    dir_fd, name, st = _locate(path)
    try:
        if st is None or stat.S_ISREG(st.st_mode):
            _replace(text, dir_fd, name, st, path)
        elif stat.S_ISFIFO(st.st_mode) or stat.S_ISCHR(st.st_mode):
            _into(text, dir_fd, name, st, path)
        else:
            raise OutputError(f"{path} is {_kind(st)}: not written")
    except OSError as exc:
        raise OutputError(f"cannot write {path}: {exc.strerror or exc}") from None
    finally:
        os.close(dir_fd)


def _kind(st: os.stat_result) -> str:
    if stat.S_ISDIR(st.st_mode):
        return "a directory"
    if stat.S_ISBLK(st.st_mode):
        return "a block device"
    return "a socket" if stat.S_ISSOCK(st.st_mode) else "not a file"


def _replace(text: str, dir_fd: int, name: str, old: os.stat_result | None, path: str) -> None:
    """Write a temporary file beside ``name`` and rename it into place: a reader (node_exporter)
    sees the old report or the new one, never half. A new file's mode comes from the umask."""
    tmp = f".fleetcache-{secrets.token_hex(8)}.tmp"
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC
    fd = os.open(tmp, flags, 0o666 if old is None else 0o600, dir_fd=dir_fd)
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="") as f:
            f.write(text)
            f.flush()
            if old is not None:
                _keep(f.fileno(), old, path)
            os.fsync(f.fileno())
        os.rename(tmp, name, src_dir_fd=dir_fd, dst_dir_fd=dir_fd)
    except BaseException:
        os.unlink(tmp, dir_fd=dir_fd)
        raise


def _keep(fd: int, old: os.stat_result, path: str) -> None:
    """Give the new file the old one's owner, then its mode (a chown clears set-id bits)."""
    new = os.fstat(fd)
    if (new.st_uid, new.st_gid) != (old.st_uid, old.st_gid):
        try:
            os.fchown(fd, old.st_uid, old.st_gid)
        except PermissionError:
            raise OutputError(
                f"{path}: cannot keep its owner (uid {old.st_uid}, gid {old.st_gid}): not replaced"
            ) from None
    os.fchmod(fd, stat.S_IMODE(old.st_mode))


def _into(text: str, dir_fd: int, name: str, st: os.stat_result, path: str) -> None:
    """Write into a FIFO or a character device, as the shell's ``>`` would, never creating."""
    fd = os.open(name, O_WRITE, dir_fd=dir_fd)
    with os.fdopen(fd, "w", encoding="utf-8", newline="") as f:
        opened = os.fstat(f.fileno())
        if (opened.st_dev, opened.st_ino) != (st.st_dev, st.st_ino):
            raise OutputError(f"{path} changed while it was being opened: not written")
        f.write(text)


def _link_refusal(name: str, st: os.stat_result, hops: int) -> str:
    if hops > MAX_LINK_HOPS:
        return "too many levels of symbolic links"
    return f"{name} is a symbolic link of uid {st.st_uid} in a directory others may write: not followed"


def _protected(parent: os.stat_result, st: os.stat_result) -> bool:
    """Whether what ``st`` is, in the directory ``parent``, may not be followed (a link) or
    opened (a file, a FIFO). In a sticky directory of root's (or ours) that others may write
    (a /tmp): the kernel's protected_* rules, only its owner's or the directory's pass. In any
    other directory another account may change (its own, as node_exporter's textfile directory,
    or one a group or others may write): no link, since it may be swapped after it was looked
    at, and nothing but a regular file (replaced by a rename: nothing is written through it)
    unless it is ours."""
    euid = os.geteuid()
    ours = parent.st_uid in (0, euid)
    if ours and parent.st_mode & stat.S_ISVTX and parent.st_mode & 0o022:
        return st.st_uid not in (euid, parent.st_uid)
    if ours and not parent.st_mode & 0o022:
        return False  # no one else may change what is in it
    return stat.S_ISLNK(st.st_mode) or (not stat.S_ISREG(st.st_mode) and st.st_uid != euid)


def _locate(path: str) -> tuple[int, str, os.stat_result | None]:
    """The directory FILE is in (an open fd), its name there and what it is now (None: nothing).
    Each component is opened from its parent's fd without following links; a link is followed
    by hand, only where :func:`_protected` allows, its ``..`` after it as the kernel takes it."""
    pending = _parts(path if path.startswith("/") else os.path.join(os.getcwd(), path))
    stack = [os.open("/", safefs.O_DIR)]
    hops = 0
    try:
        while pending:
            name = pending.pop()
            if name == "..":
                if len(stack) > 1:
                    os.close(stack.pop())
                continue
            st = _lstat(name, stack[-1])
            parent = os.fstat(stack[-1])
            if st is not None and stat.S_ISLNK(st.st_mode):
                hops += 1
                if _protected(parent, st) or hops > MAX_LINK_HOPS:
                    raise OutputError(f"{path}: {_link_refusal(name, st, hops)}")
                target = os.readlink(name, dir_fd=stack[-1])
                while target.startswith("/") and len(stack) > 1:
                    os.close(stack.pop())
                pending.extend(_parts(target))
            elif pending:
                stack.append(_open_dir(name, st, stack[-1], path))
            elif st is not None and _protected(parent, st):
                raise OutputError(
                    f"{path} belongs to uid {st.st_uid} in a directory others may write: "
                    "not written"
                )
            else:
                return stack.pop(), name, st
        raise OutputError(f"{path} is a directory: not written")
    except OSError as exc:
        raise OutputError(f"cannot write {path}: {exc.strerror or exc}") from None
    finally:
        for fd in stack:
            os.close(fd)


def _parts(path: str) -> list[str]:
    """A path's components, last first (a stack to pop)."""
    return [p for p in reversed(path.split("/")) if p not in ("", ".")]


def _lstat(name: str, dir_fd: int) -> os.stat_result | None:
    try:
        return os.stat(name, dir_fd=dir_fd, follow_symlinks=False)
    except FileNotFoundError:
        return None


def _open_dir(name: str, st: os.stat_result | None, dir_fd: int, path: str) -> int:
    """A directory on the way, opened without following a link, checked to be the one seen."""
    if st is None or not stat.S_ISDIR(st.st_mode):
        why = "no such directory" if st is None else f"{name} is not a directory"
        raise OutputError(f"cannot write {path}: {why}")
    fd = os.open(name, safefs.O_DIR, dir_fd=dir_fd)
    opened = os.fstat(fd)
    if (opened.st_dev, opened.st_ino) != (st.st_dev, st.st_ino):
        os.close(fd)
        raise OutputError(f"cannot write {path}: {name} changed while it was being opened")
    return fd
