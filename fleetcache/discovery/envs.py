"""Every interpreter and environment of the selected accounts, and the pip caches each one's pip uses.

Sources, most specific first: installed Pythons (system, pyenv, uv), conda's registries
(``environments.txt``, ``envs_dirs``), tools' environment directories the home walk skips (poetry's
lives in ``~/.cache``), then the bounded walk of each home. One record per prefix.
"""

from __future__ import annotations

import os
import posixpath
from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Callable, Optional

from fleetcache import dropped, readas, safefs
from fleetcache.activity.harvest import Running, Settings
from fleetcache.discovery import conda, condaenvs, condainstalls, homewalk, interpreters, toolenvs
from fleetcache.discovery.access import Access, AsAccount, AsRoot
from fleetcache.discovery.caches import Finder
from fleetcache.machine import Machine
from fleetcache.model import Account, AccountCaches, CacheUse, Environment, Skipped


@dataclass(frozen=True)
class EnvSearch:
    """How to look for environments."""

    limits: homewalk.WalkLimits = field(default_factory=homewalk.WalkLimits)
    probe: bool = True


class _Found:
    """Environments by prefix; a prefix found twice keeps its first record and both sources."""

    def __init__(self) -> None:
        self.by_prefix: dict[str, Environment] = {}
        self.skipped: list[Skipped] = []

    def add(self, envs: Iterable[Environment], skipped: Iterable[Skipped] = ()) -> None:
        for env in envs:
            key = env.key
            old = self.by_prefix.get(key)
            if old is None:
                self.by_prefix[key] = env
            elif not set(env.found_by) <= set(old.found_by):
                found_by = tuple(dict.fromkeys((*old.found_by, *env.found_by)))
                self.by_prefix[key] = replace(old, found_by=found_by)
        self.skipped.extend(skipped)


def discover(
    machine: Machine,
    readers: readas.Readers,
    chosen: Sequence[Account],
    search: EnvSearch,
    settings: Optional[Mapping[int, Sequence[Settings]]] = None,
    every: Sequence[Account] = (),
) -> tuple[list[Environment], list[Skipped]]:
    """The environments of the machine's system and of each chosen account's home (also where
    the account's running processes' settings point). What an account's own records name is
    read and opened as that account, through ``readers``. ``every``: all accounts, whose homes
    no link in another's home leads into."""
    found = _Found()
    join = machine.pathmod.join
    anchor = readers.anchor
    homes = _homes(anchor, every or chosen)
    found.add(*interpreters.system(anchor, machine.platform, join))
    found.add(*condainstalls.system(anchor, machine.platform, join))
    for path in (
        *conda.SYSTEM_CONDARCS,
        *condaenvs.system_snippets(anchor, conda.SYSTEM_CONDARC_DIRS, join),
    ):
        found.add(*condaenvs.envs_dirs(machine, AsRoot(anchor), path, None, join))
    homes_done: set[str] = set()
    for account in chosen:
        if account.home in homes_done or not _walkable_home(account.home):
            continue
        homes_done.add(account.home)
        access = AsAccount(readers, dropped.identity(machine, account))
        others = [h for h in homes if h != account.home]
        theirs = (settings or {}).get(account.uid, ())
        _account(machine, access, account, search, found, homes, theirs, others)
    # each conda install's own .condarc ($CONDA_ROOT/.condarc) may name more envs_dirs: one in
    # a chosen account's install is read as that account, any other as root's own
    for env in list(found.by_prefix.values()):
        if env.role == "interpreter" and env.kind in ("conda", "mamba", "miniforge"):
            owner = next((a for a in chosen if a.uid == env.owner_uid), None)
            install: Access = (
                AsRoot(anchor)
                if owner is None
                else AsAccount(readers, dropped.identity(machine, owner))
            )
            found.add(
                *condaenvs.envs_dirs(machine, install, join(env.prefix, ".condarc"), owner, join)
            )
    return list(found.by_prefix.values()), found.skipped


# system accounts' "homes" that are system directories: never walked as homes
NOT_HOMES = ("/bin", "/boot", "/dev", "/etc", "/lib", "/lib64", "/nonexistent", "/proc", "/run",
             "/sbin", "/sys", "/usr")  # fmt: skip


def _homes(anchor: int, accounts: Sequence[Account]) -> frozenset[str]:
    """Every account's home as written and where it really is (a home may be a root's link)."""
    homes = {a.home.rstrip("/") for a in accounts if _walkable_home(a.home)}
    for account in accounts:
        if account.home in homes:
            try:
                opened = safefs.open_path(anchor, account.home, follow_last=True)
            except safefs.UnsafePath:
                continue
            os.close(opened.fd)
            homes.add(opened.path)
    return frozenset(homes)


