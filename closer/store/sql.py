"""The SQL Repository: one implementation for SQLite and PostgreSQL.

Every write runs in one database transaction that holds the new version, its history row, its
search-index rows and an outbox event, so a crash can never keep a resource and lose its event.
"""

from __future__ import annotations

import functools
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import datetime
from typing import Any

import orjson
from sqlalchemy import (
    Connection,
    Engine,
    Table,
    and_,
    bindparam,
    delete,
    false,
    func,
    insert,
    or_,
    select,
    tuple_,
    update,
)
from sqlalchemy.exc import DBAPIError

from closer.errors import conflict, gone, invalid, not_found, precondition_failed
from closer.fhir.validate import Validated, check_id, validate_resource, with_id
from closer.store import sqlsearch
from closer.store.dates import format_instant, from_us, instant_now, to_us
from closer.store.engine import WRITE_OPTION, is_postgres, write_queue
from closer.store.extract import Prepared, Tuples, index_tuples
from closer.store.query import SearchQuery
from closer.store.repository import HistoryEntry, OutboxEvent, Resource, SearchResult, WriteResult
from closer.store.schema import (
    idx_date,
    idx_number,
    idx_reference,
    idx_string,
    idx_token,
    outbox,
    resource_history,
    resources,
)
from closer.store.writelock import queued

_TABLES = {"token": idx_token, "string": idx_string, "date": idx_date, "reference": idx_reference, "number": idx_number}
MAX_INCLUDED = 1000
FETCH_GROUPS = 8  # (type, ids) groups fetched in one statement

# Statements built once with bound parameters, so each write reuses SQLAlchemy's compiled form.
_KEY = (resources.c.res_type == bindparam("t"), resources.c.res_id == bindparam("i"))
_SELECT_CURRENT = select(resources.c.version, resources.c.deleted, resources.c.content).where(*_KEY)
_SELECT_CURRENT_FOR_UPDATE = _SELECT_CURRENT.with_for_update()
_INSERT_CURRENT = insert(resources).values(
    res_type=bindparam("t"),
    res_id=bindparam("i"),
    version=bindparam("version"),
    last_updated=bindparam("last_updated"),
    deleted=bindparam("deleted"),
    content=bindparam("content"),
)
_UPDATE_CURRENT = (
    update(resources)
    .where(*_KEY)
    .values(
        version=bindparam("version"),
        last_updated=bindparam("last_updated"),
        deleted=bindparam("deleted"),
        content=bindparam("content"),
    )
)
_CLEAR_INDEX = {
    table: delete(table).where(table.c.res_type == bindparam("t"), table.c.res_id == bindparam("i"))
    for table in _TABLES.values()
}
_SELECT_CURRENT_MANY = select(
    resources.c.res_type, resources.c.res_id, resources.c.version, resources.c.deleted, resources.c.content
).where(resources.c.res_type == bindparam("t"), resources.c.res_id.in_(bindparam("ids", expanding=True)))
_SELECT_CURRENT_MANY_FOR_UPDATE = _SELECT_CURRENT_MANY.with_for_update()


def _referring(targets: Any) -> Any:
    """Current resources of the bound `types` whose reference parameter `param` points at a `target_type`
    resource with an id among `targets` (a subquery or an expanding list), in key order, at most `limit`.
    One statement built once: a consumer's every request asks it (alerts, Consents), and building the
    same search from parts each time cost several times more than running it."""
    r, x = resources.c, idx_reference.c
    sources = select(x.res_type, x.res_id).where(
        x.res_type.in_(bindparam("types", expanding=True)),
        x.param == bindparam("param"),
        x.target_type == bindparam("target_type"),
        x.target_id.in_(targets),
    )
    return (
        select(r.content)
        .where(r.deleted == false(), tuple_(r.res_type, r.res_id).in_(sources))
        .order_by(r.res_type, r.res_id)
        .limit(bindparam("limit"))
    )


