"""conda installs wherever machines keep them: the system's usual places beyond /opt and
/usr/local, and the install an environment ``.../envs/NAME`` belongs to, with its other
environments (a site install named only by an account's registry, settings or processes)."""

from __future__ import annotations

import os
import posixpath
import re
from collections.abc import Iterable, Sequence

from fleetcache import safefs
from fleetcache.discovery import homewalk
from fleetcache.discovery.access import Access, AsRoot, names_in
from fleetcache.discovery.interpreters import Join
from fleetcache.model import Environment, Skipped

INSTALL_KINDS = ("conda", "mamba", "miniforge")  # the kinds an install (role interpreter) has
# directories that hold installs named for conda: /miniconda3, /usr/share/miniconda (GitHub's runners)
NAMED_IN = ("/", "/usr/share")
INSTALL_NAME = re.compile(r"(?i)(?:mini|ana)conda\d*|mini(?:forge|mamba)\d*|mambaforge\d*|conda")
# HPC sites' software trees: an install one level down (/apps/miniconda3) or two (/sw/conda/x)
SITE_ROOTS = ("/apps", "/sw")
SITE_ENTRIES = 512  # entries of a site tree looked into: beyond that it is no software tree


def system(anchor: int, platform: str, join: Join) -> tuple[list[Environment], list[Skipped]]:
    """The conda installs (and their environments) in the system's places beyond /opt and
    /usr/local, as root trusts them."""
    if platform == "win32":
        return [], []
    access = AsRoot(anchor)
    found: list[Environment] = []
    skipped: list[Skipped] = []
    for parent in NAMED_IN:
        for name in names_in(access, parent):
            if INSTALL_NAME.fullmatch(name):
                label = f"conda install in {parent}"
                more, missed = homewalk.children(access, parent, label, platform, join, only=name)
                found.extend(more)
                skipped.extend(missed)
    for root in SITE_ROOTS:
        more, missed = homewalk.children(access, root, f"{root}/*", platform, join)
        found.extend(more)
        skipped.extend(missed)
        known = {e.prefix for e in more}
        for name in names_in(access, root)[:SITE_ENTRIES]:
            if join(root, name) not in known:
                label = f"{root}/*/*"
                more, missed = homewalk.children(access, join(root, name), label, platform, join)
                found.extend(more)
                skipped.extend(missed)
    more, missed = climb(access, found, (), platform, join)
    return [*found, *more], [*skipped, *missed]


def install_of(env: Environment) -> str | None:
    """The install a conda prefix belongs to: itself when it is one, else the directory holding
    its ``envs/`` (which is an install only if its files say so)."""
    if not env.exists or env.kind not in INSTALL_KINDS or "/" not in env.prefix:
        return None
    if env.role == "interpreter":
        return env.prefix
    head = posixpath.dirname(env.prefix.rstrip("/"))
    return posixpath.dirname(head) if posixpath.basename(head) == "envs" else None


def climb(
    access: Access,
    envs: Iterable[Environment],
    others: Sequence[str],
    platform: str,
    join: Join,
) -> tuple[list[Environment], list[Skipped]]:
    """Each install these conda prefixes belong to and every environment in its ``envs/``, as
    ``access`` opens them; never one that really lies in ``others`` (other accounts' homes)."""
    found: list[Environment] = []
    skipped: list[Skipped] = []
    led: dict[str, str] = {}  # install -> the first prefix that leads to it
    for env in envs:
        install = install_of(env)
        if install is not None:
            led.setdefault(install, env.prefix)
    for install, prefix in led.items():
        parent, name = posixpath.split(install)
        if not name or _below(_real(access, install), others):
            continue
        label = "conda install" if prefix == install else f"conda install of {prefix}"
        more, missed = homewalk.children(access, parent, label, platform, join, only=name)
        skipped.extend(missed)
        more = [e for e in more if e.role == "interpreter" and e.kind in INSTALL_KINDS]
        if not more:
            continue
        found.extend(more)
        envs_dir = join(install, "envs")
        more, missed = homewalk.children(access, envs_dir, "conda envs/", platform, join)
        found.extend(more)
        skipped.extend(missed)
    return found, skipped


def _real(access: Access, path: str) -> str | None:
    """Where a directory really is, as ``access`` opens it (None: it cannot)."""
    try:
        opened = access.open_dir(path)
    except safefs.UnsafePath:
        return None
    os.close(opened.fd)
    return opened.path


def _below(path: str | None, homes: Sequence[str]) -> bool:
    """Whether a path is missing or lies in (or is) one of these homes."""
    if path is None:
        return True
    return any(path == h.rstrip("/") or path.startswith(h.rstrip("/") + "/") for h in homes)
