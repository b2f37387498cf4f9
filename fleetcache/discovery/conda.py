"""conda's own records: ``~/.conda/environments.txt``, and ``.condarc``'s ``envs_dirs`` and ``pkgs_dirs``
(read as YAML, with the safe loader: fleetcache.yamlfile)."""

from __future__ import annotations

from typing import Optional

from fleetcache import yamlfile

# the per-user condarc files conda reads (system-wide ones are read once, for everyone)
USER_CONDARCS = (
    ".config/conda/.condarc",
    ".config/conda/condarc",
    ".conda/.condarc",
    ".conda/condarc",
    ".condarc",
)
SYSTEM_CONDARCS = (
    "/etc/conda/.condarc",
    "/etc/conda/condarc",
    "/var/lib/conda/.condarc",
    "/var/lib/conda/condarc",
)
# directories of condarc snippets (*.yml, *.yaml), read in name order
SYSTEM_CONDARC_DIRS = ("/etc/conda/condarc.d", "/var/lib/conda/condarc.d")
ENVIRONMENTS_TXT = ".conda/environments.txt"


def environments_txt(data: bytes) -> list[str]:
    """The prefixes registered in ``environments.txt``: one absolute path per line."""
    lines = data.decode("utf-8", "surrogateescape").splitlines()
    return list(dict.fromkeys(line.strip() for line in lines if line.strip()))


def envs_dirs(data: Optional[bytes]) -> list[str]:
    """The ``envs_dirs`` of a ``.condarc`` (``envs_path``, conda's older name, after them)."""
    table = yamlfile.loads(data)
    return list(
        dict.fromkeys(
            [*yamlfile.strings(table, "envs_dirs"), *yamlfile.strings(table, "envs_path")]
        )
    )


def pkgs_dirs(data: Optional[bytes]) -> list[str]:
    """The ``pkgs_dirs`` of a ``.condarc``."""
    return yamlfile.strings(yamlfile.loads(data), "pkgs_dirs")
