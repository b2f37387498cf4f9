"""A policy file (``/etc/fleetcache/policy.toml``): defaults and ``[[rule]]`` blocks that say what a
clean removes from each account's caches; read, checked, matched to accounts, resolved."""

DEFAULT_PATH = "/etc/fleetcache/policy.toml"
