/* fleetcache's HTML report: draws the treemap from #fleetcache-tree, zooms into it, sorts the tables.
   Names are data: they reach the page through textContent and setAttribute only, never as markup. */
"use strict";
(() => {
  const KINDS = ["pip", "uv", "conda", "rattler", "poetry", "pipenv", "pdm", "virtualenv", "hatch", "pip-tools"];
  const UNITS = {
    b: 1, kb: 1e3, mb: 1e6, gb: 1e9, tb: 1e12, pb: 1e15,
    kib: 1024, mib: 1024 ** 2, gib: 1024 ** 3, tib: 1024 ** 4, "%": 1, day: 1, days: 1,
  };
  const FIGURE = /^(-?\d+(?:\.\d+)?)\s*([a-z%]*)$/i;
  const BLANK = new Set(["", "-", "\u2014", "?"]);
  const tree = { nodes: [], parent: [], kind: [], view: 0 };
  const firstOrder = new WeakMap();
  const wired = new WeakSet();

  /* An element of this tag and these classes. */
  function make(tag, ...classes) {
    const element = document.createElement(tag);
    if (classes.length) element.classList.add(...classes);
    return element;
  }

  /* A node's children that have an area (zero-byte ones are in the table only). */
  function drawn(id) {
    return (tree.nodes[id].c || []).filter((k) => Array.isArray(tree.nodes[k].r));
  }

  /* Read the JSON once: each node's parent, and the cache kind it lies under (its colour). */
  function load(script) {
    const data = JSON.parse(script.textContent);
    tree.nodes = data.nodes;
    tree.nodes.forEach((node, id) => {
      for (const k of node.c || []) tree.parent[k] = id;
      const above = tree.parent[id] === undefined ? null : tree.kind[tree.parent[id]];
      tree.kind[id] = node.l === "kind" ? node.n : above;
    });
    return Number(data.aspect) > 0 ? Number(data.aspect) : 2;
  }

  /* The palette class of a kind: the known kinds in a fixed order, others by a hash of the name. */
  function colour(kind) {
    let index = KINDS.indexOf(kind);
    if (index < 0) index = [...kind].reduce((h, ch) => (h * 31 + ch.codePointAt(0)) % 9973, 7) % KINDS.length;
    return `k${index}`;
  }

  /* What a block says to a screen reader and in its tooltip: name, size, what a clean frees, busy. */
  function describe(id) {
    const node = tree.nodes[id];
    const words = [node.n, node.s];
    if (node.f !== undefined && node.f !== null) words.push(`frees ${node.fs}`);
    if (node.busy === true) words.push("busy");
    else if (node.busy) words.push("contains busy caches");
    if (drawn(id).length) words.push("opens");
    return words.join(", ");
  }

  /* The visible text of a block: name and size, and the word "busy" (colour is not the only signal). */
  function label(node) {
    const text = make("span", "label");
    const name = make("span", "name");
    name.textContent = node.n;
    const size = make("span", "size");
    size.textContent = node.s;
    text.append(name, " ", size);
    if (node.busy) {
      const tag = make("span", "tag");
      tag.textContent = node.busy === true ? "busy" : "busy inside";
      text.append(" ", tag);
    }
    return text;
  }

  /* One block at its squarify rectangle (percent of its parent's box), with its label and bar. */
  function block(id, depth) {
    const node = tree.nodes[id];
    const element = make("div", "block");
    element.dataset.level = node.l;
    element.dataset.id = String(id);
    element.tabIndex = depth === 1 ? 0 : -1; // Tab visits the view's own blocks; a click reaches both levels
    element.setAttribute("role", "button");
    if (depth === 1 && !drawn(id).length) element.setAttribute("aria-disabled", "true");
    const words = describe(id);
    element.setAttribute("aria-label", words);
    element.title = words;
    const [x, y, w, h] = node.r;
    Object.assign(element.style, { left: `${x}%`, top: `${y}%`, width: `${w}%`, height: `${h}%` });
    if (tree.kind[id] !== null) element.classList.add("kinded", colour(tree.kind[id]));
    if (node.busy === true) element.classList.add("busy");
    else if (node.busy) element.classList.add("has-busy");
    element.append(label(node));
    if (node.f > 0 && node.b > 0 && !["package", "other"].includes(node.l)) {
      const bar = make("span", "frees");
      bar.style.width = `${Math.min(100, (100 * node.f) / node.b)}%`;
      element.append(bar);
    }
    return element;
  }

  /* Draw the view's children and, inside each, their own children. */
  function drawBlocks(map, view) {
    const blocks = document.createDocumentFragment();
    for (const id of drawn(view)) {
      const outer = block(id, 1);
      const inner = drawn(id);
      if (inner.length) {
        const kids = make("div", "kids");
        for (const k of inner) kids.append(block(k, 2));
        outer.classList.add("parent");
        outer.insertBefore(kids, outer.querySelector(".frees"));
      }
      blocks.append(outer);
    }
    if (!blocks.childNodes.length) {
      const empty = make("p", "empty");
      empty.textContent = "Nothing here takes space on disk.";
      blocks.append(empty);
    }
    map.replaceChildren(blocks);
  }

  /* The path from the root to a node. */
  function path(id) {
    const ids = [id];
    while (tree.parent[ids[0]] !== undefined) ids.unshift(tree.parent[ids[0]]);
    return ids;
  }

  /* The breadcrumb: one button per level from the root to the view, the last the current page. */
  function drawCrumbs(view) {
    const nav = document.getElementById("crumbs");
    if (!nav) return;
    let list = nav.querySelector("ol");
    if (!list) list = nav.appendChild(make("ol"));
    const items = path(view).map((id) => {
      const item = make("li");
      const button = make("button");
      button.type = "button";
      button.dataset.id = String(id);
      button.textContent = tree.nodes[id].n;
      button.title = `${tree.nodes[id].n}, ${tree.nodes[id].s}`;
      if (id === view) button.setAttribute("aria-current", "page");
      item.append(button);
      return item;
    });
    list.replaceChildren(...items);
  }

  /* A table cell with this text and, for figures, the raw number it sorts by. */
  function cell(text, sortKey) {
    const td = make("td");
    td.textContent = text;
    if (sortKey !== undefined && sortKey !== null) td.dataset.sort = String(sortKey);
    return td;
  }

  /* One row of the treemap table: every figure a block shows. */
  function row(id, name, whole) {
    const node = tree.nodes[id];
    const share = whole > 0 ? (100 * node.b) / whole : 0;
    const known = node.f !== undefined && node.f !== null;
    const busy = node.busy === true ? "busy" : node.busy ? "contains busy" : "";
    const tr = make("tr");
    tr.dataset.id = String(id);
    tr.append(
      cell(name),
      cell(node.l),
      cell(node.s, node.b),
      cell(`${share.toFixed(1)}%`, share),
      cell(known ? node.fs : "", known ? node.f : null),
      cell(busy),
    );
    return tr;
  }

  /* Rebuild #treemap-table for the view: a row per block drawn, its children's rows under it. */
  function drawTable(view) {
    const table = document.getElementById("treemap-table");
    if (!table) return;
    if (!table.tHead) {
      const head = table.createTHead().insertRow();
      for (const name of ["Name", "Level", "Size", "Share of view", "Frees", "Busy"]) {
        const th = make("th");
        th.scope = "col";
        th.setAttribute("aria-sort", "none");
        const button = th.appendChild(make("button"));
        button.type = "button";
        button.textContent = name;
        head.append(th);
      }
    }
    const whole = tree.nodes[view].b;
    const body = make("tbody");
    for (const id of tree.nodes[view].c || []) {
      body.append(row(id, tree.nodes[id].n, whole));
      for (const k of tree.nodes[id].c || []) body.append(row(k, `${tree.nodes[id].n} / ${tree.nodes[k].n}`, whole));
    }
    if (table.tBodies.length) table.replaceChild(body, table.tBodies[0]);
    else table.append(body);
    const sorted = table.tHead.querySelector('th[aria-sort="ascending"], th[aria-sort="descending"]');
    if (sorted) sortBy(table, sorted.cellIndex, sorted.getAttribute("aria-sort"));
  }

  /* Show a node: its blocks, the crumbs to it, its table; then focus the given block, if any. */
  function show(view, focusId) {
    const map = document.getElementById("treemap");
    tree.view = view;
    drawBlocks(map, view);
    drawCrumbs(view);
    drawTable(view);
    if (focusId === undefined) return;
    const target = map.querySelector(`.block[data-id="${focusId}"]`) || map.querySelector(".block");
    if (target) target.focus();
  }

  /* The ancestor of ``id`` (or ``id`` itself) whose parent is ``top``. */
  function below(top, id) {
    const ids = path(id);
    const at = ids.indexOf(top);
    return at >= 0 && at + 1 < ids.length ? ids[at + 1] : undefined;
  }

  /* Zoom into a clicked block, or into the view's block that holds it when it has nothing inside. */
  function open(id) {
    const target = drawn(id).length ? id : below(tree.view, id);
    if (target === undefined || target === tree.view || !drawn(target).length) return;
    go(target, drawn(target)[0]);
  }

  /* Go back up to an ancestor of the view, focusing the block the view was inside. */
  function back(to) {
    if (to === undefined || to === tree.view) return;
    go(to, below(to, tree.view));
  }

  /* The view a URL fragment names ("#n=ID", a node with blocks to draw); anything else is the root. */
  function named(hash) {
    const match = /^#n=(\d{1,9})$/.exec(hash);
    const id = match ? Number(match[1]) : 0;
    return id < tree.nodes.length && drawn(id).length ? id : 0;
  }

  /* Show a view the user chose and put it in the URL: Back and Forward return to it, a reload keeps it. */
  function go(view, focusId) {
    show(view, focusId);
    const hash = view ? `#n=${view}` : "";
    if (location.hash === hash) return;
    try {
      history.pushState(null, "", hash || location.href.split("#")[0]);
    } catch (error) {
      // a viewer that forbids history (a sandboxed frame): the zoom works, the URL stays
    }
  }

  /* Back, Forward or a fragment typed in: show the view the URL names, focus kept in the treemap. */
  function follow(map) {
    const view = named(location.hash);
    if (view === tree.view) return;
    const from = tree.view;
    const focus = map.contains(document.activeElement);
    const up = path(from).includes(view);
    show(view, focus ? (up ? below(view, from) : drawn(view)[0]) : undefined);
  }

  /* Clicks and keys on the treemap and its crumbs. */
  function wire(section, map) {
    map.addEventListener("click", (event) => {
      const hit = event.target.closest(".block");
      if (hit) open(Number(hit.dataset.id));
    });
    map.addEventListener("keydown", (event) => {
      const hit = event.target.closest(".block");
      if (!hit || (event.key !== "Enter" && event.key !== " ")) return;
      event.preventDefault(); // Space would scroll the page
      open(Number(hit.dataset.id));
    });
    window.addEventListener("popstate", () => follow(map));
    window.addEventListener("hashchange", () => follow(map));
    const nav = document.getElementById("crumbs");
    if (nav) {
      nav.addEventListener("click", (event) => {
        const button = event.target.closest("button[data-id]");
        if (button) back(Number(button.dataset.id));
      });
    }
    document.addEventListener("keydown", (event) => {
      // Escape goes up from anywhere in the treemap's section, or when nothing has the focus
      const here = document.activeElement;
      if (event.key !== "Escape" || event.defaultPrevented || tree.parent[tree.view] === undefined) return;
      if (here && here !== document.body && !section.contains(here)) return;
      event.preventDefault();
      back(tree.parent[tree.view]);
    });
  }

  /* A key of the legend: a swatch and what it means. */
  function legendItem(swatchClasses, text) {
    const item = make("li");
    const swatch = make("span", "swatch", ...swatchClasses);
    swatch.setAttribute("aria-hidden", "true");
    item.append(swatch, text);
    return item;
  }

  /* The legend under the treemap: the colour of each kind present, busy's hatching, the frees bar. */
  function legend(map) {
    if (document.getElementById("legend")) return;
    const list = make("ul", "legend");
    list.id = "legend";
    list.setAttribute("aria-label", "What the colours and marks mean");
    const kinds = [...new Set(tree.kind.filter((k) => k !== null))];
    for (const kind of kinds) list.append(legendItem(["kinded", colour(kind)], kind));
    if (tree.nodes.some((n) => n.busy === true)) list.append(legendItem(["busy"], "busy: in use now (a clean skips it)"));
    if (tree.nodes.some((n) => n.busy === "contains")) list.append(legendItem(["has-busy"], "busy inside: holds a busy cache"));
    if (tree.nodes.some((n) => n.f > 0)) list.append(legendItem(["bar"], "green bar: what a clean would free"));
    if (list.children.length) map.after(list);
  }

  /* Draw the treemap, if the page has one. */
  function treemap() {
    const script = document.getElementById("fleetcache-tree");
    const map = document.getElementById("treemap");
    const section = document.getElementById("treemap-section") || map;
    if (!script || !map) return;
    const aspect = load(script);
    map.style.aspectRatio = String(aspect);
    if (!tree.nodes.length) return;
    wire(section, map);
    legend(map);
    show(named(location.hash));
  }

  /* What a cell sorts by: its data-sort number, a figure read from its text, else its text. */
  function keyOf(td) {
    const text = td ? td.textContent.trim() : "";
    const raw = td ? td.getAttribute("data-sort") : null;
    if (raw !== null && raw.trim() !== "" && Number.isFinite(Number(raw))) return { num: Number(raw) };
    if (BLANK.has(text)) return { blank: true };
    const match = FIGURE.exec(text.replace(/(\d),(?=\d{3}\b)/g, "$1"));
    if (match && (match[2] === "" || match[2].toLowerCase() in UNITS)) {
      return { num: Number(match[1]) * (match[2] ? UNITS[match[2].toLowerCase()] : 1) };
    }
    return { text };
  }

  /* Compare two keys ascending; blanks are left to the caller. */
  function compare(a, b) {
    if ("num" in a && "num" in b) return a.num - b.num;
    if ("num" in a) return -1;
    if ("num" in b) return 1;
    return a.text.localeCompare(b.text, undefined, { numeric: true, sensitivity: "base" });
  }

  /* Sort a table's body by one column (its footer stays), ties kept in the page's first order. */
  function sortBy(table, column, direction) {
    for (const th of table.tHead.rows[table.tHead.rows.length - 1].cells) {
      th.setAttribute("aria-sort", th.cellIndex === column ? direction : "none");
    }
    const body = table.tBodies[0];
    if (!body) return;
    const sign = direction === "descending" ? -1 : 1;
    const rows = [...body.rows].map((tr, index) => {
      if (!firstOrder.has(tr)) firstOrder.set(tr, index);
      return { tr, key: keyOf(tr.cells[column]), order: firstOrder.get(tr) };
    });
    rows.sort((a, b) => {
      if (a.key.blank || b.key.blank) return (a.key.blank ? 1 : 0) - (b.key.blank ? 1 : 0) || a.order - b.order;
      return sign * compare(a.key, b.key) || a.order - b.order;
    });
    body.append(...rows.map((r) => r.tr));
  }

  /* Let a table.sortable be sorted by its header buttons: ascending first, again to reverse. */
  function sortable(table) {
    if (!table.tHead || wired.has(table)) return;
    wired.add(table);
    table.tHead.addEventListener("click", (event) => {
      const th = event.target.closest("th");
      if (!th || !event.target.closest("button")) return;
      const direction = th.getAttribute("aria-sort") === "ascending" ? "descending" : "ascending";
      sortBy(table, th.cellIndex, direction);
    });
  }

  /* Everything, once the document is parsed; then mark the first draw done (the benchmark waits). */
  function start() {
    treemap();
    for (const table of document.querySelectorAll("table.sortable, #treemap-table")) sortable(table);
    document.documentElement.dataset.drawn = "1";
    if (window.performance && performance.mark) performance.mark("fleetcache-drawn");
  }

  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", start);
  else start();
})();
