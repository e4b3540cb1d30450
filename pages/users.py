"""The people who sign in to the web pages, in a table beside the FHIR store (like closer/auth/tables.py).

Each user has one role and is tied to GP practices (ODS codes) or to a case management team (its key),
which is all they may see. A case manager is also linked to the `Practitioner` `cm-<username>` whose
caseload is theirs. Passwords are kept only as Argon2id hashes. After MAX_FAILURES wrong passwords in a
row the account is locked for LOCK_MINUTES, so guessing is slow whoever is guessing.
"""

from __future__ import annotations

import re
import time
from dataclasses import dataclass
from typing import Any

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import BigInteger, Boolean, Column, Integer, String, Table, Text, insert, select, update
from sqlalchemy.engine import Engine
from sqlalchemy.exc import IntegrityError

from closer.auth.tables import to_us
from closer.store.engine import writing
from closer.store.schema import metadata
from closer.store.sql import SqlRepository
from fhir_profiles.canonical import CANONICAL_BASE

GP, CASE_MANAGER, MDT_ADMIN = "gp", "case-manager", "mdt-admin"
ROLES = (GP, CASE_MANAGER, MDT_ADMIN)
USERNAME = re.compile(r"^[a-z][a-z0-9._-]{1,62}$")
ODS_CODE = re.compile(r"^[A-Z0-9]{3,10}$")
MIN_PASSWORD = 10
MAX_FAILURES = 5
LOCK_MINUTES = 15
USER_SYSTEM = f"{CANONICAL_BASE}/Id/web-user"  # identifies a Practitioner by the username it signs in with

pages_users = Table(
    "pages_users",
    metadata,
    Column("username", String(64), primary_key=True),
    Column("display_name", String(128), nullable=False),
    Column("role", String(16), nullable=False),
    Column("practices", Text, nullable=False, server_default=""),  # space-separated ODS codes
    Column("team", String(64), nullable=False, server_default=""),  # a case management team's key
    Column("password_hash", Text, nullable=False),
    Column("disabled", Boolean, nullable=False, server_default="0"),
    Column("failures", Integer, nullable=False, server_default="0"),  # wrong passwords since the last success
    Column("locked_until", BigInteger, nullable=True),  # microseconds since the epoch (UTC)
    Column("created", BigInteger, nullable=False),
)

_hasher = PasswordHasher()  # Argon2id with the library's current recommended parameters
_DUMMY_HASH = _hasher.hash("not a real password; verified against so unknown users take as long")


class UserError(ValueError):
    """A user cannot be added or changed as asked; the message says why."""


@dataclass(frozen=True)
class User:
    username: str
    display_name: str
    role: str
    practices: tuple[str, ...]
    team: str
    disabled: bool = False

    @property
    def practitioner(self) -> str | None:
        """The case manager's Practitioner reference (their caseload), None for other roles."""
        return f"Practitioner/cm-{self.username}" if self.role == CASE_MANAGER else None


def practitioner_resource(user: User) -> dict[str, Any]:
    """The case manager's Practitioner `cm-<username>`: what episodes name as careManager (MODEL.md)."""
    assert user.role == CASE_MANAGER
    given, _, family = user.display_name.rpartition(" ")
    name: dict[str, Any] = {"text": user.display_name, "family": family}
    if given:
        name["given"] = given.split()
    return {
        "resourceType": "Practitioner",
        "id": f"cm-{user.username}",
        "identifier": [{"system": USER_SYSTEM, "value": user.username}],
        "active": True,
        "name": [name],
    }


def ensure_tables(engine: Engine) -> None:
    pages_users.create(engine, checkfirst=True)


def check_user(username: str, role: str, practices: tuple[str, ...], team: str, password: str) -> None:
    """The rules a new user must meet (pure)."""
    if not USERNAME.match(username):
        raise UserError(f"'{username}' is not a username: lower-case letters, digits, '.', '_' or '-', 2-63 long")
    if role not in ROLES:
        raise UserError(f"role must be one of {', '.join(ROLES)}, not '{role}'")
    if bool(practices) == bool(team):
        raise UserError("a user is tied to practices (--practice) or to a team (--team), one or the other")
    for code in practices:
        if not ODS_CODE.match(code):
            raise UserError(f"'{code}' is not an ODS practice code")
    if len(password) < MIN_PASSWORD:
        raise UserError(f"the password must be at least {MIN_PASSWORD} characters")


