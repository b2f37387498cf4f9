"""``fleetcache quarantine list|purge`` and ``fleetcache restore``: the runs a ``clean
--quarantine`` kept, shown, deleted, or put back."""

from __future__ import annotations

import argparse
import contextlib
import functools
import json
import os
import time
from collections.abc import Iterator, Sequence
from typing import Any, Callable

from fleetcache import cli as c
from fleetcache import escape
from fleetcache.clean import CleanError, guard, qindex
from fleetcache.clean.qops import Done, Quarantines
from fleetcache.discovery.run import load_accounts
from fleetcache.formats.fields import iso
from fleetcache.formats.fit import PATH, WORD
from fleetcache.formats.grid import grid
from fleetcache.formats.table import human_size, plural

LIST_FORMATS = ("table", "json")


def add(sub: argparse._SubParsersAction[c._Parser]) -> None:
    """The ``quarantine`` and ``restore`` commands."""
    p = c._subparser(sub, "quarantine", "the quarantine runs `clean --quarantine` kept")
    verbs = p.add_subparsers(dest="verb", metavar="VERB", parser_class=c._Parser, required=True)
    lst = c._subparser(verbs, "list", "runs with their caches, files, bytes, age and expiry")
    _common(lst, log=False)  # it writes nothing
    lst.add_argument("--format", "-f", choices=LIST_FORMATS, default="table", metavar="FORMAT",
                     help="output format: table, json (default table)")  # fmt: skip
    lst.add_argument("--output", "-o", metavar="FILE", help=c.OUTPUT_HELP)
    lst.set_defaults(func=_refusals(_cmd_list))
    purge = c._subparser(verbs, "purge", "delete quarantine runs as each cache's owner "
                         "(default: the expired ones; the next clean does that too)")  # fmt: skip
    _common(purge)
    purge.add_argument("run_ids", nargs="*", metavar="RUN_ID", help="these runs")
    purge.add_argument("--all", action="store_true", help="every run, expired or not")
    purge.add_argument("--dry-run", "-n", action="store_true", help="say what would go")
    purge.set_defaults(func=_refusals(_cmd_purge))
    r = c._subparser(sub, "restore", "put a quarantine run's files back where they were, as "
                     "each cache's owner, only where nothing took their place")  # fmt: skip
    _common(r)
    r.add_argument("run_id", metavar="RUN_ID", help="the run (clean's run_id)")
    r.add_argument("--dry-run", "-n", action="store_true", help="say what would be restored")
    r.add_argument("--lock-dir", metavar="DIR", help="clean's per-cache locks (default as clean's)")
    r.set_defaults(func=_refusals(_cmd_restore))


def _refusals(cmd: Callable[[argparse.Namespace], int]) -> Callable[[argparse.Namespace], int]:
    """The command, with an index or audit log that may not be used as a one-line error."""

    @functools.wraps(cmd)
    def run(args: argparse.Namespace) -> int:
        try:
            return cmd(args)
        except guard.Refused as exc:
            raise CleanError(str(exc)) from None

    return run


def _common(p: argparse.ArgumentParser, log: bool = True) -> None:
    c._machine_args(p)
    p.add_argument("--state-dir", metavar="DIR", help="where the runs are noted (default "
                   "/var/lib/fleetcache as root, else the account's state directory)")  # fmt: skip
    if log:
        p.add_argument("--audit-log", metavar="PATH", help="append the JSON-lines audit log "
                       "here (default as clean's)")  # fmt: skip


def _quarantines(args: argparse.Namespace, log: bool = True) -> Quarantines:
    machine = c._machine(args)
    euid = os.geteuid()
    state = args.state_dir or guard.default_state_dir(euid)
    try:
        audit = guard.AuditLog(args.audit_log or guard.default_log(euid)) if log else None
    except guard.Refused as exc:
        raise CleanError(str(exc)) from None
    from fleetcache.clean.run import _operator  # as clean names who ran it

    return Quarantines(machine, state, audit, _operator({}))


def _cmd_list(args: argparse.Namespace) -> int:
    q = _quarantines(args, log=False)
    now = time.time()
    every = [r for r in q.index.runs() if r.root == q.machine.root]
    _known(q, args.user, every)
    runs = [r for r in every if any(_mine(h, args.user) for h in r.caches)]
    if args.format == "json":
        c._emit(json.dumps(list_document(runs, args.user, now), indent=2) + "\n", args.output)
        return c.EXIT_OK
    text = "".join(_run_table(r, args.user, now) for r in runs) or "no quarantine runs\n"
    c._emit(text, args.output)
    return c.EXIT_OK


def _run_table(run: qindex.Run, users: Sequence[str], now: float) -> str:
    """One run: its id, age and expiry, then its caches (80 columns: the id is what restore takes)."""
    head = (f"run {run.run_id}: made {_span(now - run.created)} ago by "
            f"{escape.display(run.operator)}, {_expiry(run.expires, now, 'expires ')}")  # fmt: skip
    rows = [[h.user, h.kind, h.files, human_size(h.bytes), _expiry(h.expires, now),
             escape.display(h.cache)] for h in run.caches if _mine(h, users)]  # fmt: skip
    headers = ["USER", "KIND", "FILES", "SIZE", "EXPIRES", "CACHE"]
    table = grid(rows, headers, kinds=[WORD] * 5 + [PATH])
    only = "".join(f" --user {escape.display(u)}" for u in users)  # the caches shown, not all
    return f"{head}\n{table}\nTo put it back: fleetcache restore {run.run_id}{only}\n\n"


def _span(seconds: float) -> str:
    """A duration as people say it: its two largest units (6d 23h, 5m 2s)."""
    left = max(0, round(seconds))
    words: list[str] = []
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60), ("s", 1)):
        if left >= size or (unit == "s" and not words):
            words.append(f"{left // size}{unit}")
            left %= size
    return " ".join(words[:2])


