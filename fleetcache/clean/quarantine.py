"""A clean's quarantine, root's side: the cache's parent opened for the owner's child to make the
run's directory in (refused when it is not the owner's, or on another filesystem), and the run
noted in the index before anything moves and after."""

from __future__ import annotations

import os
import time
from typing import Optional

from fleetcache import safefs
from fleetcache.clean import moves, qindex
from fleetcache.clean.guard import Refused
from fleetcache.clean.plan import CachePlan


def open_parent(anchor: int, cache: str, uid: int, plan: CachePlan) -> int:
    """The directory that holds the cache, opened without a link on the way; raises Refused when
    it is not the owner's, not on the cache's filesystem, or no longer holds the cache."""
    parent, name = os.path.split(cache.rstrip("/"))
    why = None
    try:
        opened = safefs.open_path(anchor, parent or "/", trusted_links=())
    except safefs.UnsafePath as exc:
        raise Refused(f"refused: no quarantine beside it: {exc}; nothing deleted") from None
    st = opened.st
    if st.st_uid != uid:
        why = f"{parent} belongs to uid {st.st_uid}, not to the cache's owner"
    elif st.st_dev != plan.device:
        why = f"{parent} is on another filesystem than the cache"
    else:
        try:
            here = os.stat(name, dir_fd=opened.fd, follow_symlinks=False)
        except OSError:
            here = None
        if here is None or (here.st_dev, here.st_ino) != (plan.device, plan.inos[()]):
            why = "the cache is no longer in its parent"
    if why is not None:
        os.close(opened.fd)
        raise Refused(f"refused: no quarantine beside it: {why}; nothing deleted")
    return opened.fd


class Keeper:
    """One clean's quarantine run: its index entry, one part per cache moved into it."""

    def __init__(self, state_dir: str, run: qindex.Run) -> None:
        self.index = qindex.Index(state_dir)
        self.run = run

    def start(self, anchor: int, cache: str, kind: str, uid: int, user: str, plan: CachePlan,
              keep: float) -> moves.Into:  # fmt: skip
        """Where the owner's child moves this cache's files, noted in the index first; raises
        Refused (then nothing is noted, nothing moves)."""
        parent_fd = open_parent(anchor, cache, uid, plan)
        try:
            place = moves.place(cache, self.run.run_id)
            held = qindex.Held(cache, kind, uid, user, place, time.time() + keep)
            self.run.caches.append(held)
            self.index.save(self.run)
        except BaseException:
            os.close(parent_fd)
            raise
        name = os.path.basename(cache.rstrip("/"))
        return moves.Into(parent_fd, name, self.run.run_id, plan.device)

    def done(self, cache: str, files: int, size: int, refused: bool) -> Optional[qindex.Held]:
        """Note what went into the quarantine (nothing: it is forgotten); the cache's part."""
        held = next(h for h in self.run.caches if h.cache == cache)
        if refused:
            self.run.caches.remove(held)
        held.files, held.bytes, held.state = files, size, qindex.HELD
        if self.run.caches:
            self.index.save(self.run)
        else:
            self.index.remove(self.run.run_id)
        return None if refused else held
