"""Which packages of a pkgs dir environments installed by symbolic links (conda clean does not
check: its docs warn of it): each environment's ``conda-meta`` records, and the environments
every account's conda registered. Read as each account: its reader opens the directory (the
kernel judges), the records are read from that descriptor, no link followed, bounded."""

from __future__ import annotations

import contextlib
import json
import os
import re
from collections.abc import Iterable, Iterator
from typing import Callable, Optional

from fleetcache import safefs
from fleetcache.discovery import conda
from fleetcache.discovery.access import Access, AsRoot
from fleetcache.kinds.base import PlanContext
from fleetcache.model import Environment

RECORD_LIMIT = 8 << 20  # a conda-meta record lists every file of its package: MBs for big ones
RECORDS = 20_000  # records read per environment: more is no environment
ENV_BYTES = 512 << 20  # record bytes read per environment; past it, each record keeps its package
SOFTLINK = re.compile(rb'"type"\s*:\s*2\b')  # link.type 2: installed by symbolic links
Viewer = Callable[[int], Access]  # uid -> reads and opens as that account


@contextlib.contextmanager
def viewer(context: PlanContext) -> Iterator[Viewer]:
    """The clean's readers as each account; without them, root's view (following no link but
    root's and the account's own)."""
    if context.access is not None:
        yield context.access
        return
    anchor = safefs.open_anchor(context.root)
    try:
        yield lambda uid: AsRoot(anchor, frozenset({0, uid}))
    finally:
        os.close(anchor)


def softlinked(view: Viewer, cache: str, envs: Iterable[Environment]) -> dict[str, str]:
    """The package directories right inside ``cache`` that an environment installed by
    symbolic links (a record with ``link.type`` 2 and its ``link.source``), with why they
    stay. A record that cannot be read keeps the package of its name: keeping more is the safe
    side, and a record can only make the clean keep more, never take anything."""
    out: dict[str, str] = {}
    for env in envs:
        for name, source in _records(view(env.owner_uid or 0), env):
            rel = _inside(source, cache) if source is not None else name
            if rel:
                out.setdefault(rel, f"linked into {env.prefix} (symbolic links)")
    return out


def registered(view: Viewer, context: PlanContext, known: set[str]) -> list[Environment]:
    """The environments each account's conda registered (``~/.conda/environments.txt``: conda
    adds every environment it makes) that are not in ``known``: a clean of a shared pkgs dir
    must see the environments of accounts it was not asked about."""
    out: list[Environment] = []
    for account in context.accounts:
        if account.home in ("", "/") or (account.system and account.uid != 0):
            continue  # system accounts run no conda of their own: no reader started for them
        try:
            data = view(account.uid).read(account.home.rstrip("/") + "/" + conda.ENVIRONMENTS_TXT)
        except OSError:
            continue
        for prefix in conda.environments_txt(data or b""):
            if prefix.startswith("/") and prefix not in known:
                known.add(prefix)
                out.append(Environment(prefix, "conda", "environment", owner_uid=account.uid))
    return out


def _inside(source: str, cache: str) -> Optional[str]:
    """``source``'s name, when it names an entry right inside the cache."""
    head, _, name = os.path.normpath(source).rpartition("/")
    return name if head == cache.rstrip("/") and name not in ("", ".", "..") else None


def _records(access: Access, env: Environment) -> Iterator[tuple[str, Optional[str]]]:
    """(dist name, link.source) of each record linking by symbolic links (source None: the
    record could not be read, or the environment's bytes to read ran out)."""
    try:
        opened = access.open_dir(env.prefix + "/conda-meta")
    except (OSError, safefs.UnsafePath):
        return
    try:
        names = [n for n in os.listdir(opened.fd) if n.endswith(".json")][:RECORDS]
        left = ENV_BYTES  # many links to one big record must not make a clean read for hours
        for name in names:
            linked, source, spent = _link(opened.fd, name) if left > 0 else (True, None, 0)
            left -= spent
            if linked:
                yield name[: -len(".json")], source
    finally:
        os.close(opened.fd)


def _link(meta_fd: int, name: str) -> tuple[bool, Optional[str], int]:
    """Whether a record may link by symbolic links, its ``link.source`` when it can be told,
    and the bytes read to tell (too big, not JSON, not readable: it may, from where is unknown)."""
    try:
        data = safefs.read_at(meta_fd, name, RECORD_LIMIT + 1)
    except (OSError, safefs.UnsafePath):
        return True, None, 0
    if len(data) > RECORD_LIMIT:
        return True, None, len(data)
    if not SOFTLINK.search(data):
        return False, None, len(data)
    try:
        link = json.loads(data).get("link")
    except (ValueError, RecursionError, AttributeError):
        return True, None, len(data)
    if not isinstance(link, dict) or link.get("type") != 2:
        return False, None, len(data)
    source = link.get("source")
    return True, source if isinstance(source, str) else None, len(data)