# Current resources with one token value of a parameter (an identifier system|value), as the targets.
_IDENTIFIED = (
    select(idx_token.c.res_id)
    .join(resources, and_(resources.c.res_type == idx_token.c.res_type, resources.c.res_id == idx_token.c.res_id))
    .where(
        idx_token.c.res_type == bindparam("target_type"),
        idx_token.c.param == bindparam("token_param"),
        idx_token.c.code == bindparam("code"),
        idx_token.c.system == bindparam("system"),
        resources.c.deleted == false(),
    )
)
_REFERRING_IDS = _referring(bindparam("targets", expanding=True))
_REFERRING_IDENTIFIED = _referring(_IDENTIFIED)


def _dump(resource: Resource) -> str:
    return orjson.dumps(resource).decode()


def _load(text: str) -> Resource:
    loaded: Resource = orjson.loads(text)
    return loaded


def _by_first(keys: set[tuple[str, str]], chunk: int = 400) -> Iterator[tuple[str, list[str]]]:
    """Keys grouped by their first part, in chunks: SQLite plans `a = ? AND b IN (...)` on an index but
    scans the table for a row-value `(a, b) IN (...)`."""
    grouped: dict[str, list[str]] = {}
    for first, second in sorted(keys):
        grouped.setdefault(first, []).append(second)
    for first, seconds in grouped.items():
        for start in range(0, len(seconds), chunk):
            yield first, seconds[start : start + chunk]


def parse_etag(etag: str) -> int:
    """The version number in an If-Match value such as W/"3"."""
    text = etag.strip()
    if text.startswith("W/"):
        text = text[2:]
    text = text.strip('"')
    if not text.isdigit():
        raise invalid(f"If-Match must be a version ETag like W/\"3\", got '{etag}'")
    return int(text)


def _inserted_columns(table: Table) -> tuple[str, ...]:
    """The columns a buffered row of `table` holds, in table order: all but an autoincrement key."""
    return tuple(c.name for c in table.columns if not (c.primary_key and c.autoincrement is True))


@functools.cache
def _sqlite_insert(table: Table) -> str:
    """The INSERT of a buffered row of `table` in sqlite3's positional style, so the buffered tuples go to
    the driver as they are (PostgreSQL takes them through COPY, see _copy_rows)."""
    columns = _inserted_columns(table)
    names = ", ".join(f'"{c}"' for c in columns)
    return f'INSERT INTO "{table.name}" ({names}) VALUES ({", ".join("?" * len(columns))})'


def _copy_rows(conn: Connection, table: Table, rows: list[tuple[Any, ...]]) -> None:
    """PostgreSQL: insert buffered rows with one COPY per table, in the transaction's connection.
    psycopg's executemany spends tens of microseconds of Python on each row (measured: the whole cost of
    a bulk write), COPY about one. Errors come out as SQLAlchemy's, as from any statement (a unique
    clash is an IntegrityError, which callers retry)."""
    import psycopg

    quote = conn.dialect.identifier_preparer.quote
    sql = f"COPY {quote(table.name)} ({', '.join(quote(c) for c in _inserted_columns(table))}) FROM STDIN"
    driver = conn.connection.driver_connection
    assert driver is not None
    try:
        with driver.cursor() as cursor, cursor.copy(sql) as copy:
            for row in rows:
                copy.write_row(row)
    except psycopg.Error as exc:
        raise DBAPIError.instance(sql, None, exc, psycopg.Error) from exc


def _resource_row(values: dict[str, Any]) -> tuple[Any, ...]:
    """A new `resources` row to buffer, from the values _stamp gives."""
    return (values["t"], values["i"], values["version"], values["last_updated"], False, values["content"])


def _prepared_rows(resource: Resource) -> Tuples | None:
    return resource.index if isinstance(resource, Prepared) else None


def _same_content(a: Resource, b: Resource) -> bool:
    """Equal apart from the meta elements the server sets."""

    def strip(r: Resource) -> Resource:
        meta = {k: v for k, v in (r.get("meta") or {}).items() if k not in ("versionId", "lastUpdated")}
        return {**{k: v for k, v in r.items() if k != "meta"}, "meta": meta}

    return strip(a) == strip(b)


