"""`fleetcache clean --policy` (issue 18) on real caches: each account's caches planned under
its own rule (one excluded, one keeping packages, one held to a size over all its caches, pip's
and uv's together), the command line overriding the policy, a policy that removes everything
asking for --yes twice, and a policy another account could write refused before anything goes."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import Tree, chown_tree, fill_cache, pip_env
from tests.test_clean import BASE, FLEETCACHE_IMPORTS, copy_of_pip, portable
from tests.test_kind_uv import copy_home, filled, uv_bin  # noqa: F401 (fixtures)

ROOT = os.geteuid() == 0
pytestmark = [
    pytest.mark.root,
    pytest.mark.skipif(not ROOT, reason="cleans as other uids: run as root (CI is)"),
]
ALICE, BOB, CAROL = 12345, 12346, 12347
POLICY = "/etc/fleetcache/policy.toml"
DAY = 86400.0


@pytest.fixture(scope="session")
def pip_filled(pip_python, index_url) -> Iterator[Path]:
    """A real pip cache, filled once: alpha's wheel downloaded, beta and gamma built."""
    top = Path(tempfile.mkdtemp(prefix="fleetcache-pipcache-"))
    fill_cache(pip_python("26"), top / "cache", index_url, "alpha", "beta", "gamma", work=top / "w")
    yield top / "cache"
    shutil.rmtree(top, ignore_errors=True)


def give(cache: Path, tree: Tree, home: str, uid: int, age: float | None = None) -> Path:
    """A copy of the filled pip cache as the account's default one, last used ``age`` ago."""
    target = tree.host(home) / ".cache" / "pip"
    target.parent.mkdir(parents=True, exist_ok=True)
    shutil.copytree(cache, target, symlinks=True)
    chown_tree(tree.host(home) / ".cache", uid)
    if age is not None:
        age_tree(target, age)
    return target


def age_tree(top: Path, age: float) -> None:
    """Every file and directory below ``top`` last read and written ``age`` seconds ago."""
    when = time.time() - age
    for dirpath, dirnames, filenames in os.walk(top):
        for name in filenames + dirnames:
            os.utime(os.path.join(dirpath, name), (when, when), follow_symlinks=False)
    os.utime(top, (when, when))


def files(top: Path) -> set[str]:
    return {str(p.relative_to(top)) for p in top.rglob("*") if p.is_file() and not p.is_symlink()}


def size(top: Path) -> int:
    seen = {}
    for p in top.rglob("*"):
        if p.is_file() and not p.is_symlink():
            st = p.lstat()
            seen[st.st_ino] = st.st_size
    return sum(seen.values())


def policy(tree: Tree, text: str) -> Path:
    path = tree.write(POLICY, text)
    path.chmod(0o644)
    return path


def clean(tree: Tree, tmp_path: Path, *more: str) -> tuple[int, dict[str, Any], str]:
    """A real clean in its own process: exit code, JSON document, stderr."""
    argv = [sys.executable, "-m", "fleetcache", "clean", "--root", str(tree.root), "--audit-log",
            str(tmp_path / "audit.log"), "--lock-dir", str(tmp_path / "locks"), "--state-dir",
            str(tmp_path / "state"), *more, "--format", "json"]  # fmt: skip
    result = subprocess.run(argv, capture_output=True, text=True)
    assert "Traceback" not in result.stderr, result.stderr
    doc = json.loads(result.stdout) if result.stdout else {}
    return result.returncode, doc, result.stderr


def by_user(doc: dict[str, Any]) -> dict[tuple[str, str], dict[str, Any]]:
    return {(c["user"], c["kind"]): c for c in doc["caches"] if c["state"] != "missing"}


