"""conda's and rattler's package caches (issue 17): ``.condarc`` read with a real YAML parser,
each account's pkgs dirs found as conda finds them, measured, named and cleaned by conda clean's
rules on pkgs dirs built by hand the way conda lays them out (conda cannot be installed here)."""

from __future__ import annotations

import os
import resource
import subprocess
import sys

import pytest

from fleetcache import yamlfile
from fleetcache.machine import Machine
from fleetcache.scan import Selection, environments
from tests.conftest import Tree, chown_tree
from tests.test_envs import conda_prefix

ROOT = os.geteuid() == 0
ROOT_ONLY = pytest.mark.skipif(not ROOT, reason="gives files to other uids: needs root")
ALICE, BOB = 12345, 12346
A = "/home/alice"


# -- item 1: .condarc with a real YAML parser --------------------------------------------------


def test_condarc_is_read_as_yaml_a_flow_list_over_lines_and_pkgs_dirs():
    table = yamlfile.loads(b"envs_dirs: [/srv/a,\n  '/srv/b']  # team\npkgs_dirs:\n- ~/pk\n")
    assert yamlfile.strings(table, "envs_dirs") == ["/srv/a", "/srv/b"]
    assert yamlfile.strings(table, "pkgs_dirs") == ["~/pk"]
    assert yamlfile.strings(table, "channels") == []


@ROOT_ONLY
def test_envs_dirs_written_as_yaml_conda_reads_are_all_found(tree: Tree):
    tree.user("alice", ALICE)
    conda_prefix(tree, f"{A}/team-envs/ml", "3.11.5", "conda create -n ml")
    conda_prefix(tree, f"{A}/more-envs/web", "3.12.1", "conda create -n web")
    tree.write(f"{A}/.condarc", 'envs_dirs: [~/team-envs,\n    "~/more-envs"]\n')
    chown_tree(tree.host(A), ALICE)
    result = environments(Machine(root=str(tree.root)), Selection(users=("alice",)))
    found = {e.prefix: e.found_by for e in result.environments}
    assert found[f"{A}/team-envs/ml"][0] == f"envs_dirs in {A}/.condarc"
    assert found[f"{A}/more-envs/web"][0] == f"envs_dirs in {A}/.condarc"


def test_a_condarc_that_is_no_config_says_nothing():
    assert yamlfile.loads(None) is None
    assert yamlfile.loads(b"- /a\n- /b\n") is None  # a list, not a mapping
    assert yamlfile.loads(b"pkgs_dirs: [/a\n") is None
    assert yamlfile.loads(b"\xff\xfe") is None
    assert yamlfile.loads(b"pkgs_dirs: !!python/object/apply:os.system [id]\n") is None
    assert yamlfile.loads(b"#" * (yamlfile.LIMIT + 1)) is None
    assert yamlfile.strings(yamlfile.loads(b"pkgs_dirs: [[/a], 3, {x: 1}, /b]\n"), "pkgs_dirs") == [
        "/b"
    ]


BOMBS = {
    # billion laughs: ten aliases at each of nine levels
    "laughs": "\n".join(
        ["a0: &a0 [lol, lol, lol, lol, lol, lol, lol, lol, lol, lol]"]
        + [f"a{i}: &a{i} [{', '.join([f'*a{i - 1}'] * 10)}]" for i in range(1, 9)]
        + ["pkgs_dirs: *a8"]
    ),
    # merge keys, doubling at each level
    "merges": "\n".join(
        ["m0: &m0 {k0: 1, k1: 2}"]
        + [f"m{i}: &m{i} {{<<: [*m{i - 1}, *m{i - 1}], x{i}: 1}}" for i in range(1, 60)]
        + ["pkgs_dirs: [/x]"]
    ),
    "deep": "pkgs_dirs: " + "[" * 200_000 + "]" * 200_000,
    "deep-block": "".join(f"{' ' * i}k{i}:\n" for i in range(2_000)),
}
CHILD = """
import resource, sys
from fleetcache import yamlfile
resource.setrlimit(resource.RLIMIT_AS, (1 << 30, 1 << 30))
resource.setrlimit(resource.RLIMIT_CPU, (60, 60))
table = yamlfile.loads(sys.stdin.buffer.read())
# what a consumer does with it: every list item looked at, as far as it goes
print(yamlfile.strings(table, "pkgs_dirs"), table is None)
"""


@pytest.mark.parametrize("name", sorted(BOMBS))
def test_a_condarc_bomb_neither_hangs_nor_blows_memory(name: str):
    # a child bounded in memory and CPU time: a bomb kills it rather than the test run
    got = subprocess.run(
        [sys.executable, "-c", CHILD],
        input=BOMBS[name].encode(),
        capture_output=True,
        check=False,
        preexec_fn=lambda: resource.setrlimit(resource.RLIMIT_CORE, (0, 0)),
    )
    assert got.returncode == 0, got.stderr.decode()[-500:]
    assert got.stdout.decode().split()[-1] == "True"  # the bomb says nothing
