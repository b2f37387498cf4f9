"""The index of quarantine runs: one JSON file per run in ``<state dir>/quarantine/`` (root's,
0700), written before the first file moves (a crash leaves a run that can be found) and after."""

from __future__ import annotations

import contextlib
import json
import os
import re
import stat
from dataclasses import asdict, dataclass, field
from typing import Any, Optional

from fleetcache.clean.guard import Refused, _private_dir

RUN_ID = re.compile(r"[0-9a-f]{32}")  # as clean's run ids (uuid4().hex)
SCHEMA = 1
LIST = "fleetcache quarantine list shows the runs kept there; --state-dir names another place"
# what became of one cache's quarantine
MOVING = "moving"  # files are (or were, when it crashed) being moved in
HELD = "quarantined"


class RunError(Exception):
    """A run id that is not one, or a run that is not in the index."""


def check_run_id(text: str) -> str:
    """``text`` when it is a run id (32 hex digits), else RunError."""
    if not RUN_ID.fullmatch(text):
        raise RunError(f"{text!r} is not a run id (32 hex digits, as clean prints them)")
    return text


@dataclass
class Held:
    """One cache's files in one run's quarantine."""

    cache: str  # the cache's path on the machine
    kind: str
    uid: int
    user: str
    place: str  # the quarantine directory that mirrors the cache
    expires: float  # when the next clean (or purge) deletes it
    state: str = MOVING
    files: int = 0
    bytes: int = 0


@dataclass
class Run:
    """One clean's quarantine: when it ran, where, and each cache's part."""

    run_id: str
    created: float
    host: str
    root: str
    operator: str
    caches: list[Held] = field(default_factory=list)

    @property
    def expires(self) -> float:
        """When the last of its caches expires."""
        return max((h.expires for h in self.caches), default=self.created)


class Index:
    """The runs in one state directory."""

    def __init__(self, state_dir: str) -> None:
        self.dir = os.path.join(state_dir, "quarantine")

    def save(self, run: Run) -> None:
        """Write the run whole, replacing its previous version at once."""
        _private_dir(os.path.dirname(self.dir))
        _private_dir(self.dir)
        doc = {"schema_version": SCHEMA, **asdict(run), "expires": run.expires}
        data = json.dumps(doc, indent=1).encode()
        tmp = os.path.join(self.dir, f".{run.run_id}.tmp")
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC
        fd = os.open(tmp, flags, 0o600)
        try:
            while data:
                data = data[os.write(fd, data) :]
            os.fsync(fd)
        finally:
            os.close(fd)
        os.replace(tmp, self._path(run.run_id))

    def remove(self, run_id: str) -> None:
        """Forget a run (its files are gone or back)."""
        with contextlib.suppress(FileNotFoundError):
            os.unlink(self._path(run_id))

    def load(self, run_id: str) -> Run:
        """One run; RunError when it is not there."""
        check_run_id(run_id)
        run = self._read(self._path(run_id)) if self._there() else None
        if run is None:
            raise RunError(f"no quarantine run {run_id} in {self.dir} ({LIST})")
        return run

    def runs(self) -> list[Run]:
        """Every run, oldest first (none when the directory is not there)."""
        if not self._there():
            return []
        found = (self._read(os.path.join(self.dir, n)) for n in sorted(os.listdir(self.dir))
                 if RUN_ID.fullmatch(n.removesuffix(".json")) and n.endswith(".json"))  # fmt: skip
        return sorted((r for r in found if r is not None), key=lambda r: r.created)

    def _there(self) -> bool:
        """Whether the index directory exists; Refused when it is no private directory of
        ours: a run read from it decides what is moved back where, as whom."""
        try:
            st = os.lstat(self.dir)
        except FileNotFoundError:
            return False
        except NotADirectoryError:  # a state "directory" that is a file holds no runs: say so
            raise Refused(f"{os.path.dirname(self.dir)} is not a directory") from None
        if not stat.S_ISDIR(st.st_mode):
            raise Refused(f"{self.dir} is not a directory")
        if st.st_uid != os.geteuid() or st.st_mode & 0o022:
            raise Refused(f"{self.dir} is not a private directory of uid {os.geteuid()}")
        return True

    def _path(self, run_id: str) -> str:
        return os.path.join(self.dir, f"{check_run_id(run_id)}.json")

    def _read(self, path: str) -> Optional[Run]:
        try:
            fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC)
        except FileNotFoundError:
            return None
        with os.fdopen(fd, "rb") as f:
            data = f.read(1 << 24)
        try:
            return _run(json.loads(data))
        except (ValueError, TypeError, KeyError, RecursionError) as exc:
            raise Refused(f"{path}: not a quarantine run ({exc!r})") from None


def _run(doc: dict[str, Any]) -> Run:
    caches = [Held(**h) for h in doc["caches"]]
    keep = {k: doc[k] for k in ("run_id", "created", "host", "root", "operator")}
    return Run(caches=caches, **keep)
