"""The bounded walk of a home for environments: ``pyvenv.cfg`` and ``conda-meta/`` markers.

Never enters a linked directory, never leaves the home's filesystem, skips trees that never hold an
environment (VCS data, node_modules, caches, site-packages, a Python's own stdlib), stops at a depth
and a time budget, and leaves network filesystems alone unless asked. What it cut short is reported.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass, replace
from typing import Callable, Optional

from fleetcache import safefs
from fleetcache.discovery import inspect as inspect_mod
from fleetcache.discovery import markers, toolenvs
from fleetcache.discovery.access import Access
from fleetcache.machine import Machine
from fleetcache.model import Environment, Skipped

# the names a listing is looked at for: what marks an environment, what beside one names its tool
WATCHED = frozenset(
    {"pyvenv.cfg", "conda-meta", *(lock for lock, _ in markers.PROJECT_LOCKS)}
    | toolenvs.PROJECT_FILES
)
PROJECT_LEVELS = 3  # how far above an environment its project's files may be (hatch's envs.*.path)
# a project file read whole is rarely past a few KiB; a larger one (cut, so invalid) says nothing
PROJECT_BYTES = 64 << 10
# bin/ beside lib/ may be a virtualenv < 20, which has no pyvenv.cfg
LEGACY = frozenset({"bin", "lib"})
# never hold an environment worth listing, and can be huge
SKIP_DIRS = frozenset(
    {
        ".git",
        ".hg",
        ".svn",
        "node_modules",
        "site-packages",
        "dist-packages",
        "__pycache__",
        ".cache",
        ".npm",
        ".cargo",
        ".rustup",
        ".m2",
        ".gradle",
        ".ivy2",
        ".Trash",
        ".mypy_cache",
        ".pytest_cache",
        ".ruff_cache",
        ".ipynb_checkpoints",
    }
)
NETWORK_FS = frozenset(
    {
        "nfs",
        "nfs4",
        "cifs",
        "smb3",
        "smbfs",
        "sshfs",
        "fuse.sshfs",
        "afs",
        "ceph",
        "fuse.ceph",
        "glusterfs",
        "fuse.glusterfs",
        "lustre",
        "gpfs",
        "beegfs",
        "9p",
        "davfs",
        "fuse.davfs2",
        "fuse.rclone",
        "fuse.s3fs",
        "ncpfs",
        "coda",
    }
)


@dataclass(frozen=True)
class WalkLimits:
    """How far the home walk may go."""

    max_depth: int = 8
    budget: float = 60.0  # seconds per home
    include_remote: bool = False


def walk_home(
    machine: Machine,
    anchor: int,
    top: str,
    trusted: frozenset[int],
    limits: WalkLimits,
    clock: Callable[[], float] = time.monotonic,
    in_projects: Optional[toolenvs.ProjectDirs] = None,
) -> tuple[list[Environment], list[Skipped]]:
    """Every environment below ``top`` (a home), and what could not be searched; ``in_projects``:
    where the account's tools keep environments inside each project.

    Paths are reported below ``top`` as written (``/home/alice/...``), the way the account's tools
    and pip's ``sys.prefix`` name them, even where a root-owned link leads elsewhere.
    """
    p = machine.pathmod
    try:
        opened = safefs.open_path(anchor, top, trusted_links=trusted, follow_last=True)
    except safefs.NotFound:
        return [], []
    except safefs.UnsafePath as exc:
        return [], [Skipped(top, f"not searched for environments: {exc}")]
    try:
        fstype = machine.fstype(opened.st.st_dev)
        if fstype in NETWORK_FS and not limits.include_remote:
            reason = f"on a network filesystem ({fstype}); not searched for environments (--include-remote)"
            return [], [Skipped(top, reason)]
        return _walk(opened, top, p.join, limits, clock, machine.platform, in_projects)
    finally:
        os.close(opened.fd)


def _walk(
    opened: safefs.Opened,
    top: str,
    join: Callable[..., str],
    limits: WalkLimits,
    clock: Callable[[], float],
    platform: str,
    in_projects: Optional[toolenvs.ProjectDirs] = None,
) -> tuple[list[Environment], list[Skipped]]:
    found: list[Environment] = []
    skipped: list[Skipped] = []
    deadline = clock() + limits.budget
    too_deep = 0
    # the names that matter listed at each depth: the parent's entries of what is looked at
    names_at: list[set[str]] = []
    fds_at: list[int] = []  # each level's directory, open while the walk is below it

    def on_error(parts: tuple[str, ...], reason: str) -> None:
        skipped.append(Skipped(join(top, *parts), reason))

    walker = safefs.walk(opened.fd, on_error)
    try:
        for parts, fd, files, dirs in walker:
            if clock() > deadline:
                skipped.append(
                    Skipped(
                        top,
                        f"environment search stopped after {limits.budget:g} s; "
                        "the rest of this home was not searched",
                    )
                )
                break
            names = {e.name for e in files if e.name in WATCHED}  # not every name: any width
            names.update(d for d in dirs if d in WATCHED or d in LEGACY)
            del names_at[len(parts) :]
            names_at.append(names)
            del fds_at[len(parts) :]
            fds_at.append(fd)
            if parts and ("pyvenv.cfg" in names or "conda-meta" in names or names >= LEGACY):
                parent = names_at[-2] if len(names_at) > 1 else set()
                env = inspect_mod.inspect(fd, join(top, *parts), "home walk", parent, platform)
                if env is not None:
                    env = _project_tool(env, parts, names_at, fds_at, (top, join), in_projects)
                    found.append(env)
                    # a conda install holds its environments in envs/; a venv holds none
                    dirs[:] = [d for d in dirs if d == "envs" and env.role == "interpreter"]
                    continue
            if len(parts) >= limits.max_depth:
                too_deep += len(dirs)
                dirs.clear()
                continue
            here = parts[-1] if parts else ""
            dirs[:] = [d for d in dirs if _enter(here, d)]
    finally:
        walker.close()
    if too_deep:
        skipped.append(
            Skipped(
                top,
                f"{too_deep} {'directory' if too_deep == 1 else 'directories'} below depth "
                f"{limits.max_depth} not searched for environments (--depth)",
            )
        )
    return found, skipped


def _project_tool(
    env: Environment,
    parts: tuple[str, ...],
    names_at: list[set[str]],
    fds_at: list[int],
    where: tuple[str, Callable[..., str]],
    in_projects: Optional[toolenvs.ProjectDirs],
) -> Environment:
    """The environment as its project's files name it (hatch's, poetry's), when they do."""
    top, join = where
    for up in range(1, min(PROJECT_LEVELS, len(parts) - 1) + 1):
        project_fd = fds_at[-1 - up]
        project = join(top, *parts[:-up])

        def read(name: str, fd: int = project_fd) -> Optional[bytes]:
            return inspect_mod.read_below(fd, name, PROJECT_BYTES)

        named = toolenvs.project_tool(
            read, names_at[-1 - up], project, "/".join(parts[-up:]), env.kind, in_projects
        )
        if named is not None:
            return replace(env, kind=named[0], marker=named[1], project=project)
    return env


