"""Packaging (issue 16, item 13): the wheel builds without a deprecation warning, with an SPDX
license expression, and declares exactly the third-party packages fleetcache imports."""

from __future__ import annotations

import ast
import email
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

REPO = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str]:
    """The built wheel, and what the build printed (built from a copy of the sources: nothing
    is written into the repository)."""
    top = tmp_path_factory.mktemp("build")
    source = top / "src"
    source.mkdir()
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(REPO / name, source / name)
    shutil.copytree(REPO / "fleetcache", source / "fleetcache",
                    ignore=shutil.ignore_patterns("__pycache__"))  # fmt: skip
    built = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "--wheel-dir", str(top / "dist"),
         str(source)],
        capture_output=True, text=True,
    )  # fmt: skip
    if built.returncode != 0 and "setuptools" in built.stderr and "satisf" in built.stderr:
        pytest.skip(f"no setuptools to build with from the index: {built.stderr[-300:]}")
    assert built.returncode == 0, built.stderr
    (made,) = (top / "dist").glob("fleetcache-*.whl")
    return made, built.stdout + built.stderr


@pytest.fixture(scope="module")
def metadata(wheel: tuple[Path, str]) -> tuple[email.message.Message, str]:
    """The built wheel's METADATA, and what the build printed."""
    with zipfile.ZipFile(wheel[0]) as archive:
        (name,) = [n for n in archive.namelist() if n.endswith(".dist-info/METADATA")]
        text = archive.read(name).decode()
    return email.message_from_string(text), wheel[1]


def test_the_html_pages_script_and_style_are_in_the_wheel(wheel):
    """The HTML page inlines them from the installed package (issue 20)."""
    with zipfile.ZipFile(wheel[0]) as archive:
        names = set(archive.namelist())
    for name in ("page.js", "page.css"):
        text = (REPO / "fleetcache" / "formats" / name).read_bytes()
        assert f"fleetcache/formats/{name}" in names
        with zipfile.ZipFile(wheel[0]) as archive:
            assert archive.read(f"fleetcache/formats/{name}") == text


def test_the_license_is_an_spdx_expression_and_the_build_warns_of_nothing(metadata):
    meta, printed = metadata
    assert meta["License-Expression"] == "MIT"
    assert "deprecated" not in printed.lower(), printed


def imported_packages() -> set[str]:
    """The top-level modules outside the standard library that fleetcache's code imports."""
    found: set[str] = set()
    for path in (REPO / "fleetcache").rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Import):
                found.update(alias.name.split(".")[0] for alias in node.names)
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                found.add(node.module.split(".")[0])
    return {m for m in found if m not in sys.stdlib_module_names and m != "fleetcache"}


@pytest.mark.skipif(sys.version_info < (3, 10), reason="needs packages_distributions (3.10)")
def test_it_declares_exactly_what_it_imports(metadata):
    from importlib.metadata import packages_distributions

    meta, _ = metadata
    declared = {
        canonicalize_name(r.name)
        for r in map(Requirement, meta.get_all("Requires-Dist") or ())
        if r.marker is None or "extra" not in str(r.marker)
    }
    providers = packages_distributions()
    used = {canonicalize_name(providers[m][0]) for m in imported_packages()}
    assert declared == used