def _real_homes(homes: Iterable[str]) -> list[str]:
    """The homes that are an account's own directory (not "/", /usr, /nonexistent ...)."""
    return [h for h in homes if _walkable_home(h)]


def _walkable_home(home: str) -> bool:
    return home not in ("", "/") and not any(
        home == d or home.startswith(d + "/") for d in NOT_HOMES
    )


def _account(
    machine: Machine,
    access: AsAccount,
    account: Account,
    search: EnvSearch,
    found: _Found,
    homes: Collection[str],
    settings: Sequence[Settings] = (),
    others: Sequence[str] = (),
) -> None:
    """One account's environments: its tools' directories (as its own settings and, beyond
    them, its running processes' settings place them), its registries, the conda installs
    they lead to, then its home. What its settings and records name is opened only where the
    account can open it itself."""
    join = machine.pathmod.join
    env = {"HOME": account.home, **machine.env_for(account.uid)}
    trusted = frozenset({0, account.uid})
    places = _places(machine, account, env, access)
    before = set(found.by_prefix)
    _visit(machine, access, account, places[:3], "", found, env)  # installed Pythons first
    found.add(*condaenvs.registered(machine, access, account, join))
    _visit(machine, access, account, places[3:], "", found, env)
    seen = set(places)
    for harvested in settings:
        theirs = {**env, **harvested.env}
        more = [p for p in _places(machine, account, theirs, access) if p not in seen]
        seen.update(more)
        suffix = f", environment of pid {harvested.pid}"
        _visit(machine, access, account, more, suffix, found, theirs)
    named = [e for k, e in found.by_prefix.items() if k not in before]
    found.add(*condainstalls.climb(access, named, others, machine.platform, join))
    anchor = access.readers.anchor
    in_projects = toolenvs.hatch_in_projects(machine, access, env, account.home)
    walked = homewalk.walk_home(
        machine, anchor, account.home, trusted, search.limits, homes=homes,
        as_account=access.open_dir, known=frozenset(found.by_prefix), in_projects=in_projects,
    )  # fmt: skip
    found.add(*walked)


# (what, directory, label): what is "versions:<kind>", "condarc", "children" or "prefix"
_Place = tuple[str, str, str]


def _places(
    machine: Machine, account: Account, env: Mapping[str, str], access: Access
) -> list[_Place]:
    """Where an account's tools keep interpreters and environments, under these settings
    (conda's settings files: its search path, condarc.d directories listed as ``access``)."""
    join = machine.pathmod.join
    home = account.home
    data_home = env.get("XDG_DATA_HOME") or join(home, ".local", "share")
    pyenv = env.get("PYENV_ROOT") or join(home, ".pyenv")
    uv_pythons = env.get("UV_PYTHON_INSTALL_DIR") or join(data_home, "uv", "python")
    places: list[_Place] = [
        ("versions:pyenv", join(pyenv, "versions"), "pyenv versions/"),
        ("versions:uv-python", uv_pythons, "uv python dir"),
        ("cellar", join(home, ".linuxbrew", "Cellar"), "Linuxbrew Cellar"),
    ]
    condarcs = conda.user_condarcs(home, env, lambda d: condaenvs.listed(access, d))
    places.extend(("condarc", rc, rc) for rc in condarcs)
    places.extend(("children", d, label) for d, label in _tool_dirs(machine, account, env))
    places.extend(("prefix", d, label) for d, label in _conda_prefixes(env))
    # a config file the account cannot read is reported once, by its cache kind's find
    tool_dirs = [
        *toolenvs.poetry_dirs(machine, access, env, home)[0],
        *toolenvs.hatch_dirs(machine, access, env, home)[0],
    ]
    places.extend((f"tool:{tool}:{levels}", d, label) for d, label, tool, levels in tool_dirs)
    return places


def _conda_prefixes(env: Mapping[str, str]) -> list[tuple[str, str]]:
    """The conda prefixes an account's variables name: ``$CONDA_PREFIX``, and the install its
    ``$CONDA_EXE`` (``<install>/bin/conda`` or ``condabin/conda``) runs from."""
    out = []
    prefix = env.get("CONDA_PREFIX", "")
    if prefix.startswith("/"):
        out.append((posixpath.normpath(prefix), "$CONDA_PREFIX"))
    exe = env.get("CONDA_EXE", "")
    bin_dir = posixpath.dirname(posixpath.normpath(exe)) if exe.startswith("/") else ""
    if posixpath.basename(bin_dir) in ("bin", "condabin"):
        out.append((posixpath.dirname(bin_dir), "$CONDA_EXE"))
    return out


