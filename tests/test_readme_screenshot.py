"""The README's picture of the HTML page: made in a real headless Chromium from fixed data
(tests/screenshot_sample.py); ``FLEETCACHE_SCREENSHOT=write`` writes it to docs/html-report.png."""

from __future__ import annotations

import io
import os
from pathlib import Path

import pytest

from fleetcache.formats import RenderOptions
from fleetcache.formats.html import HtmlFormat
from tests import browser
from tests.page_driver import blocks, load
from tests.screenshot_sample import FLEET, report

pytestmark = pytest.mark.skipif(browser.missing() is not None, reason=str(browser.missing()))

TOP = Path(__file__).resolve().parent.parent
PNG = TOP / "docs" / "html-report.png"
# the header, the insights, the treemap's hint and the whole treemap with its legend
SIZE = (1200, 1050)
PIP_BLUE = (0x8E, 0xC1, 0xEA)  # page.css: .k0, pip's colour
COMMAND = "fleetcache scan --format html -o report.html"


def test_the_readme_shows_the_page_made_from_the_fixtures(tmp_path):
    from PIL import Image

    page = tmp_path / "report.html"
    page.write_text(HtmlFormat().scan_report(report(), [], RenderOptions()), encoding="utf-8")
    write = os.environ.get("FLEETCACHE_SCREENSHOT") == "write"
    target = PNG if write else tmp_path / PNG.name
    with browser.chromium(*SIZE) as driver:
        width, height = SIZE  # the viewport itself, whatever the window's frame takes
        driver.execute_cdp_cmd(
            "Emulation.setDeviceMetricsOverride",
            {"width": width, "height": height, "deviceScaleFactor": 1, "mobile": False},
        )
        load(driver, page)
        assert len(blocks(driver, '.block[data-level="account"]')) == len(FLEET)
        shot = Image.open(io.BytesIO(driver.get_screenshot_as_png())).convert("RGB")
    counts = {colour: n for n, colour in shot.getcolors(1 << 20) or []}
    assert counts.get(PIP_BLUE, 0) > SIZE[0] * SIZE[1] // 20  # the treemap is drawn, pip's in blue
    # a palette of 256 keeps the flat colours exact and the file small
    shot.quantize(256, dither=Image.Dither.NONE).save(target, optimize=True)
    made = Image.open(target)
    assert made.size == SIZE
    assert len(made.convert("RGB").getcolors(1 << 16) or []) > 50  # not blank, not one colour
    assert PNG.exists() and PNG.stat().st_size < 300_000
    readme = (TOP / "README.md").read_text(encoding="utf-8")
    assert "](docs/html-report.png)" in readme
    assert COMMAND in readme
