"""The HTML report as someone uses it in Chromium: the zoom kept in the URL (Back, Forward,
reload, a bad fragment), the clean's pages, the first view's table without the script, a 400 px
window and print."""

from __future__ import annotations

import base64
import os
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from fleetcache.formats import RenderOptions
from fleetcache.formats.html import HtmlFormat
from tests import browser
from tests.conftest import Tree
from tests.page_driver import blocks, click_label, crumbs, load, rows, sort

pytestmark = pytest.mark.skipif(browser.missing() is not None, reason=str(browser.missing()))
ROOT_ONLY = pytest.mark.skipif(os.geteuid() != 0, reason="gives files to other uids: needs root")
NARROW = 400


@pytest.fixture(scope="module")
def driver() -> Iterator[Any]:
    """One browser for the module."""
    with browser.chromium(1200, 800) as started:
        yield started


@pytest.fixture
def sample(tmp_path: Path) -> Path:
    """The format tests' scan with its entries read: host, account, kinds, caches, packages."""
    from tests.format_sample import REPORT

    page = tmp_path / "report.html"
    page.write_text(HtmlFormat().scan_report(REPORT, [], RenderOptions()), encoding="utf-8")
    return page


def fragment(driver: Any) -> str:
    return str(driver.execute_script("return location.hash"))


def view(driver: Any) -> tuple[list[str], str]:
    """The crumbs and the URL's fragment: where the page says it is, twice."""
    return crumbs(driver), fragment(driver)


# 1. the zoom in the URL ---------------------------------------------------------------------


def test_back_forward_and_reload_move_between_the_views_the_url_keeps(driver, sample):
    load(driver, sample)
    assert view(driver) == (["box"], "")
    click_label(driver, blocks(driver)[0]["id"])  # alice
    alice = view(driver)
    assert alice[0] == ["box", "alice"] and alice[1].startswith("#n=")
    click_label(driver, blocks(driver)[0]["id"])  # pip
    pip = view(driver)
    assert pip[0] == ["box", "alice", "pip"] and pip[1] != alice[1]
    driver.back()
    assert view(driver) == alice
    driver.back()
    assert view(driver) == (["box"], "")
    driver.forward()
    assert view(driver) == alice
    driver.forward()
    assert view(driver) == pip
    driver.refresh()
    assert driver.execute_script("return document.documentElement.dataset.drawn") == "1"
    assert view(driver) == pip
    driver.find_element("css selector", '#crumbs button[data-id="0"]').click()
    assert view(driver) == (["box"], "")
    driver.back()
    assert view(driver) == pip
    assert browser.errors(driver) == []


LEAF_OR_BAD = ["#n=99999", "#n=-1", "#n=abc", "#n=1e1", "#n=0x1", "#junk", "#n=", "#%ZZ",
               "#n=" + "9" * 200_000]  # fmt: skip


@pytest.mark.parametrize("bad", LEAF_OR_BAD, ids=lambda b: b[:12])
def test_a_bad_or_stale_fragment_opens_the_root_without_an_error(driver, sample, bad):
    driver.get("about:blank")
    driver.get(sample.as_uri() + bad)
    assert driver.execute_script("return document.documentElement.dataset.drawn") == "1"
    assert crumbs(driver) == ["box"] and len(blocks(driver)) == 1
    load(driver, sample)  # and the same fragment typed into an open page's address bar
    click_label(driver, blocks(driver)[0]["id"])
    driver.execute_script("location.hash = arguments[0]", bad)
    assert crumbs(driver) == ["box"]
    assert browser.errors(driver) == []


def test_a_fragment_naming_a_leaf_opens_the_root(driver, sample):
    load(driver, sample)
    leaf = driver.execute_script(
        "const t = JSON.parse(document.getElementById('fleetcache-tree').textContent);"
        "return t.nodes.findIndex(n => !(n.c || []).length);"
    )
    driver.get("about:blank")
    driver.get(f"{sample.as_uri()}#n={leaf}")
    assert crumbs(driver) == ["box"]
    assert browser.errors(driver) == []


# 2. the clean's pages ----------------------------------------------------------------------


