"""The fields of a scan report, each with its meaning: one list that JSON, CSV and the README share."""

from __future__ import annotations

import datetime
from typing import TYPE_CHECKING, Any, Callable, NamedTuple, Optional

from fleetcache import __version__, escape
from fleetcache.model import (
    Activity,
    CacheEntry,
    CacheFigures,
    CacheResult,
    CacheSource,
    CacheUse,
    Environment,
    PipRun,
    ProcessUse,
    ScanResult,
    Skipped,
    busy_state,
)
from fleetcache.report.views import Report

if TYPE_CHECKING:
    from fleetcache.clean.run import CleanResult

SCHEMA_VERSION = 9


class Field(NamedTuple):
    """One field of a cache record: its name, what it means, how to get it, and if CSV has it."""

    name: str
    doc: str
    get: Callable[[CacheResult], Any]
    scalar: bool = True


def iso(ts: Optional[float]) -> Optional[str]:
    """A timestamp as ISO 8601 UTC, or None."""
    if ts is None:
        return None
    moment = datetime.datetime.fromtimestamp(ts, tz=datetime.timezone.utc)
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def skipped_record(skipped: Skipped) -> dict[str, str]:
    """Something not read, refused or in the way, and why, as JSON."""
    return {"path": escape.text(skipped.path), "reason": escape.text(skipped.reason)}


def source_record(source: CacheSource) -> dict[str, Any]:
    """A cache source as JSON."""
    return {
        "kind": source.kind,
        "user": source.user,
        "commands": list(source.commands),
        "file": None if source.file is None else escape.text(source.file),
        "section": source.section,
        "variable": source.variable,
        "pid": source.pid,
        "description": escape.text(source.describe()),
    }


def process_record(use: ProcessUse) -> dict[str, Any]:
    """A process that makes an environment active or a cache busy."""
    return {
        "pid": use.pid,
        "user": _opt(use.user),
        "uid": use.uid,
        "command": escape.text(use.command),
        "why": escape.text(use.why),
        "certain": use.certain,
        "environment": _opt(use.environment),
    }


def pip_record(pip: PipRun) -> dict[str, Any]:
    """A running pip and the caches it uses."""
    return {
        "pid": pip.pid,
        "user": _opt(pip.user),
        "uid": pip.uid,
        "command": escape.text(pip.command),
        "subcommand": pip.subcommand,
        "environment": _opt(pip.environment),
        "caches": [escape.text(p) for p in pip.caches],
        "cache_from": escape.text(pip.cache_from),
        "certain": pip.certain,
    }


def activity_record(activity: Optional[Activity]) -> Optional[dict[str, Any]]:
    """The process-table pass as JSON; null when it was not made (--no-activity)."""
    if activity is None:
        return None
    return {
        "processes": activity.processes,
        "examined": activity.examined,
        "unreadable": activity.unreadable,
        "pips": [pip_record(p) for p in activity.pips],
    }


def _pids_cell(uses: tuple[ProcessUse, ...]) -> str:
    return ";".join(str(u.pid) for u in uses if u.pid is not None)


def _state_cell(state: Optional[bool]) -> str:
    return "" if state is None else ("true" if state else "false")


def _fig(name: str) -> Callable[[CacheResult], Any]:
    return lambda r: getattr(r.figures, name)


def _dead_selfcheck(r: CacheResult) -> int:
    return sum(1 for k in r.figures.selfcheck if k.exists is False)


def _packages(r: CacheResult) -> Optional[list[dict[str, Any]]]:
    if r.packages is None:
        return None
    return [{"package": escape.text(p.package), "entries": p.entries, "bytes": p.bytes}
            for p in r.packages]  # fmt: skip


