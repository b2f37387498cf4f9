"""Look inside one candidate prefix (opened as a directory fd) and say what it is, from its files only."""

from __future__ import annotations

import errno
import os
from collections.abc import Collection
from typing import Callable, Optional

from fleetcache import safefs
from fleetcache.discovery import markers
from fleetcache.model import Environment

HISTORY_BYTES = 16 << 10
METADATA_BYTES = 16 << 10
MAX_PIP_RECORDS = 16  # more pips in one prefix than anyone installs: its pip is "unknown"


def listdir(dir_fd: int, name: Optional[str] = None) -> list[str]:
    """The names in ``dir_fd`` (or in its subdirectory ``name``, not following links); [] if unreadable."""
    try:
        if name is None:
            return os.listdir(dir_fd)
        fd = safefs.open_quietly(name, safefs.O_DIR, dir_fd)  # a listing is an access
    except OSError:
        return []
    try:
        return os.listdir(fd)
    except OSError:
        return []
    finally:
        os.close(fd)


def read_below(dir_fd: int, rel: str, limit: int = 1 << 16) -> Optional[bytes]:
    """A small regular file below ``dir_fd``, every component opened without following links."""
    parts = rel.split("/")
    fds: list[int] = []
    try:
        here = dir_fd
        for part in parts[:-1]:
            here = os.open(part, safefs.O_DIR, dir_fd=here)
            fds.append(here)
        return safefs.read_at(here, parts[-1], limit)
    except (OSError, safefs.UnsafePath):
        return None
    finally:
        for fd in fds:
            os.close(fd)


def inspect(
    dir_fd: int,
    prefix: str,
    found_by: str,
    parent_names: Collection[str] = (),
    platform: str = "linux",
) -> Optional[Environment]:
    """An Environment for a prefix holding ``pyvenv.cfg`` or ``conda-meta/``; None when it has neither."""
    names = set(listdir(dir_fd))
    owner = os.fstat(dir_fd).st_uid
    if "pyvenv.cfg" in names:
        return _venv(dir_fd, prefix, found_by, names, parent_names, platform, owner)
    if "conda-meta" in names:
        return _conda(dir_fd, prefix, found_by, names, platform, owner)
    if "bin" in names and "lib" in names and platform != "win32":
        return _legacy(dir_fd, prefix, found_by, names, parent_names, owner)
    return None


def _bin(platform: str) -> str:
    return "Scripts" if platform == "win32" else "bin"


def _interpreter(prefix: str, bin_names: Collection[str], platform: str) -> Optional[str]:
    sep = "\\" if platform == "win32" else "/"
    candidates = ("python.exe",) if platform == "win32" else ("python", "python3")
    for name in candidates:
        if name in bin_names:
            return sep.join((prefix.rstrip(sep), _bin(platform), name))
    return None


def _venv(
    dir_fd: int,
    prefix: str,
    found_by: str,
    names: set[str],
    parent_names: Collection[str],
    platform: str,
    owner: int,
) -> Environment:
    data = read_below(dir_fd, "pyvenv.cfg")
    problems = []
    if data is None:
        problems.append("pyvenv.cfg could not be read")
    cfg = markers.parse_pyvenv_cfg(data or b"")
    bin_names = listdir(dir_fd, _bin(platform))
    kind, marker = markers.venv_kind(prefix, cfg, names, bin_names, parent_names)
    version = markers.pyvenv_version(cfg)
    version_from = "pyvenv.cfg" if version else None
    if version is None:
        version, version_from = file_version(dir_fd)
    if version is None:
        version, version_from = _lib_version(dir_fd)
    return Environment(
        prefix=prefix,
        kind=kind,
        role="environment",
        owner_uid=owner,
        python_version=version,
        version_from=version_from,
        pip_version=pip_version(dir_fd, version, platform),
        interpreter=_interpreter(prefix, bin_names, platform),
        base_interpreter=base_interpreter(cfg, platform),
        project=markers.project_of(prefix, kind),
        marker=marker,
        found_by=(found_by,),
        problems=tuple(problems),
    )


