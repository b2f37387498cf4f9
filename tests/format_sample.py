"""A fixed scan, report and entries: the same input for every format's exact-output test."""

from __future__ import annotations

from dataclasses import replace

from fleetcache.model import (
    CACHE_COMMANDS,
    Account,
    AccountCaches,
    Activity,
    CacheEntry,
    CacheFigures,
    CacheLocation,
    CacheResult,
    CacheSource,
    CacheUse,
    Environment,
    PipUser,
    ProcessUse,
    ScanResult,
    Skipped,
)
from fleetcache.report.views import VIEWS, build

T = 1795300000.0  # 2026-11-21T22:26:40Z
SOURCE = CacheSource("default", "alice", CACHE_COMMANDS)
CACHE = "/home/alice/.cache/pip"
FIGURES = CacheFigures(
    http_files=4,
    http_bytes=23513,
    wheel_files=1,
    wheel_bytes=1134,
    total_files=6,
    total_bytes=24647,
    dirs=12,
    disk_bytes=77824,  # 12 directories and 6 files of 4 kB blocks, one file linked from a venv
    reclaimable_bytes=73728,
    shared_bytes=4096,
    http_v2_files=4,
    http_v2_bytes=23513,
    http_entries=2,
    wheel_entries=1,
    orphan_files=1,
    orphan_bytes=120,
    oldest_mtime=T - 86400 * 40,
    newest_mtime=T - 3600,
    age_basis="atime",
)
USE = ProcessUse(
    4242,
    1000,
    "alice",
    "python app.py",
    "runs /home/alice/proj/.venv/bin/python",
    environment="/home/alice/proj/.venv",
)
ENV = Environment(
    prefix="/home/alice/proj/.venv",
    kind="venv",
    role="environment",
    owner_uid=1000,
    owner="alice",
    python_version="3.11.2",
    version_from="pyvenv.cfg",
    pip_version="23.0.1",
    interpreter="/home/alice/proj/.venv/bin/python",
    base_interpreter="/usr/bin/python3.11",
    project="/home/alice/proj",
    marker="pyvenv.cfg",
    found_by=("home walk",),
    caches=(CacheUse(CACHE, SOURCE),),
    size_bytes=1234567,
    files=321,
    last_modified=T - 7200,
    activity=(USE,),
    activity_checked=True,
)
RESULT = ScanResult(
    host="box",
    generated_at=T,
    root="/",
    accounts=(
        AccountCaches(Account("alice", 1000, 1000, "/home/alice"), (CacheUse(CACHE, SOURCE),)),
    ),
    caches=(
        CacheResult(
            CacheLocation(CACHE, (SOURCE,), frozenset({1000})),
            True,
            1000,
            "alice",
            FIGURES,
            environments=(ENV.prefix,),
            busy_reasons=(USE,),
            busy_checked=True,
            pips=(PipUser(ENV.prefix, "23.0.1", True),),
            problems=(
                "a clean would refuse it: /home is writable by group staff (gid 50),"
                " not only by root or the owner",
            ),
        ),
    ),
    skipped=(),
    environments=(ENV,),
    activity=Activity(50, 40, 0),
)
KEY = "9c1bffdb47554aaae39ee2dba009fe44710b9b7845758dbb9f0c8fa0"
ENTRIES = [
    CacheEntry(
        CACHE,
        f"http-v2/9/c/1/b/f/{KEY}",
        "http-v2",
        "wheel",
        "alpha",
        "2.0",
        "wheel contents",
        2,
        21178,
        T - 3600,
    ),
    CacheEntry(
        CACHE,
        f"http-v2/3/b/7/f/f/3b7f{KEY[4:]}",
        "http-v2",
        "wheel",
        "alpha",
        "1.0",
        "headers",
        2,
        3500,
        T - 86400 * 40,
    ),
    CacheEntry(
        CACHE,
        "wheels/58/37/2e/" + "6b" * 25 + "/beta-1.0-py3-none-any.whl",
        "wheels",
        "built wheel",
        "beta",
        "1.0",
        "file name",
        1,
        874,
        T - 86400 * 400,
    ),
    CacheEntry(
        CACHE,
        f"http-v2/0/0/0/0/0/0000{KEY[4:]}",
        "http-v2",
        "unknown",
        None,
        None,
        "",
        1,
        120,
        T - 86400,
        complete=False,
    ),
]
REPORT = build("package", RESULT, ENTRIES)
FOUND = [("alice", e) for e in ENTRIES]