CACHE_FIELDS: list[Field] = [
    Field("path", "the cache directory, as a path of the scanned machine", lambda r: escape.text(r.location.path)),
    Field("kind", "which tool's cache it is: pip, uv, conda, rattler, poetry, pdm, pipenv, virtualenv, hatch or pip-tools (see Every Python cache)", lambda r: r.location.kind),
    Field("owner", "account owning the cache directory (uid when it has no name)", lambda r: r.owner),
    Field("owner_uid", "uid owning the cache directory", lambda r: r.owner_uid),
    Field("users", "accounts whose pip uses this cache (CSV: joined with ';')", lambda r: list(r.location.users), scalar=False),
    Field("sources", "why it is a cache: list of {kind, user, commands, file, section, variable, pid, description}; kind is default, config, env, layout or process (only a running pip names it); pid: the running process whose environment or command line says so, else null", lambda r: [source_record(s) for s in r.location.sources], scalar=False),
    Field("exists", "whether the directory exists", lambda r: r.exists),
    Field("environment_count", "environments whose pip uses this cache (system-wide interpreters not counted)", lambda r: len(r.environments)),
    Field("environments", "prefixes of those environments", lambda r: [escape.text(p) for p in r.environments], scalar=False),
    Field("pips", "the pips known to use it: list of {environment, version}: the pip of each environment that resolves to it and, for every account's own caches, that of each system-wide interpreter (any account may run it); environment: a system interpreter's executable, else a prefix; version unknown when nothing dates it", lambda r: [{"environment": escape.text(p.environment), "version": p.version} for p in r.pips], scalar=False),
    Field("busy", "true when a process uses it now (an active environment that uses it, or a running pip), null when one possibly does (a process could not be read) or the process table was not read, else false", lambda r: r.busy),
    Field("busy_reasons", "what makes it busy: list of {pid, user, uid, command, why, certain, environment} (CSV: pids joined with ';')", lambda r: [process_record(u) for u in r.busy_reasons], scalar=False),
    Field("skipped", "why the cache was not walked (symlink, foreign owner, unreadable, links costing more than 20,000 steps to resolve), else null", lambda r: r.skipped),
    Field("problems", "what is wrong with a cache that was walked: why a clean would refuse it (a directory on the way that someone other than root and the owner may write to, or a symbolic link on the way, named) (CSV: joined with ';')", lambda r: [escape.text(p) for p in r.problems], scalar=False),
    Field("http_files", "pip's 'Number of HTTP files' (http-v2/ and http/, every file)", _fig("http_files")),
    Field("http_bytes", "pip's 'Package index page cache size', in bytes", _fig("http_bytes")),
    Field("wheel_files", "pip's 'Number of locally built wheels' (*-*.whl under wheels/)", _fig("wheel_files")),
    Field("wheel_bytes", "pip's 'Locally built wheels size', in bytes (everything under wheels/)", _fig("wheel_bytes")),
    Field("total_files", "files under the cache directory", _fig("total_files")),
    Field("total_bytes", "bytes under the cache directory (apparent size, like du -sb less directories)", _fig("total_bytes")),
    Field("dirs", "directories under the cache directory, itself included", _fig("dirs")),
    Field("disk_bytes", "bytes the cache takes on disk, as du -sB1 counts them (allocated blocks, directories included, each inode once)", _fig("disk_bytes")),
    Field("reclaimable_bytes", "of those, what removing the whole cache would free: directories and files all of whose hardlinks lie inside it (past 200,000 files of several links in one cache, the others count as shared, said under skipped)", _fig("reclaimable_bytes")),
    Field("shared_bytes", "the rest: files also hardlinked from outside the cache (an environment), which removing it would not free", _fig("shared_bytes")),
    Field("http_v2_files", "files under http-v2/ (pip >= 23.3)", _fig("http_v2_files")),
    Field("http_v2_bytes", "bytes under http-v2/", _fig("http_v2_bytes")),
    Field("http_entries", "usable http-v2 entries (metadata and body both present)", _fig("http_entries")),
    Field("orphan_files", "http-v2 halves without their other half: never usable", _fig("orphan_files")),
    Field("orphan_bytes", "bytes of those orphan halves", _fig("orphan_bytes")),
    Field("tmp_files", "*.tmp leftovers and files in wheel build dirs left by an interrupted pip", _fig("tmp_files")),
    Field("tmp_bytes", "bytes of those leftovers", _fig("tmp_bytes")),
    Field("legacy_http_files", "files under the legacy http/ tree, which pip >= 23.3 never reads", _fig("legacy_http_files")),
    Field("legacy_http_bytes", "bytes under http/", _fig("legacy_http_bytes")),
    Field("legacy_http_junk", "true when every pip known to use it is 23.3 or later (none reads http/: junk), false when an older pip (or one of unknown version) uses it, null when no pip using it is known (http/ is then kept too)", lambda r: r.legacy_http_junk),
    Field("wheel_entries", "wheel cache entries (directories holding built wheels)", _fig("wheel_entries")),
    Field("legacy_wheel_entries", "wheel entries keyed before pip 20.0 (no origin.json, every file older than 2020-01-21): never read again", _fig("legacy_wheel_entries")),
    Field("legacy_wheel_bytes", "bytes of those entries", _fig("legacy_wheel_bytes")),
    Field("selfcheck_files", "files under selfcheck/ (pip's version-check state, one per interpreter)", _fig("selfcheck_files")),
    Field("selfcheck_bytes", "bytes under selfcheck/", _fig("selfcheck_bytes")),
    Field("dead_selfcheck", "selfcheck keys naming an interpreter prefix that no longer exists", _dead_selfcheck),
    Field("legacy_selfcheck_bytes", "bytes of the legacy selfcheck.json (pip 18-19.2)", _fig("legacy_selfcheck_bytes")),
    Field("other_files", "files outside pip's known subdirectories", _fig("other_files")),
    Field("other_bytes", "bytes of those files", _fig("other_bytes")),
    Field("foreign_files", "files not owned by the cache's owner", _fig("foreign_files")),
    Field("foreign_bytes", "bytes of those files", _fig("foreign_bytes")),
    Field("odd_names", "names with control characters or undecodable bytes", _fig("odd_names")),
    Field("unreadable", "entries that could not be read (listed under skipped)", _fig("unreadable")),
    Field("vanished", "files that disappeared during the walk", _fig("vanished")),
    Field("oldest", "oldest file modification time (ISO 8601 UTC)", lambda r: iso(r.figures.oldest_mtime)),
    Field("newest", "newest file modification time (ISO 8601 UTC)", lambda r: iso(r.figures.newest_mtime)),
    Field("age_basis", "what `clean --older-than` and `--max-size` read each entry's last use from: `atime` (its filesystem records access times, as relatime and strictatime do: the later of a file's access and modification times) or `mtime` (mounted noatime); null when not walked", lambda r: r.figures.age_basis),
    Field("packages", "its entries by package, when `scan --packages` read them as `report` does: list of {package, entries, bytes}, largest first, the names as `report --by package` gives them ((unknown): entries nothing names); [] when it holds none, null when its entries were not read (CSV: left out)", _packages, scalar=False),
    Field("selfcheck", "interpreters that used this cache: list of {prefix, last_check, exists} (the first 1,000; more are noted under skipped); exists is as the cache's owner sees it, null when the owner cannot tell", lambda r: [{"prefix": escape.text(k.prefix), "last_check": k.last_check, "exists": k.exists} for k in r.figures.selfcheck], scalar=False),
]  # fmt: skip


