"""Ctrl-C and the processes fleetcache forks. A terminal sends SIGINT to the whole process group,
children included: a child is forked with SIGINT held (blocked), so that it can choose what a
Ctrl-C does to it before one can reach it (Python's own handler would print a traceback)."""

from __future__ import annotations

import signal
from typing import Optional, Union

Held = Optional[set[Union[int, signal.Signals]]]


def hold() -> Held:
    """Hold SIGINT in this thread (where the OS can) until :func:`release`; a child forked
    meanwhile starts with it held. The mask to restore."""
    if not hasattr(signal, "pthread_sigmask"):
        return None
    return signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT})


def release(held: Held) -> None:
    """Restore what :func:`hold` changed: a SIGINT held meanwhile arrives now."""
    if held is not None:
        signal.pthread_sigmask(signal.SIG_SETMASK, held)


def let_in(handler: signal.Handlers) -> None:
    """In a child forked under :func:`hold`: what SIGINT does to it (``SIG_DFL``: it ends
    quietly; ``SIG_IGN``: it is its parent's to handle), then let SIGINT in (one held since
    the fork is dropped, or ends it)."""
    signal.signal(signal.SIGINT, handler)
    if hasattr(signal, "pthread_sigmask"):
        signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGINT})


def ignore() -> None:
    """A pool worker's first act: Ctrl-C is its parent's to handle (the parent stops it)."""
    let_in(signal.SIG_IGN)