# the same shapes at hostile lengths (issue 16 item 7): every table still fits 80 columns
LONG_USER = "dr.maximilian.schneider-hartmann"  # 32 characters: the longest Linux name
HUGE_USER = "svc-" + "build-agent-" * 6 + "x"  # a passwd entry under --root can be longer
LONG_HOME = f"/home/{LONG_USER}"
LONG_CACHE = f"{LONG_HOME}/projects/2024/data-science/shared-configuration/pip-download-cache"
LONG_CONF = f"{LONG_HOME}/.config/pip/pip.conf"
LONG_ENV = f"{LONG_HOME}/.virtualenvs/analytics-pipeline-with-a-rather-descriptive-name"
LONG_PROJECT = "an-unusually-long-distribution-name-for-wrapping"
LONG_VERSION = "2024.10.15.post1.dev3+gabcdef1234"
LONG_SOURCE = CacheSource("config", LONG_USER, CACHE_COMMANDS, LONG_CONF, "install")
LONG_USE = ProcessUse(
    4243,
    1001,
    LONG_USER,
    f"{LONG_ENV}/bin/python -m analytics.pipeline.run --config {LONG_HOME}/etc/production.yaml",
    f"runs {LONG_ENV}/bin/python",
    environment=LONG_ENV,
)
LONG_ENVS = (
    replace(
        ENV,
        prefix=LONG_ENV,
        kind="virtualenvwrapper",
        owner=LONG_USER,
        owner_uid=1001,
        python_version="3.10.13",
        interpreter=f"{LONG_ENV}/bin/python",
        base_interpreter="/opt/python/3.10.13/bin/python3.10",
        found_by=("virtualenvwrapper", "home walk"),
        caches=(CacheUse(LONG_CACHE, LONG_SOURCE),),
        size_bytes=123456789012,
        activity=(LONG_USE,),
    ),
    replace(
        ENV,
        prefix=f"/opt/conda/envs/{'nightly-' * 6}build",
        kind="conda",
        owner=HUGE_USER,
        owner_uid=1002,
        python_version="3.12.10rc2verylongbuildtag",
        interpreter=f"/opt/conda/envs/{'nightly-' * 6}build/bin/python",
        activity=(),
    ),
)
LONG_RESULT = replace(
    RESULT,
    host="build-server-17.analytics.example.internal",
    accounts=(
        *RESULT.accounts,
        AccountCaches(
            Account(LONG_USER, 1001, 1001, LONG_HOME), (CacheUse(LONG_CACHE, LONG_SOURCE),)
        ),
    ),
    caches=(
        *RESULT.caches,
        CacheResult(
            CacheLocation(LONG_CACHE, (LONG_SOURCE,), frozenset({1001})),
            True,
            1001,
            LONG_USER,
            replace(FIGURES, total_bytes=98765432109, http_bytes=98765430000),
            environments=(LONG_ENV,),
            busy_reasons=(LONG_USE,),
            busy_checked=True,
            problems=(
                f"a clean would refuse it: {LONG_HOME}/projects is writable by group "
                "analytics-data-engineering (gid 4200), not only by root or the owner",
            ),
        ),
    ),
    environments=(ENV, *LONG_ENVS),
    skipped=(
        Skipped(f"{LONG_HOME}/{'deeply/nested/' * 8}env", "not searched: deeper than --depth 8"),
    ),
)
LONG_ENTRIES = [
    *ENTRIES,
    CacheEntry(LONG_CACHE, f"http-v2/1/2/3/4/5/{KEY}", "http-v2", "wheel", LONG_PROJECT,
               LONG_VERSION, "headers", 2, 5_000_000, T - 60),
    CacheEntry(LONG_CACHE, f"http-v2/1/2/3/4/6/{KEY}", "http-v2", "wheel", LONG_PROJECT,
               "2024.9.1", "headers", 2, 4_000_000, T - 86400 * 100),
]  # fmt: skip
LONG_FOUND = [(LONG_USER, e) for e in LONG_ENTRIES]
LONG_REPORTS = {view: build(view, LONG_RESULT, LONG_ENTRIES) for view in VIEWS}
