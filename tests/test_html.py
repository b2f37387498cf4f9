"""The HTML page (issue 20): every command renders one page complete in itself (nothing loaded
from anywhere, a CSP that allows only its own inlined script and style), its treemap JSON laid
out by squarify, the table format's tables and fields, and hostile names as text, never markup.
The browser's side (drawing, zoom, sort) is tests/test_page.py's; these need no browser."""

from __future__ import annotations

import base64
import hashlib
import json
import os
import re
import shutil
import socket
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from html.parser import HTMLParser
from pathlib import Path
from typing import Any, Callable, ClassVar

import msgpack
import pytest

from fleetcache.cli import main
from fleetcache.formats import FORMATS, RenderOptions
from fleetcache.formats.html_page import tree_json
from fleetcache.formats.table import human_size
from fleetcache.formats.treemap import PACKAGES, Node, add_packages, document
from fleetcache.report.views import VIEWS, build
from tests import browser
from tests.clean_sample import clean_page, synthetic_cache
from tests.conftest import Tree, chown_tree, fill_cache
from tests.format_sample import ENTRIES, FOUND, RESULT
from tests.test_report import hostile_entry

ROOT = os.geteuid() == 0
ROOT_ONLY = pytest.mark.skipif(not ROOT, reason="gives files to other uids: needs root")
ALICE, BOB, CAROL = 12345, 12346, 12347
# what the page may hold, and nothing else: a name that became markup would add to it
TAGS = {"html", "head", "meta", "title", "style", "body", "header", "h1", "p", "time", "code",
        "main", "section", "h2", "ul", "li", "nav", "ol", "button", "div", "details", "summary",
        "table", "thead", "tbody", "tfoot", "tr", "th", "td", "pre", "footer", "script"}  # fmt: skip
LEVELS = {"fleet", "host", "account", "kind", "cache", "package", "other"}
XSS = "<script>alert(1)</script>"
QUOTES = "q\"'&amp;"
ESC = "e\x1b[31mred"


@dataclass
class Element:
    """One element of the parsed page: its tag, attributes, text and children."""

    tag: str
    attrs: dict[str, str]
    parent: Element | None = None
    text: list[str] = field(default_factory=list)
    children: list[Element] = field(default_factory=list)

    def all_text(self) -> str:
        return "".join(self.text) + "".join(c.all_text() for c in self.children)

    def find(self, tag: str, **attrs: str) -> list[Element]:
        """Every element below this one (itself too) of this tag with these attributes."""
        found = [self] if self.tag == tag and all(self.attrs.get(k) == v for k, v in
                                                   attrs.items()) else []  # fmt: skip
        return found + [e for c in self.children for e in c.find(tag, **attrs)]


class Parser(HTMLParser):
    """The page as a browser's tokenizer sees it (the standard library's HTML parser)."""

    VOID: ClassVar[set[str]] = {"meta"}

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.root = Element("#document", {})
        self.at = self.root
        self.tags: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        element = Element(tag, {k: v or "" for k, v in attrs}, self.at)
        self.at.children.append(element)
        self.tags.append(tag)
        if tag not in self.VOID:
            self.at = element

    def handle_endtag(self, tag: str) -> None:
        assert self.at.tag == tag, f"</{tag}> closes <{self.at.tag}>"
        assert self.at.parent is not None
        self.at = self.at.parent

    def handle_data(self, data: str) -> None:
        self.at.text.append(data)


def parse(page: str) -> Element:
    """The page's element tree, checked: only the page's own tags, two scripts, every element
    closed, no attribute that runs script or loads anything."""
    parser = Parser()
    parser.feed(page)
    parser.close()
    assert parser.at is parser.root, f"<{parser.at.tag}> left open"
    assert set(parser.tags) <= TAGS, set(parser.tags) - TAGS
    assert parser.tags.count("script") == 2
    for element in _all(parser.root):
        assert not [a for a in element.attrs if a.startswith("on") or a in ("src", "href")]
    return parser.root


def _all(element: Element) -> list[Element]:
    return [element] + [e for c in element.children for e in _all(c)]


def sha(text: str) -> str:
    return "'sha256-" + base64.b64encode(hashlib.sha256(text.encode()).digest()).decode() + "'"