def use_record(use: CacheUse) -> dict[str, Any]:
    """One cache an environment's pip uses (path null: disabled), for which commands, and why."""
    return {
        "path": None if use.path is None else escape.text(use.path),
        "commands": list(use.source.commands),
        "source": escape.text(use.source.describe()),
    }


class EnvField(NamedTuple):
    """One field of an environment record: its name, meaning, getter, and its CSV cell."""

    name: str
    doc: str
    get: Callable[[Environment], Any]
    cell: Optional[Callable[[Environment], str]] = None  # None: the value itself


def _texts(get: Callable[[Environment], Any]) -> Callable[[Environment], list[str]]:
    return lambda e: [escape.text(v) for v in get(e)]


def _joined(get: Callable[[Environment], Any]) -> Callable[[Environment], str]:
    return lambda e: ";".join(escape.text(v) for v in get(e))


def _opt(value: Optional[str]) -> Optional[str]:
    return None if value is None else escape.text(value)


ENV_FIELDS: list[EnvField] = [
    EnvField("prefix", "the environment's or interpreter's prefix (sys.prefix)", lambda e: escape.text(e.prefix)),
    EnvField("kind", "what made it: system, pyenv, uv-python, homebrew, conda, mamba, miniforge, pixi, pyenv-virtualenv, pipx, poetry, pipenv, virtualenvwrapper, hatch, pdm, tox, nox, uv, virtualenv, venv; unknown for a prefix only a selfcheck/ entry remembers", lambda e: e.kind),
    EnvField("role", "interpreter (an installed Python) or environment (built on one)", lambda e: e.role),
    EnvField("exists", "false for a registered environment that is gone", lambda e: e.exists),
    EnvField("owner", "account owning the prefix (uid when it has no name)", lambda e: _opt(e.owner)),
    EnvField("owner_uid", "uid owning the prefix", lambda e: e.owner_uid),
    EnvField("python_version", "its Python's version, e.g. 3.11.7 (3.11 when only a directory name tells)", lambda e: _opt(e.python_version)),
    EnvField("version_from", "where the version was read: pyvenv.cfg, conda-meta, build-details.json, patchlevel.h, directory name, lib/pythonX.Y (lib/pypyX.Y) or probe", lambda e: e.version_from),
    EnvField("pip_version", "the version of its installed pip, read from its pip-*.dist-info (the oldest when several are installed); unknown when a pip is there that nothing dates, null when it holds none", lambda e: e.pip_version),
    EnvField("interpreter", "its python executable", lambda e: _opt(e.interpreter)),
    EnvField("base_interpreter", "the interpreter a venv was built on (pyvenv.cfg), else null", lambda e: _opt(e.base_interpreter)),
    EnvField("project", "the project directory holding it (.venv, .tox/*, .nox/*, .pixi/envs/*), else null", lambda e: _opt(e.project)),
    EnvField("marker", "the marker that decided its kind, e.g. pipx_metadata.json", lambda e: escape.text(e.marker)),
    EnvField("found_by", "how it was found: home walk, system bin dir, pyenv versions/, ~/.conda/environments.txt, envs_dirs in FILE, ... (CSV: joined with ';')", _texts(lambda e: e.found_by), _joined(lambda e: e.found_by)),
    EnvField("shared", "a system-wide interpreter: each account's pip uses that account's own caches", lambda e: e.shared),
    EnvField("caches", "the caches its pip uses: list of {path, commands, source} (path null: cache disabled; CSV: paths joined with ';')", lambda e: [use_record(u) for u in e.caches], _joined(lambda e: e.cache_paths)),
    EnvField("size_bytes", "bytes of its files (apparent size; hard links once; conda's envs/ and pkgs/ not counted in an install)", lambda e: e.size_bytes),
    EnvField("files", "files under the prefix", lambda e: e.files),
    EnvField("last_modified", "newest modification time under the prefix (ISO 8601 UTC)", lambda e: iso(e.last_modified)),
    EnvField("selfcheck_caches", "caches whose selfcheck/ names this prefix: evidence its pip ran with them (CSV: joined with ';')", _texts(lambda e: e.selfcheck_caches), _joined(lambda e: e.selfcheck_caches)),
    EnvField("active", "true when a process runs from it now, null when one possibly does (a process could not be read) or the process table was not read, else false", lambda e: e.active, lambda e: _state_cell(e.active)),
    EnvField("pids", "the processes certainly running from it (CSV: joined with ';')", lambda e: list(e.pids), lambda e: ";".join(str(p) for p in e.pids)),
    EnvField("processes", "why it is active: list of {pid, user, uid, command, why, certain, environment}; pid null when a reason counts several unreadable processes (CSV: pids joined with ';')", lambda e: [process_record(u) for u in e.activity], lambda e: _pids_cell(e.activity)),
    EnvField("problems", "what is wrong: base interpreter gone, registered but missing, named in selfcheck/ but gone, version unknown (CSV: joined with ';')", _texts(lambda e: e.problems), _joined(lambda e: e.problems)),
]  # fmt: skip


