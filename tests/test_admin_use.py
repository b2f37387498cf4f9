"""Issue 18 used as a new admin would, following README's "Policy", "Quarantine and restore",
"Running from a timer" and "Exit codes": what got in the way, each fixed (an error that names
no way on, a bad value taken, an answer that hides a problem, output that says too little)."""

from __future__ import annotations

import json
import os
import re
import shutil
from pathlib import Path

import pytest

from fleetcache.cli import main
from tests import test_quarantine
from tests.conftest import chown_tree, run_on_tty, unwrapped
from tests.test_clean import files_below, synthetic
from tests.test_policy_file import readme_policy_section
from tests.test_quarantine import fc, quarantined

ROOT = os.geteuid() == 0
pytestmark = pytest.mark.skipif(not ROOT, reason="moves files as other uids: run as root (CI is)")
POLICY = "/etc/fleetcache/policy.toml"
tree = test_quarantine.tree  # the quarantine tests' fixtures: a tree, its state directories
state = test_quarantine.state


def test_quarantine_list_says_how_to_put_a_run_back(tree, state):
    _, run_id = quarantined(tree, state)
    code, out, _ = fc(tree, state, "quarantine", "list")
    assert code == 0 and f"To put it back: fleetcache restore {run_id}\n" in out, out


def test_quarantine_list_json_says_its_times_as_every_document_does(tree, state):
    """`quarantine list --format json` gave `created` and `expires` as Unix seconds, where
    `clean --format json` (its `quarantine.expires`) and every other document say ISO 8601."""
    quarantined(tree, state)
    code, out, _ = fc(tree, state, "quarantine", "list", "--format", "json")
    assert code == 0
    (run,) = json.loads(out)["runs"]
    times = [run["created"], run["expires"], run["caches"][0]["expires"]]
    assert all(re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", str(t)) for t in times), times


@pytest.mark.parametrize("verb", [("quarantine", "list"), ("quarantine", "purge", "--all")])
def test_a_state_dir_that_is_a_file_is_an_error_not_no_runs(tree, state, capsys, verb):
    """`--state-dir` naming a file (a typo): "no quarantine runs" and exit 0 would tell the
    admin that nothing is kept, when the runs are elsewhere."""
    synthetic(tree)
    Path(state["state"]).parent.mkdir(parents=True, exist_ok=True)
    Path(state["state"]).write_text("")
    code, out, _ = fc(tree, state, *verb)
    err = capsys.readouterr().err
    assert code == 1 and "is not a directory" in err, (code, out, err)
    assert "no quarantine runs" not in out and "nothing to purge" not in out


@pytest.mark.parametrize("age", ["0", "0d", "0s"])
def test_a_quarantine_of_no_time_is_a_usage_error(tree, state, capsys, age):
    """`--quarantine 0` took the files aside in a run already expired: kept for nobody, and left
    on the disk until the next clean. It is refused, as `quarantine = "0d"` in a policy is."""
    cache = synthetic(tree)
    before = files_below(cache)
    code, _, _ = fc(tree, state, "clean", "--user", "alice", f"--quarantine={age}")
    err = capsys.readouterr().err
    assert code == 2 and "keeps nothing" in err and "Traceback" not in err, err
    assert files_below(cache) == before
    policy = tree.write(POLICY, f'older_than = "1d"\nquarantine = "{age}"\n')
    policy.chmod(0o644)
    code = main(["policy", "check", str(policy), "--root", str(tree.root)])
    err = capsys.readouterr().err
    assert code == 2 and f"{policy}:2: quarantine: '{age}' keeps nothing" in err, err


def test_policy_show_fits_80_columns(tree, capsys):
    """`policy show` on README's example: its "=> clean:" lines ran to 119 columns, the heading
    past 80, and a value longer than 16 (kinds = pip, uv, conda, poetry) pushed its origin out
    of the column. Every line now fits, as every table's line does (but the file's path, whole
    on a line of its own), the values in one column."""
    section = readme_policy_section()
    example = section.split("```toml\n", 1)[1].split("```", 1)[0]
    tree.user("alice", 12345)
    tree.user("bob", 12346)
    tree.user("ci-build", 12347)
    tree.write("/etc/group", "students:x:2001:alice\nstaff:x:2000:bob\n")
    tree.write(POLICY, example).chmod(0o644)
    code = main(["policy", "show", "--root", str(tree.root)])
    out = capsys.readouterr().out
    assert code == 0
    path, *lines = out.splitlines()
    assert path == f"# {tree.host(POLICY)}"  # whole, on its own line: what one copies
    assert max(len(line) for line in lines) <= 80, out
    origins = {line.index("policy.toml:") for line in lines if line.startswith("  ")
               and not line.startswith("  =>") and "policy.toml:" in line}  # fmt: skip
    assert len(origins) == 1, out


@pytest.mark.parametrize(
    "text, rule",
    [
        ('older_than = "30d"\n[[rule]]\nname = "students"\nusers = ["al*"]\nolder_than = "1d"\n',
         'rule policy.toml:2 [[rule]] "students"'),
        ('older_than = "1d"\n', "no rule: the defaults"),
    ],
)  # fmt: skip
def test_the_plan_under_a_policy_names_the_rule_each_cache_is_planned_under(
    tree, state, capsys, text, rule
):
    """`clean --policy --dry-run` listed each cache's values but not which rule gave them: the
    admin had to run `policy show` beside it to tell. The plan and the JSON name it now."""
    synthetic(tree)
    tree.write(POLICY, text).chmod(0o644)
    code, out, _ = fc(tree, state, "clean", "--policy", "--dry-run")
    assert code == 0, capsys.readouterr().err
    assert f"  /home/alice/.cache/pip: {rule}: older than 1d" in unwrapped(out), out
    code, out, _ = fc(tree, state, "clean", "--policy", "--dry-run", "--format", "json")
    (alice,) = [c for c in json.loads(out)["caches"] if c["user"] == "alice"]
    assert alice["rule"] == rule and alice["policy"].startswith("older than 1d")


def test_a_quarantine_clean_says_it_freed_nothing_and_what_it_moved(tree, state):
    """A clean into a quarantine said `cleaned`, FREED 1.7 kB and DELETED 16, its HTML page
    `Deleted: 1.7 kB`, and the state file (the `fleetcache_last_clean_freed_bytes` gauge) the
    same: nothing was freed (README: a quarantine frees nothing until it expires). The table
    says `quarantined`, 0 B freed and 0 deleted, and the note under it what moved where."""
    synthetic(tree)
    code, out, _ = fc(tree, state, "clean", "--user", "alice", "--quarantine", "--wide")
    assert code == 0
    (row,) = [line.split() for line in out.splitlines() if line.startswith("/home/alice/")]
    assert row[2:] == ["quarantined", "1.7", "kB", "0", "B", "0", "B", "0", "0"], out
    assert "\n  /home/alice/.cache/pip: 16 files, 1.7 kB -> /home/alice/" in out, out
    last = json.loads((Path(state["state"]) / "last-clean.json").read_text())["accounts"]
    assert last["alice"]["freed_bytes"] == 0, last
    code, _, _ = fc(tree, state, "restore", out.split("fleetcache restore ")[1][:32])
    assert code == 0
    code, page, _ = fc(tree, state, "clean", "--user", "alice", "--quarantine", "-f", "html")
    assert code == 0 and "Moved into the quarantine (nothing freed until it expires)" in page
    assert "Deleted:" not in page


@pytest.mark.parametrize("verb", ["restore", "purge"])
def test_an_unknown_run_is_an_error_that_says_where_to_look(tree, state, capsys, verb):
    """`restore RUN_ID` of a run not kept (a typo, another --state-dir) said only that it was
    not there; the error now names the directory looked in and how to see the runs."""
    synthetic(tree)
    argv = ("restore",) if verb == "restore" else ("quarantine", "purge")
    code, _, _ = fc(tree, state, *argv, "0" * 32)
    err = capsys.readouterr().err
    assert code == 2 and f"no quarantine run {'0' * 32} in {state['state']}/quarantine" in err
    assert "fleetcache quarantine list shows the runs kept there" in err, err


@pytest.mark.parametrize("argv", [("clean", "--policy", "--dry-run"), ("policy", "show")])
def test_a_missing_policy_says_what_to_do(tree, state, capsys, argv):
    """The first thing a new admin meets, `clean --policy` before writing the file: "cannot
    read: No such file or directory" alone; now it says to write one, or to name another."""
    synthetic(tree)
    args = [*argv, "--root", str(tree.root)]
    if argv[0] == "clean":
        args += ["--state-dir", state["state"], "--audit-log", state["log"]]
    code = main(args)
    err = capsys.readouterr().err
    assert code == 2 and err.count("\n") == 1, err
    assert "name another with --policy FILE" in err and "README" in err, err


@pytest.mark.parametrize("verb", [("quarantine", "list"), ("quarantine", "purge", "--all")])
def test_an_unknown_user_is_a_usage_error_not_no_runs(tree, state, capsys, verb):
    """`quarantine list --user alcie` said "no quarantine runs", exit 0, as if alice had none
    (README's exit codes: an unknown user is exit 2, as for scan)."""
    quarantined(tree, state)
    code, out, _ = fc(tree, state, *verb, "--user", "alcie")
    err = capsys.readouterr().err
    assert code == 2 and "no such user: alcie" in err, (code, out, err)
    code, out, _ = fc(tree, state, "quarantine", "list", "--user", "alice")
    assert code == 0 and "alice   pip" in out, out  # a real account, and its run, still shown


def test_the_html_page_of_a_policy_clean_names_an_excluded_cache_once(tree, state):
    """The page's "Not cleaned" insight said `excluded: excluded by policy.toml:...`."""
    synthetic(tree)
    tree.write(POLICY, '[[rule]]\nname = "staff"\nusers = ["alice"]\nexclude = true\n').chmod(0o644)
    code, page, _ = fc(tree, state, "clean", "--policy", "--dry-run", "--format", "html")
    assert code == 0 and "/home/alice/.cache/pip: excluded by policy.toml:1" in page, page
    assert "excluded: excluded" not in page


def test_the_plan_of_a_quarantine_says_where_the_files_go_and_that_they_free_nothing_yet(
    tree, state
):
    """`clean --quarantine 3d --dry-run` showed the plan of a delete (FREES, as if freed now)
    and nothing of the quarantine but `quarantined for 3d` in its title: not where the files
    would go, nor that they take their space until the run expires, nor how to have them back."""
    synthetic(tree)
    code, out, _ = fc(tree, state, "clean", "--user", "alice", "--quarantine", "3d", "--dry-run")
    said = unwrapped(out)
    assert code == 0
    assert (
        "Quarantined, not deleted (FREES is freed once it expires; until then `fleetcache "
        "restore RUN_ID` puts it back):" in said
    ), out
    place = "/home/alice/.cache/.fleetcache-quarantine/RUN_ID/pip"
    assert f"  /home/alice/.cache/pip: for 3d -> {place}" in said, out
    code, out, _ = fc(tree, state, "clean", "--user", "alice", "--dry-run")
    assert code == 0 and "Quarantined" not in out  # a delete says nothing of it


def test_a_restore_refuses_an_index_others_may_write_as_list_and_purge_do(tree, state, capsys):
    """`quarantine list` and `purge` refused an index directory others may write to, but
    `restore RUN_ID` read the run from it all the same: a run planted there says what is moved
    back where, as whom. And a --state-dir that is a file is said as for list."""
    cache, run_id = quarantined(tree, state)
    index = Path(state["state"]) / "quarantine"
    index.chmod(0o770)
    code, _, _ = fc(tree, state, "restore", run_id)
    err = capsys.readouterr().err
    assert code == 1 and f"{index} is not a private directory" in err, (code, err)
    assert files_below(cache) == []  # nothing came back
    index.chmod(0o700)
    Path(state["state"] + "-file").write_text("")
    state = {**state, "state": state["state"] + "-file"}
    code, _, _ = fc(tree, state, "restore", run_id)
    err = capsys.readouterr().err
    assert code == 1 and f"{state['state']} is not a directory" in err, (code, err)


def test_policy_show_json_has_a_schema_version_as_every_document(tree, capsys):
    """`policy show --format json` was the one document without `schema_version` and
    `command`: a script could not tell which document, or which version of it, it read."""
    tree.user("alice", 12345)
    tree.write(POLICY, 'older_than = "30d"\n').chmod(0o644)
    code = main(["policy", "show", "--root", str(tree.root), "--format", "json"])
    doc = json.loads(capsys.readouterr().out)
    assert code == 0 and (doc["schema_version"], doc["command"]) == (1, "policy show"), doc


def test_a_state_is_never_shortened_to_fit_80_columns(tree, state):
    """Every clean under a policy has caches with `nothing to do`: its outcome table showed
    them as `not…ng to do` (a state shortened as a name is), when the path could give way."""
    synthetic(tree)
    code, out, _ = fc(tree, state, "clean", "--user", "alice", "--older-than", "3650d")
    assert code == 0
    (row,) = [line for line in out.splitlines() if "alice  " in line]
    assert "  nothing to do  " in row and len(row) <= 80, out


def test_one_file_is_said_as_one_file_and_a_dry_run_as_one(tree, state, capsys):
    """A run left with one file (its place taken at the restore) was `1 files` to purge; a
    restore's dry run said `not restored:` of that file, as if it had tried."""
    cache, run_id = quarantined(tree, state)
    taken = files_below(tree.host(f"/home/alice/.cache/.fleetcache-quarantine/{run_id}/pip"))[0]
    (cache / taken).parent.mkdir(parents=True, exist_ok=True)
    (cache / taken).write_bytes(b"new")
    chown_tree(cache, 12345)
    code, _, _ = fc(tree, state, "restore", run_id, "--dry-run")
    err = capsys.readouterr().err  # a dry run said `not restored:` as if it had tried
    assert code == 3 and f"would not be restored: /home/alice/.cache/pip/{taken}: " in err, err
    code, _, _ = fc(tree, state, "restore", run_id)
    assert code == 3
    capsys.readouterr()
    code, _, _ = fc(tree, state, "quarantine", "purge", "--all", "--dry-run")
    out = capsys.readouterr().out
    assert code == 0 and f"would purge run {run_id}: /home/alice/.cache/pip: 1 file (" in out, out


def test_the_question_says_what_is_deleted_and_what_is_moved_aside(tree, state):
    """A policy that quarantines alice's files and deletes bob's (a rule's quarantine = false)
    asked `Delete 16 files ... from 2 caches?`: the admin could not tell that half would stay."""
    cache = synthetic(tree)
    tree.user("bob", 12346)
    shutil.copytree(cache, tree.host("/home/bob/.cache/pip"), symlinks=True)
    chown_tree(tree.host("/home/bob/.cache"), 12346)
    tree.write(
        POLICY,
        'quarantine = "2d"\nkeep = ["zeta"]\n[[rule]]\nusers = ["bob"]\nquarantine = false\n',
    )
    tree.host(POLICY).chmod(0o644)
    argv = ("clean", "--root", str(tree.root), "--policy", "--quiet", "--audit-log", state["log"],
            "--lock-dir", state["locks"], "--state-dir", state["state"])  # fmt: skip
    code, shown = run_on_tty(*argv, answer=b"n\n")
    asked = "Delete 16 files (1.7 kB) and quarantine 16 files (1.7 kB) from 2 caches? [y/N]"
    assert code == 0 and asked in shown, shown


def test_quarantine_list_takes_no_audit_log_it_would_never_write(capsys):
    """`quarantine list --help` offered `--audit-log PATH: append the JSON-lines audit log
    here`, and took it, though a listing writes nothing."""
    with pytest.raises(SystemExit):
        main(["quarantine", "list", "--help"])
    assert "--audit-log" not in capsys.readouterr().out
    for verb in (["quarantine", "purge"], ["restore"]):  # they do write one
        with pytest.raises(SystemExit):
            main([*verb, "--help"])
        assert "--audit-log" in capsys.readouterr().out


def test_the_json_of_a_policy_clean_does_not_call_it_a_purge(tree, state):
    """Under --policy with no selector on the command line, the document's `policy` (the
    command line's) said `purge: true`: a script reading it thought every cache was purged."""
    synthetic(tree)
    tree.write(POLICY, 'older_than = "30d"\n').chmod(0o644)
    code, out, _ = fc(tree, state, "clean", "--policy", "--dry-run", "--format", "json")
    doc = json.loads(out)
    assert code == 0 and doc["policy"]["purge"] is False, doc["policy"]
    code, out, _ = fc(tree, state, "clean", "--policy", "--purge", "--dry-run", "-f", "json")
    assert code == 0 and json.loads(out)["policy"]["purge"] is True
    code, out, _ = fc(tree, state, "clean", "--user", "alice", "--dry-run", "--format", "json")
    assert code == 0 and json.loads(out)["policy"]["purge"] is True  # a bare clean is a purge


def test_quarantine_list_of_one_account_says_how_to_restore_only_its_caches(tree, state):
    """`quarantine list --user alice` showed alice's part of a run that holds bob's cache too,
    and its restore line must not put bob's back as well."""
    cache = synthetic(tree)
    tree.user("bob", 12346)
    shutil.copytree(cache, tree.host("/home/bob/.cache/pip"), symlinks=True)
    chown_tree(tree.host("/home/bob/.cache"), 12346)
    code, out, _ = fc(tree, state, "clean", "--user", "alice", "--user", "bob", "--quarantine")
    found = re.search(r"fleetcache restore\s+([0-9a-f]{32})", out)
    assert code == 0 and found, out
    run_id = found.group(1)
    code, out, _ = fc(tree, state, "quarantine", "list", "--user", "alice")
    assert code == 0 and f"To put it back: fleetcache restore {run_id} --user alice\n" in out, out
    code, out, _ = fc(tree, state, "quarantine", "list")
    assert code == 0 and f"To put it back: fleetcache restore {run_id}\n" in out, out
