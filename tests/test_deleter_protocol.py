"""Root's side of the deleting child's pipe: the child runs as the cache's owner, who may have
taken it over, so every line it sends is checked, and a child that will not stop is killed.
Real processes write the lines; nothing here needs root."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from typing import Any

import pytest

from fleetcache.clean import deleter
from fleetcache.clean.deleter import BATCH, UNKNOWN, _Parent
from fleetcache.clean.plan import CachePlan, DirPlan, FileItem
from fleetcache.model import CacheFigures

GARBAGE = "the deleting process sent garbage"


def plan(files: int = 3) -> CachePlan:
    d = DirPlan(("http-v2",), [FileItem(f"f{i}", i, i, 10, "purge") for i in range(files)], "empty")
    return CachePlan("/c", 12345, 1, [d], {(): 1}, CacheFigures())


def child(script: str, the_plan: CachePlan, deadline: float = 30.0) -> tuple[Any, list[Any]]:
    """Run ``script`` (Python, writing to stdout) as the child; (outcome, reports root took)."""
    p = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE)
    assert p.stdout is not None
    took: list[Any] = []
    try:
        parent = _Parent(p.pid, p.stdout.fileno(), the_plan, lambda *r: took.append(r))
        outcome = parent.run(time.monotonic() + deadline)
    finally:
        p.kill()
        p.stdout.close()
        p.wait()
    return outcome, took


def says(*lines: Any, then: str = "") -> str:
    text = "".join((x if isinstance(x, str) else json.dumps(x)) + "\n" for x in lines)
    return f"import sys, time; sys.stdout.write({text!r}); sys.stdout.flush(); {then}"


def test_a_well_behaved_child_is_taken_at_its_word():
    outcome, took = child(says(["ready"], [0, 0, ["deleted"] * 3, "deleted"], ["end"]), plan())
    assert outcome.finished and outcome.error is None
    assert took == [(0, 0, ["deleted"] * 3, "deleted")]


@pytest.mark.parametrize(
    "lines",
    [
        [[0, 0.0, ["deleted"], None]],  # 0.0 == 0, but it is no index
        [[0, False, ["deleted"], None]],  # nor is False
        [[0, 1, ["deleted"], None]],  # not where the last report ended
        [[1, 0, ["deleted"], None]],  # no such directory
        [[0, 0, ["deleted"] * 4, None]],  # more outcomes than files
        [[0, 0, [1, 2], None]],  # outcomes that are not words
        [[0, 0, ["deleted"], "deleted"]],  # the directory before its files
        [[0, 0, [], None]],  # a report of nothing
        ["[" * 100_000],  # nested deeper than json may go
        ["not json"],
        [{"index": 0}],
        [[0, 0, ["deleted"] * 3, "deleted"], ["end"], [0, 0, ["deleted"], None]],  # after the end
    ],
)
def test_whatever_a_hostile_child_sends_is_garbage_not_a_traceback(lines):
    outcome, took = child(says(["ready"], *lines), plan())
    assert outcome.error == GARBAGE, outcome
    assert len(took) <= 1


def test_nothing_is_taken_before_the_child_has_dropped_privileges():
    outcome, took = child(says([0, 0, ["deleted"] * 3, "deleted"]), plan())
    assert outcome.error == GARBAGE and took == []
    # it dies before saying "ready": it deleted nothing, so nothing is logged as unknown
    outcome, took = child("import os; os._exit(2)", plan())
    assert took == [] and outcome.error == "the deleting process ended with status 2"


def test_a_child_that_dies_mid_batch_leaves_that_batch_unknown():
    outcome, took = child(
        says(["ready"], [0, 0, ["deleted"] * BATCH, None], then="time.sleep(0.1)"), plan(200)
    )
    assert not outcome.finished
    assert took == [(0, 0, ["deleted"] * BATCH, None), (0, BATCH, [UNKNOWN] * BATCH, None)]


def test_an_endless_line_is_cut_off_and_its_writer_killed():
    script = says(
        ["ready"], then="sys.stdout.write('x' * (3 << 20)); sys.stdout.flush(); time.sleep(60)"
    )
    start = time.monotonic()
    outcome, took = child(script, plan())
    assert outcome.error == GARBAGE and time.monotonic() - start < 20
    assert took == [(0, 0, [UNKNOWN] * 3, UNKNOWN)]  # it had said it was ready: it may have


def test_a_child_that_ignores_the_deadline_is_killed_and_the_parent_does_not_spin(monkeypatch):
    monkeypatch.setattr(deleter, "GRACE", 0.5)
    script = says(["ready"], [0, 0, ["deleted"], None],
                  then="import signal; signal.signal(signal.SIGTERM, signal.SIG_IGN); time.sleep(60)")  # fmt: skip
    cpu, start = time.process_time(), time.monotonic()
    outcome, took = child(script, plan(), deadline=0.5)
    took_s, cpu_s = time.monotonic() - start, time.process_time() - cpu
    assert outcome.error == "stopped at the deadline; the rest is left", outcome
    assert took[0] == (0, 0, ["deleted"], None)
    assert took[1] == (0, 1, [UNKNOWN] * 2, UNKNOWN)  # killed mid-directory: the rest unknown
    assert took_s < 10 and cpu_s < 0.5  # it waited; it did not spin


def test_a_finished_child_is_not_called_late_at_the_deadline():
    outcome, _ = child(
        says(["ready"], [0, 0, ["deleted"] * 3, "deleted"], ["end"], then="time.sleep(1)"),
        plan(),
        deadline=0.3,
    )
    assert outcome.finished and outcome.error is None, outcome
