"""Parsing FHIR search parameters into a SearchQuery (pure: no database, no Flask)."""

from __future__ import annotations

import pytest

from closer.errors import FhirError
from closer.store.dates import date_range
from closer.store.query import (
    Criterion,
    DateValue,
    Include,
    NumberValue,
    ReferenceValue,
    SearchQuery,
    TokenValue,
    parse_criterion,
    parse_search,
    split_values,
    unescape,
)


def parse(resource_type: str, query: str, *, strict: bool = False) -> SearchQuery:
    items = [tuple(part.split("=", 1)) for part in query.split("&") if part]
    return parse_search(resource_type, [(k, v) for k, v in items], strict=strict)


def one(resource_type: str, name: str, value: str) -> Criterion:
    return parse_criterion(resource_type, name, value)


def refused(resource_type: str, name: str, value: str) -> FhirError:
    with pytest.raises(FhirError) as caught:
        parse_criterion(resource_type, name, value)
    assert caught.value.status == 400
    return caught.value


# -- prefixes --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("prefix", ["eq", "ne", "gt", "lt", "ge", "le", "sa", "eb", "ap"])
def test_every_prefix_on_a_date(prefix: str) -> None:
    (value,) = one("Patient", "birthdate", f"{prefix}2020-03").values
    low, high = date_range("2020-03")
    assert value == DateValue(prefix, low, high)


@pytest.mark.parametrize("prefix", ["eq", "ne", "gt", "lt", "ge", "le", "sa", "eb", "ap"])
def test_every_prefix_on_a_number(prefix: str) -> None:
    (value,) = one("RiskAssessment", "probability", f"{prefix}0.5").values
    assert isinstance(value, NumberValue)
    assert (value.prefix, value.value) == (prefix, 0.5)


def test_no_prefix_means_eq() -> None:
    (value,) = one("Patient", "birthdate", "2020-03-02").values
    assert isinstance(value, DateValue) and value.prefix == "eq"


def test_prefix_before_a_negative_or_fractional_number() -> None:
    (neg,) = one("RiskAssessment", "probability", "gt-0.5").values
    (frac,) = one("RiskAssessment", "probability", "lt.5").values
    assert isinstance(neg, NumberValue) and (neg.prefix, neg.value) == ("gt", -0.5)
    assert isinstance(frac, NumberValue) and (frac.prefix, frac.value) == ("lt", 0.5)


def test_unknown_prefix_is_an_invalid_value() -> None:
    assert refused("Patient", "birthdate", "xx2020").code == "invalid"
    assert refused("RiskAssessment", "probability", "zz5").code == "invalid"


def test_prefix_alone_is_invalid() -> None:
    refused("Patient", "birthdate", "ge")


def test_prefixes_do_not_apply_to_tokens_or_strings() -> None:
    assert one("Patient", "gender", "ne1").values == [TokenValue(None, "ne1")]
    assert one("Patient", "family", "gt5").values == ["gt5"]


# -- dates -----------------------------------------------------------------------------------------------


def test_date_value_is_the_range_of_its_precision() -> None:
    (value,) = one("Patient", "birthdate", "ge2020-02").values
    assert isinstance(value, DateValue)
    assert (value.low, value.high) == date_range("2020-02")


@pytest.mark.parametrize("text", ["2020-02-30", "2020-13", "tomorrow", "", "ge", "2020-03-04T10"])
def test_bad_dates_are_400_invalid(text: str) -> None:
    err = refused("Patient", "birthdate", text)
    assert err.code == "invalid"
    assert "birthdate" in err.diagnostics


def test_comma_separated_dates_are_or() -> None:
    values = one("Patient", "birthdate", "2020,lt1950-01-01").values
    assert [v.prefix for v in values if isinstance(v, DateValue)] == ["eq", "lt"]


