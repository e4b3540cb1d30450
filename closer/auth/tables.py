"""The auth tables, beside the FHIR store's in the same database (SQLite or PostgreSQL).

`auth_clients` is the client registry; `auth_jti` remembers each accepted assertion's `jti` until the
assertion expires (after that the assertion is refused for its `exp` anyway, so expired rows are
deleted); `auth_tokens` holds the access tokens issued, by SHA-256 hash only. Instants are microseconds
since the epoch (UTC), as in the store's tables.
"""

from __future__ import annotations

from sqlalchemy import BigInteger, Column, Index, String, Table, Text, inspect, text
from sqlalchemy.engine import Engine

from closer.store.engine import writing
from closer.store.schema import metadata

auth_clients = Table(
    "auth_clients",
    metadata,
    Column("client_id", String(64), primary_key=True),
    Column("name", String(128), nullable=False),
    Column("kind", String(16), nullable=False),  # "system" (a consumer) or "internal" (a writer)
    Column("organization", String(16), nullable=False),  # ODS code
    Column("scopes", Text, nullable=False),  # space-separated SMART scopes
    Column("purpose", String(16), nullable=False, server_default="TREAT"),  # v3-ActReason purpose of use
    Column("key_kind", String(8), nullable=False),  # "jwks" or "pem"
    Column("public_key", Text, nullable=False),
    Column("created", BigInteger, nullable=False),
    Column("revoked_at", BigInteger, nullable=True),
    Index("ux_auth_clients_name", "name", unique=True),
)

auth_jti = Table(
    "auth_jti",
    metadata,
    Column("client_id", String(64), primary_key=True),
    Column("jti", String(255), primary_key=True),
    Column("expires", BigInteger, nullable=False),
    Index("ix_auth_jti_expires", "expires"),
)

auth_tokens = Table(
    "auth_tokens",
    metadata,
    Column("token_hash", String(64), primary_key=True),  # hex SHA-256 of the bearer token
    Column("client_id", String(64), nullable=False),
    Column("scopes", Text, nullable=False),
    Column("issued", BigInteger, nullable=False),
    Column("expires", BigInteger, nullable=False),
    Index("ix_auth_tokens_expires", "expires"),
    Index("ix_auth_tokens_client", "client_id"),
)

TABLES = (auth_clients, auth_jti, auth_tokens)


def ensure_tables(engine: Engine) -> None:
    for table in TABLES:
        table.create(engine, checkfirst=True)
    _add_purpose_column(engine)


def _add_purpose_column(engine: Engine) -> None:
    """Registries made before clients had a purpose of use get the column, defaulting to TREAT."""
    columns = {c["name"] for c in inspect(engine).get_columns("auth_clients")}
    if "purpose" not in columns:
        with writing(engine) as conn:
            conn.execute(text("ALTER TABLE auth_clients ADD COLUMN purpose VARCHAR(16) NOT NULL DEFAULT 'TREAT'"))


def to_us(seconds: float) -> int:
    return int(seconds * 1_000_000)
