"""Cache kinds (issue 17): every cache has a kind, --kind narrows scan, report, clean and merge
to the registry's kinds, and a kind added to the registry is found, walked and narrowed."""

from __future__ import annotations

import json
import types
from pathlib import Path
from typing import Any

import pytest

from fleetcache.kinds import all as kinds_all
from fleetcache.kinds import pip as pip_kind
from fleetcache.model import CacheLocation, CacheSource, ProcessUse
from tests.conftest import Tree, chown_tree
from tests.test_cli import ALICE, run

PIPENV = "/home/alice/.cache/pipenv"


@pytest.fixture
def machine(tree: Tree) -> Tree:
    """alice with a pip cache holding one built wheel; bob with none."""
    tree.user("alice", ALICE)
    tree.user("bob", ALICE + 1)
    tree.write(f"/home/alice/.cache/pip/wheels/ab/{'1' * 50}/beta-1.0-py3-none-any.whl", b"w" * 300)
    chown_tree(tree.host("/home/alice"), ALICE)
    return tree


def _doc(capsys: pytest.CaptureFixture[str], *argv: str) -> dict[str, Any]:
    code, out, err = run(capsys, *argv, "--format", "json")
    assert (code, err) == (0, ""), err
    doc: dict[str, Any] = json.loads(out)
    doc.pop("generated_at", None)
    return doc


def test_pipenvs_cache_is_of_kind_pipenv_with_pips_figures_and_pip_layout_elsewhere_is_pip(
    machine: Tree, capsys
):
    """pipenv's cache where pipenv finds it is of kind pipenv, measured as pip's; a directory
    with pip's layout that only --search finds is a pip cache."""
    entry = f"http-v2/a/b/0/0/0/{'ab' + '0' * 54}"
    machine.write(f"{PIPENV}/{entry}", b"cc=4," + b"m" * 95)
    machine.write(f"/home/alice/other/{entry}", b"cc=4," + b"m" * 95)
    chown_tree(machine.host("/home/alice"), ALICE)
    args = ("scan", "--root", str(machine.root), "--search", "/home/alice", "--no-activity")
    every = _doc(capsys, *args)
    kinds = {c["path"]: c["kind"] for c in every["caches"] if c["exists"]}
    assert kinds == {
        "/home/alice/.cache/pip": "pip",
        PIPENV: "pipenv",
        "/home/alice/other": "pip",
    }
    pipenv = next(c for c in every["caches"] if c["path"] == PIPENV)
    assert (pipenv["http_files"], pipenv["http_bytes"]) == (1, 100)
    pips = _doc(capsys, *args[:3], "--no-activity", "--kind", "pip")
    assert {c["path"] for c in pips["caches"] if c["exists"]} == {"/home/alice/.cache/pip"}
    code, out, _ = run(capsys, *args, "--kind", "pip", "--format", "csv")
    assert code == 0 and out.splitlines()[0].split(",").count("kind") == 1


@pytest.mark.parametrize(
    "argv",
    [
        ("scan",),
        ("report",),
        ("clean", "--user", "alice", "--dry-run"),
        ("merge", "nothing.json"),
    ],
)
def test_an_unknown_kind_is_a_one_line_usage_error(machine: Tree, capsys, argv):
    root = () if argv[0] == "merge" else ("--root", str(machine.root))
    code, out, err = run(capsys, *argv, *root, "--kind", "nope")
    assert (code, out) == (2, "")
    assert err.count("\n") == 1 and "--kind" in err and "'pip'" in err, err


@pytest.fixture
def fake_kind(monkeypatch: pytest.MonkeyPatch) -> str:
    """A second kind in the registry: pip's walk, its caches at ~/.fake of each account."""

    def locations(found):
        return [
            CacheLocation(f"{a.home}/.fake", (CacheSource("layout"),), frozenset({a.uid}), "fake")
            for a in found.every
            if a.uid == ALICE
        ]

    kind = types.SimpleNamespace(
        **{
            n: getattr(pip_kind, n)
            for n in ("find", "looks_like", "measure", "entries", "plan", "exclusive")
        },
        NAME="fake",
        VARIABLES={},
        locations=locations,
        busy=lambda _machine, _found, _paths, again=False: {},
    )
    monkeypatch.setitem(kinds_all.KINDS, "fake", kind)
    return "/home/alice/.fake"