@dataclass
class Page:
    """A rendered page: its text, its element tree and its tree JSON."""

    text: str
    root: Element
    tree: dict[str, Any]

    def nodes(self, level: str) -> list[dict[str, Any]]:
        return [n for n in self.tree["nodes"] if n["l"] == level]

    def tables(self) -> list[Element]:
        return [t for t in self.root.find("table") if t.attrs.get("class") == "sortable"]


def check(text: str) -> Page:
    """Everything every page must be: self-contained, its CSP's hashes right, the contract's
    sections, a tree JSON laid out inside each parent's box."""
    assert text.startswith('<!doctype html>\n<html lang="en">')
    root = parse(text)
    (style,) = root.find("style")
    script = next(s for s in root.find("script") if "type" not in s.attrs)
    policy = next(m for m in root.find("meta") if m.attrs.get("http-equiv"))
    assert policy.attrs["http-equiv"] == "Content-Security-Policy"
    assert policy.attrs["content"] == (
        f"default-src 'none'; script-src {sha(script.all_text())}; "
        f"style-src {sha(style.all_text())}; img-src data:"
    )
    assert [m.attrs for m in root.find("meta", charset="utf-8")]
    assert not re.search(r"url\((?!data:)", style.all_text())  # nothing fetched by the style
    (made,) = root.find("p", id="made")
    assert made.find("time")[0].attrs["datetime"].endswith("Z")
    assert root.find("header")[0].find("h1")
    (insights,) = root.find("section", id="insights")
    assert insights.find("li")
    (crumbs,) = root.find("nav", id="crumbs")
    assert crumbs.find("button", type="button", **{"data-id": "0"})
    assert root.find("div", id="treemap", role="group")
    assert root.find("table", id="treemap-table")
    (data,) = root.find("script", type="application/json", id="fleetcache-tree")
    tree = json.loads(data.all_text())
    nodes = tree["nodes"]
    assert tree["aspect"] == 2.0 and nodes
    for i, node in enumerate(nodes):
        assert node["l"] in LEVELS and isinstance(node["n"], str) and node["b"] >= 0
        assert all(c > i for c in node.get("c", [])), "a parent comes before its children"
        x, y, w, h = node.get("r", (0, 0, 0, 0))
        assert x >= 0 and y >= 0 and x + w <= 100.001 and y + h <= 100.001
    page = Page(text, root, tree)
    for table in page.tables():
        heads = table.find("th")
        assert heads and all(h.attrs == {"scope": "col", "aria-sort": "none"} for h in heads)
        assert all(h.find("button", type="button") for h in heads)
    return page


def headers(table: Element) -> list[str]:
    return [th.all_text() for th in table.find("th")]


def cells(table: Element, part: str = "tbody") -> list[list[str]]:
    return [[td.all_text() for td in tr.find("td")] for p in table.find(part)
            for tr in p.find("tr")]  # fmt: skip


def markdown_rows(text: str) -> list[list[str]]:
    """A markdown table's header and rows, cells unescaped (``\\|``) and stripped."""
    rows = [line for line in text.splitlines() if line.startswith("|")]
    split = [[c.strip().replace("\\|", "|") for c in re.split(r"(?<!\\)\|", r)[1:-1]] for r in rows]
    return [split[0], *split[2:]]


# the treemap's layout ----------------------------------------------------------------------------


def laid_out(sizes: list[int]) -> list[dict[str, Any]]:
    root = Node("box", "host")
    for i, size in enumerate(sizes):
        root.child(f"n{i}", "account", size)
    nodes: list[dict[str, Any]] = document(root, human_size)["nodes"]
    return nodes


def test_areas_are_proportional_to_bytes_and_children_fill_their_parent_box():
    sizes = [5_000_000, 3_000_000, 1_200_000, 500_000, 200_000, 70_000, 30_000]
    nodes = laid_out(sizes)
    total = sum(sizes)
    assert nodes[0]["b"] == total and nodes[0]["c"] == list(range(1, 8))
    for node, size in zip(nodes[1:], sizes):
        x, y, w, h = node["r"]
        assert node["b"] == size
        assert w * h / 10_000 == pytest.approx(size / total, rel=0.005)
        assert x >= 0 and y >= 0 and x + w <= 100.001 and y + h <= 100.001
    covered = sum(n["r"][2] * n["r"][3] for n in nodes[1:])
    assert covered == pytest.approx(10_000, rel=0.001)  # the box is filled, nothing overlaps it


