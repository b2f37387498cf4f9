"""A whole clean: find the caches, plan each, show the plan, and for each confirmed cache take its
lock, check again that nothing uses it, delete as its owner, log every action, measure it after."""

from __future__ import annotations

import os
import time
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Callable, Optional, Union

from fleetcache import dropped, escape, readas, safefs, transitions
from fleetcache import scan as scan_mod
from fleetcache.clean import (
    CleanError,
    account,
    deleter,
    guard,
    history,
    moves,
    qindex,
    qops,
    quarantine,
)
from fleetcache.clean.plan import CachePlan
from fleetcache.clean.policy import AccountPolicy, Policy
from fleetcache.clean.quarantine import Keeper
from fleetcache.discovery import caches as caches_mod
from fleetcache.discovery import pipusers
from fleetcache.discovery.access import Access, AsAccount
from fleetcache.dropped import Identity
from fleetcache.kinds import all as kinds_mod
from fleetcache.kinds.base import PlanContext
from fleetcache.machine import Machine
from fleetcache.model import (
    Account,
    CacheFigures,
    CacheLocation,
    CacheSource,
    ProcessUse,
    Skipped,
    busy_state,
)
from fleetcache.stats.walk import Walker

MAX_FAILED = 50
WAIT_STEP = 5.0

# the state each cache ends in
PLANNED = "planned"  # a dry run: the plan, nothing deleted
CLEANED = "cleaned"
PARTIAL = "partial"  # cleaned, but some planned files could not be removed
NOTHING = "nothing to do"
BUSY = "busy"
REFUSED = "refused"
LOCKED = "locked"
DECLINED = "not confirmed"
MISSING = "missing"
EXCLUDED = "excluded"  # the policy file leaves it alone: no error
SKIPPED_STATES = (PARTIAL, BUSY, REFUSED, LOCKED)


@dataclass(frozen=True)
class Request:
    """Whose caches, what to remove, and how carefully."""

    policy: Policy
    selection: scan_mod.Selection  # whose caches (users, all_users), jobs, progress
    caches: tuple[str, ...] = ()  # machine paths given with --cache
    dry_run: bool = False
    force_busy: bool = False
    wait: Optional[float] = None  # seconds to wait for a busy cache to become idle
    timeout: float = 3600.0  # seconds one cache's deletion may take
    audit_log: Optional[str] = None
    lock_dir: Optional[str] = None
    state_dir: Optional[str] = None  # last cleans, quarantine runs (guard.default_state_dir)
    # --quarantine AGE / --no-quarantine over each cache's policy: seconds, False, None (as it says)
    quarantine: Union[float, bool, None] = None
    # a policy file's: uid -> the account's policy (the command line's on top); None: no file
    per_account: Optional[Mapping[int, AccountPolicy]] = None
    policy_file: Optional[str] = None  # the policy file's path, for the plan and the log
    overridden: tuple[str, ...] = ()  # the options that override the policy file (--older-than)


@dataclass
class CacheClean:
    """One cache's clean: its plan, what became of it, and the figures before and after."""

    path: str
    uid: Optional[int] = None
    user: Optional[str] = None
    state: str = PLANNED
    reason: Optional[str] = None
    busy_reasons: tuple[ProcessUse, ...] = ()
    plan: Optional[CachePlan] = None
    deleted_files: int = 0
    deleted_bytes: int = 0
    removed_dirs: int = 0
    gone: int = 0  # planned, but gone before the clean reached them
    failed: list[tuple[str, str]] = field(default_factory=list)
    failed_count: int = 0
    after: Optional[CacheFigures] = None
    sources: tuple[CacheSource, ...] = ()
    kind: str = "pip"  # the cache kind (fleetcache.kinds) that plans it and says if it is busy
    policy: Optional[Policy] = None  # the policy it was planned under (its account's)
    rule: Optional[str] = None  # the policy file's rule that gives it (None: no policy file)
    quarantine: Optional[qindex.Held] = None  # where its files went instead of being deleted

    @property
    def before(self) -> Optional[CacheFigures]:
        """pip's figures (and the rest) when it was planned."""
        return None if self.plan is None else self.plan.before


