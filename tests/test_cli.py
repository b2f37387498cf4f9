"""The command line: exit codes, one-line errors, output files, the JSON contract and CSV."""

from __future__ import annotations

import csv
import io
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from fleetcache.cli import main
from fleetcache.formats.fields import CACHE_FIELDS, ENV_FIELDS
from tests.conftest import Tree, chown_tree

ALICE = 1000 if os.geteuid() == 0 else os.getuid()
SELFCHECK = json.dumps({"key": "/opt/gone", "last_check": "2026-01-01T00:00:00Z"})


@pytest.fixture
def machine(tree: Tree) -> Tree:
    """root without a cache; alice with one complete entry and one built wheel; bob with none."""
    tree.user("alice", ALICE)
    tree.user("bob", ALICE + 1)
    key = "ab" + "0" * 54
    leaf = f"/home/alice/.cache/pip/http-v2/a/b/0/0/0/{key}"
    tree.write(leaf, b"cc=4," + b"m" * 95)
    tree.write(leaf + ".body", b"b" * 2000)
    tree.write(
        f"/home/alice/.cache/pip/wheels/ab/cd/ef/{'1' * 50}/beta-1.0-py3-none-any.whl", b"w" * 300
    )
    tree.write(f"/home/alice/.cache/pip/selfcheck/{'2' * 56}", SELFCHECK)
    tree.write("/home/alice/proj/.venv/pyvenv.cfg", "home = /usr/bin\nversion = 3.11.2\n")
    tree.write("/usr/bin/python3", "")
    chown_tree(tree.host("/home/alice"), ALICE)
    return tree


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_json_document_has_the_contract(machine: Tree, capsys):
    code, out, err = run(capsys, "scan", "--root", str(machine.root), "--format", "json")
    assert (code, err) == (0, "")
    doc = json.loads(out)
    assert set(doc) == {
        "schema_version",
        "host",
        "generated_at",
        "fleetcache_version",
        "root",
        "users",
        "caches",
        "totals",
        "environments",
        "activity",
        "skipped",
    }
    assert doc["schema_version"] == 9
    assert set(doc["activity"]) == {"processes", "examined", "unreadable", "pips"}
    assert [u["name"] for u in doc["users"]] == ["root", "alice", "bob"]
    alice = next(c for c in doc["caches"] if c["users"] == ["alice"])
    assert list(alice) == [f.name for f in CACHE_FIELDS]
    assert alice["path"] == "/home/alice/.cache/pip" and alice["owner"] == "alice"
    assert (alice["http_files"], alice["http_bytes"]) == (2, 2100)
    assert (alice["wheel_files"], alice["wheel_bytes"], alice["total_bytes"]) == (
        1,
        300,
        2400 + len(SELFCHECK),
    )
    assert alice["sources"][0]["kind"] == "default" and alice["exists"] is True
    assert alice["selfcheck"] == [
        {"prefix": "/opt/gone", "last_check": "2026-01-01T00:00:00Z", "exists": False}
    ]
    assert alice["dead_selfcheck"] == 1
    assert (alice["busy"], alice["busy_reasons"]) == (False, [])  # nothing runs in the tree
    assert alice["environment_count"] == 1
    assert alice["environments"] == ["/home/alice/proj/.venv"]
    assert doc["totals"]["http_bytes"] == 2100
    system, venv, gone = doc["environments"]
    assert (system["prefix"], system["kind"], system["shared"]) == ("/usr", "system", True)
    assert list(venv) == [f.name for f in ENV_FIELDS]
    assert (venv["prefix"], venv["kind"], venv["owner"]) == (
        "/home/alice/proj/.venv",
        "venv",
        "alice",
    )
    assert (venv["python_version"], venv["project"]) == ("3.11.2", "/home/alice/proj")
    assert venv["caches"] == [
        {
            "path": "/home/alice/.cache/pip",
            "commands": ["cache", "download", "index", "install", "list", "lock", "search",
                         "uninstall", "wheel"],
            "source": "default location",
        }
    ]  # fmt: skip
    assert venv["found_by"] == ["home walk"] and venv["problems"] == []
    assert (venv["active"], venv["pids"], venv["processes"]) == (False, [], [])
    assert venv["size_bytes"] is None  # scan does not size environments; `envs` does
    assert (gone["prefix"], gone["kind"], gone["exists"]) == ("/opt/gone", "unknown", False)
    assert gone["problems"] == ["named in selfcheck/ of /home/alice/.cache/pip but gone"]
    assert gone["active"] is False
    bob = next(c for c in doc["caches"] if c["users"] == ["bob"])
    assert bob["exists"] is False and bob["total_files"] == 0


