"""What an environment's own files say: its kind, its Python version, its base interpreter.

Pure functions over names and file contents; the callers read the files (safely) and pass them in.
Each kind is decided by its most specific marker: a pipx venv is ``pipx``, not ``venv``.
"""

from __future__ import annotations

import json
import re
from collections.abc import Collection, Mapping
from typing import Optional

from packaging.version import InvalidVersion, Version

# Every kind fleetcache names, interpreters first.
KINDS = (
    "system",
    "pyenv",
    "uv-python",
    "homebrew",
    "conda",
    "mamba",
    "miniforge",
    "pixi",
    "pyenv-virtualenv",
    "pipx",
    "poetry",
    "pipenv",
    "virtualenvwrapper",
    "hatch",
    "pdm",
    "tox",
    "nox",
    "uv",
    "virtualenv",
    "venv",
    "unknown",  # a registered or selfcheck-named prefix that holds no environment (now)
)

VERSION = re.compile(r"(\d+\.\d+(?:\.\d+)?(?:(?:a|b|rc)\d+)?)")
# virtualenv's ``version_info = 3.13.0.candidate.1``
VERSION_INFO = re.compile(r"(\d+\.\d+\.\d+)\.(alpha|beta|candidate|final)\.(\d+)")
RELEASE_LEVELS = {"alpha": "a", "beta": "b", "candidate": "rc", "final": ""}
CONDA_PYTHON = re.compile(r"python-(\d+\.\d+\.\d+[a-z0-9]*)-[^-]+\.json")
PATCHLEVEL = re.compile(rb'#define\s+PY_VERSION\s+"([^"]+)"')
STDLIB_DIR = re.compile(r"python\d\.\d+t?")
# an install's versioned library or headers directory (python3.12, python3.13t, pypy3.10): X.Y
VERSIONED_DIR = re.compile(r"(?:python|pypy)(\d\.\d+)t?")
BUILD_DETAILS_BYTES = 64 << 10  # CPython's is ~3 kB: more is no build-details.json
# an installed pip's record: pip-23.0.1.dist-info, or an old egg's pip-9.0.1-py2.7.egg-info
PIP_RECORD = re.compile(r"pip-([^-]+?)(?:-py\d[\d.]*)?\.(?:dist|egg)-info")
METADATA_VERSION = re.compile(rb"^Version:[ \t]*(\S+)[ \t]*\r?$", re.MULTILINE)
PIP_UNKNOWN = "unknown"  # a pip is there, but nothing it installed says which version
MINIFORGE_NAMES = ("miniforge", "mambaforge")
MAMBA_NAMES = ("micromamba", "mamba")

# Lock files that name the tool managing a project's in-tree .venv
PROJECT_LOCKS = (
    ("poetry.lock", "poetry"),
    ("pdm.lock", "pdm"),
    ("Pipfile.lock", "pipenv"),
    ("Pipfile", "pipenv"),
)
# Path pieces of each tool's default environments directory, most specific first.
VENV_HOMES = (
    ("/pipx/venvs/", "pipx"),
    ("/pipx/shared", "pipx"),
    ("/uv/tools/", "uv"),
    ("/pypoetry/virtualenvs/", "poetry"),
    ("/hatch/env/virtual/", "hatch"),
    ("/pdm/venvs/", "pdm"),
    ("/.local/share/virtualenvs/", "pipenv"),
    ("/.virtualenvs/", "virtualenvwrapper"),
)
# what virtualenv < 20 (no pyvenv.cfg) left in lib/pythonX.Y, most telling first
LEGACY_MARKERS = ("no-global-site-packages.txt", "orig-prefix.txt")
VIRTUALENVWRAPPER_HOOKS = ("postactivate", "predeactivate", "postdeactivate", "preactivate")


def parse_pyvenv_cfg(data: bytes) -> dict[str, str]:
    """``pyvenv.cfg`` as the interpreter's ``site`` module reads it: ``key = value`` lines."""
    values: dict[str, str] = {}
    for line in data.decode("utf-8", "replace").splitlines():
        key, sep, value = line.partition("=")
        if sep:
            values[key.strip().lower()] = value.strip()
    return values