class SqlRepository:
    """Repository over SQLAlchemy Core. Bound to a connection inside `transaction()`."""

    def __init__(
        self,
        engine: Engine,
        *,
        conn: Connection | None = None,
        validator: Callable[[Any], Any] = validate_resource,
    ) -> None:
        self.engine = engine
        self._conn = conn
        self._validate = validator
        self._pending: dict[Table, list[tuple[Any, ...]]] = {}  # rows in _inserted_columns order
        self._minted: set[str] = set()
        self._queue = write_queue(engine) if conn is None else None

    # -- connections ---------------------------------------------------------------------------------
    @contextmanager
    def _reading(self) -> Iterator[Connection]:
        if self._conn is not None:
            self._flush()  # reads inside a transaction see its own writes
            yield self._conn
        else:
            with self.engine.connect() as conn:
                yield conn

    @contextmanager
    def transaction(self) -> Iterator[SqlRepository]:
        """All writes made through the yielded repository commit together or not at all."""
        if self._conn is not None:
            yield self
            return
        with queued(self._queue), self.engine.connect() as conn:
            conn.execution_options(**{WRITE_OPTION: True})
            with conn.begin():
                tx = SqlRepository(self.engine, conn=conn, validator=self._validate)
                yield tx
                tx._flush()

    @contextmanager
    def savepoint(self) -> Iterator[SqlRepository]:
        """Inside `transaction()`: writes made in the block are undone alone if it raises, and the
        rest of the transaction goes on (one bad record in a batch does not cost the batch)."""
        conn = self._bound()
        self._flush()
        nested = conn.begin_nested()
        try:
            yield self
            self._flush()
        except BaseException:
            self._pending = {}
            nested.rollback()
            raise
        nested.commit()

    @property
    def connection(self) -> Connection:
        """The transaction's connection, for tables an adapter owns (its message store) that must
        commit or roll back together with the resources it writes. Only inside `transaction()`.
        Rows this repository buffers are not flushed first: adapter tables never hold them."""
        return self._bound()

    def _flush(self) -> None:
        """Insert the buffered history, outbox and index rows, one executemany per table (on PostgreSQL one
        COPY, see _copy_rows). The statement is made once per table and run at the driver level: these rows
        hold only strings, numbers and booleans, which need none of SQLAlchemy's per-row parameter
        processing (a measured hot path), and are buffered as tuples in column order, which the driver
        takes as they are."""
        conn = self._conn
        for table, rows in self._pending.items():
            if rows:
                assert conn is not None
                if is_postgres(self.engine):
                    _copy_rows(conn, table, rows)
                    continue
                conn.exec_driver_sql(_sqlite_insert(table), rows)
        self._pending = {}

    def _buffer(self, table: Table, rows: list[tuple[Any, ...]]) -> None:
        self._pending.setdefault(table, []).extend(rows)

    # -- writes --------------------------------------------------------------------------------------
    def new_id(self) -> str:
        """A fresh server-assigned id; creating a resource with it needs no check that the id is free."""
        minted = str(uuid.uuid4())
        if self._conn is not None:  # only a transaction's own writes can use the shortcut
            self._minted.add(minted)
        return minted

    def create(self, resource: Resource, *, resource_id: str | None = None) -> WriteResult:
        resource = self._checked(resource)
        with self.transaction() as tx:
            new_id = check_id(resource_id) if resource_id else tx.new_id()
            return tx._write(with_id(resource, new_id), method="POST")

    def update(self, resource: Resource, *, if_match: str | None = None) -> WriteResult:
        if not resource.get("id"):
            raise invalid("An update must carry the resource id", "id")
        expected = parse_etag(if_match) if if_match else None
        resource = self._checked(resource)
        with self.transaction() as tx:
            return tx._write(resource, method="PUT", expected_version=expected)

    def _checked(self, resource: Resource) -> Resource:
        """Validate now, before a write transaction takes the database's write lock."""
        return resource if isinstance(resource, Validated) else self._validate(resource)

    def delete(self, resource_type: str, resource_id: str) -> WriteResult | None:
        with self.transaction() as tx:
            return tx._delete(resource_type, resource_id)

    def _delete(self, resource_type: str, resource_id: str) -> WriteResult | None:
        conn = self._bound()
        current = self._current(conn, resource_type, resource_id, lock=True)
        if current is None:
            return None
        if current.deleted:
            return WriteResult(_load(current.content), "noop")
        version = current.version + 1
        now = instant_now()
        conn.execute(
            _UPDATE_CURRENT,
            {
                "t": resource_type,
                "i": resource_id,
                "version": version,
                "last_updated": to_us(now),
                "deleted": True,
                "content": current.content,
            },
        )
        self._record(resource_type, resource_id, version, to_us(now), "DELETE", None, "delete")
        self._clear_index(conn, resource_type, resource_id)
        stub = {
            "resourceType": resource_type,
            "id": resource_id,
            "meta": {"versionId": str(version), "lastUpdated": format_instant(now)},
        }
        return WriteResult(stub, "delete")

    def _bound(self) -> Connection:
        assert self._conn is not None, "writes run inside transaction()"
        return self._conn

    def _write(self, resource: Resource, *, method: str, expected_version: int | None = None) -> WriteResult:
        conn = self._bound()
        resource = self._checked(resource)
        resource_type, resource_id = resource["resourceType"], str(resource["id"])
        check_id(resource_id)
        fresh = method == "POST" and resource_id in self._minted
        current = None if fresh else self._current(conn, resource_type, resource_id, lock=True)
        if expected_version is not None and (current is None or current.version != expected_version):
            found = "no resource" if current is None else f"version {current.version}"
            raise precondition_failed(
                f"If-Match expected version {expected_version} of {resource_type}/{resource_id}, found {found}"
            )
        if current is not None and method == "POST" and not current.deleted:
            raise conflict(f"{resource_type}/{resource_id} already exists")
        if current is not None and not current.deleted:
            stored = _load(current.content)
            if _same_content(stored, resource):
                return WriteResult(stored, "noop")
        version = 1 if current is None else current.version + 1
        action = "create" if current is None or current.deleted else "update"
        rows = _prepared_rows(resource)
        resource, values = self._stamp(resource, version, method, action, instant_now())
        if fresh:  # a brand-new id: its row joins the batched inserts (lookups flush first)
            self._buffer(resources, [_resource_row(values)])
        elif current is None:
            conn.execute(_INSERT_CURRENT, values)
        else:
            conn.execute(_UPDATE_CURRENT, values)
            self._clear_index(conn, resource_type, resource_id)
        self._index(resource, rows)
        return WriteResult(resource, action)

    def _stamp(
        self, resource: Resource, version: int, method: str, action: str, now: datetime | tuple[str, int]
    ) -> tuple[Resource, dict[str, Any]]:
        """Give the resource its new meta, record the history row and outbox event, and return it with
        the values of its `resources` row. `now` is the write's instant, or its (text, microseconds)
        when a batch shares one."""
        resource_type, resource_id = resource["resourceType"], str(resource["id"])
        text, at = now if isinstance(now, tuple) else (format_instant(now), to_us(now))
        meta = {**(resource.get("meta") or {}), "versionId": str(version), "lastUpdated": text}
        resource = {**resource, "meta": meta}
        content = _dump(resource)
        self._record(resource_type, resource_id, version, at, method, content, action)
        values = {"t": resource_type, "i": resource_id, "version": version, "last_updated": at, "deleted": False}
        values["content"] = content
        return resource, values

    def _index(self, resource: Resource, rows_by_table: Tuples | None = None) -> None:
        """Buffer the resource's index rows: `rows_by_table` when a Prepared resource brought them."""
        owner = (resource["resourceType"], str(resource["id"]))
        for name, rows in (rows_by_table or index_tuples(resource)).items():
            if rows:
                self._buffer(_TABLES[name], [owner + row for row in rows])

    def put_many(self, batch: list[Resource]) -> list[WriteResult]:
        """Create or update (PUT) many resources with a few statements rather than several each: one
        lookup of the current versions, then batched inserts, updates and index rows. For bulk feeds,
        inside `transaction()`. A resource may appear more than once: each appearance is a version,
        with its own history row and event, as if written one by one."""
        conn = self._bound()
        for resource in batch:
            if not isinstance(resource, dict) or not isinstance(resource.get("resourceType"), str):
                self._checked(resource)  # raises the usual error naming what is wrong
            check_id(str(resource.get("id", "")))
        state = self._current_many(conn, {(r["resourceType"], str(r["id"])) for r in batch})
        checked = [r if self._unchanged(state, r) else self._checked(r) for r in batch]  # all before any write
        existing = set(state)
        final: dict[tuple[str, str], tuple[Resource, dict[str, Any], Tuples | None]] = {}
        results = []
        moment = instant_now()  # one instant for the batch, which commits as one
        now = (format_instant(moment), to_us(moment))
        for resource in checked:
            key = (resource["resourceType"], str(resource["id"]))
            version, deleted, stored = state.get(key, (0, True, None))
            if stored is not None and not deleted and _same_content(stored, resource):
                results.append(WriteResult(stored, "noop"))
                continue
            action = "update" if stored is not None and not deleted else "create"
            written, values = self._stamp(resource, version + 1, "PUT", action, now)
            state[key] = (version + 1, False, written)
            final[key] = (written, values, _prepared_rows(resource))
            results.append(WriteResult(written, action))
        inserts = [values for key, (_, values, _) in final.items() if key not in existing]
        updates = [values for key, (_, values, _) in final.items() if key in existing]
        # new rows join the batched inserts (every lookup of current versions flushes them first)
        self._buffer(resources, [_resource_row(values) for values in inserts])
        if updates:
            conn.execute(_UPDATE_CURRENT, updates)
            self._clear_index_many(conn, [(v["t"], v["i"]) for v in updates])
        for written, _, rows in final.values():
            self._index(written, rows)
        return results

    @staticmethod
    def _unchanged(state: dict[tuple[str, str], tuple[int, bool, Resource | None]], resource: Resource) -> bool:
        """Whether the resource equals its stored version, which passed validation when it was written,
        so re-loading unchanged data costs no validation."""
        _, deleted, stored = state.get((resource["resourceType"], str(resource["id"])), (0, True, None))
        return stored is not None and not deleted and _same_content(stored, resource)

    def read_many(self, keys: set[tuple[str, str]]) -> dict[tuple[str, str], tuple[Resource, bool]]:
        """(resource, deleted) for each (type, id) that has ever existed, in one lookup per 400 keys: for
        bulk feeds that must check many records before writing (inside `transaction()`, where PostgreSQL
        locks the rows for the write that follows), and for reads of many known resources (outside)."""
        if self._conn is not None:
            found = self._current_many(self._conn, keys)
        else:
            with self._reading() as conn:
                found = self._current_many(conn, keys, lock=False)
        return {key: (resource, deleted) for key, (_, deleted, resource) in found.items() if resource is not None}

    def _current_many(
        self, conn: Connection, keys: set[tuple[str, str]], *, lock: bool = True
    ) -> dict[tuple[str, str], tuple[int, bool, Resource | None]]:
        """(version, deleted, resource) of each key that has a row, in chunks the databases accept."""
        if self._pending.get(resources):
            self._flush()
        found: dict[tuple[str, str], tuple[int, bool, Resource | None]] = {}
        stmt = _SELECT_CURRENT_MANY_FOR_UPDATE if lock and is_postgres(self.engine) else _SELECT_CURRENT_MANY
        for resource_type, resource_ids in _by_first(keys):  # type = ? AND id IN (...): the primary key serves it
            for row in conn.execute(stmt, {"t": resource_type, "ids": resource_ids}):
                found[(row.res_type, row.res_id)] = (row.version, row.deleted, _load(row.content))
        return found

    def _current(self, conn: Connection, resource_type: str, resource_id: str, *, lock: bool) -> Any:
        if self._pending.get(resources):
            self._flush()  # buffered new resources must be visible to this lookup
        stmt = _SELECT_CURRENT_FOR_UPDATE if lock and is_postgres(self.engine) else _SELECT_CURRENT
        return conn.execute(stmt, {"t": resource_type, "i": resource_id}).first()

    def _record(
        self, resource_type: str, resource_id: str, version: int, at: int, method: str, content: str | None, action: str
    ) -> None:
        """Buffer the version's history row and outbox event; `at` is the write's instant in microseconds."""
        self._buffer(resource_history, [(resource_type, resource_id, version, at, method, content)])
        self._buffer(outbox, [(resource_type, resource_id, version, action, at)])

    def _clear_index(self, conn: Connection, resource_type: str, resource_id: str) -> None:
        self._clear_index_many(conn, [(resource_type, resource_id)])

    def _clear_index_many(self, conn: Connection, keys: list[tuple[str, str]]) -> None:
        """Drop the index rows of the versions being replaced, stored or still buffered."""
        replaced = set(keys)
        params = [{"t": t, "i": i} for t, i in keys]
        for table in _TABLES.values():
            pending = self._pending.get(table)
            if pending:
                self._pending[table] = [r for r in pending if (r[0], r[1]) not in replaced]
            conn.execute(_CLEAR_INDEX[table], params)

    # -- reads ---------------------------------------------------------------------------------------
    def read(self, resource_type: str, resource_id: str) -> Resource:
        with self._reading() as conn:
            current = self._current(conn, resource_type, resource_id, lock=False)
        if current is None:
            raise not_found(f"{resource_type}/{resource_id} is not known")
        if current.deleted:
            raise gone(f"{resource_type}/{resource_id} was deleted (version {current.version})")
        return _load(current.content)

    def vread(self, resource_type: str, resource_id: str, version: str) -> Resource:
        if not version.isdigit():
            raise not_found(f"Version '{version}' of {resource_type}/{resource_id} is not known")
        h = resource_history.c
        with self._reading() as conn:
            row = conn.execute(
                select(h.content).where(h.res_type == resource_type, h.res_id == resource_id, h.version == int(version))
            ).first()
        if row is None:
            raise not_found(f"Version {version} of {resource_type}/{resource_id} is not known")
        if row.content is None:
            raise gone(f"Version {version} of {resource_type}/{resource_id} is a deletion")
        return _load(row.content)

    def search(self, query: SearchQuery) -> SearchResult:
        where = sqlsearch.where_clause(query)
        count_stmt = select(func.count()).select_from(resources).where(where)
        with self._reading() as conn:
            if query.summary == "count" or query.count == 0:
                return SearchResult([], conn.execute(count_stmt).scalar_one())
            stmt = (
                select(resources.c.content)
                .where(where)
                .order_by(*sqlsearch.order_by(query))
                .limit(query.count + 1)
                .offset(query.offset)
            )
            rows = [_load(row.content) for row in conn.execute(stmt)]
            has_more = len(rows) > query.count
            matches = rows[: query.count]
            total = None
            if query.total != "none":
                # A page that is not full already tells the total (unless it is past the end).
                known = not has_more and (matches or query.offset == 0)
                total = query.offset + len(matches) if known else conn.execute(count_stmt).scalar_one()
            included = self._included(conn, query, matches)
        return SearchResult(matches, total, included, has_more)

    def included(self, query: SearchQuery, matches: list[Resource]) -> list[Resource]:
        """The `_include` and `_revinclude` resources of `query` for these matches: for a caller that chose
        the page itself (the consent guard shows only what a consumer may see)."""
        with self._reading() as conn:
            return self._included(conn, query, matches)

    def _included(self, conn: Connection, query: SearchQuery, matches: list[Resource]) -> list[Resource]:
        if not matches or not (query.includes or query.revincludes):
            return []
        ids = [m["id"] for m in matches]
        keys: set[tuple[str, str]] = set()
        for inc in query.includes:
            if inc.source_type in ("*", query.resource_type):
                stmt = sqlsearch.include_targets(query.resource_type, ids, inc.param, inc.target_type)
                keys.update((row[0], row[1]) for row in conn.execute(stmt))
        sources: dict[str, set[str]] = {}  # one statement per parameter, whatever the source types
        for inc in query.revincludes:
            sources.setdefault(inc.param, set()).add(inc.source_type)
        for param, types in sources.items():
            stmt = sqlsearch.revinclude_sources(query.resource_type, ids, sorted(types), param)
            keys.update((row[0], row[1]) for row in conn.execute(stmt.limit(MAX_INCLUDED)))
        keys -= {(query.resource_type, i) for i in ids}
        return self._fetch_many(conn, sorted(keys)[:MAX_INCLUDED])

    def referring(
        self, source_types: list[str], param: str, target_type: str, target_ids: list[str], *, limit: int | None = None
    ) -> list[Resource]:
        """The current resources of `source_types` whose reference parameter `param` points at one of these
        `target_type` resources (say the Consents whose `patient` is Patient/x), in key order; `limit` caps
        how many."""
        values = {"targets": target_ids}
        return self._referring(_REFERRING_IDS, source_types, param, target_type, values, limit)

    def referring_identified(
        self,
        source_types: list[str],
        param: str,
        target_type: str,
        identifier: tuple[str, str],
        *,
        limit: int | None = None,
    ) -> list[Resource]:
        """As `referring`, for the current `target_type` resources with this (system, value) identifier
        (more than one after a merge): a patient's Flags and plans by NHS number, in one statement."""
        system, value = identifier
        values = {"token_param": "identifier", "system": system, "code": value}
        return self._referring(_REFERRING_IDENTIFIED, source_types, param, target_type, values, limit)

    def _referring(
        self,
        stmt: Any,
        source_types: list[str],
        param: str,
        target_type: str,
        values: dict[str, Any],
        limit: int | None,
    ) -> list[Resource]:
        if not source_types:
            return []
        no_limit = None if is_postgres(self.engine) else -1  # what LIMIT takes as "none" on each database
        bound = {**values, "types": source_types, "param": param, "target_type": target_type}
        bound["limit"] = no_limit if limit is None else limit
        with self._reading() as conn:
            return [_load(row.content) for row in conn.execute(stmt, bound)]

    def _fetch_many(self, conn: Connection, keys: list[tuple[str, str]]) -> list[Resource]:
        found: list[Resource] = []
        r = resources.c
        groups = list(_by_first(set(keys)))
        # One statement for up to FETCH_GROUPS types: an OR of `type = ? AND id IN (...)`, one per type, each
        # served by the primary key (SQLite's multi-index OR; PostgreSQL's bitmap OR).
        for start in range(0, len(groups), FETCH_GROUPS):
            clauses = [and_(r.res_type == t, r.res_id.in_(ids)) for t, ids in groups[start : start + FETCH_GROUPS]]
            stmt = select(r.content).where(or_(*clauses), r.deleted == false())
            found.extend(_load(row.content) for row in conn.execute(stmt))
        return found

    def history(
        self,
        resource_type: str | None = None,
        resource_id: str | None = None,
        *,
        since: int | None = None,
        count: int = 20,
        offset: int = 0,
    ) -> tuple[list[HistoryEntry], bool]:
        """Versions newest first; returns the page and whether more follow."""
        h = resource_history.c
        stmt = select(h.res_type, h.res_id, h.version, h.last_updated, h.method, h.content)
        if resource_type:
            stmt = stmt.where(h.res_type == resource_type)
        if resource_id:
            stmt = stmt.where(h.res_id == resource_id)
        if since is not None:
            stmt = stmt.where(h.last_updated >= since)
        stmt = stmt.order_by(h.last_updated.desc(), h.res_type, h.res_id, h.version.desc())
        with self._reading() as conn:
            if resource_type and resource_id and not offset:
                exists = conn.execute(
                    select(resources.c.version).where(
                        resources.c.res_type == resource_type, resources.c.res_id == resource_id
                    )
                ).first()
                if exists is None:
                    raise not_found(f"{resource_type}/{resource_id} is not known")
            rows = conn.execute(stmt.limit(count + 1).offset(offset)).all()
        entries = [
            HistoryEntry(
                row.res_type,
                row.res_id,
                row.version,
                format_instant(from_us(row.last_updated)),
                row.method,
                _load(row.content) if row.content is not None else None,
            )
            for row in rows[:count]
        ]
        return entries, len(rows) > count

    def events(self, after_seq: int = 0, limit: int = 100) -> Iterator[OutboxEvent]:
        o = outbox.c
        stmt = select(o.seq, o.res_type, o.res_id, o.version, o.action).where(o.seq > after_seq)
        with self._reading() as conn:
            rows = conn.execute(stmt.order_by(o.seq).limit(limit)).all()
        for row in rows:
            yield OutboxEvent(row.seq, row.res_type, row.res_id, row.version, row.action)