def test_csv_has_a_header_and_one_row_per_cache(machine: Tree, capsys):
    code, out, _ = run(capsys, "scan", "--root", str(machine.root), "-f", "csv")
    rows = list(csv.DictReader(io.StringIO(out)))
    assert code == 0 and len(rows) == 3
    alice = next(r for r in rows if r["users"] == "alice")
    assert alice["http_bytes"] == "2100" and alice["exists"] == "true"
    assert alice["sources"] == "alice: default location"


def test_table_shows_caches_totals_and_who_has_none(machine: Tree, capsys):
    code, out, _ = run(capsys, "scan", "--root", str(machine.root), "--bytes")
    assert code == 0
    lines = out.splitlines()
    header = ["CACHE", "KIND", "OWNER", "BUSY", "ENVS", "HTTP", "SIZE", "FREES"]
    assert lines[0].split() == header
    assert max(len(line) for line in lines[: lines.index("Used by:")]) <= 80
    assert "  /home/alice/.cache/pip: alice (default location)" in lines
    assert any(line.split()[:3] == ["/home/alice/.cache/pip", "pip", "alice"] for line in lines)
    assert any(line.startswith("TOTAL (1 cache)") and " 2100 " in line for line in lines)
    assert "No cache yet: root (default location), bob (default location)" in lines


def test_output_file_is_written_whole(machine: Tree, capsys, tmp_path: Path):
    target = tmp_path / "fleet.csv"
    target.write_text("previous report\n")
    code, out, _ = run(capsys, "scan", "--root", str(machine.root), "-f", "csv", "-o", str(target))
    assert code == 0 and out == ""
    assert target.read_text().startswith("path,owner,")
    assert [p.name for p in tmp_path.iterdir()] == ["fleet.csv", "machine"]


def test_unwritable_output_is_one_line_error_and_keeps_nothing_half(
    machine: Tree, capsys, tmp_path
):
    code, out, err = run(
        capsys, "scan", "--root", str(machine.root), "-o", str(tmp_path / "no/dir/x")
    )
    assert code == 1 and out == ""
    assert err.count("\n") == 1 and err.startswith("fleetcache: error:")


@pytest.mark.parametrize(
    "argv, message",
    [
        (["scan", "--user", "zed"], "no such user: zed"),
        (["scan", "--format", "xml"], "invalid choice: 'xml'"),
        (["scan", "--jobs", "0"], "--jobs must be at least 1"),
        (["info", "--user", "alice", "--user", "nobody"], "no such user: nobody"),
        (["frobnicate"], "invalid choice: 'frobnicate'"),
        (["envs", "--depth", "-1"], "--depth must be 0 or more"),
        (["envs", "--home-budget", "0"], "--home-budget must be more than 0 seconds"),
        (["envs", "--user", "zed"], "no such user: zed"),
    ],
)
def test_bad_arguments_exit_2_with_one_line(machine: Tree, capsys, argv, message):
    code, out, err = (
        run(capsys, *argv[:1], "--root", str(machine.root), *argv[1:])
        if argv[0] != "frobnicate"
        else run(capsys, *argv)
    )
    assert code == 2 and out == ""
    assert err.count("\n") == 1 and message in err


def test_root_that_is_not_a_directory(capsys, tmp_path: Path):
    code, _, err = run(capsys, "scan", "--root", str(tmp_path / "missing"))
    assert code == 2 and "not a directory" in err


def test_root_without_passwd_is_an_error(capsys, tmp_path: Path):
    code, _, err = run(capsys, "scan", "--root", str(tmp_path))
    assert code == 1 and "no account database" in err and err.count("\n") == 1


