"""Naming what fills real caches (real pip, the loopback index with and without PyPI's headers,
HTML, JSON and gzip'd pages, legacy http/ of an old pip), and the report's views and insights."""

from __future__ import annotations

import json
import os
import shutil
import struct
import subprocess
import sys
import zlib
from collections.abc import Callable
from pathlib import Path

import msgpack
import pytest

from fleetcache.cli import main
from fleetcache.machine import Machine
from fleetcache.model import CacheEntry
from fleetcache.report.entries import read_entries
from fleetcache.report.links import name_by_links
from fleetcache.scan import Selection, scan
from fleetcache.stats.walk import WalkTask
from tests.conftest import Tree, chown_tree, fill_cache, run_on_tty
from tests.index_server import default_index, make_wheel, serve

ROOT = os.geteuid() == 0
ALICE_CACHE = "/home/alice/.cache/pip"
ALICE = 1000 if ROOT else os.getuid()
BOB = 1001 if ROOT else os.getuid()

EXPECTED = {
    ("index page", "alpha", None),
    ("index page", "beta", None),
    ("index page", "gamma", None),
    ("wheel", "alpha", "2.0"),
    ("sdist", "beta", "1.0"),
    ("sdist", "gamma", "0.5"),
    ("built wheel", "beta", "1.0"),
    ("built wheel", "gamma", "0.5"),
}


def named(cache: Path, index_urls: tuple[str, ...] = ()) -> list[CacheEntry]:
    out = read_entries(WalkTask("/", str(cache)))
    assert out.problems == ()
    return name_by_links(out.entries, out.pages, index_urls)


def fill(python: Path, cache: Path, tmp: Path, **flags: bool) -> str:
    index = default_index()
    for name, value in flags.items():
        setattr(index, name, value)
    with serve(index) as url:
        fill_cache(python, cache, url, "alpha", "beta", "gamma", work=tmp / "work")
    return url


@pytest.mark.parametrize(
    ("flags", "file_how", "page_how"),
    [
        ({}, {"wheel contents", "sdist top directory"}, "page title"),
        ({"pypi_headers": True}, {"headers"}, "page title"),
        ({"json_pages": True, "gzip_pages": True, "absolute_links": True},
         {"wheel contents", "sdist top directory"}, "gzip'd JSON name"),
    ],
)  # fmt: skip
def test_every_http_entry_is_named(pip_python, tmp_path, flags, file_how, page_how):
    cache = tmp_path / "cache"
    fill(pip_python("26"), cache, tmp_path, **flags)
    entries = named(cache)
    assert {(e.kind, e.project, e.version) for e in entries} == EXPECTED
    assert {e.how for e in entries if e.kind in ("wheel", "sdist")} == file_how
    assert {e.how for e in entries if e.kind == "index page"} == {page_how}
    assert all(e.complete and e.files == (2 if e.download else 1) for e in entries)
    on_disk = sum(p.stat().st_size for p in cache.rglob("*") if p.is_file())
    named_bytes = sum(e.size for e in entries)
    assert 0 < named_bytes <= on_disk  # origin.json and selfcheck/ are not entries


def test_pep_658_core_metadata_responses_are_named(pip_python, tmp_path):
    """An index that serves each wheel's METADATA (PEP 658): pip caches those responses too."""
    cache = tmp_path / "cache"
    fill(pip_python("26"), cache, tmp_path, core_metadata=True)
    entries = named(cache)
    core = {(e.kind, e.project, e.version, e.how) for e in entries if e.kind == "core metadata"}
    assert core == {("core metadata", "alpha", "2.0", "core metadata")}
    assert {(e.kind, e.project, e.version) for e in entries} == EXPECTED | {
        ("core metadata", "alpha", "2.0")
    }


def test_a_lone_half_is_named_by_the_index_page_that_links_it(pip_python, tmp_path):
    """Bodies gone: the metadata halves (no PyPI headers) are named by the pages' links, whose
    own URL is recovered from the index URL (relative links) or not needed (absolute ones)."""
    for flags in ({}, {"json_pages": True, "absolute_links": True}):
        cache = tmp_path / f"cache{len(flags)}"
        url = fill(pip_python("26"), cache, tmp_path / f"w{len(flags)}", **flags)
        files = [e for e in named(cache) if e.kind in ("wheel", "sdist")]
        for e in files:
            (cache / (e.path + ".body")).unlink()
        urls = (url,) if not flags else ()
        lone = {e.path: e for e in named(cache, urls)}
        assert {(lone[e.path].kind, lone[e.path].project, lone[e.path].how) for e in files} == {
            ("wheel", "alpha", "index page link"),
            ("sdist", "beta", "index page link"),
            ("sdist", "gamma", "index page link"),
        }
        assert not any(lone[e.path].complete for e in files)
        if not flags:  # without the index URL a relative link leads nowhere: unknown, not guessed
            alone = {e.path: e for e in named(cache)}
            assert {alone[e.path].kind for e in files} == {"unknown"}


