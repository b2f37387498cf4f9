"""The HTML page's treemap: bytes as a tree (host -> account -> kind -> cache -> package), each
node's children laid out by squarify, written as the tree JSON the page's script reads (it only
places the rectangles)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Callable, Optional, Union

import squarify

from fleetcache import escape
from fleetcache.formats.grid import CELL_LIMIT
from fleetcache.model import CacheEntry, ScanResult

if TYPE_CHECKING:
    from fleetcache.clean.run import CleanResult

ASPECT = 2.0  # width / height of the drawn treemap (page.css gives #treemap the same)
PACKAGES = 30  # a cache's largest packages drawn; the rest is one "other" block
# package blocks a fleet's page draws in all: each cache its share (at most PACKAGES, at least
# one), so the page of a hundred hosts stays as small as that of ten (each block costs ~100 bytes)
FLEET_PACKAGES = 5000
LAYOUT_LIMIT = 400  # any node's children drawn (squarify recurses once per row of blocks)
DIGITS = 3  # of a percentage: areas within 0.1% of a block as small as 1% by 1%
# a block under this share of its parent is not drawn (kept in the table): too small to see, and
# squarify divides by its side, which rounds to 0
TINY = 1e-9
NOBODY = "(no account)"
# what a merged report view's rows are, as a treemap level (views.KEY_FIELDS)
ROW_LEVELS = {"package": "package", "cache": "cache", "user": "account", "env": "cache",
              "kind": "kind", "host": "host"}  # fmt: skip

Busy = Union[bool, str, None]  # True on a busy cache, "contains" above one


@dataclass
class Node:
    """One block: its own bytes (a cache's, an environment's) or, left None, its children's sum."""

    name: str
    level: str
    size: Optional[int] = None
    frees: Optional[int] = None
    busy: Busy = None
    children: dict[tuple[str, str], Node] = field(default_factory=dict)

    def child(self, name: str, level: str, size: Optional[int] = None) -> Node:
        """The child of this name and level, made on first use (``size`` is then its own)."""
        key = (name, level)
        if key not in self.children:
            self.children[key] = Node(name, level, size)
        return self.children[key]


def shown(name: object) -> str:
    """A name as a table cell shows it: escaped and cut to its limit (grid.CELL_LIMIT)."""
    return escape.clip(str(name), CELL_LIMIT)


def cache_node(parent: Node, path: str, size: int, frees: Optional[int], busy: Any) -> Node:
    """A cache (or environment) below ``parent``: its bytes, what a clean frees, busy or not."""
    node = parent.child(shown(path), "cache", size)
    node.frees = frees
    node.busy = True if busy is True else None
    return node


def of_scan(result: ScanResult) -> Node:
    """The host's caches on disk by account (the owner, else the first user) and kind; down to
    packages in the caches whose entries were read (``CacheResult.packages``)."""
    root = Node(shown(result.host), "host")
    for c in result.caches:
        if not c.exists or c.skipped:
            continue
        whose = c.owner or next(iter(c.location.users), None) or NOBODY
        kind = root.child(shown(whose), "account").child(c.location.kind, "kind")
        f = c.figures
        node = cache_node(kind, c.location.path, f.disk_bytes, f.reclaimable_bytes, c.busy)
        add_packages(node, {p.package: p.bytes for p in c.packages or ()})
    return root


def add_packages(cache: Node, sizes: Mapping[str, int], cap: int = PACKAGES) -> None:
    """A cache's packages (name -> bytes), the largest ``cap`` of them, then one block for the
    rest."""
    ranked = sorted(sizes.items(), key=lambda kv: (-kv[1], kv[0]))
    for name, size in ranked[:cap]:
        cache.child(shown(name), "package", size)
    rest = ranked[cap:]
    if rest:
        cache.child(f"{len(rest)} more", "other", sum(s for _, s in rest))


def of_envs(result: ScanResult) -> Node:
    """The host's environments and interpreters by owner and kind, sized on disk."""
    root = Node(shown(result.host), "host")
    for e in result.environments:
        if not e.exists:
            continue
        kind = root.child(shown(e.owner or NOBODY), "account").child(e.kind, "kind")
        cache_node(kind, e.prefix, e.size_bytes or 0, None, e.active)
    return root


def of_entries(found: Iterable[tuple[str, CacheEntry]], host: str) -> Node:
    """``fleetcache list``'s entries by account and cache, down to packages."""
    root = Node(shown(host), "host")
    caches: dict[tuple[str, str], dict[str, int]] = {}
    for user, e in found:
        sizes = caches.setdefault((user, e.cache), {})
        name = e.project or "(unknown)"
        sizes[name] = sizes.get(name, 0) + e.size
    for (user, path), sizes in caches.items():
        account = root.child(shown(user or NOBODY), "account")
        add_packages(account.child(shown(path), "cache"), sizes)
    return root


def of_clean(result: CleanResult) -> Node:
    """A clean's caches by account and kind, sized by what the plan frees (a dry run) or by what
    was deleted."""
    root = Node(shown(result.host), "host")
    for c in result.caches:
        if c.state == "missing":
            continue
        kind = root.child(shown(c.user or NOBODY), "account").child(c.kind, "kind")
        planned = c.plan.frees if c.plan is not None else 0
        size = planned if result.dry_run else c.deleted_bytes
        busy = True if c.busy_reasons or c.state == "busy" else None
        cache_node(kind, c.path, size, planned if result.dry_run else None, busy)
    return root


