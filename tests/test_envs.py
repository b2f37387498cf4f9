"""Environments and interpreters: every kind by its marker, the home walk's limits, conda's registries,
site pip.conf redirects, selfcheck evidence, and versions read from files before anything is run."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import pytest

from fleetcache.discovery import homewalk
from fleetcache.machine import Machine
from fleetcache.model import Environment
from fleetcache.scan import Selection, environments, scan
from tests.conftest import Tree, chown_tree

ROOT = os.geteuid() == 0
ALICE = 1000 if ROOT else os.getuid()
BOB = 1001 if ROOT else os.getuid()
ROOT_ONLY = pytest.mark.skipif(not ROOT, reason="gives files to other uids: needs root")

VIRTUALENV_CFG = """home = /usr/bin
implementation = CPython
version_info = 3.11.2.final.0
virtualenv = 20.26.6
include-system-site-packages = false
base-prefix = /usr
base-exec-prefix = /usr
base-executable = /usr/bin/python3.11
"""
VENV_CFG = "home = /usr/bin\ninclude-system-site-packages = false\nversion = 3.11.2\n"
UV_CFG = "home = /usr/bin\nimplementation = CPython\nuv = 0.13.9\nversion_info = 3.11.2\n"
CONDA_HISTORY = "==> 2026-01-02 10:00:00 <==\n# cmd: {cmd}\n# conda version: 24.11.0\n+conda-forge/linux-64::python-{v}-h1_0\n"


# prefixes of this host's interpreters copied into the tree as real venvs' bases
HOST_BASES: set[str] = set()


def selfcheck_name(prefix: str) -> str:
    return hashlib.sha224(prefix.encode()).hexdigest()


def real_venv(tree: Tree, machine_path: str, *args: str, tool: str = "venv") -> None:
    """A real environment made by ``venv`` or ``virtualenv``; its base interpreter exists in the tree too."""
    target = tree.host(machine_path)
    target.parent.mkdir(parents=True, exist_ok=True)
    cmd = [sys.executable, "-m", tool, *args, str(target)]
    subprocess.run(cmd, check=True, capture_output=True)
    cfg = dict(line.split(" = ", 1) for line in (target / "pyvenv.cfg").read_text().splitlines())
    base = cfg.get("base-executable") or cfg.get("executable") or cfg["home"] + "/python3"
    if not tree.host(base).exists():
        tree.write(base, "")
        HOST_BASES.add(str(Path(base).parent.parent))


def conda_prefix(tree: Tree, prefix: str, version: str, cmd: str, base: bool = False) -> None:
    tree.write(f"{prefix}/conda-meta/history", CONDA_HISTORY.format(cmd=cmd, v=version))
    tree.write(f"{prefix}/conda-meta/python-{version}-h1_0_cpython.json", "{}")
    tree.write(f"{prefix}/conda-meta/python-dateutil-2.9.0-pyhd8ed1ab_0.json", "{}")
    tree.write(f"{prefix}/bin/python", "")
    if base:
        tree.host(f"{prefix}/condabin").mkdir(parents=True)
        tree.host(f"{prefix}/pkgs/python-{version}").mkdir(parents=True)


def build_fleet(tree: Tree) -> None:
    """A machine with every kind of environment fleetcache names, and the traps around them."""
    tree.user("alice", ALICE)
    tree.user("bob", BOB)
    a = "/home/alice"
    # the system's interpreter, its headers, and a venv and a conda install under /opt
    tree.write("/usr/bin/python3.11", "")
    os.symlink("python3.11", tree.host("/usr/bin/python3"))
    tree.write("/usr/include/python3.11/patchlevel.h", '#define PY_VERSION "3.11.2"\n')
    tree.write("/opt/tools/pyvenv.cfg", VENV_CFG)
    tree.write("/opt/tools/bin/python", "")
    conda_prefix(tree, "/opt/conda", "3.12.1", "/opt/conda/bin/conda install -y x", base=True)
    conda_prefix(tree, "/opt/conda/envs/shared", "3.10.4", "conda create -n shared")
    tree.write("/etc/conda/condarc", "envs_dirs:\n  - /srv/envs  # team envs\n")
    conda_prefix(tree, "/srv/envs/team", "3.11.9", "conda create -p /srv/envs/team")
    # real environments, with and without pip
    real_venv(tree, f"{a}/proj/.venv", "--without-pip")
    real_venv(tree, f"{a}/proj-pip/venv")
    real_venv(tree, f"{a}/ve", "--no-pip", "--no-setuptools", "--no-wheel", tool="virtualenv")
    real_venv(tree, f"{a}/ve-pip", "--no-setuptools", "--no-wheel", tool="virtualenv")
    # its site pip.conf sends this venv's pip to a cache nothing else names
    tree.write(f"{a}/proj/.venv/pip.conf", f"[global]\ncache-dir = {a}/venv-cache\n")
    tree.write(f"{a}/venv-cache/wheels/ab/cd/ef/{'1' * 50}/x-1.0-py3-none-any.whl", b"w" * 100)
    # each tool's layout
    tree.write(f"{a}/.cache/pypoetry/virtualenvs/demo-AbCdEf12-py3.11/pyvenv.cfg", VIRTUALENV_CFG)
    tree.write(f"{a}/proj-poetry/poetry.lock", "")
    tree.write(f"{a}/proj-poetry/.venv/pyvenv.cfg", VIRTUALENV_CFG)
    tree.write(f"{a}/.local/share/pipx/venvs/black/pyvenv.cfg", VENV_CFG)
    tree.write(f"{a}/.local/share/pipx/venvs/black/pipx_metadata.json", "{}")
    tree.write(f"{a}/.local/share/pipx/shared/pyvenv.cfg", VENV_CFG)
    tree.write(f"{a}/proj-uv/.venv/pyvenv.cfg", UV_CFG)
    tree.write(f"{a}/proj-uv/uv.lock", "")
    tree.write(f"{a}/.local/share/uv/tools/ruff/pyvenv.cfg", UV_CFG)
    tree.write(f"{a}/.local/share/uv/tools/ruff/uv-receipt.toml", "[tool]\n")
    uv_python = f"{a}/.local/share/uv/python/cpython-3.12.1-linux-x86_64-gnu"
    tree.write(f"{uv_python}/bin/python3.12", "")
    os.symlink("python3.12", tree.host(f"{uv_python}/bin/python3"))
    tree.write(f"{uv_python}/lib/python3.12/os.py", "")
    pyenv = f"{a}/.pyenv/versions/3.11.7"
    tree.write(f"{pyenv}/bin/python3", "")
    tree.write(f"{pyenv}/include/python3.11/patchlevel.h", '#define PY_VERSION "3.11.7"\n')
    tree.write(f"{pyenv}/lib/python3.11/os.py", "")
    tree.write(f"{pyenv}/envs/tools/pyvenv.cfg", VENV_CFG.replace("/usr/bin", f"{pyenv}/bin"))
    os.symlink(f"{pyenv}/envs/tools", tree.host(f"{a}/.pyenv/versions/tools"))
    tree.write(f"{a}/.local/share/virtualenvs/web-Ab12Cd34/pyvenv.cfg", VIRTUALENV_CFG)
    tree.write(f"{a}/.local/share/virtualenvs/web-Ab12Cd34/.project", f"{a}/web")
    tree.write(f"{a}/.virtualenvs/work/pyvenv.cfg", VIRTUALENV_CFG)
    tree.write(f"{a}/.virtualenvs/work/bin/postactivate", "")
    tree.write(f"{a}/.local/share/hatch/env/virtual/app/Xy12abcd/app/pyvenv.cfg", VIRTUALENV_CFG)
    tree.write(f"{a}/.local/share/pdm/venvs/app-Xy12abcd-3.11/pyvenv.cfg", VIRTUALENV_CFG)
    tree.write(f"{a}/proj/.tox/py311/pyvenv.cfg", VIRTUALENV_CFG)
    tree.write(f"{a}/proj/.nox/tests/pyvenv.cfg", VIRTUALENV_CFG)
    # conda: a miniforge install, a mamba env in it, envs_dirs, a registry with a stale line, pixi
    conda_prefix(tree, f"{a}/miniforge3", "3.12.1", f"{a}/miniforge3/bin/conda install x", True)
    conda_prefix(tree, f"{a}/miniforge3/envs/sci", "3.11.5", "mamba create -n sci python")
    conda_prefix(tree, f"{a}/conda-envs/ml", "3.10.12", "conda create -p ml")
    tree.write(f"{a}/.condarc", "channels: [conda-forge]\nenvs_dirs:\n  - ~/conda-envs\n")
    registry = [f"{a}/miniforge3", f"{a}/miniforge3/envs/sci", f"{a}/gone-env"]
    tree.write(f"{a}/.conda/environments.txt", "\n".join(registry) + "\n")
    conda_prefix(tree, f"{a}/proj-pixi/.pixi/envs/default", "3.12.1", "pixi install")
    tree.write(f"{a}/proj-pixi/.pixi/envs/default/conda-meta/pixi", "")
    # traps: a venv whose base is gone, one too deep, a link loop, a link out of the home
    tree.write(f"{a}/old/pyvenv.cfg", "home = /usr/local/python-gone/bin\nversion = 3.8.1\n")
    tree.write(f"{a}/d1/d2/d3/d4/d5/d6/d7/d8/.venv/pyvenv.cfg", VENV_CFG)
    os.symlink(a, tree.host(f"{a}/loop"))
    os.symlink("/opt", tree.host(f"{a}/opt-link"))
    tree.write(f"{a}/node_modules/pkg/.venv/pyvenv.cfg", VENV_CFG)
    # selfcheck evidence in alice's cache: one prefix alive, one gone
    for prefix in (f"{a}/ve", f"{a}/gone-venv"):
        record = json.dumps({"key": prefix, "last_check": "2026-01-01T00:00:00Z"})
        tree.write(f"{a}/.cache/pip/selfcheck/{selfcheck_name(prefix)}", record)
    chown_tree(tree.host(a), ALICE)
    tree.write("/home/bob/.venv/pyvenv.cfg", VENV_CFG)
    chown_tree(tree.host("/home/bob"), BOB)


@pytest.fixture(scope="module")
def fleet(tmp_path_factory: pytest.TempPathFactory) -> Tree:
    tree = Tree(tmp_path_factory.mktemp("fleet") / "machine")
    build_fleet(tree)
    return tree


def by_prefix(envs: tuple[Environment, ...]) -> dict[str, Environment]:
    return {e.prefix: e for e in envs}


@pytest.fixture(scope="module")
def found(fleet: Tree) -> dict[str, Environment]:
    result = environments(Machine(root=str(fleet.root)), Selection())
    return by_prefix(result.environments)


A = "/home/alice"
EXPECTED_KINDS = {
    "/usr": "system",
    "/opt/tools": "venv",
    "/opt/conda": "conda",
    "/opt/conda/envs/shared": "conda",
    "/srv/envs/team": "conda",
    f"{A}/proj/.venv": "venv",
    f"{A}/proj-pip/venv": "venv",
    f"{A}/ve": "virtualenv",
    f"{A}/ve-pip": "virtualenv",
    f"{A}/.cache/pypoetry/virtualenvs/demo-AbCdEf12-py3.11": "poetry",
    f"{A}/proj-poetry/.venv": "poetry",
    f"{A}/.local/share/pipx/venvs/black": "pipx",
    f"{A}/.local/share/pipx/shared": "pipx",
    f"{A}/proj-uv/.venv": "uv",
    f"{A}/.local/share/uv/tools/ruff": "uv",
    f"{A}/.local/share/uv/python/cpython-3.12.1-linux-x86_64-gnu": "uv-python",
    f"{A}/.pyenv/versions/3.11.7": "pyenv",
    f"{A}/.pyenv/versions/3.11.7/envs/tools": "pyenv-virtualenv",
    f"{A}/.local/share/virtualenvs/web-Ab12Cd34": "pipenv",
    f"{A}/.virtualenvs/work": "virtualenvwrapper",
    f"{A}/.local/share/hatch/env/virtual/app/Xy12abcd/app": "hatch",
    f"{A}/.local/share/pdm/venvs/app-Xy12abcd-3.11": "pdm",
    f"{A}/proj/.tox/py311": "tox",
    f"{A}/proj/.nox/tests": "nox",
    f"{A}/miniforge3": "miniforge",
    f"{A}/miniforge3/envs/sci": "mamba",
    f"{A}/conda-envs/ml": "conda",
    f"{A}/gone-env": "conda",
    f"{A}/proj-pixi/.pixi/envs/default": "pixi",
    f"{A}/old": "venv",
    "/home/bob/.venv": "venv",
    f"{A}/gone-venv": "unknown",
}


def test_every_kind_is_named_by_its_most_specific_marker(found: dict[str, Environment]):
    assert {p: e.kind for p, e in found.items() if p not in HOST_BASES} == EXPECTED_KINDS


def test_interpreters_and_environments_are_told_apart(found: dict[str, Environment]):
    interpreters = sorted(
        p for p, e in found.items() if e.role == "interpreter" and p not in HOST_BASES
    )
    assert interpreters == sorted(
        ["/usr", "/opt/conda", f"{A}/miniforge3", f"{A}/.pyenv/versions/3.11.7",
         f"{A}/.local/share/uv/python/cpython-3.12.1-linux-x86_64-gnu"]
    )  # fmt: skip
    assert found["/usr"].interpreter == "/usr/bin/python3.11"
    assert found["/usr"].marker == "system bin dir (also python3)"


def test_versions_come_from_files(found: dict[str, Environment]):
    got = {p: (e.python_version, e.version_from) for p, e in found.items() if e.exists}
    real = ".".join(map(str, sys.version_info[:3]))
    assert got["/usr"] == ("3.11.2", "patchlevel.h")
    assert got[f"{A}/proj/.venv"] == (real, "pyvenv.cfg")
    assert got[f"{A}/ve-pip"] == (real, "pyvenv.cfg")
    assert got[f"{A}/.pyenv/versions/3.11.7"] == ("3.11.7", "directory name")
    assert got[f"{A}/.local/share/uv/python/cpython-3.12.1-linux-x86_64-gnu"] == (
        "3.12.1",
        "directory name",
    )
    assert got[f"{A}/miniforge3/envs/sci"] == ("3.11.5", "conda-meta")
    assert got[f"{A}/proj-uv/.venv"] == ("3.11.2", "pyvenv.cfg")


def test_how_each_was_found(found: dict[str, Environment]):
    assert found[f"{A}/.cache/pypoetry/virtualenvs/demo-AbCdEf12-py3.11"].found_by == (
        "poetry virtualenvs",
    )
    assert found[f"{A}/miniforge3/envs/sci"].found_by == (
        "~/.conda/environments.txt", "conda envs/", "home walk")  # fmt: skip
    assert found[f"{A}/conda-envs/ml"].found_by == (f"envs_dirs in {A}/.condarc", "home walk")
    assert found["/srv/envs/team"].found_by == ("envs_dirs in /etc/conda/condarc",)
    assert found["/opt/conda/envs/shared"].found_by == ("conda envs/",)
    assert found[f"{A}/.pyenv/versions/3.11.7"].found_by == ("pyenv versions/",)
    assert found[f"{A}/proj/.venv"].found_by == ("home walk",)
    assert found[f"{A}/proj/.tox/py311"].project == f"{A}/proj"
    assert found[f"{A}/proj-pixi/.pixi/envs/default"].project == f"{A}/proj-pixi"
    assert found[f"{A}/proj-poetry/.venv"].marker == "poetry.lock beside it"


def test_registered_but_missing_and_base_gone_are_reported(found: dict[str, Environment]):
    gone = found[f"{A}/gone-env"]
    assert not gone.exists
    assert gone.problems == (f"registered in {A}/.conda/environments.txt but missing",)
    assert found[f"{A}/old"].problems == (
        "base interpreter /usr/local/python-gone/bin/python3 is gone",
    )
    healthy = [p for p, e in found.items() if e.exists and e.problems]
    assert healthy == [f"{A}/old"]


def test_owner_and_caches_follow_the_owner_and_the_site_config(found: dict[str, Environment]):
    assert found["/home/bob/.venv"].owner == "bob"
    assert found["/home/bob/.venv"].cache_paths == ("/home/bob/.cache/pip",)
    assert found[f"{A}/ve"].cache_paths == (f"{A}/.cache/pip",)
    site = found[f"{A}/proj/.venv"]
    assert site.cache_paths == (f"{A}/venv-cache",)
    assert {u.source.describe() for u in site.caches} == {f"{A}/proj/.venv/pip.conf [global]"}
    assert found["/usr"].shared and found["/usr"].caches == ()


def test_selfcheck_ties_prefixes_to_caches(found: dict[str, Environment]):
    assert found[f"{A}/ve"].selfcheck_caches == (f"{A}/.cache/pip",)
    gone = found[f"{A}/gone-venv"]
    assert not gone.exists
    assert gone.problems == (f"named in selfcheck/ of {A}/.cache/pip but gone",)


def test_sizes_count_real_files(found: dict[str, Environment]):
    with_pip = found[f"{A}/proj-pip/venv"]
    without = found[f"{A}/proj/.venv"]
    assert with_pip.size_bytes is not None and without.size_bytes is not None
    assert with_pip.size_bytes > without.size_bytes + 1_000_000  # pip itself is megabytes
    assert with_pip.files and with_pip.last_modified


def test_the_walk_is_bounded_and_reports_what_it_cut(fleet: Tree):
    machine = Machine(root=str(fleet.root))
    result = environments(machine, Selection(users=("alice",), sizes=False))
    prefixes = {e.prefix for e in result.environments}
    deep = f"{A}/d1/d2/d3/d4/d5/d6/d7/d8/.venv"
    assert deep not in prefixes
    assert f"{A}/node_modules/pkg/.venv" not in prefixes
    assert not any(p.startswith((f"{A}/loop", f"{A}/opt-link")) for p in prefixes)
    cut = [s for s in result.skipped if "below depth 8 not searched" in s.reason]
    assert [s.path for s in cut] == [A]
    deeper = replace(Selection().env_search, limits=homewalk.WalkLimits(max_depth=9))
    result = environments(machine, Selection(users=("alice",), sizes=False, env_search=deeper))
    assert deep in {e.prefix for e in result.environments}


def test_scan_finds_the_cache_only_a_site_config_names(fleet: Tree):
    result = scan(Machine(root=str(fleet.root)), Selection(sizes=False))
    caches = {c.location.path: c for c in result.caches}
    site = caches[f"{A}/venv-cache"]
    assert site.exists and site.figures.wheel_files == 1
    assert [s.file for s in site.location.sources] == [f"{A}/proj/.venv/pip.conf"]
    assert site.environments == (f"{A}/proj/.venv",)
    assert len(caches[f"{A}/.cache/pip"].environments) > 10
    without = scan(Machine(root=str(fleet.root)), Selection(envs=False))
    assert f"{A}/venv-cache" not in {c.location.path for c in without.caches}
    assert without.environments == ()


def test_network_home_is_not_walked_unless_asked(fleet: Tree):
    nfs = Machine(root=str(fleet.root), fstype=lambda dev: "nfs4")
    result = environments(nfs, Selection(users=("bob",), sizes=False))
    assert "/home/bob/.venv" not in {e.prefix for e in result.environments}
    assert [s.reason for s in result.skipped if s.path == "/home/bob"] == [
        "on a network filesystem (nfs4); not searched for environments (--include-remote)"
    ]
    remote = replace(Selection().env_search, limits=homewalk.WalkLimits(include_remote=True))
    result = environments(nfs, Selection(users=("bob",), sizes=False, env_search=remote))
    assert "/home/bob/.venv" in {e.prefix for e in result.environments}


def test_time_budget_stops_a_home_and_says_so(fleet: Tree):
    ticks = iter(range(1000))
    machine = Machine(root=str(fleet.root))
    anchor = os.open(fleet.root, os.O_RDONLY)
    try:
        envs, skipped = homewalk.walk_home(
            machine, anchor, A, frozenset({0, ALICE}), homewalk.WalkLimits(budget=3),
            clock=lambda: float(next(ticks)),
        )  # fmt: skip
    finally:
        os.close(anchor)
    assert len(envs) < 3
    assert [s.reason for s in skipped][-1].startswith("environment search stopped after 3 s")


def test_unreadable_directory_is_reported_and_passed(fleet: Tree, monkeypatch):
    locked = os.stat(fleet.host(f"{A}/proj-uv")).st_ino
    real_scandir = os.scandir

    def scandir(fd: int):  # the failing syscall an unreadable directory gives
        if isinstance(fd, int) and os.fstat(fd).st_ino == locked:
            raise PermissionError(13, "Permission denied")
        return real_scandir(fd)

    monkeypatch.setattr(os, "scandir", scandir)
    result = environments(Machine(root=str(fleet.root)), Selection(users=("alice",), sizes=False))
    prefixes = {e.prefix for e in result.environments}
    assert f"{A}/proj-uv/.venv" not in prefixes and f"{A}/proj/.venv" in prefixes
    assert (f"{A}/proj-uv", "Permission denied") in {(s.path, s.reason) for s in result.skipped}


@ROOT_ONLY
def test_a_home_reached_through_someone_elses_link_is_refused(tree: Tree):
    tree.user("mallory", 1002)
    tree.write("/srv/victim/.venv/pyvenv.cfg", VENV_CFG)
    tree.user("carol", 1003, home="/home/carol", make_home=False)
    os.symlink("/srv/victim", tree.host("/home/carol"))
    os.lchown(tree.host("/home/carol"), 1002, 1002)
    result = environments(Machine(root=str(tree.root)), Selection(users=("carol",), sizes=False))
    assert "/srv/victim/.venv" not in {e.prefix for e in result.environments}
    assert any("symbolic link owned by uid 1002" in s.reason for s in result.skipped)


def test_a_shared_environments_site_config_applies_to_every_account(tree: Tree):
    tree.user("alice", ALICE)
    tree.user("bob", BOB)
    tree.write("/opt/tools/pyvenv.cfg", VENV_CFG)
    tree.write("/opt/tools/pip.conf", "[install]\ncache-dir = ~/.cache/tools-pip\n")
    result = scan(Machine(root=str(tree.root)), Selection(users=("alice", "bob"), sizes=False))
    (tools,) = [e for e in result.environments if e.prefix == "/opt/tools"]
    assert tools.shared
    assert tools.cache_paths == ("/home/alice/.cache/tools-pip", "/home/bob/.cache/tools-pip")
    assert {u.source.commands for u in tools.caches} == {("install",)}
    caches = {c.location.path: c for c in result.caches}
    assert caches["/home/bob/.cache/tools-pip"].location.users == ("bob",)
    assert caches["/home/alice/.cache/tools-pip"].environments == ("/opt/tools",)


def test_hostile_registries_and_markers_are_reported_not_crashed_on(tree: Tree):
    tree.user("alice", ALICE)
    a = "/home/alice"
    lines = ["/", f"{a}/{'x' * 300}", f"{a}/nul\0byte", f"{a}/bad-site"]
    tree.write(f"{a}/.conda/environments.txt", "\n".join(lines) + "\n")
    tree.write(f"{a}/.condarc", "envs_dirs: ['/dev/null', relative/dir, '/nonexistent']\n")
    tree.write(f"{a}/bad-site/pyvenv.cfg", "home = /usr/bin\nversion_info = 3.13.0.candidate.1\n")
    tree.write(f"{a}/bad-site/pip.conf", "[global\ncache-dir = /x\n")
    tree.write(f"{a}/.local/share/virtualenvs/wrapped/pyvenv.cfg", VENV_CFG)
    tree.write(f"{a}/.local/share/virtualenvs/wrapped/bin/postactivate", "")
    tree.write(f"{a}/fifo-env/bin/python", "")
    os.mkfifo(tree.host(f"{a}/fifo-env/pyvenv.cfg"))
    tree.write("/usr/bin/python3.10", "")
    tree.write("/usr/bin/python3.12", "")
    tree.write("/usr/include/python3.12/patchlevel.h", '#define PY_VERSION "3.12.1\x1b[31m"\n')
    chown_tree(tree.host(a), ALICE)
    result = environments(Machine(root=str(tree.root)), Selection(users=("alice",)))
    found = {(e.prefix, e.interpreter): e for e in result.environments}
    registered_root = found[("/", None)]
    assert (registered_root.kind, registered_root.size_bytes, registered_root.caches) == (
        "unknown", None, ())  # fmt: skip
    assert registered_root.problems == (
        f"registered in {a}/.conda/environments.txt but holds no environment",
    )
    bad = found[(f"{a}/bad-site", None)]
    assert bad.python_version == "3.13.0rc1"
    assert bad.problems == (
        "base interpreter /usr/bin/python3 is gone",
        f"every pip command stops for alice: {a}/bad-site/pip.conf is not a valid pip config "
        "file (line 1)",
    )
    wrapped = found[(f"{a}/.local/share/virtualenvs/wrapped", None)]
    assert wrapped.kind == "virtualenvwrapper"
    fifo = found[(f"{a}/fifo-env", f"{a}/fifo-env/bin/python")]
    assert fifo.problems == (
        "pyvenv.cfg could not be read",
        "version unknown: interpreters under --root are not run",
    )
    assert found[("/usr", "/usr/bin/python3.12")].python_version == "3.12.1"
    assert found[("/usr", "/usr/bin/python3.10")].kind == "system"
    reasons = {s.path: s.reason for s in result.skipped}
    assert reasons[f"{a}/{'x' * 300}"].endswith("File name too long")
    assert reasons[f"{a}/nul\0byte"].endswith("a path with a NUL byte")


def test_scan_without_environments_says_they_were_not_looked_for(fleet: Tree, capsys):
    from fleetcache.cli import main

    assert main(["scan", "--root", str(fleet.root), "--no-envs", "-f", "json", "-u", "bob"]) == 0
    assert json.loads(capsys.readouterr().out)["environments"] is None


def test_another_filesystem_in_a_home_is_not_walked(tree: Tree):
    tree.user("alice", ALICE)
    mnt = tree.host(f"{A}/data")
    mnt.mkdir()
    if subprocess.run(["mount", "-t", "tmpfs", "tmpfs", str(mnt)], capture_output=True).returncode:
        pytest.skip("mounting a tmpfs is not permitted here")
    try:
        tree.write(f"{A}/data/.venv/pyvenv.cfg", VENV_CFG)
        tree.write(f"{A}/proj/.venv/pyvenv.cfg", VENV_CFG)
        chown_tree(tree.host(A), ALICE)
        result = environments(Machine(root=str(tree.root)), Selection(users=("alice",)))
        assert [e.prefix for e in result.environments] == [f"{A}/proj/.venv"]
        assert (f"{A}/data", "another filesystem is mounted here; not entered") in {
            (s.path, s.reason) for s in result.skipped
        }
    finally:
        subprocess.run(["umount", str(mnt)], check=True)
