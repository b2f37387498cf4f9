"""conda's own records of environments, read as the account they belong to: its
``~/.conda/environments.txt`` and the ``envs_dirs`` of every ``.condarc`` on conda's search
path (condarc.d snippet directories listed as whoever reads them)."""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from dataclasses import replace
from typing import Optional

from fleetcache import safefs
from fleetcache.discovery import conda, homewalk
from fleetcache.discovery import inspect as inspect_mod
from fleetcache.discovery.access import Access, names_in
from fleetcache.discovery.interpreters import Join
from fleetcache.machine import Machine
from fleetcache.model import Account, Environment, Skipped

REGISTRY = "~/.conda/environments.txt"


def listed(access: Access, directory: str) -> list[str]:
    """The snippet files of a condarc.d directory, as ``access`` lists it (none: not there)."""
    return [f"{directory}/{n}" for n in conda.snippet_names(names_in(access, directory))]


def system_snippets(anchor: int, directories: Sequence[str], join: Join) -> list[str]:
    """The ``*.yml`` and ``*.yaml`` files of condarc.d directories, in name order."""
    paths: list[str] = []
    for directory in directories:
        try:
            opened = safefs.open_path(anchor, directory, follow_last=True)
        except safefs.UnsafePath:
            continue
        try:
            names = sorted(inspect_mod.listdir(opened.fd))
        finally:
            os.close(opened.fd)
        paths.extend(join(opened.path, n) for n in names if n.endswith((".yml", ".yaml")))
    return paths


def read_record(access: Access, path: str) -> tuple[Optional[bytes], list[Skipped]]:
    """A registry or config file's bytes (None when absent), or why it could not be read."""
    try:
        return access.read(path), []
    except OSError as exc:
        return None, [Skipped(path, f"not read: {exc}")]


def registered(
    machine: Machine, access: Access, account: Account, join: Join
) -> tuple[list[Environment], list[Skipped]]:
    """The prefixes in the account's ``~/.conda/environments.txt`` (as it reads the file, and
    each only where it can open it); the missing ones as such."""
    path = join(account.home, conda.ENVIRONMENTS_TXT)
    data, skipped = read_record(access, path)
    envs: list[Environment] = []
    for prefix in conda.environments_txt(data or b""):
        try:
            opened = access.open_dir(prefix)
        except safefs.NotFound:
            envs.append(stale(prefix, account, f"registered in {path} but missing"))
            continue
        except safefs.UnsafePath as exc:
            skipped.append(Skipped(prefix, f"registered in {path}; not inspected: {exc}"))
            continue
        try:
            env = inspect_mod.inspect(opened.fd, prefix, REGISTRY, (), machine.platform)
        finally:
            os.close(opened.fd)
        if env is None:  # not sized, not given caches: it may be any directory at all
            problem = f"registered in {path} but holds no environment"
            env = replace(stale(prefix, account, problem), kind="unknown", exists=True)
        else:
            env = replace(env, prefix=prefix)  # as registered, not as links resolve it
        envs.append(env)
    return envs, skipped


def stale(prefix: str, account: Account, problem: str) -> Environment:
    """A registered prefix that is not (or no longer) an environment."""
    return Environment(
        prefix=prefix,
        kind="conda",
        role="environment",
        exists=False,
        owner_uid=account.uid,
        found_by=(REGISTRY,),
        marker="environments.txt",
        problems=(problem,),
    )


def envs_dirs(
    machine: Machine,
    access: Access,
    condarc: str,
    account: Optional[Account],
    join: Join,
    env: Optional[Mapping[str, str]] = None,
) -> tuple[list[Environment], list[Skipped]]:
    """The environments in each ``envs_dirs`` directory a ``.condarc`` names (``~`` and
    ``$VARS`` expanded as conda does, for the account reading it; a system-wide file read once
    for everyone names only absolute paths)."""
    data, skipped = read_record(access, condarc)
    envs: list[Environment] = []
    for named in conda.envs_dirs(data):
        if account is not None:
            directory = conda.expand(named, account.home, env or {"HOME": account.home})
        else:
            directory = named if machine.pathmod.isabs(named) else None
        if directory is None:
            continue
        more, missed = homewalk.children(
            access, directory, f"envs_dirs in {condarc}", machine.platform, join
        )
        envs.extend(more)
        skipped.extend(missed)
    return envs, skipped
