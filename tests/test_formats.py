"""Every format's exact output for one fixed scan, report and list (golden files in tests/golden/;
`FLEETCACHE_GOLDEN=write` rewrites them after a deliberate change), and Prometheus output that the
reference parser accepts."""

from __future__ import annotations

import csv
import io
import json
import os
import re
from dataclasses import replace
from pathlib import Path
from typing import Callable

import msgpack
import pytest
from hypothesis import given
from hypothesis import strategies as st
from prometheus_client.parser import text_string_to_metric_families

from fleetcache import escape
from fleetcache.cli import main
from fleetcache.formats import FORMATS, RenderOptions
from fleetcache.formats.fields import document
from fleetcache.report.merge import combine
from fleetcache.report.views import build
from tests.conftest import Tree, chown_tree
from tests.format_sample import (
    ENTRIES,
    ENV,
    FOUND,
    HUGE_USER,
    LONG_FOUND,
    LONG_PROJECT,
    LONG_REPORTS,
    LONG_RESULT,
    LONG_USER,
    LONG_VERSION,
    REPORT,
    RESULT,
)
from tests.test_report import hostile_entry

GOLDEN = Path(__file__).parent / "golden"
OPTIONS = RenderOptions()
MERGED = combine([{**json.loads(json.dumps(document(RESULT))), "_file": "box.json"}])
LONG_MERGED = combine([{**json.loads(json.dumps(document(LONG_RESULT))), "_file": "box.json"}])
RENDER: dict[str, Callable[[str], str]] = {
    "scan": lambda f: FORMATS[f].scan(RESULT, OPTIONS),
    "envs": lambda f: FORMATS[f].envs(RESULT, OPTIONS),
    "active": lambda f: FORMATS[f].envs(RESULT, RenderOptions(processes=True)),
    "report": lambda f: FORMATS[f].report(REPORT, [], OPTIONS),
    "report-kind": lambda f: FORMATS[f].report(build("kind", RESULT, ENTRIES), [], OPTIONS),
    "list": lambda f: FORMATS[f].entries(FOUND, OPTIONS),
    "merged": lambda f: FORMATS[f].merged(MERGED, OPTIONS),
    # hostile lengths: long paths, names, owners, versions and commands (issue 16, item 7)
    "long-scan": lambda f: FORMATS[f].scan(LONG_RESULT, OPTIONS),
    "long-envs": lambda f: FORMATS[f].envs(LONG_RESULT, OPTIONS),
    "long-active": lambda f: FORMATS[f].envs(LONG_RESULT, RenderOptions(processes=True)),
    "long-report": lambda f: FORMATS[f].report(LONG_REPORTS["package"], [], OPTIONS),
    "long-list": lambda f: FORMATS[f].entries(LONG_FOUND, OPTIONS),
    "long-merged": lambda f: FORMATS[f].merged(LONG_MERGED, OPTIONS),
}
# html has no golden file: its page inlines page.js and page.css (and their hashes), and a merged
# or list page says when and where it was made; tests/test_html.py checks its structure instead
CASES = [(view, fmt) for view in RENDER for fmt in FORMATS if not (view.endswith("active") and fmt
         in ("json", "csv", "prometheus")) and not (view.startswith("long") and fmt != "table")
         and fmt != "html"]  # fmt: skip


@pytest.mark.parametrize(("view", "fmt"), CASES)
def test_exact_output(view: str, fmt: str) -> None:
    text = RENDER[view](fmt)
    golden = GOLDEN / f"{view}.{fmt}"
    if os.environ.get("FLEETCACHE_GOLDEN") == "write":
        golden.write_text(text)
    assert text == golden.read_text()


@pytest.mark.parametrize("view", ["scan", "envs", "report", "list", "merged"])
def test_prometheus_output_is_valid_exposition_format(view: str) -> None:
    families = list(text_string_to_metric_families(RENDER[view]("prometheus")))
    assert families and all(
        f.name.startswith("fleetcache_") and f.type == "gauge" for f in families
    )
    assert all(f.documentation for f in families)


def test_json_outputs_parse() -> None:
    for view in ("scan", "envs", "report", "list", "merged"):
        json.loads(RENDER[view]("json"))


def by(view: str) -> Callable[[str], str]:
    """The hostile sample's report by ``view``, in a format."""
    return lambda f: FORMATS[f].report(LONG_REPORTS[view], [], OPTIONS)


LONG_TABLES = {**RENDER, **{f"long-report-by-{view}": by(view) for view in LONG_REPORTS}}