def legacy_base(orig_prefix: bytes, minor: str) -> Optional[str]:
    """The base interpreter of a virtualenv < 20: ``orig-prefix.txt`` holds its base's sys.prefix."""
    text = orig_prefix.decode("utf-8", "replace").strip()
    if not text.startswith("/") or any(c in text for c in "\n\0"):
        return None
    return f"{text.rstrip('/')}/bin/python{minor}"


def pyvenv_version(cfg: Mapping[str, str]) -> Optional[str]:
    """``3.11.7`` (or ``3.13.0rc1``) from ``version_info`` (virtualenv, uv) or ``version`` (venv)."""
    for key in ("version_info", "version"):
        value = cfg.get(key, "")
        info = VERSION_INFO.match(value)
        if info:
            level = RELEASE_LEVELS[info.group(2)]
            return info.group(1) + (f"{level}{info.group(3)}" if level else "")
        match = VERSION.match(value)
        if match:
            return match.group(1)
    return None


def patchlevel_version(data: bytes) -> Optional[str]:
    """``PY_VERSION`` from ``include/pythonX.Y/patchlevel.h`` (``3.13.0rc1``, ``3.14.0a1+``)."""
    match = PATCHLEVEL.search(data)
    if not match:
        return None
    version = VERSION.match(match.group(1).decode("ascii", "replace"))
    return version.group(1) if version else None


def build_details_version(data: bytes, minor: str) -> Optional[str]:
    """``3.14.0rc2`` from PEP 739's ``build-details.json`` in ``lib/python<minor>``: its
    ``language.version_info``, which must agree with ``language.version`` and the directory;
    None on any fault (a file cut at the size cap is no JSON)."""
    try:
        table = json.loads(data)
    except (ValueError, RecursionError):
        return None
    language = table.get("language") if isinstance(table, dict) else None
    if not isinstance(language, dict):
        return None
    info = language.get("version_info")
    if not isinstance(info, dict) or not isinstance(info.get("releaselevel"), str):
        return None
    parts = [info.get(key) for key in ("major", "minor", "micro", "serial")]
    level = RELEASE_LEVELS.get(info["releaselevel"])
    if level is None or not all(type(p) is int and 0 <= p < 1000 for p in parts):
        return None
    major, minor_no, micro, serial = parts
    if not language.get("version") == f"{major}.{minor_no}" == minor:
        return None
    return f"{major}.{minor_no}.{micro}" + (f"{level}{serial}" if level else "")


def conda_python_version(meta_names: Collection[str]) -> Optional[str]:
    """The version of the ``python`` package installed in a conda prefix, from ``conda-meta/``."""
    for name in sorted(meta_names):
        match = CONDA_PYTHON.fullmatch(name)
        if match:
            return match.group(1)
    return None


def history_tool(history: bytes) -> Optional[str]:
    """The tool that made a conda prefix, from the first ``# cmd:`` line of ``conda-meta/history``."""
    for line in history.decode("utf-8", "replace").splitlines():
        if line.startswith("# cmd:"):
            words = line[len("# cmd:") :].split()
            program = words[0].rsplit("/", 1)[-1].lower() if words else ""
            if program == "constructor":  # the installer wrote it; Miniforge's names itself
                return "miniforge" if any(n in line.lower() for n in MINIFORGE_NAMES) else None
            if any(program.startswith(n) for n in MAMBA_NAMES):
                return "mamba"
            if "conda" in program:
                return "conda"
            return None
    return None


