"""What could not be read is not idle: a process denied where it matters (its command line shows
a Python, a pip, or a shell whose environment is hidden) may run from any of its account's
environments, so those are "possibly" active and the caches they use "possibly" busy."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Optional

from fleetcache.activity import commands
from fleetcache.activity.processes import Proc
from fleetcache.activity.view import View
from fleetcache.model import AccountCaches, Environment, ProcessUse


@dataclass(frozen=True)
class Doubt:
    """A process that could not be read where it matters: what was denied, and whether it
    may be a Python (else a shell, which may have activated an environment)."""

    proc: Proc
    denied: tuple[str, ...]
    python: bool


def doubt(proc: Proc, call: Optional[commands.PipCall], view: View, linux: bool) -> Optional[Doubt]:
    """What was denied that could have tied the process to an environment. Only where it
    matters: a process whose command line shows neither a Python nor a shell (a shell may have
    activated an environment: ``$VIRTUAL_ENV`` is in its environment) is not in doubt."""
    argv = proc.argv
    python = argv is None or (bool(argv) and (commands.is_python(argv[0]) or call is not None))
    shell = argv is not None and bool(argv) and commands.is_shell(argv[0])
    if not python and not (shell and proc.environ is None):
        return None
    denied = []
    if argv is None:
        denied.append("command line")
    if proc.exe is None:
        denied.append("executable")
    if view.program(proc)[1]:
        denied.append("working directory")
    if proc.environ is None:
        denied.append("environment")
    if linux and proc.maps is None:
        denied.append("memory maps")
    return Doubt(proc, tuple(denied), python) if denied else None


def possibly(
    activity: dict[str, list[ProcessUse]],
    unreadable: Mapping[Optional[int], Sequence[Doubt]],
    envs: Sequence[Environment],
    names: Mapping[int, str],
) -> None:
    """An account's unreadable processes may run from any of its environments (and, when they
    may be Pythons, from the system's): those are possibly active, unless certainly so."""
    for uid, doubts in unreadable.items():
        use = _use(uid, doubts, names)
        pythons = any(doubt.python for doubt in doubts)
        for env in envs:
            if not env.exists or env.kind == "unknown":
                continue
            if env.shared:
                if not pythons:
                    continue
            elif uid is not None and env.owner_uid != uid:
                continue
            _add(activity.setdefault(env.key, []), use)


def possibly_busy(
    busy: dict[str, list[ProcessUse]],
    unreadable: Mapping[Optional[int], Sequence[Doubt]],
    by_uid: Mapping[int, AccountCaches],
    names: Mapping[int, str],
) -> None:
    """Without the search for environments (``--no-envs``) the ones an unreadable process may
    run from are unknown: every cache of its account is possibly busy, unless certainly so."""
    for uid, doubts in unreadable.items():
        account = by_uid.get(uid) if uid is not None else None
        if account is not None:
            use = _use(uid, doubts, names)
            for path in account.cache_paths:
                _add(busy.setdefault(path, []), use)


def _use(uid: Optional[int], doubts: Sequence[Doubt], names: Mapping[int, str]) -> ProcessUse:
    """One account's unreadable processes as one "possibly" reason."""
    user = names.get(uid, str(uid)) if uid is not None else None
    denied = sorted({d for doubt in doubts for d in doubt.denied})
    who = f"of {user}" if user else "of an unknown account"
    what = f"{', '.join(denied)} could not be read (access denied)"
    if len(doubts) == 1:  # its pid and account are the reason's own: not said twice
        pid, command, why = doubts[0].proc.pid, commands.shown(doubts[0].proc.argv), what
    else:
        pid, command, why = None, "", f"{len(doubts)} processes {who}: {what}"
    return ProcessUse(pid, uid, user, command, why, certain=False)


def _add(current: list[ProcessUse], use: ProcessUse) -> None:
    if not any(u.certain for u in current):
        current.append(use)