def test_a_registered_kind_is_scanned_and_narrowed(machine: Tree, capsys, fake_kind: str):
    machine.write(f"{fake_kind}/blob", b"x" * 700)
    chown_tree(machine.host("/home/alice"), ALICE)
    args = ("scan", "--root", str(machine.root), "--no-activity", "--jobs", "1")
    every = _doc(capsys, *args)
    fake = next(c for c in every["caches"] if c["path"] == fake_kind)
    assert (fake["kind"], fake["owner"], fake["total_bytes"]) == ("fake", "alice", 700)
    pips = _doc(capsys, *args, "--kind", "pip")
    assert fake_kind not in {c["path"] for c in pips["caches"]}
    assert pips["totals"]["total_bytes"] == every["totals"]["total_bytes"] - 700
    only = _doc(capsys, *args, "--kind", "fake")
    assert [(c["path"], c["kind"]) for c in only["caches"]] == [(fake_kind, "fake")]
    code, out, _ = run(capsys, *args, "--kind", "fake", "--wide")
    assert code == 0 and out.splitlines()[2].split()[:2] == [fake_kind, "fake"], out


def test_clean_narrows_to_the_kinds_given(machine: Tree, capsys, fake_kind: str):
    machine.write(f"{fake_kind}/blob", b"x" * 700)
    chown_tree(machine.host("/home/alice"), ALICE)
    args = ("clean", "--root", str(machine.root), "--user", "alice", "--dry-run")
    code, out, _ = run(capsys, *args, "--kind", "pip", "--format", "json")
    assert code == 0, out
    assert [c["path"] for c in json.loads(out)["caches"]] == ["/home/alice/.cache/pip"]
    code, out, _ = run(capsys, *args, "--kind", "fake", "--format", "json")
    assert [c["path"] for c in json.loads(out)["caches"]] == [fake_kind]


def test_merge_narrows_to_the_kinds_given(machine: Tree, capsys, tmp_path: Path, fake_kind):
    machine.write(f"{fake_kind}/blob", b"x" * 700)
    chown_tree(machine.host("/home/alice"), ALICE)
    code, out, _ = run(capsys, "scan", "--root", str(machine.root), "-j", "1", "--format", "json")
    report = tmp_path / "box.json"
    report.write_text(out)
    merged = _doc(capsys, "merge", f"box={report}", "--kind", "fake")
    assert [(c["host"], c["path"], c["kind"]) for c in merged["caches"]] == [
        ("box", fake_kind, "fake")
    ]
    assert merged["totals"]["total_bytes"] == 700
    view = tmp_path / "view.json"
    view.write_text(json.dumps({"schema_version": 8, "host": "h", "by": "package", "rows": [],
                                "skipped": []}))  # fmt: skip
    code, _, err = run(capsys, "merge", str(view), "--kind", "pip")
    assert code != 0 and err.count("\n") == 1 and "--kind" in err, err


