"""conda's and rattler's package caches (issue 17): ``.condarc`` read with a real YAML parser,
each account's pkgs dirs found as conda finds them, measured, named and cleaned by conda clean's
rules on pkgs dirs built by hand the way conda lays them out (conda cannot be installed here)."""

from __future__ import annotations

import json
import os
import resource
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from fleetcache import yamlfile
from fleetcache.cli import main
from fleetcache.kinds import conda as conda_kind
from fleetcache.kinds import rattler as rattler_kind
from fleetcache.machine import Machine
from fleetcache.scan import Selection, environments
from fleetcache.stats.walk import WalkTask
from tests.conftest import Tree, chown_tree
from tests.test_envs import conda_prefix

ROOT = os.geteuid() == 0
ROOT_ONLY = pytest.mark.skipif(not ROOT, reason="gives files to other uids: needs root")
ALICE, BOB = 12345, 12346
SHELL_SLEEPER = ["/bin/sh", "-c", "echo ready; exec sleep 120"]
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


@ROOT_ONLY
def test_envs_dirs_of_the_whole_search_path_with_vars_expanded(open_tree: Tree, procs):
    """envs reads the same search path as the pkgs dirs: condarc.d snippets in the account's
    config dirs, ``$CONDARC`` of its processes, and ``$VARS`` expanded from its own."""
    tree = open_tree
    home = tree.user("alice", ALICE)
    conda_prefix(tree, f"{A}/snip-envs/one", "3.11.5", "conda create -n one")
    conda_prefix(tree, f"{A}/rc-envs/two", "3.11.5", "conda create -n two")
    tree.write(f"{A}/.conda/condarc.d/team.yml", "envs_dirs: [$HOME/snip-envs]\n")
    tree.write(f"{A}/rc.yml", "envs_dirs: ['${HOME}/rc-envs']\n")
    chown_tree(home, ALICE)
    procs.start(SHELL_SLEEPER, cwd=home, uid=ALICE, env={"CONDARC": f"{home}/rc.yml"})
    result = environments(Machine(root=str(tree.root)), Selection(users=("alice",)))
    found = {e.prefix: e.found_by for e in result.environments}
    assert found[f"{A}/snip-envs/one"][0] == f"envs_dirs in {A}/.conda/condarc.d/team.yml"
    assert found[f"{A}/rc-envs/two"][0].startswith(f"envs_dirs in {A}/rc.yml")


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
from fleetcache.cli import main
from fleetcache.kinds import conda as conda_kind
from fleetcache.kinds import rattler as rattler_kind
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


# -- item 2: each account's pkgs dirs, found as conda finds them ----------------------------------


def scan_json(tree: Tree, capsys: pytest.CaptureFixture[str], *argv: str) -> dict[str, Any]:
    code = main(["scan", "--root", str(tree.root), "--format", "json", *argv])
    out, err = capsys.readouterr()
    assert code in (0, 3), err
    doc: dict[str, Any] = json.loads(out)
    return doc


def caches_of(doc: dict[str, Any], kind: str = "conda") -> dict[str, dict[str, Any]]:
    return {c["path"]: c for c in doc["caches"] if c["kind"] == kind}


def pkgs_dir(tree: Tree, path: str, uid: int = 0) -> None:
    """A small pkgs dir as conda leaves it: urls.txt and one extracted package."""
    tree.write(f"{path}/urls.txt", "", uid)
    tree.write(f"{path}/zlib-1.3.1-hb9d3cd8_2/info/index.json", '{"name": "zlib"}', uid)
    chown_tree(tree.host(path), uid)


