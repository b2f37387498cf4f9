"""``scan --packages`` (issue 20): each cache record holds its packages as ``report --by package``
names them, a merge of hosts' documents draws them under their caches (with the packages held by
several accounts among its insights), and hostile package data in a document is refused with one
line naming the file, or shown as text."""

from __future__ import annotations

import csv
import io
import json
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any, Callable

import pytest

from fleetcache import escape
from fleetcache.cli import main
from fleetcache.formats.fields import document
from fleetcache.formats.grid import CELL_LIMIT
from fleetcache.formats.treemap import FLEET_PACKAGES
from tests.conftest import Tree
from tests.format_sample import RESULT
from tests.test_html import (
    ALICE,
    BOB,
    CAROL,
    ESC,
    QUOTES,
    ROOT_ONLY,
    XSS,
    check,
    hostile_machine,
    pip_machine,
)

HOSTS: dict[str, dict[str, tuple[int, tuple[str, ...]]]] = {
    "web1": {"alice": (ALICE, ("alpha", "beta")), "bob": (BOB, ("alpha", "gamma"))},
    "web2": {"carol": (CAROL, ("beta",))},
    "web3": {"alice": (ALICE, ("gamma",))},
}


@pytest.fixture(scope="module")
def fleet(pip_python: Callable[[str], Path], index_url: str) -> Iterator[dict[str, Tree]]:
    """Three hosts whose accounts' caches a real pip filled (alpha, beta and gamma each held by
    two accounts), in a directory other uids may traverse."""
    top = Path(tempfile.mkdtemp(prefix="fleetcache-packages-"))
    top.chmod(0o755)
    python = pip_python("26")
    try:
        yield {h: pip_machine(top, python, index_url, h, a) for h, a in HOSTS.items()}
    finally:
        shutil.rmtree(top, ignore_errors=True)


def run(*argv: str) -> None:
    assert main(list(argv)) in (0, 3), argv


def scan_json(tree: Tree, out: Path, *more: str) -> dict[str, Any]:
    run("scan", "--root", str(tree.root), "--no-activity", "-q", "-f", "json", "-o", str(out),
        *more)  # fmt: skip
    doc: dict[str, Any] = json.loads(out.read_text())
    return doc


def parents(nodes: list[dict[str, Any]]) -> dict[int, int]:
    """Each node's parent, by index."""
    return {kid: i for i, node in enumerate(nodes) for kid in node.get("c", [])}


@pytest.mark.root
@ROOT_ONLY
def test_each_cache_holds_the_packages_report_by_package_gives_it(fleet, tmp_path, capsys):
    web1 = fleet["web1"]
    doc = scan_json(web1, tmp_path / "web1.json", "--packages")
    assert doc["schema_version"] == 9
    caches = {c["owner"]: c for c in doc["caches"] if c["exists"]}
    assert sorted(caches) == ["alice", "bob"]
    for user, (_, installed) in HOSTS["web1"].items():
        view = tmp_path / f"{user}.json"
        run("report", "--root", str(web1.root), "--no-activity", "-q", "--user", user,
            "--by", "package", "-f", "json", "-o", str(view))  # fmt: skip
        rows = json.loads(view.read_text())["rows"]
        held = [{"package": r["package"], "entries": r["entries"], "bytes": r["bytes"]}
                for r in rows]  # fmt: skip
        assert caches[user]["packages"] == held
        assert set(installed) <= {p["package"] for p in held}
    plain = scan_json(web1, tmp_path / "plain.json")
    assert [c["packages"] for c in plain["caches"]] == [None] * len(plain["caches"])
    capsys.readouterr()
    run("scan", "--root", str(web1.root), "--no-activity", "-q", "-f", "csv", "--packages")
    with_packages = list(csv.reader(io.StringIO(capsys.readouterr().out)))
    run("scan", "--root", str(web1.root), "--no-activity", "-q", "-f", "csv")
    assert "packages" not in with_packages[0]  # one row per cache: CSV leaves them out
    assert len(with_packages) == len(list(csv.reader(io.StringIO(capsys.readouterr().out))))


