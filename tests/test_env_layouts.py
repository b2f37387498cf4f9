"""Layouts the tools leave on real machines, on --root images laid out as each tool lays them out:
legacy virtualenvs, Linuxbrew Pythons, hatch's and poetry's configured places."""

from __future__ import annotations

import os
import shutil
import sys

import pytest

from fleetcache.machine import Machine
from fleetcache.model import Environment
from fleetcache.scan import Selection, environments
from tests.conftest import Tree, chown_tree

ROOT = os.geteuid() == 0
ALICE = 12345 if ROOT else os.getuid()
A = "/home/alice"


def found_in(tree: Tree, *users: str) -> dict[str, Environment]:
    result = environments(Machine(root=str(tree.root)), Selection(users=users, sizes=False))
    return {e.prefix: e for e in result.environments}


def legacy_virtualenv(tree: Tree, prefix: str, minor: str, marker: str, base: str) -> None:
    """What virtualenv < 20 made: no pyvenv.cfg; a copied python, activate scripts, and in
    lib/pythonX.Y the stdlib linked from the base, orig-prefix.txt and (without
    --system-site-packages) no-global-site-packages.txt."""
    tree.write(f"{prefix}/bin/python", "")
    os.symlink("python", tree.host(f"{prefix}/bin/python{minor}"))
    tree.write(f"{prefix}/bin/activate", "# This file must be used with source bin/activate\n")
    tree.write(f"{prefix}/bin/activate_this.py", "")
    lib = f"{prefix}/lib/python{minor}"
    tree.write(f"{lib}/orig-prefix.txt", base)
    if marker == "no-global-site-packages.txt":
        tree.write(f"{lib}/no-global-site-packages.txt", "")
    tree.write(f"{lib}/site.py", "")
    tree.write(f"{lib}/site-packages/pip-9.0.1.dist-info/METADATA", "Version: 9.0.1\n")
    os.symlink(f"{base}/lib/python{minor}/os.py", tree.host(f"{lib}/os.py"))
    os.symlink(f"{base}/include/python{minor}", tree.host(f"{prefix}/include"))


def test_legacy_virtualenvs_without_pyvenv_cfg_are_found(tree: Tree):
    tree.user("alice", ALICE)
    tree.write("/usr/bin/python2.7", "")
    legacy_virtualenv(tree, f"{A}/old27", "2.7", "no-global-site-packages.txt", "/usr")
    legacy_virtualenv(tree, f"{A}/work/old36", "3.6", "orig-prefix.txt", "/opt/py36")
    # not environments: an account's ~/.local, and a project with bin/ and lib/ of its own
    tree.write(f"{A}/.local/bin/activate", "")
    tree.write(f"{A}/.local/lib/python3.11/site-packages/x.py", "")
    tree.write(f"{A}/src/bin/activate", "")
    tree.write(f"{A}/src/bin/python", "")
    tree.write(f"{A}/src/lib/python3.11/README", "")
    chown_tree(tree.host(A), ALICE)
    found = found_in(tree, "alice")
    old27 = found[f"{A}/old27"]
    assert (old27.kind, old27.role, old27.python_version, old27.version_from) == (
        "virtualenv", "environment", "2.7", "lib/python2.7")  # fmt: skip
    assert old27.marker == "lib/python2.7/no-global-site-packages.txt (virtualenv < 20)"
    assert old27.base_interpreter == "/usr/bin/python2.7"
    assert old27.interpreter == f"{A}/old27/bin/python"
    assert old27.pip_version == "9.0.1"
    assert old27.problems == ()
    old36 = found[f"{A}/work/old36"]
    assert (old36.kind, old36.python_version) == ("virtualenv", "3.6")
    assert old36.marker == "lib/python3.6/orig-prefix.txt (virtualenv < 20)"
    assert old36.base_interpreter == "/opt/py36/bin/python3.6"
    assert "base interpreter /opt/py36/bin/python3.6 is gone" in old36.problems
    assert f"{A}/.local" not in found and f"{A}/src" not in found