def test_skipped_cache_gives_exit_3_and_is_listed(machine: Tree, capsys):
    machine.write(
        "/home/bob/.config/pip/pip.conf", "[global]\ncache-dir = /home/alice/.cache/pip\n"
    )
    os.lchown(machine.host("/home/bob/.config/pip/pip.conf"), ALICE + 1, ALICE + 1)
    code, out, _ = run(capsys, "scan", "--root", str(machine.root), "--user", "bob", "-f", "json")
    doc = json.loads(out)
    if os.geteuid() != 0:
        pytest.skip("as one uid, alice's cache belongs to bob too")
    assert code == 3
    assert doc["skipped"] == [
        {
            "path": "/home/alice/.cache/pip",
            "reason": f"not walked: owned by uid {ALICE}, not by an account that uses it",
        }
    ]


def test_dir_lists_each_cache_of_the_account(machine: Tree, capsys):
    machine.write(
        "/home/alice/.pip/pip.conf", "[download]\ncache-dir = /scratch/alice\n", uid=ALICE
    )
    code, out, _ = run(capsys, "dir", "--root", str(machine.root), "--user", "alice")
    others = "cache, index, install, list, lock, search, uninstall, wheel"
    assert code == 0 and out.splitlines() == [
        f"/home/alice/.cache/pip\tdefault location: {others}",
        "/scratch/alice\tuser config /home/alice/.pip/pip.conf [download]: download",
    ]
    code, out, _ = run(capsys, "dir", "--root", str(machine.root), "-u", "alice", "-u", "bob")
    assert out.splitlines() == [
        f"alice\t/home/alice/.cache/pip\tdefault location: {others}",
        "alice\t/scratch/alice\tuser config /home/alice/.pip/pip.conf [download]: download",
        "bob\t/home/bob/.cache/pip\tdefault location: all commands",
    ]
    code, out, _ = run(capsys, "dir", "--root", str(machine.root), "-u", "bob")
    assert (code, out) == (0, "/home/bob/.cache/pip\n")  # one cache: as `pip cache dir` prints


def test_info_for_several_caches_names_each(machine: Tree, capsys):
    machine.write(
        "/home/alice/.pip/pip.conf", "[download]\ncache-dir = /scratch/alice\n", uid=ALICE
    )
    code, out, _ = run(capsys, "info", "--root", str(machine.root), "--user", "alice")
    assert code == 0
    blocks = out.split("\n\n")
    assert blocks[0].splitlines()[0].startswith("# alice: /home/alice/.cache/pip (default location")
    assert "Number of HTTP files: 2" in blocks[0] and "Number of HTTP files: 0" in blocks[1]


def test_list_json(machine: Tree, capsys):
    code, out, _ = run(capsys, "list", "--wheels", "--root", str(machine.root), "-u", "alice",
                       "-f", "json")  # fmt: skip
    assert code == 0
    (record,) = json.loads(out)
    assert record["name"] == "beta-1.0-py3-none-any.whl" and record["size"] == 300


def test_help_documents_exit_codes_and_runs_as_a_module():
    out = subprocess.run(
        [sys.executable, "-m", "fleetcache", "scan", "--help"], capture_output=True, text=True
    )
    assert out.returncode == 0
    assert "3  done in part" in out.stdout and "--search PATH" in out.stdout


