"""Reading command lines: is this a Python, is it pip, which pip command, which cache it was told.

Only the command line is read here; the environment and config files a pip also obeys are
resolved by discovery (``fleetcache.discovery.pipconfig``).
"""

from __future__ import annotations

import re
import shlex
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Optional

PYTHON_NAME = re.compile(r"(python|pypy)(\d+(\.\d+)?)?[a-z]?(\.exe)?\Z")
PIP_NAME = re.compile(r"pip(\d+(\.\d+)?)?(\.exe)?\Z")
PIP_ZIPAPP = re.compile(r"pip(-[\w.]+)?\.pyz\Z")
PIP_COMMANDS = frozenset(
    {"install", "download", "uninstall", "freeze", "inspect", "list", "show", "check", "config",
     "search", "cache", "index", "wheel", "hash", "completion", "debug", "help", "lock"}
)  # fmt: skip
# python's own options that take a value (the next word when not joined)
PYTHON_VALUE_OPTIONS = "XWQ"
URL_CREDENTIALS = re.compile(r"(?<=://)[^/@\s]+@")
MAX_COMMAND = 1000


def basename(path: str) -> str:
    """The last component of a POSIX or Windows path."""
    return re.split(r"[\\/]", path)[-1]


SHELLS = frozenset({"sh", "bash", "zsh", "fish", "dash", "ksh", "tcsh", "csh", "xonsh", "nu"})


def is_shell(argv0: str) -> bool:
    """Whether a program name is an interactive shell (``-bash`` for a login shell)."""
    return basename(argv0).lstrip("-") in SHELLS


def is_python(argv0: str) -> bool:
    """Whether a program name is a Python interpreter (python, python3.12, pypy3, python3.13t)."""
    return PYTHON_NAME.match(basename(argv0)) is not None


def is_fleetcache(argv: Optional[Sequence[str]]) -> bool:
    """Whether a command line runs fleetcache: its console script, ``python -m fleetcache``."""
    if not argv:
        return False
    if basename(argv[0]) == "fleetcache":
        return True
    if not is_python(argv[0]):
        return False
    module = module_args(argv)
    if module is not None:
        return module[0] in ("fleetcache", "fleetcache.__main__")
    at = script_of(argv)
    return at is not None and basename(argv[at]) == "fleetcache"


def script_of(argv: Sequence[str]) -> Optional[int]:
    """Where in a Python command line the script it runs stands (its first word that is not an
    option); None for ``-m``, ``-c``, ``-`` and an interactive interpreter."""
    words = iter(range(1, len(argv)))
    for i in words:
        word = argv[i]
        if word == "--":
            return next(words, None)
        if word == "-":
            return None
        if not word.startswith("-"):
            return i
        if word.startswith("--"):
            if word == "--check-hash-based-pycs":
                next(words, None)
            continue
        for j, flag in enumerate(word[1:], 1):
            if flag in "mc":
                return None
            if flag in PYTHON_VALUE_OPTIONS:
                if j == len(word) - 1:
                    next(words, None)
                break
    return None


def module_args(argv: Sequence[str]) -> Optional[tuple[str, tuple[str, ...]]]:
    """``(module, its arguments)`` for ``python ... -m module args``; None otherwise."""
    i = 1
    while i < len(argv):
        word = argv[i]
        if word == "-" or not word.startswith("-") or word.startswith("--"):
            if word == "--check-hash-based-pycs":
                i += 2
                continue
            if word.startswith("--") and word != "--":
                i += 1
                continue
            return None
        for j, flag in enumerate(word[1:], 1):
            rest = word[j + 1 :]
            if flag == "m":
                if rest:
                    return rest, tuple(argv[i + 1 :])
                if i + 1 < len(argv):
                    return argv[i + 1], tuple(argv[i + 2 :])
                return None
            if flag == "c":
                return None
            if flag in PYTHON_VALUE_OPTIONS:
                if not rest:
                    i += 1
                break
        i += 1
    return None


@dataclass(frozen=True)
class PipCall:
    """A pip on a command line: its own arguments, and how it was started."""

    args: tuple[str, ...]
    via: str  # "pip3.11", "python -m pip", "pip script"

    @property
    def subcommand(self) -> Optional[str]:
        """The pip command (install, download, ...), when one is named."""
        for word in self.args:
            if word == "--":
                return None
            if word in PIP_COMMANDS:
                return word
        return None

    def cache_option(self) -> tuple[bool, Optional[str]]:
        """``(given, path)`` from ``--cache-dir``/``--no-cache-dir`` on the command line (the
        last one wins, as in optparse); path None with given True: the cache is disabled.
        Unambiguous abbreviations count, as optparse accepts them."""
        given, path = False, None
        words = iter(self.args)
        for word in words:
            if word == "--":
                break
            name, eq, value = word.partition("=")
            if len(name) >= 7 and "--no-cache-dir".startswith(name):
                given, path = True, None
            elif len(name) >= 4 and "--cache-dir".startswith(name):
                if not eq:
                    value = next(words, "")
                if value:
                    given, path = True, value
        return given, path


def pip_call(argv: Sequence[str], python: bool = False) -> Optional[PipCall]:
    """The pip this command line runs: ``pip``, ``pip3.X``, ``python -m pip``, or a Python
    running a pip script (how a console script shows after its shebang). ``python``: the
    process is known to be a Python whatever its argv[0] says (``exec -a worker python3 -m
    pip``, a copied interpreter under another name)."""
    if not argv:
        return None
    name = basename(argv[0])
    if PIP_NAME.match(name):
        return PipCall(tuple(argv[1:]), name)
    if not (python or PYTHON_NAME.match(name)):
        return None
    module = module_args(argv)
    if module is not None:
        is_pip = module[0] in ("pip", "pip.__main__")
        return PipCall(module[1], "python -m pip") if is_pip else None
    at = script_of(argv)
    script = basename(argv[at].rstrip("/\\")) if at is not None else ""
    if at is not None and (PIP_NAME.match(script) or PIP_ZIPAPP.match(script)):
        return PipCall(tuple(argv[at + 1 :]), "pip script")
    return None


def shown(argv: Optional[Sequence[str]]) -> str:
    """A command line to show: shell-quoted, credentials in URLs removed, at most 1000 chars."""
    if argv is None:
        return "?"
    words = [w[:MAX_COMMAND] for w in argv[: MAX_COMMAND // 2]]  # bounded before quoting
    text = URL_CREDENTIALS.sub("***@", shlex.join(words))
    return text if len(text) <= MAX_COMMAND else text[: MAX_COMMAND - 1] + "…"