@ROOT_ONLY
def test_defaults_are_each_install_pkgs_and_the_home_one_each_its_owners(tree: Tree, capsys):
    tree.user("alice", ALICE)
    tree.user("bob", BOB)
    conda_prefix(tree, "/opt/conda", "3.12.1", "/opt/conda/bin/conda install -y x", base=True)
    conda_prefix(tree, "/opt/bobconda", "3.11.5", "/opt/bobconda/bin/conda install", base=True)
    chown_tree(tree.host("/opt/bobconda"), BOB)
    pkgs_dir(tree, "/opt/conda/pkgs")
    pkgs_dir(tree, "/opt/bobconda/pkgs", BOB)
    pkgs_dir(tree, f"{A}/.conda/pkgs", ALICE)
    chown_tree(tree.host(A), ALICE)
    found = caches_of(scan_json(tree, capsys, "--no-activity", "--kind", "conda"))
    assert set(found) == {"/opt/conda/pkgs", "/opt/bobconda/pkgs", f"{A}/.conda/pkgs"}
    assert found[f"{A}/.conda/pkgs"]["owner"] == "alice"
    assert found["/opt/bobconda/pkgs"]["owner"] == "bob"  # bob's install: bob's cache
    assert found["/opt/conda/pkgs"]["owner_uid"] == 0
    for cache in found.values():
        assert cache["skipped"] is None and cache["total_files"] == 2
        assert {s["kind"] for s in cache["sources"]} == {"default"}
    assert "alice" in found["/opt/conda/pkgs"]["users"]
    assert "alice" in found["/opt/bobconda/pkgs"]["users"]


@ROOT_ONLY
def test_pkgs_dirs_of_every_condarc_on_condas_search_path(tree: Tree, capsys):
    tree.user("alice", ALICE)
    tree.user("bob", BOB)
    tree.write("/etc/conda/condarc", "pkgs_dirs: [/srv/conda/pkgs]\n")
    tree.write("/etc/conda/condarc.d/10-team.yml", "pkgs_dirs:\n  - /srv/team/pkgs\n")
    pkgs_dir(tree, "/srv/conda/pkgs")
    pkgs_dir(tree, "/srv/team/pkgs")
    pkgs_dir(tree, "/home/bob/.conda/pkgs", BOB)
    tree.write(f"{A}/.condarc", "pkgs_dirs: [~/pk, '${HOME}/pk2', /home/bob/.conda/pkgs, /etc]\n")
    tree.write(f"{A}/.config/conda/condarc.d/a.yaml", "pkgs_dirs: [$HOME/pk3]\n")
    for name in ("pk", "pk2", "pk3"):
        pkgs_dir(tree, f"{A}/{name}", ALICE)
    chown_tree(tree.host(A), ALICE)
    found = caches_of(
        scan_json(tree, capsys, "--no-activity", "--kind", "conda", "--user", "alice")
    )
    assert set(found) >= {"/srv/conda/pkgs", "/srv/team/pkgs", f"{A}/pk", f"{A}/pk2", f"{A}/pk3"}
    assert not any(p.endswith(".conda/pkgs") and p.startswith(A) for p in found)  # configured
    why = {p: [s["description"] for s in c["sources"]] for p, c in found.items()}
    assert why["/srv/team/pkgs"] == ["/etc/conda/condarc.d/10-team.yml [pkgs_dirs]"]
    assert why[f"{A}/pk2"] == [f"{A}/.condarc [pkgs_dirs]"]
    assert why[f"{A}/pk3"] == [f"{A}/.config/conda/condarc.d/a.yaml [pkgs_dirs]"]
    for path in ("/srv/conda/pkgs", "/srv/team/pkgs", f"{A}/pk"):
        assert found[path]["skipped"] is None and found[path]["total_files"] == 2, path
    # alice's own .condarc cannot make another account's directory (or /etc) hers to measure
    for path in ("/home/bob/.conda/pkgs", "/etc"):
        assert found[path]["skipped"] and found[path]["total_files"] == 0, found[path]


@ROOT_ONLY
def test_conda_pkgs_dirs_and_condarc_of_the_accounts_processes(open_tree: Tree, capsys, procs):
    tree = open_tree
    home = tree.user("alice", ALICE)
    for name in ("a", "b", "c", "d"):
        pkgs_dir(tree, f"{A}/{name}", ALICE)
    tree.write(f"{A}/rc.yml", "pkgs_dirs: [~/c]\n")
    tree.write(f"{A}/mc/condarc.d/x.yml", "pkgs_dirs: [~/d]\n")  # $CONDA_ROOT's
    chown_tree(home, ALICE)
    env = {
        "PATH": "/usr/bin:/bin",
        "CONDA_PKGS_DIRS": f"{home}/a,{home}/b",
        "CONDARC": f"{home}/rc.yml",
        "CONDA_ROOT": f"{home}/mc",
    }
    proc = procs.start(SHELL_SLEEPER, cwd=home, uid=ALICE, env=env)
    found = caches_of(scan_json(tree, capsys, "--kind", "conda", "--user", "alice"))
    assert set(found) == {f"{A}/a", f"{A}/b", f"{A}/c", f"{A}/d"}
    source = found[f"{A}/a"]["sources"][0]
    assert (source["kind"], source["variable"], source["pid"]) == (
        "env",
        "CONDA_PKGS_DIRS",
        proc.pid,
    )
    source = found[f"{A}/c"]["sources"][0]
    assert (source["file"], source["pid"]) == (f"{A}/rc.yml", proc.pid)


