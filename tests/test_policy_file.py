"""The policy file (issue 18): parsed with every problem named by file, line and key, refused
when another account could have written it, and `policy show` saying for each account which rule
applies and where each value comes from."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest

from fleetcache.cli import main
from tests.conftest import Tree

ROOT = os.geteuid() == 0
pytestmark = [
    pytest.mark.root,
    pytest.mark.skipif(not ROOT, reason="policy files owned by other uids: run as root (CI is)"),
]
ALICE, BOB, CAROL, DAVE = 12345, 12346, 12347, 12348
STUDENTS, STAFF = 2000, 2001
POLICY = "/etc/fleetcache/policy.toml"

GOOD = """\
older_than = "30d"
max_size = "10G"
keep = ["NumPy", "*.tar.gz"]
quarantine = "7d"

[[rule]]
name = "staff"
groups = ["staff"]
exclude = true

[[rule]]
name = "students"
groups = ["stud*"]
older_than = "7d"
kinds = ["pip", "uv"]

[[rule]]
users = ["alice"]
older_than = "1d"
"""


@pytest.fixture
def machine(tree: Tree) -> Tree:
    """alice (students by membership), bob (staff, and students: staff comes first), carol
    (students as her primary group), dave (no rule)."""
    tree.user("alice", ALICE)
    tree.user("bob", BOB)
    tree.passwd.append(f"carol:x:{CAROL}:{STUDENTS}::/home/carol:/bin/bash")
    tree.user("dave", DAVE)
    tree.write(
        "/etc/group",
        f"root:x:0:\nalice:x:{ALICE}:\nbob:x:{BOB}:\ndave:x:{DAVE}:\n"
        f"students:x:{STUDENTS}:alice,bob\nstaff:x:{STAFF}:bob\n",
    )
    return tree


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def check(capsys: pytest.CaptureFixture[str], tree: Tree, text: str) -> tuple[int, str, str]:
    path = tree.write(POLICY, text)
    path.chmod(0o644)
    return run(capsys, "policy", "check", str(path), "--root", str(tree.root))


def test_a_good_policy_checks_with_a_summary(machine, capsys):
    code, out, err = check(capsys, machine, GOOD)
    f = machine.host(POLICY)
    assert (code, err) == (0, f"fleetcache: warning: {f}:17: [[rule]] #3: never applies: every "
                           "account it matches is matched by an earlier rule\n")  # fmt: skip
    assert out == f"{machine.host(POLICY)}: ok: 3 rules, 5 accounts covered (1 excluded)\n"


BAD = """\
older_tahn = "30d"
max_size = "10 gigs"
kinds = ["pip", "npm"]
keep = "numpy"
quarantine = true

[defaults]
older_than = "1d"

[[rule]]
name = "teachers"
groups = ["teach[ers"]
exclude = "yes"

[[rule]]
users = ["alice"]
older_than = 5.5
max_sise = "1G"
keep = ["ok", "a/b"]

[[rule]]
name = "ghosts"
users = ["nobody-*"]

