"""uv's caches: found as uv finds them for each account, measured link-aware, their entries named
from their paths, cleaned as `uv cache clean` / `uv cache prune` would, under uv's own lock."""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import replace
from typing import TYPE_CHECKING, Optional

from fleetcache import safefs
from fleetcache.activity import commands
from fleetcache.clean.guard import Refused
from fleetcache.clean.plan import CachePlan, Walked
from fleetcache.clean.policy import Policy
from fleetcache.discovery import accounts as accounts_mod
from fleetcache.discovery.run import Found, in_use
from fleetcache.kinds import tree, uvfind, uvlayout, uvlinks, uvlock
from fleetcache.kinds.base import Look, PlanContext
from fleetcache.model import CacheEntry, CacheLocation, ProcessUse, Skipped
from fleetcache.report.entries import EntriesOutcome
from fleetcache.stats.walk import WalkOutcome, WalkTask

if TYPE_CHECKING:
    from fleetcache.machine import Machine

NAME = uvfind.NAME
VARIABLES = {"UV_CACHE_DIR": "path", "UV_NO_CACHE": "flag"}


def find(look: Look) -> tuple[list[CacheLocation], list[Skipped]]:
    """Each chosen account's uv caches, in uv's order (see fleetcache.kinds.uvfind)."""
    return uvfind.find(look)


def locations(found: Found) -> list[CacheLocation]:
    """The caches ``find`` gave."""
    return list(found.kind_caches.get(NAME, ()))


looks_like = uvlayout.looks_like


def measure(task: WalkTask) -> WalkOutcome:
    """The totals and link-aware bytes (`uv cache size` is the disk bytes)."""
    return tree.measure(task)


def entries(task: WalkTask) -> EntriesOutcome:
    """Every wheel (its files together), sdist, archive and index page, named from its path."""
    pointers = uvlayout.Pointers()
    got = tree.entries(
        task, lambda w: uvlayout.units(w, pointers, False, frozenset(), fine=True), pointers.read
    )
    return EntriesOutcome(_joined(got.entries), got.pages, got.problems)


def _joined(named: Iterable[CacheEntry]) -> tuple[CacheEntry, ...]:
    """A wheel entry's files (the link, .http, .msgpack, .lock) as one entry."""
    out: dict[str, CacheEntry] = {}
    for e in named:
        key = e.path
        if e.kind == "wheel" and key.endswith(uvlayout.SIDE_FILES):
            key = key.rsplit(".", 1)[0]
        old = out.get(key)
        if old is None:
            out[key] = replace(e, path=key)
        else:
            size, files, mtime = old.size + e.size, old.files + e.files, max(old.mtime, e.mtime)
            used = max(old.last_used, e.last_used)
            out[key] = replace(old, size=size, files=files, mtime=mtime, used=used)
    return tuple(out.values())


def plan(
    cache_fd: int, path: str, uid: int, policy: Policy, now: float, context: PlanContext
) -> CachePlan:
    """`uv cache clean` (--purge: all but uv's root files), `uv cache clean P` (--package),
    `uv cache prune` (--junk), or whole entries by age and size."""
    if context.anchor is not None:
        env = uvlinks.linking(context.anchor, context.environments, path)
        if env is not None:
            raise Refused(
                f"refused: environment {env} links it in symlink mode; cleaning would break it"
            )
    pointers = uvlayout.Pointers()
    used = _used(path, context)

    # a purge takes whole buckets; one that keeps packages must name their entries, one by one
    whole = policy.effective.purge and not policy.keep

    def units(walked: Walked) -> Iterable[tree.Unit]:
        return uvlayout.units(walked, pointers, whole, used)

    return tree.plan_units(cache_fd, path, uid, policy, now, context, units, on_dir=pointers.read)


def _used(path: str, context: PlanContext) -> frozenset[str]:
    """Where in the cache (bucket/id: archive-v0/<id> holds uv's cached environments) an
    environment lies that a process runs from, or may (not checked, access denied)."""
    top = path.rstrip("/") + "/"
    out = set()
    for env in context.environments:
        rel = env.prefix[len(top) :].split("/") if env.prefix.startswith(top) else []
        if len(rel) >= 2 and env.active is not False:
            out.add("/".join(rel[:2]))
    return frozenset(out)


exclusive = uvlock.exclusive


def busy(
    machine: Machine, found: Found, paths: Sequence[str], again: bool = False
) -> Mapping[str, Sequence[ProcessUse]]:
    """The uvs holding each cache's lock, then the processes in it or holding a file in it
    (``again``: in a fresh pass over the process table)."""
    uses = in_use(machine, found, paths, again)
    out = {p: list(u) for p, u in uses.items()}
    for path in paths:
        locking = _lock_uses(machine, found, path)
        pids = {u.pid for u in locking}
        if locking:
            out[path] = [*locking, *(u for u in out.get(path, ()) if u.pid not in pids)]
    return out


def _lock_uses(machine: Machine, found: Found, path: str) -> list[ProcessUse]:
    """The processes holding the cache's lock (one of unknown pid when none is named)."""
    try:
        anchor = safefs.open_anchor(machine.root)
    except OSError:
        return []
    try:
        opened = safefs.open_path(anchor, path, trusted_links=safefs.ANYONE, follow_last=True)
    except safefs.UnsafePath:
        return []
    finally:
        os.close(anchor)
    try:
        pids = uvlock.holders(opened.fd)
    finally:
        os.close(opened.fd)
    if pids is None:
        return []
    procs = {p.pid: p for p in (found.snapshot.procs if found.snapshot else ())}
    names = accounts_mod.owner_names(found.every)
    out = []
    named: list[Optional[int]] = [*pids] or [None]
    for pid in named:
        proc = procs.get(pid) if pid is not None else None
        uid = proc.uid if proc is not None else None
        user = names.get(uid, str(uid)) if uid is not None else None
        command = commands.shown(proc.argv) if proc is not None else ""
        out.append(ProcessUse(pid, uid, user, command, uvlock.HOLDS))
    return out