@dataclass
class CleanResult:
    """Everything one run of ``fleetcache clean`` did."""

    run_id: str
    host: str
    root: str
    generated_at: float
    operator: str
    policy: Policy
    dry_run: bool
    audit_log: Optional[str]
    caches: list[CacheClean]
    # what a person should look at beside the caches: config files that make pip stop
    skipped: list[Skipped] = field(default_factory=list)
    # expired quarantine runs the clean deleted first (a dry run: would delete)
    purged: list[qops.Done] = field(default_factory=list)
    # each account's last clean as this run left it in the state directory (none for a dry run)
    recorded: list[history.LastClean] = field(default_factory=list)
    policy_file: Optional[str] = None  # the policy file each account's policy comes from
    overridden: tuple[str, ...] = ()  # the options that override it for this run
    # account -> bytes its caches stay over its max_size once all the policy may take is gone
    accounts_over: dict[str, int] = field(default_factory=dict)

    def describe(self) -> str:
        """What the run is under: the run's policy, or the policy file and what overrides it."""
        if self.policy_file is None:
            return self.policy.describe()
        over = ", ".join(self.overridden)
        return f"policy {escape.text(self.policy_file)}" + (
            f"; the command line overrides {over}" if over else ""
        )

    @property
    def complete(self) -> bool:
        """False when a cache was skipped (busy, refused, locked) or partly cleaned, or an
        account's config has a problem."""
        return not self.skipped and not any(c.state in SKIPPED_STATES for c in self.caches)


Confirm = Callable[[CleanResult], bool]