@pytest.mark.root
@ROOT_ONLY
def test_a_clean_plan_and_what_a_clean_did_draw_and_sort(driver, open_tree: Tree, tmp_path):
    from tests.clean_sample import clean_page, synthetic_cache

    synthetic_cache(open_tree)
    pages = [clean_page(open_tree, tmp_path, "plan.html", "--dry-run"),
             clean_page(open_tree, tmp_path, "done.html", "--yes")]  # fmt: skip
    for page in pages:
        load(driver, page)
        assert [b["aria"].split(", ")[0] for b in blocks(driver)] == ["alice"], page.name
        click_label(driver, blocks(driver)[0]["id"])
        assert crumbs(driver) == [open_tree.root.name, "alice"]
        table = driver.find_element("css selector", "section.table table.sortable")
        before = rows(driver, table, 0)
        for th in table.find_elements("css selector", "thead th"):
            header = th.text.strip()
            assert sort(driver, table, header) == "ascending", (page.name, header)
            assert sort(driver, table, header) == "descending", (page.name, header)
        assert sorted(rows(driver, table, 0)) == sorted(before)
        assert browser.errors(driver) == [], page.name
    hints = [text(driver, "treemap-hint")]
    load(driver, pages[0])
    hints.insert(0, text(driver, "treemap-hint"))
    assert re.match(r"The plan would free: [\d.]+ kB\. A block's area", hints[0]), hints
    assert re.match(r"Deleted: [\d.]+ kB\. A block's area", hints[1]), hints


# 6. what a newcomer reads ----------------------------------------------------------------------


def text(driver: Any, element_id: str) -> str:
    return str(driver.find_element("id", element_id).text)


def test_a_newcomer_reads_when_how_much_in_which_units_and_how_to_zoom(driver, sample):
    from tests.screenshot_sample import report

    sample.write_text(HtmlFormat().scan_report(report(), [], RenderOptions()), "utf-8")
    load(driver, sample)
    made = driver.find_element("css selector", "#made time")
    assert (made.text, made.get_attribute("datetime")) == (
        "2026-11-21 22:26 UTC",
        "2026-11-21T22:26:40Z",
    )
    busy = [li for li in text(driver, "insights").splitlines() if li.startswith("Busy (1)")]
    assert busy == ["Busy (1): /home/alice/.cache/pip (pid 41877 alice runs "
                    "/home/alice/llm/.venv/bin/python: python train.py --epochs 40)"]  # fmt: skip
    hint = text(driver, "treemap-hint")
    total = driver.execute_script(
        "return JSON.parse(document.getElementById('fleetcache-tree').textContent).nodes[0].s"
    )
    assert hint.startswith(f"On disk: {total}, of which a clean could free ")
    assert "busy caches wait" in hint and "1 kB = 1,000 bytes" in hint
    assert "zoom in" in hint and "Escape" in hint
    legend = driver.execute_script(
        "return [...document.querySelectorAll('#legend li')].map(li => li.textContent)"
    )
    assert legend[-3:] == ["busy: in use now (a clean skips it)", "busy inside: holds a busy cache",
                           "green bar: what a clean would free"]  # fmt: skip
    assert {"pip", "uv", "conda"} <= set(legend)
    head = driver.execute_script(
        "return [...document.querySelectorAll('#treemap-table th')].map(th => th.textContent)"
    )
    assert head == ["Name", "Level", "Size", "Share of view", "Frees", "Busy"]
    assert browser.errors(driver) == []


# 3. the first view's table is the same with and without the script ------------------------------


def table_cells(driver: Any) -> list[list[str]]:
    return list(
        driver.execute_script(
            "return [...document.querySelectorAll('#treemap-table tbody tr')]"
            ".map(r => [...r.cells].map(c => c.textContent));"
        )
    )


def test_the_first_views_table_names_rows_as_the_script_does(driver, sample):
    driver.execute_cdp_cmd("Emulation.setScriptExecutionDisabled", {"value": True})
    try:
        driver.get(sample.as_uri())
        plain = driver.find_element("id", "treemap-table").get_attribute("outerHTML")
    finally:
        driver.execute_cdp_cmd("Emulation.setScriptExecutionDisabled", {"value": False})
    load(driver, sample)
    drawn = table_cells(driver)
    assert len(drawn) >= 2 and any(" / " in r[0] for r in drawn)
    driver.execute_script(
        "document.getElementById('treemap-table').outerHTML = arguments[0]", plain
    )
    assert table_cells(driver) == drawn


# 4. a narrow window ------------------------------------------------------------------------------