def test_legacy_http_entries_of_an_old_pip_are_named(pip_python, tmp_path):
    cache = tmp_path / "cache"
    with serve(default_index()) as url:
        fill_cache(pip_python("23"), cache, url, "alpha", "gamma", work=tmp_path / "work")
    legacy = [e for e in named(cache) if e.area == "http"]
    assert {(e.kind, e.project, e.version) for e in legacy} == {
        ("index page", "alpha", None),
        ("index page", "gamma", None),
        ("wheel", "alpha", "2.0"),
        ("sdist", "gamma", "0.5"),
    }


def test_what_nothing_names_is_counted_unknown_not_guessed(tmp_path):
    leaf = tmp_path / "cache" / "http-v2" / "a" / "b" / "c" / "d" / "e"
    leaf.mkdir(parents=True)
    key = "abcde" + "0" * 51
    headers = {"Content-Type": "application/octet-stream"}
    meta = b"cc=4," + msgpack.packb({"response": {"headers": headers, "status": 200}, "vary": {}})
    (leaf / key).write_bytes(meta)
    (leaf / (key + ".body")).write_bytes(os.urandom(3000))
    (leaf / ("abcde" + "1" * 51)).write_bytes(b"not pip's")  # a lone, unreadable half
    entries = named(tmp_path / "cache")
    assert sorted((e.kind, e.project, e.complete) for e in entries) == [
        ("unknown", None, False),
        ("unknown", None, True),
    ]


def users_tree(tree: Tree, pip_python: Callable[[str], Path], tmp_path: Path) -> None:
    """alice and bob, each with a cache filled by real pip from the same index; alice also
    holds alpha 1.0 (superseded by 2.0)."""
    python = pip_python("26")
    with serve(default_index()) as url:  # as root pip caches only below root's directories
        for user in ("alice", "bob"):
            cache = tree.host(f"/home/{user}/.cache/pip")
            fill_cache(python, cache, url, "alpha", "beta", work=tmp_path / user)
        alice = tree.host("/home/alice/.cache/pip")
        fill_cache(python, alice, url, "alpha==1.0", work=tmp_path / "old")
    tree.user("alice", ALICE)
    tree.user("bob", BOB)
    tree.write("/home/alice/proj/.venv/pyvenv.cfg", "home = /usr/bin\nversion = 3.11.2\n")
    chown_tree(tree.host("/home/alice"), ALICE)
    chown_tree(tree.host("/home/bob"), BOB)