@pytest.mark.parametrize("view", list(LONG_TABLES))
def test_every_line_of_a_table_fits_80_columns(view: str) -> None:
    """The table, and every line after it (Used by, Busy, problems, insights, Skipped)."""
    lines = LONG_TABLES[view]("table").splitlines()
    assert set(lines[1]) == {"-", " "}, view  # the table comes first
    assert [line for line in lines if len(line) > 80] == [], view


def shown_whole(value: str, text: str) -> bool:
    """``value`` is in ``text`` in one piece, or shortened around "…" (its start and its end
    kept), never cut across lines."""
    if value in text:
        return True
    return any(
        value.startswith(head) and value.endswith(tail.rstrip(",;:)"))
        for head, tail in re.findall(r"(\S+)…(\S+)", text)
    )


def test_names_owners_and_versions_are_never_split() -> None:
    envs = RENDER["long-envs"]("table")
    for value in ("virtualenvwrapper", "3.10.13", "3.12.10rc2verylongbuildtag", LONG_USER,
                  HUGE_USER):  # fmt: skip
        assert shown_whole(value, envs), value
    assert LONG_USER in RENDER["long-scan"]("table")  # 32 characters fit beside a path
    report = RENDER["long-report"]("table")
    assert shown_whole(LONG_PROJECT, report) and shown_whole(LONG_VERSION, report)
    listed = RENDER["long-list"]("table")
    assert shown_whole(LONG_PROJECT, listed) and shown_whole(LONG_VERSION, listed)


def test_a_typical_row_keeps_its_kind_owner_and_version_whole() -> None:
    """What a new admin saw (``virtualenvwr`` / ``apper``, ``3.10.1`` / ``3``, owners over two
    lines): an everyday long row gives way by its path alone."""
    env = replace(ENV, prefix="/home/maximilian/.virtualenvs/analytics-pipeline",
                  kind="virtualenvwrapper", owner="maximilian", python_version="3.10.13")  # fmt: skip
    text = FORMATS["table"].envs(replace(RESULT, environments=(ENV, env)), OPTIONS)
    row = text.splitlines()[3].split()
    assert row[1:4] == ["virtualenvwrapper", "maximilian", "3.10.13"]
    head, _, tail = row[0].partition("…")
    assert env.prefix.startswith(head) and env.prefix.endswith(tail) and len(tail) > len(head)


def test_wide_tables_show_every_cell_whole() -> None:
    wide = RenderOptions(wide=True)
    text = FORMATS["table"].envs(LONG_RESULT, wide) + FORMATS["table"].scan(LONG_RESULT, wide)
    for value in (LONG_USER, HUGE_USER, "3.12.10rc2verylongbuildtag", LONG_RESULT.skipped[0].path):
        assert value in text
    assert all(e.prefix in text for e in LONG_RESULT.environments)


# output that cannot attack its reader (issue 15, item 8): names an account controls
ROOT = os.geteuid() == 0
ROOT_ONLY = pytest.mark.skipif(not ROOT, reason="gives files to other uids: run as root (CI is)")
EVIL = "ev\x1b]0;pwn\x07il"  # an account name that retitles the terminal and rings its bell
FORMULA = '=HYPERLINK("evil.example","open")'  # no colon: it is a passwd name too
HOST = "@SUM(1+9)*cmd|' -C calc'!A0"  # the machine's name, which merge shows
TRIGGERS = ("=", "+", "-", "@", "\t", "\r")


def hostile_machine(top: Path) -> Tree:
    """A machine named HOST; two accounts, EVIL and FORMULA, each with a venv and a cache whose
    stored headers name a project FORMULA, version ``-2+3``."""
    tree = Tree(top / HOST)
    for i, name in enumerate((EVIL, FORMULA)):
        uid = 12345 + i
        tree.user(name, uid, home=f"/home/u{i}")
        headers = {"x-pypi-file-project": FORMULA, "x-pypi-file-version": "-2+3",
                   "x-pypi-file-package-type": "bdist_wheel"}  # fmt: skip
        meta = b"cc=4," + msgpack.packb({"response": {"headers": headers}, "vary": {}})
        hostile_entry(tree.host(f"/home/u{i}/.cache/pip"), "c" * 56, meta, b"x" * 100)
        tree.write(f"/home/u{i}/proj/.venv/pyvenv.cfg", "home = /usr/bin\nversion = 3.11.2\n")
        chown_tree(tree.host(f"/home/u{i}"), uid)
    return tree


