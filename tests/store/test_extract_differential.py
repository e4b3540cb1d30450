"""The index extraction (extract_rows.index_rows: params grouped by path, rows made as tuples) gives
exactly the rows of the plain algorithm it replaced, kept here as the oracle: every param of the resource
type, every value at each of its paths, each value's rows, reference targets filtered, duplicates dropped."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from extract_rows import Row, date_rows, index_rows, number_rows, reference_rows, string_rows, token_rows
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from closer.store.extract import index_tuples, values_at
from closer.store.searchparams import SEARCH_PARAMS, SearchParam, params_for

SAMPLES = Path(__file__).resolve().parent.parent / "samples"
MAKERS = {
    "token": token_rows,
    "uri": lambda v: token_rows(v) if isinstance(v, str) else iter(()),
    "string": string_rows,
    "date": date_rows,
    "reference": reference_rows,
    "quantity": number_rows,
    "number": number_rows,
}
TABLES = {"uri": "token", "quantity": "number", "number": "number"}


def oracle(resource: dict[str, Any], params: dict[str, SearchParam]) -> dict[str, list[Row]]:
    rows: dict[str, list[Row]] = {"token": [], "string": [], "date": [], "reference": [], "number": []}
    for param in params.values():
        seen: set[tuple[Any, ...]] = set()
        for path in param.paths:
            for value in values_at(resource, path):
                if param.where and not all(isinstance(value, dict) and value.get(k) == v for k, v in param.where):
                    continue
                for row in MAKERS[param.type](value):
                    if row.get("target_type") and not param.accepts_target(row["target_type"]):
                        continue
                    key = tuple(row.values())
                    if key not in seen:
                        seen.add(key)
                        rows[TABLES.get(param.type, param.type)].append({"param": param.name, **row})
    return rows


def same_rows(resource: dict[str, Any]) -> None:
    try:
        expected = oracle(resource, params_for(resource["resourceType"]))
    except Exception as exc:  # e.g. a boolean Period.start: validation refuses such resources before indexing
        with pytest.raises(type(exc)):
            index_rows(resource, params_for(resource["resourceType"]))
        return
    found = index_rows(resource, params_for(resource["resourceType"]))
    for table in expected:  # the order of params may differ; per param it is the same
        for name in {row["param"] for row in expected[table] + found[table]}:
            assert [r for r in found[table] if r["param"] == name] == [r for r in expected[table] if r["param"] == name]
    tuples = index_tuples(resource)
    assert {t: [tuple(r.values()) for r in rows] for t, rows in found.items()} == tuples


def _resources_in(value: Any) -> list[dict[str, Any]]:
    if isinstance(value, dict):
        own = [value] if value.get("resourceType") in SEARCH_PARAMS else []
        return own + [r for child in value.values() for r in _resources_in(child)]
    if isinstance(value, list):
        return [r for child in value for r in _resources_in(child)]
    return []


SAMPLE_RESOURCES = [r for p in sorted(SAMPLES.glob("**/*.json")) for r in _resources_in(json.loads(p.read_text()))]


def test_samples_were_found() -> None:
    assert len(SAMPLE_RESOURCES) > 50


@pytest.mark.parametrize("resource", SAMPLE_RESOURCES, ids=lambda r: r["resourceType"])
def test_samples(resource: dict[str, Any]) -> None:
    same_rows(resource)


# Random resources of every indexed type, built from the element names its params walk and values of the
# shapes the row makers recognise (and some they do not).
SCALARS = st.one_of(
    st.sampled_from(["male", "2020-03", "2021-01-01T10:00:00Z", "Patient/1", "Encounter/2/_history/3", "#c"]),
    st.sampled_from(["http://x.org/Questionnaire/q", "urn:uuid:1", "Ann Émile", "  spaced  out ", "not a date"]),
    st.booleans(),
    st.integers(-3, 3),
    st.floats(allow_nan=False, allow_infinity=False, width=32),
)
KEYS = sorted(
    {part for params in SEARCH_PARAMS.values() for p in params.values() for path in p.paths for part in path.split(".")}
)
KEYS += ["coding", "system", "code", "value", "reference", "identifier", "start", "end", "unit", "text", "family"]


def json_values(depth: int) -> st.SearchStrategy[Any]:
    if depth == 0:
        return SCALARS
    inner = json_values(depth - 1)
    objects = st.dictionaries(st.sampled_from(KEYS), inner, min_size=1, max_size=4)
    return st.one_of(SCALARS, objects, st.lists(st.one_of(objects, SCALARS), min_size=1, max_size=3))


@settings(max_examples=800, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    resource_type=st.sampled_from(sorted(SEARCH_PARAMS)),
    body=st.dictionaries(st.sampled_from(KEYS), json_values(3), max_size=6),
)
def test_random_resources(resource_type: str, body: dict[str, Any]) -> None:
    same_rows({**body, "resourceType": resource_type, "id": "x"})
