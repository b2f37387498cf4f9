"""Cache resolution equals real pip 26.3's: every rule, and random configs, checked against pip's parser."""

from __future__ import annotations

import json
import os
import posixpath
import subprocess
import tempfile
from pathlib import Path
from typing import Callable, Optional

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from fleetcache.discovery import pipconfig
from fleetcache.machine import Machine
from fleetcache.model import CACHE_COMMANDS, Account

# pip's own parser, for each command: the cache_dir it ends with (False: disabled), or "error".
ORACLE = """
import json, sys
from pip._internal.commands import create_command
out = {}
for name in sys.argv[1:]:
    try:
        options, _ = create_command(name).parse_args([])
        out[name] = options.cache_dir
    except SystemExit:
        out[name] = "error"
print(json.dumps(out))
"""


def pip_decides(python: Path, env: dict[str, str]) -> dict[str, object]:
    out = subprocess.run(
        [str(python), "-c", ORACLE, *CACHE_COMMANDS],
        env=env,
        capture_output=True,
        text=True,
        check=True,
    )
    decided: dict[str, object] = json.loads(out.stdout)
    return {
        cmd: value if not isinstance(value, str) or value == "error" else posixpath.normpath(value)
        for cmd, value in decided.items()
    }


def we_decide(home: Path, env: dict[str, str]) -> dict[str, object]:
    uid = os.getuid()
    machine = Machine(root="/", env=env, current_uid=uid)
    account = Account("me", uid, os.getgid(), str(home))

    def read(path: str, _account: Account) -> Optional[bytes]:
        try:
            return Path(path).read_bytes()
        except FileNotFoundError:
            return None

    resolved = pipconfig.resolve(account, machine, read, lambda _n: None, os.path.isdir)
    decided: dict[str, object] = dict.fromkeys(CACHE_COMMANDS, "error")  # until a use names it
    for use in resolved.uses:
        for cmd in use.source.commands:
            # a stopped command's cache is listed (pip would use it once mended), marked
            decided[cmd] = "error" if use.source.stopped else use.path if use.path else False
    return decided


class World:
    """A home and a global config dir in a temp dir, and the environment pip runs in there."""

    def __init__(self, base: Path) -> None:
        self.base = base
        self.home = base / "home"
        self.home.mkdir()
        self.env = {
            "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
            "HOME": str(self.home),
            "XDG_CONFIG_DIRS": f"{base}/etc-a:{base}/etc-b",
        }

    def write(self, rel: str, text: str) -> Path:
        path = self.base / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
        return path

    def check(self, python: Path) -> dict[str, object]:
        theirs = pip_decides(python, self.env)
        ours = we_decide(self.home, self.env)
        assert ours == theirs
        return ours


@pytest.fixture
def world(tmp_path: Path) -> World:
    return World(tmp_path)


@pytest.fixture(scope="module")
def pip26(pip_python: Callable[[str], Path]) -> Path:
    return pip_python("26")


def test_default_is_home_cache(world, pip26):
    assert world.check(pip26)["install"] == f"{world.home}/.cache/pip"


def test_xdg_cache_home(world, pip26):
    world.env["XDG_CACHE_HOME"] = str(world.base / "xdg-cache")
    assert world.check(pip26)["cache"] == f"{world.base}/xdg-cache/pip"


def test_later_global_file_wins(world, pip26):
    world.write("etc-a/pip/pip.conf", "[global]\ncache-dir = /first\n")
    world.write("etc-b/pip/pip.conf", "[global]\ncache-dir = /second\n")
    assert world.check(pip26)["wheel"] == "/second"


def test_user_files_beat_global_and_new_beats_legacy(world, pip26):
    world.write("etc-a/pip/pip.conf", "[global]\ncache-dir = /global\n")
    world.write("home/.pip/pip.conf", "[global]\ncache-dir = /legacy\n")
    assert world.check(pip26)["install"] == "/legacy"
    world.write("home/.config/pip/pip.conf", "[global]\ncache-dir = /new\n")
    assert world.check(pip26)["install"] == "/new"


def test_xdg_config_home_moves_the_user_file(world, pip26):
    world.env["XDG_CONFIG_HOME"] = str(world.base / "cfg")
    world.write("home/.config/pip/pip.conf", "[global]\ncache-dir = /ignored\n")
    world.write("cfg/pip/pip.conf", "[global]\ncache-dir = /xdg\n")
    assert world.check(pip26)["cache"] == "/xdg"


def test_command_section_beats_global_for_that_command_only(world, pip26):
    world.write(
        "home/.config/pip/pip.conf", "[install]\ncache-dir = /inst\n[global]\ncache-dir = /g\n"
    )
    decided = world.check(pip26)
    assert (
        decided["install"] == "/inst" and decided["download"] == "/g" and decided["cache"] == "/g"
    )


@pytest.mark.parametrize("word", ["false", "no", "0", "off", "TRUE", "yes"])
def test_no_cache_dir_with_any_boolean_disables(world, pip26, word):
    world.write("home/.config/pip/pip.conf", f"[global]\nno-cache-dir = {word}\n")
    assert set(world.check(pip26).values()) == {False}


