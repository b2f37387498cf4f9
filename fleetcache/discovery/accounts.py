"""The machine's accounts: read from its account database, and selected as the user asked."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Callable, Optional

from fleetcache.model import Account

DEFAULT_UID_MIN = {"darwin": 500}
NO_HOME = ("", "/", "/nonexistent", "/var/empty", "/dev/null")


class UnknownUser(LookupError):
    """A user named on the command line that the machine does not have."""


def parse_passwd(text: str, uid_min: int, uid_max: int) -> list[Account]:
    """Accounts from passwd(5) lines; malformed lines are passed over."""
    accounts = []
    for line in text.splitlines():
        if not line or line.startswith(("#", "+", "-")):
            continue
        parts = line.split(":")
        if len(parts) < 7:
            continue
        try:
            uid, gid = int(parts[2]), int(parts[3])
        except ValueError:
            continue
        human = uid == 0 or uid_min <= uid <= uid_max
        accounts.append(Account(parts[0], uid, gid, parts[5], system=not human))
    return accounts


def parse_group(text: str) -> dict[int, tuple[str, list[str]]]:
    """gid -> (name, member names) from group(5) lines (a gid listed twice: the first name, every
    member); malformed lines are passed over."""
    found: dict[int, tuple[str, list[str]]] = {}
    for line in text.splitlines():
        if not line or line.startswith(("#", "+", "-")):
            continue
        parts = line.split(":")
        if len(parts) < 4:
            continue
        try:
            gid = int(parts[2])
        except ValueError:
            continue
        found.setdefault(gid, (parts[0], []))[1].extend(m for m in parts[3].split(",") if m)
    return found


def host_group(gid: int) -> Optional[tuple[str, list[str]]]:
    """A group of this host through its name service: (name, member names), None when unknown."""
    import grp

    try:
        group = grp.getgrgid(gid)
    except KeyError:
        return None
    return group.gr_name, list(group.gr_mem)


def memberships(table: Mapping[int, tuple[str, list[str]]]) -> dict[str, tuple[int, ...]]:
    """Account name -> the gids of the groups that list it as a member, from :func:`parse_group`."""
    found: dict[str, list[int]] = {}
    for gid, (_name, members) in table.items():
        for member in members:
            found.setdefault(member.strip(), []).append(gid)
    return {name: tuple(gids) for name, gids in found.items() if name}


def parse_login_defs(text: str) -> dict[str, str]:
    """The ``KEY value`` settings of login.defs(5)."""
    settings = {}
    for line in text.splitlines():
        parts = line.split()
        if len(parts) >= 2 and not parts[0].startswith("#"):
            settings[parts[0]] = parts[1]
    return settings


def uid_range(login_defs: str, platform: str) -> tuple[int, int]:
    """The uids of human accounts: UID_MIN..UID_MAX from login.defs, else the platform's default."""
    settings = parse_login_defs(login_defs)
    try:
        low = int(settings.get("UID_MIN", DEFAULT_UID_MIN.get(platform, 1000)))
        high = int(settings.get("UID_MAX", 60000))
    except ValueError:
        low, high = DEFAULT_UID_MIN.get(platform, 1000), 60000
    return low, high


def host_accounts(uid_min: int, uid_max: int) -> list[Account]:
    """This host's accounts through its name service (files, LDAP, sssd ...)."""
    import pwd

    return [
        Account(
            p.pw_name,
            p.pw_uid,
            p.pw_gid,
            p.pw_dir,
            system=not (p.pw_uid == 0 or uid_min <= p.pw_uid <= uid_max),
        )
        for p in pwd.getpwall()
    ]


def select(
    accounts: Sequence[Account],
    names: Iterable[str] = (),
    *,
    all_users: bool = False,
    home_exists: Optional[Callable[[str], bool]] = None,
) -> list[Account]:
    """The accounts asked for: by name; else humans and root; with ``all_users``, system accounts too.

    System accounts count only when they have a home of their own (``home_exists(path)``).
    """
    by_name: dict[str, Account] = {}
    for account in accounts:
        by_name.setdefault(account.name, account)
    wanted = list(dict.fromkeys(names))
    if wanted:
        missing = [n for n in wanted if n not in by_name]
        if missing:
            raise UnknownUser(f"no such user: {', '.join(missing)}")
        return [by_name[n] for n in wanted]
    chosen = []
    for account in by_name.values():
        if not account.system or (
            all_users
            and account.home not in NO_HOME
            and (home_exists is None or (callable(home_exists) and home_exists(account.home)))
        ):
            chosen.append(account)
    return chosen


def home_of(accounts: Sequence[Account], name: str) -> str | None:
    """The home of the named account, for ``~name`` in config values."""
    for account in accounts:
        if account.name == name:
            return account.home
    return None


def owner_names(accounts: Sequence[Account]) -> dict[int, str]:
    """uid -> first account name with that uid."""
    names: dict[int, str] = {}
    for account in accounts:
        names.setdefault(account.uid, account.name)
    return names
