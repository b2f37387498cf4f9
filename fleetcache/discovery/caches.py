"""From accounts to pip cache locations: each account's resolved caches, and caches found by layout."""

from __future__ import annotations

import os
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import replace
from typing import Callable, Optional

from fleetcache import dropped, readas, safefs
from fleetcache.activity.harvest import Settings
from fleetcache.discovery import accounts as accounts_mod
from fleetcache.discovery import pipconfig
from fleetcache.machine import Machine
from fleetcache.model import (
    QUARANTINE_DIR,
    Account,
    AccountCaches,
    CacheLocation,
    CacheSource,
    Skipped,
)

HEX1 = re.compile(r"[0-9a-f]")
HEX2 = re.compile(r"[0-9a-f]{2}")
SELFCHECK_KEY = re.compile(r"[0-9a-f]{56}")
# never hold a pip cache, and can be huge; other mounts (/proc, /sys) are left by the one-device rule
SKIP_DIRS = frozenset({".git", "node_modules", "site-packages", "__pycache__", QUARANTINE_DIR})


class Finder:
    """Reads the machine below its root for discovery: files as their account would, dirs safely.
    Close it (or use it in a ``with``): it ends the processes that read as accounts."""

    def __init__(
        self,
        machine: Machine,
        anchor: int,
        accounts: Sequence[Account],
        readers: Optional[readas.Readers] = None,
    ) -> None:
        self.machine = machine
        self.anchor = anchor
        self.accounts = accounts
        self.owned = readers is None  # else the caller's, who closes them
        self.readers = readas.Readers.of(machine, anchor) if readers is None else readers

    def __enter__(self) -> Finder:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        """End the processes that read as accounts (unless the caller gave them)."""
        if self.owned:
            self.readers.close()

    def read_config(self, path: str, account: Account) -> Optional[bytes]:
        """A config file's bytes as the account's pip would read them (links followed, inside
        the machine's root); None when the account cannot see it. Raises PermissionError when it
        sees the file but may not read it, OSError when the file cannot be read at all."""
        return self.readers.read(dropped.identity(self.machine, account), path)

    def is_dir(self, path: str) -> bool:
        """Whether a machine path is a directory (links are not followed)."""
        return os.path.isdir(self.machine.host_path(path)) and not os.path.islink(
            self.machine.host_path(path)
        )

    def home(self, name: str) -> Optional[str]:
        """The home of a named account, for ``~name``."""
        return accounts_mod.home_of(self.accounts, name)

    def resolve(
        self,
        account: Account,
        site_prefix: Optional[str] = None,
        env: Optional[Mapping[str, str]] = None,
        cwd: Optional[str] = None,
    ) -> AccountCaches:
        """The caches this account's pip uses (run from the environment at ``site_prefix``,
        with the variables ``env`` and in the working directory ``cwd`` when given)."""
        return pipconfig.resolve(
            account, self.machine, self.read_config, self.home, self.is_dir, site_prefix, env, cwd
        )

    def with_settings(self, base: AccountCaches, settings: Sequence[Settings]) -> AccountCaches:
        """An account's caches, plus the existing ones its running processes' settings add,
        each marked with the process that showed it."""
        uses = list(base.uses)
        known = {(u.path, replace(u.source, commands=())) for u in uses}
        files = list(base.config_files)
        problems = list(base.problems)
        for harvested in settings:
            more = self.resolve(
                base.account, env={**self.machine.env_for(base.account.uid), **harvested.env}
            )
            for use in more.uses:
                key = (use.path, replace(use.source, commands=()))
                if key in known or (use.path is not None and not self.is_dir(use.path)):
                    continue
                known.add(key)
                uses.append(replace(use, source=replace(use.source, pid=harvested.pid)))
            files.extend(f for f in more.config_files if f not in files)
            problems.extend(
                replace(p, reason=f"{p.reason} (environment of pid {harvested.pid})")
                for p in more.problems
                if p.path not in {q.path for q in base.problems}
            )
        return replace(base, uses=tuple(uses), config_files=tuple(files), problems=tuple(problems))


