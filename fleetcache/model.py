"""The data that flows along fleetcache's pipeline: accounts, caches, their figures, and what was skipped."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Optional

# beside a cache, what a clean moved out of it (fleetcache.clean.moves): no tool reads it, and
# no scan takes what is in it for a cache or an environment
QUARANTINE_DIR = ".fleetcache-quarantine"
# pip commands whose options decide which cache they read and write (every SessionCommandMixin
# command, and `pip cache` itself); `[global]` loses to any of these sections.
CACHE_COMMANDS = (
    "cache",
    "download",
    "index",
    "install",
    "list",
    "lock",
    "search",
    "uninstall",
    "wheel",
)


@dataclass(frozen=True)
class Skipped:
    """Something that could not be read or was refused, and why."""

    path: str
    reason: str


@dataclass(frozen=True)
class Account:
    """One account of the machine, as its account database describes it."""

    name: str
    uid: int
    gid: int
    home: str
    system: bool = False


@dataclass(frozen=True)
class CacheSource:
    """Why an account's pip uses a cache: the default, a config file section, a variable, or layout."""

    kind: str  # "default" | "config" | "env" | "layout" | "process"
    user: Optional[str] = None
    commands: tuple[str, ...] = ()
    file: Optional[str] = None
    section: Optional[str] = None
    variable: Optional[str] = None
    pid: Optional[int] = None  # the running process whose environment (or command line) says so
    # why pip stops before it uses this cache (a config problem), when it does
    stopped: Optional[str] = None
    # which of pip's config files a "config" source is: global, user, site, or PIP_CONFIG_FILE
    level: Optional[str] = None
    tool: Optional[str] = None  # the tool whose rule this is, when not pip's (pipenv, poetry...)

    def describe(self) -> str:
        """One short phrase for tables, e.g. ``/etc/pip.conf [install]`` or ``PIP_CACHE_DIR``."""
        phrase = self._phrase() if self.tool is None else f"{self.tool}: {self._phrase()}"
        return f"{phrase} (pip stops: config problem)" if self.stopped else phrase

    def _phrase(self) -> str:
        if self.kind == "process":
            return f"used by pip (pid {self.pid})"
        if self.kind == "config":
            phrase = f"{self.file} [{self.section}]" if self.section else f"{self.file}"
        elif self.kind == "env":
            phrase = f"${self.variable}"
        elif self.kind == "layout":
            return "found by layout"
        elif self.variable:
            phrase = f"default location (${self.variable})"
        else:
            phrase = "default location"
        return phrase if self.pid is None else f"{phrase}, environment of pid {self.pid}"

    def label(self) -> str:
        """:meth:`describe` with the kind of config file said, e.g. ``user config
        ~/.pip/pip.conf [install]`` or ``site config /srv/venv/pip.conf [global]``."""
        if self.kind != "config" or self.level is None:
            return self.describe()
        kind = "$PIP_CONFIG_FILE" if self.level == "PIP_CONFIG_FILE" else f"{self.level} config"
        return f"{kind} {self.describe()}"

    def commands_phrase(self) -> str:
        """The pip commands this source applies to, shortened when it is all of them."""
        if set(self.commands) >= set(CACHE_COMMANDS):
            return "all commands"
        return ", ".join(self.commands)


@dataclass(frozen=True)
class CacheUse:
    """What one account's pip uses for some commands: a cache path, or no cache at all."""

    path: Optional[str]  # None: the cache is disabled for these commands
    source: CacheSource


@dataclass(frozen=True)
class AccountCaches:
    """An account and the caches its pip would use, with the problems met on the way."""

    account: Account
    uses: tuple[CacheUse, ...]
    config_files: tuple[str, ...] = ()
    problems: tuple[Skipped, ...] = ()

    @property
    def cache_paths(self) -> tuple[str, ...]:
        """Each distinct cache path, in the order first used."""
        return tuple(dict.fromkeys(u.path for u in self.uses if u.path is not None))


@dataclass(frozen=True)
class CacheLocation:
    """A cache directory to examine, its kind (fleetcache.kinds), and every reason it is one."""

    path: str
    sources: tuple[CacheSource, ...]
    # uids the cache root may belong to; empty means any owner (found by --search).
    trusted_owners: frozenset[int] = frozenset()
    kind: str = (
        "pip"  # which tool's cache: a name in fleetcache.kinds.all.KINDS (pipenv's is pip's)
    )

    @property
    def users(self) -> tuple[str, ...]:
        """The accounts whose pip uses this cache."""
        return tuple(dict.fromkeys(s.user for s in self.sources if s.user is not None))


@dataclass(frozen=True)
class SelfcheckKey:
    """A ``selfcheck/`` entry: an interpreter prefix that used this cache."""

    prefix: str
    last_check: Optional[str]
    exists: Optional[bool] = None


