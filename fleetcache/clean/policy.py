"""What a clean removes: the selectors a user combines, and the durations and sizes they are given in."""

from __future__ import annotations

import fnmatch
import re
from dataclasses import dataclass, replace
from typing import Optional

from packaging.utils import canonicalize_name

_DURATION = re.compile(r"(\d+(?:\.\d+)?)\s*([smhdw]?)")
_SECONDS = {"": 1, "s": 1, "m": 60, "h": 3600, "d": 86400, "w": 7 * 86400}
# longer is no age, expiry or deadline but a typo: an expiry past year 9999 has no date, a
# deadline past 292 years no select() timeout, and 400 nines are a float's infinity
MAX_DURATION = 100 * 365 * 86400.0
_SIZE = re.compile(r"(\d+(?:\.\d+)?)\s*([kmgtp]?)(i?)(b?)", re.IGNORECASE)
_GLOB = re.compile(r"[*?\[]")
_POWERS = {"": 0, "k": 1, "m": 2, "g": 3, "t": 4, "p": 5}
# for messages: a size is said in the largest unit that holds it whole (decimal as pip's kB)
_UNITS = sorted(
    [(unit, 1000**n) for n, unit in enumerate(("kB", "MB", "GB", "TB", "PB"), 1)]
    + [(unit, 1024**n) for n, unit in enumerate(("KiB", "MiB", "GiB", "TiB", "PiB"), 1)],
    key=lambda unit: -unit[1],
)


class PolicyError(ValueError):
    """A selector that cannot be understood: the message says which and why."""


def parse_duration(text: str) -> float:
    """``30d``, ``12h``, ``90m``, ``45s``, ``2w`` (a bare number is seconds) -> seconds."""
    got = _DURATION.fullmatch(text.strip().lower())
    if got is None:
        raise PolicyError(
            f"{text!r} is not a duration: use a number and s, m, h, d or w (30d, 12h)"
        )
    seconds = float(got.group(1)) * _SECONDS[got.group(2)]
    if not seconds <= MAX_DURATION:
        raise PolicyError(f"{text[:40]!r} is too long a duration: at most 100 years (5200w)")
    return seconds


def parse_retention(text: str) -> float:
    """How long a quarantine keeps what it holds: a duration (``7d``) above 0 (a run that has
    expired as it is made protects nothing, and its files stay until the next clean)."""
    seconds = parse_duration(text)
    if seconds <= 0:
        raise PolicyError(
            f"{text!r} keeps nothing: a quarantine lasts a time such as 7d (to delete at once, "
            "do not quarantine)"
        )
    return seconds


def parse_size(text: str) -> int:
    """``500M``, ``10GB`` (k, M, G, T, P: decimal, as pip shows sizes), ``2GiB`` (KiB, MiB, GiB,
    TiB, PiB: binary), ``1000`` (bytes); case does not matter."""
    got = _SIZE.fullmatch(text.strip())
    if got is None or (got.group(3) and not got.group(2)):
        raise PolicyError(
            f"{text!r} is not a size: a number and k, M, G, T (decimal) or KiB, MiB, GiB, TiB "
            "(binary): 500M, 10G, 2GiB"
        )
    base = 1024 if got.group(3) else 1000
    return int(float(got.group(1)) * base ** _POWERS[got.group(2).lower()])


