"""The TOML reader for the tools' config files: an account's file is untrusted."""

from __future__ import annotations

from fleetcache import tomlfile


def test_a_valid_file_gives_its_table_and_a_string_at_a_path():
    table = tomlfile.loads(b'[tool.uv]\ncache-dir = "/scratch/uv"\nnative-tls = true\n')
    assert tomlfile.text(table, "tool", "uv", "cache-dir") == "/scratch/uv"
    assert tomlfile.text(table, "tool", "uv", "native-tls") is None
    assert tomlfile.text(table, "tool", "poetry", "name") is None


def test_anything_else_says_nothing():
    assert tomlfile.loads(None) is None
    assert tomlfile.loads(b"cache-dir = ") is None
    assert tomlfile.loads(b"\xff\xfe") is None
    assert tomlfile.loads(b"a = " + b"[" * 100_000) is None
    assert tomlfile.loads(b"#" * (tomlfile.LIMIT + 1)) is None