def test_children_are_largest_first_and_a_single_child_fills_its_parent():
    nodes = laid_out([10, 30, 20])
    assert [nodes[i]["b"] for i in nodes[0]["c"]] == [30, 20, 10]
    (only,) = laid_out([42])[1:]
    assert only["r"] == [0.0, 0.0, 100.0, 100.0]


def test_zero_byte_children_are_kept_but_not_laid_out():
    nodes = laid_out([100, 0, 50])
    assert [n["b"] for n in nodes[1:]] == [100, 50, 0]
    assert "r" in nodes[1] and "r" in nodes[2] and "r" not in nodes[3]
    assert nodes[3]["s"] == "0 B" and 3 in nodes[0]["c"]


def test_a_block_too_small_to_see_is_kept_but_not_laid_out():
    nodes = laid_out([10**18, 1, 1])  # squarify would divide by a side rounded to 0
    assert [n["b"] for n in nodes[1:]] == [10**18, 1, 1]
    assert nodes[1]["r"] == [0.0, 0.0, 100.0, 100.0] and "r" not in nodes[2]


def test_a_cache_shows_its_largest_packages_then_one_block_for_the_rest():
    cache = Node("/home/alice/.cache/pip", "cache", 10_000)
    add_packages(cache, {f"pkg{i:02}": 100 + i for i in range(PACKAGES + 12)})
    nodes = document(cache, human_size)["nodes"]
    kids = [nodes[i] for i in nodes[0]["c"]]
    assert len(kids) == PACKAGES + 1
    assert [k["b"] for k in kids] == sorted((k["b"] for k in kids), reverse=True)
    (other,) = [k for k in kids if k["l"] == "other"]
    assert [k["n"] for k in kids if k is not other][:2] == ["pkg41", "pkg40"]  # the largest
    assert other["n"] == "12 more" and other["s"] == "1.3 kB"
    assert other["b"] == sum(100 + i for i in range(12))


def test_sums_frees_and_busy_come_up_from_the_caches():
    root = Node("box", "host")
    kind = root.child("alice", "account").child("pip", "kind")
    busy = kind.child("/a", "cache", 300)
    busy.frees, busy.busy = 200, True
    kind.child("/b", "cache", 100).frees = 50
    nodes = document(root, human_size)["nodes"]
    assert (nodes[0]["b"], nodes[0]["f"], nodes[0]["fs"], nodes[0]["busy"]) == (
        400, 250, "250 B", "contains")  # fmt: skip
    cache = next(n for n in nodes if n["n"] == "/a")
    assert cache["busy"] is True and cache["f"] == 200
    assert "busy" not in next(n for n in nodes if n["n"] == "/b")


def test_hostile_names_stay_data_and_never_end_the_script_element():
    root = Node("box", "host")
    for name in (XSS, "</script><script>alert(2)//", QUOTES, "a\u2028b"):
        root.child(name, "account", 10)
    text = tree_json(document(root, human_size))
    assert "<" not in text and ">" not in text and "&" not in text
    names = {n["n"] for n in json.loads(text)["nodes"]}
    assert {XSS, "</script><script>alert(2)//", QUOTES} <= names


# every command's page ---------------------------------------------------------------------------


def test_the_sample_scan_page_has_the_table_formats_rows_sizes_to_sort_by_and_total_apart():
    page = check(FORMATS["html"].scan(RESULT, RenderOptions()))
    (table,) = page.tables()
    shown = markdown_rows(FORMATS["markdown"].scan(RESULT, RenderOptions()))
    assert headers(table) == shown[0]
    assert cells(table) + cells(table, "tfoot") == shown[1:]
    (total,) = cells(table, "tfoot")
    assert total[0].startswith("TOTAL")
    size = next(td for td in table.find("td") if td.all_text() == "77.8 kB")
    assert size.attrs["data-sort"] == "77824"  # bytes, where the text is a human size
    assert page.root.find("h1")[0].all_text() == "fleetcache scan of box"
    (cache,) = page.nodes("cache")  # busy (a process runs from a venv that uses it)
    assert (cache["busy"], cache["b"], cache["f"], cache["fs"]) == (True, 77824, 73728, "73.7 kB")
    assert page.nodes("account")[0]["busy"] == page.tree["nodes"][0]["busy"] == "contains"
    insights = [li.all_text() for li in page.root.find("section", id="insights")[0].find("li")]
    assert (
        "Busy (1): /home/alice/.cache/pip (pid 4242 alice runs "
        "/home/alice/proj/.venv/bin/python: python app.py)"
    ) in insights  # who uses it, not only its path


