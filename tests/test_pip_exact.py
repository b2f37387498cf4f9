"""fleetcache's figures equal pip's: caches filled by real pip 26.3 and 23.0.1 from a loopback index."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path
from typing import Any, Callable

import pytest

from fleetcache.cli import main
from tests.conftest import Tree, chown_tree, fill_cache, run_pip

ALICE = 1000 if os.geteuid() == 0 else os.getuid()
CACHE = "/home/alice/.cache/pip"

# pip's own functions measure the same tree: the oracle for exact byte counts.
ORACLE = """
import json, os, sys
from pip._internal.utils.filesystem import directory_size, find_files
c = sys.argv[1]
j = os.path.join
print(json.dumps({
    "http_files": len(find_files(j(c, "http"), "*") + find_files(j(c, "http-v2"), "*")),
    "http_bytes": int(directory_size(j(c, "http-v2")) + directory_size(j(c, "http"))),
    "wheel_files": len(find_files(j(c, "wheels"), "*-*.whl")),
    "wheel_bytes": int(directory_size(j(c, "wheels"))),
}))
"""


def pip_figures(python: Path, cache: Path) -> dict[str, int]:
    out = subprocess.run(
        [str(python), "-c", ORACLE, str(cache)], capture_output=True, text=True, check=True
    )
    figures: dict[str, int] = json.loads(out.stdout)
    return figures


def add_junk(cache: Path) -> None:
    """What real caches collect: tmp leftovers, orphan halves, links, a FIFO, odd names."""
    leaf = next(p for p in (cache / "http-v2").rglob("*") if p.is_file()).parent
    (leaf / "deadbeef.tmp").write_bytes(b"t" * 1234)
    (leaf / ("0" * 56)).write_bytes(b"cc=4," + b"m" * 99)  # a metadata half without body
    (cache / "http-v2" / "f" / "f" / "j").mkdir(parents=True)
    (cache / "http-v2" / "f" / "f" / "j" / ("1" * 56 + ".body")).write_bytes(b"b" * 4321)
    (leaf / "link-to-file").symlink_to("/etc/hostname")
    (leaf / "dangling").symlink_to("/nonexistent/target")
    (cache / "http-v2" / "linked-dir").symlink_to("/etc")
    os.mkfifo(cache / "http-v2" / "fifo")
    (cache / "http-v2" / "odd\nname\x1b[31m").write_bytes(b"x" * 10)
    (cache / "http-v2" / os.fsdecode(b"bad-\xff-utf8")).write_bytes(b"y" * 20)
    (cache / "http-v2" / "empty" / "dirs").mkdir(parents=True)
    entry = next(p for p in (cache / "wheels").rglob("*.whl")).parent
    build = entry / "tmpab_cd123"
    build.mkdir()
    (build / "half-1.0-py3-none-any.whl").write_bytes(b"w" * 500)
    (entry / "notes.txt").write_bytes(b"n" * 33)
    (cache / "wheels" / "aa" / "bb" / "cc" / ("2" * 50)).mkdir(parents=True)
    (cache / "wheels" / "aa" / "bb" / "cc" / ("2" * 50) / "linked-1.0-py3-none-any.whl").symlink_to(
        "/etc/hostname"
    )


class Filled:
    """alice's cache, and a way to ask real pip about it (pip as root refuses a cache it does not
    own, so the tree is root's while pip looks at it and alice's while fleetcache does)."""

    def __init__(self, tree: Tree, cache: Path, python: Path, home: Path) -> None:
        self.tree, self.cache, self.python, self.home = tree, cache, python, home

    def pip(self, *args: str) -> str:
        chown_tree(self.tree.host("/home/alice"), os.geteuid())
        try:
            return run_pip(self.python, *args, "--cache-dir", str(self.cache), home=self.home)
        finally:
            chown_tree(self.tree.host("/home/alice"), ALICE)


@pytest.fixture(scope="session")
def templates(
    tmp_path_factory: pytest.TempPathFactory, pip_python: Callable[[str], Path], index_url: str
) -> Callable[[str], Path]:
    """A cache filled by real pip, once per session for each kind: pip 26, pip 23, or both."""
    made: dict[str, Path] = {}

    def get(kind: str) -> Path:
        if kind not in made:
            base = tmp_path_factory.mktemp(f"cache-{kind}")
            cache, work = base / "cache", base / "work"
            if kind in ("23", "mixed"):
                fill_cache(pip_python("23"), cache, index_url, "alpha==1.0", "beta", work=work)
            if kind in ("26", "mixed"):
                fill_cache(pip_python("26"), cache, index_url, "alpha", "beta", "gamma", work=work)
            made[kind] = cache
        return made[kind]

    return get


@pytest.fixture
def filled(
    tree: Tree, tmp_path: Path, pip_python: Callable[[str], Path], templates, request
) -> Filled:
    """alice's default cache, filled the way the test's parameter says."""
    kind = request.param
    tree.user("alice", ALICE, make_home=False)
    cache = tree.host(CACHE)
    shutil.copytree(templates("26" if kind == "junk" else kind), cache, symlinks=True)
    if kind == "junk":
        add_junk(cache)
    chown_tree(tree.host("/home/alice"), ALICE)
    return Filled(tree, cache, pip_python("26"), tmp_path)


LAYOUTS = pytest.mark.parametrize("filled", ["26", "23", "mixed", "junk"], indirect=True)


def scan_json(tree: Tree, capsys: pytest.CaptureFixture[str], *args: str) -> dict[str, Any]:
    code = main(["scan", "--root", str(tree.root), "--format", "json", *args])
    out = capsys.readouterr().out
    doc: dict[str, Any] = json.loads(out)
    doc["exit"] = code
    return doc


@LAYOUTS
def test_figures_equal_pips_own_counts(filled, capsys):
    tree, cache = filled.tree, filled.cache
    expected = pip_figures(filled.python, cache)
    assert expected["http_files"] > 0 and expected["wheel_files"] > 0
    doc = scan_json(tree, capsys, "--user", "alice")
    (record,) = [c for c in doc["caches"] if c["path"] == CACHE]
    assert {k: record[k] for k in expected} == expected


@LAYOUTS
def test_info_prints_what_pip_cache_info_prints(filled, capsys):
    tree = filled.tree
    pips = filled.pip("cache", "info")
    assert main(["info", "--root", str(tree.root), "--user", "alice"]) == 0
    ours = capsys.readouterr().out
    assert ours == pips.replace(str(tree.root), "")


@LAYOUTS
@pytest.mark.parametrize("fmt", ["human", "abspath"])
@pytest.mark.parametrize("pattern", [None, "beta", "gamma-0.5", "nomatch", "Beta"])
def test_list_prints_what_pip_cache_list_prints(filled, capsys, fmt, pattern):
    tree = filled.tree
    pips = filled.pip("cache", "list", f"--format={fmt}", *([pattern] if pattern else []))
    ours_args = ["list", "--wheels", "--root", str(tree.root), "--user", "alice", "--format", fmt]
    assert main(ours_args + ([pattern] if pattern else [])) == 0
    assert capsys.readouterr().out == pips.replace(str(tree.root), "")


@pytest.mark.parametrize("filled", ["junk"], indirect=True)
def test_extra_figures_of_a_junk_cache(filled, capsys):
    tree = filled.tree
    doc = scan_json(tree, capsys, "--user", "alice")
    (c,) = [c for c in doc["caches"] if c["path"] == CACHE]
    # pip 26 wrote 6 complete entries (3 pages, 3 files: alpha 2.0 wheel, beta and gamma sdists)
    assert c["http_entries"] == 6
    # the lone halves, and every other name pip never reads: 2 links, a FIFO, 2 odd names
    assert (c["orphan_files"], c["orphan_bytes"]) == (7, 104 + 4321 + 10 + 20)
    assert (c["tmp_files"], c["tmp_bytes"]) == (2, 1234 + 500)
    assert c["odd_names"] == 2
    assert c["wheel_entries"] == 3  # beta, gamma, and the entry holding a linked wheel
    assert c["http_files"] == 12 + 8  # the linked directory is not a file, as for pip
    assert c["total_files"] == c["http_files"] + 7  # 4 wheels, 2 origin.json, notes.txt
    assert c["other_files"] == c["legacy_http_files"] == c["foreign_files"] == 0
    assert doc["exit"] == 0
