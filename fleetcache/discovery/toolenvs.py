"""Where tools keep environments as their own settings place them (hatch's data dir, poetry's
``virtualenvs.path``), and the
project files that make a project's in-tree environment a tool's (hatch's ``envs.*.path``,
poetry's ``pyproject.toml`` or ``poetry.toml``)."""

from __future__ import annotations

import posixpath
from collections.abc import Collection, Mapping
from typing import Any, Callable, Optional

from fleetcache import tomlfile
from fleetcache.discovery.access import Access
from fleetcache.machine import Machine
from fleetcache.model import Skipped

# (directory, how it was found, the tool, how many levels below it each environment is)
ToolDir = tuple[str, str, str, int]
# a directory relative to each project that holds a tool's environments -> (the tool, marker)
ProjectDirs = Mapping[str, tuple[str, str]]
HATCH_NESTED = 3  # <dir>/<project>/<project id>/<env name>
PROJECT_FILES = frozenset({"pyproject.toml", "hatch.toml", "poetry.toml"})
# what a pyvenv.cfg alone says: a tool's directory or its project's files say more
WEAK_KINDS = frozenset({"venv", "virtualenv", "uv"})
POETRY_BACKENDS = ("poetry.core.", "poetry.masonry.")
Table = Optional[dict[str, Any]]


def hatch_dirs(
    machine: Machine, access: Access, env: Mapping[str, str], home: str
) -> tuple[list[ToolDir], list[Skipped]]:
    """hatch's virtual environments, as hatch places them: ``[dirs.env] virtual`` in its
    config.toml, else ``env/virtual`` in its data dir ($HATCH_DATA_DIR, ``[dirs] data``, else
    the data home's ``hatch``). Its config is read as ``access`` (the account) reads it."""
    from fleetcache.kinds import hatch, tooldirs  # the kinds import discovery: not at load

    p = machine.pathmod
    skipped: list[Skipped] = []
    file = tooldirs.config_file(machine, hatch.WHERE, env, home)
    table = _read(access, file, skipped)
    virtual = tooldirs.named_dir(machine, tomlfile.text(table, "dirs", "env", "virtual"), home)
    if virtual is not None:  # hatch keeps ~/.virtualenvs flat
        levels = 1 if virtual == p.join(home, ".virtualenvs") else HATCH_NESTED
        return [(virtual, f"[dirs.env] virtual in {file}", "hatch", levels)], skipped
    data = tooldirs.named_dir(machine, env.get("HATCH_DATA_DIR"), home)
    label = "$HATCH_DATA_DIR"
    if data is None:
        data = tooldirs.named_dir(machine, tomlfile.text(table, "dirs", "data"), home)
        label = f"[dirs] data in {file}"
    if data is None:
        share = tooldirs.named_dir(machine, env.get("XDG_DATA_HOME"), home)
        data, label = p.join(share or p.join(home, ".local", "share"), "hatch"), "hatch data dir"
    return [(p.join(data, "env", "virtual"), label, "hatch", HATCH_NESTED)], skipped


def poetry_dirs(
    machine: Machine, access: Access, env: Mapping[str, str], home: str
) -> tuple[list[ToolDir], list[Skipped]]:
    """poetry's virtualenvs directory, as poetry places it: $POETRY_VIRTUALENVS_PATH, else
    ``virtualenvs.path`` in its config.toml (``{cache-dir}`` expanded), else ``virtualenvs`` in
    its cache dir ($POETRY_CACHE_DIR, ``cache-dir``, else the cache home's ``pypoetry``)."""
    from fleetcache.discovery import pipconfig
    from fleetcache.kinds import poetry, tooldirs  # the kinds import discovery: not at load

    skipped: list[Skipped] = []
    file = tooldirs.config_file(machine, poetry.WHERE, env, home)
    table = _read(access, file, skipped)
    cache = tooldirs.named_dir(machine, env.get("POETRY_CACHE_DIR"), home)
    cache_label = "$POETRY_CACHE_DIR"
    if cache is None:
        cache = tooldirs.named_dir(machine, tomlfile.text(table, "cache-dir"), home)
        cache_label = f"cache-dir in {file}"
    if cache is None:
        cache = pipconfig.default_cache_dir(home, machine, env, "pypoetry")[0]
        cache_label = "poetry virtualenvs"
    named = env.get("POETRY_VIRTUALENVS_PATH")
    label = "$POETRY_VIRTUALENVS_PATH"
    if not named:
        named = tomlfile.text(table, "virtualenvs", "path")
        label = f"virtualenvs.path in {file}"
    directory = tooldirs.named_dir(machine, (named or "").replace("{cache-dir}", cache), home)
    if directory is None:
        directory, label = machine.pathmod.join(cache, "virtualenvs"), cache_label
    return [(directory, label, "poetry", 1)], skipped


