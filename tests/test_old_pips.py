"""pips before 23.3 still read the legacy ``http/`` tree (issue 16, items 1 and 6): each
environment's pip version is read from its installed dist-info; ``clean --junk`` and the junk
of ``scan`` and ``report`` leave alone what an installed old pip reads; ``info`` adds that pip's
own view. A Debian-like machine (system pip 23.0.1) and one with pip 26 as the system's, each
with a real venv holding pip 23.0.1 and one holding pip 26.3, caches filled by those pips."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

import pytest

from fleetcache.machine import Machine
from fleetcache.scan import Selection, environments
from tests.conftest import Tree, chown_tree, fill_cache, run_pip

ROOT = os.geteuid() == 0
ROOT_ONLY = pytest.mark.skipif(not ROOT, reason="gives caches to other uids: run as root (CI is)")
ALICE = 12345
DEFAULT = "/home/alice/.cache/pip"
SITE = "/home/alice/old-cache"  # named only by the pip-23.0.1 venv's own pip.conf
LEGACY = "junk: legacy http/ (pip >= 23.3 never reads it)"


def site_packages(prefix: Path) -> Path:
    """A venv's ``lib/python3.X/site-packages``."""
    return next((prefix / "lib").glob("python3.*/site-packages"))


def install_pip(python: Path, site: Path) -> str:
    """Install into ``site`` the pip a session venv holds (its package and dist-info, as pip
    installs them); its version."""
    source = site_packages(python.parent.parent)
    (dist,) = source.glob("pip-*.dist-info")
    site.mkdir(parents=True, exist_ok=True)
    shutil.copytree(source / "pip", site / "pip", symlinks=True)
    shutil.copytree(dist, site / dist.name, symlinks=True)
    return dist.name[len("pip-") : -len(".dist-info")]


def venv(tree: Tree, machine_path: str) -> Path:
    """A real venv made by ``python3 -m venv`` in the tree; its prefix on this host."""
    target = tree.host(machine_path)
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(target)], check=True)
    return target


def legacy(cache: Path) -> tuple[int, int]:
    """(files, bytes) under a cache's legacy http/ tree."""
    found = [Path(d, f) for d, _, fs in os.walk(cache / "http") for f in fs]
    return len(found), sum(p.lstat().st_size for p in found)


@dataclass
class Fleet:
    """The machine, which pip its system Python has, and where things are."""

    tree: Tree
    system_pip: str  # "26" or "23"

    def python(self, prefix: str) -> Path:
        return self.tree.host(prefix) / "bin" / "python"

    def run(self, *args: str) -> subprocess.CompletedProcess[str]:
        argv = [sys.executable, "-m", "fleetcache", *args, "--root", str(self.tree.root)]
        done = subprocess.run(argv, capture_output=True, text=True)
        assert "Traceback" not in done.stderr, done.stderr
        return done

    def json(self, *args: str) -> dict[str, Any]:
        doc: dict[str, Any] = json.loads(self.run(*args, "--format", "json").stdout)
        return doc

    def pip_info(self, prefix: str, cache: str) -> str:
        """What the pip of that environment prints for ``pip cache info`` (as root, pip wants
        the cache to be root's while it looks)."""
        home = self.tree.host("/home/alice")
        chown_tree(home, 0)
        try:
            out = run_pip(
                self.python(prefix), "cache", "info", "--cache-dir", str(self.tree.host(cache)),
                home=home,
            )  # fmt: skip
        finally:
            chown_tree(home, ALICE)
        return out.replace(str(self.tree.root), "")


@pytest.fixture(scope="module")
def templates(
    pip_python: Callable[[str], Path], index_url: str, tmp_path_factory: pytest.TempPathFactory
) -> dict[str, Path]:
    """alice's two caches as real pips fill them: the default one by pip 23.0.1 then pip 26.3
    (both trees), the old venv's by pip 23.0.1 only (legacy http/)."""
    base = tmp_path_factory.mktemp("old-pips")
    default, site, work = base / "default", base / "site", base / "work"
    fill_cache(pip_python("23"), default, index_url, "alpha==1.0", "beta", work=work)
    fill_cache(pip_python("26"), default, index_url, "alpha", "beta", "gamma", work=work)
    fill_cache(pip_python("23"), site, index_url, "alpha==1.0", work=work)
    return {DEFAULT: default, SITE: site}


