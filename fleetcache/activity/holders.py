"""Caches held by a process whatever it is called: its working directory, a file or directory
it has open, or a file it has mapped lies inside the cache (read from ``/proc/PID/{cwd,fd,maps}``
in the one pass over the process table)."""

from __future__ import annotations

import os
from collections.abc import Iterator, Mapping, Sequence

from fleetcache import safefs
from fleetcache.activity import commands
from fleetcache.activity.processes import Proc, Snapshot
from fleetcache.activity.view import View
from fleetcache.machine import Machine
from fleetcache.model import ProcessUse


def holding(
    snap: Snapshot, machine: Machine, caches: Sequence[str], names: Mapping[int, str]
) -> dict[str, list[ProcessUse]]:
    """Per cache (a machine path), the processes that sit in it or hold a file inside it."""
    tops = _tops(machine, caches)
    if not tops:
        return {}
    prefixes = tuple(tops)
    view = View(machine)
    out: dict[str, list[ProcessUse]] = {}
    for proc in snap.procs:
        found: dict[str, str] = {}
        for what, path in _held(proc):
            probe = path + "/"
            if not probe.startswith(prefixes):
                continue
            for top, cache in tops.items():
                if probe.startswith(top) and cache not in found:
                    found[cache] = f"{what} {view.path(path) or path}"
        for cache, why in found.items():
            user = names.get(proc.uid, str(proc.uid)) if proc.uid is not None else None
            use = ProcessUse(proc.pid, proc.uid, user, commands.shown(proc.argv), why)
            out.setdefault(cache, []).append(use)
    return out


def _tops(machine: Machine, caches: Sequence[str]) -> dict[str, str]:
    """Each cache as a host path with its trailing ``/``, as written and as the kernel shows it
    (links resolved inside the machine, at a bounded cost: the path is an account's to make)."""
    tops: dict[str, str] = {}
    try:
        anchor = safefs.open_anchor(machine.root)
    except OSError:
        return tops
    try:
        for cache in caches:
            tops[machine.host_path(cache).rstrip("/") + "/"] = cache
            try:
                opened = safefs.open_path(
                    anchor, cache, trusted_links=safefs.ANYONE, follow_last=True,
                    search=True, budget=safefs.LinkBudget(),
                )  # fmt: skip
            except (safefs.UnsafePath, safefs.OverBudget):
                continue
            os.close(opened.fd)
            tops[machine.host_path(opened.path).rstrip("/") + "/"] = cache
    finally:
        os.close(anchor)
    return tops


def _held(proc: Proc) -> Iterator[tuple[str, str]]:
    """``(how, host path)`` for each place the process holds."""
    if proc.cwd:
        yield "its working directory is", proc.cwd
    for path in proc.fds or ():
        yield "has open", path
    for path in proc.maps or ():
        yield "has mapped", path