# -- tokens ----------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("http://snomed.info/sct|44054006", TokenValue("http://snomed.info/sct", "44054006")),
        ("44054006", TokenValue(None, "44054006")),
        ("|44054006", TokenValue(None, "44054006", no_system=True)),
        ("http://snomed.info/sct|", TokenValue("http://snomed.info/sct", None)),
        ("urn:oid:1.2.3|a|b", TokenValue("urn:oid:1.2.3", "a|b")),
    ],
)
def test_token_forms(text: str, expected: TokenValue) -> None:
    assert one("Condition", "code", text).values == [expected]


def test_escaped_pipe_is_part_of_the_code() -> None:
    assert one("Patient", "identifier", r"urn:sys|a\|b").values == [TokenValue("urn:sys", "a|b")]


def test_escaped_pipe_is_part_of_the_system() -> None:
    assert one("Patient", "identifier", r"urn:x\|y|123").values == [TokenValue("urn:x|y", "123")]


def test_escaped_backslash_before_the_separator() -> None:
    assert one("Patient", "identifier", r"a\\|b").values == [TokenValue("a\\", "b")]


def test_escaped_comma_in_a_token() -> None:
    assert one("Patient", "identifier", r"sys|a\,b,c").values == [TokenValue("sys", "a,b"), TokenValue(None, "c")]


def test_uri_values_are_whole() -> None:
    assert one("StructureDefinition", "url", "http://example.org/a|1").values == [
        TokenValue(None, "http://example.org/a|1")
    ]


# -- comma OR and escapes --------------------------------------------------------------------------------


def test_split_values_on_commas() -> None:
    assert split_values("a,b,c") == ["a", "b", "c"]


def test_split_values_keeps_escapes_for_the_value_parser() -> None:
    assert split_values(r"a\,b,c") == [r"a\,b", "c"]
    assert [unescape(v) for v in split_values(r"a\,b,c\\,d")] == ["a,b", "c\\", "d"]


def test_split_values_drops_empty_parts() -> None:
    assert split_values("a,,b,") == ["a", "b"]
    assert split_values("") == [""]


def test_unescape() -> None:
    assert unescape(r"a\,b\|c\$d\\e") == "a,b|c$d\\e"
    assert unescape("trailing\\") == "trailing\\"


def test_string_values_are_unescaped() -> None:
    assert one("Patient", "family", r"O\,Brien,Smith").values == ["O,Brien", "Smith"]
    assert one("Patient", "family", r"back\\slash").values == ["back\\slash"]


# -- numbers and quantities ------------------------------------------------------------------------------


def number(text: str, resource_type: str = "RiskAssessment", name: str = "probability") -> NumberValue:
    (value,) = one(resource_type, name, text).values
    assert isinstance(value, NumberValue)
    return value


def test_integer_precision_is_half_a_unit() -> None:
    value = number("100")
    assert (value.value, value.low, value.high) == (100.0, 99.5, 100.5)


def test_decimal_places_narrow_the_range() -> None:
    value = number("100.00")
    assert value.low == pytest.approx(99.995)
    assert value.high == pytest.approx(100.005)


def test_exponent_gives_the_precision_of_its_mantissa() -> None:
    # 1e2 is 100 to one significant figure: the range is half of 10^2 either side.
    value = number("1e2")
    assert value.value == 100.0
    assert (value.low, value.high) == (50.0, 150.0)
    assert number("1.0e2").low == pytest.approx(95.0)
    assert number("1.0E2").high == pytest.approx(105.0)


def test_negative_exponent() -> None:
    value = number("5e-3")
    assert value.value == pytest.approx(0.005)
    assert value.low == pytest.approx(0.0045)
    assert value.high == pytest.approx(0.0055)


@pytest.mark.parametrize("text", ["abc", "1.2.3", "1e", "--1", "0x10", "1,5e"])
def test_bad_numbers_are_400(text: str) -> None:
    with pytest.raises(FhirError) as caught:
        parse_criterion("RiskAssessment", "probability", text)
    assert caught.value.status == 400


