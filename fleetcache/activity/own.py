"""fleetcache's own processes, which never make a cache busy: the process itself, what it forked
(cache walkers, the children that read as an account, the deleting child: the same executable
and command line as their parent), theirs, and the interpreters it probes for their version.

A program a library caller started (its own pip, say) is none of these and still counts.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Optional

# how a probe runs an interpreter: isolated, no site, one line of code (see discovery.probe)
PROBE_ARGS = (
    "-I",
    "-S",
    "-c",
    "import sys; v = sys.version_info; print(v[0], v[1], v[2], v[3], v[4])",
)

Argv = Optional[Sequence[str]]


def tree(
    me: int,
    mine: tuple[Argv, Optional[str]],
    procs: Iterable[tuple[int, Argv, Optional[str]]],
    parents: Mapping[int, int],
) -> set[int]:
    """The pids of fleetcache's own processes among ``procs`` (pid, command line, executable),
    given each one's parent pid and this process's own command line and executable."""
    children: dict[int, list[tuple[int, Argv, Optional[str]]]] = {}
    for proc in procs:
        parent = parents.get(proc[0])
        if parent is not None:
            children.setdefault(parent, []).append(proc)
    own = {me}
    todo = [me]
    while todo:
        for pid, argv, exe in children.get(todo.pop(), ()):
            if pid in own:
                continue
            if (argv is not None and (argv, exe) == mine) or _probe(argv):
                own.add(pid)
                todo.append(pid)
    return own


def _probe(argv: Argv) -> bool:
    return argv is not None and tuple(argv[1:]) == PROBE_ARGS
