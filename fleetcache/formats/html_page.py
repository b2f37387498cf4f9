"""The HTML page around the tables: its head (the CSP that allows only its own inlined script and
style), header, insights, treemap section, the tree JSON and the script; nothing loaded from
anywhere, so it opens from disk and survives a mail gateway."""

from __future__ import annotations

import base64
import hashlib
import json
from collections.abc import Sequence
from dataclasses import dataclass
from functools import cache
from html import escape
from importlib import resources
from typing import Any

from fleetcache import __version__
from fleetcache.formats.fields import iso

TREE_ID = "fleetcache-tree"
# what no name in the tree JSON may hold raw: it would end the script element (or start one)
JSON_UNSAFE = {"<": "\\u003c", ">": "\\u003e", "&": "\\u0026"}
TREEMAP_HEADERS = ["Name", "Level", "Size", "Share of view", "Frees", "Busy"]


@dataclass(frozen=True)
class Made:
    """What a page shows of itself: its title, when, on which hosts and from which command."""

    title: str
    when: float
    hosts: Sequence[str]
    command: str
    measure: str = "On disk"  # what the treemap's area counts: "Deleted" on a clean's page


@cache
def asset(name: str) -> str:
    """page.js or page.css, as installed beside this module."""
    return resources.files("fleetcache.formats").joinpath(name).read_text(encoding="utf-8")


def digest(text: str) -> str:
    """A CSP source for an inline block: ``'sha256-…'`` of its exact text."""
    return "'sha256-" + base64.b64encode(hashlib.sha256(text.encode()).digest()).decode() + "'"


def tree_json(tree: dict[str, Any]) -> str:
    """The tree as the text of its script element: compact, no ``<``, ``>`` or ``&`` in it."""
    text = json.dumps(tree, ensure_ascii=False, separators=(",", ":"))
    for raw, safe in JSON_UNSAFE.items():
        text = text.replace(raw, safe)
    return text


def render(made: Made, insights: Sequence[str], tree: dict[str, Any], tables: str) -> str:
    """The whole page: ``tables`` is HTML already; every other text is escaped here."""
    script, style = asset("page.js"), asset("page.css")
    if "</" in script or "</" in style:  # an inlined block may not end its own element
        raise ValueError("page.js and page.css may not hold '</'")
    policy = (
        f"default-src 'none'; script-src {digest(script)}; style-src {digest(style)}; img-src data:"
    )
    return "\n".join(
        [
            "<!doctype html>",
            '<html lang="en">',
            "<head>",
            '<meta charset="utf-8">',
            f'<meta http-equiv="Content-Security-Policy" content="{escape(policy)}">',
            '<meta name="viewport" content="width=device-width, initial-scale=1">',
            f"<title>{escape(made.title)}</title>",
            f"<style>{style}</style>",
            "</head>",
            "<body>",
            header(made),
            "<main>",
            insight_list(insights),
            treemap_section(tree, made.measure),
            tables,
            "</main>",
            f"<footer><p>Made by fleetcache {escape(__version__)}. This page is for people; "
            "scripts read <code>--format json</code>, the contract.</p></footer>",
            f'<script type="application/json" id="{TREE_ID}">{tree_json(tree)}</script>',
            f"<script>{script}</script>",
            "</body>",
            "</html>",
            "",
        ]
    )


def header(made: Made) -> str:
    """The title, and when, where, by which version and from which command the page was made."""
    stamp = iso(made.when) or ""
    shown = stamp[:16].replace("T", " ") + " UTC" if stamp else "at an unknown time"
    hosts = ", ".join(made.hosts) or "no host"
    return (
        f"<header><h1>{escape(made.title)}</h1>"
        f'<p id="made">Made <time datetime="{escape(stamp)}">{escape(shown)}</time> on '
        f"{escape(hosts)} by fleetcache {escape(__version__)}, from "
        f"<code>{escape(made.command)}</code>.</p></header>"
    )