def env_record(env: Environment) -> dict[str, Any]:
    """Every field of one environment, as JSON."""
    return {f.name: f.get(env) for f in ENV_FIELDS}


TOTAL_FIELDS = [
    f.name
    for f in CACHE_FIELDS
    if f.name.endswith(("_files", "_bytes", "_entries")) or f.name == "dead_selfcheck"
]


def cache_record(result: CacheResult) -> dict[str, Any]:
    """Every field of one cache, as JSON."""
    return {f.name: f.get(result) for f in CACHE_FIELDS}


def totals(result: ScanResult) -> dict[str, int]:
    """Sums of the countable fields over the caches that exist."""
    records = [cache_record(c) for c in result.caches]
    return {name: sum(r[name] for r in records) for name in TOTAL_FIELDS}


def user_record(result: ScanResult, index: int) -> dict[str, Any]:
    """One account: who it is, its caches, config files read, disabled commands, problems."""
    ac = result.accounts[index]
    return {
        "name": escape.text(ac.account.name),
        "uid": ac.account.uid,
        "home": escape.text(ac.account.home),
        "caches": [escape.text(p) for p in ac.cache_paths],
        "config_files": [escape.text(p) for p in ac.config_files],
        "cache_disabled": [
            {"commands": list(u.source.commands), "by": escape.text(u.source.describe())}
            for u in ac.uses
            if u.path is None
        ],
        "problems": [{"path": escape.text(p.path), "reason": p.reason} for p in ac.problems],
    }


