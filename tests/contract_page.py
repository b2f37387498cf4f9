"""A page written by hand to issue 20's contract (skeleton, tree JSON, CSP hashes) around the real
page.js and page.css: lets the browser tests pin what page.js does with inputs no scan makes."""

from __future__ import annotations

import base64
import hashlib
import html
import json
from dataclasses import dataclass, field
from importlib import resources
from typing import Any, Optional, Union

import squarify

ASPECT = 2.0


@dataclass
class Spec:
    """A node of the tree to draw: its own bytes for a leaf, its children's sum otherwise."""

    name: str
    level: str
    size: int = 0
    frees: Optional[int] = None
    busy: Union[bool, str] = False
    children: list[Spec] = field(default_factory=list)

    def total(self) -> int:
        """Bytes on disk: a leaf's own, a parent's children's."""
        return sum(c.total() for c in self.children) if self.children else self.size

    def freed(self) -> Optional[int]:
        """What a clean frees: its own figure, else what its children's known figures sum to."""
        known = [f for f in (c.freed() for c in self.children) if f is not None]
        return self.frees if self.frees is not None or not known else sum(known)


def human(size: int) -> str:
    """The table format's human size."""
    from fleetcache.formats.table import human_size

    return human_size(size)


def rectangles(sizes: list[int], aspect: float = ASPECT) -> list[list[float]]:
    """Squarify rectangles in percent of a box of the page's aspect ratio."""
    width, height = 100.0 * aspect, 100.0
    boxes = squarify.squarify(squarify.normalize_sizes(sizes, width, height), 0, 0, width, height)
    return [
        [b["x"] / width * 100, b["y"] / height * 100, b["dx"] / width * 100, b["dy"] / height * 100]
        for b in boxes
    ]


def nodes(root: Spec, aspect: float = ASPECT) -> list[dict[str, Any]]:
    """The contract's node list: parents before children, children largest first."""
    out: list[dict[str, Any]] = []

    def add(spec: Spec, rect: Optional[list[float]]) -> int:
        node: dict[str, Any] = {"n": spec.name, "l": spec.level, "b": spec.total()}
        node["s"] = human(node["b"])
        frees = spec.freed()
        if frees is not None:
            node["f"], node["fs"] = frees, human(frees)
        if spec.busy:
            node["busy"] = spec.busy
        if rect is not None:
            node["r"] = rect
        out.append(node)
        kids = sorted(spec.children, key=lambda c: -c.total())
        drawn = [k for k in kids if k.total() > 0]
        rects = (
            dict(zip(map(id, drawn), rectangles([k.total() for k in drawn], aspect)))
            if drawn
            else {}
        )
        node["c"] = [add(k, rects.get(id(k))) for k in kids]
        return out.index(node)

    add(root, None)
    return out


def _inline(name: str) -> str:
    return resources.files("fleetcache.formats").joinpath(name).read_text(encoding="utf-8")


def _sha(text: str) -> str:
    return "sha256-" + base64.b64encode(hashlib.sha256(text.encode()).digest()).decode()


def table(title: str, headers: list[str], rows: list[list[Any]], total: list[Any]) -> str:
    """A section.table: a cell is text, or (text, data-sort) for a human size."""

    def td(value: Any) -> str:
        if isinstance(value, tuple):
            return f'<td data-sort="{value[1]}">{html.escape(value[0])}</td>'
        return f"<td>{html.escape(str(value))}</td>"

    head = "".join(
        f'<th scope="col" aria-sort="none"><button type="button">{html.escape(h)}</button></th>'
        for h in headers
    )
    body = "".join("<tr>" + "".join(map(td, r)) + "</tr>" for r in rows)
    foot = "<tr>" + "".join(map(td, total)) + "</tr>"
    return (
        f'<section class="table"><h2>{html.escape(title)}</h2><table class="sortable">'
        f"<thead><tr>{head}</tr></thead><tbody>{body}</tbody><tfoot>{foot}</tfoot></table></section>"
    )


def page(
    root: Spec, tables: str = "", insights: tuple[str, ...] = (), aspect: float = ASPECT
) -> str:
    """A whole page: header, insights, crumbs, treemap, its table, the given tables, the JSON."""
    data = json.dumps({"aspect": aspect, "nodes": nodes(root, aspect)})
    data = data.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")
    script, style = _inline("page.js"), _inline("page.css")
    csp = (
        f"default-src 'none'; script-src '{_sha(script)}'; style-src '{_sha(style)}'; img-src data:"
    )
    items = "".join(f"<li>{html.escape(i)}</li>" for i in insights) or "<li>Nothing to note.</li>"
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<meta http-equiv="Content-Security-Policy" content="{csp}">
<title>fleetcache scan of {html.escape(root.name)}</title><style>{style}</style></head>
<body><header><h1>fleetcache scan of {html.escape(root.name)}</h1>
<p id="made">made <time datetime="2026-11-21T22:26:40Z">2026-11-21 22:26 UTC</time> on
{html.escape(root.name)} by fleetcache 0.0 from <code>fleetcache scan --format html</code></p></header>
<section id="insights"><h2>Insights</h2><ul>{items}</ul></section>
<section id="treemap-section"><h2>Where the bytes are</h2>
<nav id="crumbs" aria-label="Where you are in the treemap"><ol></ol></nav>
<div id="treemap" role="group" aria-label="Treemap of bytes on disk"></div>
<details open><summary>The treemap as a table</summary><table id="treemap-table"></table></details>
</section>
{tables}
<script type="application/json" id="fleetcache-tree">{data}</script>
<script>{script}</script>
</body></html>
"""
