"""Merging many hosts' JSON reports: one document, every record with its host; bad input refused
with one line naming the file."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

import pytest
from prometheus_client.parser import text_string_to_metric_families

from fleetcache.cli import main
from tests.conftest import Tree, chown_tree

KEY = "ab" + "0" * 54


def host(tmp_path: Path, name: str, users: list[str]) -> Tree:
    """A machine whose users each have a cache with one complete entry of 100 + 2000 bytes."""
    tree = Tree(tmp_path / name)
    for uid, user in enumerate(users, 2000):
        tree.user(user, uid)
        leaf = f"/home/{user}/.cache/pip/http-v2/a/b/0/0/0/{KEY}"
        tree.write(leaf, b"cc=4," + b"m" * 95)
        tree.write(leaf + ".body", b"b" * 2000)
        chown_tree(tree.host(f"/home/{user}"), uid)
    return tree


def report(capsys, tree: Tree, out: Path, *more: str) -> Path:
    main(["scan", "--root", str(tree.root), "--format", "json", "-o", str(out), *more])
    capsys.readouterr()
    return out


def test_two_hosts_merge_into_one_csv_and_json(tmp_path, capsys):
    one = report(capsys, host(tmp_path, "one", ["alice"]), tmp_path / "one.json")
    two = report(capsys, host(tmp_path, "two", ["bob", "carol"]), tmp_path / "two.json")
    assert main(["merge", f"web1={one}", str(two), "--format", "csv"]) == 0
    rows = list(csv.DictReader(io.StringIO(capsys.readouterr().out)))
    got = [(r["host"], r["path"], r["http_bytes"]) for r in rows if r["exists"] == "true"]
    assert got == [
        ("web1", "/home/alice/.cache/pip", "2100"),
        ("two", "/home/bob/.cache/pip", "2100"),
        ("two", "/home/carol/.cache/pip", "2100"),
    ]
    assert main(["merge", f"web1={one}", str(two), "--format", "json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert doc["merged"] is True and doc["schema_version"] == 9
    assert [h["host"] for h in doc["hosts"]] == ["web1", "two"]
    assert doc["totals"]["http_bytes"] == 3 * 2100
    assert {u["host"] for u in doc["users"]} == {"web1", "two"}
    assert main(["merge", str(one), str(two), "--format", "prometheus"]) == 0
    families = {f.name: f for f in text_string_to_metric_families(capsys.readouterr().out)}
    hosts = {s.labels["host"] for s in families["fleetcache_cache_bytes"].samples}
    assert hosts == {"one", "two"}
    assert main(["merge", str(one), str(two)]) == 0
    table = capsys.readouterr().out.splitlines()
    assert table[0].split() == ["HOST", "CACHE", "KIND", "OWNER", "BUSY", "HTTP", "SIZE", "FREES"]
    assert main(["merge", str(one), str(two), "--bytes"]) == 0  # each host's du-like figures
    disk = sum(c["disk_bytes"] for c in doc["caches"] if c["exists"])
    frees = sum(c["reclaimable_bytes"] for c in doc["caches"] if c["exists"])
    total = next(x for x in capsys.readouterr().out.splitlines() if x.startswith("TOTAL"))
    assert total.split()[-2:] == [str(disk), str(frees)] and disk > 0
    assert "  one: " in "\n".join(table)


def test_a_host_without_a_report_is_listed_as_failed_with_its_error(tmp_path, capsys):
    one = report(capsys, host(tmp_path, "one", ["alice"]), tmp_path / "one.json")
    failed = ["--failed", "db2=ssh: connect to host db2 port 22: Connection refused"]
    assert main(["merge", f"web1={one}", *failed, "--format", "csv"]) == 3
    rows = list(csv.DictReader(io.StringIO(capsys.readouterr().out)))
    shown = [r for r in rows if r["exists"] == "true" or r["host"] == "db2"]
    assert [(r["host"], r["path"], r["skipped"]) for r in shown] == [
        ("web1", "/home/alice/.cache/pip", ""),
        ("db2", "", "host failed: ssh: connect to host db2 port 22: Connection refused"),
    ]
    assert main(["merge", f"web1={one}", *failed, "--format", "json"]) == 3
    doc = json.loads(capsys.readouterr().out)
    assert doc["hosts"][1]["host"] == "db2" and "Connection refused" in doc["hosts"][1]["failed"]
    assert doc["totals"]["http_bytes"] == 2100
    for fmt in ("table", "markdown", "prometheus"):
        assert main(["merge", f"web1={one}", *failed, "--format", fmt]) == 3
        assert "db2" in capsys.readouterr().out, fmt
    assert main(["merge", "--failed", "a=down", "--failed", "b=down", "-f", "json"]) == 3
    assert [h["host"] for h in json.loads(capsys.readouterr().out)["hosts"]] == ["a", "b"]
    assert main(["merge", f"web1={one}", "--failed", "web1=down"]) == 1  # both: which is it?
    assert main(["merge", "--failed", "nohost"]) == 2
    assert main(["merge"]) == 2
    assert "Traceback" not in capsys.readouterr().err


def test_report_views_merge_with_their_host(tmp_path, capsys):
    paths = []
    for name in ("one", "two"):
        tree = host(tmp_path, name, ["alice"])
        assert main(["report", "--root", str(tree.root), "--by", "user", "-f", "json"]) == 0
        path = tmp_path / f"{name}-report.json"
        path.write_text(capsys.readouterr().out)
        paths.append(str(path))
    assert main(["merge", *paths, "-f", "json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert doc["by"] == "user"
    assert [(r["host"], r["user"], r["entries"]) for r in doc["rows"]] == [
        ("one", "alice", 1),
        ("two", "alice", 1),
    ]
    scan = report(capsys, host(tmp_path, "three", ["bob"]), tmp_path / "three.json")
    assert main(["merge", paths[0], str(scan)]) == 1
    assert "cannot merge scan reports with report views" in capsys.readouterr().err


def test_a_schema_8_document_without_age_basis_merges_beside_a_schema_9_one(tmp_path, capsys):
    """Schema 9 added each cache's age_basis: an 8 document's caches merge without one."""
    new = report(capsys, host(tmp_path, "new", ["alice"]), tmp_path / "new.json")
    old_doc = json.loads(new.read_text())
    old_doc["schema_version"] = 8
    for cache in old_doc["caches"]:
        del cache["age_basis"]
    old = tmp_path / "old.json"
    old.write_text(json.dumps(old_doc))
    assert main(["merge", f"old={old}", f"new={new}", "-f", "json"]) == 0
    merged = json.loads(capsys.readouterr().out)
    assert merged["schema_version"] == 9
    assert [(c["host"], c.get("age_basis")) for c in merged["caches"] if c["exists"]] == [
        ("old", None),
        ("new", "atime"),
    ]
    assert main(["merge", f"old={old}", f"new={new}", "-f", "csv"]) == 0
    rows = list(csv.DictReader(io.StringIO(capsys.readouterr().out)))
    assert [r["age_basis"] for r in rows if r["exists"] == "true"] == ["", "atime"]


@pytest.mark.parametrize(
    ("content", "says"),
    [
        (b"not json", "not JSON"),
        (b"[1, 2]", "not a fleetcache report (no schema_version)"),
        (b'{"schema_version": 99, "host": "x", "caches": [], "users": [], "skipped": []}',
         "schema_version 99 is not one this fleetcache reads (7, 8, 9)"),
        (b'{"schema_version": 8, "host": "x", "caches": {}, "users": [], "skipped": []}',
         "malformed report: 'caches' is not a list of records"),
        (b'{"schema_version": 8, "caches": [], "users": [], "skipped": []}',
         "malformed report: no host"),
        (b"\xff\xfe", "not JSON"),
    ],
)  # fmt: skip
def test_bad_input_is_one_line_naming_the_file(tmp_path, capsys, content, says):
    good = report(capsys, host(tmp_path, "one", ["alice"]), tmp_path / "one.json")
    bad = tmp_path / "bad.json"
    bad.write_bytes(content)
    assert main(["merge", str(good), str(bad)]) == 1
    out, err = capsys.readouterr()
    assert out == "" and err.count("\n") == 1
    assert err.startswith(f"fleetcache: error: {bad}: ") and says in err
    assert main(["merge", str(tmp_path / "missing.json")]) == 1
    assert "missing.json: No such file or directory" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("change", "says"),
    [
        ({"caches": [{"path": "/c", "exists": True, "http_bytes": "abc"}]}, "caches[0].http_bytes is 'abc'"),
        ({"caches": [{"path": "/c", "exists": True, "users": 5}]}, "caches[0].users is 5"),
        ({"caches": [{"path": "/c", "exists": True, "busy": [1]}]}, "caches[0].busy is [1]"),
        ({"caches": [{"path": "/c", "exists": True, "owner": 1000}]}, "caches[0].owner is 1000"),
        ({"caches": [{"path": "/c", "exists": True, "sources": [1]}]}, "caches[0].sources is [1]"),
        ({"caches": [{"exists": True}]}, "caches[0].path is None"),
        ({"caches": [{"path": "/c", "exists": True, "age_basis": "ctime"}]}, "caches[0].age_basis is 'ctime'"),
        ({"totals": [1]}, "'totals' is not a record of whole numbers"),
        ({"totals": {"total_bytes": "x"}}, "'totals' is not a record of whole numbers"),
        ({"skipped": [{"path": 1}]}, "'skipped' records are not {path, reason}"),
    ],
)  # fmt: skip
def test_malformed_records_are_refused_before_rendering(tmp_path, capsys, change, says):
    doc = {"schema_version": 8, "host": "h", "users": [], "caches": [], "skipped": []}
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps({**doc, **change}))
    for fmt in ("table", "csv", "prometheus", "json"):
        assert main(["merge", str(bad), "-f", fmt]) == 1
        out, err = capsys.readouterr()
        assert out == "" and err == f"fleetcache: error: {bad}: malformed report: {says}\n"


def test_report_views_and_hosts_are_checked_too(tmp_path, capsys):
    view = {"schema_version": 8, "host": "h", "by": "nope", "rows": [], "skipped": []}
    bad = tmp_path / "view.json"
    bad.write_text(json.dumps(view))
    assert main(["merge", str(bad)]) == 1
    assert "'by' is not one of package, cache, user, env, kind, host" in capsys.readouterr().err
    bad.write_text('{"schema_version": 8, "x": ' + "[" * 100_000 + "]" * 100_000 + "}")
    assert main(["merge", str(bad)]) == 1
    assert "nested too deep" in capsys.readouterr().err
    one = report(capsys, host(tmp_path, "one", ["alice"]), tmp_path / "one.json")
    assert main(["merge", str(one), str(one)]) == 1
    err = capsys.readouterr().err
    assert "host 'one' twice" in err and "name each with HOST=FILE" in err
    assert main(["merge", f"a={one}", f"b={one}", "-f", "prometheus"]) == 0
    families = list(text_string_to_metric_families(capsys.readouterr().out))
    assert {s.labels["host"] for f in families for s in f.samples if "host" in s.labels} == {
        "a",
        "b",
    }
