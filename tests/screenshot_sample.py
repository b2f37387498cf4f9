"""A small fleet machine made up to look real, for the README's picture of the HTML page: fixed
host, time, accounts, caches and entries, so the page (and its PNG) is the same on every run."""

from __future__ import annotations

import hashlib

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
    ProcessUse,
    ScanResult,
)
from fleetcache.report.views import Report, build

T = 1795300000.0  # 2026-11-21T22:26:40Z
HOST = "gpu-02"
MB = 1000 * 1000
DAY = 86400.0
# account: uid, its caches (kind, path under its home, packages: name -> (version, MB))
# fmt: off
FLEET: dict[str, tuple[int, list[tuple[str, str, dict[str, tuple[str, int]]]]]] = {
    "alice": (1001, [
        ("pip", ".cache/pip", {"torch": ("2.5.1", 2400), "nvidia-cudnn-cu12": ("9.1.0", 1650),
                               "jaxlib": ("0.4.35", 310), "numpy": ("2.1.3", 62),
                               "scipy": ("1.14.1", 118), "pandas": ("2.2.3", 48)}),
        ("uv", ".cache/uv", {"polars": ("1.14.0", 120), "ruff": ("0.8.0", 34),
                             "pyarrow": ("18.0.0", 140)}),
    ]),
    "bob": (1002, [
        ("conda", "miniconda3/pkgs", {"cudatoolkit": ("11.8.0", 1900), "mkl": ("2024.2", 720),
                                      "python": ("3.12.7", 95), "openssl": ("3.4.0", 28)}),
        ("pip", ".cache/pip", {"torch": ("2.5.1", 2400), "transformers": ("4.46.3", 36),
                               "tokenizers": ("0.20.3", 12)}),
    ]),
    "carol": (1003, [
        ("poetry", ".cache/pypoetry", {"django": ("5.1.3", 44), "celery": ("5.4.0", 22),
                                       "psycopg": ("3.2.3", 18), "boto3": ("1.35.70", 96)}),
        ("pip", ".cache/pip", {"matplotlib": ("3.9.2", 82), "pillow": ("11.0.0", 44)}),
    ]),
    "dave": (1004, [
        ("pip", ".cache/pip", {"tensorflow": ("2.18.0", 620), "keras": ("3.7.0", 12),
                               "opencv-python": ("4.10.0.84", 250)}),
    ]),
    "ci-runner": (1005, [
        ("uv", ".cache/uv", {"torch": ("2.5.1", 2400), "numpy": ("2.1.3", 62),
                             "pytest": ("8.3.3", 3), "coverage": ("7.6.8", 4)}),
        ("pip", ".cache/pip", {"setuptools": ("75.6.0", 12), "wheel": ("0.45.1", 1)}),
    ]),
    "erin": (1006, [
        ("pdm", ".cache/pdm", {"fastapi": ("0.115.5", 9), "pydantic-core": ("2.27.1", 58),
                               "uvicorn": ("0.32.1", 7)}),
    ]),
}
# fmt: on
BUSY = "/home/alice/.cache/pip"  # alice trains a model from an environment that uses it


def key(project: str, version: str) -> str:
    """The same download's cache key in every cache (so the report finds it held twice)."""
    return hashlib.sha224(f"{project}=={version}".encode()).hexdigest()


def entries(path: str, packages: dict[str, tuple[str, int]], age: float) -> list[CacheEntry]:
    """A cache's downloads, one wheel each, the older ones first."""
    out = []
    for i, (name, (version, size)) in enumerate(sorted(packages.items())):
        k = key(name, version)
        out.append(CacheEntry(path, f"http-v2/{k[0]}/{k[1]}/{k[2]}/{k[3]}/{k[4]}/{k}", "http-v2",
                              "wheel", name, version, "headers", 2, size * MB,
                              T - age - i * 7 * DAY))  # fmt: skip
    return out


def cache(user: str, uid: int, kind: str, path: str, size: int) -> CacheResult:
    """A cache holding ``size`` bytes of entries, as a walk of it would measure it."""
    source = CacheSource("default", user, CACHE_COMMANDS)
    figures = CacheFigures(http_files=size // (8 * MB) + 2, http_bytes=size, total_bytes=size,
                           total_files=size // (8 * MB) + 2, disk_bytes=size + size // 50,
                           reclaimable_bytes=size + size // 50, http_entries=size // (16 * MB) + 1,
                           oldest_mtime=T - 200 * DAY, newest_mtime=T - DAY)  # fmt: skip
    busy = (ProcessUse(41877, uid, user, "python train.py --epochs 40",
                       "runs /home/alice/llm/.venv/bin/python",
                       environment="/home/alice/llm/.venv"),) if path == BUSY else ()  # fmt: skip
    return CacheResult(CacheLocation(path, (source,), frozenset({uid}), kind), True, uid, user,
                       figures, busy_reasons=busy, busy_checked=True)  # fmt: skip


def report() -> Report:
    """The fleet machine's report by package: its scan, and every cache's entries."""
    accounts, caches, found = [], [], []
    for n, (user, (uid, held)) in enumerate(FLEET.items()):
        home = f"/home/{user}"
        uses = []
        for kind, where, packages in held:
            path = f"{home}/{where}"
            size = sum(mb for _, mb in packages.values()) * MB
            caches.append(cache(user, uid, kind, path, size))
            found += entries(path, packages, (n + 3) * 11 * DAY)
            uses.append(CacheUse(path, CacheSource("default", user, CACHE_COMMANDS)))
        accounts.append(AccountCaches(Account(user, uid, uid, home), tuple(uses)))
    scan = ScanResult(host=HOST, generated_at=T, root="/", accounts=tuple(accounts),
                      caches=tuple(caches), skipped=(), environments=(),
                      activity=Activity(212, 190, 0))  # fmt: skip
    return build("package", scan, found)
