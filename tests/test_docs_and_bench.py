"""The README says what the code does, and the benchmark still runs (at tiny size: no timing here)."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from fleetcache.cli import build_parser
from fleetcache.formats.fields import (
    AUDIT_FIELDS,
    CACHE_FIELDS,
    CLEAN_FIELDS,
    ENTRY_FIELDS,
    ENV_FIELDS,
    REPORT_FIELDS,
    clean_document,
    document,
    envs_document,
    report_document,
)
from fleetcache.kinds.all import KINDS
from fleetcache.policyfile.command import show_document
from fleetcache.quarantine_cli import _run_record, list_document
from tests import browser

REPO = Path(__file__).resolve().parent.parent
README = (REPO / "README.md").read_text()


def test_first_screen_has_exactly_the_two_setup_commands():
    first_block = re.search(r"```sh\n(.*?)```", README, re.S)
    assert first_block is not None and README.index("```sh") < 1000
    commands = [line.split("#")[0].strip() for line in first_block.group(1).splitlines()]
    assert commands == ["python3 -m pip install . && python3 -m fleetcache scan", "scripts/test"]
    assert "scripts/test" in (REPO / ".ci" / "run").read_text()


def test_every_json_field_is_documented():
    documented = [(f.name, f.doc) for f in CACHE_FIELDS] + [(f.name, f.doc) for f in ENV_FIELDS]
    documented += REPORT_FIELDS + ENTRY_FIELDS + CLEAN_FIELDS + AUDIT_FIELDS
    for name, doc in documented:
        assert f"| `{name}` | {doc} |" in README
    consts = (document, envs_document, report_document, clean_document)
    for key in (c for f in consts for c in f.__code__.co_consts):
        if isinstance(key, str) and key.isidentifier() and key.islower():
            assert f"`{key}`" in README, key


def _keys(code: Any) -> set[str]:
    """The names a function's code (its comprehensions' too) may give a JSON document's keys."""
    out = set()
    for const in code.co_consts:
        for c in const if isinstance(const, tuple) else (const,):  # a dict's keys: one tuple
            if isinstance(c, str) and c.isidentifier() and c.islower():
                out.add(c)
            elif hasattr(c, "co_consts"):
                out |= _keys(c)
    return out


@pytest.mark.parametrize(
    "heading, make",
    [
        ("### `quarantine list --format json`", [list_document, _run_record]),
        ("### `policy show --format json`", [show_document]),
    ],
)
def test_the_quarantine_and_policy_documents_are_documented(heading, make):
    """Each key of `quarantine list --format json` and `policy show --format json` is in its
    own part of README's "JSON fields" (they were in none)."""
    assert heading in README
    part = README.split(heading, 1)[1].split("\n## ", 1)[0].split("\n### ", 1)[0]
    for key in set().union(*(_keys(f.__code__) for f in make)) - {"json"}:
        assert f"`{key}`" in part, key


def test_every_command_is_documented():
    parser = build_parser()
    commands = parser._subparsers._group_actions[0].choices  # type: ignore[union-attr]
    assert isinstance(commands, dict) and commands
    for name in commands:
        assert f"fleetcache {name}" in README


def test_benchmark_runs_and_prints_its_ratios():
    out = subprocess.run(
        [sys.executable, str(REPO / "scripts" / "bench"), "--quick"],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert out.returncode == 0, out.stderr
    for label in (
        "scan / du -sb",
        "scan --jobs 1 / scan",
        "pip cache info loop / scan",
        "envs discovery / find",
        "peak RSS MB",
        "s/file vs 1x",
        "activity pass per 1000 processes",
        "fleetcache report (names entries)",
        "clean deleting / rm -rf",
    ):
        assert label in out.stdout


def test_the_uv_fleet_benchmark_runs_and_prints_its_ratio():
    """Issue 17's fleet: uv caches hardlinked into venvs; the whole scan against du -sb."""
    out = subprocess.run(
        [sys.executable, str(REPO / "scripts" / "bench"), "--fleet", "uv", "--quick"],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert out.returncode == 0, out.stderr
    for label in ("files in uv caches", "scan / du -sb", "peak RSS MB"):
        assert label in out.stdout
    # what is timed is the registry's uv kind finding every account's cache, not a stand-in
    assert "uv caches the scan found and measured: 3 of 3" in out.stdout


def test_the_html_benchmark_prints_the_page_size_and_its_render_time():
    """Issue 20: the page of the bench's fleet is measured against 2 MB and, in headless Chromium,
    against 2 s, for scan, report --by package and a merge; each made against its JSON."""
    out = subprocess.run(
        [sys.executable, str(REPO / "scripts" / "bench"), "--html", "--quick"],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert out.returncode == 0, out.stderr + out.stdout
    for name in ("scan", "report --by package", "merge of 3 hosts"):
        assert f"{name} -f html" in out.stdout and f"{name}: html / json" in out.stdout
        size = re.search(
            rf"^  {re.escape(name)} +([\d,]+) +[\d.]+ +[\d.]+   < 2 MB", out.stdout, re.M
        )
        assert size and int(size.group(1).replace(",", "")) > 1000, out.stdout
    parts = re.findall(r"^    bytes by part: (.*)$", out.stdout, re.M)
    assert len(parts) == 3 and all("tree JSON" in p for p in parts), out.stdout
    why = browser.missing()
    if why:
        assert f"render: not measured: {why}" in out.stdout
        pytest.skip(f"the render part needs a browser: {why}")
    assert "never drawn" not in out.stdout and "console errors" not in out.stdout, out.stdout
    assert out.stdout.count("drawn / 2 s") == 3, out.stdout
    assert out.stdout.count("    drawn mark ") == 3 and "load event end" in out.stdout


# the kinds issue 17 names; each has its row in "Every Python cache" before its module lands
KINDS_OF_ISSUE_17 = ("pip", "uv", "conda", "rattler", "poetry", "pdm", "pipenv", "virtualenv",
                     "hatch", "pip-tools")  # fmt: skip


def test_every_cache_kind_has_its_row_in_every_python_cache():
    """`## Every Python cache`: a table of kinds (where found, what clean removes, what it never
    touches), a row for each kind in the registry and for each the issue names."""
    section = README.split("## Every Python cache\n", 1)[1].split("\n## ", 1)[0]
    header = "| kind | where it is found | what clean removes | what it never touches |"
    assert header in section
    rows = {line.split("|")[1].strip().strip("`") for line in section.splitlines()
            if line.startswith("| `")}  # fmt: skip
    assert rows >= {*KINDS, *KINDS_OF_ISSUE_17}, rows
    for field in ("kind", "disk_bytes", "reclaimable_bytes", "shared_bytes"):
        assert f"`{field}`" in section, field
    assert "scan / du -sb" in section  # the bench row