@pytest.fixture(scope="module", params=["26", "23"], ids=["system-pip-26", "debian-pip-23"])
def fleet(
    request: pytest.FixtureRequest,
    pip_python: Callable[[str], Path],
    templates: dict[str, Path],
) -> Iterator[Fleet]:
    """Debian-like: /usr/bin/python3.11 with its pip in /usr/lib/python3/dist-packages (26.3 or
    23.0.1); alice's venvs /home/alice/new (pip 26.3) and /home/alice/old (pip 23.0.1, whose
    pip.conf sends it to /home/alice/old-cache); her default cache and that one."""
    if not ROOT:
        pytest.skip("gives caches to other uids: run as root (CI is)")
    top = Path(tempfile.mkdtemp(prefix="fleetcache-oldpips-"))
    top.chmod(0o755)  # alice's reading child walks to her files
    tree = Tree(top / "machine")
    tree.user("alice", ALICE)
    tree.write("/usr/bin/python3.11", "")
    install_pip(pip_python(request.param), tree.host("/usr/lib/python3/dist-packages"))
    install_pip(pip_python("26"), site_packages(venv(tree, "/home/alice/new")))
    old = venv(tree, "/home/alice/old")
    install_pip(pip_python("23"), site_packages(old))
    (old / "pip.conf").write_text(f"[global]\ncache-dir = {SITE}\n")
    for path, template in templates.items():
        shutil.copytree(template, tree.host(path), symlinks=True)
    chown_tree(tree.host("/home/alice"), ALICE)
    try:
        yield Fleet(tree, request.param)
    finally:
        shutil.rmtree(top, ignore_errors=True)


# ---- item 1: --junk, and the junk scan and report speak of


@ROOT_ONLY
def test_junk_leaves_the_legacy_tree_an_installed_old_pip_reads(fleet: Fleet, tmp_path: Path):
    # the old venv's own pip reads its cache's http/: it is no junk to it
    assert "Number of HTTP files: 0" not in fleet.pip_info("/home/alice/old", SITE)
    done = fleet.run(
        "clean", "--user", "alice", "--junk", "--dry-run", "--format", "json", "--audit-log",
        str(tmp_path / "audit.log"), "--lock-dir", str(tmp_path / "locks"),
    )  # fmt: skip
    plans = {c["path"]: c["plan"] for c in json.loads(done.stdout)["caches"]}
    files, size = legacy(fleet.tree.host(SITE))
    assert files > 0
    assert LEGACY not in plans[SITE]["why"]
    kept = {k: v for k, v in plans[SITE]["left"].items() if k.startswith("legacy http/")}
    assert kept == {
        "legacy http/: read by pip 23.0.1 (/home/alice/old)": {"files": files, "bytes": size}
    }
    files, size = legacy(fleet.tree.host(DEFAULT))
    if fleet.system_pip == "26":  # every pip that uses it (the system's, the new venv's) is 26.3
        assert plans[DEFAULT]["why"][LEGACY] == {"files": files, "bytes": size}
    else:  # Debian's /usr/bin/pip 23.0.1 is every account's, and reads it
        assert LEGACY not in plans[DEFAULT]["why"]
        assert plans[DEFAULT]["left"]["legacy http/: read by pip 23.0.1 (/usr/bin/python3.11)"] == {
            "files": files, "bytes": size,
        }  # fmt: skip


@ROOT_ONLY
def test_scan_and_report_call_junk_only_what_no_installed_pip_reads(fleet: Fleet):
    files, size = legacy(fleet.tree.host(DEFAULT))
    table = fleet.run("scan", "--user", "alice", "--wide").stdout
    junk = "".join(line for line in table.splitlines() if line.startswith("Never used again"))
    report = fleet.json("report", "--user", "alice")["insights"]["junk"]
    if fleet.system_pip == "26":
        assert f"{files} legacy http/ files" in junk  # the default cache's only, not the site's
        assert report["legacy_http_bytes"] == size
    else:
        assert "legacy http/" not in junk
        assert report["legacy_http_bytes"] == 0
    doc = fleet.json("scan", "--user", "alice")
    caches = {c["path"]: c for c in doc["caches"]}
    assert caches[SITE]["legacy_http_junk"] is False
    assert caches[SITE]["pips"] == [{"environment": "/home/alice/old", "version": "23.0.1"}]
    assert caches[DEFAULT]["legacy_http_junk"] is (fleet.system_pip == "26")
    system = "26.3" if fleet.system_pip == "26" else "23.0.1"
    assert caches[DEFAULT]["pips"] == [
        {"environment": "/usr/bin/python3.11", "version": system},
        {"environment": "/home/alice/new", "version": "26.3"},
    ]


