"""Accounts and their caches on a --root machine: other accounts' files, global files, links, platforms."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from fleetcache.discovery import accounts, pipconfig
from fleetcache.machine import Machine
from fleetcache.model import Account
from fleetcache.scan import Selection, resolve, scan
from tests.conftest import Tree

ROOT_ONLY = pytest.mark.skipif(os.geteuid() != 0, reason="gives files to other uids: needs root")


def caches_of(tree: Tree, name: str, **machine: object) -> dict[str, list[str]]:
    """path -> ["section or kind: commands"] for one account."""
    m = Machine(root=str(tree.root), **machine)  # type: ignore[arg-type]
    _, resolved = resolve(m, Selection(users=(name,)))
    out: dict[str, list[str]] = {}
    for use in resolved[0].uses:
        key = use.path if use.path is not None else "DISABLED"
        out.setdefault(key, []).append(f"{use.source.describe()}: {use.source.commands_phrase()}")
    return out


def test_passwd_and_login_defs_decide_who_is_human():
    text = "root:x:0:0::/root:/bin/sh\ndaemon:x:1:1::/usr/sbin:/usr/sbin/nologin\n" \
        "alice:x:1500:1500::/home/alice:/bin/bash\nnobody:x:65534:65534::/nonexistent:/x\n" \
        "broken line\nbob:x:notanumber:1::/home/bob:/bin/sh\n"  # fmt: skip
    low, high = accounts.uid_range("UID_MIN 1500\n# UID_MAX 9\n", "linux")
    found = accounts.parse_passwd(text, low, high)
    assert [(a.name, a.system) for a in found] == [
        ("root", False),
        ("daemon", True),
        ("alice", False),
        ("nobody", True),
    ]
    assert [a.name for a in accounts.select(found)] == ["root", "alice"]
    every = accounts.select(found, all_users=True, home_exists=lambda h: h == "/usr/sbin")
    assert [a.name for a in every] == ["root", "daemon", "alice"]
    with pytest.raises(accounts.UnknownUser, match="no such user: zed"):
        accounts.select(found, ["alice", "zed"])


def test_macos_default_uid_min_is_500():
    assert accounts.uid_range("", "darwin") == (500, 60000)
    assert accounts.uid_range("", "linux") == (1000, 60000)


def test_user_config_in_another_accounts_home(tree: Tree):
    tree.user("alice", 1000)
    tree.write("/home/alice/.config/pip/pip.conf", "[install]\ncache-dir = ~/big/pip\n", uid=1000)
    assert caches_of(tree, "alice") == {
        "/home/alice/.cache/pip": [
            "default location: cache, download, index, list, lock, search, uninstall, wheel"
        ],
        "/home/alice/big/pip": ["/home/alice/.config/pip/pip.conf [install]: install"],
    }


def test_global_file_in_the_tree_names_a_shared_cache_for_everyone(tree: Tree):
    tree.user("alice", 1000)
    tree.user("bob", 1001)
    tree.write("/etc/pip.conf", "[global]\ncache-dir = /srv/pip-cache\n")
    tree.write("/srv/pip-cache/http-v2/a/b/c/d/e/" + "a" * 56, b"cc=4,meta")
    tree.write("/srv/pip-cache/http-v2/a/b/c/d/e/" + "a" * 56 + ".body", b"body")
    result = scan(Machine(root=str(tree.root)))
    shared = [c for c in result.caches if c.location.path == "/srv/pip-cache"]
    assert len(shared) == 1
    assert shared[0].location.users == ("root", "alice", "bob")
    assert shared[0].owner == "root" and shared[0].skipped is None
    assert shared[0].figures.http_entries == 1


def test_tilde_user_expands_to_that_accounts_home(tree: Tree):
    tree.user("alice", 1000)
    tree.user("bob", 1001, home="/data/bob")
    tree.write("/home/alice/.pip/pip.conf", "[global]\ncache-dir=~bob/shared\n", uid=1000)
    assert list(caches_of(tree, "alice")) == ["/data/bob/shared"]


def test_relative_cache_dir_is_reported_not_guessed(tree: Tree):
    tree.user("alice", 1000)
    tree.write("/home/alice/.pip/pip.conf", "[wheel]\ncache-dir = rel/dir\n", uid=1000)
    _, resolved = resolve(Machine(root=str(tree.root)), Selection(users=("alice",)))
    assert "/home/alice/.cache/pip" in resolved[0].cache_paths
    assert len(resolved[0].cache_paths) == 1
    assert (
        "is relative: pip resolves it against its working directory"
        in resolved[0].problems[0].reason
    )


def test_no_cache_dir_is_shown_as_disabled(tree: Tree):
    tree.user("alice", 1000)
    tree.write("/home/alice/.config/pip/pip.conf", "[install]\nno-cache-dir = false\n", uid=1000)
    assert caches_of(tree, "alice")["DISABLED"] == [
        "/home/alice/.config/pip/pip.conf [install]: install"
    ]


def test_our_environment_applies_to_us_only_on_this_host(tree: Tree):
    tree.user("alice", 1000)
    env = {"PIP_CACHE_DIR": "/from/env", "XDG_CACHE_HOME": "/xdg"}
    # under --root nobody is "us": the running process's variables never leak into the machine
    assert list(caches_of(tree, "alice", env=env, current_uid=1000)) == ["/home/alice/.cache/pip"]


@ROOT_ONLY
def test_config_link_another_account_made_is_followed_as_the_accounts_pip_follows_it(tree: Tree):
    tree.user("alice", 1000)
    tree.user("mallory", 1002)
    tree.write("/home/mallory/evil.conf", "[global]\ncache-dir = /etc\n", uid=1002)
    link = tree.host("/home/alice/.config/pip/pip.conf")
    link.parent.mkdir(parents=True)
    link.symlink_to("/home/mallory/evil.conf")
    os.lchown(link, 1002, 1002)
    # alice's pip reads mallory's file: so does fleetcache, as alice (a clean then refuses
    # /etc: it is root's, not alice's)
    _, resolved = resolve(Machine(root=str(tree.root)), Selection(users=("alice",)))
    assert resolved[0].cache_paths == ("/etc",) and resolved[0].problems == ()


@ROOT_ONLY
def test_own_dotfile_link_is_followed_inside_the_root(tree: Tree):
    tree.user("alice", 1000)
    tree.write("/home/alice/dotfiles/pip.conf", "[global]\ncache-dir = /scratch/alice\n", uid=1000)
    link = tree.host("/home/alice/.config/pip/pip.conf")
    link.parent.mkdir(parents=True)
    link.symlink_to("/home/alice/dotfiles/pip.conf")  # absolute: resolved inside --root
    os.lchown(link, 1000, 1000)
    assert list(caches_of(tree, "alice")) == ["/scratch/alice"]


@ROOT_ONLY
def test_config_the_account_cannot_read_is_passed_over_as_pip_does(tree: Tree):
    tree.user("alice", 1000)
    secret = tree.write("/etc/xdg/pip/pip.conf", "[global]\ncache-dir = /secret\n")
    secret.chmod(0o600)
    assert list(caches_of(tree, "alice")) == ["/home/alice/.cache/pip"]
    assert list(caches_of(tree, "root")) == ["/secret"]


def test_macos_and_windows_locations():
    alice = Account("alice", 501, 20, "/Users/alice")
    mac = Machine(platform="darwin")
    assert pipconfig.default_cache_dir(alice.home, mac, {}) == (
        "/Users/alice/Library/Caches/pip",
        None,
    )
    files = pipconfig.config_files(alice.home, mac, {}, lambda _p: False)
    assert files.global_files == ("/Library/Application Support/pip/pip.conf",)
    assert files.user_files == ("/Users/alice/.pip/pip.conf", "/Users/alice/.config/pip/pip.conf")
    support = "/Users/alice/Library/Application Support/pip"
    files = pipconfig.config_files(alice.home, mac, {}, lambda p: p == support)
    assert files.user_files[1] == f"{support}/pip.conf"

    win = Machine(platform="win32")
    home = "C:\\Users\\alice"
    assert pipconfig.default_cache_dir(home, win, {}) == (
        "C:\\Users\\alice\\AppData\\Local\\pip\\Cache",
        None,
    )
    assert pipconfig.default_cache_dir(home, win, {"LOCALAPPDATA": "D:\\L"}) == (
        "D:\\L\\pip\\Cache",
        "LOCALAPPDATA",
    )
    files = pipconfig.config_files(home, win, {}, lambda _p: False)
    assert files.global_files == ("C:\\ProgramData\\pip\\pip.ini",)
    assert files.user_files == (
        "C:\\Users\\alice\\pip\\pip.ini",
        "C:\\Users\\alice\\AppData\\Roaming\\pip\\pip.ini",
    )


def test_linux_xdg_locations():
    linux = Machine(platform="linux")
    env = {"XDG_CONFIG_DIRS": "/a:/b", "XDG_CONFIG_HOME": "/cfg", "XDG_CACHE_HOME": " "}
    files = pipconfig.config_files("/home/x", linux, env, lambda _p: False)
    assert files.global_files == ("/a/pip/pip.conf", "/b/pip/pip.conf", "/etc/pip.conf")
    assert files.user_files == ("/home/x/.pip/pip.conf", "/cfg/pip/pip.conf")
    assert pipconfig.default_cache_dir("/home/x", linux, env) == ("/home/x/.cache/pip", None)


def test_search_finds_caches_by_layout_and_does_not_enter_them(tree: Tree):
    tree.write("/ci/runner/cache/pip/http-v2/1/2/3/4/5/" + "b" * 56, b"m")
    tree.write("/ci/runner/cache/pip/wheels/ab/cd/ef/" + "c" * 50 + "/x-1-py3-none-any.whl", b"w")
    tree.write("/ci/other/http/readme.txt", b"not a cache: http/ holds no hex dirs")
    tree.write("/ci/deep/a/b/wheels/0f/1e/2d/" + "d" * 50 + "/y-2-py3-none-any.whl", b"w")
    result = scan(Machine(root=str(tree.root)), Selection(search=("/ci",)))
    found = sorted(c.location.path for c in result.caches if c.location.sources[0].kind == "layout")
    assert found == ["/ci/deep/a/b", "/ci/runner/cache/pip"]


def test_search_path_that_is_missing_is_reported(tree: Tree, tmp_path: Path):
    result = scan(Machine(root=str(tree.root)), Selection(search=("/nowhere",)))
    assert [s.path for s in result.skipped] == ["/nowhere"]


@ROOT_ONLY
def test_account_database_links_resolve_inside_the_root(tree: Tree):
    real = tree.host("/usr/lib/passwd")
    real.parent.mkdir(parents=True)
    tree.host("/etc/passwd").rename(real)
    tree.host("/etc/passwd").symlink_to("/usr/lib/passwd")  # absolute: means the image's own file
    tree.passwd.append("imageuser:x:1500:1500::/home/imageuser:/bin/sh")
    real.write_text("\n".join(tree.passwd) + "\n")
    _, resolved = resolve(Machine(root=str(tree.root)), Selection())
    assert [r.account.name for r in resolved] == ["root", "imageuser"]