def _legacy(
    dir_fd: int,
    prefix: str,
    found_by: str,
    names: set[str],
    parent_names: Collection[str],
    owner: int,
) -> Optional[Environment]:
    """A virtualenv made before virtualenv 20 (no ``pyvenv.cfg``); None for any other bin/ + lib/."""
    bin_names = listdir(dir_fd, "bin")
    interpreter = _interpreter(prefix, bin_names, "linux")
    found = legacy_lib(dir_fd) if "activate" in bin_names and interpreter else None
    if found is None:
        return None
    lib, marker_file = found
    minor = lib[len("python") :].rstrip("t")
    # its include/ is a link to the base's headers, which are not followed: the minor it is
    version, version_from = patchlevel(dir_fd, minor), f"include/{lib}/patchlevel.h"
    if version is None or not version.startswith(minor + "."):
        version, version_from = minor, f"lib/{lib}"
    kind, marker = markers.venv_kind(prefix, {"virtualenv": ""}, names, bin_names, parent_names)
    if kind == "virtualenv":
        marker = f"lib/{lib}/{marker_file} (virtualenv < 20)"
    orig = read_below(dir_fd, f"lib/{lib}/orig-prefix.txt", 4096)
    return Environment(
        prefix=prefix,
        kind=kind,
        role="environment",
        owner_uid=owner,
        python_version=version,
        version_from=version_from,
        pip_version=pip_version(dir_fd, version, "linux"),
        interpreter=interpreter,
        base_interpreter=markers.legacy_base(orig, minor) if orig else None,
        project=markers.project_of(prefix, kind),
        marker=marker,
        found_by=(found_by,),
    )


def legacy_lib(dir_fd: int) -> Optional[tuple[str, str]]:
    """(``pythonX.Y``, the marker file in it) of a virtualenv < 20's ``lib/``; None if it has none."""
    for name in sorted(listdir(dir_fd, "lib"), reverse=True):
        if markers.STDLIB_DIR.fullmatch(name):
            present = _entries(dir_fd, f"lib/{name}", markers.LEGACY_MARKERS.__contains__) or ()
            for marker in markers.LEGACY_MARKERS:
                if marker in present:
                    return name, marker
    return None


def base_interpreter(cfg: dict[str, str], platform: str) -> Optional[str]:
    """The interpreter a venv was built on: ``executable``/``base-executable``, else ``home``'s python."""
    for key in ("base-executable", "executable"):
        if cfg.get(key):
            return cfg[key]
    home = cfg.get("home")
    if not home:
        return None
    sep = "\\" if platform == "win32" else "/"
    return home.rstrip(sep) + sep + ("python.exe" if platform == "win32" else "python3")


def _lib_version(dir_fd: int) -> tuple[Optional[str], Optional[str]]:
    """``3.11`` from a ``lib/python3.11`` (or PyPy's ``lib/pypy3.11``) directory: the minor
    version, when nothing better is written."""
    for name, minor in _versioned(dir_fd, "lib")[::-1]:
        return minor, f"lib/{name}"
    return None, None


def _versioned(dir_fd: int, rel: str, minor: Optional[str] = None) -> list[tuple[str, str]]:
    """The versioned directories in ``lib`` or ``include`` (``python3.14``, ``pypy3.10``) with
    their minor versions, only the given minor version's when it has any, newest first."""
    named = ((n, _minor_of(n)) for n in sorted(listdir(dir_fd, rel), reverse=True))
    found = [(n, m) for n, m in named if m is not None]
    return ([f for f in found if f[1] == minor] or found) if minor else found


def file_version(dir_fd: int, minor: Optional[str] = None) -> tuple[Optional[str], Optional[str]]:
    """The full version an install's own files write: PEP 739's ``build-details.json``
    (3.14+), else its headers' ``patchlevel.h`` (CPython's or PyPy's)."""
    for name, where in _versioned(dir_fd, "lib", minor):
        data = read_below(dir_fd, f"lib/{name}/build-details.json", markers.BUILD_DETAILS_BYTES)
        found = markers.build_details_version(data, where) if data else None
        if found:
            return found, "build-details.json"
    found = patchlevel(dir_fd, minor)
    return (found, "patchlevel.h") if found else (None, None)


def _conda(
    dir_fd: int, prefix: str, found_by: str, names: set[str], platform: str, owner: int
) -> Environment:
    meta = listdir(dir_fd, "conda-meta")
    history = read_below(dir_fd, "conda-meta/history", HISTORY_BYTES) or b""
    tool = markers.history_tool(history)
    kind, role, marker = markers.conda_kind(prefix, names, meta, tool)
    version = markers.conda_python_version(meta)
    version_from = "conda-meta" if version else None
    if version is None:  # no conda python package: a Python put there by other means
        version, version_from = file_version(dir_fd)
    bin_dir = "" if platform == "win32" else "bin"
    bin_names = listdir(dir_fd, bin_dir) if bin_dir else sorted(names)
    interpreter = None
    if platform == "win32" and "python.exe" in names:
        interpreter = prefix.rstrip("\\") + "\\python.exe"
    elif platform != "win32":
        interpreter = _interpreter(prefix, bin_names, platform)
    return Environment(
        prefix=prefix,
        kind=kind,
        role=role,
        owner_uid=owner,
        python_version=version,
        version_from=version_from,
        pip_version=pip_version(dir_fd, version, platform),
        interpreter=interpreter,
        project=markers.project_of(prefix, kind),
        marker=marker,
        found_by=(found_by,),
        problems=() if interpreter or role == "interpreter" else ("no Python installed",),
    )