@ROOT_ONLY
def test_each_environment_says_which_pip_it_holds(fleet: Fleet):
    envs = {e["prefix"]: e for e in fleet.json("envs", "--user", "alice")["environments"]}
    system = "26.3" if fleet.system_pip == "26" else "23.0.1"
    assert envs["/usr"]["pip_version"] == system
    assert envs["/home/alice/new"]["pip_version"] == "26.3"
    assert envs["/home/alice/old"]["pip_version"] == "23.0.1"
    csv = fleet.run("envs", "--user", "alice", "--format", "csv").stdout.splitlines()
    assert "pip_version" in csv[0].split(",")


# ---- item 6: whose figures `info` prints


@ROOT_ONLY
def test_info_adds_the_view_of_an_older_pip_that_uses_the_cache(fleet: Fleet):
    done = fleet.run("info", "--user", "alice")
    assert done.returncode == 0, done.stderr
    new = fleet.pip_info("/home/alice/new", DEFAULT)
    old = fleet.pip_info("/home/alice/old", DEFAULT)  # pip 23.0.1 counts only http/
    assert new != old
    if fleet.system_pip == "26":  # no older pip uses alice's default cache: pip's own text
        assert done.stdout == new
    else:
        assert done.stdout == (
            "# pip 23.3 and later: pip 26.3 (/home/alice/new)\n"
            + new
            + "# pip before 23.3 sees only the legacy http/ tree: pip 23.0.1 (/usr/bin/python3.11)\n"
            + old
        )


# ---- where the pip version is read from


@ROOT_ONLY
def test_pip_versions_come_from_installed_dist_info(tree: Tree):
    cfg = "home = /usr/bin\ninclude-system-site-packages = false\nversion = 3.11.2\n"
    # Debian: python3-pip in /usr/lib/python3, a newer one `sudo pip install`ed in /usr/local:
    # both may run, the oldest counts
    tree.write("/usr/bin/python3.11", "")
    tree.write("/usr/lib/python3/dist-packages/pip-23.0.1.dist-info/METADATA", "Version: 23.0.1\n")
    tree.write("/usr/local/lib/python3.11/dist-packages/pip-24.0.dist-info/METADATA", "")
    # a venv: METADATA's Version is the one that counts
    tree.write("/home/a/venv/pyvenv.cfg", cfg)
    tree.write("/home/a/venv/lib/python3.11/site-packages/pip-22.3.1.dist-info/METADATA",
               "Metadata-Version: 2.1\nName: pip\nVersion: 22.3.1\n")  # fmt: skip
    tree.write("/home/a/nopip/pyvenv.cfg", cfg)  # uv's venvs hold no pip
    tree.host("/home/a/nopip/lib/python3.11/site-packages").mkdir(parents=True)
    tree.write("/home/a/odd/pyvenv.cfg", cfg)  # a pip package nothing dates
    tree.write("/home/a/odd/lib/python3.11/site-packages/pip/__init__.py", "")
    tree.write("/home/a/conda/conda-meta/history", "# cmd: conda create -p x python=3.12\n")
    tree.write("/home/a/conda/conda-meta/python-3.12.1-h1_0.json", "{}")
    tree.write("/home/a/conda/bin/python", "")
    tree.write("/home/a/conda/lib/python3.12/site-packages/pip-25.0.dist-info/METADATA", "")
    # a link named like a newer pip's dist-info is not followed to read it
    tree.write("/home/a/linked/pyvenv.cfg", cfg)
    tree.write("/etc/METADATA", "Version: 99\n")
    (tree.host("/home/a/linked/lib/python3.11/site-packages")).mkdir(parents=True)
    os.symlink("/etc", tree.host("/home/a/linked/lib/python3.11/site-packages/pip-21.0.dist-info"))
    tree.write("/home/a/many/pyvenv.cfg", cfg)  # more records than any install has: unknown
    for n in range(20):
        tree.host(f"/home/a/many/lib/python3.11/site-packages/pip-{n}.0.dist-info").mkdir(
            parents=True
        )
    tree.user("a", ALICE, "/home/a", make_home=False)
    chown_tree(tree.host("/home/a"), ALICE)
    found = environments(Machine(root=str(tree.root)), Selection(users=("a",), activity=False))
    pips = {e.prefix: e.pip_version for e in found.environments}
    assert pips == {
        "/usr": "23.0.1",
        "/home/a/venv": "22.3.1",
        "/home/a/nopip": None,
        "/home/a/odd": "unknown",
        "/home/a/conda": "25.0",
        "/home/a/linked": "21.0",
        "/home/a/many": "unknown",
    }
