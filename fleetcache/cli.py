"""The command line: parse, call one library function, render. Data to stdout, diagnostics to stderr."""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
from collections.abc import Sequence
from dataclasses import replace
from typing import TYPE_CHECKING, Any, Callable, Optional

from fleetcache import __version__, escape, pipcache, pipcompat, progress
from fleetcache import scan as scan_mod
from fleetcache.clean import CleanError
from fleetcache.clean.policy import AccountPolicy, Policy
from fleetcache.discovery.accounts import UnknownUser
from fleetcache.discovery.envs import EnvSearch
from fleetcache.discovery.homewalk import WalkLimits
from fleetcache.discovery.markers import KINDS
from fleetcache.discovery.pipconfig import describe_disabled
from fleetcache.formats import FORMATS, RenderOptions, fit
from fleetcache.formats.fields import entry_paths
from fleetcache.formats.html import HtmlFormat
from fleetcache.kinds.all import KINDS as CACHE_KINDS
from fleetcache.machine import Machine
from fleetcache.model import AccountCaches, Skipped
from fleetcache.output import OutputError
from fleetcache.output import write as write_output
from fleetcache.policyfile import book
from fleetcache.policyfile.readfile import PolicyFileError
from fleetcache.report import merge as merge_mod
from fleetcache.report.views import VIEWS

if TYPE_CHECKING:
    from fleetcache.clean.run import CacheClean, CleanResult

EXIT_OK = 0
EXIT_ERROR = 1
EXIT_USAGE = 2
EXIT_PARTIAL = 3
EXIT_BUSY = 4  # clean: only busy caches were skipped: the next run cleans them
EXIT_REPEATED = 5  # clean: an account's trouble repeats (history.REPEAT_FAILED, REPEAT_BUSY)
EXIT_INTERRUPTED = 130  # 128 + SIGINT, as a shell reports a program Ctrl-C ended

EPILOG = """\
exit codes:
  0  done: nothing needs a person
  1  error
  2  usage error (bad arguments, unknown user, a policy file with a problem)
  3  done in part: something was skipped or failed (see the report's "skipped")
  4  clean: done, but caches in use (busy, or locked by another clean) were
     skipped: the next run cleans them
  5  clean: a failure repeats: an account's clean failed in this run and the one
     before, or a cache of it was skipped busy in 3 runs in a row
  130  interrupted (Ctrl-C): "fleetcache: interrupted", no traceback
busy and active:
  a cache is busy while an environment that uses it is active or a pip runs
  against it; an environment is active while a process runs from it. "maybe"
  (null in JSON): a process that could not be read may be using it.
"""


CLEAN_FORMATS = ("table", "json", "html")
OUTPUT_HELP = (
    "write to FILE instead of stdout: a file is replaced whole, keeping its mode and owner; a "
    "device or FIFO is written into; a link or file another account left in a sticky "
    "directory (/tmp), or a link in a directory another account may change, is refused"
)


class UsageError(Exception):
    """Arguments that cannot be acted on; exit 2."""


class _Help(argparse.HelpFormatter):
    """Help in at most 80 columns (fewer on a narrower terminal): descriptions wrapped like
    the options' help, text laid out by hand (the epilog's lists) kept as written."""

    def __init__(self, prog: str) -> None:
        columns = min(shutil.get_terminal_size().columns, fit.WIDTH)
        super().__init__(prog, width=columns - 2)

    def _fill_text(self, text: str, width: int, indent: str) -> str:
        if "\n" in text:
            return "".join(indent + line for line in text.splitlines(keepends=True))
        return super()._fill_text(text, width, indent)


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # type: ignore[override]
        raise UsageError(message)


def _machine_args(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--root",
        metavar="DIR",
        default="/",
        help="treat DIR as the machine's root (mounted image, container root): "
        "DIR/etc/passwd, DIR/etc/pip.conf, homes under DIR",
    )
    parser.add_argument(
        "--user",
        "-u",
        metavar="NAME",
        action="append",
        default=[],
        help="this account (repeatable)",
    )


def _fleet_args(parser: argparse.ArgumentParser, jobs: str) -> None:
    """--all-users, --jobs and --bytes, shared by scan, envs and report."""
    parser.add_argument(
        "--all-users",
        action="store_true",
        help="also system accounts that have a home (default: root and uid >= UID_MIN)",
    )
    parser.add_argument("--jobs", "-j", type=int, metavar="N", help=jobs)
    parser.add_argument("--bytes", action="store_true", help="exact byte counts in the table")