@pytest.mark.root
@ROOT_ONLY
def test_a_merge_of_three_hosts_draws_packages_under_their_caches(fleet, tmp_path):
    docs, held = [], {}
    for host, tree in fleet.items():
        path = tmp_path / f"{host}.json"
        for c in scan_json(tree, path, "--packages")["caches"]:
            if c["exists"]:
                held[(host, c["path"])] = {p["package"] for p in c["packages"]}
        docs.append(f"{host}={path}")
    page_file = tmp_path / "fleet.html"
    run("merge", *docs, "-f", "html", "-o", str(page_file))
    page = check(page_file.read_text())
    nodes = page.tree["nodes"]
    up = parents(nodes)
    drawn: dict[tuple[str, str], set[str]] = {}
    for i, node in enumerate(nodes):
        if node["l"] == "package":
            cache = up[i]
            host = up[up[up[cache]]]  # cache -> kind -> account -> host
            assert nodes[cache]["l"] == "cache" and nodes[host]["l"] == "host"
            drawn.setdefault((nodes[host]["n"], nodes[cache]["n"]), set()).add(node["n"])
    assert drawn == held and len(drawn) == 4
    insights = page.root.find("section", id="insights")[0].all_text()
    assert "Held by several accounts" in insights
    assert all(f"{name} " in insights and "(2 accounts)" in insights
               for name in ("alpha", "beta", "gamma"))  # fmt: skip
    merged = tmp_path / "fleet.json"
    run("merge", *docs, "-f", "json", "-o", str(merged))
    kept = {(c["host"], c["path"]): {p["package"] for p in c["packages"]}
            for c in json.loads(merged.read_text())["caches"] if c["exists"]}  # fmt: skip
    assert kept == held


def sample(tmp_path: Path, packages: Any, **cache: Any) -> Path:
    """The sample scan's document, its first cache holding these packages."""
    doc = json.loads(json.dumps(document(RESULT)))
    doc["caches"][0] = {**doc["caches"][0], "packages": packages, **cache}
    path = tmp_path / "hostile.json"
    path.write_text(json.dumps(doc))
    return path


@pytest.mark.parametrize(
    ("packages", "cache", "says"),
    [
        ({"torch": 1}, {}, "caches[0].packages is {'torch': 1}"),
        ([{"package": 5, "entries": 1, "bytes": 1}], {}, "caches[0].packages is [{'package': 5"),
        ([{"package": "a", "entries": 1, "bytes": -1}], {}, "caches[0].packages is "),
        ([{"package": "a", "entries": 1, "bytes": 1 << 63}], {}, "caches[0].packages is "),
        ([{"package": "a", "entries": 1, "bytes": "12"}], {}, "caches[0].packages is "),
        ([{"package": "a", "entries": True, "bytes": 1}], {}, "caches[0].packages is "),
        ([{"package": "a", "entries": 1}], {}, "caches[0].packages is "),
        (["torch"], {}, "caches[0].packages is ['torch']"),
        (None, {"disk_bytes": 10**400}, "caches[0].disk_bytes is 1000000"),
    ],
)  # fmt: skip
def test_malformed_packages_are_one_line_naming_the_file(tmp_path, capsys, packages, cache, says):
    bad = sample(tmp_path, packages, **cache)
    for fmt in ("html", "json", "table"):
        assert main(["merge", str(bad), "-f", fmt]) == 1
        out, err = capsys.readouterr()
        assert out == "" and err.startswith(f"fleetcache: error: {bad}: malformed report: {says}")
        assert err.count("\n") == 1


def test_hostile_package_names_and_sizes_are_text_on_the_fleet_page(tmp_path, capsys):
    names = [XSS, QUOTES, ESC, "\udcff-invalid", "x" * 5000]
    top = (1 << 63) - 1  # the largest size a document may claim: drawn, not overflowing
    packages = [{"package": n, "entries": 1, "bytes": top - i} for i, n in enumerate(names)]
    bad = sample(tmp_path, [*packages, {"package": XSS, "entries": 2, "bytes": 0}])
    assert main(["merge", f"one={bad}", f"two={bad}", "-f", "html"]) in (0, 3)
    text = capsys.readouterr().out
    page = check(text)
    assert XSS not in text and "<script>alert" not in text
    drawn = sorted(n["n"] for n in page.nodes("package"))
    shown = sorted(escape.clip(n, CELL_LIMIT) for n in names)
    assert drawn == sorted(shown * 2)  # both hosts' caches: each name as a table cell shows it
    assert any("\\x1b[31mred" in n for n in drawn) and "\x1b" not in text
    insights = page.root.find("section", id="insights")[0].all_text()
    assert XSS in insights  # held by two hosts: its name as text, never markup