def test_report_by_package_with_its_insights(tree, pip_python, tmp_path, capsys):
    users_tree(tree, pip_python, tmp_path)
    code = main(["report", "--root", str(tree.root), "--by", "package", "-f", "json"])
    doc = json.loads(capsys.readouterr().out)
    assert code == 0 and doc["by"] == "package" and doc["schema_version"] == 9
    rows = {r["package"]: r for r in doc["rows"]}
    assert set(rows) == {"alpha", "beta"}
    assert rows["alpha"]["versions"] == ["2.0", "1.0"]
    assert rows["alpha"]["users"] == ["alice", "bob"]
    assert rows["beta"]["wheel_bytes"] > 0 and rows["beta"]["download_bytes"] > 0
    assert [r["package"] for r in doc["rows"]] == ["alpha", "beta"]  # largest first
    assert sum(r["entries"] for r in doc["rows"]) == doc["entries"]  # every entry in one row
    insights = doc["insights"]
    old = insights["superseded"]
    assert old["entries"] == 1 and old["top"][0]["package"] == "alpha"
    if ROOT:  # two owners: bob's copies of the same URLs are bytes held twice
        dup = insights["duplicated"]
        assert dup["entries"] >= 5 and dup["bytes"] > 20000
    assert insights["unattributed"] == {"entries": 0, "bytes": 0}
    assert insights["ages"][0]["entries"] == doc["entries"]

    assert main(["report", "--root", str(tree.root), "--by", "user", "--top", "1"]) == 0
    table = capsys.readouterr().out.splitlines()
    assert table[0].split()[:3] == ["USER", "ENTRIES", "DOWNLOADS"]
    assert table[2].startswith("alice ")  # the larger (alpha 1.0 too); bob's row cut by --top
    assert not any(line.startswith("bob ") for line in table)
    assert any(line.startswith("Superseded versions: ") for line in table)
    assert main(["report", "--root", str(tree.root), "--by", "cache", "-f", "csv"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].startswith("cache,owner,users,top_packages,entries,")
    assert len(lines) == 3
    assert main(["report", "--root", str(tree.root), "--by", "env", "-f", "json"]) == 0
    (env,) = json.loads(capsys.readouterr().out)["rows"]
    assert (env["environment"], env["caches"]) == ("/home/alice/proj/.venv", [ALICE_CACHE])
    assert main(["report", "--root", str(tree.root), "--by", "user", "-f", "json"]) == 0
    by_user = {r["user"]: r for r in json.loads(capsys.readouterr().out)["rows"]}
    assert env["entries"] == by_user["alice"]["entries"] == 6  # 2 pages, 3 files, 1 built wheel
    shutil.rmtree(tree.host("/home/bob/.cache"))
    assert main(["report", "--root", str(tree.root), "--by", "host", "-f", "json"]) == 0
    (row,) = json.loads(capsys.readouterr().out)["rows"]
    assert row["caches"] == 1 and row["packages"] == 2


def test_list_shows_downloads_and_built_wheels(tree, pip_python, tmp_path, capsys):
    users_tree(tree, pip_python, tmp_path)
    root = str(tree.root)
    assert main(["list", "--root", root, "-u", "alice"]) == 0
    table = capsys.readouterr().out.splitlines()
    assert table[0].split() == ["FROM", "KIND", "PACKAGE", "VERSION", "SIZE", "MODIFIED"]
    assert max(map(len, table)) <= 80
    kinds = {tuple(line.split()[:3]) for line in table[2:]}
    assert ("built", "built", "wheel") in kinds and ("download", "wheel", "alpha") in kinds
    assert main(["list", "--root", root, "-u", "alice", "--package", "ALPHA", "-f", "json"]) == 0
    records = json.loads(capsys.readouterr().out)
    assert {(r["kind"], r["version"]) for r in records} == {
        ("index page", None),
        ("wheel", "1.0"),
        ("wheel", "2.0"),
    }
    assert all(r["download"] and r["user"] == "alice" and r["project"] == "alpha" for r in records)
    assert main(["list", "--root", root, "-u", "alice", "-p", "alpha", "-f", "abspath"]) == 0
    paths = capsys.readouterr().out.split()
    assert len(paths) == 6 and all(tree.host(p).is_file() for p in paths)
    assert main(["list", "--root", root, "-u", "alice", "-p", "alpha", "--wheels"]) == 2
    assert "--package names downloads too" in capsys.readouterr().err


def test_report_rejects_bad_arguments(tree, capsys):
    assert main(["report", "--root", str(tree.root), "--top", "0"]) == 2
    assert main(["report", "--root", str(tree.root), "--by", "colour"]) == 2
    err = capsys.readouterr().err
    assert "--top must be at least 1" in err and "invalid choice: 'colour'" in err


def test_progress_shows_on_a_terminal_unless_quiet(tree, capsys):
    for user, uid in (("alice", ALICE), ("bob", BOB)):
        tree.user(user, uid)
        tree.write(f"/home/{user}/.cache/pip/wheels/ab/cd/ef/{'1' * 50}/x-1.0-py3-none-any.whl",
                   b"w", uid=uid)  # fmt: skip
        chown_tree(tree.host(f"/home/{user}"), uid)
    root = str(tree.root)
    code, shown = run_on_tty("report", "--root", root, "--no-activity")
    assert code == 0 and "walking caches" in shown and "reading entries" in shown
    code, shown = run_on_tty("report", "--root", root, "--no-activity", "--quiet")
    assert code == 0 and shown == ""
    assert main(["report", "--root", root, "--no-activity"]) == 0  # stderr not a terminal
    assert capsys.readouterr().err == ""


def bytes_read() -> int:
    """What this process has read so far, by the kernel's count (``rchar``)."""
    for line in Path("/proc/self/io").read_text().splitlines():
        if line.startswith("rchar:"):
            return int(line.split()[1])
    raise AssertionError("no rchar in /proc/self/io")


@pytest.mark.skipif(not Path("/proc/self/io").exists(), reason="needs Linux's /proc/self/io")
def test_only_the_bytes_that_name_an_entry_are_read(tree):
    """A 20 MB wheel: naming it reads its zip directory, not its body; with PyPI's headers not
    even that; a plain scan opens no body at all."""
    tree.user("alice", ALICE)
    wheel = make_wheel("big", "1.0", b"x" * (20 << 20))
    cache = tree.host("/home/alice/.cache/pip")
    for key, headers in (
        ("a" * 56, {"Content-Type": "application/octet-stream"}),
        ("b" * 56, {"x-pypi-file-project": "big", "x-pypi-file-version": "1.0",
                    "x-pypi-file-package-type": "bdist_wheel"}),
    ):  # fmt: skip
        leaf = cache.joinpath("http-v2", *key[:5])
        leaf.mkdir(parents=True)
        meta = {"response": {"headers": headers, "status": 200}, "vary": {}}
        (leaf / key).write_bytes(b"cc=4," + msgpack.packb(meta))
        (leaf / (key + ".body")).write_bytes(wheel)
    chown_tree(tree.host("/home/alice"), ALICE)
    before = bytes_read()
    out = read_entries(WalkTask(str(tree.root), "/home/alice/.cache/pip"))
    spent = bytes_read() - before
    assert {(e.project, e.how) for e in out.entries} == {("big", "wheel contents"),
                                                         ("big", "headers")}  # fmt: skip
    assert spent < 256 << 10, spent  # two bodies of 20 MB each
    selection = Selection(users=("alice",), jobs=1, envs=False, activity=False)
    before = bytes_read()
    (cache_result,) = [c for c in scan(Machine.local(str(tree.root)), selection).caches
                       if c.exists]  # fmt: skip
    spent = bytes_read() - before
    assert cache_result.figures.http_bytes > 40 << 20 and spent < 256 << 10, spent


def hostile_entry(cache: Path, key: str, meta: bytes, body: bytes | None) -> None:
    leaf = cache.joinpath("http-v2", *key[:5])
    leaf.mkdir(parents=True, exist_ok=True)
    (leaf / key).write_bytes(meta)
    if body is not None:
        (leaf / (key + ".body")).write_bytes(body)


def fake_zip(names: list[bytes], cd_size: int | None = None) -> bytes:
    """A zip's central directory and end record only (all the naming reads)."""
    records = b"".join(
        b"PK\x01\x02" + b"\0" * 24 + struct.pack("<HHH", len(n), 0, 0) + b"\0" * 12 + n
        for n in names
    )
    size = len(records) if cd_size is None else cd_size
    end = struct.pack("<4sHHHHIIH", b"PK\x05\x06", 0, 0, len(names), len(names), size, 0, 0)
    return records + end


def test_hostile_entries_are_unknown_not_a_crash_nor_a_hog(tmp_path):
    """What an account can put in its own cache: malformed metadata, a JSON page nested 200,000
    deep, a page that makes naive regexes quadratic, a 400 MB gzip bomb, zips with 60,000 members
    or a central directory claiming 4 GB, truncated legacy files. None stops the run or bloats it."""
    cache = tmp_path / "cache"
    html = {"Content-Type": "text/html"}
    meta = b"cc=4," + msgpack.packb({"response": {"headers": html}, "vary": {}})
    octets = {"Content-Type": "application/octet-stream"}
    zip_meta = b"cc=4," + msgpack.packb({"response": {"headers": octets}, "vary": {}})
    bomb = zlib.compressobj(9, zlib.DEFLATED, 31)
    zeros = b"\0" * (1 << 20)
    gzipped = b"".join([*(bomb.compress(zeros) for _ in range(400)), bomb.flush()])
    hostile_entry(cache, "1" * 56, b"cc=4,\x81\x91\x00\x00", b"x")  # a map keyed by a list
    hostile_entry(cache, "2" * 56, meta, b'{"a":' + b"[" * 200_000)
    hostile_entry(cache, "3" * 56, meta, b"<title>Links</title>" + b"<a " * 40_000)
    hostile_entry(cache, "4" * 56, meta, gzipped)
    hostile_entry(cache, "5" * 56, zip_meta, fake_zip([b"m%d" % i for i in range(60_000)]))
    hostile_entry(cache, "8" * 56, zip_meta, fake_zip([b"a"], cd_size=0xFFFFFFF0))
    legacy = cache / "http" / "6" / "6" / "6" / "6" / "6"
    legacy.mkdir(parents=True)
    (legacy / ("6" * 56)).write_bytes(b"cc=4,")
    (legacy / ("7" * 56)).write_bytes(b"cc=4,\x82\xa8response\x81\xa4body")
    probe = (
        "import json, sys; from fleetcache.report.entries import read_entries; "
        "from fleetcache.stats.walk import WalkTask; out = read_entries(WalkTask('/', sys.argv[1])); "
        "hwm = [l for l in open('/proc/self/status') if l.startswith('VmHWM:')][0].split()[1]; "
        "print(json.dumps([sorted({e.kind for e in out.entries}), len(out.entries), int(hwm)]))"
    )
    done = subprocess.run([sys.executable, "-c", probe, str(cache)], capture_output=True,
                          text=True, timeout=300)  # fmt: skip
    assert done.returncode == 0, done.stderr
    kinds, count, peak_kb = json.loads(done.stdout)
    assert kinds == ["unknown"] and count == 8
    # this process's own peak (VmHWM: ru_maxrss would count pytest's, inherited across exec)
    assert peak_kb < 250 << 10  # the bomb was inflated no further than a page may be


def test_names_from_hostile_headers_reach_the_terminal_escaped(tree, capsys):
    tree.user("alice", ALICE)
    cache = tree.host("/home/alice/.cache/pip")
    for key, version in (("c" * 56, "1.0"), ("d" * 56, "2.0")):
        headers = {"x-pypi-file-project": "\x1b]0;pwn\x07evil", "x-pypi-file-version": version,
                   "x-pypi-file-package-type": "bdist_wheel"}  # fmt: skip
        meta = b"cc=4," + msgpack.packb({"response": {"headers": headers}, "vary": {}})
        hostile_entry(cache, key, meta, b"x" * 100)
    chown_tree(tree.host("/home/alice"), ALICE)
    for fmt in ("table", "markdown", "csv"):
        assert main(["report", "--root", str(tree.root), "--no-activity", "-f", fmt]) == 0
        out = capsys.readouterr().out
        assert "\x1b" not in out and "\x07" not in out and "\\x1b]0;pwn\\x07evil" in out
    assert main(["list", "--root", str(tree.root), "-u", "alice"]) == 0
    assert "\x1b" not in capsys.readouterr().out


NAME_LIMIT = 1000  # README, JSON: "names longer than 1,000 characters are cut"


def fleetcache(*argv: str) -> str:
    """Run fleetcache as a command; its stdout. A run that never ends fails at the timeout."""
    done = subprocess.run([sys.executable, "-m", "fleetcache", *argv], capture_output=True,
                          text=True, timeout=300)  # fmt: skip
    assert done.returncode == 0, done.stderr
    return done.stdout


def test_huge_names_from_a_cache_render_in_bounded_tables(tree):
    """alice's cache holds a JSON index page naming a 5,000,000-character project and a download
    whose headers name a 320,000-character one. The ``report`` and ``list`` tables finish, each
    cell cut in its middle; JSON keeps each name up to the stated cap."""
    tree.user("alice", ALICE)
    cache = tree.host(ALICE_CACHE)
    page = {"Content-Type": "application/vnd.pypi.simple.v1+json"}
    page_meta = b"cc=4," + msgpack.packb({"response": {"headers": page}, "vary": {}})
    huge = "h" * 2_500_000 + "x" * 2_500_000
    hostile_entry(cache, "e" * 56, page_meta, json.dumps({"name": huge, "files": []}).encode())
    headers = {"x-pypi-file-project": "w" * 160_000 + "z" * 160_000,
               "x-pypi-file-version": "1." + "9" * 320_000,
               "x-pypi-file-package-type": "bdist_wheel"}  # fmt: skip
    meta = b"cc=4," + msgpack.packb({"response": {"headers": headers}, "vary": {}})
    hostile_entry(cache, "f" * 56, meta, b"x" * 100)
    chown_tree(tree.host("/home/alice"), ALICE)
    root = ("--root", str(tree.root))
    for argv in (("report", *root, "--no-activity"), ("list", *root, "-u", "alice")):
        narrow = fleetcache(*argv)
        assert "…" in narrow and len(narrow) < 100_000, argv
        for wide in (fleetcache(*argv, "--wide"), fleetcache(*argv, "-f", "markdown")):
            assert "hhhhhhhhhh…" in wide and len(wide) < 20_000, argv
            assert max(map(len, wide.splitlines())) < 2_000, argv
    names = {r["kind"]: (r["project"], r["version"])
             for r in json.loads(fleetcache("list", *root, "-u", "alice", "-f", "json"))}  # fmt: skip
    assert names["index page"] == ("h" * NAME_LIMIT + "…", None)
    assert names["wheel"] == ("w" * NAME_LIMIT + "…", "1." + "9" * (NAME_LIMIT - 2) + "…")
