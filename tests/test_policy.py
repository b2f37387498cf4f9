"""A clean's selectors in the user's words (issue 16, item 10): sizes in decimal (k, M, G, T) and
binary (KiB, MiB, GiB, TiB) units, and plans and logs that say sizes as a person would."""

from __future__ import annotations

import pytest

from fleetcache.clean.policy import Policy, PolicyError, parse_size

K, KI = 1000, 1024


@pytest.mark.parametrize(
    ("text", "size"),
    [
        ("1000", 1000),
        ("10K", 10 * K),
        ("10k", 10 * K),
        ("10kB", 10 * K),
        ("10 KB", 10 * K),
        ("500M", 500 * K**2),
        ("500MB", 500 * K**2),
        ("10G", 10 * K**3),
        ("10GB", 10 * K**3),
        ("1.5G", 1_500_000_000),
        ("2T", 2 * K**4),
        ("2TB", 2 * K**4),
        ("10KiB", 10 * KI),
        ("10kib", 10 * KI),
        ("500MiB", 500 * KI**2),
        ("2GiB", 2 * KI**3),
        ("2 GiB", 2 * KI**3),
        ("1TiB", KI**4),
    ],
)
def test_sizes_in_decimal_and_binary_units(text, size):
    assert parse_size(text) == size


@pytest.mark.parametrize("text", ["", "G", "10X", "10iB", "ten G", "-1G", "10 G B"])
def test_what_is_not_a_size_says_so(text):
    with pytest.raises(PolicyError, match="not a size"):
        parse_size(text)


@pytest.mark.parametrize(
    ("given", "said"),
    [
        ("10G", "until at most 10 GB"),
        ("10000000000", "until at most 10 GB"),
        ("2GiB", "until at most 2 GiB"),
        ("1.5G", "until at most 1500 MB"),
        ("500M", "until at most 500 MB"),
        ("10KiB", "until at most 10 KiB"),
        ("3T", "until at most 3 TB"),
        ("1234", "until at most 1234 bytes"),
    ],
)
def test_the_plan_says_the_size_limit_as_a_person_would(given, said):
    assert Policy.of(max_size=given).describe() == said
    assert Policy.of(junk=True, max_size=given).describe() == f"junk, {said}"


@pytest.mark.parametrize(
    ("project", "names", "kept"),
    [
        ("numpy", (), "kept by policy: numpy"),
        ("numpy-financial", (), None),  # a name is the project's whole name
        (None, ("numpy-1.0-py3-none-any.whl",), None),  # a name is no file name
        ("torch", ("torch-2.0.tar.gz",), "kept by policy: *.tar.gz"),
        (None, ("six-1.0.tar.gz",), "kept by policy: *.tar.gz"),
        ("nvidia-cublas-cu12", (), "kept by policy: nvidia-*"),
        ("six", ("six-1.0-py3-none-any.whl",), None),
    ],
)
def test_keep_spares_projects_by_name_and_files_or_projects_by_glob(project, names, kept):
    policy = Policy(keep=("numpy", "*.tar.gz", "nvidia-*"))
    assert policy.kept(project, *names) == kept


def test_a_policy_that_says_only_what_to_keep_is_a_purge_that_keeps_it():
    policy = Policy(keep=("numpy",), quarantine=86400.0).effective
    assert (policy.purge, policy.keep, policy.quarantine) == (True, ("numpy",), 86400.0)
    assert policy.describe() == "purge, keep numpy, quarantined for 1d"
    sized = Policy(account_max_size=10**9)
    assert sized.effective == sized and sized.describe() == (
        "until the account's caches are at most 1 GB"
    )