def _envelope(result: ScanResult, **body: Any) -> dict[str, Any]:
    """The fields every document carries around its body, ``skipped`` last."""
    return {
        "schema_version": SCHEMA_VERSION,
        "host": result.host,
        "generated_at": iso(result.generated_at),
        "fleetcache_version": __version__,
        "root": escape.text(result.root),
        **body,
        "skipped": [skipped_record(s) for s in result.skipped],
    }


def document(result: ScanResult) -> dict[str, Any]:
    """The whole scan as the JSON contract (SCHEMA_VERSION)."""
    return _envelope(
        result,
        users=[user_record(result, i) for i in range(len(result.accounts))],
        caches=[cache_record(c) for c in result.caches],
        totals=totals(result),
        environments=[env_record(e) for e in result.environments] if result.envs_searched else None,
        activity=activity_record(result.activity),
    )


def envs_document(result: ScanResult) -> dict[str, Any]:
    """The environments found, as JSON (same envelope as the scan)."""
    return _envelope(
        result,
        environments=[env_record(e) for e in result.environments],
        activity=activity_record(result.activity),
    )


# the fields of a report row; each view has its key field(s) and the counts
REPORT_FIELDS: list[tuple[str, str]] = [
    ("package", "by package: the PEP 503-normalised project name; (unknown) for entries nothing names"),
    ("versions", "by package: the versions cached, newest first"),
    ("cache", "by cache: the cache directory"),
    ("user", "by user: the account"),
    ("environment", "by env: the environment's prefix (with its kind and owner)"),
    ("kind", "by kind: which tool's caches (pip, uv, conda, ...); by env: what made the environment"),
    ("host", "by host: the host name"),
    ("kinds", "by package: the kinds of the caches holding it"),
    ("caches", "the caches holding it (by kind and by host: how many)"),
    ("users", "the accounts whose caches hold it (by kind: that own or use its caches)"),
    ("total_files", "by kind: files under its caches (as the scan counts them)"),
    ("total_bytes", "by kind: bytes under its caches (apparent size)"),
    ("disk_bytes", "by kind: bytes its caches take on disk, as du -sB1 counts them"),
    ("reclaimable_bytes", "by kind: of those, what removing its caches would free"),
    ("shared_bytes", "by kind: the rest, held by environments through hardlinks"),
    ("top_packages", "the three projects with the most bytes in it"),
    ("entries", "cache entries: an http-v2 entry (both halves), a legacy http/ file or a built wheel"),
    ("files", "files of those entries"),
    ("bytes", "bytes of those entries"),
    ("download_bytes", "bytes of downloads (http-v2/ and http/)"),
    ("wheel_bytes", "bytes of wheels pip built (wheels/)"),
    ("unknown_entries", "entries nothing names (no headers, no body pip-readable structure, no page link)"),
    ("unknown_bytes", "bytes of those"),
    ("packages", "distinct projects"),
]  # fmt: skip


def _report_value(value: Any) -> Any:
    if isinstance(value, str):
        return escape.text(value)
    if isinstance(value, list):
        return [_report_value(v) for v in value]
    return value


def report_document(report: Report, skipped: list[Skipped]) -> dict[str, Any]:
    """A report view as JSON: the envelope, ``by``, ``rows`` and ``insights``."""
    result = report.scan
    doc = _envelope(
        result,
        by=report.by,
        entries=report.entries,
        rows=[{k: _report_value(v) for k, v in row.items()} for row in report.rows],
        insights=report.insights,
    )
    doc["skipped"].extend(skipped_record(s) for s in skipped)
    return doc


