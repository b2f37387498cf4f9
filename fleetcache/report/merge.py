"""Many hosts' JSON reports (``scan --format json``, or ``report --format json`` of one view)
into one document with a ``host`` on every record. A file that is not such a report, or of a
schema this version does not know, stops the merge with one line naming the file."""

from __future__ import annotations

import json
import os
from collections import defaultdict
from collections.abc import Mapping, Sequence
from typing import Any, Optional

from fleetcache.formats.fields import SCHEMA_VERSION, TOTAL_FIELDS
from fleetcache.report.views import KIND_FIGURES, UNKNOWN, VIEWS

# 7 lacks the caches' packages (8 added them), 8 their age_basis (9): their documents still
# merge, their caches drawn without what they lack
SUPPORTED = (7, 8, SCHEMA_VERSION)
MAX_BYTES = 1 << 30
# the largest count or size a report may claim: what a signed 64-bit integer holds (any real
# figure fits; past it, a figure is made up, and as a float it would overflow the treemap)
MAX_COUNT = (1 << 63) - 1


class MergeError(Exception):
    """A report that cannot be merged; the message names the file."""


def split_source(arg: str) -> tuple[str | None, str]:
    """``HOST=FILE`` names the host (an inventory name) for that file; else the file's own."""
    if "=" in arg and not os.path.exists(arg):
        host, _, path = arg.partition("=")
        if host and path:
            return host, path
    return None, arg


def load(arg: str) -> dict[str, Any]:
    """One report, checked: a JSON object of a known schema_version, with its kind's lists."""
    host, path = split_source(arg)
    try:
        with open(path, "rb") as f:
            data = f.read(MAX_BYTES + 1)
    except OSError as exc:
        raise MergeError(f"{path}: {exc.strerror or exc}") from None
    if len(data) > MAX_BYTES:
        raise MergeError(f"{path}: larger than 1 GiB; not a fleetcache report")
    try:
        doc = json.loads(data)
    except (ValueError, UnicodeDecodeError) as exc:
        raise MergeError(f"{path}: not JSON ({exc})") from None
    except RecursionError:
        raise MergeError(f"{path}: not a fleetcache report (nested too deep)") from None
    if not isinstance(doc, dict) or "schema_version" not in doc:
        raise MergeError(f"{path}: not a fleetcache report (no schema_version)")
    version = doc["schema_version"]
    if version not in SUPPORTED:
        raise MergeError(
            f"{path}: schema_version {version!r} is not one this fleetcache reads "
            f"({', '.join(map(str, SUPPORTED))}); merge with the version that wrote it"
        )
    kind = "report" if "by" in doc else "scan"
    wanted = ("rows",) if kind == "report" else ("caches", "users")
    for key in (*wanted, "skipped"):
        if not isinstance(doc.get(key), list) or not all(isinstance(r, dict) for r in doc[key]):
            raise MergeError(f"{path}: malformed report: '{key}' is not a list of records")
    if not isinstance(doc.get("host"), str):
        raise MergeError(f"{path}: malformed report: no host")
    problem = _malformed(doc, kind)
    if problem:
        raise MergeError(f"{path}: malformed report: {problem}")
    doc["host"] = host or doc["host"]
    doc["_file"] = path
    return doc


def _int(v: Any) -> bool:
    return isinstance(v, int) and not isinstance(v, bool) and 0 <= v <= MAX_COUNT


def _opt_str(v: Any) -> bool:
    return v is None or isinstance(v, str)


def _strs(v: Any) -> bool:
    return isinstance(v, list) and all(isinstance(x, str) for x in v)


def _records(v: Any, fields: dict[str, Any]) -> bool:
    return isinstance(v, list) and all(
        isinstance(r, dict) and all(check(r.get(k)) for k, check in fields.items()) for r in v
    )


# what the renderers read of a record, and what each must be (an absent optional one is None)
CACHE_CHECKS: dict[str, Any] = {
    "path": lambda v: isinstance(v, str),
    "kind": _opt_str,
    "owner": _opt_str,
    "users": _strs,
    "exists": lambda v: isinstance(v, bool),
    "skipped": _opt_str,
    "problems": lambda v: v is None or _strs(v),
    "busy": lambda v: v is None or isinstance(v, bool),
    "busy_reasons": lambda v: _records(v, {"pid": lambda p: p is None or _int(p)}),
    "sources": lambda v: _records(v, {"user": _opt_str, "description": _opt_str}),
    "age_basis": lambda v: v in (None, "atime", "mtime"),
    **{name: _int for name in TOTAL_FIELDS},
    # scan --packages: its entries by package (null: not read)
    "packages": lambda v: (
        v is None
        or _records(v, {"package": lambda p: isinstance(p, str), "entries": _int, "bytes": _int})
    ),
}
REQUIRED = ("path", "exists", "entries", "bytes")
ROW_CHECKS: dict[str, Any] = {
    **{n: _int for n in ("entries", "files", "bytes", "download_bytes", "wheel_bytes")},
    **{n: lambda v: v is None or _strs(v) for n in ("versions", "users", "top_packages")},
    "kinds": lambda v: v is None or _strs(v),  # by package: the kinds of caches holding it
    # by kind: its caches' figures
    **{n: lambda v: v is None or _int(v) for n in KIND_FIGURES},
}