def hatch_in_projects(
    machine: Machine, access: Access, env: Mapping[str, str], home: str
) -> ProjectDirs:
    """A relative ``[dirs.env] virtual`` in hatch's config.toml: every project's environments
    live in that directory of the project (``<project>/.hatch/<env>``)."""
    from fleetcache.kinds import hatch, tooldirs  # the kinds import discovery: not at load

    file = tooldirs.config_file(machine, hatch.WHERE, env, home)
    value = tomlfile.text(_read(access, file, []), "dirs", "env", "virtual") or ""
    if not value or value.startswith(("/", "~")) or machine.pathmod.isabs(value):
        return {}
    return {posixpath.normpath(value): ("hatch", f"[dirs.env] virtual in {file}")}


def _read(access: Access, file: Optional[str], skipped: list[Skipped]) -> Table:
    """A tool's config file as the account reads it (None: absent, invalid or unreadable)."""
    if file is None:
        return None
    try:
        return tomlfile.loads(access.read(file))
    except OSError as exc:  # the account itself may not read it: nor does its tool
        skipped.append(Skipped(file, f"config not read: {exc}"))
        return None


def project_tool(
    read: Callable[[str], Optional[bytes]],
    names: Collection[str],
    project: str,
    rel: str,
    kind: str,
    in_projects: Optional[ProjectDirs] = None,
) -> Optional[tuple[str, str]]:
    """(kind, marker) when the files of ``project`` (its entries ``names``, read with ``read``)
    make its environment at ``rel`` below it hatch's or poetry's, or the account's settings put
    a tool's environments there (``in_projects``); None when they do not."""
    if kind not in WEAK_KINDS or not PROJECT_FILES.intersection(names):
        return None
    placed = (in_projects or {}).get(posixpath.dirname(rel))
    if placed is not None:
        return placed
    # most projects' files say nothing of either tool: they are not even parsed
    wanted = (b"hatch", b"poetry") if rel == ".venv" else (b"hatch",)
    pyproject = _parse(read, names, "pyproject.toml", wanted)
    sources: list[tuple[Table, tuple[str, ...], str, str]] = [
        (pyproject, ("tool", "hatch", "envs"), "[tool.hatch.envs.{}] path", "pyproject.toml"),
        (_parse(read, names, "hatch.toml", (b"path",)), ("envs",), "[envs.{}] path", "hatch.toml"),
    ]
    for table, keys, what, name in sources:
        for env_name, path in _env_paths(table, keys):
            if posixpath.normpath(path) == rel:
                return "hatch", f"{what.format(env_name)} in {project}/{name}"
    if rel != ".venv" or kind == "uv":  # poetry keeps its in-project environment in .venv
        return None
    if "poetry.toml" in names:
        return "poetry", f"poetry.toml in {project}"
    if isinstance(_get(pyproject, "tool", "poetry"), dict):
        return "poetry", f"[tool.poetry] in {project}/pyproject.toml"
    backend = tomlfile.text(pyproject, "build-system", "build-backend") or ""
    if backend.startswith(POETRY_BACKENDS):
        return "poetry", f"build-backend {backend} in {project}/pyproject.toml"
    return None


def _parse(
    read: Callable[[str], Optional[bytes]], names: Collection[str], name: str, wanted: Any
) -> Table:
    """A project file's table, when it is there and holds one of the ``wanted`` words."""
    data = read(name) if name in names else None
    return tomlfile.loads(data) if data and any(w in data for w in wanted) else None


def _env_paths(table: Table, keys: tuple[str, ...]) -> list[tuple[str, str]]:
    """(environment name, its relative ``path``) of each hatch environment a table sets one for."""
    envs = _get(table, *keys)
    if not isinstance(envs, dict):
        return []
    out = []
    for name, settings in envs.items():
        path = settings.get("path") if isinstance(settings, dict) else None
        if isinstance(path, str) and path and not path.startswith("/"):
            out.append((str(name), path))
    return out


def _get(table: Table, *keys: str) -> Any:
    got: Any = table
    for key in keys:
        got = got.get(key) if isinstance(got, dict) else None
    return got