@pytest.mark.parametrize("view", VIEWS)
def test_every_report_view_has_a_page_with_the_table_formats_fields(view):
    report = build(view, RESULT, ENTRIES)
    page = check(FORMATS["html"].report(report, [], RenderOptions()))
    assert page.root.find("h1")[0].all_text() == f"fleetcache report by {view}"
    (table,) = page.tables()
    shown = markdown_rows(FORMATS["markdown"].report(report, [], RenderOptions()))
    assert headers(table) == shown[0] and cells(table) == shown[1:]
    assert {n["n"] for n in page.nodes("package")} >= {"alpha"}  # down to packages
    insights = page.root.find("section", id="insights")[0].all_text()
    assert "Superseded versions" in insights


def test_the_envs_and_active_pages_draw_environments_by_owner_and_kind():
    page = check(FORMATS["html"].envs(RESULT, RenderOptions()))
    assert [n["n"] for n in page.nodes("account")] == ["alice"]
    assert "/home/alice/proj/.venv" in {n["n"] for n in page.nodes("cache")}
    active = check(FORMATS["html"].envs(RESULT, RenderOptions(processes=True)))
    assert headers(active.tables()[0])[:4] == ["PREFIX", "KIND", "OWNER", "ACTIVE"]


def test_the_list_page_draws_accounts_caches_and_packages(capsys):
    page = check(FORMATS["html"].entries(FOUND, RenderOptions()))
    assert page.tree["nodes"][0]["n"] == socket.gethostname()
    assert [n["n"] for n in page.nodes("account")] == ["alice"]
    assert "alpha" in {n["n"] for n in page.nodes("package")}
    shown = markdown_rows(FORMATS["markdown"].entries(FOUND, RenderOptions()))
    assert cells(page.tables()[0]) == shown[1:]
    empty = check(FORMATS["html"].entries([], RenderOptions()))
    assert "No cache entries." in empty.root.find("section", **{"class": "table"})[0].all_text()


# real trees -------------------------------------------------------------------------------------


def pip_machine(top: Path, python: Path, index_url: str, host: str,
                accounts: dict[str, tuple[int, tuple[str, ...]]]) -> Tree:  # fmt: skip
    """A host whose accounts' caches a real pip filled with these packages."""
    tree = Tree(top / host)
    for name, (uid, packages) in accounts.items():
        cache = tree.host(f"/home/{name}/.cache/pip")  # filled by root's pip, then given away
        fill_cache(python, cache, index_url, *packages, work=top / "w" / host)
        chown_tree(tree.user(name, uid), uid)
    return tree


@pytest.fixture
def open_top() -> Iterator[Path]:
    """A directory for several machine trees that other uids may traverse."""
    top = Path(tempfile.mkdtemp(prefix="fleetcache-hosts-"))
    top.chmod(0o755)
    try:
        yield top
    finally:
        shutil.rmtree(top, ignore_errors=True)


def run(*argv: str) -> int:
    code = main(list(argv))
    assert code in (0, 3), argv
    return code


