"""``fleetcache policy show`` and ``fleetcache policy check``: what the policy says for each
account and where each value comes from; whether the file is fit to use."""

from __future__ import annotations

import json
import sys
from collections.abc import Sequence
from typing import Any

from fleetcache import escape
from fleetcache.discovery.accounts import select
from fleetcache.discovery.run import load_accounts
from fleetcache.formats import fit
from fleetcache.machine import Machine
from fleetcache.policyfile.book import Book, load
from fleetcache.policyfile.load import SETTINGS
from fleetcache.policyfile.resolve import NO_RULE, Resolved, never_applied, removes_everything

VALUE_WIDTH = 24  # policy show's values line up in a column this wide (a longer one wraps)
EVERYTHING = (
    "this policy removes everything from every cache of every account it covers (no "
    "older_than, no max_size, no keep, every kind, nobody excluded): a clean under it needs "
    "--yes twice"
)


def covered(machine: Machine, book: Book, users: Sequence[str], all_users: bool) -> list[Resolved]:
    """What the policy says for the accounts asked for (by default root and the humans)."""
    chosen = select(load_accounts(machine), users, all_users=all_users)
    return book.resolved(chosen)


def show(machine: Machine, path: str, users: Sequence[str], all_users: bool, fmt: str) -> str:
    """``policy show``: each account, its rule, each value and where it comes from."""
    book = load(machine, path)
    resolved = covered(machine, book, users, all_users)
    if fmt == "json":
        return json.dumps(show_document(path, resolved), indent=2) + "\n"
    lines = [f"# {escape.display(path)}", "# the first [[rule]] that matches applies"]
    shown = [r for r in resolved if not r.excluded]
    values = [escape.display(r.settings[k].text()) for r in shown for k in SETTINGS]
    column = min(max(map(len, values), default=0), VALUE_WIDTH)
    for r in resolved:
        a = r.member.account
        head = f"{escape.display(a.name)} (uid {a.uid}"
        if r.member.groups:
            head += f"; groups {escape.display(', '.join(r.member.groups))}"
        rule = NO_RULE if r.rule is None else f"rule {r.rule_origin}"
        lines.append("")
        lines.append(f"{head}): {'EXCLUDED by ' if r.excluded else ''}{escape.display(rule)}")
        for other in r.shadowed:
            lines.append(f"  (also matches {escape.display(other)}: the first applies)")
        if r.excluded:
            continue
        width = max(len(k) for k in SETTINGS)
        for key in SETTINGS:
            s = r.settings[key]
            lines.append(f"  {key:<{width}}  {escape.display(s.text()):<{column}}  {s.origin}")
        lines.append(f"  => clean: {r.policy().describe()}")
    if removes_everything(resolved):
        lines += ["", f"warning: {EVERYTHING}"]
    # every line in 80 columns but the path's (whole: it is what one copies)
    fitted = lines[:1] + [part for line in lines[1:] for part in fit.note(line)]
    return "\n".join(fitted) + "\n"


def show_document(path: str, resolved: Sequence[Resolved]) -> dict[str, Any]:
    """``policy show --format json``: one record per account."""
    return {
        "schema_version": 1,  # as every JSON document of fleetcache: scripts check it
        "command": "policy show",
        "policy": escape.text(path),
        "removes_everything": removes_everything(resolved),
        "accounts": [
            {
                "user": r.member.account.name,
                "uid": r.member.account.uid,
                "groups": list(r.member.groups),
                "rule": r.rule_origin,
                "also_matches": list(r.shadowed),
                "excluded": r.excluded,
                "clean": None if r.excluded else r.policy().describe(),
                "settings": {
                    k: {"value": _json(s.value), "text": s.text(), "from": s.origin}
                    for k, s in r.settings.items()
                },
            }
            for r in resolved
        ],
    }


def _json(value: Any) -> Any:
    return list(value) if isinstance(value, tuple) else value


def check(machine: Machine, path: str) -> str:
    """``policy check``: a short summary (PolicyFileError when the file is not fit to use)."""
    book = load(machine, path)
    resolved = covered(machine, book, (), False)
    excluded = sum(1 for r in resolved if r.excluded)
    rules = len(book.file.rules)
    text = (
        f"{escape.display(path)}: ok: {rules} rule{'' if rules == 1 else 's'}, "
        f"{len(resolved)} accounts covered ({excluded} excluded)\n"
    )
    for warning in never_applied(book.file, book.every):
        sys.stderr.write(f"fleetcache: warning: {escape.display(warning)}\n")
    if removes_everything(resolved):
        sys.stderr.write(f"fleetcache: warning: {EVERYTHING}\n")
    return text
