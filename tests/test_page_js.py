"""page.js and page.css in a real headless Chromium, on pages written by hand to issue 20's
contract (tests/contract_page.py): what the script does with inputs a scan rarely makes (tiny
blocks, zero-byte nodes, hostile names in the JSON, sizes a table sorts by value)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests import browser
from tests.contract_page import Spec, page, table
from tests.page_driver import VIEW_BLOCKS, blocks, click_label, crumbs, focused, load, rows, sort

pytestmark = pytest.mark.skipif(browser.missing() is not None, reason=str(browser.missing()))

MB = 1000 * 1000
HOSTILE = (
    "<script>window.__pwned=1</script>",
    '<img src=x onerror="window.__pwned=1">',
    "quote\" and 'single' & amp",
    "esc\\x1b]0;title\\x07",  # as escape.display shows a name with ESC and BEL
)


def cache(path: str, *packages: tuple[str, int], busy: bool = False) -> Spec:
    """A cache of these packages, four fifths of it reclaimable."""
    kids = [Spec(n, "package", s) for n, s in packages]
    return Spec(path, "cache", frees=sum(s for _, s in packages) * 4 // 5, busy=busy, children=kids)


def kind(name: str, *caches: Spec) -> Spec:
    return Spec(name, "kind", busy="contains" if any(c.busy for c in caches) else False,
                children=list(caches))  # fmt: skip


def fleet() -> Spec:
    """A host of three accounts: alice's pip cache busy, a tiny package, bob's empty conda."""
    alice_pip = cache("/home/alice/.cache/pip", ("torch", 90 * MB), ("numpy", 40 * MB),
                      ("tiny", 1000), busy=True)  # fmt: skip
    alice = Spec("alice", "account", busy="contains", children=[
        kind("pip", alice_pip), kind("uv", cache("/home/alice/.cache/uv", ("ruff", 30 * MB)))])  # fmt: skip
    bob = Spec("bob", "account", children=[
        kind("pip", cache("/home/bob/.cache/pip", ("pandas", 60 * MB), ("scipy", 50 * MB))),
        kind("conda", cache("/home/bob/.conda/pkgs"))])  # fmt: skip
    carol = Spec("carol", "account", children=[kind("pip", cache("/home/carol/.cache/pip",
                                                                ("jax", 20 * MB)))])  # fmt: skip
    return Spec("box", "host", children=[alice, bob, carol])


@pytest.fixture(scope="module")
def driver() -> Iterator[Any]:
    """One browser for the module."""
    with browser.chromium(1200, 800) as started:
        yield started


@pytest.fixture
def opened(driver: Any, tmp_path: Path) -> Any:
    """The three-account page, open and drawn."""
    path = tmp_path / "page.html"
    path.write_text(page(fleet()), encoding="utf-8")
    load(driver, path)
    return driver


def ids_by_name(driver: Any, selector: str = VIEW_BLOCKS) -> dict[str, str]:
    return {b["label"].split(" ")[0]: b["id"] for b in blocks(driver, selector)}


def test_the_first_view_draws_the_accounts_and_their_kinds_and_marks_the_draw(opened):
    assert [b["level"] for b in blocks(opened)] == ["account"] * 3
    assert len(blocks(opened, '.block[data-level="account"]')) == 3
    kinds = blocks(opened, "#treemap .block .block")
    # bob's conda (0 B) is not drawn
    assert sorted(b["label"].split(" ")[0] for b in kinds) == ["pip", "pip", "pip", "uv"]
    assert opened.execute_script(
        "return performance.getEntriesByName('fleetcache-drawn', 'mark').length"
    ) == 1  # fmt: skip
    width, height = opened.execute_script(
        "const r = document.getElementById('treemap').getBoundingClientRect(); return [r.width, r.height];"
    )
    assert abs(width / height - 2.0) < 0.01  # the layout's aspect: zoomed views are not distorted
    alice = blocks(opened)[0]
    assert alice["label"] == "alice 160.0 MB busy inside"
    assert alice["aria"] == "alice, 160.0 MB, frees 128.0 MB, contains busy caches, opens"
    assert "has-busy" in alice["classes"].split()
    assert crumbs(opened) == ["box"]


def test_a_click_zooms_and_escape_and_the_crumbs_go_back(opened):
    accounts = ids_by_name(opened)
    click_label(opened, accounts["alice"])
    assert crumbs(opened) == ["box", "alice"]
    assert [b["level"] for b in blocks(opened)] == ["kind", "kind"]
    assert focused(opened)["id"] == blocks(opened)[0]["id"]  # the first (largest) block
    click_label(opened, ids_by_name(opened)["pip"])
    assert crumbs(opened) == ["box", "alice", "pip"]
    opened.switch_to.active_element.send_keys("\ue00c")  # Escape
    assert crumbs(opened) == ["box", "alice"]
    assert focused(opened)["id"] == ids_by_name(opened)["pip"]  # back on the block it came from
    opened.find_element("css selector", '#crumbs button[data-id="0"]').click()
    assert crumbs(opened) == ["box"] and focused(opened)["id"] == accounts["alice"]
    assert opened.find_element("css selector", '#crumbs li:last-child button').get_attribute(
        "aria-current") == "page"  # fmt: skip


def test_a_click_on_an_inner_block_opens_it_or_its_view_block(opened):
    """An inner block with children opens itself (two levels down at once); a leaf opens the
    block of the view that holds it."""
    inner = ids_by_name(opened, "#treemap .block .block")
    opened.execute_script("arguments[0].click()", opened.find_element(
        "css selector", f'.block[data-id="{inner["uv"]}"]'))  # fmt: skip
    assert crumbs(opened) == ["box", "alice", "uv"]
    ruff = blocks(opened, '#treemap .block[data-level="package"]')
    assert [b["label"] for b in ruff] == ["ruff 30.0 MB"]
    opened.execute_script("arguments[0].click()", opened.find_element(
        "css selector", f'.block[data-id="{ruff[0]["id"]}"]'))  # fmt: skip
    assert crumbs(opened) == ["box", "alice", "uv", "/home/alice/.cache/uv"]
    opened.execute_script("arguments[0].click()", opened.find_element(
        "css selector", f'.block[data-id="{ruff[0]["id"]}"]'))  # fmt: skip
    assert crumbs(opened)[-1] == "/home/alice/.cache/uv"  # a leaf of the view: nothing to open


def test_the_keyboard_alone_zooms_in_and_out(opened):
    from selenium.webdriver.common.action_chains import ActionChains
    from selenium.webdriver.common.keys import Keys

    keys = ActionChains(opened)
    opened.find_element("css selector", "#crumbs button").click()  # start just before the map
    keys.send_keys(Keys.TAB).perform()
    first = blocks(opened)[0]
    assert focused(opened)["id"] == first["id"]
    ring = opened.execute_script(
        "const s = getComputedStyle(document.activeElement, '::after');"
        "return [s.borderTopWidth, s.borderTopStyle, s.boxShadow];"
    )
    assert ring[:2] == ["3px", "solid"] and "255, 212, 0" in ring[2]  # black and yellow, seen
    keys.send_keys(Keys.TAB).perform()
    assert focused(opened)["id"] == blocks(opened)[1]["id"]  # Tab goes block to block in the view
    keys.send_keys(Keys.ENTER).perform()
    assert crumbs(opened) == ["box", "bob"]
    assert focused(opened)["level"] == "kind"
    scrolled = opened.execute_script("return window.scrollY")
    keys.send_keys(Keys.SPACE).perform()
    assert crumbs(opened) == ["box", "bob", "pip"]
    assert opened.execute_script("return window.scrollY") == scrolled  # Space zoomed, not scrolled
    keys.send_keys(Keys.ESCAPE).perform()
    keys.send_keys(Keys.ESCAPE).perform()
    assert crumbs(opened) == ["box"] and focused(opened)["id"] == blocks(opened)[1]["id"]
    keys.send_keys(Keys.ESCAPE).perform()  # at the root: nothing above
    assert crumbs(opened) == ["box"]


def test_busy_is_hatched_and_said_and_frees_is_a_bar(opened):
    click_label(opened, ids_by_name(opened)["alice"])
    click_label(opened, ids_by_name(opened)["pip"])
    (busy,) = blocks(opened)
    assert busy["label"] == "/home/alice/.cache/pip 130.0 MB busy"
    assert busy["aria"] == "/home/alice/.cache/pip, 130.0 MB, frees 104.0 MB, busy, opens"
    assert "busy" in busy["classes"].split()
    pattern, bar = opened.execute_script(
        """const b = document.querySelector('#treemap > .block');
           const bar = b.querySelector(':scope > .frees');
           return [getComputedStyle(b).backgroundImage,
                   bar.getBoundingClientRect().width / b.getBoundingClientRect().width];"""
    )
    assert "repeating-linear-gradient" in pattern  # hatched, not only coloured
    assert abs(bar - 0.8) < 0.01


def test_a_block_too_small_for_its_label_hides_it_but_keeps_its_name(opened):
    click_label(opened, ids_by_name(opened)["alice"])
    click_label(opened, ids_by_name(opened)["pip"])
    click_label(opened, blocks(opened)[0]["id"])
    shown = opened.execute_script(
        """return Object.fromEntries([...document.querySelectorAll('#treemap > .block')].map(b =>
             [b.getAttribute('aria-label'), getComputedStyle(b.querySelector('.label')).visibility]));"""
    )
    assert shown == {"torch, 90.0 MB": "visible", "numpy, 40.0 MB": "visible",
                     "tiny, 1.0 kB": "hidden"}  # fmt: skip


def test_the_treemap_table_holds_every_figure_of_the_view(opened):
    tree_table = opened.find_element("id", "treemap-table")
    assert rows(opened, tree_table, 0) == ["alice", "alice / pip", "alice / uv", "bob", "bob / pip",
                                           "bob / conda", "carol", "carol / pip"]  # fmt: skip
    assert rows(opened, tree_table, 2)[5] == "0 B"  # not drawn, but in the table
    assert rows(opened, tree_table, 3)[:3] == ["55.2%", "44.8%", "10.3%"]
    click_label(opened, ids_by_name(opened)["bob"])
    assert rows(opened, tree_table, 0)[0] == "pip"
    assert rows(opened, tree_table, 1) == ["kind", "cache", "kind", "cache"]
    assert rows(opened, tree_table, 5)[:2] == ["", ""]
    assert sort(opened, tree_table, "Size") == "ascending"
    assert rows(opened, tree_table, 2) == ["0 B", "0 B", "110.0 MB", "110.0 MB"]


def test_a_sort_orders_by_value_reverses_and_keeps_the_footer(driver, tmp_path):
    rows_in: list[list[Any]] = [
        ["pip", "alice", ("1.2 MB", 1_200_000), "3", "2026-01-05"],
        ["uv", "bob", ("512 B", 512), "12", "2025-12-30"],
        ["conda", "Carol", ("3.4 GB", 3_400_000_000), "-", "2026-01-05"],
        ["pip", "dave", ("12.0 kB", 12_000), "1,200", ""],
        ["pdm", "erin", ("12.0 kB", 12_000), "7", "2026-02-01"],
    ]
    text = table("Caches", ["KIND", "OWNER", "SIZE", "ENVS", "NEWEST"], rows_in,
                 ["TOTAL", "", ("3.4 GB", 1), "1,222", ""])  # fmt: skip
    path = tmp_path / "sorted.html"
    path.write_text(page(fleet(), text), encoding="utf-8")
    load(driver, path)
    caches = driver.find_element("css selector", "section.table table.sortable")
    assert sort(driver, caches, "SIZE") == "ascending"
    # ties (dave, erin) keep the page's order
    assert rows(driver, caches, 1) == ["bob", "dave", "erin", "alice", "Carol"]
    assert sort(driver, caches, "SIZE") == "descending"
    assert rows(driver, caches, 1) == ["Carol", "alice", "dave", "erin", "bob"]
    assert sort(driver, caches, "ENVS") == "ascending"  # plain numbers, "1,200" too; "-" last
    assert rows(driver, caches, 3) == ["3", "7", "12", "1,200", "-"]
    assert sort(driver, caches, "ENVS") == "descending"
    assert rows(driver, caches, 3) == ["1,200", "12", "7", "3", "-"]
    assert sort(driver, caches, "OWNER") == "ascending"  # text, whatever its case
    assert rows(driver, caches, 1) == ["alice", "bob", "Carol", "dave", "erin"]
    assert sort(driver, caches, "NEWEST") == "ascending"
    assert rows(driver, caches, 4) == ["2025-12-30", "2026-01-05", "2026-01-05", "2026-02-01", ""]
    sorts = [th.get_attribute("aria-sort") for th in caches.find_elements("css selector", "th")]
    assert sorts == ["none", "none", "none", "none", "ascending"]
    assert driver.execute_script("return arguments[0].tFoot.rows[0].cells[0].textContent",
                                 caches) == "TOTAL"  # fmt: skip
    assert driver.execute_script("return arguments[0].tFoot.rows.length", caches) == 1
    assert browser.errors(driver) == []


def test_hostile_names_are_text_never_markup(driver, tmp_path):
    accounts = [Spec(name, "account", children=[kind("pip", cache(f"/home/{i}", (name, MB * (9 - i))))])
                for i, name in enumerate(HOSTILE)]  # fmt: skip
    root = Spec(HOSTILE[0], "host", children=accounts)
    path = tmp_path / "hostile.html"
    path.write_text(page(root), encoding="utf-8")
    load(driver, path)
    assert driver.execute_script("return window.__pwned") is None
    assert [b["label"].rsplit(" ", 2)[0] for b in blocks(driver)] == list(HOSTILE)
    assert [b["aria"].split(", ")[0] for b in blocks(driver)] == list(HOSTILE)
    assert crumbs(driver) == [HOSTILE[0]]
    injected = driver.execute_script(
        """return document.querySelectorAll(
             '#treemap script, #treemap img, #crumbs script, #crumbs img, #treemap-table img, '
             + '#treemap-table script').length;"""
    )
    assert injected == 0
    first = driver.find_element("css selector", "#treemap > .block > .label .name")
    assert first.text == HOSTILE[0]  # the text itself is what a reader sees
    click_label(driver, blocks(driver)[3]["id"])
    assert crumbs(driver)[1] == HOSTILE[3]
    assert driver.execute_script("return window.__pwned") is None
    assert browser.errors(driver) == []


def test_an_empty_tree_says_so(driver, tmp_path):
    path = tmp_path / "empty.html"
    path.write_text(page(Spec("box", "host", children=[Spec("alice", "account")])), "utf-8")
    load(driver, path)
    assert driver.find_element("id", "treemap").text == "Nothing here takes space on disk."
    assert blocks(driver) == []
    assert rows(driver, driver.find_element("id", "treemap-table"), 2) == ["0 B"]


def test_the_box_takes_the_aspect_the_layout_was_made_in(driver, tmp_path):
    path = tmp_path / "square.html"
    path.write_text(page(fleet(), aspect=1.25), "utf-8")
    load(driver, path)
    width, height = driver.execute_script(
        "const r = document.getElementById('treemap').getBoundingClientRect();"
        "return [r.width, r.height];"
    )
    assert abs(width / height - 1.25) < 0.01
