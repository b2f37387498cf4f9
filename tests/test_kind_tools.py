"""The kinds of the smaller tools (issue 17): poetry, pdm, pipenv, virtualenv, hatch and pip-tools
caches, filled by the real tools from the loopback index, found where each tool says, measured
as du counts, cleaned by each tool's rules and still working after.

The tools run as root with /home bind-mounted from the tree in a private mount namespace: the
paths they write (pdm's .referrers, Poetry's environments) are then the machine's paths, as on a
real host. (They cannot run as the account: the test interpreter lies below /root, mode 0700.)"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from fleetcache.kinds import hatch, pdm, pipenv, piptools, poetry, tooldirs, virtualenv
from fleetcache.kinds.base import Look
from fleetcache.machine import Machine
from fleetcache.model import Account
from fleetcache.scan import Selection, scan
from tests.conftest import Tree, chown_tree, fill_cache
from tests.test_cli import ALICE, run

pytestmark = pytest.mark.skipif(
    os.geteuid() != 0 or shutil.which("unshare") is None,
    reason="root and unshare(1) are needed to run the tools with the tree's /home mounted",
)
BIN = Path(sys.executable).parent
HOME = "/home/alice"
PIPENV = f"{HOME}/.cache/pipenv"


def tool(tree: Tree, *argv: str, cwd: str = HOME, **env: str) -> str:
    """Run a real tool with the tree's /home as /home (a private mount namespace); its stdout."""
    script = 'mount --make-rprivate / && mount --bind "$1" /home && cd "$2" && shift 2 && exec "$@"'
    environ = {
        "HOME": HOME,
        "PATH": f"{BIN}:/usr/bin:/bin",
        "PIP_CONFIG_FILE": os.devnull,
        "PDM_CHECK_UPDATE": "false",
        # never the network: anything but the loopback index fails at once
        "HTTP_PROXY": "http://127.0.0.1:9",
        "HTTPS_PROXY": "http://127.0.0.1:9",
        "NO_PROXY": "127.0.0.1,localhost",
        **env,
    }
    result = subprocess.run(
        ["unshare", "-m", "sh", "-c", script, "sh", str(tree.host("/home")), cwd, *argv],
        env=environ, capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    return result.stdout


def project(tree: Tree, where: str, index_url: str, tool_name: str) -> None:
    """A project needing alpha and beta, whose tool installs from the loopback index."""
    source = {
        "poetry": f'[tool.poetry]\npackage-mode = false\n[[tool.poetry.source]]\nname = "local"\n'
        f'url = "{index_url}"\npriority = "primary"\n',
        "pdm": f'[tool.pdm]\ndistribution = false\n[[tool.pdm.source]]\nname = "pypi"\n'
        f'url = "{index_url}"\n',
    }[tool_name]
    head = '[project]\nname = "p"\nversion = "0.1"\nrequires-python = ">=3.9"\n'
    tree.write(f"{where}/pyproject.toml", head + 'dependencies = ["alpha", "beta"]\n' + source)


@pytest.fixture(scope="session")
def filled(index_url: str) -> Iterator[Tree]:
    """alice's caches, filled once by real poetry, pdm (symlinked installs), pip-compile and pip
    (as pipenv runs it); hatch's laid out as hatch does."""
    top = Path(tempfile.mkdtemp(prefix="fleetcache-tools-"))
    top.chmod(0o755)
    tree = Tree(top / "machine")
    tree.user("alice", ALICE)
    project(tree, f"{HOME}/poet", index_url, "poetry")
    tool(tree, "poetry", "install", "--no-interaction", cwd=f"{HOME}/poet")
    project(tree, f"{HOME}/pd", index_url, "pdm")
    tool(tree, "pdm", "config", "install.cache", "true")
    tool(tree, "pdm", "install", cwd=f"{HOME}/pd")
    tree.write(f"{HOME}/req/requirements.in", "alpha\n")
    # the legacy resolver is the one that keeps pip-tools' cache (depcache, pkgs/)
    tool(
        tree, "pip-compile", "-q", "--resolver=legacy", "--index-url", index_url, cwd=f"{HOME}/req"
    )
    # hatch's cache as hatch lays it out (`hatch new` fetches these licenses from the network)
    tree.write(f"{HOME}/.cache/hatch/licenses/MIT.txt", "MIT License\n" * 90)
    tree.write(f"{HOME}/.cache/hatch/shell/first_run", "")
    # what pipenv does with its cache: runs pip with it (--cache-dir $PIPENV_CACHE_DIR)
    fill_cache(Path(sys.executable), tree.host(PIPENV), index_url, "alpha", work=top / "work")
    chown_tree(tree.host(HOME), ALICE)
    try:
        yield tree
    finally:
        shutil.rmtree(top, ignore_errors=True)


@pytest.fixture
def copied(filled: Tree) -> Iterator[Tree]:
    """A copy of the filled machine a test may clean (owners, links and times kept)."""
    top = Path(tempfile.mkdtemp(prefix="fleetcache-tools-"))
    top.chmod(0o755)
    shutil.copytree(filled.root, top / "machine", symlinks=True)
    tree = Tree.__new__(Tree)
    tree.root, tree.passwd = top / "machine", filled.passwd
    chown_tree(tree.host(HOME), ALICE)
    try:
        yield tree
    finally:
        shutil.rmtree(top, ignore_errors=True)


def _doc(capsys: pytest.CaptureFixture[str], *argv: str) -> dict[str, Any]:
    code, out, err = run(capsys, *argv, "--format", "json")
    assert code in (0, 3), err
    doc: dict[str, Any] = json.loads(out)
    return doc


def _scan(capsys: pytest.CaptureFixture[str], tree: Tree, *more: str) -> dict[str, dict[str, Any]]:
    doc = _doc(capsys, "scan", "--root", str(tree.root), "--no-activity", "-j", "1", *more)
    return {c["path"]: c for c in doc["caches"] if c["exists"]}


def du(path: Path) -> int:
    out = subprocess.run(["du", "-sB1", str(path)], capture_output=True, text=True, check=True)
    return int(out.stdout.split()[0])


def test_each_cache_is_found_where_its_tool_says_it_is(filled: Tree, capsys):
    poetry = tool(filled, "poetry", "config", "cache-dir").strip()
    pdm = tool(filled, "pdm", "config", "cache_dir").strip()
    found = _scan(capsys, filled)
    assert {p: c["kind"] for p, c in found.items() if c["kind"] != "pip"} == {
        poetry: "poetry",
        pdm: "pdm",
        f"{HOME}/.cache/virtualenv": "virtualenv",
        f"{HOME}/.cache/pip-tools": "pip-tools",
        f"{HOME}/.cache/hatch": "hatch",
        PIPENV: "pipenv",
    }
    assert found[poetry]["sources"][0]["description"] == "poetry: default location"
    # pipenv's cache is a pip cache (pip's figures, pip's clean), found as pipenv finds it
    assert found[PIPENV]["wheel_files"] == 0
    assert found[PIPENV]["http_files"] > 0
    assert found[PIPENV]["sources"][0]["description"] == "pipenv: default location"


def test_config_files_name_the_caches_as_the_tools_read_them(copied: Tree, capsys):
    copied.write(f"{HOME}/.config/pypoetry/config.toml", 'cache-dir = "/home/alice/pc"\n')
    copied.write(
        f"{HOME}/.config/pdm/config.toml", 'cache_dir = "~/pdmc"\n[install]\ncache = true\n'
    )
    copied.write(f"{HOME}/.config/hatch/config.toml", '[dirs]\ncache = "/home/alice/hc"\n')
    for made in ("pc", "pdmc", "hc"):
        copied.host(f"{HOME}/{made}/x").mkdir(parents=True)
    chown_tree(copied.host(HOME), ALICE)
    poetry = tool(copied, "poetry", "config", "cache-dir").strip()
    pdm = tool(copied, "pdm", "config", "cache_dir").strip().replace("~", HOME, 1)
    hatch = tool(copied, "hatch", "config", "show")
    found = _scan(capsys, copied)
    assert (found[poetry]["kind"], found[pdm]["kind"]) == ("poetry", "pdm")
    assert f'cache = "{HOME}/hc"' in hatch and found[f"{HOME}/hc"]["kind"] == "hatch"
    described = found[f"{HOME}/hc"]["sources"][0]["description"]
    assert described == f"hatch: {HOME}/.config/hatch/config.toml [dirs]"
    assert f"{HOME}/.cache/pypoetry" not in found  # the config file wins over the default


def test_variables_of_the_accounts_processes_name_caches(copied: Tree, capsys, procs):
    where = {
        "POETRY_CACHE_DIR": "pv",
        "PDM_CACHE_DIR": "dv",
        "PIPENV_CACHE_DIR": "penv",
        "VIRTUALENV_OVERRIDE_APP_DATA": "vv",
        "HATCH_CACHE_DIR": "hv",
        "PIP_TOOLS_CACHE_DIR": "tv",
    }
    for name in where.values():
        copied.host(f"{HOME}/{name}").mkdir()
    chown_tree(copied.host(HOME), ALICE)
    env = {k: str(copied.host(f"{HOME}/{v}")) for k, v in where.items()}
    proc = procs.start(["/bin/sh", "-c", "echo ready; exec sleep 120"], cwd=copied.host(HOME),
                       env={"PATH": "/usr/bin:/bin", **env})  # fmt: skip
    doc = _doc(capsys, "scan", "--root", str(copied.root), "-j", "1", "--no-envs")
    found = {c["path"]: c for c in doc["caches"] if c["exists"]}
    kinds = ("poetry", "pdm", "pipenv", "virtualenv", "hatch", "pip-tools")
    for (variable, name), kind in zip(where.items(), kinds):
        cache = found[f"{HOME}/{name}"]
        assert cache["kind"] == kind
        assert cache["sources"][0]["variable"] == variable
        assert cache["sources"][0]["pid"] == proc.pid


def test_search_finds_each_layout_and_no_environment_or_project(filled: Tree, capsys):
    found = _scan(capsys, filled, "--search", HOME)
    assert {(p, c["kind"]) for p, c in found.items()} >= {
        (f"{HOME}/.cache/pypoetry", "poetry"),
        (f"{HOME}/.cache/pdm", "pdm"),
        (f"{HOME}/.cache/virtualenv", "virtualenv"),
        (f"{HOME}/.cache/pip-tools", "pip-tools"),
    }
    assert not [p for p in found if p.startswith((f"{HOME}/pd", f"{HOME}/poet"))]
    assert not [p for p in found if "/virtualenvs/" in p]


def test_disk_bytes_are_what_du_counts(filled: Tree, capsys):
    found = _scan(capsys, filled)
    measured = {c["kind"] for c in found.values()}
    assert measured == {"pipenv", "poetry", "pdm", "virtualenv", "pip-tools", "hatch"}
    for path, cache in found.items():
        assert cache["disk_bytes"] == du(filled.host(path)), path
        assert cache["total_files"] > 0


def _clean(capsys, tree: Tree, kind: str, *more: str) -> dict[str, Any]:
    """A clean in a process of its own (it forks to delete: the index's thread runs here)."""
    logs = ("--audit-log", str(tree.root.parent / "audit.log"), "--lock-dir",
            str(tree.root.parent / "locks"), "--state-dir", str(tree.root.parent / "state"))  # fmt: skip
    argv = [sys.executable, "-m", "fleetcache", "clean", "--root", str(tree.root), "--user",
            "alice", "--kind", kind, *logs, "--format", "json", *more]  # fmt: skip
    got = subprocess.run(argv, capture_output=True, text=True, timeout=120)
    assert got.returncode in (0, 3, 4), got.stderr + got.stdout  # 3: a cache refused; 4: busy
    (cache,) = json.loads(got.stdout)["caches"]
    return cache  # type: ignore[no-any-return]


def test_a_poetry_clean_takes_cache_and_artifacts_never_its_environments(copied: Tree, capsys):
    cache = copied.host(f"{HOME}/.cache/pypoetry")
    (env,) = (cache / "virtualenvs").iterdir()
    env_files = sorted(str(p) for p in env.rglob("*"))
    before = du(cache)
    done = _clean(capsys, copied, "poetry", "--yes")
    assert done["plan"]["frees"] > 0
    assert before - du(cache) == done["plan"]["frees"]
    assert not list((cache / "artifacts").rglob("*.whl")) and not (cache / "cache").exists()
    assert sorted(str(p) for p in env.rglob("*")) == env_files
    tool(copied, f"{HOME}/.cache/pypoetry/virtualenvs/{env.name}/bin/python", "-c", "import alpha")
    tool(copied, "poetry", "install", "--no-interaction", cwd=f"{HOME}/poet")


def test_poetry_package_selects_its_artifacts_only(copied: Tree, capsys):
    done = _clean(capsys, copied, "poetry", "--package", "beta", "--dry-run")
    assert set(done["plan"]["why"]) == {"package beta"}
    assert done["plan"]["files"] == 2  # beta's sdist and the wheel poetry built from it


def test_a_pdm_package_goes_only_once_no_referrer_exists(copied: Tree, capsys):
    cache = copied.host(f"{HOME}/.cache/pdm")
    packages = sorted(p.name for p in (cache / "packages").iterdir())
    assert packages == ["alpha-2.0-py3-none-any.whl.cache", "beta-1.0-py3-none-any.whl.cache"]
    before = du(cache)
    done = _clean(capsys, copied, "pdm", "--yes")
    assert before - du(cache) == done["plan"]["frees"]
    assert sorted(p.name for p in (cache / "packages").iterdir()) == packages
    assert done["plan"]["left"]["used by an environment (its .referrers)"]["files"] > 0
    assert not (cache / "http").exists() and not (cache / "wheels").exists()
    venv = copied.host(f"{HOME}/pd/.venv")
    tool(copied, f"{HOME}/pd/.venv/bin/python", "-c", "import alpha, beta")  # links whole
    shutil.rmtree(venv)
    before = du(cache)
    done = _clean(capsys, copied, "pdm", "--yes")
    assert before - du(cache) == done["plan"]["frees"] > 0
    assert list((cache / "packages").iterdir()) == []
    tool(copied, "pdm", "install", cwd=f"{HOME}/pd")


def test_a_referrer_that_cannot_be_checked_keeps_the_package(copied: Tree, capsys):
    """A .referrers path behind a directory alice may not enter: cannot tell, so kept."""
    cache = copied.host(f"{HOME}/.cache/pdm")
    shutil.rmtree(copied.host(f"{HOME}/pd/.venv"))
    copied.host("/srv/closed").mkdir(parents=True, mode=0o700)
    referrers = cache / "packages/alpha-2.0-py3-none-any.whl.cache/.referrers"
    referrers.write_text("/srv/closed/site-packages/alpha-2.0.dist-info\n")
    os.lchown(referrers, ALICE, ALICE)
    done = _clean(capsys, copied, "pdm", "--dry-run")
    assert done["plan"]["left"]["used by an environment (its .referrers)"]["files"] > 0
    assert done["plan"]["why"]["purge"]["files"] > 0


@pytest.mark.parametrize("kind", ["virtualenv", "pip-tools", "hatch"])
def test_a_whole_cache_kind_is_cleaned_by_purge_only(copied: Tree, capsys, kind: str):
    cache = copied.host(f"{HOME}/.cache/{kind}")
    picked = _clean(capsys, copied, kind, "--older-than", "0d", "--dry-run")
    assert picked["plan"]["files"] == 0
    assert list(picked["plan"]["left"]) == [f"only --purge cleans a {kind} cache"]
    before = du(cache)
    done = _clean(capsys, copied, kind, "--yes")
    assert before - du(cache) == done["plan"]["frees"] > 0
    assert list(cache.iterdir()) == []


def test_an_account_naming_anothers_cache_gets_nothing_of_it_cleaned(copied: Tree, capsys):
    """alice's poetry config names bob's poetry cache, and her pdm cache is a link to bob's: a
    clean of alice's caches refuses both, and every file of bob's stays."""
    bob = ALICE + 1
    copied.passwd.append(f"bob:x:{bob}:{bob}::/home/bob:/bin/bash")
    copied._write_passwd()
    for name in ("pypoetry", "pdm"):
        shutil.copytree(copied.host(f"{HOME}/.cache/{name}"), copied.host(f"/home/bob/.cache/{name}"),
                        symlinks=True)  # fmt: skip
    chown_tree(copied.host("/home/bob"), bob)
    copied.host("/home/bob").chmod(0o755)
    copied.write(
        f"{HOME}/.config/pypoetry/config.toml", 'cache-dir = "/home/bob/.cache/pypoetry"\n'
    )
    shutil.rmtree(copied.host(f"{HOME}/.cache/pdm"))
    copied.host(f"{HOME}/.cache/pdm").symlink_to("/home/bob/.cache/pdm")
    chown_tree(copied.host(HOME), ALICE)
    bobs = sorted(str(p) for p in copied.host("/home/bob").rglob("*"))
    for kind in ("poetry", "pdm"):
        done = _clean(capsys, copied, kind, "--yes")
        assert done["state"] == "refused", done
    assert sorted(str(p) for p in copied.host("/home/bob").rglob("*")) == bobs


def test_report_by_package_names_the_entries_of_every_kind(filled: Tree, capsys):
    args = ("report", "--root", str(filled.root), "--by", "package", "-j", "1", "--no-activity")
    doc = _doc(capsys, *args)
    rows = {r["package"]: r for r in doc["rows"]}
    assert {"alpha", "beta", "pip"} <= set(rows)  # pip: virtualenv's seed wheel
    assert rows["alpha"]["versions"] == ["2.0"]
    for kind, named in [("poetry", {"alpha", "beta"}), ("pdm", {"alpha", "beta"}),
                        ("virtualenv", {"pip"})]:  # fmt: skip
        only = _doc(capsys, *args, "--kind", kind)
        assert {r["package"]: r["entries"] for r in only["rows"]} == dict.fromkeys(named, 1)


def test_a_referrers_file_that_is_a_link_is_not_followed_and_keeps_its_package(
    copied: Tree, capsys
):
    """alice makes alpha's .referrers a link to a file only root reads: root reads nothing
    through it, so alpha is not known to be unused and stays; beta, unreferenced, goes."""
    shutil.rmtree(copied.host(f"{HOME}/pd/.venv"))
    copied.write("/srv/secret", "/\n")
    copied.host("/srv/secret").chmod(0o600)
    packages = copied.host(f"{HOME}/.cache/pdm/packages")
    referrers = packages / "alpha-2.0-py3-none-any.whl.cache/.referrers"
    referrers.unlink()
    referrers.symlink_to("/srv/secret")
    os.lchown(referrers, ALICE, ALICE)
    done = _clean(capsys, copied, "pdm", "--yes")
    assert done["plan"]["left"]["its .referrers not read (a link, odd or too long)"]["files"] > 0
    assert sorted(p.name for p in packages.iterdir()) == ["alpha-2.0-py3-none-any.whl.cache"]


def test_on_macos_the_tools_keep_caches_and_configs_in_library(open_tree: Tree):
    open_tree.user("alice", ALICE, home="/Users/alice")
    support = "/Users/alice/Library/Application Support"
    open_tree.write(f"{support}/pypoetry/config.toml", 'cache-dir = "~/pc"\n')
    for made in ("pc", "Library/Caches/pdm", ".cache/pdm"):
        open_tree.host(f"/Users/alice/{made}").mkdir(parents=True)
    chown_tree(open_tree.host("/Users/alice"), ALICE)
    mac = Machine(root=str(open_tree.root), platform="darwin")
    result = scan(mac, Selection(users=("alice",), activity=False, envs=False))
    kinds = {c.location.path: c.location.kind for c in result.caches if c.location.kind != "pip"}
    assert kinds == {"/Users/alice/pc": "poetry", "/Users/alice/Library/Caches/pdm": "pdm"}


def test_a_referrers_list_too_long_to_ask_about_keeps_its_package(copied: Tree, capsys):
    """alice writes 5000 gone paths into beta's .referrers: not each asked about; kept."""
    shutil.rmtree(copied.host(f"{HOME}/pd/.venv"))
    packages = copied.host(f"{HOME}/.cache/pdm/packages")
    referrers = packages / "beta-1.0-py3-none-any.whl.cache/.referrers"
    referrers.write_text("".join(f"/gone/{i}\n" for i in range(5000)))
    done = _clean(capsys, copied, "pdm", "--dry-run")
    assert done["plan"]["left"]["its .referrers not read (a link, odd or too long)"]["files"] > 0
    assert done["plan"]["why"]["purge"]["files"] > 0  # alpha's, unreferenced, would go


def test_virtualenvs_linking_into_the_app_data_make_it_refused(copied: Tree, capsys):
    """A real virtualenv made with --symlink-app-data links its seed packages into the app
    data: purging it would break that environment, so the clean refuses and it still works."""
    chown_tree(copied.host(HOME), 0)  # root's tool copies from app data it does not own
    tool(copied, "virtualenv", "-q", "--symlink-app-data", "--no-periodic-update", f"{HOME}/sv")
    chown_tree(copied.host(HOME), ALICE)
    cache = copied.host(f"{HOME}/.cache/virtualenv")
    before = sorted(str(p) for p in cache.rglob("*"))
    done = _clean(capsys, copied, "virtualenv", "--yes")
    assert done["state"] == "refused" and "--symlink-app-data" in done["reason"], done
    assert sorted(str(p) for p in cache.rglob("*")) == before
    tool(copied, f"{HOME}/sv/bin/python", "-c", "import pip")


@pytest.mark.parametrize(
    ("where", "expected"),
    [
        (poetry.WHERE, r"pypoetry\Cache"),
        (hatch.WHERE, r"hatch\Cache"),
        (pdm.WHERE, r"pdm\pdm\Cache"),
        (pipenv.WHERE, r"pipenv\pipenv\Cache"),
        (piptools.WHERE, r"pip-tools\pip-tools\Cache"),
        (virtualenv.WHERE, r"pypa\virtualenv\Cache"),
    ],
)
def test_on_windows_each_default_is_where_platformdirs_puts_it_for_that_tool(where, expected):
    """platformdirs adds an author directory unless the tool says appauthor=False."""
    alice = Account("alice", 1001, 1001, r"C:\Users\alice")
    look = Look(Machine(platform="win32"), _Files({}), [alice], [alice], {})  # type: ignore[arg-type]
    local = r"C:\Users\alice\AppData\Local"
    ((path, source),) = tooldirs.answers(look, alice, where, {"LOCALAPPDATA": local}, [])
    assert (path, source.variable) == (rf"{local}\{expected}", "LOCALAPPDATA")


def test_variables_naming_a_config_file_are_followed_as_the_tools_do(copied: Tree, capsys, procs):
    """POETRY_CONFIG_DIR, PDM_CONFIG_FILE and HATCH_CONFIG in alice's process name the config
    files her tools read: the caches those name are hers (the tools agree)."""
    copied.write(f"{HOME}/pcfg/config.toml", 'cache-dir = "/home/alice/pc2"\n')
    copied.write(f"{HOME}/pdm.toml", 'cache_dir = "/home/alice/dc2"\n')
    copied.write(f"{HOME}/h.toml", '[dirs]\ncache = "/home/alice/hc2"\n')
    for made in ("pc2", "dc2", "hc2"):
        copied.host(f"{HOME}/{made}").mkdir()
    chown_tree(copied.host(HOME), ALICE)
    names = {"POETRY_CONFIG_DIR": "pcfg", "PDM_CONFIG_FILE": "pdm.toml", "HATCH_CONFIG": "h.toml"}
    said = {k: f"{HOME}/{v}" for k, v in names.items()}
    assert tool(copied, "poetry", "config", "cache-dir", **said).strip() == f"{HOME}/pc2"
    assert tool(copied, "pdm", "config", "cache_dir", **said).strip() == f"{HOME}/dc2"
    assert f'cache = "{HOME}/hc2"' in tool(copied, "hatch", "config", "show", **said)
    env = {k: str(copied.host(f"{HOME}/{v}")) for k, v in names.items()}
    proc = procs.start(["/bin/sh", "-c", "echo ready; exec sleep 120"], cwd=copied.host(HOME),
                       env={"PATH": "/usr/bin:/bin", **env})  # fmt: skip
    doc = _doc(capsys, "scan", "--root", str(copied.root), "-j", "1", "--no-envs")
    found = {c["path"]: c for c in doc["caches"] if c["exists"]}
    expected = {"pc2": ("poetry", "pcfg/config.toml"), "dc2": ("pdm", "pdm.toml"),
                "hc2": ("hatch", "h.toml")}  # fmt: skip
    for made, (kind, file) in expected.items():
        (source,) = found[f"{HOME}/{made}"]["sources"]
        assert (found[f"{HOME}/{made}"]["kind"], source["kind"]) == (kind, "config")
        assert (source["file"], source["pid"]) == (f"{HOME}/{file}", proc.pid)


class _Files:
    """An account reader (the edge): a Windows machine's files, as a mapping."""

    def __init__(self, files: dict[str, bytes]) -> None:
        self.files = files

    def read(self, who: object, path: str) -> bytes | None:
        return self.files.get(path)


@pytest.mark.parametrize(
    ("where", "file"),
    [
        (poetry.WHERE, r"C:\Users\alice\AppData\Roaming\pypoetry\config.toml"),
        (pdm.WHERE, r"C:\Users\alice\AppData\Local\pdm\pdm\config.toml"),
        (hatch.WHERE, r"C:\Users\alice\AppData\Local\hatch\config.toml"),
    ],
)
def test_on_windows_each_config_file_is_where_platformdirs_puts_it(tmp_path, where, file):
    """poetry's config roams (APPDATA), pdm's and hatch's are local, pdm's below an author."""
    alice = Account("alice", 1001, 1001, r"C:\Users\alice")
    win = Machine(root=str(tmp_path), platform="win32")
    key = where.keys[-1]
    table = f'[dirs]\n{key} = "D:\\\\c"\n' if len(where.keys) == 2 else f'{key} = "D:\\\\c"\n'
    look = Look(win, _Files({file: table.encode()}), [alice], [alice], {})  # type: ignore[arg-type]
    ((path, source),) = tooldirs.answers(look, alice, where, {}, [])
    assert (path, source.kind, source.file) == ("D:\\c", "config", file)
