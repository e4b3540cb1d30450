"""SMART v1 system scopes: parsing and which granted scope covers which wanted one (pure)."""

from __future__ import annotations

import pytest

from closer.auth.scopes import Scope, ScopeError, covered, not_covered, parse_scope, parse_scopes, permits


@pytest.mark.parametrize(
    ("granted", "wanted", "expected"),
    [
        ("system/Flag.read", "system/Flag.read", True),
        ("system/*.read", "system/Flag.read", True),
        ("system/Flag.*", "system/Flag.read", True),
        ("system/Flag.*", "system/Flag.write", True),
        ("system/*.*", "system/CarePlan.write", True),
        ("system/*.*", "system/*.read", True),
        ("system/*.read", "system/*.read", True),
        ("system/Flag.read", "system/*.read", False),
        ("system/Flag.read", "system/Flag.*", False),
        ("system/Flag.read", "system/Flag.write", False),
        ("system/Flag.read", "system/CarePlan.read", False),
        ("system/*.read", "system/Flag.write", False),
        ("system/*.write", "system/Flag.read", False),
        ("system/*.read", "system/*.*", False),
        ("system/Flag.*", "system/*.read", False),
    ],
)
def test_covers(granted: str, wanted: str, expected: bool) -> None:
    assert parse_scope(granted).covers(parse_scope(wanted)) is expected
    assert covered([parse_scope(granted)], parse_scope(wanted)) is expected


@pytest.mark.parametrize(
    ("granted", "resource_type", "mode", "expected"),
    [
        ("system/Flag.read", "Flag", "read", True),
        ("system/Flag.read", "Flag", "write", False),
        ("system/*.read", "AllergyIntolerance", "read", True),
        ("system/*.write", "Patient", "write", True),
        ("system/*.write", "Patient", "read", False),
        ("system/CarePlan.*", "CarePlan", "write", True),
        ("system/CarePlan.*", "Flag", "read", False),
        ("system/Flag.read system/CarePlan.read", "CarePlan", "read", True),
    ],
)
def test_permits(granted: str, resource_type: str, mode: str, expected: bool) -> None:
    assert permits(parse_scopes(granted), resource_type, mode) is expected


def test_permits_takes_read_or_write_only() -> None:
    with pytest.raises(ValueError):
        permits(parse_scopes("system/*.*"), "Flag", "*")


@pytest.mark.parametrize(
    "text",
    [
        "patient/Flag.read",
        "user/Flag.read",
        "system/Flag.rs",
        "system/flag.read",
        "system/Flag",
        "Flag.read",
        "launch",
        "openid",
        "system/Flag.read ",
        "system/*.delete",
    ],
)
def test_not_a_system_scope(text: str) -> None:
    with pytest.raises(ScopeError):
        parse_scope(text)


def test_unknown_resource_type_refused_when_types_are_given() -> None:
    assert parse_scope("system/Widget.read") == Scope("Widget", "read")
    with pytest.raises(ScopeError, match="Widget"):
        parse_scope("system/Widget.read", known_types={"Flag"})
    assert parse_scope("system/*.read", known_types={"Flag"}) == Scope("*", "read")


def test_parse_scopes_splits_dedupes_and_keeps_order() -> None:
    scopes = parse_scopes("system/Flag.read  system/CarePlan.read system/Flag.read")
    assert [str(s) for s in scopes] == ["system/Flag.read", "system/CarePlan.read"]
    assert parse_scopes(["system/Flag.read system/*.write", "system/*.write"]) == (
        Scope("Flag", "read"),
        Scope("*", "write"),
    )


def test_not_covered_lists_what_is_missing() -> None:
    granted = parse_scopes("system/*.read system/Flag.write")
    wanted = parse_scopes("system/CarePlan.read system/Flag.write system/CarePlan.write system/*.*")
    assert [str(s) for s in not_covered(granted, wanted)] == ["system/CarePlan.write", "system/*.*"]