def _visit(
    machine: Machine,
    access: Access,
    account: Account,
    places: Sequence[_Place],
    suffix: str,
    found: _Found,
    env: Mapping[str, str],
) -> None:
    join = machine.pathmod.join
    for what, directory, label in places:
        if what.startswith("versions:"):
            kind = what.split(":", 1)[1]
            envs = interpreters.versions_dir(access, directory, kind, machine.platform, join)
            if kind == "pyenv":  # pyenv-virtualenv's, wherever $PYENV_ROOT is (not only homes)
                envs.extend(_pyenv_virtualenvs(access, envs, machine.platform, join))
            if suffix:
                envs = [replace(e, found_by=tuple(f + suffix for f in e.found_by)) for e in envs]
            found.add(envs)
        elif what == "cellar":
            found.add(interpreters.cellar(access, directory, machine.platform, join))
        elif what == "condarc":
            more, missed = condaenvs.envs_dirs(machine, access, directory, account, join, env)
            if suffix:
                more = [replace(e, found_by=tuple(f + suffix for f in e.found_by)) for e in more]
            found.add(more, missed)
        elif what == "prefix":
            parent, name = machine.pathmod.split(directory)
            if name:
                found.add(
                    *homewalk.children(
                        access, parent, label + suffix, machine.platform, join, only=name
                    )
                )
        elif what.startswith("tool:"):
            _, tool, levels = what.split(":")
            found.add(
                *homewalk.children(
                    access,
                    directory,
                    label + suffix,
                    machine.platform,
                    join,
                    None,
                    tool,
                    int(levels),
                )
            )
        else:
            found.add(*homewalk.children(access, directory, label + suffix, machine.platform, join))


def _pyenv_virtualenvs(
    access: Access, versions: Sequence[Environment], platform: str, join: Callable[..., str]
) -> list[Environment]:
    """The environments in each pyenv version's ``envs/``: pyenv-virtualenv's, whose
    ``versions/NAME`` links are passed over (each is found once, where it really is)."""
    found: list[Environment] = []
    for version in versions:
        envs_dir = join(version.prefix, "envs")
        found.extend(homewalk.children(access, envs_dir, "pyenv versions/", platform, join)[0])
    return found


def _tool_dirs(machine: Machine, account: Account, env: Mapping[str, str]) -> list[tuple[str, str]]:
    """Tools' environment directories that the home walk does not reach (or that live elsewhere)."""
    join = machine.pathmod.join
    dirs: list[tuple[str, str]] = []
    for variable, label in (("WORKON_HOME", "$WORKON_HOME"), ("PIPX_HOME", "$PIPX_HOME")):
        value = env.get(variable)
        if value:
            dirs.append((join(value, "venvs") if variable == "PIPX_HOME" else value, label))
    sep = ";" if machine.platform == "win32" else ":"
    for variable in ("CONDA_ENVS_DIRS", "CONDA_ENVS_PATH"):
        for directory in (env.get(variable) or "").split(sep):
            if directory and machine.pathmod.isabs(directory):
                dirs.append((directory, f"${variable}"))
    return dirs


def running_prefixes(
    machine: Machine,
    anchor: int,
    found: list[Environment],
    running: Sequence[Running],
    owners: Optional[Collection[int]] = None,
    homes: Sequence[str] = (),
) -> list[Environment]:
    """The environments running processes use that discovery did not find (outside every home,
    or deeper than the walk goes), found by the process that runs from them: root's or that
    process's account's (with ``owners``: only theirs); and the conda install each one of
    ``.../envs/NAME`` belongs to, with its environments, unless it lies in a home (``homes``)."""
    known = {e.prefix for e in found}
    join = machine.pathmod.join
    out: list[Environment] = []
    for item in running:
        if item.prefix in known or not _walkable_home(item.prefix):
            continue
        known.add(item.prefix)
        label = f"running process (pid {item.pid}, {item.how})"
        parent, name = machine.pathmod.split(item.prefix)
        if not name:
            continue
        access = AsRoot(anchor, frozenset({0, item.uid}))
        more, _ = homewalk.children(access, parent, label, machine.platform, join, only=name)
        # a variable can name any directory: only the process's own or root's are taken
        allowed = (0, item.uid) if owners is None else owners
        more = [e for e in more if e.owner_uid in allowed]
        out.extend(more)
        climbed, _ = condainstalls.climb(access, more, _real_homes(homes), machine.platform, join)
        for env in climbed:
            if env.prefix not in known and env.owner_uid in allowed:
                known.add(env.prefix)
                out.append(env)
    return out


