"""The HTML report in a real headless Chromium (issue 20): the page of a real scan of accounts
whose caches real pip filled from the loopback index, and of a merge of three hosts' scans; no
console error, one block per account, zoom and back by mouse and keyboard, sorting by value, a
screenshot that is not blank, and hostile names shown as text."""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from collections.abc import Iterator
from functools import partial
from pathlib import Path
from typing import Any, Callable

import pytest

from fleetcache.cli import main
from tests import browser
from tests.conftest import Tree, chown_tree, fill_cache
from tests.page_driver import (
    blocks,
    click_label,
    colours,
    crumbs,
    focused,
    load,
    rows,
    sort,
)

ROOT = os.geteuid() == 0
pytestmark = pytest.mark.skipif(browser.missing() is not None, reason=str(browser.missing()))
ROOT_ONLY = pytest.mark.skipif(not ROOT, reason="gives files to other uids: run as root (CI is)")

# an account name that would run a script, break out of an attribute and retitle a terminal
EVIL = "<script>window.__pwned=1</script>\"'<img src=x onerror=window.__pwned=2>\x1b]0;t\x07"
EVIL_SHOWN = (
    "<script>window.__pwned=1</script>\"'<img src=x onerror=window.__pwned=2>\\x1b]0;t\\x07"
)
ACCOUNTS = {  # name: uid, home, what real pip installs through its cache
    "alice": (12345, "/home/alice", ("alpha", "beta", "gamma")),
    "bob": (12346, "/home/bob", ("alpha",)),
    "carol": (12347, "/home/carol", ("beta", "gamma")),
    EVIL: (12348, "/home/evil", ("alpha==1.0",)),
}


@pytest.fixture(scope="module")
def machine(pip_python: Callable[[str], Path], index_url: str) -> Iterator[Path]:
    """A machine named box: four accounts, each with a pip cache real pip filled."""
    top = Path(tempfile.mkdtemp(prefix="fleetcache-html-"))
    top.chmod(0o755)
    tree = Tree(top / "box")
    python = pip_python("26")
    for name, (uid, home, packages) in ACCOUNTS.items():
        # filled as root first: pip as root uses no cache in a directory root does not own
        fill_cache(
            python, tree.host(f"{home}/.cache/pip"), index_url, *packages, work=top / str(uid)
        )
        tree.user(name, uid, home=home)
        chown_tree(tree.host(home), uid)
    yield tree.root
    shutil.rmtree(top, ignore_errors=True)


@pytest.fixture(scope="module")
def driver() -> Iterator[Any]:
    """One browser for the module."""
    with browser.chromium(1200, 800) as started:
        yield started


