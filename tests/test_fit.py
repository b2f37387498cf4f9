"""Every line fleetcache prints for people fits 80 columns unless --wide (issue 16, item 7): on a
real machine tree of hostile lengths (a 32-character account and a longer one, paths of 100
characters, a virtualenvwrapper env, a long Python version, long project names and versions, a
long command line of a real running process), each command's table, the lines after it and
``--help``. Paths are shortened in their middle, prose wraps between words, and a name, owner
or version is never cut across lines."""

from __future__ import annotations

import json
import os
from collections.abc import Iterator

import msgpack
import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from fleetcache.cli import build_parser, main
from fleetcache.formats import fit
from fleetcache.report.views import VIEWS
from tests.conftest import Tree, chown_tree
from tests.test_activity import BASE, SLEEPER, Procs, make_venv
from tests.test_formats import shown_whole
from tests.test_report import hostile_entry

ROOT = os.geteuid() == 0
ROOT_ONLY = pytest.mark.skipif(
    not ROOT, reason="gives files and processes to other uids: run as root"
)
LONG = "dr.maximilian.schneider-hartmann"  # 32 characters: the longest Linux account name
HUGE = "svc-" + "build-agent-" * 6 + "x"  # a passwd under --root may hold a longer one
LONG_HOME = f"/home/{LONG}"
SCRATCH = f"{LONG_HOME}/projects/2024/data-science/shared-configuration/pip-download-cache"
VENV = f"{LONG_HOME}/.virtualenvs/analytics-pipeline-with-a-rather-descriptive-name"
CONDA = f"{LONG_HOME}/miniforge3/envs/nightly-nightly-nightly-nightly-build"
PYTHON = "3.12.10rc2verylongbuildtag"
PROJECT = "an-unusually-long-distribution-name-for-wrapping"
VERSION = "2024.10.15.post1.dev3+gabcdef1234"
HOST = "build-server-17.analytics.example.internal"


def entry(tree: Tree, cache: str, key: str, project: str, version: str) -> None:
    """A downloaded wheel whose stored headers name ``project`` ``version``."""
    headers = {"x-pypi-file-project": project, "x-pypi-file-version": version,
               "x-pypi-file-package-type": "bdist_wheel"}  # fmt: skip
    meta = b"cc=4," + msgpack.packb({"response": {"headers": headers}, "vary": {}})
    hostile_entry(tree.host(cache), key, meta, b"x" * 1000)


def build(tree: Tree) -> None:
    """LONG: its pip.conf sends installs to SCRATCH, its default cache is a link (skipped), a
    real venv under ~/.virtualenvs and a conda env of PYTHON; HUGE: a default cache."""
    tree.user(LONG, 12345)
    tree.user(HUGE, 12346, home="/home/huge")
    tree.write(f"{LONG_HOME}/.config/pip/pip.conf", f"[install]\ncache-dir = {SCRATCH}\n")
    entry(tree, SCRATCH, "a" * 56, PROJECT, VERSION)
    entry(tree, SCRATCH, "b" * 56, PROJECT, "2024.9.1")
    tree.host(f"{LONG_HOME}/.cache").mkdir(parents=True)
    tree.host(f"{LONG_HOME}/.cache/pip").symlink_to(tree.host(SCRATCH))
    tree.write(f"{CONDA}/conda-meta/python-{PYTHON}-h1234567_0.json", "{}")
    make_venv(tree, VENV)
    chown_tree(tree.host(LONG_HOME), 12345)
    entry(tree, "/home/huge/.cache/pip", "c" * 56, PROJECT, VERSION)
    chown_tree(tree.host("/home/huge"), 12346)


@pytest.fixture
def machine(open_tree: Tree) -> Iterator[Tree]:
    """The hostile tree, with a program of LONG's running from its venv with a long command."""
    if not os.path.exists(BASE):
        pytest.skip(f"{BASE} is missing: a process of another uid needs a Python it may run")
    build(open_tree)
    procs = Procs()
    argv = [f"{open_tree.host(VENV)}/bin/python", "-c", SLEEPER, "--config",
            f"{open_tree.host(LONG_HOME)}/etc/analytics/production-settings.yaml"]  # fmt: skip
    procs.start(argv, cwd=open_tree.host(LONG_HOME), uid=12345)
    try:
        yield open_tree
    finally:
        procs.stop()


def output(capsys: pytest.CaptureFixture[str], *argv: str) -> str:
    """What ``fleetcache ARGV`` printed on stdout; it must succeed (exit 0 or 3)."""
    assert main(list(argv)) in (0, 3), argv
    return capsys.readouterr().out


def rows_of(table: str) -> str:
    """A table's rows: the lines above its TOTAL."""
    lines = table.splitlines()
    return "\n".join(lines[: next(i for i, line in enumerate(lines) if line.startswith("TOTAL"))])


def too_wide(text: str) -> list[str]:
    return [line for line in text.splitlines() if len(line) > 80]


