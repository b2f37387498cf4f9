"""Versions read from an install's own files, for every kind (issue 19 item 7): PEP 739's
``build-details.json``, PyPy's headers and library, pre-release and dev builds, conda-meta."""

from __future__ import annotations

import json
import os

from fleetcache.machine import Machine
from fleetcache.scan import Selection, environments
from tests.conftest import Tree
from tests.test_envs import conda_prefix

ALICE = 12345
A = "/home/alice"
PYENV = f"{A}/.pyenv/versions"


def build_details(version: str, micro: int, level: str = "final", serial: int = 0) -> str:
    """``lib/python3.X/build-details.json`` as CPython 3.14 writes it (PEP 739, schema 1.0)."""
    major, minor = (int(p) for p in version.split("."))
    info = {"major": major, "minor": minor, "micro": micro, "releaselevel": level, "serial": serial}
    return json.dumps(
        {
            "schema_version": "1.0",
            "base_prefix": "/usr/local",
            "base_interpreter": f"bin/python{version}",
            "platform": "linux-x86_64",
            "language": {"version": version, "version_info": info},
            "implementation": {
                "name": "cpython",
                "version": info,
                "hexversion": 0,
                "cache_tag": f"cpython-{major}{minor}",
                "_multiarch": "x86_64-linux-gnu",
            },
            "abi": {"flags": [], "extension_suffix": ".cpython-314-x86_64-linux-gnu.so"},
            "c_api": {"headers": f"include/python{version}"},
        },
        indent=2,
    )


def pyenv_install(tree: Tree, name: str, lib: str) -> str:
    """A pyenv version as ``pyenv install`` leaves it: bin/python, its library directory."""
    prefix = f"{PYENV}/{name}"
    tree.write(f"{prefix}/bin/python", "", ALICE)
    tree.write(f"{prefix}/lib/{lib}/os.py", "", ALICE)
    return prefix


def versions(tree: Tree) -> dict[str, tuple[str, str | None, str | None]]:
    result = environments(Machine(root=str(tree.root)), Selection(users=("alice",), sizes=False))
    return {e.prefix: (e.kind, e.python_version, e.version_from) for e in result.environments}


def test_build_details_json_gives_the_full_version(tree: Tree):
    tree.user("alice", ALICE)
    dev = pyenv_install(tree, "3.14-dev", "python3.14")
    tree.write(f"{dev}/lib/python3.14/build-details.json", build_details("3.14", 0), ALICE)
    tree.write("/opt/py314/bin/python3.14", "")
    tree.write("/opt/py314/lib/python3.14/os.py", "")
    tree.write(
        "/opt/py314/lib/python3.14/build-details.json", build_details("3.14", 0, "candidate", 2)
    )
    got = versions(tree)
    assert got[dev] == ("pyenv", "3.14.0", "build-details.json")
    assert got["/opt/py314"] == ("system", "3.14.0rc2", "build-details.json")


def test_pypy_versions_from_its_headers_and_library(tree: Tree):
    tree.user("alice", ALICE)
    pypy = pyenv_install(tree, "pypy3.10-7.3.17", "pypy3.10")
    tree.write(f"{pypy}/include/pypy3.10/patchlevel.h",
               '#define PY_VERSION\t\t"3.10.14"\n#define PYPY_VERSION "7.3.17"\n', ALICE)  # fmt: skip
    bare = pyenv_install(tree, "pypy3.9-7.3.16", "pypy3.9")
    tree.write(f"{A}/pypy-venv/pyvenv.cfg", f"home = {pypy}/bin\n", ALICE)
    tree.write(f"{A}/pypy-venv/lib/pypy3.10/site-packages/x.py", "", ALICE)
    got = versions(tree)
    assert got[pypy] == ("pyenv", "3.10.14", "patchlevel.h")
    assert got[bare] == ("pyenv", "3.9", "lib/pypy3.9")
    assert got[f"{A}/pypy-venv"] == ("venv", "3.10", "lib/pypy3.10")


def test_a_pypy_environments_pip_is_read_from_its_own_library(tree: Tree):
    tree.user("alice", ALICE)
    venv = f"{A}/pypy-venv"
    tree.write(
        f"{venv}/pyvenv.cfg", "home = /opt/pypy/bin\nversion_info = 3.10.14.final.0\n", ALICE
    )
    tree.write(f"{venv}/lib/pypy3.10/site-packages/pip-24.2.dist-info/METADATA",
               "Metadata-Version: 2.1\nName: pip\nVersion: 24.2\n", ALICE)  # fmt: skip
    result = environments(Machine(root=str(tree.root)), Selection(users=("alice",), sizes=False))
    (env,) = [e for e in result.environments if e.prefix == venv]
    assert (env.python_version, env.pip_version) == ("3.10.14", "24.2")


def test_pre_release_and_dev_builds_keep_their_level(tree: Tree):
    tree.user("alice", ALICE)
    main = pyenv_install(tree, "3.15-dev", "python3.15")
    tree.write(f"{main}/include/python3.15/patchlevel.h", '#define PY_VERSION "3.15.0a0"\n', ALICE)
    tree.write(
        f"{A}/rc/pyvenv.cfg", "home = /usr/bin\nuv = 0.13.9\nversion_info = 3.14.0rc2\n", ALICE
    )
    tree.write(f"{A}/venv-rc/pyvenv.cfg", "home = /usr/bin\nversion = 3.14.0b3\n", ALICE)
    conda_prefix(tree, f"{A}/miniconda3/envs/next", "3.14.0rc2", "conda create -n next")
    got = versions(tree)
    assert got[main] == ("pyenv", "3.15.0a0", "patchlevel.h")
    assert got[f"{A}/rc"] == ("uv", "3.14.0rc2", "pyvenv.cfg")
    assert got[f"{A}/venv-rc"] == ("venv", "3.14.0b3", "pyvenv.cfg")
    assert got[f"{A}/miniconda3/envs/next"][1:] == ("3.14.0rc2", "conda-meta")


def test_a_broken_build_details_file_gives_no_version(tree: Tree):
    """A file that lies, is cut, is huge or is no file at all: the next file says the version."""
    tree.user("alice", ALICE)
    cases = {
        "3.13-a": build_details("3.12", 4),  # language.version says another minor
        "3.13-b": build_details("3.13", 1)[:50],
        "3.13-c": " " * (1 << 20) + build_details("3.13", 1),
        "3.13-d": json.dumps({"language": {"version": "3.13", "version_info": {"micro": "1"}}}),
        "3.13-e": json.dumps({"language": {"version_info": [3, 13, 1, "final", 0]}}),
    }
    for name, text in cases.items():
        prefix = pyenv_install(tree, name, "python3.13")
        tree.write(f"{prefix}/lib/python3.13/build-details.json", text, ALICE)
        tree.write(
            f"{prefix}/include/python3.13/patchlevel.h", '#define PY_VERSION "3.13.7"\n', ALICE
        )
    fifo = pyenv_install(tree, "3.13-f", "python3.13")
    os.mkfifo(tree.host(f"{fifo}/lib/python3.13/build-details.json"))
    got = versions(tree)
    for name in cases:
        assert got[f"{PYENV}/{name}"] == ("pyenv", "3.13.7", "patchlevel.h")
    assert got[fifo] == ("pyenv", "3.13", "lib/python3.13")
