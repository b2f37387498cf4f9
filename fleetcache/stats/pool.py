"""Walks many caches at once, in worker processes (the GIL makes threads lose on this workload)."""

from __future__ import annotations

import multiprocessing
import os
import sys
from collections.abc import Iterator, Sequence
from typing import Callable, Optional, TypeVar

from fleetcache import interrupts
from fleetcache.stats.walk import WalkOutcome, WalkTask, walk_cache

T = TypeVar("T")
R = TypeVar("R")


def default_jobs() -> int:
    """One worker per processor this process may run on."""
    if hasattr(os, "sched_getaffinity"):
        return max(1, len(os.sched_getaffinity(0)))
    return max(1, os.cpu_count() or 1)


def walk_all(tasks: Sequence[WalkTask], jobs: Optional[int] = None) -> Iterator[WalkOutcome]:
    """The outcome of each cache walk, in task order; several caches walk in parallel processes."""
    return run_all(walk_cache, tasks, jobs)


def run_all(func: Callable[[T], R], tasks: Sequence[T], jobs: Optional[int] = None) -> Iterator[R]:
    """``func`` over each task, in task order, in parallel worker processes."""
    workers = min(jobs or default_jobs(), len(tasks))
    if workers <= 1:
        yield from map(func, tasks)
        return
    # fork is cheapest and safe here: fleetcache starts no threads before walking.
    method = "fork" if sys.platform.startswith("linux") else None
    context = multiprocessing.get_context(method)
    # a Ctrl-C reaches the workers too: they ignore it; the parent gets it once they exist
    held = interrupts.hold()
    try:
        with context.Pool(workers, initializer=interrupts.ignore) as pool:
            interrupts.release(held)
            yield from pool.imap(func, tasks, chunksize=1)
    finally:
        interrupts.release(held)