@ROOT_ONLY
def test_rattler_cache_pixi_over_rattler_over_the_default(open_tree: Tree, capsys, procs):
    tree = open_tree
    home = tree.user("alice", ALICE)
    tree.user("bob", BOB)
    tree.write(f"{A}/.cache/rattler/cache/pkgs/zlib-1.3.1-h0_2/info/index.json", "{}")
    tree.write(f"{A}/pixi-cache/pkgs/zlib-1.3.1-h0_2/info/index.json", "{}")
    tree.write(f"{A}/rattler-cache/pkgs/zlib-1.3.1-h0_2/info/index.json", "{}")
    tree.write("/home/bob/.cache/rattler/cache/repodata/x.json", "{}")
    chown_tree(home, ALICE)
    chown_tree(tree.host("/home/bob"), BOB)
    found = caches_of(scan_json(tree, capsys, "--no-activity", "--kind", "rattler"), "rattler")
    assert set(found) == {f"{A}/.cache/rattler/cache", "/home/bob/.cache/rattler/cache"}
    env = {"PATH": "/usr/bin:/bin", "RATTLER_CACHE_DIR": f"{home}/rattler-cache"}
    procs.start(SHELL_SLEEPER, cwd=home, uid=ALICE, env=env)
    procs.start(
        SHELL_SLEEPER,
        uid=ALICE,
        cwd=home,
        env={**env, "PIXI_CACHE_DIR": f"{home}/pixi-cache"},
    )
    found = caches_of(scan_json(tree, capsys, "--kind", "rattler", "--user", "alice"), "rattler")
    assert set(found) == {f"{A}/.cache/rattler/cache", f"{A}/rattler-cache", f"{A}/pixi-cache"}
    assert found[f"{A}/pixi-cache"]["sources"][0]["variable"] == "PIXI_CACHE_DIR"


# -- items 3-7: a pkgs dir built the way conda lays it out ----------------------------------------

PKGS = f"{A}/.conda/pkgs"
ML, WEB = f"{A}/.conda/envs/ml", f"{A}/.conda/envs/web"
NUMPY, REQUESTS, SIX = (
    "numpy-1.26.4-py311_0",
    "requests-2.32.3-pyhd8ed1ab_0",
    "six-1.16.0-pyh6c4a22f_0",
)
SITE = "lib/python3.11/site-packages"


def package(tree: Tree, pkgs: str, dist: str, name: str, version: str, size: int) -> list[str]:
    """An extracted package: info/index.json, info/files and its files; their paths in it."""
    files = [f"{SITE}/{name}/__init__.py", f"{SITE}/{name}/core.py"]
    tree.write(f"{pkgs}/{dist}/info/index.json", json.dumps({"name": name, "version": version}))
    tree.write(f"{pkgs}/{dist}/info/files", "\n".join(files) + "\n")
    for i, f in enumerate(files):
        tree.write(f"{pkgs}/{dist}/{f}", bytes([65 + i]) * size)
    return files


def record(tree: Tree, env: str, dist: str, source: str, link_type: int) -> None:
    name, version, build = dist.rsplit("-", 2)
    doc = {"name": name, "version": version, "build": build, "files": [],
           "extracted_package_dir": source, "link": {"source": source, "type": link_type}}  # fmt: skip
    tree.write(f"{env}/conda-meta/{dist}.json", json.dumps(doc, indent=2, sort_keys=True))


