"""Issue 18 used as a new admin would, following README's "Policy", "Quarantine and restore",
"Running from a timer" and "Exit codes": what got in the way, each fixed (an error that names
no way on, a bad value taken, an answer that hides a problem, output that says too little)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from tests.conftest import Tree
from tests.test_clean import synthetic
from tests.test_quarantine import fc, quarantined

ROOT = os.geteuid() == 0
pytestmark = pytest.mark.skipif(not ROOT, reason="moves files as other uids: run as root (CI is)")


@pytest.fixture
def tree(open_tree: Tree) -> Tree:
    """A machine tree alice's child may traverse."""
    return open_tree


@pytest.fixture
def state(tmp_path: Path) -> dict[str, str]:
    """Where this test's audit log, locks and quarantine index go."""
    return {
        "log": str(tmp_path / "log" / "audit.log"),
        "locks": str(tmp_path / "locks"),
        "state": str(tmp_path / "state"),
    }


def test_quarantine_list_says_how_to_put_a_run_back(tree, state):
    _, run_id = quarantined(tree, state)
    code, out, _ = fc(tree, state, "quarantine", "list")
    assert code == 0 and f"To put it back: fleetcache restore {run_id}\n" in out, out


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