def test_quantity_with_system_and_code() -> None:
    value = number("gt5.4|http://unitsofmeasure.org|mg", "Observation", "value-quantity")
    assert (value.prefix, value.value) == ("gt", 5.4)
    assert (value.system, value.code) == ("http://unitsofmeasure.org", "mg")


def test_quantity_with_code_only() -> None:
    value = number("5.4||mg", "Observation", "value-quantity")
    assert (value.system, value.code) == (None, "mg")


def test_quantity_without_units() -> None:
    value = number("5.4", "Observation", "value-quantity")
    assert (value.system, value.code) == (None, None)


def test_quantity_unit_escapes() -> None:
    value = number(r"5|urn:u|m\|g", "Observation", "value-quantity")
    assert value.code == "m|g"


# -- modifiers -------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("resource_type", "name"),
    [
        ("Patient", "gender:not"),
        ("Patient", "family:exact"),
        ("Patient", "family:contains"),
        ("Condition", "subject:identifier"),
        ("Condition", "subject:Patient"),
        ("Patient", "birthdate:missing"),
        ("Observation", "value-quantity:missing"),
        ("StructureDefinition", "url:missing"),
    ],
)
def test_allowed_modifiers(resource_type: str, name: str) -> None:
    value = "true" if name.endswith(":missing") else "x"
    param, _, _modifier = name.partition(":")
    criterion = one(resource_type, name, value)
    assert criterion.name == param


@pytest.mark.parametrize(
    ("resource_type", "name"),
    [
        ("Patient", "gender:exact"),
        ("Patient", "gender:text"),
        ("Patient", "gender:above"),
        ("Patient", "family:not"),
        ("Patient", "family:text"),
        ("Patient", "birthdate:exact"),
        ("Condition", "subject:not"),
        ("Condition", "subject:Observation"),
        ("Observation", "value-quantity:not"),
        ("RiskAssessment", "probability:contains"),
        ("StructureDefinition", "url:below"),
    ],
)
def test_refused_modifiers(resource_type: str, name: str) -> None:
    err = refused(resource_type, name, "x")
    assert err.code == "not-supported"


def test_not_modifier_is_kept() -> None:
    criterion = one("Patient", "gender:not", "male")
    assert criterion.modifier == "not"
    assert criterion.values == [TokenValue(None, "male")]


@pytest.mark.parametrize(("text", "missing"), [("true", True), ("false", False)])
def test_missing(text: str, missing: bool) -> None:
    criterion = one("Patient", "birthdate:missing", text)
    assert (criterion.modifier, criterion.missing, criterion.values) == ("missing", missing, [])


def test_missing_needs_a_boolean() -> None:
    assert refused("Patient", "birthdate:missing", "yes").code == "invalid"


def test_identifier_modifier_parses_tokens() -> None:
    criterion = one("Condition", "subject:identifier", "https://fhir.nhs.uk/Id/nhs-number|9990000018")
    assert criterion.modifier == "identifier"
    assert criterion.values == [TokenValue("https://fhir.nhs.uk/Id/nhs-number", "9990000018")]


# -- references ------------------------------------------------------------------------------------------


def test_reference_type_and_id() -> None:
    assert one("Condition", "subject", "Patient/123").values == [ReferenceValue("Patient", "123")]


def test_reference_bare_id() -> None:
    assert one("Condition", "subject", "123").values == [ReferenceValue(None, "123")]


def test_reference_type_modifier() -> None:
    criterion = one("Condition", "subject:Patient", "123")
    assert criterion.modifier is None
    assert criterion.values == [ReferenceValue("Patient", "123")]


def test_reference_type_modifier_must_match_the_value_type() -> None:
    assert one("Condition", "subject:Patient", "Patient/1").values == [ReferenceValue("Patient", "1")]
    refused("Condition", "subject:Patient", "Group/1")