@dataclass(frozen=True)
class CacheFigures:
    """What one walk of a cache found."""

    # pip's own four figures
    http_files: int = 0
    http_bytes: int = 0
    wheel_files: int = 0
    wheel_bytes: int = 0
    # everything under the cache root
    total_files: int = 0
    total_bytes: int = 0
    dirs: int = 0
    # what the files take on disk, and what removing them all would free (see stats.walk)
    disk_bytes: int = 0
    reclaimable_bytes: int = 0
    shared_bytes: int = 0
    # what pip does not show
    http_v2_files: int = 0
    http_v2_bytes: int = 0
    http_entries: int = 0
    orphan_files: int = 0
    orphan_bytes: int = 0
    tmp_files: int = 0
    tmp_bytes: int = 0
    legacy_http_files: int = 0
    legacy_http_bytes: int = 0
    wheel_entries: int = 0
    legacy_wheel_entries: int = 0
    legacy_wheel_bytes: int = 0
    selfcheck_files: int = 0
    selfcheck_bytes: int = 0
    legacy_selfcheck_bytes: int = 0
    other_files: int = 0
    other_bytes: int = 0
    foreign_files: int = 0
    foreign_bytes: int = 0
    odd_names: int = 0
    vanished: int = 0
    unreadable: int = 0
    oldest_mtime: Optional[float] = None
    newest_mtime: Optional[float] = None
    # what a clean's --older-than reads a file's last use from: "atime" (the later of its access
    # and modification times: its filesystem records access) or "mtime"; None: not walked
    age_basis: Optional[str] = None
    selfcheck: tuple[SelfcheckKey, ...] = ()
    problems: tuple[Skipped, ...] = field(default=(), compare=False)


@dataclass(frozen=True)
class ProcessUse:
    """A running process that makes an environment active or a cache busy, and why.

    ``certain`` is False for "possibly": a process that could not be read (access denied) may be
    using it; ``pid`` is then None when the reason counts several processes.
    """

    pid: Optional[int]
    uid: Optional[int]
    user: Optional[str]
    command: str  # the command line, shell-quoted, credentials in URLs removed
    why: str
    certain: bool = True
    environment: Optional[str] = None  # the environment it runs in, when that is the reason


@dataclass(frozen=True)
class PipRun:
    """A running pip, whose account it runs as and the caches it reads and writes."""

    pid: int
    uid: Optional[int]
    user: Optional[str]
    command: str
    subcommand: Optional[str]
    environment: Optional[str]  # prefix of the environment it runs from, when known
    caches: tuple[str, ...]  # empty: its cache is disabled, or unknown (see cache_from)
    cache_from: str  # --cache-dir on its command line, its environment, the account's settings
    certain: bool = True


@dataclass(frozen=True)
class Activity:
    """What one pass over the process table found."""

    processes: int  # processes in the table
    examined: int  # processes looked at (not kernel threads, zombies, fleetcache's own processes)
    unreadable: int  # processes whose command line, executable, environment or maps were denied
    pips: tuple[PipRun, ...] = ()


def busy_state(uses: tuple[ProcessUse, ...]) -> Optional[bool]:
    """True when a process certainly uses it, None when one possibly does, else False."""
    if any(u.certain for u in uses):
        return True
    return None if uses else False


@dataclass(frozen=True)
class PipUser:
    """A pip known to use a cache: the environment it is installed in (a system interpreter's
    executable), its version, and whether it reads only the legacy ``http/`` tree (pip < 23.3,
    or a version nothing tells)."""

    environment: str
    version: str
    legacy: bool


@dataclass(frozen=True)
class PackageHeld:
    """What one package (the report's name for it) takes in one cache: its entries and bytes."""

    package: str
    entries: int
    bytes: int


@dataclass(frozen=True)
class CacheResult:
    """One cache: where, why, whose, and its figures; or why it was not walked."""

    location: CacheLocation
    exists: bool
    owner_uid: Optional[int] = None
    owner: Optional[str] = None
    figures: CacheFigures = field(default_factory=CacheFigures)
    skipped: Optional[str] = None
    environments: tuple[str, ...] = ()  # prefixes of the environments whose pip uses it
    busy_reasons: tuple[ProcessUse, ...] = ()
    busy_checked: bool = False  # False: the process table was not read (busy unknown)
    problems: tuple[str, ...] = ()  # what is wrong with it, e.g. why a clean would refuse it
    pips: tuple[PipUser, ...] = ()  # the pips known to use it
    # its entries by package, largest first; None when they were not read (scan without --packages)
    packages: Optional[tuple[PackageHeld, ...]] = None

    @property
    def busy(self) -> Optional[bool]:
        """True: in use now; None: possibly, or not checked; False: nothing uses it."""
        return busy_state(self.busy_reasons) if self.busy_checked else None

    @property
    def legacy_http_junk(self) -> Optional[bool]:
        """True when every pip known to use it is 23.3 or later (none reads its legacy http/);
        False when an older one (or one of unknown version) does; None when no pip is known."""
        return None if not self.pips else not any(p.legacy for p in self.pips)

    @property
    def junk_legacy_http(self) -> tuple[int, int]:
        """(files, bytes) of its legacy http/ that pip never uses again: all of it once no pip
        that may read it is known to use the cache, else none."""
        if self.legacy_http_junk:
            return self.figures.legacy_http_files, self.figures.legacy_http_bytes
        return 0, 0


