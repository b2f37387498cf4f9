"""The report across cache kinds (issue 17): `report --by kind` (one row per kind, its caches'
figures as the scan measures them) and `report --by package` saying in which kinds a package is
held, in every format and through `merge`. A second registered kind (test_kinds' fake kind:
pip's walk and names, at ~/.fake) stands in for the kinds still to come."""

from __future__ import annotations

import csv
import io
import json
import os
from pathlib import Path
from typing import Any

import pytest

from tests import test_kinds
from tests.conftest import Tree, chown_tree
from tests.test_cli import ALICE, run

machine = test_kinds.machine
fake_kind = test_kinds.fake_kind
PIP = "/home/alice/.cache/pip"
WHEEL = "wheels/ab/" + "2" * 50 + "/{}-py3-none-any.whl"


@pytest.fixture
def fleet(machine: Tree, fake_kind: str) -> Tree:
    """alice's pip cache holds beta 1.0 (the fixture's); her fake cache holds beta 2.0 and
    gamma 0.5, gamma's file hardlinked from a venv (so it frees less than it takes)."""
    machine.write(f"{fake_kind}/{WHEEL.format('beta-2.0')}", b"b" * 5000)
    gamma = machine.write(f"{fake_kind}/{WHEEL.format('gamma-0.5')}", b"g" * 9000)
    venv = machine.host("/home/alice/venv/lib")
    venv.mkdir(parents=True)
    os.link(gamma, venv / "gamma.bin")
    chown_tree(machine.host("/home/alice"), ALICE)
    return machine


def _args(tree: Tree, *argv: str) -> tuple[str, ...]:
    return ("--root", str(tree.root), "--no-activity", "-j", "1", *argv)


def _out(capsys: pytest.CaptureFixture[str], *argv: str) -> str:
    code, out, err = run(capsys, *argv)
    assert (code, err) == (0, ""), err
    return out


def _rows(capsys: pytest.CaptureFixture[str], *argv: str) -> dict[str, dict[str, Any]]:
    doc = json.loads(_out(capsys, *argv, "--format", "json"))
    key = {"kind": "kind", "package": "package"}[doc["by"]]
    return {r[key]: r for r in doc["rows"]}


def test_report_by_kind_sums_each_kinds_caches_as_the_scan_measures_them(fleet: Tree, capsys):
    scan = json.loads(_out(capsys, "scan", *_args(fleet), "--format", "json"))
    rows = _rows(capsys, "report", *_args(fleet, "--by", "kind"))
    assert set(rows) == {"pip", "fake"}
    figures = ("total_files", "total_bytes", "disk_bytes", "reclaimable_bytes", "shared_bytes")
    for kind, row in rows.items():
        (cache,) = [c for c in scan["caches"] if c["kind"] == kind and c["exists"]]
        assert {f: row[f] for f in figures} == {f: cache[f] for f in figures}, kind
        assert (row["caches"], row["users"]) == (1, ["alice"])
    fake = rows["fake"]
    assert fake["shared_bytes"] > 0 and fake["reclaimable_bytes"] < fake["disk_bytes"]
    assert (fake["entries"], fake["bytes"], fake["top_packages"]) == (2, 14000, ["gamma", "beta"])
    assert (rows["pip"]["entries"], rows["pip"]["top_packages"]) == (1, ["beta"])
    assert list(rows) == ["fake", "pip"]  # the most disk first


def test_report_by_kind_in_every_format(fleet: Tree, capsys):
    args = ("report", *_args(fleet, "--by", "kind"))
    table = _out(capsys, *args).splitlines()
    assert table[0].split()[:1] == ["KIND"] and "FREES" in table[0], table
    assert [line.split()[0] for line in table[2:4]] == ["fake", "pip"]
    assert all(len(line) <= 80 for line in table), table
    cells = list(csv.DictReader(io.StringIO(_out(capsys, *args, "--format", "csv"))))
    assert [(r["kind"], r["caches"], r["users"]) for r in cells] == [
        ("fake", "1", "alice"),
        ("pip", "1", "alice"),
    ]
    assert int(cells[0]["reclaimable_bytes"]) < int(cells[0]["disk_bytes"])
    markdown = _out(capsys, *args, "--format", "markdown")
    assert "| KIND " in markdown and "| fake " in markdown, markdown
    metrics = _out(capsys, *args, "--format", "prometheus")
    assert 'fleetcache_report_bytes{by="kind",kind="fake"} 14000' in metrics, metrics
    assert 'fleetcache_report_disk_bytes{by="kind",kind="fake"}' in metrics, metrics


def test_report_by_package_says_in_which_kinds_each_package_is_held(fleet: Tree, capsys):
    rows = _rows(capsys, "report", *_args(fleet, "--by", "package"))
    assert (rows["beta"]["entries"], rows["beta"]["kinds"]) == (2, ["fake", "pip"])
    assert rows["beta"]["versions"] == ["2.0", "1.0"]
    assert rows["gamma"]["kinds"] == ["fake"]
    table = _out(capsys, "report", *_args(fleet, "--by", "package"))
    assert "beta held 2 times across 2 kinds" in table, table
    assert "gamma held" not in table
    wide = _out(capsys, "report", *_args(fleet, "--by", "package", "--wide")).splitlines()
    assert "KINDS" in wide[0].split() and "fake, pip" in wide[3], wide
    cells = list(csv.DictReader(io.StringIO(_out(capsys, "report", *_args(fleet), "--format",
                                                "csv"))))  # fmt: skip
    assert {r["package"]: r["kinds"] for r in cells} == {"beta": "fake;pip", "gamma": "fake"}


@pytest.mark.parametrize("by", ["kind", "package"])
def test_merge_keeps_the_views_across_kinds(fleet: Tree, capsys, tmp_path: Path, by: str):
    out = _out(capsys, "report", *_args(fleet, "--by", by), "--format", "json")
    files = []
    for host in ("one", "two"):
        (tmp_path / f"{host}.json").write_text(out)
        files.append(f"{host}={tmp_path / host}.json")
    merged = json.loads(_out(capsys, "merge", *files, "--format", "json"))
    key = {"kind": "kind", "package": "package"}[by]
    tagged = {(r["host"], r[key]): r for r in merged["rows"]}
    if by == "kind":
        assert set(tagged) == {(h, k) for h in ("one", "two") for k in ("pip", "fake")}
        assert tagged["two", "fake"]["reclaimable_bytes"] < tagged["two", "fake"]["disk_bytes"]
    else:
        assert tagged["one", "beta"]["kinds"] == ["fake", "pip"]
    table = _out(capsys, "merge", *files).splitlines()
    assert table[0].split()[:2] == ["HOST", key.upper()], table
    assert all(len(line) <= 80 for line in table), table
    if by == "kind":
        assert "FREES" in table[0] and table[2].split()[:2] == ["one", "fake"], table
    cells = list(csv.DictReader(io.StringIO(_out(capsys, "merge", *files, "--format", "csv"))))
    assert {(r["host"], r[key]) for r in cells} == set(tagged)