def pip_list(pip_python: Any, cache: Path) -> str:
    """`pip cache list` as the cache's owner (pip disables a cache root does not own), with a
    copy of pip the owner may import."""
    if not os.path.exists(BASE):
        pytest.skip(f"{BASE} is missing: pip must run as the account")
    copy = cache.parents[4] / "pip-copy"  # beside the machine's tree, not in it
    if not copy.exists():
        copy_of_pip(pip_python("26"), copy)
    uid = cache.stat().st_uid
    result = subprocess.run(
        [BASE, "-m", "pip", "cache", "list", "--cache-dir", str(cache)], cwd="/",
        env=pip_env(Path("/nonexistent"), PYTHONPATH=str(copy)), capture_output=True, text=True,
        user=uid, group=uid, extra_groups=[],
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    return result.stdout


@pytest.fixture
def machine(open_tree: Tree) -> Tree:
    open_tree.user("alice", ALICE)
    open_tree.user("bob", BOB)
    open_tree.user("carol", CAROL)
    open_tree.write("/etc/group", f"alice:x:{ALICE}:\nbob:x:{BOB}:\ncarol:x:{CAROL}:\n"
                    f"staff:x:2001:bob\n")  # fmt: skip
    return open_tree


def test_each_account_is_cleaned_under_its_own_rule_and_an_excluded_one_is_left(
    machine, tmp_path, pip_filled, pip_python
):
    """Without --user, root's clean --policy takes every account the policy covers: alice's
    old cache goes by the default age, carol's newer one stays, bob (staff) is excluded."""
    alice = give(pip_filled, machine, "/home/alice", ALICE, age=10 * DAY)
    bob = give(pip_filled, machine, "/home/bob", BOB, age=10 * DAY)
    carol = give(pip_filled, machine, "/home/carol", CAROL, age=2 * DAY)
    before_bob = files(bob)
    policy(machine, 'older_than = "5d"\n\n[[rule]]\nname = "staff"\ngroups = ["staff"]\n'
           "exclude = true\n")  # fmt: skip
    code, doc, err = clean(machine, tmp_path, "--policy", "--yes", "--kind", "pip")
    assert code == 0, err
    got = by_user(doc)
    assert got[("alice", "pip")]["state"] == "cleaned"
    assert got[("alice", "pip")]["policy"] == "older than 5d"
    assert got[("bob", "pip")]["state"] == "excluded"
    assert got[("bob", "pip")]["reason"] == 'excluded by policy.toml:3 [[rule]] "staff"'
    assert got[("carol", "pip")]["state"] == "nothing to do"
    assert doc["policy_file"] == {
        "path": str(machine.host(POLICY)), "overridden": ["--kind"], "accounts_over_limit": {}
    }  # fmt: skip
    assert not any(p.startswith(("http-v2/", "wheels/")) for p in files(alice))
    assert files(bob) == before_bob
    assert "beta" in pip_list(pip_python, carol)
    # the accounts' last cleans: bob, whom the policy leaves alone, has none to show
    last = json.loads((tmp_path / "state" / "last-clean.json").read_text())["accounts"]
    assert "alice" in last and "bob" not in last


def test_keep_spares_its_packages_in_pip_and_uv_caches_and_says_why(
    machine,
    tmp_path,
    pip_filled,
    pip_python,
    filled,  # noqa: F811
):
    """A purge under keep = ["beta"]: beta's built wheel stays in pip's cache (pip still lists
    it) and beta's entries in uv's cache; everything else goes; the plan says why they stay."""
    copy_home(filled, machine)
    pip = give(pip_filled, machine, "/home/alice", ALICE)
    uv = machine.host("/home/alice/.cache/uv")
    policy(machine, 'keep = ["beta"]\n')
    code, doc, err = clean(machine, tmp_path, "--policy", "--yes", "--user", "alice")
    assert code == 0, err
    got = by_user(doc)
    for kind in ("pip", "uv"):
        assert got[("alice", kind)]["state"] == "cleaned"
        assert "kept by policy: beta" in got[("alice", kind)]["plan"]["left"], kind
    listed = pip_list(pip_python, pip)
    assert "beta" in listed and "gamma" not in listed
    left = files(uv)
    assert any("beta" in p for p in left)
    assert not any("gamma" in p or "alpha" in p for p in left if "/" in p and "archive" not in p)


@pytest.mark.parametrize("older", ["pip", "uv"])
def test_an_account_max_size_removes_the_oldest_across_all_its_caches(
    machine,
    tmp_path,
    pip_filled,
    filled,  # noqa: F811
    older,
):
    """One of alice's caches was last used 20 days ago, the other yesterday; a limit for the
    account that the newer one alone meets: the older one loses entries, oldest first, until
    the account fits; the newer one is left whole (a limit per cache would clean neither)."""
    copy_home(filled, machine)
    caches = {"uv": machine.host("/home/alice/.cache/uv")}
    caches["pip"] = give(pip_filled, machine, "/home/alice", ALICE)
    newer = "uv" if older == "pip" else "pip"
    age_tree(caches[older], 20 * DAY)
    age_tree(caches[newer], DAY)
    kept, limit = files(caches[newer]), size(caches[newer]) + 2000
    assert size(caches[older]) > 4000 and limit > 2000  # the older must lose entries to fit
    assert max(size(caches["uv"]), size(caches["pip"])) < limit + size(caches[older])
    policy(machine, f"max_size = {limit}\n")
    code, doc, err = clean(machine, tmp_path, "--policy", "--yes", "--user", "alice")
    assert code == 0, err
    got = by_user(doc)
    assert got[("alice", newer)]["state"] == "nothing to do"
    assert got[("alice", older)]["state"] == "cleaned"
    assert got[("alice", older)]["policy"] == (
        f"until the account's caches are at most {limit} bytes"
    )
    why = got[("alice", older)]["plan"]["why"]
    assert "least recently used first, over the account's size limit" in why
    assert set(why) <= {"least recently used first, over the account's size limit", "empty directory",
                        "no wheel left in its directory (as pip removes it)"}, why  # fmt: skip
    assert files(caches[newer]) == kept
    assert size(caches["pip"]) + size(caches["uv"]) <= limit


def test_the_command_line_overrides_the_policy_and_the_plan_says_so(machine, tmp_path, pip_filled):
    alice = give(pip_filled, machine, "/home/alice", ALICE, age=10 * DAY)
    before = files(alice)
    policy(machine, 'older_than = "5d"\n')
    code, doc, err = clean(machine, tmp_path, "--policy", "--yes", "--user", "alice",
                           "--older-than", "30d")  # fmt: skip
    assert code == 0, err
    assert by_user(doc)[("alice", "pip")]["state"] == "nothing to do"
    assert by_user(doc)[("alice", "pip")]["policy"] == "older than 30d"
    assert doc["policy_file"]["overridden"] == ["--older-than"]
    assert files(alice) == before
    result = subprocess.run(
        [sys.executable, "-m", "fleetcache", "clean", "--root", str(machine.root), "--policy",
         "--user", "alice", "--older-than", "30d", "--dry-run", "--lock-dir", str(tmp_path / "l"),
         "--audit-log", str(tmp_path / "a.log")],
        capture_output=True, text=True,
    )  # fmt: skip
    said = " ".join(result.stdout.split())  # the title is wrapped at 80 columns
    assert f"Plan: policy {machine.host(POLICY)}; the command line overrides --older-than" in said
    assert (
        "Policy of each cache: /home/alice/.cache/pip: no rule: the defaults: older than 30d"
        in said
    )


def test_a_policy_that_removes_everything_of_everyone_needs_yes_twice(
    machine, tmp_path, pip_filled
):
    alice = give(pip_filled, machine, "/home/alice", ALICE)
    before = files(alice)
    policy(machine, "quarantine = false\n")
    code, doc, err = clean(machine, tmp_path, "--policy", "--yes")
    assert (code, doc) == (2, {})
    assert err == (
        "fleetcache: error: the policy removes everything from every cache of every account "
        "it covers: give --yes twice to mean it\n"
    )
    assert files(alice) == before
    code, doc, err = clean(machine, tmp_path, "--policy", "--yes", "--yes", "--kind", "pip")
    assert code == 0, err
    assert by_user(doc)[("alice", "pip")]["state"] == "cleaned"
    assert not any(p.startswith(("http-v2/", "wheels/")) for p in files(alice))


def test_a_policy_alice_may_write_cannot_make_root_clean_bobs_cache(machine, tmp_path, pip_filled):
    """alice owns the policy file: she excludes herself and purges the others. Refused."""
    bob = give(pip_filled, machine, "/home/bob", BOB)
    before = files(bob)
    path = policy(machine, '[[rule]]\nusers = ["alice"]\nexclude = true\n')
    os.chown(path, ALICE, ALICE)
    code, doc, err = clean(machine, tmp_path, "--policy", "--yes", "--yes")
    assert (code, doc) == (2, {})
    assert err.startswith(f"fleetcache: error: {path}: refused: it belongs to uid {ALICE}")
    assert files(bob) == before


def test_kinds_a_rule_leaves_out_are_excluded_and_a_rule_without_age_or_size_purges(
    machine,
    tmp_path,
    pip_filled,
    filled,  # noqa: F811
):
    """students clean only uv: alice's pip cache is shown as excluded, by the line that says
    so; her uv cache, with neither older_than nor max_size for her, is purged."""
    copy_home(filled, machine)
    pip = give(pip_filled, machine, "/home/alice", ALICE)
    before = files(pip)
    machine.write("/etc/group", f"alice:x:{ALICE}:\nbob:x:{BOB}:\ncarol:x:{CAROL}:\n"
                  "students:x:2000:alice\n")  # fmt: skip
    policy(machine, '[[rule]]\ngroups = ["students"]\nkinds = ["uv"]\n')
    code, doc, err = clean(machine, tmp_path, "--policy", "--yes", "--user", "alice")
    assert code == 0, err
    got = by_user(doc)
    assert got[("alice", "pip")]["state"] == "excluded"
    assert got[("alice", "pip")]["reason"] == "excluded: kinds = uv (policy.toml:3 [[rule]] #1)"
    assert files(pip) == before
    assert got[("alice", "uv")]["state"] == "cleaned"
    assert got[("alice", "uv")]["policy"] == "purge"
    assert not files(machine.host("/home/alice/.cache/uv")) - {
        ".lock",
        "CACHEDIR.TAG",
        ".gitignore",
    }


def test_an_account_that_cannot_get_under_its_max_size_is_named_with_how_far_over(
    machine, tmp_path, pip_filled
):
    """keep spares beta, max_size is 1 byte: everything else goes, and the plan says by how
    much alice's caches stay over (what beta keeps), not silently."""
    pip = give(pip_filled, machine, "/home/alice", ALICE, age=DAY)
    policy(machine, 'max_size = 1\nkeep = ["beta"]\n')
    code, doc, err = clean(machine, tmp_path, "--policy", "--yes", "--user", "alice")
    assert code == 0, err
    assert doc["policy_file"]["accounts_over_limit"] == {"alice": size(pip) - 1}
    assert size(pip) > 0
    result = subprocess.run(
        [sys.executable, "-m", "fleetcache", "clean", "--root", str(machine.root), "--policy",
         "--user", "alice", "--dry-run", "--bytes", "--lock-dir", str(tmp_path / "l"),
         "--audit-log", str(tmp_path / "a.log")],
        capture_output=True, text=True,
    )  # fmt: skip
    said = " ".join(result.stdout.split())
    assert (
        f"Cannot get under an account's max_size: alice: {size(pip) - 1} over the account's "
        "max_size once all its policy may remove is gone"
    ) in said, result.stdout


def test_unprivileged_a_policy_cleans_only_ones_own_caches_and_may_be_ones_own_file(
    machine, tmp_path, pip_filled
):
    """alice (not root) runs clean --policy: only her caches are planned, never bob's; she may
    check a policy file of her own, not bob's."""
    if not os.path.exists(BASE):
        pytest.skip(f"{BASE} is missing: fleetcache must run as alice")
    same = f"import sys; sys.exit(sys.version_info[:2] != {tuple(sys.version_info[:2])})"
    if subprocess.run([BASE, "-c", same]).returncode:
        pytest.skip(f"{BASE} is not Python {sys.version_info[0]}.{sys.version_info[1]}")
    lib = portable(sys.executable, FLEETCACHE_IMPORTS, machine.root.parent / "lib")
    give(pip_filled, machine, "/home/alice", ALICE)
    bob = give(pip_filled, machine, "/home/bob", BOB)
    before = files(bob)
    policy(machine, 'keep = ["beta"]\n')
    work = machine.root.parent / "alice-work"
    work.mkdir()
    os.chown(work, ALICE, ALICE)

    def as_alice(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [BASE, "-m", "fleetcache", *args], user=ALICE, group=ALICE, extra_groups=[], cwd="/",
            env={"PATH": "/usr/bin:/bin", "PYTHONPATH": str(lib), "HOME": str(work)},
            capture_output=True, text=True,
        )  # fmt: skip

    r = as_alice("clean", "--root", str(machine.root), "--policy", "--yes", "--format", "json",
                 "--audit-log", f"{work}/audit.log", "--lock-dir", f"{work}/locks",
                 "--state-dir", f"{work}/state", "--kind", "pip")  # fmt: skip
    assert r.returncode == 0, r.stderr
    doc = json.loads(r.stdout)
    assert {(c["user"], c["state"]) for c in doc["caches"]} == {("alice", "cleaned")}
    assert files(bob) == before
    mine = work / "policy.toml"
    mine.write_text('older_than = "1d"\n')
    os.chown(mine, ALICE, ALICE)
    r = as_alice("policy", "check", str(mine), "--root", str(machine.root))
    assert r.returncode == 0, r.stderr
    os.chown(mine, BOB, BOB)
    r = as_alice("policy", "check", str(mine), "--root", str(machine.root))
    assert r.returncode == 2
    assert r.stderr == (
        f"fleetcache: error: {mine}: refused: it belongs to uid {BOB}; a policy must be root's\n"
    )


def test_a_policys_quarantine_moves_an_accounts_files_aside_and_a_rule_may_delete_instead(
    machine, tmp_path, pip_filled
):
    """``quarantine = "7d"`` in the defaults moves alice's old entries beside her cache (same
    inodes, nothing deleted); bob's rule says ``quarantine = false``: his go for good; the run's
    record lists alice's cache alone, and the plan says each cache's quarantine."""
    alice = give(pip_filled, machine, "/home/alice", ALICE, age=10 * DAY)
    bob = give(pip_filled, machine, "/home/bob", BOB, age=10 * DAY)
    inodes = {p: (alice / p).stat().st_ino for p in files(alice)}
    policy(machine, 'older_than = "5d"\nquarantine = "7d"\n\n[[rule]]\nname = "staff"\n'
           'groups = ["staff"]\nquarantine = false\n')  # fmt: skip
    code, doc, err = clean(machine, tmp_path, "--policy", "--yes", "--kind", "pip",
                           "--user", "alice", "--user", "bob")  # fmt: skip
    assert code == 0, err
    got = by_user(doc)
    assert got[("alice", "pip")]["policy"] == "older than 5d, quarantined for 1w"
    assert got[("bob", "pip")]["policy"] == "older than 5d"
    assert got[("alice", "pip")]["quarantine"] is not None
    assert got[("bob", "pip")]["quarantine"] is None
    assert not any(p.startswith(("http-v2/", "wheels/")) for p in files(alice) | files(bob))
    held = alice.parent / ".fleetcache-quarantine" / doc["run_id"] / "pip"
    moved = {p: (held / p).stat().st_ino for p in files(held)}
    assert moved and moved == {p: i for p, i in inodes.items() if p in moved}
    assert not (bob.parent / ".fleetcache-quarantine").exists()
    listed = subprocess.run(
        [sys.executable, "-m", "fleetcache", "quarantine", "list", "--root", str(machine.root),
         "--state-dir", str(tmp_path / "state"), "--format", "json"],
        capture_output=True, text=True,
    )  # fmt: skip
    assert listed.returncode == 0, listed.stderr
    assert [c["user"] for r in json.loads(listed.stdout)["runs"] for c in r["caches"]] == ["alice"]