def _enter(parent: str, name: str) -> bool:
    if name in SKIP_DIRS or markers.is_stdlib_dir(parent, name):
        return False
    # conda's package cache beside ~/.conda/envs
    return not (parent == ".conda" and name == "pkgs")


def children(
    access: Access,
    directory: str,
    found_by: str,
    platform: str,
    join: Callable[..., str],
    only: Optional[str] = None,
    tool: Optional[str] = None,
    levels: int = 1,
) -> tuple[list[Environment], list[Skipped]]:
    """The environments directly inside a tool's environments directory (pipx, poetry, envs_dirs),
    or ``levels`` below it (hatch's), as ``access`` may open it and look into its entries; with
    ``only``, just that one entry. With ``tool``, what only a pyvenv.cfg marks is that tool's."""
    try:
        opened = access.open_dir(directory)
    except safefs.NotFound:
        return [], []
    except safefs.UnsafePath as exc:
        return [], [Skipped(directory, f"not searched for environments: {exc}")]
    found: list[Environment] = []
    try:
        names = inspect_mod.listdir(opened.fd)
        listed = set(names)
        for name in sorted(names) if only is None else [n for n in names if n == only]:
            if levels > 1:
                more, _ = children(
                    access, join(directory, name), found_by, platform, join, None, tool, levels - 1
                )
                found.extend(more)
                continue
            fd = access.open_entry(opened, name)
            if fd is None:
                continue
            try:
                env = inspect_mod.inspect(fd, join(directory, name), found_by, listed, platform)
            finally:
                os.close(fd)
            if env is not None and tool and env.kind in toolenvs.WEAK_KINDS:
                env = replace(env, kind=tool, marker=f"in {found_by}")
            if env is not None:
                found.append(env)
    finally:
        os.close(opened.fd)
    return found, []
