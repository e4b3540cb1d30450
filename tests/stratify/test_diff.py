"""Run diffs: who entered and left the candidate list and whose tier moved, by hand-built results."""

from __future__ import annotations

import json

import pytest

from stratify.diff import (
    LEFT_COHORT,
    NEW_TO_COHORT,
    NO_LONGER_CANDIDATE,
    NOW_CANDIDATE,
    Movement,
    TierChange,
    diff,
    render_diff,
    text_table,
)
from stratify.runstore import Result


def r(
    pid: str,
    tier: str,
    *,
    candidate: bool | None = None,
    locality: str = "North",
    probability: float = 0.5,
    ltc: int = 2,
) -> Result:
    """A result; a candidate by default when moderate or severe (the rules policy's default)."""
    if candidate is None:
        candidate = tier in ("moderate", "severe")
    return Result(pid, "Z91001", locality, tier, probability, candidate, "mild", ltc)


BEFORE = [
    r("f", "mild"),
    r("a", "severe", probability=0.7),
    r("b", "moderate", locality="South", probability=0.4),
    r("c", "mild", locality="Central", probability=0.2),
    r("d", "below-threshold"),
    r("e", "moderate", locality="Central", probability=0.45),  # leaves the cohort
]
AFTER = [
    r("h", "below-threshold"),  # new, not a candidate
    r("g", "moderate", locality="South", probability=0.42),  # new candidate
    r("a", "moderate", probability=0.5),  # down, still a candidate
    r("b", "mild", locality="South", probability=0.25),  # down and off the list
    r("c", "severe", locality="Central", probability=0.8),  # up and onto the list
    r("d", "below-threshold"),
    r("f", "mild"),
]


def test_entered_left_and_changed() -> None:
    d = diff(BEFORE, AFTER)
    assert d.entered == (
        Movement("c", "Central", "severe", 0.8, NOW_CANDIDATE),
        Movement("g", "South", "moderate", 0.42, NEW_TO_COHORT),
    )
    assert d.left == (
        Movement("b", "South", "moderate", 0.4, NO_LONGER_CANDIDATE, now="mild"),
        Movement("e", "Central", "moderate", 0.45, LEFT_COHORT),
    )
    assert d.changed == (
        TierChange("a", "North", "severe", "moderate", "down", 0.7, 0.5),
        TierChange("b", "South", "moderate", "mild", "down", 0.4, 0.25),
        TierChange("c", "Central", "mild", "severe", "up", 0.2, 0.8),
    )


def test_counts() -> None:
    assert diff(BEFORE, AFTER).counts == {
        "cohort_before": 6,
        "cohort_after": 7,
        "candidates_before": 3,
        "candidates_after": 3,
        "entered": 2,
        "entered_new_to_cohort": 1,
        "left": 2,
        "left_the_cohort": 1,
        "changed": 3,
        "up": 1,
        "down": 2,
    }


def test_by_locality_in_settings_order() -> None:
    assert diff(BEFORE, AFTER).by_locality() == {
        "North": {"entered": 0, "left": 0, "up": 0, "down": 1},
        "Central": {"entered": 1, "left": 1, "up": 1, "down": 0},
        "South": {"entered": 1, "left": 1, "up": 0, "down": 1},
    }


def test_input_order_does_not_matter() -> None:
    assert diff(reversed(BEFORE), reversed(AFTER)) == diff(BEFORE, AFTER)


def test_below_threshold_to_mild_is_up() -> None:
    (change,) = diff([r("x", "below-threshold")], [r("x", "mild")]).changed
    assert (change.before, change.after, change.direction) == ("below-threshold", "mild", "up")


def test_candidate_flag_not_tier_decides_the_lists() -> None:
    """Under the capacity policy a moderate person can drop off the list without changing tier."""
    d = diff([r("x", "moderate", candidate=True)], [r("x", "moderate", candidate=False)])
    assert [m.patient_id for m in d.left] == ["x"]
    assert d.left[0].reason == NO_LONGER_CANDIDATE
    assert d.entered == () and d.changed == ()


def test_first_run_everyone_enters() -> None:
    d = diff([], AFTER)
    assert [m.patient_id for m in d.entered] == ["a", "c", "g"]
    assert all(m.reason == NEW_TO_COHORT for m in d.entered)
    assert d.left == () and d.changed == ()


def test_same_run_no_differences() -> None:
    d = diff(AFTER, AFTER)
    assert (d.entered, d.left, d.changed) == ((), (), ())
    assert "(nobody)" in render_diff(d)


def test_duplicate_patient_is_an_error() -> None:
    with pytest.raises(ValueError, match="twice in the after run"):
        diff([], [r("x", "mild"), r("x", "severe")])


def test_render_lists_everyone() -> None:
    text = render_diff(diff(BEFORE, AFTER))
    assert "candidates 3 -> 3 (+0)" in text
    assert "Entered (2)" in text and "Left (2)" in text and "Tier changed (3)" in text
    assert "left the cohort" in text and "new to the cohort" in text
    lines = text.splitlines()
    changed = lines[lines.index("Tier changed (3)") + 1 :]
    assert [line.split()[0] for line in changed[1:]] == ["a", "b", "c"]


def test_as_dict_is_json() -> None:
    data = json.loads(json.dumps(diff(BEFORE, AFTER).as_dict()))
    assert data["counts"]["entered"] == 2
    assert data["changed"][2] == {
        "patient_id": "c",
        "locality": "Central",
        "before": "mild",
        "after": "severe",
        "direction": "up",
        "probability_before": 0.2,
        "probability_after": 0.8,
    }


def test_text_table_aligns_numbers_right() -> None:
    assert text_table(["name", "n"], [["North", 1234], ["South", 5]]) == [
        "  name   n",
        "  North  1,234",
        "  South      5",
    ]