def locations(resolved: Iterable[AccountCaches]) -> list[CacheLocation]:
    """One location per distinct cache path, carrying every source that points there."""
    by_path: dict[str, list[CacheSource]] = {}
    owners: dict[str, set[int]] = {}
    for account_caches in resolved:
        uid = account_caches.account.uid
        for use in account_caches.uses:
            if use.path is None:
                continue
            by_path.setdefault(use.path, []).append(use.source)
            trusted = owners.setdefault(use.path, set())
            trusted.add(uid)
            if use.source.kind == "config" and _is_global(use.source, account_caches.account):
                trusted.add(0)
    return [CacheLocation(p, tuple(s), frozenset(owners[p])) for p, s in by_path.items()]


def _is_global(source: CacheSource, account: Account) -> bool:
    """A system-wide config file (not under the account's home) may name a root-owned cache."""
    home = account.home.rstrip("/") + "/"
    return source.file is not None and not source.file.startswith(home)


def merge_found(known: list[CacheLocation], found: Iterable[CacheLocation]) -> list[CacheLocation]:
    """Add caches found by layout; one already known gains the layout source."""
    index = {loc.path: i for i, loc in enumerate(known)}
    merged = list(known)
    for loc in found:
        if loc.path in index:
            i = index[loc.path]
            old = merged[i]
            merged[i] = replace(old, sources=(*old.sources, *loc.sources))  # its kind stays
        else:
            index[loc.path] = len(merged)
            merged.append(loc)
    return merged


LooksLike = Callable[[int, set[str]], bool]  # an opened directory, its names -> has a kind's layout


def looks_like_cache(dir_fd: int, names: set[str]) -> bool:
    """Whether a directory has pip's cache layout (there is no marker file to look for)."""
    if "http-v2" in names and _children_match(dir_fd, "http-v2", HEX1, allow_empty=True):
        return True
    if "wheels" in names and _children_match(dir_fd, "wheels", HEX2, allow_empty=False):
        return True
    if "http" in names and _children_match(dir_fd, "http", HEX1, allow_empty=False):
        return True
    return "selfcheck" in names and _children_match(
        dir_fd, "selfcheck", SELFCHECK_KEY, allow_empty=False
    )


def _children_match(dir_fd: int, name: str, pattern: re.Pattern[str], allow_empty: bool) -> bool:
    return children_match(
        dir_fd, name, lambda c: pattern.fullmatch(c) or c.endswith(".tmp"), allow_empty
    )


def children_match(
    dir_fd: int, name: str, match: Callable[[str], object], allow_empty: bool = False
) -> bool:
    """Whether the subdirectory ``name`` of an opened directory holds only entries whose names
    ``match`` accepts (and any at all, unless ``allow_empty``): a layout's check."""
    try:
        fd = os.open(name, safefs.O_DIR, dir_fd=dir_fd)
    except OSError:
        return False
    try:
        children = os.listdir(fd)
    except OSError:
        return False
    finally:
        os.close(fd)
    if not children:
        return allow_empty
    return all(match(c) for c in children)


def search(
    machine: Machine,
    anchor: int,
    top: str,
    max_depth: int = 12,
    kinds: Sequence[tuple[str, LooksLike]] = (("pip", looks_like_cache),),
) -> tuple[list[CacheLocation], list[Skipped]]:
    """Every cache below a machine path, recognised by layout: each directory is of the first of
    ``kinds`` whose ``looks_like`` it has (pip's alone by default); one walk for all of them, a
    cache not entered, links not followed."""
    found: list[CacheLocation] = []
    skipped: list[Skipped] = []
    p = machine.pathmod
    try:
        opened = safefs.open_path(anchor, top, follow_last=True)
    except safefs.UnsafePath as exc:
        return [], [Skipped(top, f"search path not used: {exc}")]

    def on_error(parts: tuple[str, ...], reason: str) -> None:
        skipped.append(Skipped(p.join(opened.path, *parts), reason))

    try:
        for parts, fd, files, dirs in safefs.walk(opened.fd, on_error):
            names = {entry.name for entry in files}  # a layout may be files (pip-tools')
            names.update(dirs)
            kind = next((name for name, looks_like in kinds if looks_like(fd, names)), None)
            if kind is not None:
                path = p.join(opened.path, *parts)
                found.append(CacheLocation(path, (CacheSource("layout"),), kind=kind))
                dirs.clear()
                continue
            if len(parts) >= max_depth:
                dirs.clear()
                continue
            dirs[:] = [d for d in dirs if d not in SKIP_DIRS]
    finally:
        os.close(opened.fd)
    return found, skipped