def insight_list(lines: Sequence[str]) -> str:
    """The insights as a list at the top; one item says so when there are none."""
    items = [f"<li>{escape(line)}</li>" for line in lines] or [
        "<li>Nothing stands out: nothing held twice or superseded, no junk, nothing busy, "
        "refused or skipped.</li>"
    ]
    return (
        '<section id="insights"><h2>What stands out</h2><ul>' + "".join(items) + "</ul></section>"
    )


def treemap_section(tree: dict[str, Any], measure: str = "On disk") -> str:
    """The treemap's crumbs and box (the script draws the blocks) and, for a page without the
    script, the first view's blocks as a table (the script rebuilds it on every zoom)."""
    root = tree["nodes"][0]
    name = escape(root["n"])
    return (
        '<section id="treemap-section"><h2>Where the bytes are</h2>'
        f'<p id="treemap-hint">{escape(hint(root, measure))}</p>'
        '<nav id="crumbs" aria-label="Where you are in the treemap"><ol><li>'
        f'<button type="button" data-id="0" aria-current="page">{name}</button></li></ol></nav>'
        '<div id="treemap" role="group" aria-label="Treemap of the bytes on disk by host, '
        'account, cache kind, cache and package: Enter zooms in, Escape goes back up"></div>'
        "<details open><summary>The blocks drawn, as a table</summary>"
        f'<table id="treemap-table"><thead><tr>{header_cells(TREEMAP_HEADERS)}</tr></thead>'
        f"<tbody>{view_rows(tree['nodes'])}</tbody></table></details></section>"
    )


def hint(root: dict[str, Any], measure: str) -> str:
    """What the treemap shows, in all, in which units, and how to move in it (for a newcomer)."""
    total = f"{measure}: {root['s']}"
    if root.get("f") is not None and measure == "On disk":
        total += f", of which a clean could free {root['fs']} (the green bars; busy caches wait)"
    return (
        f"{total}. A block's area is its size (1 kB = 1,000 bytes). Click a block, or press "
        "Enter on it, to zoom in; Escape or the path above goes back up."
    )


def header_cells(headers: Sequence[str]) -> str:
    """A table's header cells, each a button the script sorts by."""
    return "".join(
        f'<th scope="col" aria-sort="none"><button type="button">{escape(h)}</button></th>'
        for h in headers
    )


def view_rows(nodes: Sequence[dict[str, Any]]) -> str:
    """The rows of the first view: the root's children and theirs (the blocks drawn)."""
    total = nodes[0]["b"] or 1
    rows = []
    for i in nodes[0].get("c", []):
        rows.append(view_row(nodes[i], total, nodes[i]["n"]))
        inner = (
            view_row(nodes[j], total, f"{nodes[i]['n']} / {nodes[j]['n']}")
            for j in nodes[i].get("c", [])
        )
        rows.extend(inner)
    return "".join(rows)


def view_row(node: dict[str, Any], total: int, name: str) -> str:
    """One block's row: name (an inner block's "parent / child", as page.js names it), level,
    size, its share of the view, what a clean frees, busy."""
    share = f"{100 * node['b'] / total:.1f}%"
    busy = {True: "busy", "contains": "contains busy"}.get(node.get("busy"), "")
    cells = [
        f"<td>{escape(name)}</td><td>{node['l']}</td>",
        f'<td data-sort="{node["b"]}">{escape(node["s"])}</td>',
        f'<td data-sort="{node["b"] / total:.6f}">{share}</td>',
        f'<td data-sort="{node["f"]}">{escape(node["fs"])}</td>' if "f" in node else "<td></td>",
        f"<td>{busy}</td>",
    ]
    return "<tr>" + "".join(cells) + "</tr>"


def section(title: str, body: str) -> str:
    """One table (with the lines after it) under its heading."""
    return f'<section class="table"><h2>{escape(title)}</h2>{body}</section>'
