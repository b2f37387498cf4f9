"""Environments uv installed in symlink link-mode: their files are links into a cache's
``archive-v0``, so cleaning that cache breaks them (uv's own clean does, silently)."""

from __future__ import annotations

import os
from collections.abc import Iterator, Sequence
from typing import Optional

from fleetcache import safefs
from fleetcache.model import Environment

ARCHIVES = "/archive-v0/"
LIMIT = 400  # entries looked at per environment: its top level and each dist's METADATA


def linking(anchor: int, environments: Sequence[Environment], cache: str) -> Optional[str]:
    """The first environment whose site-packages links into ``cache`` (a machine path), if any."""
    for env in environments:
        if env.exists and any(_into(target, cache) for target in _links(anchor, env)):
            return env.prefix
    return None


def _into(target: str, cache: str) -> bool:
    """Whether a link's target lies in the cache's archives (an absolute target written on the
    host: its path ends with the cache's machine path)."""
    head, found, _ = target.partition(ARCHIVES)
    return bool(found) and (head == cache or head.endswith(cache.rstrip("/")))


def _links(anchor: int, env: Environment) -> Iterator[str]:
    """The targets of the links among an environment's site-packages entries and the METADATA
    of each of its dists (bounded; nothing followed, nothing but directories opened)."""
    owners = {0} if env.owner_uid is None else {0, env.owner_uid}
    try:
        lib = safefs.open_path(anchor, env.prefix.rstrip("/") + "/lib", trusted_links=owners)
    except safefs.UnsafePath:
        return
    try:
        versions = [n for n in os.listdir(lib.fd) if n.startswith("python")]
        for version in versions[:4]:
            site = _opendir(lib.fd, f"{version}")
            inner = None if site is None else _opendir(site, "site-packages")
            if site is not None:
                os.close(site)
            if inner is not None:
                try:
                    yield from _site_links(inner)
                finally:
                    os.close(inner)
    except OSError:
        return
    finally:
        os.close(lib.fd)


def _site_links(site: int) -> Iterator[str]:
    with os.scandir(site) as entries:
        for count, entry in enumerate(entries):
            if count >= LIMIT:
                return
            if entry.is_symlink():
                yield _readlink(site, entry.name)
            elif entry.name.endswith(".dist-info") and entry.is_dir(follow_symlinks=False):
                dist = _opendir(site, entry.name)
                if dist is not None:
                    try:
                        yield _readlink(dist, "METADATA")
                    finally:
                        os.close(dist)


def _opendir(dir_fd: int, name: str) -> Optional[int]:
    try:
        return safefs.open_quietly(name, safefs.O_DIR, dir_fd)  # listed: leave its atime
    except OSError:
        return None


def _readlink(dir_fd: int, name: str) -> str:
    try:
        return os.readlink(name, dir_fd=dir_fd)
    except OSError:
        return ""  # not a link (a regular METADATA), or gone