@pytest.mark.root
@ROOT_ONLY
def test_a_scan_page_of_real_pip_caches_goes_down_to_packages_and_merges_three_hosts(
    open_top: Path, tmp_path: Path, pip_python: Callable[[str], Path], index_url: str
):
    python = pip_python("26")
    hosts: dict[str, dict[str, tuple[int, tuple[str, ...]]]] = {
        "web1": {"alice": (ALICE, ("alpha", "beta")), "bob": (BOB, ("alpha", "gamma"))},
        "web2": {"carol": (CAROL, ("beta",))},
        "web3": {"alice": (ALICE, ("gamma",))},
    }
    trees = {h: pip_machine(open_top, python, index_url, h, a) for h, a in hosts.items()}
    out = tmp_path / "web1.html"
    run("scan", "--root", str(trees["web1"].root), "--no-activity", "-f", "html", "-o", str(out))
    page = check(out.read_text())
    accounts = page.nodes("account")
    assert sorted(n["n"] for n in accounts) == ["alice", "bob"]
    assert page.tree["nodes"][0]["c"] == [page.tree["nodes"].index(n) for n in accounts]
    packages = {n["n"] for n in page.nodes("package")}
    assert {"alpha", "beta", "gamma"} <= packages  # the entries were read: down to packages
    caches = page.nodes("cache")
    assert all(c["f"] > 0 and c["b"] > 0 for c in caches)
    insights = page.root.find("section", id="insights")[0].all_text()
    assert "Held by several accounts" in insights  # the report's insights: alpha twice

    def documents(command: str, suffix: str) -> list[str]:
        """Each host's JSON document of ``command``, as ``merge`` takes it: HOST=FILE."""
        made = []
        for host, tree in trees.items():
            doc = tmp_path / f"{host}{suffix}.json"
            run(command, "--root", str(tree.root), "--no-activity", "-f", "json", "-o", str(doc))
            made.append(f"{host}={doc}")
        return made

    docs = documents("scan", "")
    fleet = tmp_path / "fleet.html"
    run("merge", *docs, "--failed", "web4=unreachable", "-f", "html", "-o", str(fleet))
    merged = check(fleet.read_text())
    root = merged.tree["nodes"][0]
    assert root["l"] == "fleet" and root["n"] == "4 hosts"
    hosts_drawn = [merged.tree["nodes"][i] for i in root["c"]]
    # largest first (web2's and web3's caches differ by a few bytes of pip's http headers: either
    # may come first), the failed host last with nothing
    assert sorted(h["n"] for h in hosts_drawn) == ["web1", "web2", "web3", "web4"]
    assert [h["b"] for h in hosts_drawn] == sorted((h["b"] for h in hosts_drawn), reverse=True)
    assert hosts_drawn[-1]["n"] == "web4" and hosts_drawn[-1]["b"] == 0
    assert len(merged.nodes("account")) == 4  # one block per account of each host
    assert merged.root.find("h1")[0].all_text() == "fleetcache merge of 4 hosts"
    assert "Failed hosts (1): web4: unreachable" in merged.root.find("li")[0].all_text()
    (table,) = merged.tables()
    assert {r[0] for r in cells(table)} == {"web1", "web2", "web3"}

    views = documents("report", "-package")
    by = tmp_path / "by-package.html"
    run("merge", *views, "-f", "html", "-o", str(by))
    page = check(by.read_text())
    assert {n["n"] for n in page.nodes("package")} == {"alpha", "beta", "gamma"}


def hostile_machine(tree: Tree) -> Tree:
    """Accounts named XSS, QUOTES, ESC and an invalid UTF-8 name, homes that are markup, each
    with a venv and a cache holding packages named XSS and with a newline."""
    names = [(XSS.encode(), b"/home/x</script><img src=x onerror=alert(2)>"),
             (QUOTES.encode(), b"/home/q\"'&amp;"), (ESC.encode(), b"/home/e\x1b[31m"),
             (b"bad\xff", b"/home/bad\xff")]  # fmt: skip
    lines = [b"root:x:0:0:root:/root:/bin/bash"]
    for i, (name, home) in enumerate(names):
        uid = ALICE + i
        lines.append(b"%s:x:%d:%d::%s:/bin/bash" % (name, uid, uid, home))
        where = Path(os.fsdecode(bytes(tree.root) + home))
        for project in (XSS, "new\nline", f"p{i}"):
            headers = {"x-pypi-file-project": project, "x-pypi-file-version": "1.0",
                       "x-pypi-file-package-type": "bdist_wheel"}  # fmt: skip
            meta = b"cc=4," + msgpack.packb({"response": {"headers": headers}, "vary": {}})
            key = hashlib.sha224(project.encode() + name).hexdigest()
            hostile_entry(where / ".cache" / "pip", key, meta, b"x" * (100 + i))
        (where / "proj" / ".venv").mkdir(parents=True)
        (where / "proj" / ".venv" / "pyvenv.cfg").write_text("home = /usr/bin\nversion = 3.11.2\n")
        chown_tree(where, uid)
    (tree.root / "etc" / "passwd").write_bytes(b"\n".join(lines) + b"\n")
    return tree


