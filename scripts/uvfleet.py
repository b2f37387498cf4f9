"""The bench's uv fleet (issue 17): homes whose large uv caches are hardlinked into venvs, beside
pip caches, source trees and more venvs.

uv 0.13.9's layout: ``archive-v0/<id>/`` holds an unpacked wheel (its package and dist-info),
hardlinked file by file into each venv's site-packages that installs it; ``wheels-v8/pypi/<pkg>/``
a symbolic link to the archive and its ``.http`` pointer; ``simple-v28/pypi/<pkg>.rkyv`` the index
page; ``CACHEDIR.TAG``, ``.gitignore`` and ``.lock`` at the root. A third of the archives no venv
links (what a clean frees), a third two venvs link.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Callable

Write = Callable[[Path, int], None]
MODULES = 5  # files per package directory
DEPTH = 4  # package directories per archive: pkg/, pkg/sub0/, pkg/sub0/sub1/, ...


def build_uv_home(home: Path, packages: int, write: Write) -> int:
    """One home's uv cache and its two venvs that link it; files under the cache."""
    cache = home / ".cache" / "uv"
    cache.mkdir(parents=True)
    for name, size in (("CACHEDIR.TAG", 43), (".gitignore", 1), (".lock", 0)):
        write(cache / name, size)
    venvs = [home / "app" / ".venv", home / "tools" / ".venv"]
    site = []
    for venv in venvs:
        venv.mkdir(parents=True)
        (venv / "pyvenv.cfg").write_text("home = /usr/bin\nversion_info = 3.11.2\nuv = 0.13.9\n")
        site.append(venv / "lib" / "python3.11" / "site-packages")
    files = 3
    for p in range(packages):
        pkg = f"pkg{p}"
        archive = cache / "archive-v0" / f"{home.name}{p:05d}aZ3xQ"
        made = _archive(archive, pkg, write)
        files += len(made)
        pointer = cache / "wheels-v8" / "pypi" / pkg
        pointer.mkdir(parents=True)
        os.symlink(f"../../../archive-v0/{archive.name}", pointer / f"{pkg}-1.0-py3-none-any")
        write(pointer / f"{pkg}-1.0-py3-none-any.http", 180)
        page = cache / "simple-v28" / "pypi"
        page.mkdir(parents=True, exist_ok=True)
        write(page / f"{pkg}.rkyv", 900)
        files += 3
        for venv in site[: p % 3]:  # none, one or both venvs install it
            for rel in made:
                (venv / rel).parent.mkdir(parents=True, exist_ok=True)
                os.link(archive / rel, venv / rel)
    return files


def _archive(archive: Path, pkg: str, write: Write) -> list[Path]:
    """An unpacked wheel: its package's modules and its dist-info; the files' relative paths."""
    made = []
    here = Path(pkg)
    for d in range(DEPTH):
        for m in range(MODULES):
            made.append(here / f"mod{m}.py")
        here = here / f"sub{d}"
    info = Path(f"{pkg}-1.0.dist-info")
    made += [info / "METADATA", info / "RECORD", info / "WHEEL", info / "INSTALLER"]
    for i, rel in enumerate(made):
        (archive / rel).parent.mkdir(parents=True, exist_ok=True)
        write(archive / rel, 200 + (i * 211) % 6000)
    return made