class Cleaner:
    """One clean on one machine: plan, then (once confirmed) execute."""

    def __init__(self, machine: Machine, request: Request) -> None:
        self.machine = machine
        self.request = request
        self.euid = os.geteuid()
        self.found: Optional[scan_mod.Found] = None
        # uid -> reads and opens as that account, while planning (a kind's plan may ask)
        self.access: Optional[Callable[[int], Access]] = None
        self.accounts: dict[int, Account] = {}
        self.groups = transitions.Groups()  # who may be in which group: see plan()
        self.log: Optional[guard.AuditLog] = None
        self.on_dir: Optional[deleter.OnDir] = None  # tests: called in the child at each directory
        self.keeper: Keeper  # the run's quarantine (made by execute)
        self.until: dict[int, float] = {}  # uid -> its size limit's cutoff (clean.account)
        self.over: dict[int, int] = {}  # uid -> bytes over its size limit even so

    # ---- planning

    def plan(self) -> CleanResult:
        """Find the caches and plan each; nothing is changed."""
        req = self.request
        selection = req.selection
        if req.caches:  # any account may use a named cache: look at everyone's activity
            selection = replace(selection, users=(), all_users=True)
        # one process per account reads as it: config files, and (--junk) whether the prefix a
        # selfcheck key names is gone, asked as the cache's owner
        with readas.Readers.of(self.machine) as readers:
            found = scan_mod.discover(
                self.machine, replace(selection, activity=True, sizes=False), readers
            )
            self.found = found
            self.accounts = {a.uid: a for a in found.every}
            self.groups = scan_mod.load_groups(self.machine, found.every)
            who = dropped.identities(self.machine, found.every)
            self.access = lambda uid: AsAccount(readers, who(uid))
            locations = self._locations(found)
            busy = kinds_mod.busy(self.machine, found, locations)
            pips = pipusers.by_cache(found.environments, found.resolved)

            def plan_one(loc: CacheLocation) -> CacheClean:
                return self._plan_one(
                    loc,
                    busy.get(loc.path, ()),
                    lambda p, u, b: readers.exists(who(u), p, b),
                    pipusers.legacy_kept(pips.get(loc.path, ())),
                )

            cleans = self._sized(locations, [plan_one(loc) for loc in locations], plan_one)
        return CleanResult(
            run_id=uuid.uuid4().hex,
            host=self.machine.hostname,
            root=self.machine.root,
            generated_at=self.machine.clock(),
            operator=_operator(self.accounts),
            policy=_run_policy(req),
            dry_run=req.dry_run,
            audit_log=req.audit_log,
            caches=cleans,
            skipped=[p for ac in (*found.resolved, *found.site_caches) for p in ac.problems],
            policy_file=req.policy_file,
            overridden=req.overridden,
            accounts_over={self._name(uid): n for uid, n in self.over.items()},
        )

    def _sized(
        self,
        locations: Sequence[CacheLocation],
        cleans: list[CacheClean],
        plan_one: Callable[[CacheLocation], CacheClean],
    ) -> list[CacheClean]:
        """The caches of accounts with a size limit over all their caches planned again, once
        the first plans told which entries the limit may take: the oldest go, across them."""
        limits: dict[int, int] = {}
        for c in cleans:
            limit = None if c.uid is None else self._own_policy(c.uid).account_max_size
            if limit is not None and c.uid is not None:
                limits[c.uid] = limit
        for uid, limit in limits.items():
            plans = [c.plan for c in cleans if c.uid == uid and c.plan is not None]
            self.until[uid] = account.cutoff(plans, limit)
        again = [c.uid in limits and c.plan is not None for c in cleans]
        cleans = [plan_one(loc) if a else c for loc, c, a in zip(locations, cleans, again)]
        for uid, limit in limits.items():
            plans = [c.plan for c in cleans if c.uid == uid and c.plan is not None]
            over = account.over(plans, limit)
            if over:
                self.over[uid] = over
        return cleans

    def _name(self, uid: int) -> str:
        account = self.accounts.get(uid)
        return account.name if account is not None else str(uid)

    def _locations(self, found: scan_mod.Found) -> list[CacheLocation]:
        """The caches of the chosen kinds to clean: those named with --cache, else every one the
        selected accounts use."""
        kinds = kinds_mod.chosen(self.request.selection.cache_kinds)
        if self.request.caches:
            # a named cache is known by the accounts' config, not by what a running pip says
            config = replace(found, pip_caches=())
            every = kinds_mod.chosen(())  # a path another kind knows is of that kind
            known = {loc.path: loc for k in every for loc in k.locations(config)}
            # a path no account names is of the one kind given (pip's without --kind); its
            # layout is checked before the clean
            guess = kinds[0].NAME if len(kinds) == 1 else "pip"
            out = [
                known.get(p, CacheLocation(p, (CacheSource("layout"),), kind=guess))
                for p in self.request.caches
            ]
            for loc in out:  # a cache named and a kind that leaves it out: never a silent no-op
                if loc.kind not in kinds_mod.names(kinds):
                    raise CleanError(
                        f"--cache {loc.path} is a {loc.kind} cache, not of --kind given"
                    )
            return out
        return caches_mod.merge_found([], (loc for k in kinds for loc in k.locations(found)))

    def _plan_one(
        self,
        loc: CacheLocation,
        busy: Sequence[ProcessUse],
        there: Callable[[str, int, safefs.LinkBudget], Optional[bool]],
        legacy_kept: Optional[str],
    ) -> CacheClean:
        """``there(path, uid, budget)``: whether the account sees the path there (None: cannot
        tell), the links on the way charged to the cache's budget; ``legacy_kept``: why its
        legacy http/ is no junk (a pip that may read it uses the cache), None when it is."""
        item = CacheClean(loc.path, sources=loc.sources, busy_reasons=tuple(busy), kind=loc.kind)
        kind = kinds_mod.of(loc)
        anchor = safefs.open_anchor(self.machine.root)
        try:
            uid = self._owner(anchor, loc, item)
            if uid is None:
                return item
            alone = account.left_alone(self.request.per_account, uid, loc.kind)
            if alone is not None:
                item.state, item.reason = EXCLUDED, alone
                return item
            item.policy = _quarantined(self._policy_of(uid), self.request.quarantine)
            item.rule = account.rule_of(self.request.per_account, uid)
            try:
                opened = guard.open_cache(anchor, loc.path, uid, self.groups)
            except guard.Refused as exc:
                item.state, item.reason = REFUSED, str(exc)
                return item
            try:
                try:
                    mounts = guard.mount_points(opened.fd)
                except guard.Refused as exc:
                    item.state, item.reason = REFUSED, str(exc)
                    return item
                if not loc.sources or loc.sources[0].kind == "layout":
                    names = set(os.listdir(opened.fd))
                    if not kind.looks_like(opened.fd, names) and names:
                        item.state = REFUSED
                        item.reason = f"refused: it does not have {kind.NAME}'s cache layout"
                        return item
                links = safefs.LinkBudget()  # what the paths the cache names may cost
                assert self.found is not None
                context = PlanContext(
                    mounts=mounts,
                    exists=lambda p: there(p, uid, links),
                    projects=self._projects(loc)
                    if item.policy.packages or item.policy.keep
                    else None,
                    legacy_kept=legacy_kept,
                    environments=self.found.environments,
                    root=self.machine.root,
                    accounts=self.found.every,
                    access=self.access,
                    anchor=anchor,
                )
                item.plan = kind.plan(
                    opened.fd, loc.path, uid, item.policy, self.machine.clock(), context
                )
                if item.policy.quarantine is not None:  # the plan says now what the clean would
                    os.close(quarantine.open_parent(anchor, loc.path, uid, item.plan))
            except safefs.OverBudget as exc:  # no clean on what could not be found out
                item.state, item.reason = REFUSED, f"refused: {exc} (the limit for one cache)"
                return item
            except guard.Refused as exc:  # the kind's own reason never to clean it
                item.state, item.reason = REFUSED, str(exc)
                return item
            finally:
                os.close(opened.fd)
        finally:
            os.close(anchor)
        lock_dir = self.request.lock_dir or guard.default_lock_dir(self.euid)
        held_by = guard.lock_holder(lock_dir, (item.plan.device, item.plan.inos[()]))
        if not item.plan.files and not item.plan.removed_dirs:
            item.state = NOTHING
        elif held_by is not None:  # its deleting child holds files in the cache: not "busy"
            item.state, item.reason = LOCKED, held_by
        elif busy and not self.request.force_busy:
            item.state, item.reason = BUSY, _busy_phrase(busy)
        return item

    def _policy_of(self, uid: int) -> Policy:
        """The policy a cache of this owner is planned under: its account's in the policy file
        (else the run's); with a size limit for the account, its cutoff once known."""
        policy = self._own_policy(uid)
        if policy.account_max_size is None:
            return policy
        if uid in self.until:
            return replace(policy, until=self.until[uid])
        return account.first_pass(policy)

    def _own_policy(self, uid: int) -> Policy:
        return account.policy_of(self.request.policy, self.request.per_account, uid)

    def _owner(self, anchor: int, loc: CacheLocation, item: CacheClean) -> Optional[int]:
        """The uid the cache belongs to, when it may be cleaned as that account; else None."""
        try:
            opened = safefs.open_path(anchor, loc.path, trusted_links=())
        except safefs.NotFound:
            item.state, item.reason = MISSING, "does not exist"
            return None
        except safefs.UnsafePath as exc:
            if _absent(anchor, loc):  # a home that is a link (/bin), with no cache behind it
                item.state, item.reason = MISSING, "does not exist"
            else:
                item.state, item.reason = REFUSED, f"refused: {exc}"
            return None
        os.close(opened.fd)
        uid = opened.st.st_uid
        item.uid = uid
        account = self.accounts.get(uid)
        item.user = account.name if account is not None else str(uid)
        users = {a.uid for a in self.accounts.values() if a.name in loc.users}
        if self.euid != 0 and uid != self.euid:
            item.state = REFUSED
            item.reason = (
                f"refused: it belongs to uid {uid}; only root cleans other accounts' caches"
            )
            return None
        if users and uid not in users:
            names = ", ".join(loc.users)
            item.state = REFUSED
            item.reason = (
                f"refused: it belongs to uid {uid}, not to an account that uses it ({names})"
            )
            return None
        return uid

    def _projects(self, loc: CacheLocation) -> dict[str, Optional[str]]:
        from fleetcache.report.run import named_entries  # the naming machinery: only when asked

        assert self.found is not None
        entries, _ = named_entries(self.machine, [loc], self.found.resolved)
        return {e.path: e.project for e in entries}

    # ---- execution

    def execute(self, result: CleanResult) -> CleanResult:
        """Clean each planned cache: lock, check it is idle, delete as its owner, log, measure."""
        req = self.request
        path = req.audit_log or guard.default_log(self.euid)
        result.audit_log = path
        self.log = guard.AuditLog(path)
        run = qindex.Run(result.run_id, time.time(), result.host, result.root, result.operator)
        self.keeper = Keeper(req.state_dir or guard.default_state_dir(self.euid), run)
        todo = runnable(result, req)
        try:
            for item in result.caches:
                if item not in todo:
                    self._log_cache(result, item)
                    continue
                if req.dry_run:
                    self._log_plan(result, item)
                    continue
                self._execute_one(result, item)
                self.log.flush()
        finally:
            self.log.close()
        return result

    def _execute_one(self, result: CleanResult, item: CacheClean) -> None:
        req = self.request
        plan = item.plan
        assert plan is not None and item.uid is not None
        lock_dir = req.lock_dir or guard.default_lock_dir(self.euid)
        lock = guard.Lock(lock_dir, (plan.device, plan.inos[()]))
        try:
            held_by = lock.acquire()
            if held_by is not None:
                item.state, item.reason = LOCKED, held_by
                self._log_cache(result, item)
                return
            if not self._idle(item):
                self._log_cache(result, item)
                return
            try:
                opened, mounts = self._reopen(item.path, item.uid, plan)
            except guard.Refused as exc:
                item.state, item.reason = REFUSED, str(exc)
                self._log_cache(result, item)
                return
            try:
                with kinds_mod.KINDS[item.kind].exclusive(opened.fd) as busy:
                    if busy is not None:  # its tool's own lock is held: in use now
                        item.state, item.reason = BUSY, busy
                        self._log_cache(result, item)
                        return
                    into = self._into(item, plan)
                    if into is None:
                        self._log_cache(result, item)
                        return
                    outcome = self._run_child(result, item, plan, opened, mounts, into)
            finally:
                os.close(opened.fd)
            if outcome.refused:
                item.state, item.reason = REFUSED, f"refused: {outcome.error}; nothing deleted"
                self._log_cache(result, item)
                return
            whole = outcome.finished and not item.failed_count and not plan.problems
            item.state = CLEANED if whole else PARTIAL
            item.reason = outcome.error or _unexamined(plan) or item.reason
            item.after = self._measure(item, plan)
            self._log_cache(result, item)
            if outcome.interrupted:  # logged whole: now the clean stops, as it was asked
                raise KeyboardInterrupt
        finally:
            lock.release()

    def _into(self, item: CacheClean, plan: CachePlan) -> Union[moves.Into, bool, None]:
        """The quarantine the cache's files move into; False when they are deleted; None when
        it has none and is refused (never deleted instead)."""
        assert item.policy is not None and item.uid is not None
        if item.policy.quarantine is None:
            return False
        anchor = safefs.open_anchor(self.machine.root)
        try:
            return self.keeper.start(anchor, item.path, item.kind, item.uid, item.user or "",
                                     plan, item.policy.quarantine)  # fmt: skip
        except guard.Refused as exc:
            item.state, item.reason = REFUSED, str(exc)
            return None
        finally:
            os.close(anchor)

    def _run_child(
        self,
        result: CleanResult,
        item: CacheClean,
        plan: CachePlan,
        opened: safefs.Opened,
        mounts: set[tuple[int, int]],
        into: Union[moves.Into, bool],
    ) -> deleter.ChildOutcome:
        """The owner's child deletes (or moves into the quarantine) what was planned."""
        assert item.uid is not None
        aside = into if isinstance(into, moves.Into) else None

        def run() -> deleter.ChildOutcome:
            return deleter.run_as_owner(
                plan,
                opened.fd,
                self._identity(item.uid or 0, opened.st.st_gid),
                time.monotonic() + self.request.timeout,
                lambda *report: self._record(result, item, *report),
                mounts=mounts,
                on_dir=self.on_dir,
                into=aside,
            )

        if aside is None:
            return run()
        nothing = True  # nothing may have moved: the run forgets this cache
        try:
            outcome = run()
            nothing = outcome.refused
        finally:
            os.close(aside.parent_fd)
            nothing = nothing and not item.deleted_files
            item.quarantine = self.keeper.done(
                item.path, item.deleted_files, item.deleted_bytes, nothing
            )
        return outcome

    def _idle(self, item: CacheClean) -> bool:
        """Ask the process table again, now; wait (--wait) while the cache is busy."""
        assert self.found is not None
        req = self.request
        until = time.monotonic() + (req.wait or 0.0)
        while True:
            kind = kinds_mod.KINDS[item.kind]
            now = kind.busy(self.machine, self.found, (item.path,), again=True)
            busy = tuple(now.get(item.path, ()))
            item.busy_reasons = busy
            if not busy:
                item.state, item.reason = PLANNED, None
                return True
            if req.force_busy:
                item.reason = f"cleaned although busy (--force-busy): {_busy_phrase(busy)}"
                return True
            left = until - time.monotonic()
            if left <= 0:
                item.state, item.reason = BUSY, _busy_phrase(busy)
                return False
            time.sleep(min(WAIT_STEP, left))

    def _identity(self, uid: int, gid_of_cache: int) -> Identity:
        account = self.accounts.get(uid)
        if account is None:
            return Identity(uid, gid_of_cache)
        return Identity(uid, account.gid, self.machine.groups_of(account))

    def _record(
        self,
        result: CleanResult,
        item: CacheClean,
        index: int,
        start: int,
        outcomes: list[str],
        removed: Optional[str],
    ) -> None:
        assert item.plan is not None and self.log is not None
        d = item.plan.dirs[index]
        for f, outcome in zip(d.files[start:], outcomes):
            rel = "/".join((*d.parts, f.name))
            if outcome in (moves.DELETED, moves.QUARANTINED):
                item.deleted_files += 1
                item.deleted_bytes += f.size
            elif outcome == moves.GONE:
                item.gone += 1
            else:
                item.failed_count += 1
                if len(item.failed) < MAX_FAILED:
                    item.failed.append((rel, outcome))
            action = (
                "delete" if item.policy is None or item.policy.quarantine is None else "quarantine"
            )
            self._action(result, item, rel, f.size, action, f.reason, outcome)
        if d.remove is not None and removed is not None:
            rel = "/".join(d.parts)
            if removed == moves.DELETED:
                item.removed_dirs += 1
            self._action(result, item, rel + "/", 0, "rmdir", d.remove, removed)
        self.log.flush()  # each report's actions are on disk before the next is done

    def _reopen(
        self, path: str, uid: int, plan: CachePlan
    ) -> tuple[safefs.Opened, set[tuple[int, int]]]:
        """The cache root opened again as it was planned (no link; the same directory), and the
        mount points below it now; raises Refused."""
        anchor = safefs.open_anchor(self.machine.root)
        try:
            opened = guard.open_cache(anchor, path, uid, self.groups)
        finally:
            os.close(anchor)
        try:
            if (opened.st.st_dev, opened.st.st_ino) != (plan.device, plan.inos[()]):
                raise guard.Refused("refused: replaced since the plan")
            return opened, guard.mount_points(opened.fd)
        except BaseException:
            os.close(opened.fd)
            raise

    def _measure(self, item: CacheClean, plan: CachePlan) -> Optional[CacheFigures]:
        """pip's figures after the clean, from a walk opened as the plan's was: no link
        followed, no mount point entered."""
        assert item.uid is not None
        try:
            opened, mounts = self._reopen(item.path, item.uid, plan)
        except guard.Refused:
            return None
        try:
            walker = Walker(item.path, item.uid)
            walker.walk_root(opened.fd, skip=mounts)
            return walker.figures()
        finally:
            os.close(opened.fd)

    # ---- the audit log

    def _action(
        self,
        result: CleanResult,
        item: CacheClean,
        rel: str,
        size: int,
        action: str,
        reason: Optional[str],
        outcome: str,
        files: Optional[int] = None,
    ) -> None:
        assert self.log is not None
        record: dict[str, object] = {
            "run": result.run_id,
            "operator": result.operator,
            "account": item.user,
            "uid": item.uid,
            "cache": escape.text(item.path),
            "path": escape.text(rel),
        }
        if files is not None:  # a line about the whole cache: how many files it is about
            record["files"] = files
        record.update(
            size=size, action=action, reason=reason, outcome=outcome, dry_run=result.dry_run
        )
        self.log.add(record)

    def _log_cache(self, result: CleanResult, item: CacheClean) -> None:
        """One line per cache when it is skipped or done (with its reason and what went); none
        for a cache that does not exist: nothing was done, nor could be."""
        if item.state in (PLANNED, MISSING):
            return
        reason = item.reason or item.state
        if item.busy_reasons:
            pids = ", ".join(str(u.pid) for u in item.busy_reasons if u.pid is not None)
            reason = f"{reason} [pids {pids}]" if pids else reason
        self._action(
            result, item, "", item.deleted_bytes, "cache", reason, item.state, item.deleted_files
        )

    def _log_plan(self, result: CleanResult, item: CacheClean) -> None:
        """A dry run's one line per cache: what the clean would remove, and under which policy
        (the files themselves are in the plan, not the log: a log of what was done)."""
        assert item.plan is not None
        policy = item.policy or result.policy
        reason = policy.describe() + (f"; {item.reason}" if item.reason else "")
        self._action(result, item, "", item.plan.bytes, "cache", reason, PLANNED, item.plan.files)


