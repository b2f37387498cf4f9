"""The process table, the edge the activity check reads: one psutil pass into plain records.

Each process costs one ``process_iter`` entry (command line, executable, working directory and
environment, read in psutil's one-shot mode), its effective uid and its parent, and, on Linux,
one read of ``/proc/PID/maps`` and one listing of ``/proc/PID/fd``
(the files it holds: a cache a process sits in or holds open is busy, whatever the process is
called). Kernel threads, zombies (no command line to read) and fleetcache's own processes
(:mod:`fleetcache.activity.own`) are passed over; a process that ends mid-pass simply drops out
(psutil skips it).
"""

from __future__ import annotations

import gc
import os
import re
import sys
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Callable, Optional

import psutil

from fleetcache.activity import own

ATTRS = ["pid", "cmdline", "exe", "cwd", "environ"]
MAPS_LIMIT = 16 << 20  # a process with more mappings than this is read that far
FDS_LIMIT = 1 << 14  # open files read per process: a hostile process may hold a million

# the variables the activity check and discovery read; the rest of an environment is dropped
ENV_KEYS = frozenset(
    {
        "HOME",
        "VIRTUAL_ENV",
        "CONDA_PREFIX",
        "CONDA_EXE",
        "PIP_CACHE_DIR",
        "PIP_NO_CACHE_DIR",
        "PIP_CONFIG_FILE",
        "XDG_CACHE_HOME",
        "XDG_CONFIG_HOME",
        "XDG_CONFIG_DIRS",
        "XDG_DATA_HOME",
        "WORKON_HOME",
        "PYENV_ROOT",
        "PIPX_HOME",
        "POETRY_VIRTUALENVS_PATH",
        "UV_PYTHON_INSTALL_DIR",
        "UV_CACHE_DIR",
        "UV_NO_CACHE",
        "CONDA_ENVS_PATH",
        "CONDA_ENVS_DIRS",
    }
)  # and each cache kind's own (fleetcache.kinds: CacheKind.VARIABLES)


def env_keys() -> frozenset[str]:
    """The variables kept from each process's environment: discovery's and every kind's."""
    from fleetcache.kinds import all as kinds_all  # the kinds read processes: not at load

    return ENV_KEYS | frozenset(kinds_all.variables())


@dataclass(frozen=True)
class Proc:
    """One process as read. ``None`` means "could not be read" (access denied), never "empty"."""

    pid: int
    uid: Optional[int]
    argv: Optional[tuple[str, ...]]
    exe: Optional[str]  # "" when the kernel names none
    cwd: Optional[str]
    environ: Optional[Mapping[str, str]]  # only env_keys(), as at exec time
    maps: Optional[frozenset[str]]  # mapped files (empty off Linux)
    fds: Optional[frozenset[str]] = frozenset()  # files and directories it has open (Linux)
    setid: bool = False  # a set-uid/set-gid program: its environment is its caller's

    @property
    def denied(self) -> tuple[str, ...]:
        """What could not be read."""
        fields = (
            ("command line", self.argv),
            ("executable", self.exe),
            ("working directory", self.cwd),
            ("environment", self.environ),
            ("memory maps", self.maps),
        )
        return tuple(name for name, value in fields if value is None)


@dataclass(frozen=True)
class Snapshot:
    """The processes of one pass, and how many the table held."""

    procs: tuple[Proc, ...]
    seen: int


ProcessTable = Callable[[], Snapshot]


MAPPED_PATH = re.compile(rb" (/[^\n]*)")
DELETED = b" (deleted)"


def read_maps(pid: int) -> Optional[frozenset[str]]:
    """The files a Linux process has mapped (extension modules, libpython, anything mmap'ed);
    None when not permitted, empty when it has none or has ended."""
    try:
        fd = os.open(f"/proc/{pid}/maps", os.O_RDONLY | os.O_CLOEXEC)
    except PermissionError:
        return None
    except OSError:
        return frozenset()
    chunks = []
    size = 0
    try:
        while size < MAPS_LIMIT:
            chunk = os.read(fd, 1 << 16)
            if not chunk:
                break
            chunks.append(chunk)
            size += len(chunk)
    except PermissionError:
        return None
    except OSError:
        return frozenset()
    finally:
        os.close(fd)
    # the path is the line's last field, after the columns' padding: one C-level pass
    found = set(MAPPED_PATH.findall(b"".join(chunks)))
    return frozenset(os.fsdecode(p[: -len(DELETED)] if p.endswith(DELETED) else p) for p in found)


