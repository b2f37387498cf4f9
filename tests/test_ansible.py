"""The Ansible playbooks in scripts/ansible for real: ansible-core runs scan.yml and clean.yml
against an inventory of hosts on ansible_connection=local, each pointed at its own --root tree,
one of them broken. The merged CSV is checked row by row, the HTML page is there; check mode
deletes nothing."""

from __future__ import annotations

import csv
import hashlib
import json
import os
import subprocess
import sys
from pathlib import Path

import msgpack
import pytest

from tests.conftest import Tree, chown_tree

ANSIBLE = Path(sys.executable).parent / "ansible-playbook"
REPO = Path(__file__).resolve().parent.parent
PLAYBOOKS = REPO / "scripts" / "ansible"
ROOT = os.geteuid() == 0
pytestmark = pytest.mark.skipif(
    not ANSIBLE.exists(), reason="ansible-core (a test extra) is not installed for this Python"
)
KEYS = [hashlib.sha224(str(i).encode()).hexdigest() for i in range(6)]


PROJECTS = ("torch", "numpy", "scipy")


def headers(project: str) -> bytes:
    """An http-v2 entry's stored headers, naming the downloaded wheel's project."""
    named = {"x-pypi-file-project": project, "x-pypi-file-version": "1.0",
             "x-pypi-file-package-type": "bdist_wheel"}  # fmt: skip
    return b"cc=4," + bytes(msgpack.packb({"response": {"headers": named}, "vary": {}}))


def machine(tmp_path: Path, name: str, user: str, uid: int, entries: int) -> Tree:
    """A host's tree: one account whose cache holds ``entries`` http-v2 entries of 1000 bytes
    (headers and body), of torch, numpy, then scipy."""
    tree = Tree(tmp_path / name)
    tree.user(user, uid)
    for i, key in enumerate(KEYS[:entries]):
        leaf = f"/home/{user}/.cache/pip/http-v2/{'/'.join(key[:5])}/{key}"
        meta = headers(PROJECTS[i % len(PROJECTS)])
        tree.write(leaf, meta)
        tree.write(leaf + ".body", b"b" * (1000 - len(meta)))
    chown_tree(tree.host(f"/home/{user}"), uid)
    return tree


def files_below(top: Path) -> list[str]:
    return sorted(os.path.relpath(os.path.join(d, f), top) for d, _, fs in os.walk(top) for f in fs)


@pytest.fixture
def fleet(tmp_path: Path) -> dict[str, object]:
    """Three inventory hosts: web1 (alice, 2 entries), web2 (bob, 3 entries), broken (no
    fleetcache where the inventory says)."""
    web1 = machine(tmp_path, "web1", "alice", 2001, 2)
    web2 = machine(tmp_path, "web2", "bob", 2002, 3)
    state = tmp_path / "state"
    state.mkdir(mode=0o700)

    def clean_args(tree: Tree, user: str) -> list[str]:
        return ["--root", str(tree.root), "--user", user, "--audit-log",
                str(state / f"{user}.log"), "--lock-dir", str(state / "locks"),
                "--state-dir", str(state / "last")]  # fmt: skip

    inventory = {
        "all": {
            "vars": {
                "ansible_connection": "local",
                "ansible_python_interpreter": sys.executable,
                "fleetcache_venv": sys.prefix,
            },
            "hosts": {
                "web1": {"fleetcache_scan_args": ["--root", str(web1.root)],
                         "fleetcache_clean_args": clean_args(web1, "alice")},
                # web2's fleetcache is installed by the playbook, from wheels the controller builds
                "web2": {"fleetcache_scan_args": ["--root", str(web2.root)],
                         "fleetcache_clean_args": clean_args(web2, "bob"),
                         "fleetcache_source": str(REPO), "fleetcache_python": sys.executable,
                         "fleetcache_venv": str(tmp_path / "venv-web2")},
                "broken": {"fleetcache_venv": str(tmp_path / "nowhere"),
                           "fleetcache_scan_args": [], "fleetcache_clean_args": []},
            },
        }
    }  # fmt: skip
    path = tmp_path / "inventory.yml"
    path.write_text(json.dumps(inventory))  # JSON is YAML
    return {"inventory": path, "out": tmp_path / "out", "web1": web1, "web2": web2,
            "tmp": tmp_path}  # fmt: skip


def playbook(fleet: dict[str, object], name: str, *more: str) -> str:
    tmp = Path(str(fleet["tmp"]))
    (tmp / "home").mkdir(exist_ok=True)
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "HOME": str(tmp / "home"),
        "LC_ALL": "C.UTF-8",
        "ANSIBLE_LOCAL_TEMP": str(tmp / "ansible-local"),
        "ANSIBLE_REMOTE_TEMP": str(tmp / "ansible-remote"),
        "ANSIBLE_NOCOLOR": "1",
        "ANSIBLE_RETRY_FILES_ENABLED": "0",
        "ANSIBLE_LOCALHOST_WARNING": "0",
        "ANSIBLE_INVENTORY_UNPARSED_WARNING": "0",
    }
    r = subprocess.run(
        [str(ANSIBLE), "-i", str(fleet["inventory"]), str(PLAYBOOKS / name),
         "-e", json.dumps({"fleetcache_out": str(fleet["out"]), "fleetcache_batch": 1}), *more],
        capture_output=True, text=True, env=env, timeout=600,
    )  # fmt: skip
    assert r.returncode == 0, r.stdout[-4000:] + r.stderr[-2000:]
    return r.stdout