ENTRY_FIELDS: list[tuple[str, str]] = [
    ("user", "the account whose cache holds it"),
    ("cache", "the cache directory"),
    ("path", "the entry, relative to the cache (an http-v2 entry is this file and its .body)"),
    ("area", "http-v2, http (legacy: pip >= 23.3 never reads it) or wheels"),
    ("download", "true for a download (http cache), false for a wheel pip built"),
    ("kind", "wheel, sdist, index page, core metadata, file, built wheel or unknown"),
    ("project", "the PEP 503-normalised project name, null when nothing names it"),
    ("version", "its version, null for an index page or when unknown"),
    ("how", "what named it: headers, wheel contents, sdist top directory, page title, JSON name, core metadata, index page link, file name"),
    ("files", "its files (2 for a complete http-v2 entry)"),
    ("size", "bytes of its files"),
    ("modified", "when it was downloaded or built (ISO 8601 UTC)"),
    ("used", "when it was last used, as its cache's `age_basis` reads it: the latest access or modification of its files where the filesystem records access times, else as modified (ISO 8601 UTC)"),
    ("complete", "false for an http-v2 half without the other (pip never uses it)"),
]  # fmt: skip


def entry_record(user: str, entry: CacheEntry) -> dict[str, Any]:
    """One cache entry as JSON (``list --format json``)."""
    return {
        "user": escape.text(user),
        "cache": escape.text(entry.cache),
        "path": escape.text(entry.path),
        "area": entry.area,
        "download": entry.download,
        "kind": entry.kind,
        "project": entry.project,
        "version": _opt(entry.version),
        "how": entry.how,
        "files": entry.files,
        "size": entry.size,
        "modified": iso(entry.mtime),
        "used": iso(entry.last_used),
        "complete": entry.complete,
    }


def entry_paths(entry: CacheEntry) -> list[str]:
    """The absolute paths of an entry's files."""
    path = entry.cache.rstrip("/") + "/" + entry.path
    return [path, path + ".body"] if entry.area == "http-v2" and entry.complete else [path]


# the fields of each cache record of `clean --format json`
CLEAN_FIELDS: list[tuple[str, str]] = [
    ("path", "the cache directory"),
    ("kind", "which tool's cache it is: pip, uv, conda, rattler, poetry, pdm, pipenv, virtualenv, hatch or pip-tools (see Every Python cache)"),
    ("user", "the account it belongs to (the clean runs as that account)"),
    ("uid", "that account's uid"),
    ("state", "planned (dry run), cleaned, partial, nothing to do, busy, refused, locked, excluded (the policy file leaves it alone: no error), missing (no cache there: not a row of the table) or not confirmed"),
    ("reason", "why it was skipped, refused, excluded or only partly cleaned; null when there is nothing to say"),
    ("policy", "the policy it was planned under, described (under --policy: its account's rule, with the command line on top)"),
    ("rule", "under --policy, what in the policy file gives its account's values: `rule policy.toml:18 [[rule]] \"students\"` (its file and line) or `no rule: the defaults`; null without --policy, or when not planned"),
    ("busy", "true when a process uses it, null when one possibly does, false when none"),
    ("busy_reasons", "the processes that make it busy: {pid, user, uid, command, why, certain, environment}"),
    ("plan", "{files, bytes, frees, dirs, why: {reason: {files, bytes}}, left: {reason: {files, bytes}}, over_limit, mounts}: what the policy picked (bytes: as pip counts them; frees: the disk bytes its removal frees, as du sees them: a file hardlinked from outside what is planned frees nothing), what it leaves and why, how many bytes the cache stays over --max-size (null: none), and the mount points below the cache, never entered"),
    ("deleted", "{files, bytes, dirs, gone}: what was removed (gone: planned but already absent; with a quarantine, files and bytes moved there)"),
    ("failed", "{count, first: [{path, reason}]} planned files that could not be removed (the first 50)"),
    ("before", "pip's figures when planned: {http_files, http_bytes, wheel_files, wheel_bytes, total_files, total_bytes}"),
    ("after", "the same figures measured after the clean; null when not cleaned"),
    ("quarantine", "{path, expires}: where its files went instead of being deleted (clean --quarantine) and when the next clean deletes them; null when they were deleted"),
]  # fmt: skip