def conda_fleet(tree: Tree) -> None:
    """alice's pkgs dir: numpy hardlinked into env ml, requests symlinked into env web, six
    unused; tarballs, the index cache, a log, a trash dir, urls.txt and urls."""
    tree.user("alice", ALICE)
    conda_prefix(tree, ML, "3.11.5", "conda create -n ml numpy")
    conda_prefix(tree, WEB, "3.11.5", "conda create -n web requests")
    for dist, name, version in ((NUMPY, "numpy", "1.26.4"), (REQUESTS, "requests", "2.32.3")):
        env = ML if name == "numpy" else WEB
        for f in package(tree, PKGS, dist, name, version, 30_000):
            tree.host(f"{env}/{f}").parent.mkdir(parents=True, exist_ok=True)
            if name == "numpy":
                os.link(tree.host(f"{PKGS}/{dist}/{f}"), tree.host(f"{env}/{f}"))
            else:
                # absolute, as conda makes them (to the tree's copy of the machine path)
                os.symlink(tree.host(f"{PKGS}/{dist}/{f}"), tree.host(f"{env}/{f}"))
        record(tree, env, dist, f"{PKGS}/{dist}", 1 if name == "numpy" else 2)
    package(tree, PKGS, SIX, "six", "1.16.0", 20_000)
    tree.write(f"{PKGS}/{NUMPY}.conda", b"z" * 40_000)
    tree.write(f"{PKGS}/{SIX}.tar.bz2", b"b" * 15_000)
    tree.write(f"{PKGS}/cache/497d6b2a.json", b"{}" * 10_000)
    tree.write(f"{PKGS}/cache/497d6b2a.info.json", b"{}")
    tree.write(f"{PKGS}/.trash/a1b2.c~", b"t" * 5_000)
    tree.write(f"{PKGS}/conda-2026.log", b"l" * 100)
    tree.write(f"{PKGS}/urls.txt", f"https://conda.anaconda.org/conda-forge/{NUMPY}.conda\n")
    tree.write(f"{PKGS}/urls", "")
    tree.write(f"{A}/.conda/environments.txt", f"{ML}\n{WEB}\n")
    chown_tree(tree.host(A), ALICE)