def test_scan_yml_merges_every_host_under_its_inventory_name(fleet):
    shown = playbook(fleet, "scan.yml")
    out = Path(str(fleet["out"]))
    assert sorted(p.name for p in (out / "reports").iterdir()) == ["web1.json", "web2.json"]
    with open(out / "fleet.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    got = [(r["host"], r["path"], r["http_files"], r["http_bytes"], r["skipped"][:12])
           for r in rows if r["exists"] == "true" or r["host"] == "broken"]  # fmt: skip
    assert got == [
        ("web1", "/home/alice/.cache/pip", "4", "2000", ""),
        ("web2", "/home/bob/.cache/pip", "6", "3000", ""),
        ("broken", "", "0", "0", "host failed:"),
    ]
    broken = next(r for r in rows if r["host"] == "broken")
    assert "no fleetcache in " in broken["skipped"]  # its error, not just "failed"
    installed = Path(str(fleet["tmp"])) / "venv-web2" / "bin" / "fleetcache"
    assert installed.exists() and any((out / "wheels").glob("fleetcache-*.whl"))
    doc = json.loads((out / "fleet.json").read_text())
    assert [h["host"] for h in doc["hosts"]] == ["web1", "web2", "broken"]
    assert doc["totals"]["http_bytes"] == 5000
    assert "broken: host failed:" in shown  # listed at the end of the play, not only in files
    page = (out / "fleet.html").read_text()  # the fleet as one page for people (issue 20)
    assert page.startswith("<!doctype html>") and "fleetcache merge of 3 hosts" in page
    tree = page.split('<script type="application/json" id="fleetcache-tree">')[1]
    nodes = json.loads(tree.split("</script>")[0])["nodes"]
    assert [nodes[i]["n"] for i in nodes[0]["c"]] == ["web2", "web1", "broken"]  # largest first
    # scanned with --packages: the page goes down to each cache's packages
    caches = {n["n"]: [nodes[i] for i in n["c"]] for n in nodes if n["l"] == "cache"}
    bob, alice = caches["/home/bob/.cache/pip"], caches["/home/alice/.cache/pip"]
    assert sorted(p["n"] for p in bob) == ["numpy", "scipy", "torch"]
    assert sorted(p["n"] for p in alice) == ["numpy", "torch"]
    assert {p["l"] for p in bob + alice} == {"package"}
    assert [len(c["packages"]) for c in doc["caches"] if c["exists"]] == [2, 3]


@pytest.mark.skipif(not ROOT, reason="cleans as other uids: run as root (CI is)")
def test_clean_yml_checks_first_then_cleans_in_batches_and_lists_what_to_look_at(fleet):
    web1, web2 = fleet["web1"], fleet["web2"]
    assert isinstance(web1, Tree) and isinstance(web2, Tree)
    alice = web1.host("/home/alice/.cache/pip")
    bob = web2.host("/home/bob/.cache/pip")
    os.lchown(bob, 2003, 2003)  # bob's cache is someone else's: refused, and listed at the end
    before = (files_below(alice), files_below(bob))
    out = Path(str(fleet["out"]))

    shown = playbook(fleet, "clean.yml", "--check")
    assert (files_below(alice), files_below(bob)) == before  # check mode deleted nothing
    planned = json.loads((out / "clean" / "web1.json").read_text())
    assert planned["dry_run"] is True and planned["caches"][0]["state"] == "planned"
    assert planned["caches"][0]["plan"]["files"] == 4
    assert shown.count("TASK [Check that fleetcache is there]") == 3  # serial: 1 host a batch

    shown = playbook(fleet, "clean.yml")
    assert files_below(alice) == [] and files_below(bob) == before[1]
    done = json.loads((out / "clean" / "web1.json").read_text())
    assert done["dry_run"] is False and done["caches"][0]["state"] == "cleaned"
    lines = [json.loads(x) for x in (out / "clean" / "web1-audit.jsonl").read_text().splitlines()]
    assert {x["run"] for x in lines} == {done["run_id"]}  # this run's lines, and all of them
    assert len([x for x in lines if x["action"] == "delete" and x["outcome"] == "deleted"]) == 4
    tail = shown[shown.index("PLAY [Hosts to look at]") : shown.index("PLAY RECAP")]
    assert "web2: /home/bob/.cache/pip: refused:" in tail
    assert "broken: FAILED:" in tail and "web1" not in tail