def brew_python(tree: Tree, brew: str, formula: str, keg: str, uid: int) -> str:
    """A Python keg as ``brew install python@3.X`` pours it, with brew's opt/ and bin/ links."""
    minor = formula.partition("@")[2]
    prefix = f"{brew}/Cellar/{formula}/{keg}"
    tree.write(f"{prefix}/bin/python{minor}", "", uid)
    os.symlink(f"python{minor}", tree.host(f"{prefix}/bin/python3"))
    tree.write(f"{prefix}/lib/python{minor}/os.py", "", uid)
    tree.write(f"{prefix}/lib/python{minor}/site-packages/pip-24.3.1.dist-info/METADATA", "", uid)
    tree.host(f"{brew}/opt").mkdir(parents=True, exist_ok=True)
    tree.host(f"{brew}/bin").mkdir(parents=True, exist_ok=True)
    os.symlink(f"../Cellar/{formula}/{keg}", tree.host(f"{brew}/opt/{formula}"))
    os.symlink(
        f"../Cellar/{formula}/{keg}/bin/python{minor}", tree.host(f"{brew}/bin/python{minor}")
    )
    chown_tree(tree.host(brew), uid)
    return prefix


def test_linuxbrew_pythons_are_found_once_each(tree: Tree):
    brewer = ALICE + 1
    tree.user("alice", ALICE)
    tree.user("linuxbrew", brewer)
    shared = "/home/linuxbrew/.linuxbrew"
    p312 = brew_python(tree, shared, "python@3.12", "3.12.7_1", brewer)
    p311 = brew_python(tree, shared, "python@3.11", "3.11.10", brewer)
    own = brew_python(tree, f"{A}/.linuxbrew", "python@3.13", "3.13.1", ALICE)
    head = f"{A}/.linuxbrew/Cellar/python@3.13/HEAD-1a2b3c4"  # brew install --HEAD: no version
    tree.write(f"{head}/bin/python3.13", "", ALICE)
    tree.write(f"{head}/include/python3.13/patchlevel.h", '#define PY_VERSION "3.13.0"\n', ALICE)
    for users in (("alice",), ("alice", "linuxbrew")):
        result = environments(Machine(root=str(tree.root)), Selection(users=users, sizes=False))
        prefixes = [e.prefix for e in result.environments]
        assert len(prefixes) == len(set(prefixes))
        found = {e.prefix: e for e in result.environments}
        for prefix, version, uid in ((p312, "3.12.7", brewer), (p311, "3.11.10", brewer),
                                     (own, "3.13.1", ALICE)):  # fmt: skip
            env = found[prefix]
            assert (env.kind, env.role, env.python_version, env.owner_uid) == (
                "homebrew", "interpreter", version, uid)  # fmt: skip
            assert env.interpreter == f"{prefix}/bin/python3"
            assert env.pip_version == "24.3.1"
        assert (found[head].python_version, found[head].version_from) == ("3.13.0", "patchlevel.h")
        assert {p for p, e in found.items() if e.kind == "homebrew"} == {p312, p311, own, head}


needs_unshare = pytest.mark.skipif(
    not ROOT or shutil.which("unshare") is None,
    reason="root and unshare(1) are needed to run the real tools with the tree's /home mounted",
)
SKIP_INSTALL = (
    "[tool.hatch.envs.default]\nskip-install = true\n[tool.hatch.envs.lint]\nskip-install = true\n"
)


def hatch_project(tree: Tree, where: str, name: str, extra: str = "") -> None:
    """A project whose hatch environments need nothing from the network (no dependencies, the
    project itself not installed)."""
    head = f'[project]\nname = "{name}"\nversion = "0.1"\n'
    tree.write(f"{where}/pyproject.toml", head + SKIP_INSTALL + extra)


def only(found: dict[str, Environment], below: str) -> list[Environment]:
    return [e for p, e in found.items() if p.startswith(below + "/")]


