"""`pip cache dir|info|list` for any account, answered from outside that account's pip."""

from __future__ import annotations

from dataclasses import dataclass, replace

from packaging.utils import canonicalize_name

from fleetcache import pipcompat, readas
from fleetcache import scan as scan_mod
from fleetcache.discovery import caches as caches_mod
from fleetcache.discovery import pipusers
from fleetcache.discovery.envs import EnvSearch
from fleetcache.machine import Machine
from fleetcache.model import AccountCaches, CacheEntry, CacheResult, CacheUse, Skipped
from fleetcache.stats.wheels import WheelFile, find_wheels


@dataclass(frozen=True)
class CacheInfo:
    """One account's caches with their figures."""

    account: AccountCaches
    caches: tuple[CacheResult, ...]


def default_user(machine: Machine) -> str:
    """The account running fleetcache, the one pip itself would answer for."""
    if machine.current_uid is not None:
        for account in scan_mod.load_accounts(machine):
            if account.uid == machine.current_uid:
                return account.name
    raise scan_mod.ScanError("cannot tell which account this is; name one with --user")


def dirs(
    machine: Machine, users: tuple[str, ...], envs: bool = True
) -> tuple[list[AccountCaches], list[Skipped]]:
    """Each named account's caches as its pips resolve them: its own pip's, then (``envs``)
    those its environments' site configs name (what their ``pip cache dir`` answers), found
    as a scan finds them, without running anything; and what the search could not look at."""
    search = EnvSearch(probe=False)  # versions do not matter here
    selection = scan_mod.Selection(
        users=users, envs=envs, env_search=search, sizes=False, activity=False
    )
    found = scan_mod.discover(machine, selection)
    site: dict[int, list[CacheUse]] = {}
    for ac in found.site_caches:
        site.setdefault(ac.account.uid, []).extend(ac.uses)
    merged = [replace(ac, uses=(*ac.uses, *site.get(ac.account.uid, ()))) for ac in found.resolved]
    return merged, found.skipped


def info(machine: Machine, users: tuple[str, ...], jobs: int | None = None) -> list[CacheInfo]:
    """Each named account's caches, walked, with the pips known to use each (from the
    environments found: which pip reads what differs before 23.3)."""
    # pip versions come from files: no interpreter need run for them
    search = EnvSearch(probe=False)
    selection = scan_mod.Selection(users=users, activity=False, sizes=False, env_search=search)
    with readas.Readers.of(machine) as readers:
        found = scan_mod.discover(machine, selection, readers)
        locations = caches_mod.locations(found.resolved)  # a shared cache is walked once
        walked = scan_mod.measure(machine, locations, found.every, jobs, readers=readers)
    pips = pipusers.by_cache(found.environments, found.resolved)
    by_path = {r.location.path: replace(r, pips=pips.get(r.location.path, ())) for r in walked}
    return [CacheInfo(a, tuple(by_path[p] for p in a.cache_paths)) for a in found.resolved]


def info_lines(cache: CacheResult) -> list[str]:
    """What ``pip cache info`` prints for a cache: pip 26's lines; when a pip before 23.3 (which
    reads only the legacy http/ tree) uses it, each view under a line naming whose it is."""
    old = [p for p in cache.pips if p.legacy]
    path, figures = cache.location.path, cache.figures
    if not old:
        return pipcompat.info_lines(path, figures)
    new = [p for p in cache.pips if not p.legacy]
    lines = []
    if new:
        lines.append(f"# pip 23.3 and later: {pipusers.describe(new)}")
        lines.extend(pipcompat.info_lines(path, figures))
    lines.append(f"# pip before 23.3 sees only the legacy http/ tree: {pipusers.describe(old)}")
    return lines + pipcompat.legacy_info_lines(path, figures)


def wheels(
    machine: Machine, users: tuple[str, ...], pattern: str
) -> tuple[list[tuple[str, WheelFile]], list[Skipped]]:
    """(account name, wheel) for every built wheel matching ``pattern`` in the accounts' caches."""
    _, resolved = scan_mod.resolve(machine, scan_mod.Selection(users=users))
    found: list[tuple[str, WheelFile]] = []
    skipped: list[Skipped] = [p for r in resolved for p in r.problems]
    for loc in caches_mod.locations(resolved):
        files, missed = find_wheels(machine.root, loc.path, pattern, loc.trusted_owners)
        user = loc.users[0] if loc.users else ""
        found.extend((user, w) for w in files)
        skipped.extend(missed)
    return found, skipped


def entries(
    machine: Machine, users: tuple[str, ...], package: str | None = None
) -> tuple[list[tuple[str, CacheEntry]], list[Skipped]]:
    """(account name, entry) for everything in the accounts' caches, downloads and built
    wheels alike, named; only one project's with ``package`` (compared PEP 503-normalised)."""
    from fleetcache.report.run import named_entries  # the naming machinery: only when asked

    _, resolved = scan_mod.resolve(machine, scan_mod.Selection(users=users))
    locations = caches_mod.locations(resolved)
    found, skipped = named_entries(machine, locations, resolved)
    skipped = [p for r in resolved for p in r.problems] + skipped
    users_of = {loc.path: (loc.users[0] if loc.users else "") for loc in locations}
    wanted = canonicalize_name(package) if package else None
    picked = [e for e in found if wanted is None or e.project == wanted]
    picked.sort(key=lambda e: (e.project or "~", e.version or "", e.cache, e.path))
    return [(users_of.get(e.cache, ""), e) for e in picked], skipped