def check_bases(anchor: int, envs: Sequence[Environment]) -> list[Environment]:
    """Mark each environment whose base interpreter is gone."""
    checked = []
    for env in envs:
        base = env.base_interpreter
        if env.exists and base and machine_path(base):
            trusted = {0} if env.owner_uid is None else {0, env.owner_uid}
            try:
                opened = safefs.open_path(
                    anchor, base, trusted_links=trusted, follow_last=True, directory=False
                )
                os.close(opened.fd)
            except safefs.NotFound:
                env = replace(env, problems=(*env.problems, f"base interpreter {base} is gone"))
            except safefs.UnsafePath:
                pass
        checked.append(env)
    return checked


def machine_path(path: str) -> bool:
    """An absolute POSIX path (Windows bases are not checked from a POSIX host)."""
    return path.startswith("/")


def attach_caches(
    envs: Sequence[Environment],
    finder: Finder,
    every: Sequence[Account],
    chosen: Sequence[Account],
    resolved: Sequence[AccountCaches],
) -> tuple[list[Environment], list[AccountCaches]]:
    """Each environment's caches (its site ``pip.conf`` over its owner's config), and the
    resolutions that came from site configs (so that caches only they name get scanned)."""
    by_uid = {a.uid: a for a in every}
    known = {ac.account.uid: ac for ac in resolved}
    homes = tuple(a.home.rstrip("/") + "/" for a in chosen if a.home not in ("", "/"))
    basename = "pip.ini" if finder.machine.platform == "win32" else "pip.conf"
    site_only: list[AccountCaches] = []
    out = []
    for env in envs:
        if not env.exists:
            out.append(env)
            continue
        if env.kind == "unknown":
            out.append(env)
            continue
        site = finder.machine.pathmod.join(env.prefix, basename)
        owner = by_uid.get(env.owner_uid) if env.owner_uid is not None else None
        has_site, problem = _exists(finder, site, owner)
        if problem:
            env = replace(env, problems=(*env.problems, problem))
        shared = env.owner_uid == 0 and not env.prefix.startswith(homes)
        if shared:
            uses: list[CacheUse] = []
            problems: list[str] = []
            if has_site:
                for account in chosen:
                    full = finder.resolve(account, site_prefix=env.prefix)
                    ac = _site_uses(full, site)
                    site_only.append(ac)
                    uses.extend(ac.uses)
                    problems.extend(_site_problems(full, site))
            problems = list(dict.fromkeys((*env.problems, *problems)))
            out.append(replace(env, shared=True, caches=tuple(uses), problems=tuple(problems)))
            continue
        if owner is None:
            problem = f"owned by uid {env.owner_uid}, which has no account: its caches are unknown"
            out.append(replace(env, problems=(*env.problems, problem)))
            continue
        if has_site:
            ac = finder.resolve(owner, site_prefix=env.prefix)
            site_only.append(_site_uses(ac, site))
            env = replace(env, problems=(*env.problems, *_site_problems(ac, site)))
        else:
            ac = known.get(owner.uid) or finder.resolve(owner)
            known[owner.uid] = ac
        out.append(replace(env, caches=ac.uses))
    return out, [ac for ac in site_only if ac.uses]


def _site_problems(ac: AccountCaches, site: str) -> list[str]:
    """What the site config itself broke (pip stops, or the file could not be read)."""
    return [p.reason for p in ac.problems if p.path == site or site in p.reason]


def _site_uses(ac: AccountCaches, site: str) -> AccountCaches:
    return replace(ac, uses=tuple(u for u in ac.uses if u.source.file == site), problems=())


def _exists(finder: Finder, path: str, owner: Optional[Account]) -> tuple[bool, Optional[str]]:
    """Whether a site config is there, or why it could not be read (then pip's view is unknown)."""
    account = owner or Account("root", 0, 0, "/root")
    try:
        return finder.read_config(path, account) is not None, None
    except PermissionError:
        return False, None  # its owner's pip passes it over
    except OSError as exc:
        return False, f"site config not read, so its caches are unknown: {exc}"
