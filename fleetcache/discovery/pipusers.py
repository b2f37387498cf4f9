"""Which pips use each cache, from the environments found, and so whether a pip before 23.3
(which reads only the legacy ``http/`` tree) still uses it: then that tree is no junk."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Optional

from fleetcache import pipcompat
from fleetcache.discovery.markers import PIP_UNKNOWN
from fleetcache.model import AccountCaches, Environment, PipUser

NONE_KNOWN = "no pip known to use this cache (an older one may read it)"


def by_cache(
    envs: Sequence[Environment], accounts: Sequence[AccountCaches]
) -> dict[str, tuple[PipUser, ...]]:
    """cache path -> the pips known to use it: each environment's pip for the caches it
    resolves; a system-wide interpreter's pip, which every account may run, also for each
    account's own caches (its defaults, its config files', its variables')."""
    own = tuple(dict.fromkeys(path for ac in accounts for path in ac.cache_paths))
    found: dict[str, dict[str, PipUser]] = {}
    for env in envs:
        if not env.exists or env.pip_version is None:
            continue
        user = PipUser(env.key, env.pip_version, pipcompat.reads_legacy_http(env.pip_version))
        for path in (*env.cache_paths, *(own if env.shared else ())):
            found.setdefault(path, {}).setdefault(user.environment, user)
    return {path: tuple(users.values()) for path, users in found.items()}


def legacy_kept(pips: Sequence[PipUser]) -> Optional[str]:
    """Why a cache's legacy http/ tree is no junk (a pip that uses the cache may read it), or
    None when it is junk: every pip known to use the cache is 23.3 or later."""
    if not pips:
        return NONE_KNOWN
    old = [p for p in pips if p.legacy]
    return f"read by {describe(old)}" if old else None


def describe(pips: Sequence[PipUser], most: int = 3) -> str:
    """``pip 23.0.1 (/usr/bin/python3.11, /home/alice/old), pip 22.3 (/opt/tool)``."""
    by_version: dict[str, list[str]] = {}
    for pip in pips:
        by_version.setdefault(pip.version, []).append(pip.environment)
    parts = []
    for version, where in by_version.items():
        shown = ", ".join(where[:most])
        if len(where) > most:
            shown += f" and {len(where) - most} more"
        name = "pip of unknown version" if version == PIP_UNKNOWN else f"pip {version}"
        parts.append(f"{name} ({shown})")
    return ", ".join(parts)