# the fields of each line of the audit log
AUDIT_FIELDS: list[tuple[str, str]] = [
    ("time", "when, ISO 8601 UTC with microseconds"),
    ("run", "the run id, the same on every line of one run (and in the JSON output)"),
    ("operator", "who ran it (with the sudo caller)"),
    ("account", "the account whose cache it is"),
    ("uid", "its uid"),
    ("cache", "the cache directory"),
    ("path", "relative to the cache, escaped; a directory ends with /; empty for a line about the whole cache"),
    ("files", "only on a line about the whole cache: the files deleted (in a dry run, planned)"),
    ("size", "bytes (0 for a link or a directory); for the whole cache, the bytes deleted (in a dry run, planned)"),
    ("action", "delete, rmdir, quarantine (moved there instead of deleted), restore, purge (a whole cache's quarantine), or cache (the cache's outcome)"),
    ("reason", "why it was planned (purge, package six, junk: orphan half ...); for the whole cache, why it was skipped, or (dry run) the policy"),
    ("outcome", "deleted, quarantined, restored, purged, already gone, the error, or the cache's state (planned, for a dry run)"),
    ("dry_run", "true for a dry run"),
]  # fmt: skip

FIGURES = ("http_files", "http_bytes", "wheel_files", "wheel_bytes", "total_files", "total_bytes")


def _figures(figures: Optional[CacheFigures]) -> Optional[dict[str, int]]:
    return None if figures is None else {k: getattr(figures, k) for k in FIGURES}


def _sums(table: dict[str, list[int]]) -> dict[str, dict[str, int]]:
    return {k: {"files": v[0], "bytes": v[1]} for k, v in table.items()}


def _policy_file(result: CleanResult) -> Optional[dict[str, Any]]:
    """``clean --policy``: the file, the options that override it, the accounts over its limit."""
    if result.policy_file is None:
        return None
    return {
        "path": escape.text(result.policy_file),
        "overridden": list(result.overridden),
        "accounts_over_limit": dict(result.accounts_over),
    }


def clean_document(result: CleanResult) -> dict[str, Any]:
    """``clean --format json``: the run, the policy, and one record per cache."""
    policy = result.policy
    caches = []
    for c in result.caches:
        plan = c.plan
        caches.append(
            {
                "path": escape.text(c.path),
                "kind": c.kind,
                "user": c.user,
                "uid": c.uid,
                "state": c.state,
                "reason": None if c.reason is None else escape.text(c.reason),
                "policy": None if c.policy is None else c.policy.describe(),
                "rule": c.rule,
                "busy": busy_state(c.busy_reasons),
                "busy_reasons": [process_record(u) for u in c.busy_reasons],
                "plan": None
                if plan is None
                else {
                    "files": plan.files,
                    "bytes": plan.bytes,
                    "frees": plan.frees,
                    "dirs": plan.removed_dirs,
                    "why": _sums(plan.by_reason()),
                    "left": _sums(plan.left),
                    "over_limit": plan.over_limit,
                    "mounts": [escape.text(m) for m in plan.mounts],
                },
                "deleted": {
                    "files": c.deleted_files,
                    "bytes": c.deleted_bytes,
                    "dirs": c.removed_dirs,
                    "gone": c.gone,
                },
                "failed": {
                    "count": c.failed_count,
                    "first": [{"path": escape.text(p), "reason": r} for p, r in c.failed],
                },
                "before": _figures(c.before),
                "after": _figures(c.after),
                "quarantine": None
                if c.quarantine is None
                else {
                    "path": escape.text(c.quarantine.place),
                    "expires": iso(c.quarantine.expires),
                },
            }
        )
    return {
        "schema_version": SCHEMA_VERSION,
        "command": "clean",
        "host": result.host,
        "generated_at": iso(result.generated_at),
        "fleetcache_version": __version__,
        "root": escape.text(result.root),
        "run_id": result.run_id,
        "operator": result.operator,
        "dry_run": result.dry_run,
        "policy": {
            "description": result.describe(),
            "purge": policy.purge,
            "patterns": list(policy.patterns),
            "packages": list(policy.packages),
            "junk": policy.junk,
            "older_than_seconds": policy.older_than,
            "max_size_bytes": policy.max_size,
            "quarantine_seconds": policy.quarantine,
        },
        "policy_file": _policy_file(result),
        "audit_log": None if result.audit_log is None else escape.text(result.audit_log),
        "caches": caches,
        "purged": [
            {
                "run_id": d.run_id,
                "path": escape.text(d.held.place),
                "files": d.files,
                "bytes": d.bytes,
                "error": d.error,
            }
            for d in result.purged
        ],
        "skipped": [skipped_record(s) for s in result.skipped],
    }
