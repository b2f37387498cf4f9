"""Text made to fit a terminal's width: paths shortened in their middle, prose wrapped between
words, and a name, owner or version never cut across lines."""

from __future__ import annotations

import re
import textwrap
from collections.abc import Sequence
from typing import Optional

WIDTH = 80  # every line of a table and of the notes after it, unless --wide

# spaces never broken at: a size's number and unit, an age's number and days ("4.0 MB")
GLUE = re.compile(r"(?<=\d) (?=(?:B|kB|MB|GB|TB|days?)\b)")
GLUED = "\0"  # never in escaped text (fleetcache.escape.display)

# a count or a size ("12", "4.0 MB", "123456789012" with --bytes): never shortened
NUMBER = re.compile(r"\d[\d.]*(?: [kMGT]?B)?")

# what a column holds, which says how a cell too wide for it gives way
PATH = "path"  # shortened in its middle: its start and its end (which says most) kept
TEXT = "text"  # wrapped between words; a word longer than the column is shortened like a path
WORD = "word"  # a name, owner, version, number or size: whole, or shortened; never wrapped
FIXED = "fixed"  # one of a few set phrases (a clean's state): always whole, as a number is

# tabulate's `simple` tables: two spaces between columns, and a header padded by two
GAP = 2
HEADER_PAD = 2
# how narrow a column of each kind gets before the others give way too
ROOMY = {PATH: 20, TEXT: 16, WORD: 12, FIXED: 0}
CONTINUED = "    "  # a wrapped note's further lines, past its own indent


class Words(str):
    """A cell wrapped between its words whatever its column holds (a TOTAL label under paths)."""


class Total(Words):
    """A TOTAL row's label: the row a page keeps apart from the rows it sorts."""


def shorten(text: str, width: int) -> str:
    """``text`` in at most ``width`` characters: a longer one keeps a third for its start and
    the rest for its end, around ``…``; each cut moves to a ``/`` near it, so that whole
    directories show (``/home/…/.cache/pip``, not ``/home/al…ce/.cache/pip``)."""
    if len(text) <= width:
        return text
    if width < 2:
        return "…"[:width]
    keep = width - 1
    head = keep // 3
    slash = text.rfind("/", 1, head + 1)
    if slash > 0 and keep - slash - 1 >= slash + 1:  # the end, which says most, stays longer
        head = slash + 1
    tail = text[len(text) - (keep - head) :]
    slash = tail.find("/", 0, len(tail) // 3 + 1)
    return text[:head] + "…" + (tail[slash:] if slash > 0 else tail)


def cut(text: str, width: int) -> str:
    """``text`` in at most ``width`` characters: a longer one ends after its last whole word
    that fits, then `` …``; a first word too long for that is shortened in its middle."""
    if len(text) <= width:
        return text
    end = text.rfind(" ", 0, width - 1)
    if end > 0:
        return text[:end] + " …"
    first = text.split(" ", 1)[0]
    return shorten(text, width) if first == text else shorten(first, width - 2) + " …"


def wrap(text: str, width: int, first: str = "", more: str = "") -> list[str]:
    """``text`` in lines of at most ``width``, broken between words only (never inside a size):
    the first line starts with ``first``, the others with ``more``; a word longer than a line
    is shortened."""
    wrapper = textwrap.TextWrapper(
        width,
        initial_indent=first,
        subsequent_indent=more,
        break_long_words=False,
        break_on_hyphens=False,
    )
    lines = wrapper.wrap(GLUE.sub(GLUED, text)) or [first.rstrip()]
    out = []
    for i, line in enumerate(lines):
        indent = first if i == 0 else more
        if len(line) > width:  # one word alone, too long for any line
            line = indent + shorten(line[len(indent) :], width - len(indent))
        out.append(line.replace(GLUED, " "))
    return out


def note(line: str, width: int = WIDTH) -> list[str]:
    """A line printed after a table, in lines of at most ``width``: its further lines indented
    past its own indent, so a wrapped item never reads as the next one."""
    if len(line) <= width:
        return [line]
    text = line.lstrip(" ")
    indent = line[: len(line) - len(text)]
    return wrap(text, width, indent, indent + CONTINUED)


def page(table: str, notes: Sequence[str], wide: bool, title: Optional[str] = None) -> str:
    """A title, a table and the lines about it as printed: every line but the table's wrapped
    (:func:`note`) unless ``wide``."""
    return "\n".join([*_notes([title] if title else [], wide), table, *_notes(notes, wide)]) + "\n"


def _notes(lines: Sequence[str], wide: bool) -> list[str]:
    return list(lines) if wide else [part for line in lines for part in note(line)]


def cell(text: str, width: int, kind: str) -> str:
    """A cell's text in a column ``width`` wide holding ``kind``: as lines joined by newlines."""
    if isinstance(text, Words) or kind == TEXT:
        return "\n".join(wrap(text, width))
    return shorten(text, width)


def widths(rows: Sequence[Sequence[str]], headers: Sequence[str], kinds: Sequence[str],
           width: int = WIDTH) -> list[int]:  # fmt: skip
    """Each column's width for a table at most ``width`` wide: as wide as its cells while they
    fit; else prose gives way first (it wraps and loses nothing), then paths, then names, each
    no narrower than is still legible (ROOMY); then all, down to their headers and numbers."""
    floor = [max([len(h) + HEADER_PAD, *(len(r[i]) for r in rows
                                          if NUMBER.fullmatch(r[i]) or kinds[i] == FIXED)])
             for i, h in enumerate(headers)]  # fmt: skip
    out = [max([low, *(len(r[i]) for r in rows)]) for i, low in enumerate(floor)]
    over = sum(out) + GAP * (len(out) - 1) - width
    roomy = [max(low, ROOMY[kind]) for low, kind in zip(floor, kinds)]
    for giving in (TEXT, PATH, WORD):
        limits = [low if kind == giving else w for low, kind, w in zip(roomy, kinds, out)]
        over = _narrow(out, limits, over)
    _narrow(out, floor, over)
    return out


def _narrow(out: list[int], limits: Sequence[int], over: int) -> int:
    """Take ``over`` columns from ``out``, the widest first, none below its limit; what is left."""
    while over > 0:
        wide = [i for i, w in enumerate(out) if w > limits[i]]
        if not wide:
            break
        widest = max(wide, key=lambda i: out[i])
        out[widest] -= 1
        over -= 1
    return over