@needs_unshare
def test_hatch_environments_where_hatch_puts_them(tree: Tree):
    from tests.test_kind_tools import tool

    tree.user("alice", ALICE)
    # the default data dir; [dirs] data in hatch's config.toml, deeper than --depth
    hatch_project(tree, f"{A}/app", "app")
    tool(tree, "hatch", "env", "create", cwd=f"{A}/app")
    deep = f"{A}/a/b/c/d/e/f/g/hatch-data"
    tree.write(f"{A}/.config/hatch/config.toml", f'[dirs]\ndata = "{deep}"\n')
    hatch_project(tree, f"{A}/web", "web")
    tool(tree, "hatch", "env", "create", "lint", cwd=f"{A}/web")
    # project-local storage: [tool.hatch.dirs.env] in pyproject.toml, [dirs.env] in hatch.toml
    # project-local: an environment's path in pyproject.toml or hatch.toml (hatch reads [dirs.env]
    # only from its own config.toml, never from a project's files)
    head = '[project]\nname = "local"\nversion = "0.1"\n'
    tree.write(f"{A}/local/pyproject.toml",
               head + '[tool.hatch.envs.default]\nskip-install = true\npath = ".hatch"\n')  # fmt: skip
    tool(tree, "hatch", "env", "create", cwd=f"{A}/local")
    hatch_project(tree, f"{A}/h2", "h2")
    tree.write(f"{A}/h2/hatch.toml", '[envs.lint]\nskip-install = true\npath = "envs/lint"\n')
    tool(tree, "hatch", "env", "create", "lint", cwd=f"{A}/h2")
    chown_tree(tree.host(A), ALICE)
    found = found_in(tree, "alice")
    (default,) = only(found, f"{A}/.local/share/hatch/env/virtual/app")
    (configured,) = only(found, f"{deep}/env/virtual/web")
    assert configured.prefix.endswith("/lint")
    assert configured.found_by == (f"[dirs] data in {A}/.config/hatch/config.toml",)
    local, h2 = found[f"{A}/local/.hatch"], found[f"{A}/h2/envs/lint"]
    assert local.marker == f"[tool.hatch.envs.default] path in {A}/local/pyproject.toml"
    assert h2.marker == f"[envs.lint] path in {A}/h2/hatch.toml"
    assert (local.project, h2.project) == (f"{A}/local", f"{A}/h2")
    real = ".".join(map(str, sys.version_info[:3]))
    for env in (default, configured, local, h2):
        assert (env.kind, env.role, env.python_version) == ("hatch", "environment", real)


POETRY_PROJECT = '[project]\nname = "p"\nversion = "0.1"\nrequires-python = ">=3.9"\n'


@needs_unshare
def test_poetry_environments_where_its_settings_put_them(tree: Tree):
    from tests.test_kind_tools import tool

    tree.user("alice", ALICE)
    python = sys.executable
    # config.toml: cache-dir, and virtualenvs.path through poetry's {cache-dir} placeholder
    tree.write(f"{A}/.config/pypoetry/config.toml",
               f'cache-dir = "{A}/pc"\n[virtualenvs]\npath = "{{cache-dir}}/venvs"\n')  # fmt: skip
    tree.write(f"{A}/svc/pyproject.toml", POETRY_PROJECT + "[tool.poetry]\npackage-mode = false\n")
    tool(tree, "poetry", "env", "use", python, cwd=f"{A}/svc")
    # in-project .venvs of poetry's projects with no poetry.lock: [tool.poetry], poetry.toml,
    # a poetry-core build backend; beside them a plain project's .venv stays what it is
    tree.write(f"{A}/own/pyproject.toml", POETRY_PROJECT + "[tool.poetry]\npackage-mode = false\n")
    tree.write(f"{A}/own/poetry.toml", "[virtualenvs]\nin-project = true\n")
    tool(tree, "poetry", "env", "use", python, cwd=f"{A}/own")
    backend = (
        '[build-system]\nrequires = ["poetry-core"]\nbuild-backend = "poetry.core.masonry.api"\n'
    )
    tree.write(f"{A}/core/pyproject.toml", POETRY_PROJECT + backend)
    tree.write(f"{A}/plain/pyproject.toml", POETRY_PROJECT)
    for project in ("core", "plain"):
        tool(tree, python, "-m", "virtualenv", "-q", f"{A}/{project}/.venv")
    chown_tree(tree.host(A), ALICE)
    found = found_in(tree, "alice")
    (svc,) = only(found, f"{A}/pc/venvs")
    assert svc.found_by[0] == f"virtualenvs.path in {A}/.config/pypoetry/config.toml"
    assert svc.marker == f"in {svc.found_by[0]}"
    own, core = found[f"{A}/own/.venv"], found[f"{A}/core/.venv"]
    assert own.marker == f"poetry.toml in {A}/own"
    assert core.marker == f"build-backend poetry.core.masonry.api in {A}/core/pyproject.toml"
    real = ".".join(map(str, sys.version_info[:3]))
    for env in (svc, own, core):
        assert (env.kind, env.role, env.python_version) == ("poetry", "environment", real)
    assert (own.project, core.project) == (f"{A}/own", f"{A}/core")
    assert found[f"{A}/plain/.venv"].kind == "virtualenv"


