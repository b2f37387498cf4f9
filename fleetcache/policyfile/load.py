"""A policy file parsed and checked: each value normalised and tied to the line it is on; every
problem found (unknown keys, bad sizes and durations, wrong types, unknown kinds, bad globs)
reported at once, one line each, naming the file, the line and the key."""

from __future__ import annotations

import difflib
import functools
import re
import sys
from dataclasses import dataclass, field
from typing import Any, Callable, Optional

from packaging.utils import canonicalize_name

from fleetcache.clean.policy import PolicyError, parse_duration, parse_retention, parse_size
from fleetcache.policyfile.readfile import PolicyFileError

if sys.version_info >= (3, 11):
    import tomllib
else:  # the same parser, from PyPI, before Python 3.11
    import tomli as tomllib

SETTINGS = ("older_than", "max_size", "kinds", "keep", "quarantine")
RULE_ONLY = ("name", "users", "groups", "exclude")
_HEADER = re.compile(r"\s*\[")
_RULE_HEADER = re.compile(r"\s*\[\[\s*rule\s*\]\]")
_PROJECT = re.compile(r"[A-Za-z0-9]([A-Za-z0-9._-]*[A-Za-z0-9])?")


@dataclass(frozen=True)
class Value:
    """A setting's value, normalised, and the line of the file that gives it."""

    value: Any
    line: int


@dataclass
class Rule:
    """A ``[[rule]]`` block: whom it matches, and the settings it gives them."""

    index: int  # 1 for the first rule
    line: int
    name: Optional[str] = None
    users: tuple[str, ...] = ()
    groups: tuple[str, ...] = ()
    exclude: bool = False
    values: dict[str, Value] = field(default_factory=dict)
    checked: bool = False  # its users and groups are sound: whether it matches anyone is asked

    @property
    def label(self) -> str:
        """``[[rule]] "students"``, or ``[[rule]] #2`` for one without a name."""
        return f'[[rule]] "{self.name}"' if self.name else f"[[rule]] #{self.index}"


@dataclass
class PolicyFile:
    """A parsed policy: its path, the defaults (top-level keys) and the rules, in order."""

    path: str
    defaults: dict[str, Value]
    rules: list[Rule]


class _Lines:
    """Where keys are in the text (tomllib gives no line): the top-level section ends at the
    first table header; rule N is the text from its ``[[rule]]`` header to the next header."""

    def __init__(self, text: str) -> None:
        self.lines = text.splitlines()
        self.headers = [i for i, s in enumerate(self.lines) if _HEADER.match(s)]
        self.rules = [i for i, s in enumerate(self.lines) if _RULE_HEADER.match(s)]

    def section(self, rule: Optional[int]) -> tuple[int, int]:
        """The 0-based line range of the top level (None) or of the rule (0-based index)."""
        if rule is None:
            return 0, self.headers[0] if self.headers else len(self.lines)
        if rule >= len(self.rules):
            return len(self.lines), len(self.lines)
        start = self.rules[rule]
        after = [h for h in self.headers if h > start]
        return start, after[0] if after else len(self.lines)

    def key(self, name: str, rule: Optional[int] = None) -> int:
        """The 1-based line of ``name = ...`` (or of a ``[name]`` table) in the section."""
        if rule is not None and rule >= len(self.rules):  # rules written inline: rule = [{...}]
            return self.key("rule")
        start, end = self.section(rule)
        assign = re.compile(
            rf"\s*(?:{re.escape(name)}|\"{re.escape(name)}\"|'{re.escape(name)}')\s*[=.]"
        )
        for i in range(start, end):
            if assign.match(self.lines[i]):
                return i + 1
        table = re.compile(rf"\s*\[+\s*{re.escape(name)}\s*[\].]")
        for i, s in enumerate(self.lines):
            if table.match(s):
                return i + 1
        return start + 1 if rule is not None else 1


def parse(path: str, text: str, kinds: tuple[str, ...]) -> PolicyFile:
    """The policy in ``text`` (read from ``path``); raises PolicyFileError with every problem."""
    policy, errors = parse_all(path, text, kinds)
    if errors:
        raise PolicyFileError(errors)
    return policy


def parse_all(path: str, text: str, kinds: tuple[str, ...]) -> tuple[PolicyFile, list[str]]:
    """The policy in ``text`` as far as it can be understood, and every problem found in it;
    raises PolicyFileError when it is no TOML at all."""
    try:
        table = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:  # its message ends with "(at line L, column C)"
        at = re.search(r"\(at line (\d+), column (\d+)\)$", str(exc))
        where = f"{path}:{at.group(1)}:{at.group(2)}" if at else path
        message = str(exc)[: at.start()].rstrip() if at else str(exc)
        raise PolicyFileError([f"{where}: not valid TOML: {message}"]) from None
    except RecursionError:
        raise PolicyFileError([f"{path}: not valid TOML: nested too deep"]) from None
    lines = _Lines(text)
    errors: list[str] = []

    rules_raw = table.pop("rule", [])
    if not isinstance(rules_raw, list) or not all(isinstance(r, dict) for r in rules_raw):
        errors.append(f"{path}:{lines.key('rule')}: rule: use [[rule]] tables")
        rules_raw = []
    labels = [Rule(i + 1, 0, r.get("name") if isinstance(r.get("name"), str) else None).label
              for i, r in enumerate(rules_raw)]  # fmt: skip

    def error(rule: Optional[int], key: str, message: str) -> None:
        where = lines.key(key, rule)
        label = "" if rule is None else f"{labels[rule]}: "
        errors.append(f"{path}:{where}: {label}{key}: {message}")

    defaults = _settings(table, SETTINGS, kinds, lambda k, m: error(None, k, m), lines, None)
    rules: list[Rule] = []
    for i, raw in enumerate(rules_raw):
        rules.append(_rule(i, dict(raw), kinds, functools.partial(error, i), lines))
    return PolicyFile(path, defaults, rules), errors


