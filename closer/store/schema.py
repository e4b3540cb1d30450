"""Tables of the store, shared by the SQLite and PostgreSQL backends (SQLAlchemy Core).

`resources` holds the current version of each resource; `resource_history` every version;
`outbox` one event per change, the change feed later stages read. The idx_* tables hold search
index rows for the current version only. Instants are microseconds since the epoch (UTC) so
comparisons behave the same on both databases.
"""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    Float,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
)

metadata = MetaData()

TYPE = String(64)
ID = String(64)

resources = Table(
    "resources",
    metadata,
    Column("res_type", TYPE, primary_key=True),
    Column("res_id", ID, primary_key=True),
    Column("version", Integer, nullable=False),
    Column("last_updated", BigInteger, nullable=False),
    Column("deleted", Boolean, nullable=False, default=False),
    Column("content", Text, nullable=False),
    Index("ix_resources_type_updated", "res_type", "last_updated", "res_id"),
)

resource_history = Table(
    "resource_history",
    metadata,
    Column("res_type", TYPE, primary_key=True),
    Column("res_id", ID, primary_key=True),
    Column("version", Integer, primary_key=True),
    Column("last_updated", BigInteger, nullable=False),
    Column("method", String(8), nullable=False),
    Column("content", Text, nullable=True),  # null for a delete
    Index("ix_history_updated", "last_updated"),
    Index("ix_history_type_updated", "res_type", "last_updated"),
)

outbox = Table(
    "outbox",
    metadata,
    Column("seq", BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True),
    Column("res_type", TYPE, nullable=False),
    Column("res_id", ID, nullable=False),
    Column("version", Integer, nullable=False),
    Column("action", String(8), nullable=False),  # create | update | delete
    Column("occurred", BigInteger, nullable=False),
)


def _index_table(name: str, *columns: Column, indexes: tuple[tuple[str, ...], ...]) -> Table:
    table = Table(
        name,
        metadata,
        Column("res_type", TYPE, nullable=False),
        Column("res_id", ID, nullable=False),
        Column("param", String(64), nullable=False),
        *columns,
        Index(f"ix_{name}_owner", "res_type", "res_id"),
    )
    for cols in indexes:
        Index(f"ix_{name}_{'_'.join(cols)}", *(table.c[c] for c in cols))
    return table


idx_token = _index_table(
    "idx_token",
    Column("system", String(512), nullable=True),
    Column("code", String(512), nullable=False),
    indexes=(("res_type", "param", "code", "system"),),
)

idx_string = _index_table(
    "idx_string",
    Column("norm", String(256), nullable=False),  # lower case, accents removed, for prefix/contains
    Column("raw", Text, nullable=False),  # as written, for :exact
    indexes=(("res_type", "param", "norm"),),
)

idx_date = _index_table(
    "idx_date",
    Column("low", BigInteger, nullable=False),
    Column("high", BigInteger, nullable=False),
    indexes=(("res_type", "param", "low"), ("res_type", "param", "high")),
)

idx_reference = _index_table(
    "idx_reference",
    Column("target_type", TYPE, nullable=True),
    Column("target_id", ID, nullable=True),
    Column("target_url", String(512), nullable=True),  # absolute or canonical references
    Column("id_system", String(512), nullable=True),  # Reference.identifier, for :identifier
    Column("id_value", String(512), nullable=True),
    indexes=(
        ("res_type", "param", "target_type", "target_id"),
        ("target_type", "target_id"),
        ("res_type", "param", "id_value"),
    ),
)

idx_number = _index_table(
    "idx_number",
    Column("value", Float, nullable=False),
    Column("system", String(512), nullable=True),
    Column("code", String(128), nullable=True),
    Column("unit", String(128), nullable=True),
    indexes=(("res_type", "param", "value"),),
)

INDEX_TABLES = {
    "token": idx_token,
    "uri": idx_token,
    "string": idx_string,
    "date": idx_date,
    "reference": idx_reference,
    "quantity": idx_number,
    "number": idx_number,
}