def test_a_closed_pipe_ends_quietly(machine: Tree):
    proc = subprocess.Popen(
        [sys.executable, "-m", "fleetcache", "scan", "--root", str(machine.root), "-f", "json"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    assert proc.stdout is not None and proc.stderr is not None
    proc.stdout.close()  # like `| head` that has already exited
    err = proc.stderr.read().decode()
    assert proc.wait() == 1 and err == ""


def test_info_says_when_the_cache_is_disabled(machine: Tree, capsys):
    machine.write("/home/bob/.pip/pip.conf", "[global]\nno-cache-dir = 1\n", uid=ALICE + 1)
    code, out, err = run(capsys, "info", "--root", str(machine.root), "--user", "bob")
    assert (code, out) == (0, "")
    assert (
        err
        == "fleetcache: bob: cache disabled for all commands by /home/bob/.pip/pip.conf [global]\n"
    )


def test_info_for_accounts_sharing_a_cache_shows_it_for_each(machine: Tree, capsys):
    machine.write("/etc/pip.conf", "[global]\ncache-dir = /srv/shared\n")
    machine.write(f"/srv/shared/wheels/ab/cd/ef/{'3' * 50}/s-1-py3-none-any.whl", b"s" * 10)
    code, out, _ = run(capsys, "info", "--root", str(machine.root), "-u", "alice", "-u", "bob")
    assert code == 0
    headers = [line for line in out.splitlines() if line.startswith("#")]
    assert headers == [
        "# alice: /srv/shared (/etc/pip.conf [global], all commands)",
        "# bob: /srv/shared (/etc/pip.conf [global], all commands)",
    ]
    assert out.count("Number of locally built wheels: 1") == 2


def test_envs_table_lists_each_with_its_caches_then_problems(machine: Tree, capsys):
    code, out, err = run(capsys, "envs", "--root", str(machine.root), "--user", "alice")
    assert code == 0 and err == ""
    narrow = out.splitlines()
    assert narrow[0].split() == ["PREFIX", "KIND", "OWNER", "PYTHON", "SIZE", "ACTIVE"]
    assert max(map(len, narrow)) <= 80
    code, out, err = run(capsys, "envs", "--root", str(machine.root), "--user", "alice", "--wide")
    lines = out.splitlines()
    assert lines[0].split() == ["PREFIX", "KIND", "OWNER", "PYTHON", "PIP", "INTERPRETER", "BASE",
                                "CACHES", "SIZE", "MODIFIED", "ACTIVE", "FOUND", "BY"]  # fmt: skip
    assert lines[2].split()[:3] == ["/usr", "system", "root"]
    venv = lines[3].split()
    assert venv[:4] == ["/home/alice/proj/.venv", "venv", "alice", "3.11.2"]
    assert venv[4:7] == ["/usr/bin/python3", "/home/alice/.cache/pip", "33"]
    assert lines[4].split()[:2] == ["/opt/gone", "unknown"]
    assert lines[5].split()[:4] == ["TOTAL", "(3", "environments,", "1"]  # /opt/gone counts
    assert lines[6:] == [
        "Environment problems (2):",
        "  /usr: version unknown: interpreters under --root are not run",
        "  /opt/gone: named in selfcheck/ of /home/alice/.cache/pip but gone",
    ]


def test_envs_json_and_csv(machine: Tree, capsys):
    code, out, _ = run(capsys, "envs", "--root", str(machine.root), "-u", "alice", "-f", "json")
    assert code == 0
    doc = json.loads(out)
    assert set(doc) == {"schema_version", "host", "generated_at", "fleetcache_version", "root",
                        "environments", "activity", "skipped"}  # fmt: skip
    venv = doc["environments"][1]
    assert (venv["prefix"], venv["size_bytes"], venv["files"]) == ("/home/alice/proj/.venv", 33, 1)
    code, out, _ = run(capsys, "envs", "--root", str(machine.root), "-u", "alice", "-f", "csv")
    assert code == 0
    rows = list(csv.reader(io.StringIO(out)))
    assert rows[0] == [f.name for f in ENV_FIELDS]
    record = dict(zip(rows[0], rows[2]))
    assert record["caches"] == "/home/alice/.cache/pip"
    assert (record["found_by"], record["exists"], record["problems"]) == ("home walk", "true", "")
    assert (record["active"], record["pids"]) == ("false", "")
    assert len(rows) == 4
    # without the process table, active is unknown: null, an empty cell, "?"
    code, out, _ = run(capsys, "envs", "--root", str(machine.root), "-u", "alice", "-f", "json",
                       "--no-activity")  # fmt: skip
    doc = json.loads(out)
    assert doc["activity"] is None and doc["environments"][1]["active"] is None
    code, out, err = run(capsys, "envs", "--root", str(machine.root), "--active", "--no-activity")
    assert code == 2 and "drop --no-activity" in err


def test_envs_cut_short_exits_3(machine: Tree, capsys):
    code, out, err = run(capsys, "envs", "--root", str(machine.root), "-u", "alice", "--depth", "1")
    assert code == 3 and err == ""
    assert "/home/alice/proj/.venv" not in out
    assert "/home/alice: 1 directory below depth 1 not searched" in out


def test_envs_of_one_kind(machine: Tree, capsys):
    code, out, _ = run(capsys, "envs", "--root", str(machine.root), "--kind", "venv", "-f", "csv")
    assert code == 0
    assert [row.split(",")[:2] for row in out.splitlines()[1:]] == [
        ["/home/alice/proj/.venv", "venv"]
    ]
    code, _, err = run(capsys, "envs", "--root", str(machine.root), "--kind", "snake")
    assert code == 2 and "invalid choice: 'snake'" in err
