"""A directory of extracted conda packages (conda's pkgs dir, rattler's ``pkgs/``): its entries
named, and which of them a clean may take by conda clean's rules (conda/cli/main_clean.py)."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field, replace
from typing import Optional

from fleetcache import safefs
from fleetcache.clean.plan import Dir, Parts, Walked
from fleetcache.kinds import tree
from fleetcache.kinds.tree import Unit
from fleetcache.report.entries import EntriesOutcome
from fleetcache.stats.walk import WalkTask

TARBALLS = (".conda", ".tar.bz2")
JUNK_FILES = (".log", ".c~", ".trash")  # conda clean --logfiles / --tempfiles
MAGIC = ("urls.txt", "urls")  # conda decides a pkgs dir's writability by these: never removed
INDEX_LIMIT = 1 << 16  # info/index.json: a few hundred bytes
HARD = "linked into an environment (a file of it has hard links)"
_DIST = re.compile(r"(.+)-([^-]+)-([^-]+)")


def stem(name: str) -> str:
    """A package's dist name: its directory's name, or its tarball's without the suffix."""
    for suffix in TARBALLS:
        if name.endswith(suffix):
            return name[: -len(suffix)]
    return name


def dist_name(name: str) -> Optional[tuple[str, str]]:
    """(project, version) of a conda dist name, ``name-version-build`` split from the right."""
    got = _DIST.fullmatch(stem(name))
    return None if got is None else (_normal(got.group(1)), got.group(2))


def _normal(project: str) -> str:
    return re.sub(r"[-_.]+", "-", project).lower()


@dataclass
class Names:
    """What a walk read from each package's ``info/index.json``: entry -> (project, version)."""

    base: Parts  # where the packages are, below the cache root
    found: dict[str, tuple[str, str]] = field(default_factory=dict)

    def on_dir(self, parts: Parts, dir_fd: int, here: Dir) -> None:
        """Read ``<package>/info/index.json`` while the walk has ``info/`` open."""
        n = len(self.base)
        if len(parts) != n + 2 or parts[:n] != self.base or parts[-1] != "info":
            return
        if not any(f.name == "index.json" for f in here.files):
            return
        try:
            doc = json.loads(safefs.read_at(dir_fd, "index.json", INDEX_LIMIT))
        except (OSError, safefs.UnsafePath, ValueError, RecursionError):
            return
        if isinstance(doc, dict) and isinstance(doc.get("name"), str):
            version = doc.get("version")
            self.found[parts[n]] = (
                _normal(doc["name"]),
                version if isinstance(version, str) else "",
            )

    def of(self, name: str) -> tuple[Optional[str], Optional[str]]:
        """An entry's (project, version): from its index.json, else from its name."""
        got = self.found.get(stem(name)) or dist_name(name)
        return (None, None) if got is None else (got[0], got[1] or None)


def units(walked: Walked, names: Names, linked: Mapping[str, str]) -> Iterator[Unit]:
    """The entries of the pkgs dir at ``names.base``: each extracted package (kept while linked
    into an environment), tarball, index cache, log and temp file. ``linked``: package
    directory name -> why it is linked (an environment installed it by symbolic links)."""
    base = names.base
    top = walked.dirs.get(base)
    if top is None:
        return
    hard = _hardlinked(walked, base)
    for child in top.children:
        parts = (*base, child)
        project, version = names.of(child)
        if child == "cache":
            yield Unit(parts, junk="conda's index cache (conda clean --index-cache)")
        elif child == ".trash":
            yield Unit(parts, junk="conda's trash (conda clean --tempfiles)")
        elif "info" not in (walked.dirs[parts].children if parts in walked.dirs else ()):
            yield Unit(parts, keep="not an extracted conda package")
        else:
            keep = linked.get(child) or (HARD if child in hard else None)
            yield Unit(parts, project, version, keep=keep)
    for f in top.files:
        parts = (*base, f.name)
        if f.name.endswith(TARBALLS):
            project, version = names.of(f.name)
            yield Unit(parts, project, version, junk="package tarball (conda clean --tarballs)")
        elif f.name.endswith(JUNK_FILES):
            yield Unit(parts, junk="log or temp file (conda clean --logfiles --tempfiles)")
        elif f.name in MAGIC:
            yield Unit(parts, keep="conda's magic file (it tells conda the dir is writable)")
        else:
            yield Unit(parts, keep="not conda's to clean")


def _hardlinked(walked: Walked, base: Parts) -> set[str]:
    """The packages one of whose files has other links (conda's find_pkgs rule), in one pass."""
    n = len(base)
    return {
        where[n]
        for where, d in walked.dirs.items()
        if len(where) > n and where[:n] == base and any(f.nlink > 1 for f in d.files)
    }


def entries(task: WalkTask, base: Parts) -> EntriesOutcome:
    """Every entry of the pkgs dir at ``base`` below the cache root, named (``report --by
    package``, ``clean --package``); the cache root opened safely, as the scan opens it."""
    names = Names(base)

    def named(walked: Walked) -> Iterator[Unit]:
        n = len(base)
        extracted = {w[n] for w in walked.dirs if len(w) > n and w[:n] == base}
        for unit in units(walked, names, {}):
            name = unit.parts[-1]
            what = "conda package" if name in extracted else "package tarball"
            how = "info/index.json" if stem(name) in names.found else "its name"
            yield replace(unit, what=what, how=how, area="pkgs")

    return tree.entries(task, named, on_dir=names.on_dir, unnamed=False)
