"""The audit log's rotation (issue 16, item 12): the logrotate file the repository ships names the
log fleetcache writes, and what it leaves behind is a log fleetcache accepts (0600, root's, one
link); run for real by logrotate when it is installed."""

from __future__ import annotations

import json
import os
import re
import shutil
import stat
import subprocess
from pathlib import Path

import pytest

from fleetcache.clean.guard import SYSTEM_LOG
from fleetcache.cli import main
from tests.conftest import Tree, chown_tree

REPO = Path(__file__).resolve().parent.parent
SHIPPED = REPO / "scripts" / "logrotate" / "fleetcache"
ROOT = os.geteuid() == 0
ALICE = 12345


def directives() -> list[str]:
    """The shipped file's directives for the log, one per line, comments left out."""
    lines = [line.split("#")[0].strip() for line in SHIPPED.read_text().splitlines()]
    text = "\n".join(line for line in lines if line)
    head, brace, body = text.partition("{")
    assert brace and head.split() == [SYSTEM_LOG], head  # that log alone
    return body.rpartition("}")[0].split("\n")[1:]


def test_the_shipped_file_rotates_the_log_fleetcache_writes_as_fleetcache_wants_it():
    found = directives()
    # the new log as fleetcache makes it (it refuses any other mode or owner), and no copy and
    # truncate (lines written between the two are lost): each run opens the log anew
    assert "create 0600 root root" in found
    assert not any(d.startswith("copytruncate") for d in found)
    assert any(re.fullmatch(r"rotate \d+", d) for d in found)


@pytest.mark.skipif(not ROOT, reason="rotates a root-owned log: run as root (CI is)")
def test_logrotate_rotates_it_and_fleetcache_goes_on_logging(open_tree: Tree, tmp_path: Path):
    logrotate = shutil.which("logrotate") or shutil.which("logrotate", path="/usr/sbin:/sbin")
    if logrotate is None:
        pytest.skip("logrotate is not installed (apt-get install logrotate)")
    home = open_tree.user("alice", ALICE)
    (home / ".cache" / "pip" / "http-v2" / "a").mkdir(parents=True)
    (home / ".cache" / "pip" / "http-v2" / "a" / "x.body").write_bytes(b"x" * 100)
    chown_tree(home, ALICE)
    logs = tmp_path / "log"
    log = logs / "audit.log"
    conf = tmp_path / "logrotate.conf"
    conf.write_text(SHIPPED.read_text().replace(SYSTEM_LOG, str(log)))

    def dry_run() -> None:
        argv = ["clean", "--root", str(open_tree.root), "--user", "alice", "--dry-run", "--quiet",
                "--audit-log", str(log), "--lock-dir", str(tmp_path / "locks"), "-f", "json",
                "-o", str(tmp_path / "out.json")]  # fmt: skip
        assert main(argv) == 0

    dry_run()
    first = log.read_text()
    rotate = [logrotate, "--force", "--state", str(tmp_path / "state"), str(conf)]
    done = subprocess.run(rotate, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    rotated = sorted(p.name for p in logs.iterdir())
    assert rotated == ["audit.log", "audit.log.1"], rotated  # compressed from the next rotation
    assert (logs / "audit.log.1").read_text() == first
    st = log.stat()
    assert (st.st_uid, stat.S_IMODE(st.st_mode), st.st_size) == (0, 0o600, 0)
    dry_run()  # the new log is one fleetcache accepts
    (line,) = [json.loads(x) for x in log.read_text().splitlines()]
    assert line["outcome"] == "planned"