def of_merged(doc: Mapping[str, Any]) -> Node:
    """Many hosts: each host's caches by account and kind (down to packages where a host's
    document has them), or a merged report view's rows."""
    from fleetcache.report.merge import account_of

    root = Node(f"{len(doc['hosts'])} hosts", "fleet")
    for h in doc["hosts"]:
        root.child(shown(h["host"]), "host")
    if "by" in doc:
        _merged_rows(root, doc)
        return root
    present = [c for c in doc["caches"] if c.get("exists") and not c.get("skipped")]
    held = sum(1 for c in present if c.get("packages"))
    cap = max(1, min(PACKAGES, FLEET_PACKAGES // max(1, held)))
    for c in present:
        whose = account_of(c) or NOBODY
        host = root.child(shown(c.get("host")), "host")
        kind = host.child(shown(whose), "account").child(shown(c.get("kind") or "?"), "kind")
        size, frees = _int(c.get("disk_bytes")), _int(c.get("reclaimable_bytes"))
        node = cache_node(kind, str(c.get("path")), size, frees, c.get("busy"))
        add_packages(node, merged_packages(c), cap)
    return root


def merged_packages(cache: Mapping[str, Any]) -> dict[str, int]:
    """A merged cache record's packages (``scan --packages``) as name -> bytes; none without."""
    sizes: dict[str, int] = {}
    for held in cache.get("packages") or []:
        name = str(held.get("package"))
        sizes[name] = sizes.get(name, 0) + _int(held.get("bytes"))
    return sizes


def _merged_rows(root: Node, doc: Mapping[str, Any]) -> None:
    """A merged report view: host -> its rows' key, the largest PACKAGES rows of each host."""
    from fleetcache.report.views import KEY_FIELDS

    by = str(doc["by"])
    key, level = KEY_FIELDS.get(by, "host"), ROW_LEVELS.get(by, "other")
    measure = "disk_bytes" if by == "kind" else "bytes"
    rows: dict[str, list[tuple[int, str]]] = {}
    for r in doc["rows"]:
        rows.setdefault(str(r.get("host")), []).append((_int(r.get(measure)), str(r.get(key))))
    for host, found in rows.items():
        node = root.child(shown(host), "host")
        if by == "host":
            node.size = sum(s for s, _ in found)
            continue
        found.sort(key=lambda sr: (-sr[0], sr[1]))
        for size, name in found[:PACKAGES]:
            node.child(shown(name), level, size)
        rest = found[PACKAGES:]
        if rest:
            node.child(f"{len(rest)} more", "other", sum(s for s, _ in rest))


def _int(value: Any) -> int:
    """A count from another host's document: a non-negative int, else 0."""
    return value if isinstance(value, int) and not isinstance(value, bool) and value > 0 else 0


def settle(node: Node) -> None:
    """Sizes, frees and busy of the nodes above caches, from below."""
    kids = list(node.children.values())
    for kid in kids:
        settle(kid)
    if node.size is None:
        node.size = sum(k.size or 0 for k in kids)
    if node.frees is None:
        known = [k.frees for k in kids if k.frees is not None]
        node.frees = sum(known) if known else None
    if node.busy is None and any(k.busy for k in kids):
        node.busy = "contains"


def ordered(node: Node) -> list[Node]:
    """A node's children, largest first (then by name); past LAYOUT_LIMIT, one "other" block."""
    kids = sorted(node.children.values(), key=lambda k: (-(k.size or 0), k.name))
    if len(kids) <= LAYOUT_LIMIT:
        return kids
    rest = kids[LAYOUT_LIMIT - 1 :]
    other = Node(f"{len(rest)} more", "other", sum(k.size or 0 for k in rest))
    return [*kids[: LAYOUT_LIMIT - 1], other]


def layout(sizes: Sequence[int], aspect: float = ASPECT) -> list[list[float]]:
    """Squarify's rectangles for positive ``sizes`` (largest first) in a box ``aspect`` wide
    to 1 high, as x, y, w, h in percent of that box."""
    if not sizes:
        return []
    width, height = 100.0 * aspect, 100.0
    rects = squarify.squarify(squarify.normalize_sizes(sizes, width, height), 0, 0, width, height)
    return [
        [round(r["x"] / aspect, DIGITS), round(r["y"], DIGITS),
         round(r["dx"] / aspect, DIGITS), round(r["dy"], DIGITS)]
        for r in rects
    ]  # fmt: skip


def document(root: Node, size: Callable[[int], str], aspect: float = ASPECT) -> dict[str, Any]:
    """The page's tree JSON: every node once, a parent before its children (node 0 the root),
    each laid out in its parent's box; zero-byte (and TINY) children kept, but not laid out."""
    settle(root)
    order: list[Node] = [root]
    rects: list[Optional[list[float]]] = [[0.0, 0.0, 100.0, 100.0]]
    nodes: list[dict[str, Any]] = []
    for i, node in enumerate(order):  # grows as it goes: breadth first
        kids = ordered(node)
        least = sum(k.size or 0 for k in kids) * TINY
        drawn = [k.size for k in kids if k.size and k.size >= least]  # the largest, first
        rects.extend([*layout(drawn, aspect), *([None] * (len(kids) - len(drawn)))])
        first = len(order)
        order.extend(kids)
        nodes.append(record(node, rects[i], list(range(first, len(order))), size))
    return {"aspect": aspect, "nodes": nodes}


def record(node: Node, rect: Optional[list[float]], kids: list[int], size: Callable[[int], str]
           ) -> dict[str, Any]:  # fmt: skip
    """One node as the JSON holds it: short keys, and only what it has."""
    out: dict[str, Any] = {"n": node.name, "l": node.level, "b": node.size or 0,
                           "s": size(node.size or 0)}  # fmt: skip
    if node.frees is not None:
        out["f"] = node.frees
        out["fs"] = size(node.frees)
    if node.busy:
        out["busy"] = node.busy
    if rect is not None:
        out["r"] = rect
    if kids:
        out["c"] = kids
    return out