def test_absolute_reference() -> None:
    url = "http://other.example/fhir/Patient/9"
    assert one("Condition", "subject", url).values == [ReferenceValue("Patient", "9", url=url)]


def test_references_or() -> None:
    assert one("Condition", "subject", "Patient/1,Patient/2").values == [
        ReferenceValue("Patient", "1"),
        ReferenceValue("Patient", "2"),
    ]


# -- chains ----------------------------------------------------------------------------------------------


def test_chain_through_a_single_target_param() -> None:
    criterion = one("Condition", "patient.identifier", "https://fhir.nhs.uk/Id/nhs-number|9990000018")
    assert (criterion.name, criterion.chain_type, criterion.values) == ("patient", "Patient", [])
    assert criterion.chain is not None
    assert criterion.chain.name == "identifier"
    assert criterion.chain.values == [TokenValue("https://fhir.nhs.uk/Id/nhs-number", "9990000018")]


def test_chain_with_a_type_modifier() -> None:
    criterion = one("Observation", "subject:Patient.name", "smith")
    assert criterion.chain_type == "Patient"
    assert criterion.chain is not None and criterion.chain.values == ["smith"]


def test_chain_keeps_the_inner_modifier() -> None:
    criterion = one("Condition", "subject:Patient.family:exact", "Smith")
    assert criterion.chain is not None
    assert (criterion.chain.name, criterion.chain.modifier) == ("family", "exact")


def test_chain_to_common_params() -> None:
    criterion = one("Condition", "patient._id", "a,b")
    assert criterion.chain is not None and criterion.chain.values == ["a", "b"]


def test_ambiguous_chain_needs_a_type() -> None:
    err = refused("Condition", "subject.name", "smith")
    assert "subject:Group" in err.diagnostics or "subject:Patient" in err.diagnostics


@pytest.mark.parametrize("name", ["subject:Observation.code", "subject:identifier.value", "subject:missing.name"])
def test_chain_type_must_be_a_target_of_the_param(name: str) -> None:
    assert refused("Condition", name, "x").code == "not-supported"


def test_chain_on_a_non_reference_param_is_refused() -> None:
    refused("Patient", "gender.name", "x")


def test_chain_to_an_unknown_param_is_unknown() -> None:
    query = parse("Condition", "patient.nonsense=1")
    assert query.criteria == [] and query.unknown == ["patient.nonsense"]


# -- the common parameters ------------------------------------------------------------------------------


def test_id_list() -> None:
    criterion = one("Patient", "_id", "a,b,c")
    assert (criterion.param, criterion.name, criterion.values) == (None, "_id", ["a", "b", "c"])


def test_last_updated_with_prefixes() -> None:
    criterion = one("Patient", "_lastUpdated", "ge2024-01-01,lt2023")
    assert [v.prefix for v in criterion.values if isinstance(v, DateValue)] == ["ge", "lt"]


def test_common_params_refuse_modifiers_and_chains() -> None:
    refused("Patient", "_id:exact", "a")
    refused("Patient", "_id.name", "a")
    refused("Patient", "_lastUpdated:not", "2020")


def test_last_updated_needs_a_date() -> None:
    refused("Patient", "_lastUpdated", "recently")


# -- result parameters -----------------------------------------------------------------------------------


def test_defaults() -> None:
    query = parse_search("Patient", [], default_count=15)
    assert (query.count, query.offset, query.sort, query.total, query.summary) == (15, 0, [], "accurate", None)
    assert query.includes == [] and query.revincludes == [] and query.elements == []


def test_count_and_offset() -> None:
    query = parse("Patient", "_count=5&_offset=10")
    assert (query.count, query.offset) == (5, 10)


def test_count_is_capped() -> None:
    assert parse_search("Patient", [("_count", "5000")], max_count=100).count == 100


def test_count_zero_is_allowed() -> None:
    assert parse("Patient", "_count=0").count == 0