def venv_kind(
    prefix: str,
    cfg: Mapping[str, str],
    names: Collection[str],
    bin_names: Collection[str],
    parent_names: Collection[str],
) -> tuple[str, str]:
    """(kind, the marker that decided it) for a prefix holding ``pyvenv.cfg``.

    ``names`` are the prefix's entries, ``bin_names`` its ``bin/`` (or ``Scripts/``) entries and
    ``parent_names`` the entries of the directory holding it.
    """
    path = prefix.replace("\\", "/").rstrip("/") + "/"
    parent = path.rstrip("/").rsplit("/", 2)
    if "pipx_metadata.json" in names:
        return "pipx", "pipx_metadata.json"
    if "uv-receipt.toml" in names:
        return "uv", "uv-receipt.toml (a uv tool)"
    if re.search(r"/versions/[^/]+/envs/[^/]+/$", path):
        return "pyenv-virtualenv", "pyenv versions/*/envs/"
    # mkvirtualenv's hooks say more than the directory (WORKON_HOME may be pipenv's too)
    if any(hook in bin_names for hook in VIRTUALENVWRAPPER_HOOKS):
        return "virtualenvwrapper", "virtualenvwrapper hooks in bin/"
    for piece, kind in VENV_HOMES:
        if piece in path:
            return kind, f"under {piece.strip('/')}"
    if len(parent) == 3 and parent[1] in (".tox", ".nox"):
        return parent[1][1:], f"in {parent[1]}/"
    if ".project" in names:
        return "pipenv", ".project"
    if "uv" in cfg:
        return "uv", "pyvenv.cfg uv ="
    for lock, kind in PROJECT_LOCKS:
        if lock in parent_names:
            return kind, f"{lock} beside it"
    if "virtualenv" in cfg:
        return "virtualenv", "pyvenv.cfg virtualenv ="
    return "venv", "pyvenv.cfg"


def conda_kind(
    prefix: str, names: Collection[str], meta_names: Collection[str], tool: Optional[str]
) -> tuple[str, str, str]:
    """(kind, role, marker) for a prefix holding ``conda-meta/``."""
    path = prefix.replace("\\", "/").rstrip("/")
    base = path.rsplit("/", 1)[-1].lower()
    if "pixi" in meta_names or "/.pixi/envs/" in path + "/":
        return "pixi", "environment", "conda-meta/pixi" if "pixi" in meta_names else ".pixi/envs/"
    if "condabin" in names or "envs" in names or "pkgs" in names:
        if tool == "miniforge":
            return "miniforge", "interpreter", "conda-meta/history: Miniforge installer"
        if base.startswith(MINIFORGE_NAMES):
            return "miniforge", "interpreter", f"conda install named {base}"
        if base.startswith(MAMBA_NAMES) or tool == "mamba":
            return "mamba", "interpreter", "mamba install"
        return "conda", "interpreter", "condabin/ or envs/"
    if tool in ("conda", "mamba"):
        return tool, "environment", f"conda-meta/history: made by {tool}"
    return "conda", "environment", "conda-meta/"


def project_of(prefix: str, kind: str) -> Optional[str]:
    """The project directory an in-tree environment belongs to."""
    path = prefix.replace("\\", "/").rstrip("/")
    head, _, name = path.rpartition("/")
    if head.endswith("/.pixi/envs"):
        return head[: -len("/.pixi/envs")] or "/"
    if kind in ("tox", "nox"):
        return head.rpartition("/")[0] or "/"
    if name in (".venv", "venv", ".env", "env", ".conda"):
        return head or "/"
    return None


def is_stdlib_dir(parent: str, name: str) -> bool:
    """``lib/python3.11`` and the like: an installed Python's own files, never an environment."""
    return parent in ("lib", "lib64", "include") and STDLIB_DIR.fullmatch(name) is not None


def pip_record(name: str) -> Optional[str]:
    """The version in the name of pip's ``pip-*.dist-info`` (or egg-info); None for other names."""
    match = PIP_RECORD.fullmatch(name)
    return None if match is None else match.group(1)


def metadata_version(metadata: bytes) -> Optional[str]:
    """``Version:`` of a dist-info's METADATA (its headers end at the first blank line: the
    description below may say anything)."""
    found = METADATA_VERSION.search(metadata.split(b"\n\n", 1)[0])
    return found.group(1).decode("ascii", "replace") if found else None


def oldest_pip(versions: Collection[str]) -> str:
    """The oldest of several installed pips' versions (any may run); unknown when one of them
    is not a version at all."""
    parsed = []
    for text in versions:
        try:
            parsed.append((Version(text), text))
        except InvalidVersion:
            return PIP_UNKNOWN
    return min(parsed)[1]
