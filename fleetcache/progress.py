"""Progress of the long steps (walking caches, reading entries, sizing environments), passed in
like the rest of the world: the library ticks, the command line decides whether anyone sees it."""

from __future__ import annotations

import sys
from typing import Callable, Protocol, TextIO

Tick = Callable[[], None]


class Progress(Protocol):
    """Starts a step of ``total`` units; each call of the returned tick is one done."""

    def __call__(self, label: str, total: int, unit: str) -> Tick: ...


def silent(label: str, total: int, unit: str) -> Tick:
    """No progress shown (the library's default)."""
    return lambda: None


def bar(stream: TextIO = sys.stderr) -> Progress:
    """tqdm bars on ``stream``; each clears itself when its step is done."""
    from tqdm import tqdm

    def start(label: str, total: int, unit: str) -> Tick:
        if total < 2:
            return lambda: None
        shown = tqdm(total=total, desc=label, unit=unit, file=stream, leave=False)

        def tick() -> None:
            shown.update()
            if shown.n >= total:
                shown.close()

        return tick

    return start


def clear() -> None:
    """Take down the bars of steps cut short (an error, a Ctrl-C): the next message then starts
    a line of its own."""
    module = sys.modules.get("tqdm")
    if module is None:
        return  # no bar was ever shown
    for shown in list(getattr(module.tqdm, "_instances", ())):  # one stopped mid-draw too
        shown.close()
