"""virtualenv's app data: the seed wheels (``wheel/``) and interpreter probes (``py_info/``) it
keeps; cleaned only whole, as ``--reset-app-data`` does, and never while environments made with
``--symlink-app-data`` may link into it."""

from __future__ import annotations

from collections.abc import Iterator

from fleetcache.clean.guard import Refused
from fleetcache.clean.plan import Walked
from fleetcache.discovery import caches as caches_mod
from fleetcache.discovery.run import Found
from fleetcache.kinds import tooldirs, tree
from fleetcache.kinds.base import Look, no_lock
from fleetcache.model import CacheLocation, Skipped
from fleetcache.report.entries import EntriesOutcome
from fleetcache.stats.walk import WalkTask

NAME = "virtualenv"
WHERE = tooldirs.Where(
    "virtualenv", "VIRTUALENV_OVERRIDE_APP_DATA", "virtualenv", older="virtualenv", author="pypa"
)
VARIABLES = tooldirs.variables(WHERE)


def find(look: Look) -> tuple[list[CacheLocation], list[Skipped]]:
    """Each account's app data: $VIRTUALENV_OVERRIDE_APP_DATA, else $XDG_CACHE_HOME/virtualenv or
    ~/.cache/virtualenv; and ~/.local/share/virtualenv, where older releases kept it."""
    return tooldirs.find(look, NAME, WHERE)


def locations(found: Found) -> list[CacheLocation]:
    """The caches ``find`` gave."""
    return tooldirs.locations(found, NAME)


def looks_like(dir_fd: int, names: set[str]) -> bool:
    """virtualenv's layout: ``py_info/`` of numbered directories, ``wheel/`` of Python versions;
    no environment (pyvenv.cfg) is one."""
    if "pyvenv.cfg" in names or not names & {"py_info", "wheel"}:
        return False
    numbered = "py_info" not in names or caches_mod.children_match(dir_fd, "py_info", str.isdigit)
    versions = "wheel" not in names or caches_mod.children_match(
        dir_fd, "wheel", lambda c: c.replace(".", "").isdigit() or c == "house"
    )
    return numbered and versions


measure = tree.measure


def entries(task: WalkTask) -> EntriesOutcome:
    """Each seed wheel in ``wheel/`` (a file, or the image virtualenv unpacked it to)."""
    return tooldirs.entries(task, _wheels, ("wheel",))


def _wheels(walked: Walked) -> Iterator[tree.Unit]:
    for parts, d in walked.dirs.items():
        if parts[:1] != ("wheel",):
            continue
        if parts[-1].endswith("-any") and tooldirs.dist_of(parts[-1] + ".whl")[0]:
            yield tree.Unit(parts, *tooldirs.dist_of(parts[-1] + ".whl"))
        for f in d.files:
            if f.name.endswith(".whl"):
                yield tree.Unit((*parts, f.name), *tooldirs.dist_of(f.name))


def _linked(walked: Walked) -> None:
    """Refuses app data that environments link into: virtualenv --symlink-app-data unpacks the
    seed packages to ``wheel/<py>/image/<n>/SymlinkPipInstall/`` and links each one there."""
    if any(p[:1] == ("wheel",) and p[-1] == "SymlinkPipInstall" for p in walked.dirs):
        raise Refused(
            "refused: environments made with --symlink-app-data link to its seed packages"
            " (removing them would break those environments)"
        )


plan = tooldirs.purge_only(NAME, _linked)
exclusive = no_lock  # its locks are per file, while it writes one
busy = tooldirs.busy