[[rule]]
name = "everyone"
"""


def test_every_problem_is_named_by_file_line_and_key_and_exits_2(machine, capsys):
    code, out, err = check(capsys, machine, BAD)
    f = machine.host(POLICY)
    assert (code, out) == (2, "")
    assert err.splitlines() == [
        f'fleetcache: error: {f}:1: older_tahn: unknown key (did you mean "older_than"?)',
        f"fleetcache: error: {f}:2: max_size: '10 gigs' is not a size: a number and k, M, G, T "
        "(decimal) or KiB, MiB, GiB, TiB (binary): 500M, 10G, 2GiB",
        f"fleetcache: error: {f}:3: kinds: unknown kind 'npm': one of pip, uv, conda, rattler, "
        "poetry, pdm, pipenv, virtualenv, hatch, pip-tools",
        f"fleetcache: error: {f}:4: keep: must be a list of strings (package names or "
        "file-name globs)",
        f'fleetcache: error: {f}:5: quarantine: must be a duration such as "7d", or false',
        f"fleetcache: error: {f}:7: defaults: unknown key",
        f"fleetcache: error: {f}:12: [[rule]] \"teachers\": groups: 'teach[ers': an unclosed '[' "
        "in the glob",
        f'fleetcache: error: {f}:13: [[rule]] "teachers": exclude: must be true or false',
        f'fleetcache: error: {f}:17: [[rule]] #2: older_than: must be a duration such as "30d"',
        f'fleetcache: error: {f}:18: [[rule]] #2: max_sise: unknown key (did you mean "max_size"?)',
        f"fleetcache: error: {f}:19: [[rule]] #2: keep: 'a/b': a glob of names, without '/'",
        f'fleetcache: error: {f}:21: [[rule]] "ghosts": users/groups: matches no account on '
        "this machine",
        f'fleetcache: error: {f}:25: [[rule]] "everyone": users: give users or groups (for '
        "everyone, set the top-level defaults)",
    ]


@pytest.mark.parametrize(
    ("text", "said"),
    [
        ('older_than = "30d"\nkeep = ["a" "b"]\n', ":2:13: not valid TOML: Unclosed array"),
        ("rule = 1\n", ":1: rule: use [[rule]] tables"),
        (b"older_than = '\xff'\n", ": not UTF-8 text (byte 14)"),
        ("# " + "x" * (1 << 20) + "\n", ": too large ("),
        ('older_than = "30 days"\n', ":1: older_than: '30 days' is not a duration"),
        ("max_size = -1\n", ":1: max_size: '-1' is not a size"),
        ("kinds = []\n", ":1: kinds: an empty list"),
        ('[[rule]]\nusers = "alice"\n', ':2: [[rule]] #1: users: must be a list of strings'),
        ('[[rule]]\nname = 3\nusers = ["alice"]\n', ":2: [[rule]] #1: name: must be a string"),
        ('[[rule]]\nusers = ["alice"]\nexclud = true\n', ':3: [[rule]] #1: exclud: unknown key '
         '(did you mean "exclude"?)'),
        ('# inline\nrule = [{users = ["alice"], older_than = "x"}]\n', ":2: [[rule]] #1: "
         "older_than: 'x' is not a duration"),
    ],
)  # fmt: skip
def test_each_kind_of_bad_file_is_one_line_and_exit_2(machine, capsys, text, said):
    path = machine.write(POLICY, text)
    path.chmod(0o644)
    code, out, err = run(capsys, "policy", "check", str(path), "--root", str(machine.root))
    assert (code, out) == (2, "")
    assert err.startswith(f"fleetcache: error: {path}{said}"), err
    assert "Traceback" not in err


def test_a_missing_policy_is_an_error_naming_it(machine, capsys):
    code, _, err = run(capsys, "policy", "check", "--root", str(machine.root))
    assert code == 2
    assert (
        err == f"fleetcache: error: {machine.host(POLICY)}: cannot read: No such file or directory "
        '(write one as README\'s "Policy" shows, or name another with --policy FILE)\n'
    )


def move_to(path: Path, uid: int) -> None:
    os.chown(path, uid, uid)


@pytest.mark.parametrize(
    "attack",
    ["file of alice", "group-writable file", "world-writable file", "directory of alice",
     "world-writable directory", "link into alice's home"],
)  # fmt: skip
def test_a_policy_another_account_may_write_is_refused(machine, capsys, attack):
    """Whoever may write the policy decides what root deletes: alice writes one that purges
    everyone's caches but hers; fleetcache refuses to read it."""
    text = '[[rule]]\nusers = ["alice"]\nexclude = true\n'
    path = machine.write(POLICY, text)
    path.chmod(0o644)
    said = {
        "file of alice": "it belongs to uid 12345",
        "group-writable file": "it may be written by group or others (mode 664)",
        "world-writable file": "it may be written by group or others (mode 646)",
        "directory of alice": f"{path.parent} belongs to uid 12345",
        "world-writable directory": f"{path.parent} may be written by group or others (mode 777)",
        "link into alice's home": f"{machine.host('/home/alice')} belongs to uid 12345",
    }[attack]
    if attack == "file of alice":
        move_to(path, ALICE)
    elif attack == "group-writable file":
        path.chmod(0o664)
    elif attack == "world-writable file":
        path.chmod(0o646)
    elif attack == "directory of alice":
        move_to(path.parent, ALICE)
    elif attack == "world-writable directory":
        path.parent.chmod(0o777)
    else:
        mine = machine.write("/home/alice/policy.toml", text)
        mine.chmod(0o644)  # root's file, but in a directory alice may rename things in
        path.unlink()
        path.symlink_to(mine)
    code, out, err = run(capsys, "policy", "show", "--root", str(machine.root))
    assert (code, out) == (2, "")
    assert err.startswith(f"fleetcache: error: {path}: refused: {said}"), err


