"""The client registry: who may ask for a token, for which organization, with which scopes and keys.

A client is a `system` consumer (an ambulance service's or A&E department's system, reading) or an
`internal` writer (adapters, stratify, case management). Clients are revoked, never deleted, so the
registry keeps a record of everyone who had access.
"""

from __future__ import annotations

import re
import time
import uuid
from collections.abc import Collection, Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select, update
from sqlalchemy.engine import Engine
from sqlalchemy.exc import IntegrityError

from closer.auth.keys import KeySet, load_key_set
from closer.auth.scopes import Scope, format_scopes, parse_scopes
from closer.auth.tables import auth_clients, auth_tokens, ensure_tables, to_us
from closer.store.dates import from_us
from closer.store.engine import writing

SYSTEM = "system"
INTERNAL = "internal"
KINDS = (SYSTEM, INTERNAL)
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$")
_ODS = re.compile(r"^[A-Z0-9]{3,10}$")
TREAT = "TREAT"
# v3-ActReason purposes of use a consumer may be registered with (what consent provisions' purpose names).
PURPOSES = (TREAT, "ETREAT", "HPAYMT", "HOPERAT", "PUBHLTH", "HRESCH", "PATRQT")


class ClientError(ValueError):
    """A registry request that cannot be done (bad name, duplicate, unknown client...)."""


@dataclass(frozen=True)
class Client:
    client_id: str
    name: str
    kind: str
    organization: str  # ODS code
    scopes: tuple[Scope, ...]
    key_set: KeySet
    created: datetime
    revoked_at: datetime | None
    purpose: str = TREAT  # the v3-ActReason purpose of use its requests carry (ETREAT for an ambulance service)

    @property
    def revoked(self) -> bool:
        return self.revoked_at is not None

    def as_dict(self) -> dict[str, object]:
        return {
            "name": self.name,
            "client_id": self.client_id,
            "kind": self.kind,
            "organization": self.organization,
            "scopes": [str(s) for s in self.scopes],
            "purpose": self.purpose,
            "key": self.key_set.kind,
            "kids": [k.kid for k in self.key_set.keys if k.kid],
            "created": self.created.isoformat(timespec="seconds"),
            "revoked_at": self.revoked_at.isoformat(timespec="seconds") if self.revoked_at else None,
        }


@dataclass(frozen=True)
class NewClient:
    """A checked registration, before it is stored."""

    name: str
    kind: str
    organization: str
    scopes: tuple[Scope, ...]
    key_set: KeySet
    purpose: str = TREAT


def check_registration(
    name: str,
    *,
    kind: str,
    organization: str,
    scopes: Sequence[str],
    public_key: str,
    known_types: Collection[str] | None = None,
    purpose: str = TREAT,
) -> NewClient:
    """Validate a registration (pure): the name, the ODS code, the scopes and the key material."""
    if not _NAME.match(name):
        raise ClientError(f"'{name}' is not a client name: use letters, digits, '.', '_' and '-' (up to 128)")
    if kind not in KINDS:
        raise ClientError(f"kind must be one of {', '.join(KINDS)}, not '{kind}'")
    ods = organization.strip().upper()
    if not _ODS.match(ods):
        raise ClientError(f"'{organization}' is not an ODS code (3 to 10 letters and digits, e.g. RRF or M85001)")
    parsed = parse_scopes(scopes, known_types)
    if not parsed:
        raise ClientError("a client needs at least one scope (e.g. --scope system/Flag.read)")
    if purpose not in PURPOSES:
        raise ClientError(f"purpose must be one of {', '.join(PURPOSES)} (v3-ActReason), not '{purpose}'")
    return NewClient(name, kind, ods, parsed, load_key_set(public_key), purpose)


def add_client(engine: Engine, new: NewClient, *, now: float | None = None) -> Client:
    """Store a checked registration under a new client_id; ClientError when the name is taken."""
    ensure_tables(engine)
    created = to_us(time.time() if now is None else now)
    client_id = uuid.uuid4().hex
    try:
        with writing(engine) as conn:
            if conn.execute(select(auth_clients.c.name).where(auth_clients.c.name == new.name)).first():
                raise ClientError(f"a client named '{new.name}' is registered already")
            conn.execute(
                auth_clients.insert().values(
                    client_id=client_id,
                    name=new.name,
                    kind=new.kind,
                    organization=new.organization,
                    scopes=format_scopes(new.scopes),
                    purpose=new.purpose,
                    key_kind=new.key_set.kind,
                    public_key=new.key_set.text,
                    created=created,
                    revoked_at=None,
                )
            )
    except IntegrityError:  # a concurrent add of the same name
        raise ClientError(f"a client named '{new.name}' is registered already") from None
    return Client(
        client_id, new.name, new.kind, new.organization, new.scopes, new.key_set, from_us(created), None, new.purpose
    )


def _client(row: object) -> Client:
    r = row._mapping  # type: ignore[attr-defined]
    return Client(
        client_id=r["client_id"],
        name=r["name"],
        kind=r["kind"],
        organization=r["organization"],
        scopes=parse_scopes(r["scopes"]),
        key_set=load_key_set(r["public_key"]),
        created=from_us(r["created"]),
        revoked_at=None if r["revoked_at"] is None else from_us(r["revoked_at"]),
        purpose=r["purpose"],
    )


def find_client(engine: Engine, *, client_id: str | None = None, name: str | None = None) -> Client | None:
    """The client with this client_id or name (revoked ones included), or None."""
    column, value = (auth_clients.c.client_id, client_id) if client_id is not None else (auth_clients.c.name, name)
    with engine.connect() as conn:
        row = conn.execute(select(auth_clients).where(column == value)).first()
    return None if row is None else _client(row)


def list_clients(engine: Engine) -> list[Client]:
    ensure_tables(engine)
    with engine.connect() as conn:
        rows = conn.execute(select(auth_clients).order_by(auth_clients.c.name)).all()
    return [_client(r) for r in rows]


def revoke_client(engine: Engine, name: str, *, now: float | None = None) -> Client:
    """Revoke the client and end its access tokens at once. Revoking twice keeps the first date."""
    ensure_tables(engine)
    at = to_us(time.time() if now is None else now)
    with writing(engine) as conn:
        row = conn.execute(select(auth_clients).where(auth_clients.c.name == name)).first()
        if row is None:
            raise ClientError(f"no client is named '{name}'")
        client = _client(row)
        if client.revoked_at is None:
            conn.execute(update(auth_clients).where(auth_clients.c.client_id == client.client_id).values(revoked_at=at))
            client = Client(**{**client.__dict__, "revoked_at": from_us(at)})
        conn.execute(auth_tokens.delete().where(auth_tokens.c.client_id == client.client_id))
    return client