@pytest.fixture(scope="module")
def scan_page(machine: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """``fleetcache scan --format html -o PAGE`` of the machine."""
    page = tmp_path_factory.mktemp("scan") / "report.html"
    argv = [
        "scan",
        "--root",
        str(machine),
        "--no-activity",
        "-q",
        "--format",
        "html",
        "-o",
        str(page),
    ]
    assert main(argv) in (0, 3)
    return page


@pytest.fixture(scope="module")
def fleet_page(machine: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """``fleetcache merge --format html`` of three hosts' scans: web-1 has every account, web-2
    alice and bob (both scanned with --packages, as the Ansible scan.yml does), db-1 carol (a
    scan without: its caches have no packages)."""
    out = tmp_path_factory.mktemp("fleet")
    hosts = {"web-1": ["--packages"], "web-2": ["-u", "alice", "-u", "bob", "--packages"],
             "db-1": ["-u", "carol"]}  # fmt: skip
    docs = []
    for host, users in hosts.items():
        doc = out / f"{host}.json"
        argv = ["scan", "--root", str(machine), "--no-activity", "-q", *users, "-f", "json"]
        assert main([*argv, "-o", str(doc)]) in (0, 3)
        docs.append(f"{host}={doc}")
    page = out / "fleet.html"
    assert main(["merge", *docs, "--format", "html", "-o", str(page)]) in (0, 3)
    return page


def names(driver: Any, selector: str = "#treemap > .block") -> list[str]:
    """The names of the blocks a selector finds, as their aria-labels say them."""
    return [b["aria"].split(", ")[0] for b in blocks(driver, selector)]


def by_name(driver: Any, name: str, selector: str = "#treemap > .block") -> str:
    """The id of the block of this name."""
    (found,) = [b["id"] for b in blocks(driver, selector) if b["aria"].split(", ")[0] == name]
    return found


@pytest.mark.root
@ROOT_ONLY
def test_a_scan_page_draws_one_block_per_account_and_zooms(driver, scan_page):
    load(driver, scan_page)
    assert sorted(names(driver, '.block[data-level="account"]')) == sorted(
        ["alice", "bob", "carol", EVIL_SHOWN]
    )
    assert [b["level"] for b in blocks(driver)] == ["account"] * 4
    assert crumbs(driver) == ["box"]
    click_label(driver, by_name(driver, "alice"))
    assert crumbs(driver) == ["box", "alice"]
    assert names(driver) == ["pip"] and blocks(driver)[0]["level"] == "kind"
    assert names(driver, "#treemap > .block .block") == ["/home/alice/.cache/pip"]
    tree_table = driver.find_element("id", "treemap-table")  # the renderer's, rebuilt for the view
    assert rows(driver, tree_table, 0) == ["pip", "pip / /home/alice/.cache/pip"]
    assert rows(driver, tree_table, 3) == ["100.0%", "100.0%"]
    click_label(driver, blocks(driver)[0]["id"])
    click_label(driver, blocks(driver)[0]["id"])  # the cache: its packages, named by the report
    assert crumbs(driver) == ["box", "alice", "pip", "/home/alice/.cache/pip"]
    assert {"alpha", "beta", "gamma"} <= set(names(driver))
    driver.switch_to.active_element.send_keys("\ue00c")  # Escape
    assert crumbs(driver) == ["box", "alice", "pip"]
    driver.find_element("css selector", '#crumbs button[data-id="0"]').click()
    assert crumbs(driver) == ["box"] and focused(driver)["id"] == by_name(driver, "alice")
    driver.switch_to.active_element.send_keys("\ue007")  # Enter on alice, focused
    assert crumbs(driver) == ["box", "alice"] and focused(driver)["level"] == "kind"
    assert browser.errors(driver) == []


@pytest.mark.root
@ROOT_ONLY
def test_a_sort_reorders_the_caches_by_value_and_back(driver, scan_page):
    load(driver, scan_page)
    caches = driver.find_element("css selector", "section.table table.sortable")
    headers = [th.text.strip() for th in caches.find_elements("css selector", "thead th")]
    size = headers.index("SIZE")
    first = rows(driver, caches, 0)
    values = driver.execute_script(
        "return [...arguments[0].tBodies[0].rows].map(r => Number(r.cells[arguments[1]].dataset.sort));",
        caches,
        size,
    )
    assert sort(driver, caches, "SIZE") == "ascending"
    ascending = driver.execute_script(
        "return [...arguments[0].tBodies[0].rows].map(r => Number(r.cells[arguments[1]].dataset.sort));",
        caches,
        size,
    )
    assert ascending == sorted(values) and rows(driver, caches, 0) != first
    assert sort(driver, caches, "SIZE") == "descending"
    descending = rows(driver, caches, 0)
    assert descending[0] == "/home/alice/.cache/pip"  # alpha, beta and gamma: the largest
    assert sort(driver, caches, "OWNER") == "ascending"
    owners = rows(driver, caches, headers.index("OWNER"))
    assert owners[0].startswith("<script>") and owners[1:] == ["alice", "bob", "carol"]
    foot = driver.execute_script("return arguments[0].tFoot.rows[0].cells[0].textContent", caches)
    assert foot.startswith("TOTAL")
    assert browser.errors(driver) == []


@pytest.mark.root
@ROOT_ONLY
def test_a_scan_page_screenshot_is_not_blank(driver, scan_page):
    load(driver, scan_page)
    assert colours(driver) > 50  # drawn blocks, labels, patterns: not an empty box


@pytest.mark.root
@ROOT_ONLY
def test_hostile_names_reach_the_page_as_text(driver, scan_page):
    load(driver, scan_page)
    assert driver.execute_script("return window.__pwned") is None
    assert driver.execute_script("return document.scripts.length") == 2  # the JSON, page.js
    assert driver.execute_script("return document.images.length") == 0
    evil = by_name(driver, EVIL_SHOWN)
    label = driver.find_element("css selector", f'.block[data-id="{evil}"] > .label .name')
    assert label.get_attribute("textContent") == EVIL_SHOWN
    cells = driver.execute_script(
        "return [...document.querySelectorAll('section.table td')].map(c => c.textContent);"
    )
    assert any(c.startswith("<script>window.__pwned=1</script>") for c in cells)
    assert not [c for c in cells if "\x1b" in c]
    click_label(driver, evil)
    assert crumbs(driver) == ["box", EVIL_SHOWN]
    assert driver.execute_script("return window.__pwned") is None
    assert browser.errors(driver) == []


@pytest.mark.root
@ROOT_ONLY
def test_a_fleet_page_draws_hosts_with_their_accounts_inside(driver, fleet_page):
    load(driver, fleet_page)
    assert crumbs(driver) == ["3 hosts"]
    assert sorted(names(driver)) == ["db-1", "web-1", "web-2"]
    assert [b["level"] for b in blocks(driver)] == ["host"] * 3
    accounts = names(driver, '.block[data-level="account"]')
    assert sorted(accounts) == sorted(
        ["alice", "bob", "carol", EVIL_SHOWN, "alice", "bob", "carol"]
    )
    click_label(driver, by_name(driver, "web-2"))
    assert crumbs(driver) == ["3 hosts", "web-2"]
    assert sorted(names(driver)) == ["alice", "bob"]
    driver.switch_to.active_element.send_keys("\ue00c")  # Escape
    assert crumbs(driver) == ["3 hosts"] and focused(driver)["id"] == by_name(driver, "web-2")
    inner = [b for b in blocks(driver, "#treemap .block .block") if b["aria"].startswith("carol,")]
    driver.execute_script("arguments[0].click()", driver.find_element(
        "css selector", f'.block[data-id="{inner[0]["id"]}"]'))  # fmt: skip
    assert crumbs(driver)[-1] == "carol" and len(crumbs(driver)) == 3  # two levels at once
    hosts = driver.find_element("css selector", "section.table table.sortable")
    headers = [th.text.strip() for th in hosts.find_elements("css selector", "thead th")]
    assert sort(driver, hosts, "HOST") == "ascending"
    column = rows(driver, hosts, headers.index("HOST"))
    assert column == sorted(column) and column[0] == "db-1"
    assert sort(driver, hosts, "HOST") == "descending"
    assert rows(driver, hosts, headers.index("HOST"))[0] == "web-2"
    assert colours(driver) > 50
    assert browser.errors(driver) == []


@pytest.mark.root
@ROOT_ONLY
def test_a_fleet_page_zooms_from_a_host_down_to_its_caches_packages(driver, fleet_page):
    load(driver, fleet_page)
    assert "Held by several accounts" in driver.find_element("id", "insights").text
    click_label(driver, by_name(driver, "web-2"))
    click_label(driver, by_name(driver, "alice"))
    assert crumbs(driver) == ["3 hosts", "web-2", "alice"] and names(driver) == ["pip"]
    click_label(driver, blocks(driver)[0]["id"])  # the kind: its caches, their packages inside
    assert [b["level"] for b in blocks(driver)] == ["cache"]
    inside = blocks(driver, "#treemap > .block .block")
    assert {"alpha", "beta", "gamma"} <= {b["aria"].split(", ")[0] for b in inside}
    assert {b["level"] for b in inside} == {"package"}
    click_label(driver, blocks(driver)[0]["id"])  # the cache: its packages, as blocks
    assert crumbs(driver) == ["3 hosts", "web-2", "alice", "pip", "/home/alice/.cache/pip"]
    assert {"alpha", "beta", "gamma"} <= set(names(driver))
    assert {b["level"] for b in blocks(driver)} == {"package"}
    tree_table = driver.find_element("id", "treemap-table")
    assert {"alpha", "beta", "gamma"} <= set(rows(driver, tree_table, 0))
    driver.find_element("css selector", '#crumbs button[data-id="0"]').click()
    click_label(driver, by_name(driver, "db-1"))  # scanned without --packages: down to caches
    click_label(driver, by_name(driver, "carol"))
    click_label(driver, blocks(driver)[0]["id"])
    assert [b["level"] for b in blocks(driver)] == ["cache"]
    assert blocks(driver, "#treemap > .block .block") == []
    assert browser.errors(driver) == []


@pytest.mark.root
@ROOT_ONLY
def test_the_fleet_json_left_the_scans_whole(fleet_page):
    """The merge read the three scans (a page is made from them, not instead of them)."""
    docs = sorted(p.name for p in fleet_page.parent.glob("*.json"))
    assert docs == ["db-1.json", "web-1.json", "web-2.json"]
    assert json.loads((fleet_page.parent / "db-1.json").read_text())["caches"]


def sample_pages() -> dict[str, Callable[[], str]]:
    """Every command's page for the format tests' fixed scan (tests/format_sample.py)."""
    from fleetcache.formats import RenderOptions
    from fleetcache.formats.fields import document
    from fleetcache.formats.html import HtmlFormat
    from fleetcache.report.merge import combine
    from fleetcache.report.views import VIEWS
    from tests.format_sample import FOUND, REPORT, RESULT

    html, plain = HtmlFormat(), RenderOptions()
    merged = combine([{**json.loads(json.dumps(document(RESULT))), "_file": "box.json"}])
    pages: dict[str, Callable[[], str]] = {
        "scan": lambda: html.scan(RESULT, plain),
        "scan with entries": lambda: html.scan_report(REPORT, [], plain),
        "envs": lambda: html.envs(RESULT, plain),
        "envs --active": lambda: html.envs(RESULT, RenderOptions(processes=True)),
        "list": lambda: html.entries(FOUND, plain),
        "merge": lambda: html.merged(merged, plain),
    }
    for view in VIEWS:
        pages[f"report --by {view}"] = partial(view_page, html, view)
    return pages


def view_page(html: Any, view: str) -> str:
    """The page of one report view of the format tests' scan."""
    from fleetcache.formats import RenderOptions
    from fleetcache.report.views import build
    from tests.format_sample import ENTRIES, RESULT

    return str(html.report(build(view, RESULT, ENTRIES), [], RenderOptions()))


@pytest.mark.parametrize("command", sorted(sample_pages()))
def test_every_commands_page_draws_without_an_error(driver, tmp_path, command):
    """Each page draws its treemap (a block per account somewhere below its first view's root),
    sorts its tables, and writes nothing to the console."""
    page = tmp_path / "page.html"
    page.write_text(sample_pages()[command](), encoding="utf-8")
    load(driver, page)
    assert blocks(driver), command
    for table in driver.find_elements("css selector", "table.sortable, #treemap-table"):
        assert sort(driver, table, table.find_element("css selector", "th").text.strip()) == (
            "ascending"
        )
    assert browser.errors(driver) == []
