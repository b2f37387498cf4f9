"""The bounded walk of a home for environments: ``pyvenv.cfg`` and ``conda-meta/`` markers.

Enters a linked directory only as :mod:`homelinks` allows (the account's own data elsewhere), never
leaves the filesystem of the home (or of a linked directory), skips trees that never hold an
environment (VCS data, node_modules, caches, site-packages, a Python's own stdlib), stops at a depth
and a time budget (links followed included), and leaves network filesystems alone unless asked.
What it cut short is reported.
"""

from __future__ import annotations

import os
import time
from collections.abc import Collection
from dataclasses import dataclass, field, replace
from typing import Callable, Optional

from fleetcache import safefs
from fleetcache.discovery import homelinks, markers, toolenvs
from fleetcache.discovery import inspect as inspect_mod
from fleetcache.discovery.access import Access
from fleetcache.machine import Machine
from fleetcache.model import QUARANTINE_DIR, Environment, Skipped

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
        QUARANTINE_DIR,
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
    homes: Collection[str] = (),
    as_account: Optional[Callable[[str], safefs.Opened]] = None,
    known: Collection[str] = (),
    in_projects: Optional[toolenvs.ProjectDirs] = None,
) -> tuple[list[Environment], list[Skipped]]:
    """Every environment below ``top`` (a home), also in the linked directories it may follow
    (see :mod:`homelinks`: ``homes``, every account's; ``as_account``, how the account opens a
    directory itself; one whose real path is in ``known`` is not listed again), and what could
    not be searched; ``in_projects``: where the account's tools keep environments inside
    each project.

    Paths are reported below ``top`` as written (``/home/alice/...``), the way the account's tools
    and pip's ``sys.prefix`` name them, even where a link leads elsewhere.
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
        links = homelinks.Links(anchor, trusted, homes, as_account)
        links.start(opened)
        walk = _Walk(top, p.join, limits, clock() + limits.budget, clock, machine.platform)
        walk.known = known
        walk.in_projects = in_projects
        return _walk(walk, opened, links, machine.fstype)
    finally:
        os.close(opened.fd)


def _walk(
    walk: _Walk,
    opened: safefs.Opened,
    links: homelinks.Links,
    fstype: Callable[[int], Optional[str]],
) -> tuple[list[Environment], list[Skipped]]:
    top, limits = walk.top, walk.limits
    more = walk.tree(opened.fd, ())
    while more and walk.links_found:
        walk.links_found.sort()
        parts, link = walk.links_found.pop(0)
        where = walk.join(top, *parts)
        target, why = links.follow(where, link)
        if target is None:
            if why:
                walk.skipped.append(Skipped(where, why))
            continue
        try:
            kind = fstype(target.st.st_dev)
            if kind in NETWORK_FS and not limits.include_remote:
                reason = f"not followed: {target.path} is on a network filesystem ({kind}) (--include-remote)"
                walk.skipped.append(Skipped(where, reason))
                continue
            more = walk.tree(target.fd, parts, links.seen, target.path)
        finally:
            os.close(target.fd)
    if walk.too_deep:
        walk.skipped.append(
            Skipped(
                top,
                f"{walk.too_deep} {'directory' if walk.too_deep == 1 else 'directories'} below "
                f"depth {limits.max_depth} not searched for environments (--depth)",
            )
        )
    links.over += walk.links_over
    if links.summary():
        walk.skipped.append(Skipped(top, links.summary()))
    return walk.found, walk.skipped


@dataclass
class _Walk:
    """One home's walk: its own tree, then each linked directory it follows, on one budget."""

    top: str
    join: Callable[..., str]
    limits: WalkLimits
    deadline: float
    clock: Callable[[], float]
    platform: str
    found: list[Environment] = field(default_factory=list)
    skipped: list[Skipped] = field(default_factory=list)
    links_found: list[tuple[tuple[str, ...], os.stat_result]] = field(default_factory=list)
    too_deep: int = 0
    links_over: int = 0
    known: Collection[str] = ()  # prefixes found already (conda's registry names real paths)
    in_projects: Optional[toolenvs.ProjectDirs] = None  # where tools keep envs in projects

    def on_error(self, parts: tuple[str, ...], reason: str) -> None:
        self.skipped.append(Skipped(self.join(self.top, *parts), reason))

    def tree(
        self,
        fd: int,
        rel: tuple[str, ...],
        seen: Collection[tuple[int, int]] = (),
        real: str = "",
    ) -> bool:
        """Walk below ``fd`` (at ``rel`` in the home; a linked directory: ``real``, where it
        really is), not into the directories in ``seen``; False once the time budget ran out."""
        # the names that matter listed at each depth: the parent's entries of what is looked at
        names_at: list[set[str]] = []
        fds_at: list[int] = []  # each level's directory, open while the walk is below it
        walker = safefs.walk(fd, self.on_error, rel, seen)
        try:
            for parts, dir_fd, files, dirs in walker:
                if self.clock() > self.deadline:
                    reason = (
                        f"environment search stopped after {self.limits.budget:g} s; "
                        "the rest of this home was not searched"
                    )
                    self.skipped.append(Skipped(self.top, reason))
                    return False
                names: set[str] = set()
                linked: list[os.DirEntry[str]] = []
                for e in files:  # not every name kept: any width
                    if e.name in WATCHED:
                        names.add(e.name)
                    elif e.is_symlink():
                        linked.append(e)
                names.update(d for d in dirs if d in WATCHED or d in LEGACY)
                depth = len(parts) - len(rel)
                del names_at[depth:]
                names_at.append(names)
                del fds_at[depth:]
                fds_at.append(dir_fd)
                if parts and ("pyvenv.cfg" in names or "conda-meta" in names or names >= LEGACY):
                    parent = names_at[-2] if len(names_at) > 1 else set()
                    where = self._name(parts, rel, real)
                    env = inspect_mod.inspect(dir_fd, where, "home walk", parent, self.platform)
                    if env is not None:
                        env = _project_tool(
                            env, parts, names_at, fds_at, (self.top, self.join), self.in_projects
                        )
                        self.found.append(env)  # one row with a record of the same name
                        # a conda install holds its environments in envs/; a venv holds none
                        dirs[:] = [d for d in dirs if d == "envs" and env.role == "interpreter"]
                        continue
                if len(parts) >= self.limits.max_depth:
                    self.too_deep += len(dirs)
                    dirs.clear()
                    continue
                here = parts[-1] if parts else ""
                dirs[:] = [d for d in dirs if _enter(here, d)]
                self._links(parts, here, linked)
        finally:
            walker.close()
        return True

    def _name(self, parts: tuple[str, ...], rel: tuple[str, ...], real: str) -> str:
        """The prefix at ``parts``: under the home as written, but by its real name where that is
        how it was found already (conda's records), or how the install holding it in envs/ was."""
        if real:
            named = self.join(real, *parts[len(rel) :])
            install = self.join(real, *parts[len(rel) : -2])
            if named in self.known or (parts[-2:-1] == ("envs",) and install in self.known):
                return named
        return self.join(self.top, *parts)

    def _links(self, parts: tuple[str, ...], here: str, linked: list[os.DirEntry[str]]) -> None:
        """Keep the links to follow once the tree is walked (where a directory would be entered)."""
        for entry in linked:
            if len(self.links_found) >= homelinks.MAX_LOOKED_AT:  # never more than are looked at
                self.links_over += 1
            elif _enter(here, entry.name):
                try:
                    st = entry.stat(follow_symlinks=False)
                except OSError:
                    continue
                self.links_found.append(((*parts, entry.name), st))


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
    # (a linked directory's walk holds only the levels below the link)
    for up in range(1, min(PROJECT_LEVELS, len(parts) - 1, len(fds_at) - 1) + 1):
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