def _run_policy(req: Request) -> Policy:
    """The run's own policy, as its JSON says it: the command line's (under a policy file, as
    given: nothing said is not a purge there, each account's own policy applies)."""
    policy = _quarantined(req.policy, req.quarantine)
    return policy if req.policy_file is not None else policy.effective


def _quarantined(policy: Policy, override: Union[float, bool, None]) -> Policy:
    """The policy with the run's --quarantine or --no-quarantine over its own."""
    if override is None or override is True:
        return policy
    return replace(policy, quarantine=None if override is False else float(override))


def _absent(anchor: int, loc: CacheLocation) -> bool:
    """Whether nothing is there even through the links the scan follows (root's and those of
    the accounts that use the cache): then there is no cache to refuse, as the scan sees it."""
    try:
        opened = safefs.open_path(anchor, loc.path, trusted_links={0, *loc.trusted_owners})
    except safefs.NotFound:
        return True
    except safefs.UnsafePath:
        return False
    os.close(opened.fd)
    return False


def _unexamined(plan: CachePlan) -> Optional[str]:
    """What the planning walk could not look into (so it was neither planned nor cleaned)."""
    if not plan.problems:
        return None
    first = plan.problems[0]
    more = f" (and {len(plan.problems) - 1} more)" if len(plan.problems) > 1 else ""
    return f"not examined: {first.path}: {first.reason}{more}"


