"""Turn a parsed SearchQuery into SQL (SQLAlchemy Core), the same for SQLite and PostgreSQL.

Every criterion becomes `res_id IN (ids of this type matching it)`, a form both databases plan as a
semi-join driven by the index tables, so selective searches never scan the resources table.
"""

from __future__ import annotations

from functools import cache
from typing import Any

from sqlalchemy import ColumnElement, Select, Table, and_, false, func, not_, or_, select, true

from closer.errors import invalid
from closer.store.extract import normalise
from closer.store.query import Criterion, DateValue, NumberValue, ReferenceValue, SearchQuery, TokenValue
from closer.store.schema import INDEX_TABLES, idx_reference, resources
from closer.store.searchparams import SearchParam, params_for


def where_clause(query: SearchQuery) -> ColumnElement[bool]:
    r = resources.c
    clauses: list[ColumnElement[bool]] = [r.res_type == query.resource_type, r.deleted == false()]
    clauses += [criterion_clause(query.resource_type, c, r.res_id) for c in query.criteria]
    return and_(*clauses)


@cache
def _alias(table: Table, depth: int) -> Any:
    """One alias per table and chain depth, made once: building aliases is costly on the search hot
    path, and sibling subqueries may share one, while a chained subquery needs its own so it is not
    correlated with the subquery around it."""
    return table.alias(f"{table.name}_{depth}")


def criterion_clause(resource_type: str, c: Criterion, id_column: Any, depth: int = 0) -> ColumnElement[bool]:
    """A boolean clause on `id_column` (resource ids of `resource_type`) for one criterion."""
    if c.name == "_id":
        return id_column.in_([str(v) for v in c.values])
    if c.param is None:  # _lastUpdated
        return id_column.in_(_last_updated_ids(resource_type, c, depth))
    ids = matching_ids(resource_type, c, depth)
    negate = c.modifier == "not" or c.missing is True
    return id_column.not_in(ids) if negate else id_column.in_(ids)


def matching_ids(resource_type: str, c: Criterion, depth: int = 0) -> Select[Any]:
    """Ids of resources of `resource_type` having an index row that satisfies the criterion."""
    param = c.param
    assert param is not None
    table = _alias(INDEX_TABLES[param.type], depth)
    base = and_(table.c.res_type == resource_type, table.c.param == param.name)
    if c.missing is not None:
        return select(table.c.res_id).where(base)
    if c.chain is not None:
        assert c.chain_type is not None
        inner = criterion_clause(c.chain_type, c.chain, table.c.target_id, depth + 1)
        return select(table.c.res_id).where(base, table.c.target_type == c.chain_type, inner)
    if param.type == "reference" and c.modifier is None and len(c.values) > 1:
        return select(table.c.res_id).where(base, _references_clause(param, c.values, table))
    return select(table.c.res_id).where(base, or_(*(_value_clause(param, c, table, v) for v in c.values)))


def _references_clause(param: SearchParam, values: list[Any], t: Any) -> ColumnElement[bool]:
    """Many local references (`patient=Patient/a,Patient/b,...`) as `target_type = T AND target_id IN
    (...)` per type, which the (target_type, target_id) index serves; an OR of one equality per value
    makes SQLite read every index row of the parameter."""
    by_type: dict[str, list[str]] = {}
    others = []
    for v in values:
        if isinstance(v, ReferenceValue) and v.target_type and v.target_id and not v.url:
            by_type.setdefault(v.target_type, []).append(v.target_id)
        else:
            others.append(_reference_clause(param, v, t))
    grouped = [and_(t.c.target_type == kind, t.c.target_id.in_(ids)) for kind, ids in by_type.items()]
    return or_(*grouped, *others)


def _last_updated_ids(resource_type: str, c: Criterion, depth: int) -> Select[Any]:
    r = _alias(resources, depth)
    match = [_date_clause(v, r.c.last_updated, r.c.last_updated) for v in c.values if isinstance(v, DateValue)]
    return select(r.c.res_id).where(r.c.res_type == resource_type, r.c.deleted == false(), or_(*match))


def _value_clause(param: SearchParam, c: Criterion, t: Any, value: Any) -> ColumnElement[bool]:
    if param.type == "reference":
        if c.modifier == "identifier":
            return _token_clause(value, t.c.id_system, t.c.id_value)
        return _reference_clause(param, value, t)
    if param.type in ("token", "uri"):
        return _token_clause(value, t.c.system, t.c.code)
    if param.type == "string":
        return _string_clause(c.modifier, str(value), t)
    if param.type == "date":
        return _date_clause(value, t.c.low, t.c.high)
    return _number_clause(value, t)


def _token_clause(value: TokenValue, system_col: Any, code_col: Any) -> ColumnElement[bool]:
    parts: list[ColumnElement[bool]] = []
    if value.code is not None:
        parts.append(code_col == value.code)
    if value.system is not None:
        parts.append(system_col == value.system)
    elif value.no_system:
        parts.append(system_col.is_(None))
    return and_(true(), *parts)