def test_show_says_which_rule_applies_to_each_account_and_where_each_value_comes_from(
    machine, capsys
):
    check(capsys, machine, GOOD)
    code, out, err = run(capsys, "policy", "show", "--root", str(machine.root))
    assert (code, err) == (0, "")
    f = machine.host(POLICY)
    assert (
        out
        == f"""\
# {f}
# the first [[rule]] that matches applies

root (uid 0; groups root): no rule: the defaults
  older_than  30d              policy.toml:1 (default)
  max_size    10 GB            policy.toml:2 (default)
  kinds       all              built-in
  keep        numpy, *.tar.gz  policy.toml:3 (default)
  quarantine  1w               policy.toml:4 (default)
  => clean: older than 30d, until the account's caches are at most 10 GB, keep
      numpy, keep *.tar.gz, quarantined for 1w

alice (uid 12345; groups alice, students): rule policy.toml:11 [[rule]]
    "students"
  (also matches policy.toml:17 [[rule]] #3: the first applies)
  older_than  1w               policy.toml:14 [[rule]] "students"
  max_size    10 GB            policy.toml:2 (default)
  kinds       pip, uv          policy.toml:15 [[rule]] "students"
  keep        numpy, *.tar.gz  policy.toml:3 (default)
  quarantine  1w               policy.toml:4 (default)
  => clean: older than 1w, until the account's caches are at most 10 GB, keep
      numpy, keep *.tar.gz, quarantined for 1w

bob (uid 12346; groups bob, students, staff): EXCLUDED by rule policy.toml:6
    [[rule]] "staff"
  (also matches policy.toml:11 [[rule]] "students": the first applies)

carol (uid 12347; groups students): rule policy.toml:11 [[rule]] "students"
  older_than  1w               policy.toml:14 [[rule]] "students"
  max_size    10 GB            policy.toml:2 (default)
  kinds       pip, uv          policy.toml:15 [[rule]] "students"
  keep        numpy, *.tar.gz  policy.toml:3 (default)
  quarantine  1w               policy.toml:4 (default)
  => clean: older than 1w, until the account's caches are at most 10 GB, keep
      numpy, keep *.tar.gz, quarantined for 1w

dave (uid 12348; groups dave): no rule: the defaults
  older_than  30d              policy.toml:1 (default)
  max_size    10 GB            policy.toml:2 (default)
  kinds       all              built-in
  keep        numpy, *.tar.gz  policy.toml:3 (default)
  quarantine  1w               policy.toml:4 (default)
  => clean: older than 30d, until the account's caches are at most 10 GB, keep
      numpy, keep *.tar.gz, quarantined for 1w
"""
    )


def test_show_json_for_one_user(machine, capsys):
    check(capsys, machine, GOOD)
    code, out, _ = run(capsys, "policy", "show", "--root", str(machine.root), "--user", "carol",
                       "--format", "json")  # fmt: skip
    assert code == 0
    doc: dict[str, Any] = json.loads(out)
    (carol,) = doc["accounts"]
    assert carol["rule"] == 'policy.toml:11 [[rule]] "students"'
    assert carol["groups"] == ["students"]
    assert carol["also_matches"] == []
    assert carol["settings"]["older_than"] == {
        "value": 7 * 86400, "text": "1w", "from": 'policy.toml:14 [[rule]] "students"'
    }  # fmt: skip
    assert carol["settings"]["kinds"]["value"] == ["pip", "uv"]
    assert carol["settings"]["quarantine"]["from"] == "policy.toml:4 (default)"
    assert doc["removes_everything"] is False


def test_check_warns_of_a_policy_that_removes_everything_of_everyone(machine, capsys):
    code, out, err = check(capsys, machine, 'quarantine = "7d"\n')
    assert "ok: 0 rules" in out
    assert code == 0
    assert "--yes twice" in err and err.startswith("fleetcache: warning: this policy removes")


def readme_policy_section() -> str:
    readme = (Path(__file__).resolve().parent.parent / "README.md").read_text()
    return readme.split("\n## Policy\n", 1)[1].split("\n## ", 1)[0]


def test_the_readmes_example_checks_and_shows_as_the_readme_says(tree, capsys):
    """The README's annotated policy cannot rot: `policy check` passes it on a machine with
    the accounts it names, and `policy show` prints what the README shows."""
    section = readme_policy_section()
    example = section.split("```toml\n", 1)[1].split("```", 1)[0]
    shown = section.split("like `systemd-analyze cat-config`:\n\n```\n", 1)[1].split("```", 1)[0]
    tree.user("alice", ALICE)
    tree.user("bob", BOB)
    tree.user("ci-build", CAROL)
    tree.write("/etc/group", f"students:x:{STUDENTS}:alice\nstaff:x:{STAFF}:bob\n"
               f"alice:x:{ALICE}:\nbob:x:{BOB}:\n")  # fmt: skip
    code, out, err = check(capsys, tree, example)
    assert (code, err) == (0, ""), err
    assert out.endswith(": ok: 3 rules, 4 accounts covered (1 excluded)\n")
    code, out, err = run(capsys, "policy", "show", "--root", str(tree.root), "--user", "alice",
                         "--user", "bob")  # fmt: skip
    assert code == 0, err
    assert out.split("\n\n", 1)[1] == shown  # after the heading (wrapped where the path is long)