def _busy_phrase(busy: Sequence[ProcessUse]) -> str:
    state = busy_state(tuple(busy))
    first = busy[0]
    who = f"pid {first.pid}" if first.pid is not None else "a process"
    if first.user:
        who += f" of {first.user}"
    more = f" (and {len(busy) - 1} more)" if len(busy) > 1 else ""
    word = "busy" if state else "possibly busy"
    return f"{word}: {who}: {first.why}{more}"


def _operator(accounts: Mapping[int, Account]) -> str:
    uid = os.getuid()
    account = accounts.get(uid)
    name = account.name if account is not None else _login_name(uid)
    sudo = os.environ.get("SUDO_USER")
    return f"{name} (sudo by {sudo})" if sudo and sudo != name else name


def _login_name(uid: int) -> str:
    try:
        import pwd

        return pwd.getpwuid(uid).pw_name
    except (ImportError, KeyError):
        return str(uid)


def runnable(result: CleanResult, request: Request) -> list[CacheClean]:
    """The caches the execution will try: planned ones, and busy ones when waiting for them."""
    return [
        c
        for c in result.caches
        if c.state == PLANNED or (c.state == BUSY and request.wait is not None)
    ]


def clean(
    machine: Machine,
    request: Request,
    confirm: Optional[Confirm] = None,
    on_dir: Optional[deleter.OnDir] = None,
) -> CleanResult:
    """Plan; show it to ``confirm`` (a dry run stops after it; False: nothing is deleted); then
    execute. ``on_dir`` runs in the deleting child at each directory (tests use it for races)."""
    cleaner = Cleaner(machine, request)
    cleaner.on_dir = on_dir
    euid = os.geteuid()
    purged = qops.purge_expired(
        machine,
        request.state_dir or guard.default_state_dir(euid),
        request.audit_log or guard.default_log(euid),
        _operator({}),
        request.dry_run,
        time.time(),
        request.timeout,
    )
    result = cleaner.plan()
    result.purged = purged
    result.skipped.extend(qops.unpurged(purged))  # left on disk past its expiry: a person looks
    agreed = confirm(result) if confirm is not None else True
    if not agreed and not request.dry_run:
        for c in runnable(result, request):
            c.state = DECLINED
        return result
    done = cleaner.execute(result)
    if not request.dry_run:  # what the timer's exit code and gauges are made of
        history.remember(done, request.state_dir or guard.default_state_dir(cleaner.euid))
    return done
