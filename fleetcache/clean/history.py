"""Each account's last clean, kept in the state directory across runs: when, what it freed, and
how many runs in a row failed or skipped a busy cache of it (for the timer's exit code and the
Prometheus gauges)."""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import secrets
from collections.abc import Iterator, Sequence
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Any, Optional

from fleetcache.clean import guard
from fleetcache.model import Skipped

if TYPE_CHECKING:
    from fleetcache.clean.run import CacheClean, CleanResult

FILE = "last-clean.json"
VERSION = 1
# an account's clean that failed in this many runs in a row, or a cache of its skipped busy in
# this many (three days of the daily timer), needs a person: exit 5
REPEAT_FAILED = 2
REPEAT_BUSY = 3

# how one run went for one account
CLEANED = "cleaned"  # every cache cleaned, or nothing to do
BUSY = "busy"  # a cache skipped: in use, or another clean held it (and nothing failed)
FAILED = "failed"  # a cache refused, or cleaned only in part
_FAILED_STATES = ("refused", "partial")
_BUSY_STATES = ("busy", "locked")


class StateError(Exception):
    """The state file could not be read or written; the message says why, in one line."""


@dataclass(frozen=True)
class LastClean:
    """An account's last clean as the state directory keeps it."""

    user: str
    uid: Optional[int]
    time: float  # when the run started (Unix time)
    run: str  # its run id, as in the audit log
    freed_bytes: int
    outcome: str  # CLEANED, BUSY or FAILED
    failures: int  # runs in a row that failed for this account (0 after one that did not)
    busy_runs: int  # runs in a row that skipped a busy cache of it

    def repeated(self) -> Optional[str]:
        """Why this account needs a person now, when its trouble repeats; else None."""
        if self.failures >= REPEAT_FAILED:
            return f"{self.user}: its clean failed in {self.failures} runs in a row"
        if self.busy_runs >= REPEAT_BUSY:
            return f"{self.user}: a cache of it was skipped busy in {self.busy_runs} runs in a row"
        return None


def path_of(state_dir: str) -> str:
    """The state file in a state directory."""
    return os.path.join(state_dir, FILE)


def outcome(caches: Sequence[CacheClean]) -> str:
    """How a run went for the caches of one account."""
    states = {c.state for c in caches}
    if states & set(_FAILED_STATES):
        return FAILED
    return BUSY if states & set(_BUSY_STATES) else CLEANED


def _owners(item: CacheClean) -> list[str]:
    """The accounts a cache's outcome counts for: its owner, else (refused before its owner was
    known: a link) the accounts whose tools use it."""
    if item.user is not None:
        return [item.user]
    return sorted({s.user for s in item.sources if s.user})


def _by_account(result: CleanResult) -> dict[str, list[CacheClean]]:
    """The run's caches by account; a cache that does not exist, or that the policy file leaves
    alone, counts for nobody (an excluded account has no last clean to show)."""
    found: dict[str, list[CacheClean]] = {}
    for item in result.caches:
        if item.state in ("missing", "excluded"):
            continue
        for user in _owners(item):
            found.setdefault(user, []).append(item)
    return found


def read(state_dir: str) -> dict[str, LastClean]:
    """Every account's last clean; raises StateError (a missing file too: no clean yet)."""
    where = path_of(state_dir)
    try:
        fd = os.open(where, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC)
    except FileNotFoundError:
        raise StateError(f"{where}: no clean recorded yet") from None
    except OSError as exc:
        raise StateError(f"{where}: {exc.strerror}") from None
    with os.fdopen(fd, "rb") as f:
        data = f.read()
    try:
        doc = json.loads(data)
        return {name: _record(name, value) for name, value in doc["accounts"].items()}
    except (ValueError, KeyError, TypeError, AttributeError) as exc:
        raise StateError(f"{where}: corrupt ({type(exc).__name__}: {exc}); not used") from None


