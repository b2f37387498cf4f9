"""``fleetcache clean``: plan, check nothing uses the cache, confirm, delete as its owner, log."""


class CleanError(Exception):
    """A clean that cannot start or go on (an unusable audit log or lock directory)."""