def test_a_schema_7_document_without_packages_still_merges_beside_one_with(tmp_path, capsys):
    old = json.loads(json.dumps(document(RESULT)))
    old["schema_version"] = 7  # what fleetcache wrote before packages
    for cache in old["caches"]:
        cache.pop("packages", None)
    older = tmp_path / "old.json"
    older.write_text(json.dumps(old))
    newer = sample(tmp_path, [{"package": "torch", "entries": 2, "bytes": 5000}])
    assert main(["merge", f"old={older}", f"new={newer}", "-f", "html"]) == 0
    page = check(capsys.readouterr().out)
    nodes = page.tree["nodes"]
    up = parents(nodes)
    (torch,) = page.nodes("package")
    assert nodes[up[up[up[up[nodes.index(torch)]]]]]["n"] == "new"  # package -> ... -> host
    assert main(["merge", f"old={older}", f"new={newer}", "-f", "json"]) == 0
    merged = json.loads(capsys.readouterr().out)
    assert merged["schema_version"] == 9
    held = json.loads(newer.read_text())["caches"][0]["packages"]
    assert [c.get("packages") for c in merged["caches"]] == [None, held]


@pytest.mark.root
@ROOT_ONLY
def test_hostile_names_read_from_caches_are_text_in_the_json_and_on_the_fleet_page(
    open_tree: Tree, tmp_path: Path
):
    tree = hostile_machine(open_tree)  # packages named XSS and with a newline, in every cache
    doc = scan_json(tree, tmp_path / "scan.json", "--packages")
    held = {p["package"] for c in doc["caches"] if c["packages"] for p in c["packages"]}
    view = tmp_path / "view.json"
    run("report", "--root", str(tree.root), "--no-activity", "-q", "-f", "json", "-o", str(view))
    assert held == {r["package"] for r in json.loads(view.read_text())["rows"]}
    assert {XSS, "new\nline"} <= held  # JSON holds the name whole; the page shows it escaped
    page_file = tmp_path / "fleet.html"
    run("merge", f"a={tmp_path / 'scan.json'}", f"b={tmp_path / 'scan.json'}", "-f", "html",
        "-o", str(page_file))  # fmt: skip
    page = check(page_file.read_text())
    assert XSS not in page.text and "\x1b" not in page.text  # markup and ESC: as text
    assert {XSS, "new\\nline"} <= {n["n"] for n in page.nodes("package")}
    assert XSS in page.root.find("section", id="insights")[0].all_text()  # held by a and b


def test_a_large_fleets_page_shares_its_package_blocks_among_its_caches(tmp_path, capsys):
    """Ten hosts of fifty accounts, each cache holding 40 packages: every cache gets its share of
    FLEET_PACKAGES blocks (10 of 500 caches), the rest one block, the page under 2 MB."""
    base = json.loads(json.dumps(document(RESULT)))
    held = [{"package": f"a-rather-long-project-name-{p:02d}", "entries": 1, "bytes": 10**6 + p}
            for p in range(40)]  # fmt: skip
    docs = []
    for h in range(10):
        caches = [{**base["caches"][0], "path": f"/home/u{a:02d}/.cache/pip", "owner": f"u{a:02d}",
                   "users": [f"u{a:02d}"], "packages": held} for a in range(50)]  # fmt: skip
        path = tmp_path / f"host{h}.json"
        path.write_text(json.dumps({**base, "caches": caches, "host": f"host{h}"}))
        docs.append(str(path))
    page_file = tmp_path / "fleet.html"
    assert main(["merge", *docs, "-f", "html", "-o", str(page_file)]) == 0
    page = check(page_file.read_text())
    assert len(page.nodes("package")) == FLEET_PACKAGES == 500 * 10
    assert {n["n"] for n in page.nodes("other")} == {"30 more"} and len(page.nodes("other")) == 500
    assert page_file.stat().st_size < 2_000_000