@pytest.mark.root
@ROOT_ONLY
def test_every_commands_table_fits_80_columns_on_hostile_lengths(machine, tmp_path, capsys):
    root = ["--root", str(machine.root)]
    users = ["-u", LONG, "-u", HUGE]
    report_json = tmp_path / "scan.json"
    output(capsys, "scan", *root, *users, "-f", "json", "-o", str(report_json))
    clean = ["clean", *root, *users, "--audit-log", str(tmp_path / "audit.log"),
             "--lock-dir", str(tmp_path / "locks"), "--state-dir", str(tmp_path / "state")]  # fmt: skip
    texts = {
        "scan": output(capsys, "scan", *root, *users),
        "scan --bytes": output(capsys, "scan", *root, *users, "--bytes"),
        "envs": output(capsys, "envs", *root, *users),
        "envs --active": output(capsys, "envs", *root, *users, "--active"),
        **{
            f"report --by {by}": output(capsys, "report", *root, *users, "--by", by) for by in VIEWS
        },
        "list": output(capsys, "list", *root, "-u", LONG),
        "merge": output(capsys, "merge", f"{HOST}={report_json}"),
        "clean --dry-run": output(capsys, *clean, "--dry-run"),
        "clean --yes": output(capsys, *clean, "--yes"),
    }
    for what, text in texts.items():
        assert too_wide(text) == [], what
    scan, envs = texts["scan"], texts["envs"]
    assert "Busy (" in scan and "production-settings.yaml" not in scan  # cut between words
    for name in (LONG, HUGE):  # in the rows: whole, or shortened around "…"
        assert shown_whole(name, rows_of(scan)), name
    for name in (LONG, "virtualenvwrapper", PYTHON):
        assert shown_whole(name, rows_of(envs)), name
    for what in ("report --by package", "list"):
        assert shown_whole(PROJECT, texts[what]) and shown_whole(VERSION, texts[what]), what
    assert "cleaned" in texts["clean --yes"] and "busy" in texts["clean --yes"]
    # the control: the same data is wider than 80 columns when every column is asked for
    assert too_wide(output(capsys, "scan", *root, *users, "--wide"))
    assert too_wide(output(capsys, "envs", *root, *users, "--wide"))


@pytest.mark.parametrize("columns", ["80", "200"])
def test_help_fits_80_columns(columns, monkeypatch, capsys):
    """Every command's --help (argparse wraps to $COLUMNS; fleetcache's own texts are wrapped
    too, and never past 80 on a wider terminal)."""
    monkeypatch.setenv("COLUMNS", columns)
    commands = build_parser()._subparsers._group_actions[0].choices  # type: ignore[union-attr]
    assert isinstance(commands, dict)
    for argv in ([], *([name] for name in commands)):
        with pytest.raises(SystemExit):
            main([*argv, "--help"])
        text = capsys.readouterr().out
        assert "usage: fleetcache" in text and too_wide(text) == [], argv


def test_envs_total_counts_the_rows_it_shows(tree: Tree, capsys):
    """Item 11: a registered environment that is gone is a row, and the TOTAL counts it."""
    tree.write("/usr/bin/python3", "")
    tree.write("/root/proj/.venv/pyvenv.cfg", "home = /usr/bin\nversion = 3.11.2\n")
    tree.write("/root/.conda/environments.txt", "/opt/gone\n/root/proj/.venv\n")
    out = output(capsys, "envs", "--root", str(tree.root), "-u", "root", "--wide")
    lines = out.splitlines()
    total = next(i for i, line in enumerate(lines) if line.startswith("TOTAL"))
    rows = sorted(line.split()[0] for line in lines[2:total])
    assert rows == ["/opt/gone", "/root/proj/.venv", "/usr"]
    assert lines[total].startswith("TOTAL (3 environments, 1 gone)")
    doc = json.loads(output(capsys, "envs", "--root", str(tree.root), "-u", "root", "-f", "json"))
    assert len(doc["environments"]) == 3


@given(st.text(st.characters(blacklist_characters="…"), max_size=300),
       st.integers(min_value=1, max_value=120))  # fmt: skip
@example("0/000", 4)  # the head grew to its '/' past the tail: "0/…0"
def test_a_shortened_path_keeps_its_start_and_end(path: str, width: int) -> None:
    shown = fit.shorten(path, width)
    assert len(shown) <= width
    if len(path) <= width:
        assert shown == path
    elif width > 1:
        head, _, tail = shown.partition("…")
        assert path.startswith(head) and path.endswith(tail) and len(tail) >= len(head)


@given(st.lists(st.text("ab-./é", min_size=1, max_size=30), max_size=20),
       st.integers(min_value=16, max_value=80))  # fmt: skip
def test_prose_wraps_between_words_and_never_splits_one(words: list[str], width: int) -> None:
    lines = fit.wrap(" ".join(words), width, "  ", "      ")
    assert all(len(line) <= width for line in lines)
    shown = " ".join(lines).split()
    assert len(shown) == len(words)
    for word, piece in zip(words, shown):
        assert piece == word or shown_whole(word, piece)


def test_paths_keep_whole_directories_at_their_start() -> None:
    path = "/home/alice/projects/data-science/experiments/2024/.venv"
    assert fit.shorten(path, 30) == "/home/…/experiments/2024/.venv"
    assert fit.shorten("virtualenvwrapper", 12) == "vir…vwrapper"


def test_a_long_command_is_cut_between_words() -> None:
    command = "/opt/venvs/analytics/bin/python -m analytics.run --config /etc/analytics/prod.yaml"
    assert fit.cut(command, 60) == "/opt/venvs/analytics/bin/python -m analytics.run --config …"
    long_program = "/srv" + "/deeply/nested" * 5 + "/bin/python -c pass"
    assert fit.cut(long_program, 30) == "/srv/…/nested/bin/python …"
    assert fit.cut("2024.10.15.post1.dev3+gabc, 2024.9.1", 20) == "2024.…1.dev3+gabc, …"


def test_counts_and_sizes_are_never_shortened() -> None:
    """However crowded a table, a number keeps every digit (the others give way instead)."""
    rows = [["/srv/" + "x" * 80, "alice", *["98765432109876"] * 4, "123.5 GB"]]
    headers = ["CACHE", "OWNER", "A", "B", "C", "D", "TOTAL"]
    widths = fit.widths(rows, headers, [fit.PATH, *[fit.WORD] * 6])
    assert widths == [7, 7, 14, 14, 14, 14, 8]