def read_fds(pid: int) -> Optional[frozenset[str]]:
    """The files and directories a Linux process has open (paths only: no sockets, pipes or
    anonymous inodes), at most FDS_LIMIT of them; None when not permitted."""
    try:
        dir_fd = os.open(f"/proc/{pid}/fd", os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    except PermissionError:
        return None
    except OSError:
        return frozenset()
    found = set()
    try:
        for name in os.listdir(dir_fd)[:FDS_LIMIT]:
            try:
                target = os.readlink(name, dir_fd=dir_fd)
            except OSError:  # closed meanwhile
                continue
            if target.startswith("/"):
                found.add(target[: -len(" (deleted)")] if target.endswith(" (deleted)") else target)
    except PermissionError:
        return None
    except OSError:
        return frozenset(found)
    finally:
        os.close(dir_fd)
    return frozenset(found)


def read_ppid(pid: int) -> Optional[int]:
    """A Linux process's parent pid from ``/proc/PID/stat`` (a few microseconds: psutil parses
    every field); None when it has ended. Its name may hold anything: the fields follow the
    last ``)``."""
    try:
        fd = os.open(f"/proc/{pid}/stat", os.O_RDONLY | os.O_CLOEXEC)
    except OSError:
        return None
    try:
        data = os.read(fd, 4096)
    except OSError:
        return None
    finally:
        os.close(fd)
    try:
        return int(data[data.rindex(b")") + 2 :].split(b" ", 2)[1])
    except (ValueError, IndexError):
        return None


def _ppid(proc: psutil.Process) -> Optional[int]:
    """A process's parent pid through psutil (off Linux); None when it has ended."""
    try:
        return int(proc.ppid())
    except psutil.Error:
        return None


def _ids(
    proc: psutil.Process, argv: Optional[list[str]], settings: bool, linux: bool
) -> tuple[Optional[int], bool]:
    """``(effective uid, setid)``; uid None when the process has gone. On Linux the owner of
    ``/proc/PID`` is the effective uid, at one ``stat`` instead of parsing ``/proc/PID/status``
    (a third of the pass). A root-owned entry may also be a set-uid program (``su``, ``sudo``)
    still holding its caller's environment: psutil is asked when it runs a Python or has
    settings to harvest, and ``setid`` says its real and effective uids differ."""
    if linux:
        try:
            owner = os.stat(f"/proc/{proc.pid}").st_uid
        except OSError:
            return None, False
        if owner != 0 or not (settings or _pythonish(argv)):
            return owner, False
    try:
        real, effective, saved = proc.uids()
    except (psutil.Error, AttributeError):  # gone; Windows has no uids
        return None, False
    return int(effective), not real == effective == saved


def _pythonish(argv: Optional[list[str]]) -> bool:
    """Whether a command line may run a Python (unknown ones may)."""
    if not argv:
        return argv is None
    return any("python" in word or "pip" in word for word in argv[:2])


def _zombie(proc: psutil.Process) -> bool:
    """Whether a process whose command line could not be read is a zombie (psutil denies a
    zombie's command line); asked only of those, so the common pass reads no status."""
    try:
        return proc.status() == psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return True
    except psutil.Error:
        return False


def snapshot(
    process_iter: Callable[..., Iterator[psutil.Process]] = psutil.process_iter,
) -> Snapshot:
    """This host's processes, in one pass."""
    # the pass makes thousands of small objects and no cycles: the cyclic collector would only
    # rescan the caller's heap over and over (a fifth of the pass after discovery)
    collecting = gc.isenabled()
    gc.disable()
    try:
        return _snapshot(process_iter)
    finally:
        if collecting:
            gc.enable()


def _snapshot(process_iter: Callable[..., Iterator[psutil.Process]]) -> Snapshot:
    me = os.getpid()
    mine: tuple[Optional[tuple[str, ...]], Optional[str]] = (None, None)
    parents: dict[int, int] = {}
    linux = sys.platform.startswith("linux")
    procs = []
    seen = 0
    keys = env_keys()
    for p in process_iter(ATTRS, ad_value=None):
        seen += 1
        info = p.info
        argv = info["cmdline"]
        if info["pid"] == me:
            mine = (None if argv is None else tuple(argv), info["exe"])
            continue
        if argv == [] or (argv is None and _zombie(p)):
            continue  # kernel threads and zombies (an empty command line)
        parent = read_ppid(info["pid"]) if linux else _ppid(p)
        if parent is not None:
            parents[info["pid"]] = parent
        environ = info["environ"]
        kept = None if environ is None else {k: v for k, v in environ.items() if k in keys}
        uid, setid = _ids(p, argv, bool(kept), linux)
        if uid is None and linux:
            continue  # ended during the pass
        procs.append(
            Proc(
                pid=info["pid"],
                uid=uid,
                argv=None if argv is None else tuple(argv),
                exe=info["exe"],
                cwd=info["cwd"],
                environ=kept,
                maps=read_maps(info["pid"]) if linux else frozenset(),
                fds=read_fds(info["pid"]) if linux else frozenset(),
                setid=setid,
            )
        )
    ours = own.tree(me, mine, ((p.pid, p.argv, p.exe) for p in procs), parents)
    return Snapshot(tuple(p for p in procs if p.pid not in ours), seen)