def _like_escape(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def _string_clause(modifier: str | None, value: str, t: Any) -> ColumnElement[bool]:
    if modifier == "exact":
        return t.c.raw == value
    pattern = _like_escape(normalise(value))
    if modifier == "contains":
        return t.c.norm.like(f"%{pattern}%", escape="\\")
    return t.c.norm.like(f"{pattern}%", escape="\\")


def _date_clause(v: DateValue, low: Any, high: Any) -> ColumnElement[bool]:
    within = and_(low >= v.low, high <= v.high)
    clauses: dict[str, ColumnElement[bool]] = {
        # `low <= v.high` follows from the rest (low <= high) but bounds the (type, param, low) index scan
        # on both sides: without it an equality search read every later date (birthdate= on 250,000 people).
        "eq": and_(within, low <= v.high),
        "ne": not_(within),
        "gt": high > v.high,
        "lt": low < v.low,
        "ge": high >= v.low,
        "le": low <= v.high,
        "sa": low > v.high,
        "eb": high < v.low,
        "ap": and_(low <= v.high, high >= v.low),
    }
    return clauses[v.prefix]


def _number_clause(v: NumberValue, t: Any) -> ColumnElement[bool]:
    col = t.c.value
    spread = abs(v.value) * 0.1
    clauses: dict[str, ColumnElement[bool]] = {
        "eq": and_(col >= v.low, col < v.high),
        "ne": or_(col < v.low, col >= v.high),
        "gt": col > v.value,
        "lt": col < v.value,
        "ge": col >= v.value,
        "le": col <= v.value,
        "sa": col > v.value,
        "eb": col < v.value,
        "ap": and_(col >= v.value - spread, col <= v.value + spread),
    }
    clause = clauses[v.prefix]
    if v.system is not None:
        clause = and_(clause, t.c.system == v.system)
    if v.code is not None:
        clause = and_(clause, or_(t.c.code == v.code, and_(t.c.code.is_(None), t.c.unit == v.code)))
    return clause


def _reference_clause(param: SearchParam, v: ReferenceValue, t: Any) -> ColumnElement[bool]:
    if v.url is not None and v.target_id is None:
        return t.c.target_url == v.url
    local = t.c.target_id == v.target_id
    if v.target_type is not None:
        local = and_(local, t.c.target_type == v.target_type)
    elif param.targets:
        local = and_(local, t.c.target_type.in_(param.targets))
    return or_(local, t.c.target_url == v.url) if v.url else local


def order_by(query: SearchQuery) -> list[Any]:
    """ORDER BY terms for _sort, always ending with a stable tie-breaker so paging is deterministic."""
    r = resources.c
    terms: list[Any] = []
    for name, descending in query.sort:
        if name == "_id":
            expr: Any = r.res_id
        elif name == "_lastUpdated":
            # "+ 0" keeps SQLite from walking the last_updated index in order (every row of the type)
            # when criteria already narrow the rows; with no criteria that walk is the best plan.
            expr = r.last_updated + 0 if query.criteria else r.last_updated
        else:
            expr = _sort_value(query.resource_type, name, descending)
        term = expr.desc() if descending else expr.asc()
        if name not in ("_id", "_lastUpdated"):
            # Resources without the value sort last either way; SQLite and PostgreSQL differ by default.
            term = term.nulls_last()
        terms.append(term)
    # With no _sort the order is by id alone: the primary key then serves both the criteria lookups and
    # the ordering, whereas ordering by another index makes SQLite walk every row of the type.
    terms.append(r.res_id.asc())
    return terms


def _sort_value(resource_type: str, name: str, descending: bool) -> Any:
    param = params_for(resource_type)[name]
    table = INDEX_TABLES[param.type].alias()
    column = {
        "string": table.c.get("norm"),
        "token": table.c.get("code"),
        "uri": table.c.get("code"),
        "date": table.c.get("high") if descending else table.c.get("low"),
        "reference": table.c.get("target_id"),
        "quantity": table.c.get("value"),
        "number": table.c.get("value"),
    }[param.type]
    if column is None:
        raise invalid(f"Cannot sort by '{name}'")
    agg = func.max(column) if descending else func.min(column)
    return (
        select(agg)
        .where(table.c.res_type == resource_type, table.c.param == name, table.c.res_id == resources.c.res_id)
        .scalar_subquery()
    )


def include_targets(source_type: str, ids: list[str], param: str, target_type: str | None) -> Select[Any]:
    """(type, id) pairs that the given resources reference through `param` ("*" for any)."""
    t = idx_reference
    clauses = [t.c.res_type == source_type, t.c.res_id.in_(ids), t.c.target_id.is_not(None)]
    if param != "*":
        clauses.append(t.c.param == param)
    if target_type:
        clauses.append(t.c.target_type == target_type)
    return select(t.c.target_type, t.c.target_id).where(*clauses).distinct()


def revinclude_sources(target_type: str, ids: list[str], source_types: list[str], param: str) -> Select[Any]:
    """(type, id) pairs of resources of `source_types` ("*": any) that reference the given ones through
    `param`, possibly repeated (the caller keeps a set). No DISTINCT: with it SQLite walks the
    (res_type, res_id) index, every row of the type, to get the pairs in order, instead of seeking
    (res_type, param, target_type, target_id), which it does for each source type of an IN."""
    t = idx_reference
    clauses = [t.c.target_type == target_type, t.c.target_id.in_(ids)]
    if "*" not in source_types:
        clauses.append(t.c.res_type.in_(source_types))
    if param != "*":
        clauses.append(t.c.param == param)
    return select(t.c.res_type, t.c.res_id).where(*clauses)