def test_a_kind_that_says_its_cache_is_busy_stops_the_clean(
    machine: Tree, capsys, tmp_path: Path, fake_kind: str, monkeypatch: pytest.MonkeyPatch
):
    """The clean asks the cache's own kind whether it is in use, at its second look too: here
    nothing uses it when planned, and the kind's fresh look right before deleting says busy."""
    # a file the fake kind's plan (pip's) picks
    blob = machine.write(f"{fake_kind}/wheels/ab/beta-1.0-py3-none-any.whl", b"x" * 700)
    chown_tree(machine.host("/home/alice"), ALICE)
    use = ProcessUse(4242, ALICE, "alice", "fake-tool run", "holds its lock")
    kind = kinds_all.KINDS["fake"]
    monkeypatch.setattr(
        kind, "busy", lambda _m, _f, paths, again=False: {p: [use] for p in paths} if again else {}
    )
    monkeypatch.setattr(kind, "looks_like", lambda _fd, _names: True)
    args = ("clean", "--root", str(machine.root), "--user", "alice", "--kind", "fake", "--yes")
    logs = ("--audit-log", str(tmp_path / "audit.log"), "--lock-dir", str(tmp_path / "locks"),
            "--state-dir", str(tmp_path / "state"))  # fmt: skip
    code, out, _ = run(capsys, *args, *logs, "--format", "json")
    (cache,) = json.loads(out)["caches"]
    assert (cache["path"], cache["kind"], cache["state"]) == (fake_kind, "fake", "busy"), out
    assert [u["pid"] for u in cache["busy_reasons"]] == [4242]
    assert blob.exists() and code != 0


def test_report_narrows_to_the_kinds_given(machine: Tree, capsys, fake_kind: str):
    machine.write(f"{fake_kind}/wheels/ab/gamma-2.0-py3-none-any.whl", b"x" * 700)
    chown_tree(machine.host("/home/alice"), ALICE)
    args = ("report", "--root", str(machine.root), "--by", "cache", "-j", "1", "--no-activity")
    every = {r["cache"] for r in _doc(capsys, *args)["rows"]}
    assert every == {"/home/alice/.cache/pip", fake_kind}
    assert {r["cache"] for r in _doc(capsys, *args, "--kind", "fake")["rows"]} == {fake_kind}
    assert {r["cache"] for r in _doc(capsys, *args, "--kind", "pip")["rows"]} == {
        "/home/alice/.cache/pip"
    }


def test_a_named_cache_left_out_by_kind_is_an_error_not_a_silent_no_op(
    machine: Tree, capsys, fake_kind: str
):
    args = ("clean", "--root", str(machine.root), "--cache", "/home/alice/.cache/pip", "--dry-run")
    code, out, err = run(capsys, *args, "--kind", "fake")
    assert (code, out) == (1, "") and err.count("\n") == 1, err
    assert "/home/alice/.cache/pip is a pip cache" in err
    code, out, _ = run(capsys, *args, "--kind", "pip", "--format", "json")
    assert [c["path"] for c in json.loads(out)["caches"]] == ["/home/alice/.cache/pip"]


def test_a_kinds_own_variables_are_read_from_the_accounts_processes(
    machine: Tree, capsys, fake_kind: str, procs, monkeypatch: pytest.MonkeyPatch
):
    """A kind names the variables its tool reads (VARIABLES) and nothing else: the process
    table keeps them, their paths translated under --root, for the kind's own find."""
    cache = machine.write("/home/alice/fc/blob", b"x" * 500).parent
    chown_tree(machine.host("/home/alice"), ALICE)
    kind = kinds_all.KINDS["fake"]
    monkeypatch.setattr(kind, "VARIABLES", {"FAKE_CACHE_DIR": "path"})

    def find(look):
        got = [
            CacheLocation(s.env["FAKE_CACHE_DIR"], (CacheSource("env", pid=s.pid),),
                          frozenset({uid}), "fake")
            for uid, settings in look.settings.items()
            for s in settings
            if "FAKE_CACHE_DIR" in s.env
        ]  # fmt: skip
        return got, []

    monkeypatch.setattr(kind, "find", find)
    monkeypatch.setattr(kind, "locations", lambda found: list(found.kind_caches.get("fake", ())))
    proc = procs.start(["/bin/sh", "-c", "echo ready; exec sleep 120"], cwd=cache,
                       env={"PATH": "/usr/bin:/bin", "FAKE_CACHE_DIR": str(cache)})  # fmt: skip
    doc = _doc(capsys, "scan", "--root", str(machine.root), "-j", "1", "--kind", "fake")
    found = {c["path"]: c for c in doc["caches"]}
    assert found["/home/alice/fc"]["sources"][0]["pid"] == proc.pid, found
    assert found["/home/alice/fc"]["total_bytes"] == 500