def _output_args(parser: argparse.ArgumentParser, choices: Sequence[str]) -> None:
    parser.add_argument(
        "--format",
        "-f",
        choices=choices,
        default=choices[0],
        metavar="FORMAT",
        help=f"output format: {', '.join(choices)} (default {choices[0]})",
    )
    parser.add_argument("--output", "-o", metavar="FILE", help=OUTPUT_HELP)
    _wide_arg(parser)


def _cache_kind_arg(parser: argparse._ActionsContainer) -> None:
    """--kind: only caches of these kinds (the registry's names), for scan, report, clean, merge."""
    parser.add_argument(
        "--kind",
        dest="cache_kind",
        action="append",
        default=[],
        choices=tuple(CACHE_KINDS),
        metavar="KIND",
        help="only caches of this kind (repeatable): " + ", ".join(CACHE_KINDS),
    )


def _wide_arg(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--wide", "-w", action="store_true", help="every column in the table (it fits 80 without)"
    )


def build_parser() -> argparse.ArgumentParser:
    """The whole command line."""
    parser = _Parser(
        prog="fleetcache",
        description="Find, measure and report every account's Python package caches (pip, uv, "
        "conda, poetry, pdm and more) on this machine.",
        epilog=EPILOG,
        formatter_class=_Help,
    )
    parser.add_argument("--version", action="version", version=f"fleetcache {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    _add_scan(sub)
    _add_envs(sub)
    _add_report(sub)
    _add_merge(sub)
    _add_dir(sub)
    _add_info(sub)
    _add_list(sub)
    _add_clean(sub)
    from fleetcache import quarantine_cli  # it builds on this module's helpers

    quarantine_cli.add(sub)
    _add_policy(sub)
    return parser


def _subparser(sub: argparse._SubParsersAction[_Parser], name: str, text: str) -> _Parser:
    return sub.add_parser(
        name,
        help=text,
        description=text,
        epilog=EPILOG,
        formatter_class=_Help,
    )


def _add_scan(sub: argparse._SubParsersAction[_Parser]) -> None:
    p = _subparser(
        sub, "scan", "every account's package caches of every kind: where, whose, why, how big"
    )
    _machine_args(p)
    _fleet_args(p, "walk N caches at once")
    p.add_argument(
        "--search",
        metavar="PATH",
        action="append",
        default=[],
        help="also find caches of every kind anywhere below PATH by their layout (repeatable)",
    )
    p.add_argument(
        "--no-envs",
        action="store_true",
        help="do not look for environments (faster; caches named only by an environment's "
        "site pip.conf are then not found; the ones processes run from are still found, "
        "to tell which caches are busy)",
    )
    p.add_argument(
        "--packages",
        action="store_true",
        help="also read the caches' entries, as report does: JSON gives each cache its packages "
        "(entries and bytes of each); html implies it (its treemap goes down to packages); CSV "
        "and the tables have one row per cache and leave them out",
    )
    _cache_kind_arg(p)
    p.add_argument(
        "--state-dir",
        metavar="DIR",
        help="prometheus: each account's last clean from here, as gauges (default "
        "/var/lib/fleetcache as root, else the account's state directory)",
    )
    _env_args(p)
    _output_args(p, tuple(FORMATS))
    p.set_defaults(func=_cmd_scan)


def _add_envs(sub: argparse._SubParsersAction[_Parser]) -> None:
    p = _subparser(
        sub, "envs", "every interpreter and environment: kind, owner, Python, the caches it uses"
    )
    _machine_args(p)
    _fleet_args(p, "measure N environments at once")
    p.add_argument("--no-size", action="store_true", help="do not measure sizes (faster)")
    p.add_argument(
        "--active",
        action="store_true",
        help="only environments in use now (or possibly: a process could not be read), "
        "one row per process: PID, account, why, command line",
    )
    p.add_argument(
        "--kind",
        action="append",
        default=[],
        choices=KINDS,
        metavar="KIND",
        help="only this kind (repeatable): " + ", ".join(KINDS),
    )
    _env_args(p)
    _output_args(p, tuple(FORMATS))
    p.set_defaults(func=_cmd_envs)


def _add_report(sub: argparse._SubParsersAction[_Parser]) -> None:
    p = _subparser(
        sub,
        "report",
        "what fills the caches: every entry named (project, version, kind), by package, cache, "
        "user, environment, cache kind or host; bytes held twice, packages held by several "
        "kinds, superseded versions, junk, ages",
    )
    _machine_args(p)
    p.add_argument(
        "--by", choices=VIEWS, default="package", help="one row per ... (default package)"
    )
    p.add_argument("--top", type=int, metavar="N", help="only the N largest rows")
    _fleet_args(p, "read N caches at once")
    _cache_kind_arg(p)
    _env_args(p)
    _output_args(p, tuple(FORMATS))
    p.set_defaults(func=_cmd_report)


def _add_merge(sub: argparse._SubParsersAction[_Parser]) -> None:
    p = _subparser(
        sub,
        "merge",
        "many hosts' JSON reports (scan, or one report view) into one, each record with its host",
    )
    p.add_argument(
        "reports",
        nargs="*",
        metavar="[HOST=]FILE",
        help="a `scan --format json` (or `report --format json`) document; HOST= names the host "
        "(an inventory name) instead of the host the report says",
    )
    p.add_argument(
        "--failed",
        metavar="HOST=ERROR",
        action="append",
        default=[],
        help="a host that gave no report, and why (repeatable): it is listed as failed, with its "
        "error, and the merge exits 3",
    )
    _cache_kind_arg(p)
    p.add_argument("--bytes", action="store_true", help="exact byte counts in the table")
    _output_args(p, tuple(FORMATS))
    p.set_defaults(func=_cmd_merge)


def _env_args(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--quiet", "-q", action="store_true", help="no progress bar (shown only on a terminal)"
    )
    p.add_argument(
        "--no-activity",
        action="store_true",
        help="do not read the process table (busy and active are then unknown: null in JSON)",
    )
    defaults = WalkLimits()
    p.add_argument(
        "--depth",
        type=int,
        metavar="N",
        default=defaults.max_depth,
        help=f"search homes N directories deep for environments (default {defaults.max_depth})",
    )
    p.add_argument(
        "--home-budget",
        type=float,
        metavar="SECONDS",
        default=defaults.budget,
        help=f"stop searching one home after SECONDS (default {defaults.budget:g}); "
        "reported under skipped",
    )
    p.add_argument(
        "--include-remote",
        action="store_true",
        help="also search homes on network filesystems (nfs, cifs, sshfs, ...)",
    )
    p.add_argument(
        "--no-probe",
        action="store_true",
        help="never run an interpreter to learn its version (by default only when its files "
        "cannot tell, and never as root: as the environment's owner, nobody for root's, with "
        "python -I -S)",
    )


def _add_dir(sub: argparse._SubParsersAction[_Parser]) -> None:
    p = _subparser(
        sub,
        "dir",
        "every cache an account's pips use, and why: what `pip cache dir` answers for its own "
        "pip and in each of its environments (one cache alone: its path, as pip prints it; "
        "else a line each, PATH<tab>WHY, the account first when several are named)",
    )
    _machine_args(p)
    p.add_argument(
        "--no-envs",
        action="store_true",
        help="do not look for environments (faster; the caches only their site pip.conf "
        "names are then left out)",
    )
    p.set_defaults(func=_cmd_dir)


def _add_info(sub: argparse._SubParsersAction[_Parser]) -> None:
    p = _subparser(sub, "info", "what `pip cache info` prints for an account, for each cache")
    _machine_args(p)
    p.set_defaults(func=_cmd_info)


def _add_list(sub: argparse._SubParsersAction[_Parser]) -> None:
    p = _subparser(
        sub,
        "list",
        "what an account's caches hold: downloads and built wheels, each named; with --wheels "
        "(or a PATTERN) exactly what `pip cache list` prints",
    )
    _machine_args(p)
    p.add_argument(
        "pattern",
        nargs="?",
        help="pip's pattern (name, or name-version): built wheels only, as pip lists them",
    )
    p.add_argument(
        "--wheels", action="store_true", help="only built wheels, printed exactly as pip does"
    )
    p.add_argument("--package", "-p", metavar="NAME", help="only this project's entries")
    p.add_argument(
        "--format",
        "-f",
        choices=("human", "abspath", *FORMATS),
        default="human",
        metavar="FORMAT",
        help="human (a table; with --wheels pip's list), abspath (the files' paths), or a format "
        f"of scan's: {', '.join(FORMATS)}",
    )
    p.add_argument("--bytes", action="store_true", help="exact byte counts in the table")
    _wide_arg(p)
    p.set_defaults(func=_cmd_list)


def _add_clean(sub: argparse._SubParsersAction[_Parser]) -> None:
    p = _subparser(
        sub,
        "clean",
        "clean package caches safely: plan, check nothing uses them, confirm, delete as each cache's "
        "owner, log every action (with nothing said, a clean is a purge)",
    )
    _machine_args(p)
    whose = p.add_argument_group("whose caches (as root, name them; else your own)")
    whose.add_argument("--all-users", action="store_true", help="every account's caches")
    whose.add_argument(
        "--cache", metavar="PATH", action="append", default=[], help="this cache (repeatable)"
    )
    _cache_kind_arg(whose)
    what = p.add_argument_group(
        "what goes",
        "--purge, --pattern, --package and --junk add up; --older-than keeps only entries "
        "unused that long, alone it picks every one; --max-size then removes the least recently "
        "used until the cache is that small",
    )
    what.add_argument(
        "--purge",
        action="store_true",
        help="everything the tool's own purge removes: `pip cache purge`, `uv cache clean` "
        "(default)",
    )
    what.add_argument(
        "--pattern",
        metavar="GLOB",
        action="append",
        default=[],
        help="built wheels as `pip cache remove GLOB` picks them ('*' is a purge; repeatable)",
    )
    what.add_argument(
        "--package",
        metavar="NAME",
        action="append",
        default=[],
        help="everything of this project: built wheels, downloads, index pages (repeatable)",
    )
    what.add_argument(
        "--junk",
        action="store_true",
        help="only what pip never uses again: orphan halves, tmp leftovers, legacy http/ (when "
        "no pip before 23.3 uses the cache), dead selfcheck keys, wheels built before pip 20.0; "
        "uv: what `uv cache prune` removes, but cached environments a process uses",
    )
    what.add_argument(
        "--policy",
        metavar="FILE",
        nargs="?",
        const="",
        help="each account's caches under its rule in the policy file (default "
        "/etc/fleetcache/policy.toml under --root); as root, every account it covers unless "
        "--user; the options here override it for this run",
    )
    what.add_argument(
        "--older-than",
        metavar="AGE",
        help="entries not used for AGE (30d, 12h): by atime where the filesystem records it, "
        "else mtime",
    )
    what.add_argument(
        "--max-size",
        metavar="SIZE",
        help="per cache, least recently used first until at most SIZE (10G, 500M: decimal; "
        "2GiB: binary)",
    )
    how = p.add_argument_group("how")
    how.add_argument("--dry-run", "-n", action="store_true", help="show the plan and stop")
    how.add_argument(
        "--yes",
        "-y",
        action="count",
        default=0,
        help="do not ask (timers, scripts); twice for a policy that removes everything",
    )
    how.add_argument(
        "--wait", metavar="DURATION", help="wait up to DURATION for a busy cache to become idle"
    )
    keep = how.add_mutually_exclusive_group()
    keep.add_argument(
        "--quarantine",
        metavar="AGE",
        nargs="?",
        const="7d",
        help="move what goes into a quarantine beside each cache instead of deleting it, for "
        "AGE (default 7d): `fleetcache restore RUN_ID` puts it back; a cache with no such place "
        "(its parent not its owner's, another filesystem) is refused, never deleted",
    )
    keep.add_argument(
        "--no-quarantine", action="store_true", help="delete, even where a policy quarantines"
    )
    how.add_argument(
        "--force-busy",
        action="store_true",
        help="clean caches in use too (never the default; says so in the log)",
    )
    how.add_argument(
        "--timeout",
        metavar="DURATION",
        default="1h",
        help="stop deleting in one cache after DURATION (default 1h)",
    )
    how.add_argument(
        "--audit-log",
        metavar="PATH",
        help="append the JSON-lines audit log here (default /var/log/fleetcache/audit.log "
        "as root, else the account's log directory)",
    )
    how.add_argument(
        "--lock-dir",
        metavar="DIR",
        help="per-cache locks here (default /run/fleetcache as root)",
    )
    how.add_argument(
        "--state-dir",
        metavar="DIR",
        help="what outlives a run here: each account's last clean, the quarantine runs "
        "(default /var/lib/fleetcache as root, else the account's state directory)",
    )
    how.add_argument(
        "--quiet", "-q", action="store_true", help="no progress bar (shown only on a terminal)"
    )
    p.add_argument(
        "--format",
        "-f",
        choices=CLEAN_FORMATS,
        default="table",
        metavar="FORMAT",
        help=f"output format: {', '.join(CLEAN_FORMATS)} (default table); with --dry-run the "
        "plan, else what was done",
    )
    p.add_argument("--output", "-o", metavar="FILE", help=OUTPUT_HELP)
    p.add_argument("--bytes", action="store_true", help="exact byte counts in the table")
    _wide_arg(p)
    p.set_defaults(func=_cmd_clean)


def _add_policy(sub: argparse._SubParsersAction[_Parser]) -> None:
    p = _subparser(
        sub,
        "policy",
        "the policy file (default /etc/fleetcache/policy.toml under --root): what it says for "
        "each account, and whether it is fit to use",
    )
    inner = p.add_subparsers(dest="policy_command", metavar="COMMAND", parser_class=_Parser)
    inner.required = True
    show = _subparser(
        inner, "show", "for each account: the rule that applies, each value and where it comes from"
    )
    _machine_args(show)
    show.add_argument("--policy", metavar="FILE", help="this policy file")
    show.add_argument(
        "--all-users", action="store_true", help="also system accounts (default: root and humans)"
    )
    show.add_argument(
        "--format", "-f", choices=("table", "json"), default="table", metavar="FORMAT",
        help="output format: table, json (default table)",
    )  # fmt: skip
    show.set_defaults(func=_cmd_policy_show)
    check = _subparser(
        inner, "check", "check a policy file: exit 0 with a summary, or 2 with every problem"
    )
    check.add_argument("file", metavar="FILE", nargs="?", help="the policy file to check")
    check.add_argument(
        "--root", metavar="DIR", default="/", help="the machine whose accounts it is for"
    )
    check.set_defaults(func=_cmd_policy_check)


def _cmd_policy_show(args: argparse.Namespace) -> int:
    from fleetcache.policyfile import command

    machine = _machine(args)
    path = book.path_of(machine, args.policy)
    _emit(command.show(machine, path, tuple(args.user), args.all_users, args.format), None)
    return EXIT_OK


def _cmd_policy_check(args: argparse.Namespace) -> int:
    from fleetcache.policyfile import command

    machine = _machine(args)
    _emit(command.check(machine, book.path_of(machine, args.file)), None)
    return EXIT_OK


def _machine(args: argparse.Namespace) -> Machine:
    if not os.path.isdir(args.root):
        raise UsageError(f"--root {args.root}: not a directory")
    return Machine.local(args.root)


def _users(args: argparse.Namespace, machine: Machine) -> tuple[str, ...]:
    return tuple(args.user) or (pipcache.default_user(machine),)


def _selection(args: argparse.Namespace, **more: Any) -> scan_mod.Selection:
    """Whose caches and environments, and how far to look, from the shared options."""
    if args.jobs is not None and args.jobs < 1:
        raise UsageError("--jobs must be at least 1")
    if args.depth < 0:
        raise UsageError("--depth must be 0 or more")
    if not args.home_budget > 0:
        raise UsageError("--home-budget must be more than 0 seconds")
    limits = WalkLimits(args.depth, args.home_budget, args.include_remote)
    return scan_mod.Selection(
        users=tuple(args.user),
        all_users=args.all_users,
        jobs=args.jobs,
        env_search=EnvSearch(limits, probe=not args.no_probe),
        activity=not args.no_activity,
        progress=progress.silent
        if args.quiet or not sys.stderr.isatty()
        else progress.bar(sys.stderr),
        **more,
    )


def _render(args: argparse.Namespace) -> RenderOptions:
    return RenderOptions(exact_bytes=args.bytes, wide=args.wide, unprivileged=_unprivileged())


def _unprivileged() -> bool:
    """Whether this run is an account's, not root's (what it may not read, root may)."""
    return hasattr(os, "geteuid") and os.geteuid() != 0


def _cmd_scan(args: argparse.Namespace) -> int:
    machine = _machine(args)
    selection = _selection(
        args,
        search=tuple(os.path.abspath(p) for p in args.search),
        envs=not args.no_envs,
        sizes=False,
        cache_kinds=tuple(args.cache_kind),
    )
    formatter = FORMATS[args.format]
    if args.packages or isinstance(formatter, HtmlFormat):  # read the entries, as report does
        from fleetcache.report.run import report as run_report

        report, problems = run_report(machine, selection, "package")
        if isinstance(formatter, HtmlFormat):  # the page has the report's insights too
            _emit(formatter.scan_report(report, problems, _render(args)), args.output)
            return EXIT_OK if report.scan.complete and not problems else EXIT_PARTIAL
        # what could not be read is skipped, as report's JSON lists it
        result = replace(report.scan, skipped=(*report.scan.skipped, *problems))
    else:
        result = scan_mod.scan(machine, selection)
    text = formatter.scan(result, _render(args))
    if args.format == "prometheus":  # and the timer's gauges, so an alert can fire
        text += _last_cleans(args.state_dir)
    _emit(text, args.output)
    return EXIT_OK if result.complete else EXIT_PARTIAL


def _last_cleans(state_dir: Optional[str]) -> str:
    """The gauges of each account's last clean; a state file missing or unreadable is a warning."""
    from fleetcache.clean import guard, history
    from fleetcache.formats.prometheus import last_cleans

    try:
        records = history.read(state_dir or guard.default_state_dir(os.geteuid()))
    except history.StateError as exc:
        _warn(f"no last-clean gauges: {exc}")
        return ""
    return last_cleans(list(records.values()))


def _cmd_envs(args: argparse.Namespace) -> int:
    machine = _machine(args)
    if args.active and args.no_activity:
        raise UsageError("--active needs the process table: drop --no-activity")
    selection = _selection(args, sizes=not args.no_size, kinds=tuple(args.kind))
    result = scan_mod.environments(machine, selection, active_only=args.active)
    options = RenderOptions(
        exact_bytes=args.bytes, processes=args.active, wide=args.wide, unprivileged=_unprivileged()
    )
    text = FORMATS[args.format].envs(result, options)
    _emit(text, args.output)
    return EXIT_OK if result.complete else EXIT_PARTIAL


def _cmd_report(args: argparse.Namespace) -> int:
    machine = _machine(args)
    if args.top is not None and args.top < 1:
        raise UsageError("--top must be at least 1")
    # environments too, whatever the view: which pips use a cache decides what is junk
    selection = _selection(args, sizes=False, cache_kinds=tuple(args.cache_kind))
    from fleetcache.report.run import report as run_report  # naming entries: only when asked

    report, problems = run_report(machine, selection, args.by, args.top)
    text = FORMATS[args.format].report(report, problems, _render(args))
    _emit(text, args.output)
    return EXIT_OK if report.scan.complete and not problems else EXIT_PARTIAL


def _cmd_clean(args: argparse.Namespace) -> int:
    from fleetcache.clean import guard
    from fleetcache.clean import run as clean_run
    from fleetcache.clean.policy import PolicyError, parse_duration, parse_retention
    from fleetcache.formats.clean_table import clean_done, clean_plan
    from fleetcache.formats.fields import clean_document

    machine = _machine(args)
    try:
        policy = Policy.of(
            args.purge,
            tuple(args.pattern),
            tuple(args.package),
            args.junk,
            args.older_than,
            args.max_size,
        )
        wait = None if args.wait is None else parse_duration(args.wait)
        quarantine = None if args.quarantine is None else parse_retention(args.quarantine)
        timeout = parse_duration(args.timeout)
    except PolicyError as exc:
        raise UsageError(str(exc)) from None
    users = tuple(args.user)
    if not (users or args.all_users or args.cache):
        if os.geteuid() != 0:
            users = (pipcache.default_user(machine),)
        elif args.policy is None:  # a policy file covers its accounts: they are named
            raise UsageError("name whose caches to clean: --user NAME, --all-users or --cache PATH")
    for path in args.cache:
        if not path.startswith("/"):
            raise UsageError(f"--cache {path}: give the cache's absolute path")
    if not args.dry_run and not args.yes and not sys.stdin.isatty():
        raise UsageError("no terminal to ask on: add --yes to clean unattended, or --dry-run")
    selection = scan_mod.Selection(
        users=users,
        all_users=args.all_users,
        cache_kinds=tuple(args.cache_kind),
        progress=progress.silent
        if args.quiet or not sys.stderr.isatty()
        else progress.bar(sys.stderr),
    )
    per_account, overridden = _clean_policies(args, machine, policy)
    request = clean_run.Request(
        policy=policy,
        selection=selection,
        caches=tuple(os.path.normpath(p) for p in args.cache),
        dry_run=args.dry_run,
        force_busy=args.force_busy,
        wait=wait,
        timeout=timeout,
        audit_log=args.audit_log,
        lock_dir=args.lock_dir,
        state_dir=args.state_dir,
        quarantine=False if args.no_quarantine else quarantine,
        per_account=per_account,
        policy_file=None if args.policy is None else book.path_of(machine, args.policy),
        overridden=overridden,
    )
    options = _render(args)
    ask = not args.dry_run and not args.yes
    to_stdout = args.format == "table" and args.output is None

    def confirm(result: clean_run.CleanResult) -> bool:
        """Show the plan (stdout, or stderr when stdout carries JSON); ask on a terminal."""
        text = clean_plan(result, options)
        if to_stdout:
            _emit(text, None)
        elif ask or args.dry_run:
            sys.stderr.write(text)
        todo = clean_run.runnable(result, request)
        if not ask or not todo:
            return True
        sys.stderr.write(_question(todo))
        sys.stderr.flush()
        if sys.stdin.readline().strip().lower() in ("y", "yes"):
            return True
        _warn("nothing deleted")
        return False

    try:
        result = clean_run.clean(machine, request, confirm)
    except guard.Refused as exc:
        raise CleanError(str(exc)) from None
    planned = args.dry_run or any(c.state == clean_run.DECLINED for c in result.caches)
    if args.format == "json":
        text = json.dumps(clean_document(result), indent=2) + "\n"
    elif args.format == "html":
        text = HtmlFormat().clean(result, options, done=not planned)
    elif planned:
        text = "" if to_stdout else clean_plan(result, options)
    else:
        text = clean_done(result, options)
    _emit(text, args.output)
    return _clean_status(result)


def _clean_status(result: CleanResult) -> int:
    """A clean's exit code: what it needs from a person, the worst first (see EPILOG)."""
    from fleetcache.clean import history

    if any(r.repeated() for r in result.recorded):
        return EXIT_REPEATED
    how = history.outcome(result.caches)
    if how == history.FAILED or result.skipped:
        return EXIT_PARTIAL
    return EXIT_BUSY if how == history.BUSY else EXIT_OK


def _question(todo: Sequence[CacheClean]) -> str:
    """What the prompt asks: how much goes, deleted or moved into a quarantine (a policy may
    do both, account by account)."""
    from fleetcache.formats.table import human_size, plural

    parts = []
    for verb, aside in (("delete", False), ("quarantine", True)):
        plans = [c.plan for c in todo if c.plan is not None
                 and (c.policy is not None and c.policy.quarantine is not None) == aside]  # fmt: skip
        if plans:
            size = human_size(sum(p.bytes for p in plans))
            parts.append(f"{verb} {plural(sum(p.files for p in plans), 'file')} ({size})")
    said = " and ".join(parts) or "delete 0 files (0 B)"
    return f"{said[0].upper()}{said[1:]} from {plural(len(todo), 'cache')}? [y/N] "


def _clean_policies(
    args: argparse.Namespace, machine: Machine, given: Policy
) -> tuple[Optional[dict[int, AccountPolicy]], tuple[str, ...]]:
    """With --policy: each account's policy (the command line's options on top) and the
    options that override it; refused when it removes everything and --yes was not twice."""
    if args.policy is None:
        return None, ()
    options = {"--purge": args.purge, "--pattern": args.pattern, "--package": args.package,
               "--junk": args.junk, "--older-than": args.older_than is not None,
               "--max-size": args.max_size is not None, "--kind": args.cache_kind}  # fmt: skip
    overridden = tuple(name for name, on in options.items() if on)
    got = book.for_clean(machine, book.path_of(machine, args.policy), given, overridden,
                         tuple(args.user), args.all_users)  # fmt: skip
    if got.everything and not args.dry_run and args.yes < 2:
        raise UsageError(
            "the policy removes everything from every cache of every account it covers: "
            "give --yes twice to mean it"
        )
    return got.per_account, overridden


def _cmd_merge(args: argparse.Namespace) -> int:
    failed = []
    for item in args.failed:
        host, sep, error = item.partition("=")
        if not sep or not host:
            raise UsageError(f"--failed {item!r}: give HOST=ERROR")
        failed.append((host, error))
    if not args.reports and not failed:
        raise UsageError(
            "give the reports to merge (and --failed HOST=ERROR for hosts without one)"
        )
    doc = merge_mod.merge(args.reports, failed, tuple(args.cache_kind))
    _emit(FORMATS[args.format].merged(doc, _render(args)), args.output)
    return EXIT_PARTIAL if doc["skipped"] else EXIT_OK


def _cmd_dir(args: argparse.Namespace) -> int:
    machine = _machine(args)
    resolved, missed = pipcache.dirs(machine, _users(args, machine), envs=not args.no_envs)
    rows = []
    status = _report_problems(missed, EXIT_OK)
    for account in resolved:
        for path in account.cache_paths:
            why = "; ".join(
                f"{u.source.label()}: {u.source.commands_phrase()}"
                for u in account.uses
                if u.path == path
            )
            rows.append((account.account.name, path, why))
        status = _report_account(account, status)
    many = len(resolved) > 1
    if len(rows) == 1 and not many:
        lines = [escape.display(rows[0][1])]  # what `pip cache dir` prints, for scripts
    else:
        lines = ["\t".join(escape.display(c) for c in row[0 if many else 1 :]) for row in rows]
    _emit("".join(line + "\n" for line in lines), None)
    return status


def _cmd_info(args: argparse.Namespace) -> int:
    machine = _machine(args)
    blocks = []
    status = EXIT_OK
    infos = pipcache.info(machine, _users(args, machine))
    many = sum(len(i.caches) for i in infos) > 1
    for item in infos:
        status = _report_account(item.account, status)
        for cache in item.caches:
            if cache.skipped:
                _warn(f"{escape.display(cache.location.path)}: {cache.skipped}")
                status = EXIT_PARTIAL
                continue
            lines = pipcache.info_lines(cache)
            if many:
                name = item.account.account.name
                why = "; ".join(
                    f"{s.describe()}, {s.commands_phrase()}"
                    for s in cache.location.sources
                    if s.user == name
                )
                lines.insert(0, f"# {name}: {cache.location.path} ({why})")
            blocks.append("\n".join(escape.display(line) for line in lines))
            status = _report_problems(cache.figures.problems, status)
    _emit("\n\n".join(blocks) + ("\n" if blocks else ""), None)
    return status


def _cmd_list(args: argparse.Namespace) -> int:
    machine = _machine(args)
    if args.pattern is not None or args.wheels:
        if args.package:
            raise UsageError("--package names downloads too: use it without --wheels or PATTERN")
        return _list_wheels(args, machine)
    found, skipped = pipcache.entries(machine, _users(args, machine), args.package)
    status = _report_problems(skipped, EXIT_OK)
    if args.format == "abspath":
        text = "".join(escape.display(p) + "\n" for _, e in found for p in entry_paths(e))
    elif args.format == "html":  # the page names the machine (--root's)
        text = HtmlFormat().entries(found, _render(args), host=machine.hostname)
    else:
        formatter = FORMATS["table" if args.format == "human" else args.format]
        text = formatter.entries(found, _render(args))
    _emit(text, None)
    return status


def _list_wheels(args: argparse.Namespace, machine: Machine) -> int:
    if args.format not in ("human", "abspath", "json"):
        raise UsageError("--wheels prints as pip does: --format human, abspath or json")
    found, skipped = pipcache.wheels(machine, _users(args, machine), args.pattern or "*")
    status = _report_problems(skipped, EXIT_OK)
    if args.format == "json":
        records = [
            {"user": u, "path": escape.text(w.path), "name": escape.text(w.name), "size": w.size}
            for u, w in sorted(found, key=lambda item: item[1].path)
        ]
        text = json.dumps(records, indent=2) + "\n"
    elif args.format == "abspath":
        lines = pipcompat.list_abspath([w.path for _, w in found])
        text = "".join(escape.display(line) + "\n" for line in lines)
    else:
        lines = pipcompat.list_human([(w.name, w.size) for _, w in found])
        text = "".join(escape.display(line) + "\n" for line in lines)
    _emit(text, None)
    return status


def _report_account(account: AccountCaches, status: int) -> int:
    """Warn of an account's config problems and of the commands whose cache is disabled."""
    for phrase in describe_disabled(account.uses):
        _warn(escape.display(f"{account.account.name}: cache disabled for {phrase}"))
    return _report_problems(account.problems, status)


def _report_problems(problems: Sequence[Skipped], status: int) -> int:
    for problem in problems:
        _warn(f"skipped {escape.display(problem.path)}: {escape.display(problem.reason)}")
    return EXIT_PARTIAL if problems else status


def _warn(message: str) -> None:
    """One line on stderr; escaped, for errors quote names from files and other hosts' reports."""
    progress.clear()
    print(f"fleetcache: {escape.display(message)}", file=sys.stderr)


def _emit(text: str, output: Optional[str]) -> None:
    """Write to stdout, or to FILE (:func:`fleetcache.output.write`: a failed run never leaves
    half a report, and no device, FIFO or link is replaced)."""
    if output is None or output == "-":
        sys.stdout.write(text)
        sys.stdout.flush()
        return
    write_output(text, output)


def main(argv: Optional[list[str]] = None) -> int:
    """Run fleetcache; the exit code is returned, never raised."""
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
        if args.command is None:
            parser.print_help(sys.stderr)
            return EXIT_USAGE
        func: Callable[[argparse.Namespace], int] = args.func
        return func(args)
    except UsageError as exc:
        _warn(f"error: {exc}")
        return EXIT_USAGE
    except UnknownUser as exc:
        _warn(f"error: {exc.args[0]}")
        return EXIT_USAGE
    except PolicyFileError as exc:  # every problem of the file, one line each
        for line in exc.errors:
            _warn(f"error: {line}")
        return EXIT_USAGE
    except (scan_mod.ScanError, merge_mod.MergeError, CleanError, OutputError) as exc:
        _warn(f"error: {exc}")
        return EXIT_ERROR
    except BrokenPipeError:
        # the reader went away (`| head`): stop quietly, and keep Python's exit flush quiet too
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return EXIT_ERROR
    except OSError as exc:
        where = f" {exc.filename}" if exc.filename else ""
        _warn(f"error:{where} {exc.strerror or exc}")
        return EXIT_ERROR
    except KeyboardInterrupt:
        interrupted()
        return EXIT_INTERRUPTED


def interrupted() -> None:
    """Say that a Ctrl-C ended the run."""
    _warn("interrupted")