def add_user(
    repo: SqlRepository,
    username: str,
    *,
    role: str,
    password: str,
    practices: tuple[str, ...] = (),
    team: str = "",
    display_name: str = "",
) -> User:
    """Add a user to the users table; a case manager also gets their caseload's Practitioner `cm-<username>`
    in the store (PUT by id, so writing it again changes nothing)."""
    practices = tuple(sorted({p.strip().upper() for p in practices if p.strip()}))
    check_user(username, role, practices, team.strip(), password)
    engine = repo.engine
    ensure_tables(engine)
    user = User(username, display_name.strip() or username, role, practices, team.strip())
    try:
        with writing(engine) as conn:
            conn.execute(
                insert(pages_users).values(
                    username=user.username,
                    display_name=user.display_name,
                    role=user.role,
                    practices=" ".join(user.practices),
                    team=user.team,
                    password_hash=_hasher.hash(password),
                    disabled=False,
                    failures=0,
                    created=to_us(time.time()),
                )
            )
    except IntegrityError:
        raise UserError(f"a user '{username}' already exists") from None
    if user.role == CASE_MANAGER:
        with repo.transaction() as tx:
            tx.put_many([practitioner_resource(user)])
    return user


def list_users(engine: Engine) -> list[User]:
    ensure_tables(engine)
    with engine.connect() as conn:
        return [_user(row) for row in conn.execute(select(pages_users).order_by(pages_users.c.username))]


def get_user(engine: Engine, username: str) -> User | None:
    """The user, or None if there is none (a disabled user is returned, marked disabled)."""
    with engine.connect() as conn:
        row = conn.execute(select(pages_users).where(pages_users.c.username == username)).first()
    return _user(row) if row is not None else None


def set_disabled(engine: Engine, username: str, disabled: bool = True) -> None:
    ensure_tables(engine)
    with writing(engine) as conn:
        done = conn.execute(update(pages_users).where(pages_users.c.username == username).values(disabled=disabled))
    if done.rowcount == 0:
        raise UserError(f"there is no user '{username}'")


def set_password(engine: Engine, username: str, password: str) -> None:
    if len(password) < MIN_PASSWORD:
        raise UserError(f"the password must be at least {MIN_PASSWORD} characters")
    with writing(engine) as conn:
        done = conn.execute(
            update(pages_users)
            .where(pages_users.c.username == username)
            .values(password_hash=_hasher.hash(password), failures=0, locked_until=None)
        )
    if done.rowcount == 0:
        raise UserError(f"there is no user '{username}'")


@dataclass(frozen=True)
class SignIn:
    """The outcome of a sign-in attempt: the user, or why not (the page shows one message for all)."""

    user: User | None
    locked: bool = False


def authenticate(engine: Engine, username: str, password: str, now: float | None = None) -> SignIn:
    """Check a password. Unknown, disabled and locked users cost one Argon2 verification too, so the
    answer's timing does not tell which it was; each wrong password counts towards the lock."""
    now = time.time() if now is None else now
    with engine.connect() as conn:
        row = conn.execute(select(pages_users).where(pages_users.c.username == username)).first()
    if row is None:
        _verify(_DUMMY_HASH, password)
        return SignIn(None)
    m = row._mapping
    locked = m["locked_until"] is not None and m["locked_until"] > to_us(now)
    if locked or m["disabled"]:
        _verify(_DUMMY_HASH, password)
        return SignIn(None, locked=locked)
    if not _verify(m["password_hash"], password):
        _record_failure(engine, username, int(m["failures"]) + 1, now)
        return SignIn(None, locked=int(m["failures"]) + 1 >= MAX_FAILURES)
    with writing(engine) as conn:
        values: dict[str, object] = {"failures": 0, "locked_until": None}
        if _hasher.check_needs_rehash(m["password_hash"]):
            values["password_hash"] = _hasher.hash(password)
        conn.execute(update(pages_users).where(pages_users.c.username == username).values(**values))
    return SignIn(_user(row))


def _record_failure(engine: Engine, username: str, failures: int, now: float) -> None:
    values: dict[str, object] = {"failures": failures}
    if failures >= MAX_FAILURES:
        values = {"failures": 0, "locked_until": to_us(now + LOCK_MINUTES * 60)}
    with writing(engine) as conn:
        conn.execute(update(pages_users).where(pages_users.c.username == username).values(**values))


def _verify(stored: str, password: str) -> bool:
    try:
        return _hasher.verify(stored, password)
    except (VerificationError, InvalidHashError):
        return False


def _user(row: object) -> User:
    m = row._mapping  # type: ignore[attr-defined]
    return User(
        username=m["username"],
        display_name=m["display_name"],
        role=m["role"],
        practices=tuple(p for p in str(m["practices"]).split() if p),
        team=str(m["team"]),
        disabled=bool(m["disabled"]),
    )
