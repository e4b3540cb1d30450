"""A named position in the store's outbox, kept in a table of the database: what a watcher (`closer stratify
watch`, `closer casemgmt watch`) has processed, so a restart neither misses nor repeats work.

Each watcher keeps its own table (name, seq), made on first use."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import BigInteger, Column, String, Table, select
from sqlalchemy.engine import Engine

from closer.store.schema import metadata
from closer.store.sql import SqlRepository


@dataclass(frozen=True)
class OutboxCursor:
    """The row `name` of `table`: the outbox seq processed up to."""

    table: Table
    name: str

    def read(self, engine: Engine) -> int:
        """The seq saved, 0 before the first save (the table is made if missing)."""
        self.table.create(engine, checkfirst=True)
        c = self.table.c
        with engine.connect() as conn:
            found = conn.execute(select(c.seq).where(c.name == self.name)).scalar()
        return int(found or 0)

    def save(self, repo: SqlRepository, seq: int) -> None:
        with repo.transaction() as tx:
            c = self.table.c
            updated = tx.connection.execute(self.table.update().where(c.name == self.name).values(seq=seq))
            if updated.rowcount == 0:
                tx.connection.execute(self.table.insert().values(name=self.name, seq=seq))


def cursor_table(table_name: str) -> Table:
    """A cursor table (name, seq) in the store's metadata. seq is a BigInteger like the outbox's; a table made
    before with an INTEGER column is read and written as it is."""
    return Table(
        table_name,
        metadata,
        Column("name", String(32), primary_key=True),
        Column("seq", BigInteger, nullable=False),
    )