@dataclass(frozen=True)
class Policy:
    """What to remove from each cache.

    The selectors ``purge``, ``patterns``, ``packages`` and ``junk`` each name a set of entries;
    together they name their union. ``older_than`` keeps only the entries older than that many
    seconds (alone, it selects every entry older). ``max_size`` then adds the oldest remaining
    entries until the cache is no larger than that. With nothing given, a clean is a purge.
    """

    purge: bool = False
    patterns: tuple[str, ...] = ()
    packages: tuple[str, ...] = ()  # PEP 503-normalised
    junk: bool = False
    older_than: Optional[float] = None  # seconds
    max_size: Optional[int] = None  # bytes
    # keep what goes this long in a quarantine instead of deleting it (seconds); None: delete
    quarantine: Optional[float] = None
    # never removed by any selector: project names (PEP 503-normalised) or file-name globs
    keep: tuple[str, ...] = ()
    # the account's caches together, oldest first until at most this (a policy file's max_size)
    account_max_size: Optional[int] = None
    # set by a clean for account_max_size: entries last used at or before this time go
    until: Optional[float] = None

    @classmethod
    def of(
        cls,
        purge: bool = False,
        patterns: tuple[str, ...] = (),
        packages: tuple[str, ...] = (),
        junk: bool = False,
        older_than: Optional[str] = None,
        max_size: Optional[str] = None,
    ) -> Policy:
        """A policy from the command line's words; raises PolicyError."""
        for pattern in patterns:
            if not pattern or "/" in pattern or "\0" in pattern:
                raise PolicyError(f"--pattern {pattern!r}: a file name pattern, without '/'")
        names = []
        for name in packages:
            if not re.fullmatch(r"[A-Za-z0-9]([A-Za-z0-9._-]*[A-Za-z0-9])?", name):
                raise PolicyError(f"--package {name!r} is not a project name")
            names.append(canonicalize_name(name))
        age = None if older_than is None else parse_duration(older_than)
        size = None if max_size is None else parse_size(max_size)
        purge = purge or "*" in patterns  # pip: only the literal '*' also removes http files
        return cls(purge, tuple(p for p in patterns if p != "*"), tuple(names), junk, age, size)

    @property
    def selects(self) -> bool:
        """Whether a set-naming selector (purge, pattern, package, junk) was given."""
        return self.purge or bool(self.patterns) or bool(self.packages) or self.junk

    @property
    def effective(self) -> Policy:
        """The policy as applied: a purge when nothing at all was asked for."""
        if self.selects or self.older_than is not None or self.sized:
            return self
        return replace(self, purge=True)  # what else it says (keep, quarantine) still holds

    @property
    def sized(self) -> bool:
        """Whether a size limit was given (per cache, or for the account's caches together)."""
        return self.max_size is not None or self.account_max_size is not None

    def kept(self, project: Optional[str], *names: Optional[str]) -> Optional[str]:
        """Why ``keep`` spares an entry of this project with these file names (None: it does not)."""
        for item in self.keep:
            if _GLOB.search(item):
                if any(n is not None and fnmatch.fnmatchcase(n, item) for n in (project, *names)):
                    return f"kept by policy: {item}"
            elif project is not None and project == item:
                return f"kept by policy: {item}"
        return None

    def describe(self) -> str:
        """One line for plans and logs, e.g. ``package six, older than 30d``."""
        p = self.effective
        words = []
        if p.purge:
            words.append("purge")
        words.extend(f"pattern {x}" for x in p.patterns)
        words.extend(f"package {x}" for x in p.packages)
        if p.junk:
            words.append("junk")
        if p.older_than is not None:
            words.append(f"older than {age_text(p.older_than)}")
        if p.max_size is not None:
            words.append(f"until at most {size_text(p.max_size)}")
        if p.account_max_size is not None:
            words.append(f"until the account's caches are at most {size_text(p.account_max_size)}")
        words.extend(f"keep {x}" for x in p.keep)
        if p.quarantine is not None:
            words.append(f"quarantined for {age_text(p.quarantine)}")
        return ", ".join(words)


@dataclass(frozen=True)
class AccountPolicy:
    """What a policy file says for one account's caches: the policy they are planned under,
    whether they are left alone (and why), and which kinds of cache it covers."""

    policy: Policy
    excluded: Optional[str] = None  # why its caches are left alone (None: they are not)
    kinds: Optional[tuple[str, ...]] = None  # None: every kind
    kinds_from: str = ""  # where ``kinds`` is set (``policy.toml:5 (default)``), for the plan
    # the rule that gives it (``rule policy.toml:18 [[rule]] "students"``), for the plan
    rule: str = ""


def age_text(seconds: float) -> str:
    """Seconds as the largest whole unit: ``30d``, ``12h``, ``90s``."""
    for unit in ("w", "d", "h", "m"):
        if seconds >= _SECONDS[unit] and seconds % _SECONDS[unit] == 0:
            return f"{int(seconds // _SECONDS[unit])}{unit}"
    return f"{seconds:g}s"


def size_text(size: int) -> str:
    """Bytes as the largest unit that holds them whole, decimal or binary: ``10 GB``, ``2 GiB``,
    ``1500 MB``, ``1234 bytes`` (what :func:`parse_size` reads back to the same number)."""
    for unit, factor in _UNITS:
        if size >= factor and size % factor == 0:
            return f"{size // factor} {unit}"
    return f"{size} bytes"