@pytest.mark.parametrize("query", ["_count=-1", "_count=ten", "_count=", "_offset=-5", "_offset=1.5"])
def test_bad_count_or_offset(query: str) -> None:
    with pytest.raises(FhirError) as caught:
        parse("Patient", query)
    assert caught.value.status == 400


def test_sort_keys_and_directions() -> None:
    query = parse("Patient", "_sort=birthdate,-family,_id,-_lastUpdated")
    assert query.sort == [("birthdate", False), ("family", True), ("_id", False), ("_lastUpdated", True)]


def test_sort_by_unknown_param_is_400() -> None:
    with pytest.raises(FhirError):
        parse("Patient", "_sort=shoe-size")


def test_include_forms() -> None:
    query = parse(
        "Condition",
        "_include=Condition:patient&_include=Condition:subject:Patient&_include=*:subject&_include=*",
    )
    assert query.includes == [
        Include("Condition", "patient"),
        Include("Condition", "subject", "Patient"),
        Include("*", "subject"),
        Include("*", "*"),
    ]


def test_revinclude_forms() -> None:
    query = parse("Patient", "_revinclude=Condition:subject&_revinclude=*:patient&_revinclude=Observation:*")
    assert query.revincludes == [Include("Condition", "subject"), Include("*", "patient"), Include("Observation", "*")]


@pytest.mark.parametrize(
    "value",
    ["Condition", "Condition:", ":subject", "Condition:code", "Condition:nonsense", "Condition:subject:Patient:x"],
)
@pytest.mark.parametrize("name", ["_include", "_revinclude"])
def test_bad_includes(name: str, value: str) -> None:
    with pytest.raises(FhirError) as caught:
        parse_search("Patient", [(name, value)])
    assert caught.value.status == 400


@pytest.mark.parametrize("mode", ["true", "false", "text", "data", "count"])
def test_summary_modes(mode: str) -> None:
    assert parse("Patient", f"_summary={mode}").summary == mode


def test_bad_summary() -> None:
    with pytest.raises(FhirError):
        parse("Patient", "_summary=some")


def test_elements_list() -> None:
    assert parse("Patient", "_elements=name, birthDate,,gender").elements == ["name", "birthDate", "gender"]


@pytest.mark.parametrize("mode", ["none", "estimate", "accurate"])
def test_total_modes(mode: str) -> None:
    assert parse("Patient", f"_total={mode}").total == mode


def test_bad_total() -> None:
    with pytest.raises(FhirError):
        parse("Patient", "_total=some")


def test_format_and_pretty_are_not_criteria() -> None:
    query = parse("Patient", "_format=json&_pretty=true", strict=True)
    assert query.criteria == [] and query.unknown == []


# -- unknown parameters ----------------------------------------------------------------------------------


def test_unknown_params_are_collected_when_lenient() -> None:
    query = parse("Patient", "shoe-size=9&family=smith&_tag=x")
    assert query.unknown == ["shoe-size", "_tag"]
    assert [c.name for c in query.criteria] == ["family"]


def test_unknown_params_are_400_when_strict() -> None:
    with pytest.raises(FhirError) as caught:
        parse("Patient", "family=smith&shoe-size=9", strict=True)
    assert caught.value.status == 400
    assert caught.value.code == "not-supported"
    assert "shoe-size" in caught.value.diagnostics


def test_params_of_another_type_are_unknown() -> None:
    assert parse("Patient", "onset-date=2020").unknown == ["onset-date"]


def test_bad_values_of_known_params_are_400_even_when_lenient() -> None:
    with pytest.raises(FhirError):
        parse("Patient", "birthdate=not-a-date")


def test_criteria_keep_their_order_and_repeat_as_and() -> None:
    query = parse("Patient", "family=a&family=b&gender=male")
    assert [(c.name, c.values) for c in query.criteria] == [
        ("family", ["a"]),
        ("family", ["b"]),
        ("gender", [TokenValue(None, "male")]),
    ]