def installed_python(
    dir_fd: int, prefix: str, kind: str, found_by: str, version: Optional[str], platform: str
) -> Optional[Environment]:
    """An installed Python (pyenv version, uv Python, /opt build): its interpreter and version."""
    bin_names = listdir(dir_fd, _bin(platform))
    interpreter = _interpreter(prefix, bin_names, platform)
    if interpreter is None:
        versioned = sorted(n for n in bin_names if markers.STDLIB_DIR.fullmatch(n))
        if not versioned:
            return None
        interpreter = f"{prefix.rstrip('/')}/bin/{versioned[-1]}"
    version_from = "directory name" if version else None
    if version is None or version.count(".") < 2:
        found, source = file_version(dir_fd, version)
        if found:
            version, version_from = found, source
    if version is None:
        version, version_from = _lib_version(dir_fd)
    return Environment(
        prefix=prefix,
        kind=kind,
        role="interpreter",
        owner_uid=os.fstat(dir_fd).st_uid,
        python_version=version,
        version_from=version_from,
        pip_version=pip_version(dir_fd, version, platform, usr=prefix == "/usr"),
        interpreter=interpreter,
        marker=found_by,
        found_by=(found_by,),
    )


def patchlevel(dir_fd: int, minor: Optional[str] = None) -> Optional[str]:
    """The full version from ``include/pythonX.Y/patchlevel.h`` (PyPy's ``include/pypyX.Y``),
    if the headers are installed."""
    for name, _ in _versioned(dir_fd, "include", minor):
        data = read_below(dir_fd, f"include/{name}/patchlevel.h", 1 << 16)
        if data:
            return markers.patchlevel_version(data)
    return None


def pip_version(
    dir_fd: int, python: Optional[str], platform: str, usr: bool = False
) -> Optional[str]:
    """The version of the pip installed in the prefix, from its ``pip-*.dist-info``: the oldest
    when several are (any of them may run); unknown when a pip is there that no record dates, or
    a site directory could not be read; None when it holds no pip. ``usr``: the system's /usr,
    whose pip may also lie in /usr/local (Debian's ``sudo pip install``)."""
    versions: list[str] = []
    unknown = False
    for rel in _site_dirs(dir_fd, python, platform, usr):
        names = _entries(dir_fd, rel, lambda n: n == "pip" or markers.PIP_RECORD.fullmatch(n))
        if names is None or len(versions) + len(names) > MAX_PIP_RECORDS:
            unknown = True
            continue
        dated = []
        for name in names:
            named = markers.pip_record(name)
            if named is None:
                continue
            # METADATA's Version is what pip itself reports; the name only when it is unread
            metadata = read_below(dir_fd, f"{rel}/{name}/METADATA", METADATA_BYTES) or b""
            dated.append(markers.metadata_version(metadata) or named)
        versions.extend(dated)
        unknown = unknown or (not dated and "pip" in names)
    if unknown:
        return markers.PIP_UNKNOWN
    return markers.oldest_pip(versions) if versions else None


def _site_dirs(dir_fd: int, python: Optional[str], platform: str, usr: bool) -> list[str]:
    """Where a prefix's Python installs packages (only its own minor version's, when known)."""
    if platform == "win32":
        return ["Lib/site-packages"]
    minor = ".".join(python.split(".")[:2]) if python else None
    dirs: list[str] = []
    for lib in ("lib", "local/lib") if usr else ("lib",):
        names = sorted(_entries(dir_fd, lib, markers.VERSIONED_DIR.fullmatch) or ())  # PyPy's too
        if minor:  # /usr holds several Pythons: each interpreter's own, when it is there
            names = [n for n in names if _minor_of(n) == minor] or names
        dirs.extend(
            f"{lib}/{n}/{site}" for n in names for site in ("site-packages", "dist-packages")
        )
    return [*dirs, "lib/python3/dist-packages"]  # Debian's, shared by its Python 3s


def _minor_of(name: str) -> Optional[str]:
    """``3.13`` of ``python3.13t`` or ``pypy3.13``."""
    match = markers.VERSIONED_DIR.fullmatch(name)
    return match.group(1) if match else None


def _entries(dir_fd: int, rel: str, wanted: Callable[[str], object]) -> Optional[list[str]]:
    """The ``wanted`` names in a directory below ``dir_fd`` (read as a stream: a huge one costs
    no memory), no link followed on the way; [] when it is not there, None when it could not be
    read."""
    fds: list[int] = []
    try:
        here = dir_fd
        for part in rel.split("/"):
            here = os.open(part, safefs.O_DIR, dir_fd=here)
            fds.append(here)
        with os.scandir(here) as listing:
            return [entry.name for entry in listing if wanted(entry.name)]
    except OSError as exc:
        return [] if exc.errno in (errno.ENOENT, errno.ENOTDIR) else None
    finally:
        for fd in fds:
            os.close(fd)