def _malformed(doc: dict[str, Any], kind: str) -> str | None:
    """What is wrong with a report's records, or None."""
    if kind == "report":
        if doc.get("by") not in VIEWS:
            return f"'by' is not one of {', '.join(VIEWS)}"
        checks = ROW_CHECKS
        groups = {"rows": doc["rows"]}
    else:
        checks = CACHE_CHECKS
        groups = {"caches": doc["caches"]}
        totals = doc.get("totals", {})
        if not isinstance(totals, dict) or not all(_int(v) for v in totals.values()):
            return "'totals' is not a record of whole numbers"
        envs = doc.get("environments")
        if envs is not None and not _records(envs, {}):
            return "'environments' is not a list of records"
    for key, records in groups.items():
        for i, record in enumerate(records):
            for name, check in checks.items():
                if name not in record and name not in REQUIRED:
                    continue  # an optional field a writer left out
                if not check(record.get(name)):
                    return f"{key}[{i}].{name} is {record.get(name)!r:.40}"
    if not _records(doc["skipped"], {"path": _opt_str, "reason": _opt_str}):
        return "'skipped' records are not {path, reason}"
    return None


def merge(
    args: Sequence[str], failed: Sequence[tuple[str, str]] = (), kinds: Sequence[str] = ()
) -> dict[str, Any]:
    """The reports in these files as one document: every record tagged with its host; hosts in
    ``failed`` (host, error) gave none and are listed as failed, never silently missing; with
    ``kinds``, only caches of those kinds (scan reports only: a view's rows have no kind)."""
    docs = [load(a) for a in args]
    if kinds:
        if any("by" in d for d in docs):
            raise MergeError("--kind narrows scan reports only: give report --kind to each host")
        docs = [_of_kinds(d, kinds) for d in docs]
    return combine(docs, failed)


def _of_kinds(doc: dict[str, Any], kinds: Sequence[str]) -> dict[str, Any]:
    """A scan report with only the caches of these kinds, its totals summed over them."""
    caches = [c for c in doc["caches"] if c.get("kind") in kinds]
    totals = {name: sum(int(c.get(name) or 0) for c in caches) for name in TOTAL_FIELDS}
    return {**doc, "caches": caches, "totals": totals}


def combine(
    docs: Sequence[dict[str, Any]], failed: Sequence[tuple[str, str]] = ()
) -> dict[str, Any]:
    """Loaded reports as one document (each carries its ``host`` and ``_file``)."""
    kinds = {"report" if "by" in d else "scan" for d in docs} or {"scan"}
    if len(kinds) > 1:
        raise MergeError("cannot merge scan reports with report views: give one kind")
    views = {d.get("by") for d in docs}
    if len(views) > 1:
        raise MergeError(f"cannot merge different views ({', '.join(sorted(map(str, views)))})")
    seen: dict[str, str] = {}
    for d in docs:
        if d["host"] in seen:
            raise MergeError(
                f"host {d['host']!r} twice ({seen[d['host']]}, {d['_file']}): name each with "
                "HOST=FILE"
            )
        seen[d["host"]] = d["_file"]
    for host, _ in failed:
        if host in seen:
            raise MergeError(f"host {host!r} is given a report and --failed: which is it?")
        seen[host] = "--failed"
    hosts = [_host(d) for d in docs]
    hosts += [
        {"host": h, "file": None, "failed": error or "failed", "skipped": 1} for h, error in failed
    ]
    merged: dict[str, Any] = {
        "schema_version": SCHEMA_VERSION,
        "merged": True,
        "hosts": hosts,
    }
    if kinds == {"report"}:
        merged["by"] = docs[0]["by"]
        merged["rows"] = _tagged(docs, "rows")
    else:
        merged["users"] = _tagged(docs, "users")
        merged["caches"] = _tagged(docs, "caches")
        merged["totals"] = {
            name: sum(int(d.get("totals", {}).get(name) or 0) for d in docs)
            for name in TOTAL_FIELDS
        }
        merged["environments"] = _tagged(docs, "environments")
        # a row for each failed host, so that a CSV or a table shows it too
        merged["caches"] += [
            {"host": h, "path": "", "users": [], "sources": [], "exists": False, "busy": None,
             "busy_reasons": [], "skipped": f"host failed: {error or 'failed'}",
             **{name: 0 for name in TOTAL_FIELDS}}
            for h, error in failed
        ]  # fmt: skip
    merged["skipped"] = _tagged(docs, "skipped") + [
        {"host": h, "path": None, "reason": f"host failed: {error or 'failed'}"}
        for h, error in failed
    ]
    return merged


def _host(doc: dict[str, Any]) -> dict[str, Any]:
    return {
        "host": doc["host"],
        "file": doc["_file"],
        "generated_at": doc.get("generated_at"),
        "fleetcache_version": doc.get("fleetcache_version"),
        "root": doc.get("root"),
        "skipped": len(doc["skipped"]),
    }


def _tagged(docs: Sequence[dict[str, Any]], key: str) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    for doc in docs:
        records = doc.get(key)
        if isinstance(records, list):
            out.extend({"host": doc["host"], **r} for r in records if isinstance(r, dict))
    return out


def account_of(cache: Mapping[str, Any]) -> Optional[str]:
    """Whose a merged cache record is: its owner, else the first account that uses it."""
    return cache.get("owner") or next(iter(cache.get("users") or []), None)


def held_by_several(doc: Mapping[str, Any]) -> list[tuple[str, int, int]]:
    """The named packages (``scan --packages``) that caches of several accounts or hosts hold:
    each with how many (host, account) hold it and its bytes summed over their caches, the
    largest first."""
    holders: dict[str, set[tuple[str, Optional[str]]]] = defaultdict(set)
    sizes: dict[str, int] = defaultdict(int)
    for c in doc.get("caches", []):
        for held in c.get("packages") or []:
            name = held["package"]
            if name != UNKNOWN:  # unnamed entries are not one package
                holders[name].add((str(c.get("host")), account_of(c)))
                sizes[name] += held["bytes"]
    found = [(name, len(who), sizes[name]) for name, who in holders.items() if len(who) > 1]
    return sorted(found, key=lambda t: (-t[2], t[0]))