def _known(q: Quarantines, users: Sequence[str], runs: Sequence[qindex.Run]) -> None:
    """A usage error for a --user that is neither an account of the machine nor the owner of a
    cache in a run (its account may be gone since): "no quarantine runs" would hide the typo."""
    named = {h.user for r in runs for h in r.caches}
    missing = [u for u in users if u not in named]
    if missing:
        accounts = {a.name for a in load_accounts(q.machine)}
        missing = [u for u in missing if u not in accounts]
    if missing:
        raise c.UsageError(f"no such user: {', '.join(missing)}")


def _mine(held: qindex.Held, users: Sequence[str]) -> bool:
    return not users or held.user in users


def _expiry(expires: float, now: float, verb: str = "") -> str:
    return "expired" if expires <= now else f"{verb}in {_span(expires - now)}"


def list_document(runs: Sequence[qindex.Run], users: Sequence[str], now: float) -> dict[str, Any]:
    """``quarantine list --format json`` (its fields: README's "JSON fields")."""
    return {
        "schema_version": 1,
        "command": "quarantine list",
        "runs": [_run_record(r, users, now) for r in runs],
    }


def _run_record(run: qindex.Run, users: Sequence[str], now: float) -> dict[str, Any]:
    return {
        "run_id": run.run_id,
        "created": iso(run.created),  # as every JSON document of fleetcache says a time
        "age_seconds": now - run.created,
        "expires": iso(run.expires),
        "expired": run.expires <= now,
        "host": run.host,
        "operator": run.operator,
        "caches": [
            {
                "path": escape.text(h.cache),
                "kind": h.kind,
                "user": h.user,
                "uid": h.uid,
                "quarantine": escape.text(h.place),
                "files": h.files,
                "bytes": h.bytes,
                "expires": iso(h.expires),
                "state": h.state,
            }
            for h in run.caches
            if _mine(h, users)
        ],
    }


def _cmd_purge(args: argparse.Namespace) -> int:
    if args.all and args.run_ids:
        raise c.UsageError("give RUN_IDs or --all, not both")
    try:
        ids = [qindex.check_run_id(r) for r in args.run_ids]
        q = _quarantines(args, log=not args.dry_run)
        every = [r for r in q.index.runs() if r.root == q.machine.root]
        _known(q, args.user, every)
        runs = every if args.all else [r for r in every if r.run_id in ids] if ids else None
        if runs is None:
            runs = q.expired(time.time())
        missing = set(ids) - {r.run_id for r in runs}
        if missing:
            raise qindex.RunError(f"no quarantine run {sorted(missing)[0]} in {q.index.dir} "
                                  f"({qindex.LIST})")  # fmt: skip
    except qindex.RunError as exc:
        raise c.UsageError(str(exc)) from None
    runs = [_only(r, args.user) for r in runs]
    with _log_closed(q):
        done = q.purge(runs, dry_run=args.dry_run)
    _tell(done, args.dry_run, "purge", "purged", lambda d: f"run {d.run_id}: "
          f"{escape.display(d.held.cache)}: {plural(d.files, 'file')} "
          f"({human_size(d.bytes)})")  # fmt: skip
    if not done:
        print("nothing to purge")
    return c.EXIT_OK if all(d.error is None and not d.left for d in done) else c.EXIT_PARTIAL


def _only(run: qindex.Run, users: Sequence[str]) -> qindex.Run:
    """The run with its caches of ``users`` only (when given)."""
    if not users:
        return run
    kept = qindex.Run(run.run_id, run.created, run.host, run.root, run.operator, run.caches)
    kept.caches = [h for h in run.caches if h.user in users]
    return kept


def _cmd_restore(args: argparse.Namespace) -> int:
    try:
        qindex.check_run_id(args.run_id)
    except qindex.RunError as exc:
        raise c.UsageError(str(exc)) from None
    q = _quarantines(args, log=True)
    q.lock_dir = args.lock_dir
    try:
        with _log_closed(q):
            done = q.restore(args.run_id, tuple(args.user), dry_run=args.dry_run)
    except qindex.RunError as exc:
        raise c.UsageError(str(exc)) from None
    _tell(done, args.dry_run, "restore", "restored", lambda d: f"{plural(d.files, 'file')} "
          f"({human_size(d.bytes)}) into {escape.display(d.held.cache)}")  # fmt: skip
    if not done:
        raise c.UsageError(f"run {args.run_id} holds no cache of {', '.join(args.user)}")
    ok = all(d.error is None and not d.failed and not d.left for d in done)
    return c.EXIT_OK if ok else c.EXIT_PARTIAL


@contextlib.contextmanager
def _log_closed(q: Quarantines) -> Iterator[None]:
    """The audit log closed once the purge or restore is done, whatever happens."""
    try:
        yield
    finally:
        if q.log is not None:
            q.log.close()


def _tell(
    done: Sequence[Done], dry_run: bool, verb: str, past: str, line: Callable[[Done], str]
) -> None:
    """What became of each cache of a purge or restore (what would, in a dry run), on stdout;
    what could not be done, on stderr."""
    for d in done:
        print(f"{'would ' + verb if dry_run else past} {line(d)}")
        _problems(d, f"would not be {past}" if dry_run else f"not {past}")


def _problems(d: Done, what: str) -> None:
    if d.error is not None:
        c._warn(f"{d.held.cache}: {d.error}")
    for rel, why in d.failed:
        c._warn(f"{what}: {d.held.cache}/{rel}: {why}")
    if d.left > len(d.failed) and d.error is None:
        c._warn(f"{d.held.cache}: {d.left} files stay in {d.held.place}")