def _record(user: str, value: dict[str, Any]) -> LastClean:
    """One account's record from JSON, every field checked for its type."""
    uid = value["uid"]
    numbers = [value[k] for k in ("time", "freed_bytes", "failures", "busy_runs")]
    if (
        not (uid is None or type(uid) is int)
        or not all(type(n) in (int, float) for n in numbers)
        or not all(isinstance(value[k], str) for k in ("run", "outcome"))
    ):
        raise ValueError(f"bad record for {user}")
    return LastClean(user, uid, float(value["time"]), value["run"], int(value["freed_bytes"]),
                     value["outcome"], int(value["failures"]), int(value["busy_runs"]))  # fmt: skip


def record(state_dir: str, result: CleanResult) -> tuple[list[LastClean], Optional[str]]:
    """Note this run's outcome for each account it cleaned (an unreadable old file is started
    afresh); the new records, and a one-line warning when the old file was unusable. Raises
    StateError when the file cannot be written."""
    try:
        guard._private_dir(state_dir)
    except guard.Refused as exc:
        raise StateError(f"state directory {exc}") from None
    warning = None
    with _locked(state_dir):
        try:
            known = read(state_dir)
        except StateError as exc:
            known, warning = {}, (None if "no clean recorded" in str(exc) else str(exc))
        new = [_next(known.get(user), user, caches, result)
               for user, caches in sorted(_by_account(result).items())]  # fmt: skip
        known.update((r.user, r) for r in new)
        _write(state_dir, known)
    return new, warning


def _next(
    old: Optional[LastClean], user: str, caches: list[CacheClean], result: CleanResult
) -> LastClean:
    """An account's record after this run: the streaks go on, or start again at 0."""
    how = outcome(caches)
    uids = {c.uid for c in caches if c.uid is not None}
    return LastClean(
        user=user,
        uid=uids.pop() if len(uids) == 1 else None,
        time=result.generated_at,
        run=result.run_id,
        # what went into a quarantine still takes its space: freed when the run is purged
        freed_bytes=sum(c.deleted_bytes for c in caches if c.quarantine is None),
        outcome=how,
        failures=(old.failures if old else 0) + 1 if how == FAILED else 0,
        busy_runs=(old.busy_runs if old else 0) + 1 if how == BUSY else 0,
    )


@contextlib.contextmanager
def _locked(state_dir: str) -> Iterator[None]:
    """Hold the state directory's lock: two cleans at once must not lose each other's runs."""
    flags = os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW | os.O_CLOEXEC
    fd = os.open(os.path.join(state_dir, FILE + ".lock"), flags, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)


def _write(state_dir: str, known: dict[str, LastClean]) -> None:
    """Replace the state file whole (a new file renamed over it): a reader sees the old or new."""
    doc = {"version": VERSION, "accounts": {u: _fields(r) for u, r in sorted(known.items())}}
    data = (json.dumps(doc, indent=1, sort_keys=True) + "\n").encode()
    tmp = os.path.join(state_dir, f".{FILE}.{secrets.token_hex(8)}.tmp")
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC
    try:
        fd = os.open(tmp, flags, 0o600)
        try:
            with os.fdopen(fd, "wb") as f:
                f.write(data)
                f.flush()
                os.fsync(f.fileno())
            os.rename(tmp, path_of(state_dir))
        except BaseException:
            os.unlink(tmp)
            raise
    except OSError as exc:
        raise StateError(f"cannot write {path_of(state_dir)}: {exc.strerror or exc}") from None


def _fields(r: LastClean) -> dict[str, Any]:
    out = asdict(r)
    del out["user"]  # the key
    return out


def remember(result: CleanResult, state_dir: str) -> None:
    """Record a real clean (``result.recorded``); a state file that could not be used, and the
    accounts whose trouble repeats, are added to what the run skipped (a person should look)."""
    where = path_of(state_dir)
    try:
        result.recorded, warning = record(state_dir, result)
    except StateError as exc:
        result.skipped.append(Skipped(where, f"last clean not recorded: {exc}"))
        return
    if warning is not None:
        result.skipped.append(Skipped(where, f"{warning}; started afresh"))
    result.skipped.extend(Skipped(where, why) for r in result.recorded if (why := r.repeated()))
