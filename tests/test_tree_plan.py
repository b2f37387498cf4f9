"""The whole-entry clean plan most kinds share (fleetcache.kinds.tree): a kind names entries,
the policy picks, the plan removes each picked entry whole and says what that frees."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from fleetcache.clean.plan import CachePlan, Walked
from fleetcache.clean.policy import Policy
from fleetcache.kinds.base import PlanContext
from fleetcache.kinds.tree import Unit, plan_units

NOW = 2_000_000_000.0
DAY = 86400.0


def _units(walked: Walked) -> Iterator[Unit]:
    """A toy layout: each pkgs/<name>-<version>/ is a package; *.tar at the top is junk;
    pinned/ is kept whole for a reason of the kind's."""
    for parts in walked.dirs:
        if len(parts) == 2 and parts[0] == "pkgs":
            name, _, version = parts[1].rpartition("-")
            yield Unit(parts, project=name, version=version)
    for f in walked.dirs[()].files:
        if f.name.endswith(".tar"):
            yield Unit((f.name,), junk="tarball")
    if ("pinned",) in walked.dirs:
        yield Unit(("pinned",), keep="linked into an environment")


@pytest.fixture
def cache(tmp_path: Path) -> Path:
    root = tmp_path / "cache"
    for name, age in (("alpha-1.0", 30), ("beta-2.0", 1), ("gamma-3.0", 10)):
        pkg = root / "pkgs" / name / "info"
        pkg.mkdir(parents=True)
        (pkg / "index.json").write_bytes(b"x" * 5000)
        (pkg.parent / "lib.so").write_bytes(b"y" * 20000)
        for p in (pkg / "index.json", pkg.parent / "lib.so"):
            os.utime(p, (NOW - age * DAY, NOW - age * DAY))
    (root / "old.tar").write_bytes(b"t" * 9000)
    (root / "pinned").mkdir()
    (root / "pinned" / "file").write_bytes(b"p" * 7000)
    (root / "urls.txt").write_bytes(b"u")
    # beta's library is also in an environment (a hardlink): removing beta frees none of it
    env = tmp_path / "env"
    env.mkdir()
    os.link(root / "pkgs" / "beta-2.0" / "lib.so", env / "lib.so")
    return root


def _plan(cache: Path, policy: Policy) -> CachePlan:
    fd = os.open(cache, os.O_RDONLY | os.O_DIRECTORY)
    try:
        return plan_units(fd, str(cache), os.getuid(), policy, NOW, PlanContext(), _units)
    finally:
        os.close(fd)


def _planned(plan: CachePlan) -> set[str]:
    return {"/".join((*d.parts, f.name)) for d in plan.dirs for f in d.files} | {
        "/".join(d.parts) + "/" for d in plan.dirs if d.remove
    }


def _disk(*paths: Path) -> int:
    return sum(p.lstat().st_blocks * 512 for p in paths)


def test_a_purge_removes_every_entry_whole_and_keeps_what_the_kind_keeps(cache: Path):
    plan = _plan(cache, Policy(purge=True))
    got = _planned(plan)
    assert "pkgs/alpha-1.0/" in got and "pkgs/alpha-1.0/info/" in got
    assert "pkgs/alpha-1.0/info/index.json" in got and "pkgs/beta-2.0/lib.so" in got
    assert "old.tar" in got
    assert "pkgs/" not in got
    assert not any(p.startswith("pinned") or p == "urls.txt" for p in got)
    assert plan.left["linked into an environment"] == [1, 7000]
    # children before their parents: a directory is emptied before it is removed
    order = [d.parts for d in plan.dirs]
    assert order.index(("pkgs", "alpha-1.0", "info")) < order.index(("pkgs", "alpha-1.0"))
    # beta's hardlinked library frees nothing; everything else planned frees its blocks
    pkgs = cache / "pkgs"
    freed = [
        pkgs / n / f for n in ("alpha-1.0", "gamma-3.0") for f in ("lib.so", "info/index.json")
    ]
    dirs = [pkgs / n / d for n in ("alpha-1.0", "beta-2.0", "gamma-3.0") for d in ("", "info")]
    expected = _disk(*freed, pkgs / "beta-2.0/info/index.json", cache / "old.tar", *dirs)
    assert plan.frees == expected


def test_selectors_pick_entries_by_package_pattern_age_and_size(cache: Path):
    assert {p for p in _planned(_plan(cache, Policy(packages=("gamma",)))) if p.endswith("/")} == {
        "pkgs/gamma-3.0/",
        "pkgs/gamma-3.0/info/",
    }
    assert "pkgs/beta-2.0/lib.so" in _planned(_plan(cache, Policy(patterns=("beta-2.*",))))
    aged = _planned(_plan(cache, Policy(older_than=7 * DAY)))
    assert "pkgs/alpha-1.0/lib.so" in aged and "pkgs/gamma-3.0/lib.so" in aged
    assert not any(p.startswith("pkgs/beta") for p in aged)
    junk = _planned(_plan(cache, Policy(junk=True)))
    assert junk == {"old.tar"}
    # over 60,000 bytes: the oldest entries go first until the cache fits
    sized = _plan(cache, Policy(max_size=60_000))
    assert {p for p in _planned(sized) if p.endswith("/") and p.count("/") == 2} == {
        "pkgs/alpha-1.0/"
    }
    assert sized.over_limit is None


@pytest.mark.skipif(os.geteuid() != 0, reason="needs root to give a file to another uid")
def test_an_entry_part_of_which_another_account_owns_is_left_whole(cache: Path):
    os.chown(cache / "pkgs" / "gamma-3.0" / "lib.so", 12399, 12399)
    plan = _plan(cache, Policy(purge=True))
    assert not any(p.startswith("pkgs/gamma-3.0") for p in _planned(plan))
    assert plan.left["part of an entry another account owns"] == [1, 5000]
    assert plan.left["owned by another account"] == [1, 20000]
