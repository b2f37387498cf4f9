"""Where conda (and rattler) caches are for each account, as the tool finds them: conda's
settings search path (base/constants.py SEARCH_PATH) read as the account, the variables of its
processes, the defaults (base/context.py pkgs_dirs); each directory kept with why it is one."""

from __future__ import annotations

import posixpath
from collections.abc import Iterator, Mapping, Sequence
from typing import Optional

from fleetcache import dropped, safefs
from fleetcache.discovery import conda, condaenvs
from fleetcache.discovery.access import AsAccount
from fleetcache.kinds.base import Look
from fleetcache.model import Account, CacheLocation, CacheSource, Environment, Skipped

INSTALL_KINDS = ("conda", "mamba", "miniforge")  # environment kinds that are a conda install


def environs(look: Look, account: Account) -> Iterator[tuple[Mapping[str, str], Optional[int]]]:
    """The variables the account's tools run with: its login's (pid None), then each distinct
    set its running processes show (with the pid that shows it)."""
    base = {"HOME": account.home, **look.machine.env_for(account.uid)}
    yield base, None
    for settings in look.settings.get(account.uid, ()):
        yield {**base, **settings.env}, settings.pid


class Places:
    """The caches found so far, one per path, each with every reason and the uids its root may
    belong to (the owner rule: an account's own settings name only its own directories)."""

    def __init__(self, look: Look, kind: str) -> None:
        self.look = look
        self.kind = kind
        self.sources: dict[str, list[CacheSource]] = {}
        self.trusted: dict[str, set[int]] = {}
        self.skipped: list[Skipped] = []
        self.listed: dict[tuple[int, str], list[str]] = {}  # (uid, condarc.d) -> its snippets

    def add(self, account: Account, path: str, source: CacheSource, trusted: set[int]) -> None:
        """A directory the account's tool uses, if the account sees one there (a default one
        only when that is known: unprivileged, another's private home says nothing)."""
        if path not in self.sources:
            who = dropped.identity(self.look.machine, account)
            try:
                there = self.look.readers.exists(who, path)
            except (OSError, safefs.UnsafePath):
                return
            if there is False or (there is None and source.kind == "default"):
                return
        got = self.sources.setdefault(path, [])
        if source not in got:
            got.append(source)
        self.trusted.setdefault(path, set()).update(trusted)

    def locations(self) -> list[CacheLocation]:
        """One location per path, in the order found."""
        return [
            CacheLocation(p, tuple(s), frozenset(self.trusted[p]), kind=self.kind)
            for p, s in self.sources.items()
        ]

    def read(self, account: Account, path: str) -> Optional[bytes]:
        """A config file as the account reads it (None: absent, unreadable: then it says nothing)."""
        try:
            return self.look.read(account, path)
        except PermissionError:
            return None
        except OSError as exc:
            self.skipped.append(Skipped(path, f"not read: {exc}"))
            return None


def installs(look: Look, account: Account) -> list[Environment]:
    """The conda installs the account may run conda from: root's, its own, and any outside
    every account's home."""
    homes = tuple(a.home.rstrip("/") + "/" for a in look.every if a.home not in ("", "/"))
    return [
        e
        for e in look.environments
        if e.role == "interpreter"
        and e.kind in INSTALL_KINDS
        and e.exists
        and (e.owner_uid in (0, account.uid) or not e.prefix.startswith(homes))
    ]


def condarcs(
    places: Places, account: Account, env: Mapping[str, str], roots: Sequence[Environment]
) -> list[tuple[str, set[int]]]:
    """The ``.condarc`` files conda reads for this account, in conda's order (the system's,
    its installs', then its own; condarc.d directories listed as the account), each with the
    owners whose directories it may name: besides the account, root for the system's files
    and an install's owner for that install's. Where a file is (a variable may put it outside
    the home) makes it nobody else's."""
    access = AsAccount(places.look.readers, dropped.identity(places.look.machine, account))

    def snippets(directory: str) -> list[str]:  # once per account: each process asks again
        key = (account.uid, directory)
        if key not in places.listed:
            places.listed[key] = condaenvs.listed(access, directory)
        return places.listed[key]

    mine = {account.uid}
    dirs = [("/etc/conda", {*mine, 0}), ("/var/lib/conda", {*mine, 0})]
    dirs += [(r.prefix, {*mine, 0 if r.owner_uid is None else r.owner_uid}) for r in roots]
    if env.get("CONDA_ROOT", "").startswith("/"):  # the install its conda runs from says so
        dirs.append((env["CONDA_ROOT"], mine))
    out = [(f, owners) for d, owners in dirs for f in conda.rc_files(d, snippets)]
    out += [(f, mine) for f in conda.user_condarcs(account.home, env, snippets)]
    first: dict[str, set[int]] = {}
    for f, owners in out:  # a file conda reads twice says the same: its first place counts
        first.setdefault(f, owners)
    return list(first.items())


def find_pkgs(look: Look) -> tuple[list[CacheLocation], list[Skipped]]:
    """Each chosen account's conda pkgs dirs: ``CONDA_PKGS_DIRS`` and every ``.condarc``'s
    ``pkgs_dirs``, else the defaults (each install's ``pkgs`` and ``~/.conda/pkgs``)."""
    places = Places(look, "conda")
    for account in look.chosen:
        roots = installs(look, account)
        for env, pid in environs(look, account):
            _account_pkgs(places, account, env, pid, roots)
    return places.locations(), places.skipped


def _account_pkgs(
    places: Places,
    account: Account,
    env: Mapping[str, str],
    pid: Optional[int],
    roots: Sequence[Environment],
) -> None:
    home, user, mine = account.home, account.name, {account.uid}
    configured: list[tuple[str, CacheSource, set[int]]] = []
    for value in env.get("CONDA_PKGS_DIRS", "").split(","):
        path = conda.expand(value, home, env) if value.strip() else None
        if path is not None:
            configured.append(
                (path, CacheSource("env", user=user, variable="CONDA_PKGS_DIRS", pid=pid), mine)
            )
    for rc, trusted in condarcs(places, account, env, roots):
        source = CacheSource("config", user=user, file=rc, section="pkgs_dirs", pid=pid)
        for value in conda.pkgs_dirs(places.read(account, rc)):
            path = conda.expand(value, home, env)
            if path is not None:
                configured.append((path, source, trusted))
    if not configured:  # conda's defaults: the install's own pkgs/, then the account's
        for root in roots:
            owner = {root.owner_uid if root.owner_uid is not None else 0}
            source = CacheSource("default", user=user, file=root.prefix, pid=pid)
            configured.append((posixpath.join(root.prefix, "pkgs"), source, owner))
        source = CacheSource("default", user=user, pid=pid)
        configured.append((posixpath.join(home, ".conda", "pkgs"), source, mine))
    for path, source, trusted in configured:
        places.add(account, path, source, trusted)
