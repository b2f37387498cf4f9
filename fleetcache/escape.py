"""Names made safe to show: no control characters reach a terminal, undecodable bytes stay visible."""

from __future__ import annotations

_NAMED = {"\n": "\\n", "\r": "\\r", "\t": "\\t"}


def text(value: str) -> str:
    """A str for JSON and CSV: undecodable bytes (surrogate escapes) become ``\\xNN``."""
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return value.encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace")
    return value


def display(value: str) -> str:
    """A str for a terminal: control and other unprintable characters become escapes."""
    if value.isprintable():
        return value
    out = []
    for ch in text(value):
        if ch.isprintable():
            out.append(ch)
        elif ch in _NAMED:
            out.append(_NAMED[ch])
        elif ord(ch) < 0x100:
            out.append(f"\\x{ord(ch):02x}")
        elif ord(ch) < 0x10000:
            out.append(f"\\u{ord(ch):04x}")
        else:
            out.append(f"\\U{ord(ch):08x}")
    return "".join(out)


def clip(value: str, limit: int) -> str:
    """``display(value)`` in at most ``limit`` characters: a longer one keeps its two ends around
    "…" (a path's top and its file name). Linear however long ``value`` is."""
    if len(value) > 2 * limit:
        value = value[:limit] + value[-limit:]  # escaping only lengthens: the rest is never shown
    shown = display(value)
    if len(shown) <= limit:
        return shown
    head = (limit - 1) // 2
    return shown[:head] + "…" + shown[len(shown) - (limit - 1 - head) :]