def du(*paths: Path) -> int:
    """``du -sB1`` of the paths together: allocated bytes, each inode once."""
    out = subprocess.run(["du", "-csB1", *map(str, paths)], capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    return int(out.stdout.splitlines()[-1].split()[0])


def every_file(top: Path) -> dict[str, bytes]:
    """Each file below ``top`` (through its links) and its bytes."""
    out = {}
    for dirpath, _, files in os.walk(top):
        for name in files:
            path = Path(dirpath, name)
            out[str(path.relative_to(top))] = path.read_bytes()
    return out


def clean_doc(tree: Tree, tmp_path: Path, *args: str, code: int = 0) -> dict[str, Any]:
    """``fleetcache clean --yes --format json`` over alice's conda caches; their records."""
    out = tmp_path / "clean.json"
    argv = ["clean", "--root", str(tree.root), "--user", "alice", "--kind", "conda", "--yes",
            "-f", "json", "--audit-log", str(tmp_path / "log" / "audit.log"),
            "--lock-dir", str(tmp_path / "locks"), "--state-dir", str(tmp_path / "state"),
            "-o", str(out), *args]  # fmt: skip
    assert main(argv) == code
    doc: dict[str, Any] = json.loads(out.read_text())
    return {c["path"]: c for c in doc["caches"]}


@ROOT_ONLY
def test_a_pkgs_dir_is_found_by_layout_an_environment_is_not(tree: Tree, capsys):
    conda_fleet(tree)
    tree.write(f"{A}/other/pkgs/urls.txt", "")  # an empty pkgs dir: urls.txt alone
    tree.write(f"{A}/third/pkgs/zlib-1.3.1-h0_2/info/index.json", "{}")  # no urls.txt
    tree.write(f"{ML}/urls.txt", "")  # an environment, whatever else it holds
    chown_tree(tree.host(A), ALICE)
    doc = scan_json(tree, capsys, "--no-activity", "--kind", "conda", "--search", A)
    found = caches_of(doc)
    assert set(found) == {PKGS, f"{A}/other/pkgs", f"{A}/third/pkgs"}  # never ml nor web
    assert [s["kind"] for s in found[f"{A}/third/pkgs"]["sources"]] == ["layout"]
    assert "layout" in [s["kind"] for s in found[PKGS]["sources"]]


@ROOT_ONLY
def test_disk_reclaimable_and_shared_bytes_of_a_pkgs_dir_with_hardlinked_envs(tree: Tree, capsys):
    conda_fleet(tree)
    (cache,) = caches_of(
        scan_json(tree, capsys, "--no-activity", "--kind", "conda", "--user", "alice")
    ).values()
    assert cache["disk_bytes"] == du(tree.host(PKGS))
    numpy = [tree.host(f"{PKGS}/{NUMPY}/{SITE}/numpy/{n}") for n in ("__init__.py", "core.py")]
    shared = sum(os.lstat(p).st_blocks * 512 for p in numpy)
    assert cache["shared_bytes"] == shared > 0  # numpy's files: held by env ml too
    assert cache["reclaimable_bytes"] == cache["disk_bytes"] - shared


@ROOT_ONLY
def test_entries_are_named_from_index_json_else_from_the_dist_name(tree: Tree):
    conda_fleet(tree)
    tree.write(f"{PKGS}/scipy-1.14.0-py311h0_1/info/files", "")  # no index.json: the name says
    tree.write(f"{PKGS}/odd-dir/info/index.json", '{"name": "Odd_Name", "version": "2.0"}')
    chown_tree(tree.host(A), ALICE)
    got = conda_kind.entries(WalkTask(str(tree.root), PKGS))
    named = {e.path: (e.project, e.version, e.how) for e in got.entries}
    assert named[NUMPY] == ("numpy", "1.26.4", "info/index.json")
    assert named[f"{NUMPY}.conda"] == ("numpy", "1.26.4", "info/index.json")
    assert named[f"{SIX}.tar.bz2"] == ("six", "1.16.0", "info/index.json")
    assert named["scipy-1.14.0-py311h0_1"] == ("scipy", "1.14.0", "its name")
    assert named["odd-dir"] == ("odd-name", "2.0", "info/index.json")
    assert not {"cache", "urls.txt", "urls", ".trash"} & set(named)
    sizes = {e.path: e.size for e in got.entries}
    assert sizes[NUMPY] == 60_000 + len(json.dumps({"name": "numpy", "version": "1.26.4"})) + len(
        f"{SITE}/numpy/__init__.py\n{SITE}/numpy/core.py\n"
    )


@ROOT_ONLY
def test_report_by_package_counts_conda_packages_and_their_tarballs(tree: Tree, capsys):
    conda_fleet(tree)
    argv = ["report", "--root", str(tree.root), "--by", "package", "--kind", "conda"]
    assert main([*argv, "--no-activity"]) == 0
    rows = {line.split()[0]: line.split()[1:3] for line in capsys.readouterr().out.splitlines()}
    assert rows["numpy"][0] == "2" and rows["six"][0] == "2" and rows["requests"][0] == "1"


@ROOT_ONLY
def test_clean_takes_only_the_unused_package_tarballs_and_caches(tree: Tree, tmp_path: Path):
    conda_fleet(tree)
    envs = {env: every_file(tree.host(env)) for env in (ML, WEB)}
    planned = clean_doc(tree, tmp_path, "--dry-run")[PKGS]["plan"]
    before = du(tree.host(A))
    done = clean_doc(tree, tmp_path)[PKGS]
    assert done["state"] == "cleaned", done
    left = sorted(os.listdir(tree.host(PKGS)))
    assert left == sorted([NUMPY, REQUESTS, "urls", "urls.txt"])
    assert before - du(tree.host(A)) == planned["frees"] == done["plan"]["frees"] > 0
    why = done["plan"]["left"]
    assert any("hard links" in reason for reason in why), why
    assert any(f"linked into {WEB} (symbolic links)" in reason for reason in why), why
    for env, files in envs.items():  # every file of both environments is still there, intact
        assert every_file(tree.host(env)) == files


@ROOT_ONLY
def test_junk_and_package_selectors(tree: Tree, tmp_path: Path):
    conda_fleet(tree)
    clean_doc(tree, tmp_path, "--junk")
    assert sorted(os.listdir(tree.host(PKGS))) == sorted([NUMPY, REQUESTS, SIX, "urls", "urls.txt"])
    clean_doc(tree, tmp_path, "--package", "numpy", "--package", "six")
    assert sorted(os.listdir(tree.host(PKGS))) == sorted([NUMPY, REQUESTS, "urls", "urls.txt"])


# -- attacks ------------------------------------------------------------------------------------


@ROOT_ONLY
def test_hostile_conda_meta_records_neither_break_the_clean_nor_free_a_package(
    tree: Tree, tmp_path: Path
):
    """Records too big, too deep, not JSON or not a file: the clean goes on, and the package
    of the record's name stays (what it links cannot be told: keeping is the safe side)."""
    conda_fleet(tree)
    meta = f"{WEB}/conda-meta"
    hostile = {
        "huge-1.0-0": b'{"link": {"type": 2, "source": "x"}, "pad": "' + b"x" * (9 << 20) + b'"}',
        "deep-1.0-0": b'{"link": {"type": 2, "source": ' + b"[" * 100_000 + b"]" * 100_000 + b"}}",
        "bad-1.0-0": b'{"link": {"type": 2, "source": ',
    }
    for dist, data in hostile.items():
        tree.write(f"{meta}/{dist}.json", data)
    os.mkfifo(tree.host(f"{meta}/fifo-1.0-0.json"))  # read, it would hang the clean
    for dist in (*hostile, "fifo-1.0-0", "free-1.0-0"):
        package(tree, PKGS, dist, dist.split("-")[0], "1.0", 1_000)
    chown_tree(tree.host(A), ALICE)
    done = clean_doc(tree, tmp_path)[PKGS]
    assert done["state"] == "cleaned", done
    left = set(os.listdir(tree.host(PKGS)))
    assert {*hostile, "fifo-1.0-0", NUMPY, REQUESTS} <= left
    assert not {"free-1.0-0", SIX} & left


@ROOT_ONLY
def test_link_sources_outside_the_pkgs_dir_or_in_another_accounts_touch_nothing(
    tree: Tree, tmp_path: Path
):
    conda_fleet(tree)
    tree.user("bob", BOB)
    package(tree, "/home/bob/.conda/pkgs", SIX, "six", "1.16.0", 1_000)
    chown_tree(tree.host("/home/bob"), BOB)
    tree.write("/srv/outside/keep-me", "precious")
    for i, source in enumerate(
        ["/etc", "/srv/outside", f"{PKGS}/../../../..", f"/home/bob/.conda/pkgs/{SIX}", "", 7]
    ):
        tree.write(
            f"{WEB}/conda-meta/evil{i}-1.0-0.json",
            json.dumps({"link": {"source": source, "type": 2}}),
        )
    chown_tree(tree.host(A), ALICE)
    before = (
        every_file(tree.host("/home/bob")),
        every_file(tree.host("/srv")),
        every_file(tree.host("/etc")),
    )
    done = clean_doc(tree, tmp_path)
    assert set(done) == {PKGS} and done[PKGS]["state"] == "cleaned"
    assert SIX not in os.listdir(tree.host(PKGS))  # bob's six named: alice's unused one goes
    after = (
        every_file(tree.host("/home/bob")),
        every_file(tree.host("/srv")),
        every_file(tree.host("/etc")),
    )
    assert after == before


@ROOT_ONLY
def test_pkgs_dirs_an_accounts_condarc_names_elsewhere_are_not_cleaned_as_it(
    tree: Tree, tmp_path: Path
):
    """alice's .condarc names bob's pkgs dir and /etc: she is not their owner (bob, root), so
    nothing there is cleaned for her, neither as her nor as its owner."""
    tree.user("alice", ALICE)
    tree.user("bob", BOB)
    pkgs_dir(tree, "/home/bob/.conda/pkgs", BOB)
    tree.write("/home/bob/.conda/pkgs/zlib-1.3.1-hb9d3cd8_2.conda", b"z" * 1000, BOB)
    tree.write(f"{A}/.condarc", "pkgs_dirs: [/home/bob/.conda/pkgs, /etc, /]\n")
    tree.write("/etc/zlib-1.3.1-hb9d3cd8_2.conda", b"z" * 1000)
    tree.write("/etc/cache/keep", b"k")
    chown_tree(tree.host(A), ALICE)
    before = every_file(tree.host("/home/bob")), every_file(tree.host("/etc"))
    done = clean_doc(tree, tmp_path, code=3)
    assert set(done) == {"/home/bob/.conda/pkgs", "/etc", "/"}
    for path, cache in done.items():
        assert cache["state"] != "cleaned" and "refused" in (cache["reason"] or ""), (path, cache)
    assert (every_file(tree.host("/home/bob")), every_file(tree.host("/etc"))) == before


def age(tree: Tree, path: str, days: float) -> None:
    """Make a machine path and everything below it ``days`` old (mtimes)."""
    old = time.time() - days * 86400
    top = tree.host(path)
    below = [Path(d, n) for d, dirs, files in os.walk(top) for n in dirs + files]
    for p in [top, *below]:
        os.utime(p, (old, old), follow_symlinks=False)


@ROOT_ONLY
def test_older_than_and_max_size_pick_among_what_may_go(tree: Tree, tmp_path: Path):
    conda_fleet(tree)
    for path in (f"{PKGS}/{SIX}", f"{PKGS}/{NUMPY}", f"{PKGS}/{SIX}.tar.bz2"):
        age(tree, path, 100)
    clean_doc(tree, tmp_path, "--older-than", "30d")
    left = set(os.listdir(tree.host(PKGS)))
    assert {SIX, f"{SIX}.tar.bz2"}.isdisjoint(left)  # old and unused
    assert {NUMPY, REQUESTS, f"{NUMPY}.conda", "cache"} <= left  # linked, or recent
    clean_doc(tree, tmp_path, "--max-size", "1")  # all that may go, oldest first
    assert set(os.listdir(tree.host(PKGS))) == {NUMPY, REQUESTS, "urls", "urls.txt"}


RATTLER = f"{A}/.cache/rattler/cache"


@ROOT_ONLY
def test_rattler_clean_keeps_linked_packages_and_takes_repodata(tree: Tree, tmp_path: Path):
    tree.user("alice", ALICE)
    env = f"{A}/proj/.pixi/envs/default"
    conda_prefix(tree, env, "3.12.1", "pixi install")
    for f in package(tree, f"{RATTLER}/pkgs", NUMPY, "numpy", "1.26.4", 10_000):
        tree.host(f"{env}/{f}").parent.mkdir(parents=True, exist_ok=True)
        os.link(tree.host(f"{RATTLER}/pkgs/{NUMPY}/{f}"), tree.host(f"{env}/{f}"))
    package(tree, f"{RATTLER}/pkgs", SIX, "six", "1.16.0", 10_000)
    tree.write(f"{RATTLER}/repodata/conda-forge-linux-64.json", b"{}" * 5_000)
    tree.write(f"{RATTLER}/uv-cache/wheels-v5/x.whl", b"w" * 5_000)
    chown_tree(tree.host(A), ALICE)
    out = tmp_path / "clean.json"
    argv = ["clean", "--root", str(tree.root), "--user", "alice", "--kind", "rattler", "--yes",
            "-f", "json", "--audit-log", str(tmp_path / "audit.log"),
            "--lock-dir", str(tmp_path / "locks"), "--state-dir", str(tmp_path / "state"),
            "-o", str(out)]  # fmt: skip
    files = every_file(tree.host(env))
    assert main([*argv, "--junk"]) == 0
    assert sorted(os.listdir(tree.host(RATTLER))) == ["pkgs", "uv-cache"]
    assert main([*argv, "--purge"]) == 0
    assert sorted(os.listdir(tree.host(RATTLER))) == ["pkgs"]
    assert os.listdir(tree.host(f"{RATTLER}/pkgs")) == [NUMPY]
    assert every_file(tree.host(env)) == files
    entries = conda_kind.entries(WalkTask(str(tree.root), RATTLER))
    assert entries.entries == ()  # a rattler cache is no conda pkgs dir: its kind names it
    got = rattler_kind.entries(WalkTask(str(tree.root), RATTLER))
    assert [(e.path, e.project) for e in got.entries] == [(f"pkgs/{NUMPY}", "numpy")]


@ROOT_ONLY
def test_a_shared_install_keeps_what_another_accounts_env_symlinks(tree: Tree, tmp_path: Path):
    """root cleans its own install's pkgs dir: alice's env (her home is not searched: she is
    not chosen) installed requests from it by symbolic links, and registered it, as conda does."""
    tree.user("alice", ALICE)
    conda_prefix(tree, "/opt/conda", "3.12.1", "/opt/conda/bin/conda install -y x", base=True)
    shared = "/opt/conda/pkgs"
    package(tree, shared, SIX, "six", "1.16.0", 1_000)
    for f in package(tree, shared, REQUESTS, "requests", "2.32.3", 1_000):
        tree.host(f"{WEB}/{f}").parent.mkdir(parents=True, exist_ok=True)
        os.symlink(tree.host(f"{shared}/{REQUESTS}/{f}"), tree.host(f"{WEB}/{f}"))
    conda_prefix(tree, WEB, "3.11.5", "/opt/conda/bin/conda create -n web requests")
    record(tree, WEB, REQUESTS, f"{shared}/{REQUESTS}", 2)
    tree.write(f"{A}/.conda/environments.txt", f"{WEB}\n")
    chown_tree(tree.host(A), ALICE)
    out = tmp_path / "clean.json"
    argv = ["clean", "--root", str(tree.root), "--user", "root", "--kind", "conda", "--yes",
            "-f", "json", "--audit-log", str(tmp_path / "audit.log"),
            "--lock-dir", str(tmp_path / "locks"), "--state-dir", str(tmp_path / "state"),
            "-o", str(out)]  # fmt: skip
    assert main(argv) == 0
    assert sorted(os.listdir(tree.host(shared))) == ["python-3.12.1", REQUESTS]  # six went
    caches = {c["path"]: c for c in json.loads(out.read_text())["caches"]}
    assert f"linked into {WEB} (symbolic links)" in caches[shared]["plan"]["left"]


@ROOT_ONLY
def test_a_conda_meta_linked_where_its_owner_may_not_go_is_not_read(tree: Tree, tmp_path: Path):
    """alice's env's conda-meta links into a directory only root may enter: read as root, it
    would tell her (by what the clean keeps) which names are there. Read as her, it shows
    nothing."""
    conda_fleet(tree)
    tree.write(f"/srv/private/conda-meta/{SIX}.json", '{"link": {"type": 2, "source": ')
    tree.host("/srv/private").chmod(0o700)
    conda_prefix(tree, f"{A}/.conda/envs/linked", "3.11.5", "conda create -n linked")
    meta = tree.host(f"{A}/.conda/envs/linked/conda-meta")
    for name in os.listdir(meta):
        os.unlink(meta / name)
    meta.rmdir()
    meta.symlink_to("/srv/private/conda-meta")
    tree.write(f"{A}/.conda/environments.txt", f"{ML}\n{WEB}\n{A}/.conda/envs/linked\n")
    chown_tree(tree.host(A), ALICE)
    clean_doc(tree, tmp_path)
    assert SIX not in os.listdir(tree.host(PKGS))


@ROOT_ONLY
def test_a_rattler_cache_found_by_layout_is_one_cache_not_a_conda_one_inside(tree: Tree, capsys):
    tree.user("alice", ALICE)
    package(tree, f"{A}/scratch/rattler/pkgs", SIX, "six", "1.16.0", 100)
    tree.write(f"{A}/scratch/rattler/repodata/x.json", "{}")
    chown_tree(tree.host(A), ALICE)
    doc = scan_json(tree, capsys, "--no-activity", "--search", f"{A}/scratch", "--user", "alice")
    found = {c["path"]: c["kind"] for c in doc["caches"] if c["kind"] != "pip"}
    assert found == {f"{A}/scratch/rattler": "rattler"}


@ROOT_ONLY
def test_a_condarc_outside_the_home_is_not_the_admins_because_of_where_it_is(
    open_tree: Tree, tmp_path: Path, procs, capsys
):
    """alice's processes point $CONDARC and $CONDA_ROOT at files she wrote outside her home:
    they name root's directories, which stay root's (only /etc/conda, /var/lib/conda and a
    root-owned install's own settings are the admin's)."""
    tree = open_tree
    home = tree.user("alice", ALICE)
    pkgs_dir(tree, "/srv/rootpkgs")
    pkgs_dir(tree, "/srv/rootpkgs2")
    tree.write("/srv/drop/rc.yml", "pkgs_dirs: [/srv/rootpkgs]\n", ALICE)
    tree.write("/srv/drop/root/.condarc", "pkgs_dirs: [/srv/rootpkgs2]\n", ALICE)
    chown_tree(home, ALICE)
    drop = tree.host("/srv/drop")  # the process's paths are the host's
    env = {"PATH": "/bin", "CONDARC": f"{drop}/rc.yml", "CONDA_ROOT": f"{drop}/root"}
    procs.start(SHELL_SLEEPER, cwd=home, uid=ALICE, env=env)
    before = every_file(tree.host("/srv"))
    found = caches_of(scan_json(tree, capsys, "--kind", "conda", "--user", "alice"))
    assert set(found) == {"/srv/rootpkgs", "/srv/rootpkgs2"}
    assert all(c["skipped"] and c["total_files"] == 0 for c in found.values()), found
    done = clean_doc(tree, tmp_path, code=3)
    assert all(c["state"] != "cleaned" for c in done.values()), done
    assert every_file(tree.host("/srv")) == before