def test_no_cache_dir_in_global_beats_cache_dir_in_a_command(world, pip26):
    world.write(
        "home/.config/pip/pip.conf", "[global]\nno-cache-dir = false\n[wheel]\ncache-dir = /w\n"
    )
    assert world.check(pip26)["wheel"] is False


def test_invalid_no_cache_dir_stops_pip(world, pip26):
    world.write("home/.config/pip/pip.conf", "[install]\nno-cache-dir = maybe\n")
    assert world.check(pip26)["install"] == "error"


def test_broken_config_file_stops_pip(world, pip26):
    world.write("home/.config/pip/pip.conf", "cache-dir = /no/section\n")
    assert world.check(pip26)["cache"] == "error"


def test_empty_value_in_a_later_file_unsets(world, pip26):
    world.write("etc-a/pip/pip.conf", "[global]\ncache-dir = /global\n")
    world.write("home/.config/pip/pip.conf", "[global]\ncache-dir =\n")
    assert world.check(pip26)["install"] == f"{world.home}/.cache/pip"


def test_existing_pip_config_file_skips_user_files(world, pip26):
    world.write("home/.config/pip/pip.conf", "[global]\ncache-dir = /user\n")
    env_file = world.write("env.conf", "[download]\ncache-dir = /envfile\n")
    world.env["PIP_CONFIG_FILE"] = str(env_file)
    decided = world.check(pip26)
    assert decided["download"] == "/envfile" and decided["install"] == f"{world.home}/.cache/pip"


def test_missing_pip_config_file_keeps_user_files(world, pip26):
    world.write("home/.config/pip/pip.conf", "[global]\ncache-dir = /user\n")
    world.env["PIP_CONFIG_FILE"] = str(world.base / "absent.conf")
    assert world.check(pip26)["install"] == "/user"


def test_devnull_config_file_loads_nothing(world, pip26):
    world.write("etc-a/pip/pip.conf", "[global]\ncache-dir = /global\n")
    world.env["PIP_CONFIG_FILE"] = os.devnull
    assert world.check(pip26)["install"] == f"{world.home}/.cache/pip"


def test_variables_beat_files(world, pip26):
    world.write("home/.config/pip/pip.conf", "[install]\ncache-dir = /file\n")
    world.env["PIP_CACHE_DIR"] = "/from-env"
    assert world.check(pip26)["install"] == "/from-env"
    world.env["PIP_NO_CACHE_DIR"] = "off"
    assert world.check(pip26)["install"] is False


@pytest.mark.parametrize("key", ["cache_dir", "CACHE-DIR", "--cache-dir"])
def test_key_spellings_and_tilde(world, pip26, key):
    world.write("home/.config/pip/pip.conf", f"[global]\n{key} = ~/elsewhere/pip\n")
    assert world.check(pip26)["lock"] == f"{world.home}/elsewhere/pip"


def test_default_section_applies_everywhere(world, pip26):
    world.write("home/.config/pip/pip.conf", "[DEFAULT]\ncache-dir = /d\n[global]\n")
    assert world.check(pip26)["index"] == "/d"


# Random configs: every file and variable pip reads, every section and value kind that matters.
paths = st.sampled_from(["/c1", "/c2", "~/c3", ""])
booleans = st.sampled_from(["true", "false", "0", ""])
keys = st.sampled_from(["cache-dir", "cache_dir", "no-cache-dir"])
sections = st.sampled_from(["global", "install", "cache", "download", "wheel", "list"])
settings_st = st.lists(st.tuples(sections, keys, paths, booleans), max_size=4)
FILES = [
    "etc-a/pip/pip.conf",
    "etc-b/pip/pip.conf",
    "home/.pip/pip.conf",
    "home/.config/pip/pip.conf",
    "env.conf",
]


def render(entries: list[tuple[str, str, str, str]]) -> str:
    by_section: dict[str, list[str]] = {}
    for section, key, path, boolean in entries:
        value = boolean if "no-" in key else path
        by_section.setdefault(section, []).append(f"{key} = {value}")
    # a key given twice in one section is a parse error in pip too; keep the last
    text = []
    for section, lines in by_section.items():
        seen = {line.split(" = ")[0].replace("_", "-"): line for line in lines}
        text.append(f"[{section}]\n" + "\n".join(seen.values()))
    return "\n".join(text) + "\n"


@settings(
    max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    files=st.fixed_dictionaries({f: settings_st for f in FILES}),
    use_env_file=st.booleans(),
    env_cache=st.sampled_from([None, "/env-cache", ""]),
    env_no_cache=st.sampled_from([None, "1", "no"]),
)
def test_random_configs_resolve_as_pip_does(pip26, files, use_env_file, env_cache, env_no_cache):
    with tempfile.TemporaryDirectory() as tmp:
        world = World(Path(tmp))
        for rel, entries in files.items():
            if entries:
                world.write(rel, render(entries))
        if use_env_file:
            world.env["PIP_CONFIG_FILE"] = str(world.base / "env.conf")
        if env_cache is not None:
            world.env["PIP_CACHE_DIR"] = env_cache
        if env_no_cache is not None:
            world.env["PIP_NO_CACHE_DIR"] = env_no_cache
        world.check(pip26)