def out_of(capsys: pytest.CaptureFixture[str], *argv: str) -> str:
    """What ``fleetcache ARGV`` wrote to stdout (it must succeed)."""
    assert main(list(argv)) in (0, 3)
    return capsys.readouterr().out


@pytest.mark.root
@ROOT_ONLY
def test_no_csv_cell_starts_a_formula(tmp_path, capsys):
    tree = hostile_machine(tmp_path)
    root = ["--root", str(tree.root), "--no-activity"]
    scan_json = tmp_path / "scan.json"
    out_of(capsys, "scan", *root, "-f", "json", "-o", str(scan_json))
    texts = {
        "scan": out_of(capsys, "scan", *root, "-f", "csv"),
        "envs": out_of(capsys, "envs", *root, "-f", "csv"),
        "report": out_of(capsys, "report", *root, "-f", "csv"),
        "report by user": out_of(capsys, "report", *root, "--by", "user", "-f", "csv"),
        "list": out_of(capsys, "list", "--root", str(tree.root), "-u", FORMULA, "-f", "csv"),
        "merge": out_of(capsys, "merge", str(scan_json), "-f", "csv"),
    }
    for what, text in texts.items():
        cells = [c for row in csv.reader(io.StringIO(text)) for c in row]
        assert not [c for c in cells if c.startswith(TRIGGERS)], what
        assert any(c.startswith("'=") for c in cells), what  # the name is there, defused
    assert "'-2+3" in texts["list"]


@pytest.mark.root
@ROOT_ONLY
def test_prometheus_labels_carry_no_control_character(tmp_path, capsys):
    """EVIL's ESC and BEL reach the labels escaped, and the reference parser reads every series."""
    tree = hostile_machine(tmp_path)
    root = ["--root", str(tree.root), "--no-activity", "-f", "prometheus"]
    for argv in (["scan", *root], ["envs", *root], ["report", *root, "--by", "user"],
                 ["list", *root[:2], "-u", EVIL, "-f", "prometheus"]):  # fmt: skip
        text = out_of(capsys, *argv)
        assert not [c for c in text if (c < " " and c != "\n") or c == "\x7f"], argv
        labels = [v for f in text_string_to_metric_families(text) for s in f.samples
                  for v in s.labels.values()]  # fmt: skip
        assert "ev\\x1b]0;pwn\\x07il" in labels, argv


@pytest.mark.root
@ROOT_ONLY
def test_account_names_reach_every_table_escaped(tmp_path, capsys):
    """EVIL's name, from the --root tree's passwd, in every table and line fleetcache prints for
    people: scan, envs, report, list, info, dir, merge and the clean plan."""
    tree = hostile_machine(tmp_path)
    root = ["--root", str(tree.root)]
    scan_json = tmp_path / "scan.json"
    out_of(capsys, "scan", *root, "--no-activity", "-f", "json", "-o", str(scan_json))
    clean = ["clean", *root, "-u", EVIL, "--dry-run", "--audit-log", str(tmp_path / "audit.log"),
             "--lock-dir", str(tmp_path / "locks")]  # fmt: skip
    for argv in (["scan", *root], ["scan", *root, "--wide"], ["envs", *root],
                 ["envs", *root, "-f", "markdown"], ["report", *root, "--by", "user"],
                 ["report", *root, "--by", "user", "-f", "markdown"], ["list", *root, "-u", EVIL],
                 ["info", *root, "-u", EVIL, "-u", FORMULA], ["dir", *root, "-u", EVIL, "-u", "root"],
                 ["merge", str(scan_json)], ["merge", str(scan_json), "-f", "markdown"],
                 clean, [*clean, "--wide"]):  # fmt: skip
        main(argv)
        out, err = capsys.readouterr()
        allowed = "\n\t" if argv[0] == "dir" else "\n"  # dir: NAME<tab>PATH for several accounts
        assert not [c for c in out + err if c < " " and c not in allowed], argv
        if argv[0] != "list":  # list's rows name no account (a narrow column may shorten it)
            assert shown_whole(escape.display(EVIL), out), argv


@given(st.text(), st.integers(min_value=3, max_value=400))
def test_a_clipped_cell_is_printable_and_within_its_limit(value: str, limit: int) -> None:
    shown = escape.clip(value, limit)
    full = escape.display(value)
    assert shown.isprintable() and len(shown) <= limit
    if len(full) <= limit:
        assert shown == full
    else:  # both ends kept around the mark
        half = (limit - 1) // 2
        assert shown[half] == "…" and full.startswith(shown[:half])
        assert full.endswith(shown[half + 1 :]) and len(shown) == limit