@dataclass(frozen=True)
class Environment:
    """An interpreter or environment: where, what made it, whose, its Python, the caches its pip uses."""

    prefix: str
    kind: str  # system, pyenv, uv-python, conda, venv, pipx, ... (see discovery.markers.KINDS)
    role: str  # "interpreter" (an installed Python) or "environment" (built on one)
    exists: bool = True
    owner_uid: Optional[int] = None
    owner: Optional[str] = None
    python_version: Optional[str] = None
    version_from: Optional[str] = None  # the file (or "probe") the version was read from
    # its installed pip's version (from its dist-info), "unknown" when nothing dates it, None: none
    pip_version: Optional[str] = None
    interpreter: Optional[str] = None
    base_interpreter: Optional[str] = None
    project: Optional[str] = None  # the project directory holding it (.venv, .tox/*, .pixi/envs/*)
    marker: str = ""  # what decided the kind, e.g. "pipx_metadata.json"
    found_by: tuple[str, ...] = ()
    shared: bool = False  # a system-wide interpreter: each account's pip uses its own caches
    caches: tuple[CacheUse, ...] = ()
    size_bytes: Optional[int] = None
    files: Optional[int] = None
    last_modified: Optional[float] = None
    selfcheck_caches: tuple[str, ...] = ()  # caches whose selfcheck/ names this prefix
    problems: tuple[str, ...] = ()
    activity: tuple[ProcessUse, ...] = ()  # the processes that run from it, or may
    activity_checked: bool = False

    @property
    def active(self) -> Optional[bool]:
        """True: a process runs from it; None: possibly, or not checked; False: none does."""
        return busy_state(self.activity) if self.activity_checked else None

    @property
    def pids(self) -> tuple[int, ...]:
        """The processes certainly running from it."""
        return tuple(dict.fromkeys(u.pid for u in self.activity if u.certain and u.pid is not None))

    @property
    def cache_paths(self) -> tuple[str, ...]:
        """Each distinct cache its pip uses."""
        return tuple(dict.fromkeys(u.path for u in self.caches if u.path is not None))

    @property
    def key(self) -> str:
        """One record per prefix; but /usr holds several system interpreters, one record each."""
        if self.kind == "system" and self.interpreter is not None:
            return self.interpreter
        return self.prefix


@dataclass(frozen=True)
class CacheEntry:
    """One thing a cache holds: an http entry (both halves) or a built wheel, and what it is."""

    cache: str
    # relative to the cache: http-v2/a/b/c/d/e/<key> (<key>.body for a lone body), http/<...>/<key>,
    # wheels/<...>/<name>.whl
    path: str
    area: str  # "http-v2", "http" (legacy, never read by pip >= 23.3) or "wheels"
    kind: str  # wheel, sdist, index page, core metadata, file, built wheel, unknown
    project: Optional[str]
    version: Optional[str]
    how: str  # how it was named: headers, wheel contents, page title, index page link, ...
    files: int
    size: int
    mtime: float
    complete: bool = True  # False: an http-v2 half without the other (pip never uses it)
    # its last use, as its cache's age_basis reads it (see fleetcache.lastuse); None: mtime
    used: Optional[float] = None

    @property
    def last_used(self) -> float:
        """When it was last used, as far as its cache's filesystem tells."""
        return self.mtime if self.used is None else self.used

    @property
    def download(self) -> bool:
        """A download (http cache) rather than a wheel pip built."""
        return self.area != "wheels"


@dataclass(frozen=True)
class ScanResult:
    """Everything one scan found on one machine."""

    host: str
    generated_at: float
    root: str
    accounts: tuple[AccountCaches, ...]
    caches: tuple[CacheResult, ...]
    skipped: tuple[Skipped, ...]
    environments: tuple[Environment, ...] = ()
    envs_searched: bool = True  # False: environments were not looked for (scan --no-envs)
    activity: Optional[Activity] = None  # None: the process table was not read

    @property
    def complete(self) -> bool:
        """True when nothing was skipped."""
        return not self.skipped
