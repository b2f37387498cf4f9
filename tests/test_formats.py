"""Every format's exact output for one fixed scan, report and list (golden files in tests/golden/;
`FLEETCACHE_GOLDEN=write` rewrites them after a deliberate change), and Prometheus output that the
reference parser accepts."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Callable

import pytest
from prometheus_client.parser import text_string_to_metric_families

from fleetcache.formats import FORMATS, RenderOptions
from fleetcache.formats.fields import document
from fleetcache.report.merge import combine
from tests.format_sample import FOUND, REPORT, RESULT

GOLDEN = Path(__file__).parent / "golden"
OPTIONS = RenderOptions()
MERGED = combine([{**json.loads(json.dumps(document(RESULT))), "_file": "box.json"}])
RENDER: dict[str, Callable[[str], str]] = {
    "scan": lambda f: FORMATS[f].scan(RESULT, OPTIONS),
    "envs": lambda f: FORMATS[f].envs(RESULT, OPTIONS),
    "active": lambda f: FORMATS[f].envs(RESULT, RenderOptions(processes=True)),
    "report": lambda f: FORMATS[f].report(REPORT, [], OPTIONS),
    "list": lambda f: FORMATS[f].entries(FOUND, OPTIONS),
    "merged": lambda f: FORMATS[f].merged(MERGED, OPTIONS),
}
CASES = [(view, fmt) for view in RENDER for fmt in FORMATS if not (view == "active" and fmt in
         ("json", "csv", "prometheus"))]  # fmt: skip


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


def test_tables_fit_80_columns() -> None:
    for view in ("scan", "envs", "active", "report", "list", "merged"):
        dashes = RENDER[view]("table").splitlines()[1]  # as wide as the table
        assert set(dashes) == {"-", " "} and len(dashes) <= 80, view