def test_poetrys_variables_place_its_environments(tree: Tree):
    from fleetcache.discovery import toolenvs
    from fleetcache.discovery.access import AsRoot

    tree.user("alice", ALICE)
    tree.write(f"{A}/.config/pypoetry/config.toml", f'[virtualenvs]\npath = "{A}/from-config"\n')
    machine = Machine(root=str(tree.root))
    anchor = os.open(tree.root, os.O_RDONLY | os.O_DIRECTORY)
    try:
        access = AsRoot(anchor)
        cases = [
            ({}, f"{A}/from-config", f"virtualenvs.path in {A}/.config/pypoetry/config.toml"),
            ({"POETRY_VIRTUALENVS_PATH": "/scratch/v"}, "/scratch/v", "$POETRY_VIRTUALENVS_PATH"),
            ({"POETRY_CONFIG_DIR": "/nowhere", "POETRY_CACHE_DIR": "/scratch/pc"},
             "/scratch/pc/virtualenvs", "$POETRY_CACHE_DIR"),
            ({"POETRY_CONFIG_DIR": "/nowhere"}, f"{A}/.cache/pypoetry/virtualenvs",
             "poetry virtualenvs"),
        ]  # fmt: skip
        for env, directory, label in cases:
            dirs, _ = toolenvs.poetry_dirs(machine, access, env, A)
            assert dirs == [(directory, label, "poetry", 1)]
    finally:
        os.close(anchor)


@needs_unshare
def test_hatch_environments_kept_in_each_project_by_its_config(tree: Tree):
    from tests.test_kind_tools import tool

    tree.user("alice", ALICE)
    config = f"{A}/.config/hatch/config.toml"
    tree.write(config, '[dirs.env]\nvirtual = ".hatch"\n')
    hatch_project(tree, f"{A}/svc", "svc")
    tool(tree, "hatch", "env", "create", cwd=f"{A}/svc")
    tool(tree, "hatch", "env", "create", "lint", cwd=f"{A}/svc")
    # the same directory name in a directory that is no project is nobody's in particular
    tool(tree, sys.executable, "-m", "virtualenv", "-q", f"{A}/notes/.hatch/scratch")
    chown_tree(tree.host(A), ALICE)
    found = found_in(tree, "alice")
    real = ".".join(map(str, sys.version_info[:3]))
    for name in ("svc", "lint"):
        env = found[f"{A}/svc/.hatch/{name}"]
        assert (env.kind, env.python_version, env.project) == ("hatch", real, f"{A}/svc")
        assert env.marker == f"[dirs.env] virtual in {config}"
    assert found[f"{A}/notes/.hatch/scratch"].kind == "virtualenv"


@pytest.mark.skipif(not ROOT, reason="reads as another uid: needs root")
def test_a_tool_config_the_account_cannot_read_is_reported_once(tree: Tree):
    tree.user("alice", ALICE)
    config = f"{A}/.config/pypoetry/config.toml"
    tree.write(config, f'[virtualenvs]\npath = "{A}/secret"\n')
    chown_tree(tree.host(f"{A}/.config"), ALICE)
    os.lchown(tree.host(config), 0, 0)
    tree.host(config).chmod(0o600)  # root's file: poetry, run by alice, cannot read it either
    result = environments(Machine(root=str(tree.root)), Selection(users=("alice",), sizes=False))
    reasons = [s.reason for s in result.skipped if s.path == config]
    assert len(reasons) == 1 and reasons[0].startswith("config not read")