def _rule(
    i: int, raw: dict[str, Any], kinds: tuple[str, ...], error: Callable[[str, str], None],
    lines: _Lines,
) -> Rule:  # fmt: skip
    rule = Rule(i + 1, lines.section(i)[0] + 1)
    name = raw.pop("name", None)
    if name is not None and not isinstance(name, str):
        error("name", "must be a string")
    rule.name = name if isinstance(name, str) else None
    users = _globs(raw.pop("users", []), functools.partial(error, "users"))
    groups = _globs(raw.pop("groups", []), functools.partial(error, "groups"))
    rule.users, rule.groups = users or (), groups or ()
    exclude = raw.pop("exclude", False)
    if not isinstance(exclude, bool):
        error("exclude", "must be true or false")
    rule.exclude = exclude is True
    if users == () and groups == ():
        error("users", "give users or groups (for everyone, set the top-level defaults)")
    rule.checked = users is not None and groups is not None and bool(users or groups)
    rule.values = _settings(raw, SETTINGS + RULE_ONLY, kinds, error, lines, i)
    return rule


def _settings(
    raw: dict[str, Any], known: tuple[str, ...], kinds: tuple[str, ...],
    error: Callable[[str, str], None], lines: _Lines, rule: Optional[int],
) -> dict[str, Value]:  # fmt: skip
    """The settings in ``raw``, normalised; unknown keys and bad values reported to ``error``."""
    out: dict[str, Value] = {}
    for key, value in raw.items():
        if key not in SETTINGS:
            close = difflib.get_close_matches(key, (*known, "rule"), n=1)
            hint = f' (did you mean "{close[0]}"?)' if close else ""
            error(key, f"unknown key{hint}")
            continue
        try:
            out[key] = Value(_NORMAL[key](value, kinds), lines.key(key, rule))
        except PolicyError as exc:
            error(key, str(exc))
    return out


def _older_than(value: Any, kinds: tuple[str, ...]) -> float:
    if isinstance(value, bool) or not isinstance(value, (str, int)):
        raise PolicyError('must be a duration such as "30d"')
    return parse_duration(str(value))


def _max_size(value: Any, kinds: tuple[str, ...]) -> int:
    if isinstance(value, bool) or not isinstance(value, (str, int)):
        raise PolicyError('must be a size such as "10G" (or a number of bytes)')
    return parse_size(str(value))


def _quarantine(value: Any, kinds: tuple[str, ...]) -> Optional[float]:
    if value is False:
        return None
    if isinstance(value, bool) or not isinstance(value, str):
        raise PolicyError('must be a duration such as "7d", or false')
    return parse_retention(value)


def _kinds(value: Any, kinds: tuple[str, ...]) -> tuple[str, ...]:
    names = _strings(value, "cache kind names")
    unknown = [n for n in names if n not in kinds]
    if unknown:
        raise PolicyError(f"unknown kind {unknown[0]!r}: one of {', '.join(kinds)}")
    if not names:
        raise PolicyError("an empty list: name at least one kind (or set exclude = true)")
    return tuple(dict.fromkeys(names))


def _keep(value: Any, kinds: tuple[str, ...]) -> tuple[str, ...]:
    out = []
    for item in _strings(value, "package names or file-name globs"):
        if _PROJECT.fullmatch(item):
            out.append(str(canonicalize_name(item)))
        elif _glob_problem(item) is None:
            out.append(item)
        else:
            raise PolicyError(f"{item!r}: {_glob_problem(item)}")
    return tuple(out)


_NORMAL: dict[str, Callable[[Any, tuple[str, ...]], Any]] = {
    "older_than": _older_than,
    "max_size": _max_size,
    "kinds": _kinds,
    "keep": _keep,
    "quarantine": _quarantine,
}


def _strings(value: Any, what: str) -> list[str]:
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise PolicyError(f"must be a list of strings ({what})")
    return list(value)


def _globs(value: Any, error: Callable[[str], None]) -> Optional[tuple[str, ...]]:
    """The globs of ``users`` or ``groups``; None (and an error) when one is bad."""
    try:
        got = _strings(value, 'globs such as "stud*"')
    except PolicyError as exc:
        error(str(exc))
        return None
    problems = [(g, _glob_problem(g)) for g in got]
    for glob, problem in problems:
        if problem is not None:
            error(f"{glob!r}: {problem}")
    return None if any(p for _, p in problems) else tuple(got)


def _glob_problem(glob: str) -> Optional[str]:
    """Why this is no glob fleetcache accepts (None: it is one)."""
    if not glob.strip():
        return "an empty glob"
    if "/" in glob or "\0" in glob:
        return "a glob of names, without '/'"
    depth = 0
    for ch in glob:  # fnmatch takes an unclosed '[' literally: a typo, more likely
        if ch == "[":
            depth += 1
        elif ch == "]" and depth:
            depth -= 1
    return "an unclosed '[' in the glob" if depth else None
