"""What the browser tests ask of an HTML report open in Chromium: its blocks, crumbs, tables,
focus and pixels, read through the page's DOM (tests/browser.py starts the browser)."""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

from tests import browser

VIEW_BLOCKS = "#treemap > .block"  # the current view's own blocks (their children are inside them)


def load(driver: Any, page: Path) -> None:
    """Open a page from disk; it must have drawn, with nothing on the console."""
    driver.get(page.as_uri())
    assert driver.execute_script("return document.documentElement.dataset.drawn") == "1"
    assert browser.errors(driver) == []


def blocks(driver: Any, selector: str = VIEW_BLOCKS) -> list[dict[str, str]]:
    """The blocks a selector finds: id, level, label text (as shown), aria-label, classes."""
    return list(
        driver.execute_script(
            """return [...document.querySelectorAll(arguments[0])].map(b => ({
                 id: b.dataset.id, level: b.dataset.level, aria: b.getAttribute("aria-label"),
                 label: b.querySelector(":scope > .label").textContent, classes: b.className}));""",
            selector,
        )
    )


def crumbs(driver: Any) -> list[str]:
    """The breadcrumb's names, root first."""
    return list(
        driver.execute_script(
            "return [...document.querySelectorAll('#crumbs button')].map(b => b.textContent);"
        )
    )


def focused(driver: Any) -> dict[str, str]:
    """What has the keyboard focus: its tag, data-id and level."""
    return dict(
        driver.execute_script(
            """const e = document.activeElement;
               return {tag: e.tagName, id: e.dataset.id || "", level: e.dataset.level || ""};"""
        )
    )


def block(driver: Any, block_id: str) -> Any:
    """The element of a block by its node id."""
    return driver.find_element("css selector", f'#treemap .block[data-id="{block_id}"]')


def click_label(driver: Any, block_id: str) -> None:
    """Click a block on its own label (its middle may be one of its children)."""
    block(driver, block_id).find_element("css selector", ":scope > .label").click()


def rows(driver: Any, table: Any, column: int) -> list[str]:
    """The text of one column of a table's body, top to bottom."""
    return list(
        driver.execute_script(
            "return [...arguments[0].tBodies[0].rows].map(r => r.cells[arguments[1]].textContent);",
            table,
            column,
        )
    )


def sort(driver: Any, table: Any, header: str) -> str:
    """Click a table's header button; the header's aria-sort after it."""
    for th in table.find_elements("css selector", "thead th"):
        if th.text.strip().startswith(header):
            th.find_element("css selector", "button").click()
            return str(th.get_attribute("aria-sort"))
    raise AssertionError(f"no header {header!r}")


def colours(driver: Any, element_id: str = "treemap") -> int:
    """How many distinct colours a screenshot of an element holds (an empty box has one or two:
    its background and its border)."""
    from PIL import Image

    png = driver.find_element("id", element_id).screenshot_as_png
    image = Image.open(io.BytesIO(png)).convert("RGB")
    return len(image.getcolors(maxcolors=1 << 20) or [])