OVERFLOW = """
const width = innerWidth;
const scrolls = (e) => { for (let p = e.parentElement; p; p = p.parentElement) {
  const s = getComputedStyle(p); if (["auto", "scroll", "hidden"].includes(s.overflowX)) return true; }
  return false; };
return [...document.body.querySelectorAll("*")]
  .filter((e) => e.getBoundingClientRect().right > width + 0.5 && !scrolls(e))
  .map((e) => e.tagName + (e.id ? "#" + e.id : "") + "." + e.className);
"""
CRAMMED = """
return [...document.querySelectorAll("#treemap .label")]
  .filter((l) => getComputedStyle(l).visibility === "visible")
  .filter((l) => l.scrollWidth > l.clientWidth + 1 && l.parentElement.clientWidth < 60
                 || l.parentElement.clientHeight < 15)
  .map((l) => l.textContent);
"""


@pytest.mark.parametrize("fleet", [False, True], ids=["format-sample", "readme-fleet"])
@pytest.mark.parametrize("zoom", [False, True], ids=["first-view", "zoomed"])
def test_a_400_px_window_scrolls_tables_not_the_page(sample, tmp_path, zoom, fleet):
    if fleet:  # six accounts, long cache paths, a busy cache: the README's picture
        from tests.screenshot_sample import report

        sample.write_text(HtmlFormat().scan_report(report(), [], RenderOptions()), "utf-8")
    with browser.chromium(NARROW, 900) as narrow:
        narrow.execute_cdp_cmd("Emulation.setDeviceMetricsOverride",
                               {"width": NARROW, "height": 900, "deviceScaleFactor": 1,
                                "mobile": False})  # fmt: skip
        load(narrow, sample)
        if zoom:
            click_label(narrow, blocks(narrow)[0]["id"])
        assert narrow.execute_script("return innerWidth") == NARROW
        narrow.get_screenshot_as_file(str(tmp_path / "narrow.png"))
        assert narrow.execute_script(OVERFLOW) == []
        assert narrow.execute_script("return document.documentElement.scrollWidth <= innerWidth"), (
            narrow.execute_script("return document.documentElement.scrollWidth")
        )
        assert narrow.execute_script(CRAMMED) == []
        wide = narrow.execute_script(
            "return [...document.querySelectorAll('table')]"
            ".filter(t => t.parentElement.scrollWidth > t.parentElement.clientWidth).length"
        )
        assert wide >= 1  # the caches' table is wider than 400 px: it scrolls in its section
        assert browser.errors(narrow) == []


# 5. print ----------------------------------------------------------------------------------------


PAPER = 739  # CSS px across a Letter page inside Chromium's default margins (7.7 in at 96 dpi)


@pytest.mark.parametrize("fleet", [False, True], ids=["format-sample", "readme-fleet"])
def test_the_page_prints_to_pdf_and_fits_the_papers_width(driver, sample, fleet):
    """Chromium prints the page to a PDF without a console error; laid out for print at the
    paper's width nothing sticks out to the right (paper does not scroll: it would be cut)."""
    if fleet:
        from tests.screenshot_sample import report

        sample.write_text(HtmlFormat().scan_report(report(), [], RenderOptions()), "utf-8")
    load(driver, sample)
    pdf = base64.b64decode(driver.print_page())
    assert pdf.startswith(b"%PDF") and len(pdf) > 20_000
    assert (
        pdf.count(b"/Type /Page\n") + pdf.count(b"/Type /Page ") + pdf.count(b"/Type /Page>") >= 1
    )
    metrics = {"width": PAPER, "height": 1000, "deviceScaleFactor": 1, "mobile": False}
    driver.execute_cdp_cmd("Emulation.setDeviceMetricsOverride", metrics)
    driver.execute_cdp_cmd("Emulation.setEmulatedMedia", {"media": "print"})
    try:
        assert driver.execute_script("return matchMedia('print').matches")
        assert (
            driver.execute_script(OVERFLOW.replace('"auto", "scroll", "hidden"', '"hidden"')) == []
        )
        assert driver.execute_script("return document.documentElement.scrollWidth") <= PAPER
    finally:
        driver.execute_cdp_cmd("Emulation.setEmulatedMedia", {"media": ""})
        driver.execute_cdp_cmd("Emulation.clearDeviceMetricsOverride", {})
    assert browser.errors(driver) == []