@pytest.mark.root
@ROOT_ONLY
def test_hostile_names_are_text_on_every_page(open_tree: Tree, tmp_path: Path, capsys):
    tree = hostile_machine(open_tree)
    root = ["--root", str(tree.root)]
    pages = {}
    for name, argv in {
        "scan": ["scan", *root, "--no-activity"],
        "envs": ["envs", *root, "--no-activity"],
        "report": ["report", *root, "--by", "user", "--no-activity"],
        "clean": ["clean", *root, "--all-users", "--dry-run", "--audit-log",
                  str(tmp_path / "audit.log"), "--lock-dir", str(tmp_path / "locks")],
    }.items():  # fmt: skip
        out = tmp_path / f"{name}.html"
        run(*argv, "-f", "html", "-o", str(out))
        pages[name] = check(out.read_text())
    scan_json = tmp_path / "scan.json"
    run("scan", *root, "--no-activity", "-f", "json", "-o", str(scan_json))
    run("merge", str(scan_json), "-f", "html", "-o", str(tmp_path / "merge.html"))
    pages["merge"] = check((tmp_path / "merge.html").read_text())
    run("list", *root, "-u", XSS, "-f", "html")
    pages["list"] = check(capsys.readouterr().out)
    assert pages["list"].tree["nodes"][0]["n"] == tree.root.name  # the --root machine's name
    for name, page in pages.items():
        text = page.root.all_text()
        assert "\x1b" not in page.text and "\udcff" not in page.text, name
        names = {n["n"] for n in page.tree["nodes"]}
        if name != "list":
            assert {XSS, QUOTES, "e\\x1b[31mred", "bad\\xff"} <= names, (name, names)
            assert XSS in text and QUOTES in text and "e\\x1b[31mred" in text, name
    scan = pages["scan"]
    assert {XSS, "new\\nline"} <= {n["n"] for n in scan.nodes("package")}
    assert "/home/x</script><img src=x onerror=alert(2)>/.cache/pip" in {
        n["n"] for n in scan.nodes("cache")
    }
    (table,) = scan.tables()
    assert XSS in [row[2] for row in cells(table)]  # OWNER, as the table format's cell


# clean ------------------------------------------------------------------------------------------


@pytest.mark.root
@ROOT_ONLY
def test_clean_shows_its_plan_then_what_it_did(open_tree: Tree, tmp_path: Path):
    cache = synthetic_cache(open_tree)
    plan = clean_page(open_tree, tmp_path, "plan.html", "--dry-run")
    page = check(plan.read_text())
    assert page.root.find("h1")[0].all_text() == "fleetcache clean plan"
    (table,) = page.tables()
    assert headers(table) == ["CACHE", "USER", "FILES", "SIZE", "FREES", "STATE"]
    assert cells(table)[0][:2] == ["/home/alice/.cache/pip", "alice"]
    (node,) = page.nodes("cache")
    assert node["b"] == node["f"] > 0  # sized by what the plan frees
    assert any(cache.rglob("*.body"))  # a dry run deleted nothing

    done = clean_page(open_tree, tmp_path, "done.html", "--yes")
    page = check(done.read_text())
    assert page.root.find("h1")[0].all_text() == f"fleetcache clean of {open_tree.root.name}"
    (table,) = page.tables()
    assert headers(table)[:6] == ["CACHE", "USER", "STATE", "BEFORE", "FREED", "AFTER"]
    assert cells(table)[0][2] == "cleaned"
    assert page.nodes("cache")[0]["b"] > 0  # sized by what was deleted
    assert not any(cache.rglob("*.body"))


def test_clean_help_lists_html(capsys):
    with pytest.raises(SystemExit):
        main(["clean", "--help"])
    assert "table, json, html" in capsys.readouterr().out


# the CSP as a browser reads it ------------------------------------------------------------------


@pytest.mark.skipif(browser.missing() is not None, reason=str(browser.missing()))
def test_a_browser_runs_the_inlined_script_and_style_and_refuses_one_changed_after(tmp_path):
    """The CSP's hashes are the ones Chromium computes: the page loads without a violation, and
    the same page with one character of its script or style changed is refused."""
    text = FORMATS["html"].scan(RESULT, RenderOptions())
    script = text.rindex("<script>") + len("<script>")
    style = text.index("<style>") + len("<style>")
    pages = {"page": text, "script changed": text[:script] + " " + text[script:],
             "style changed": text[:style] + " " + text[style:]}  # fmt: skip
    with browser.chromium() as driver:
        for name, page in pages.items():
            path = tmp_path / f"{name.replace(' ', '-')}.html"
            path.write_text(page)
            driver.get(path.as_uri())
            refused = [e for e in browser.errors(driver) if "Content Security Policy" in e]
            assert bool(refused) == (name != "page"), (name, refused)
