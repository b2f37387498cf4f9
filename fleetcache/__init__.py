"""fleetcache: every account's pip caches and Python environments, found, measured and cleaned safely."""

__version__ = "0.1.0"
