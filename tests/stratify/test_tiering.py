"""Tiering policies (rules and capacity) and the settings that configure them."""

from __future__ import annotations

import itertools
import random
import re
from importlib import resources
from pathlib import Path
from typing import Any

import pytest

from stratify.settings import (
    BELOW_THRESHOLD,
    ENV_VAR,
    SettingsError,
    TierPolicy,
    TierRule,
    load_settings,
    parse_settings,
)
from stratify.tiering import Decision, Scored, decide, rule_tier
from synth.population import practices_for

RULES = {
    "severe": TierRule(0.45, "severe"),
    "moderate": TierRule(0.25, "moderate"),
    "mild": TierRule(0.12, "mild"),
}
POLICY = TierPolicy("rules", RULES)


def scored(patient_id: str, probability: float, frailty: str = "fit", locality: str = "North") -> Scored:
    return Scored(patient_id, locality, probability, frailty)


def tier_of(probability: float, frailty: str = "fit", policy: TierPolicy = POLICY) -> str:
    return rule_tier(scored("p", probability, frailty), policy)[0]


# -- rules ---------------------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("probability", "tier"),
    [
        (0.99, "severe"),
        (0.45, "severe"),  # at least the threshold
        (0.4499, "moderate"),
        (0.25, "moderate"),
        (0.2499, "mild"),
        (0.12, "mild"),
        (0.1199, BELOW_THRESHOLD),
        (0.0, BELOW_THRESHOLD),
    ],
)
def test_the_probability_rule(probability: float, tier: str) -> None:
    assert tier_of(probability) == tier


@pytest.mark.parametrize(
    ("frailty", "tier"),
    [("severe", "severe"), ("moderate", "moderate"), ("mild", "mild"), ("fit", BELOW_THRESHOLD)],
)
def test_the_frailty_rule_places_someone_whatever_their_risk(frailty: str, tier: str) -> None:
    assert tier_of(0.01, frailty) == tier


def test_the_most_severe_matching_tier_wins() -> None:
    assert tier_of(0.30, "severe") == "severe"  # the severe frailty rule beats the moderate probability rule
    assert tier_of(0.50, "mild") == "severe"  # the severe probability rule beats the mild frailty rule
    assert tier_of(0.13, "moderate") == "moderate"
    tier, reason = rule_tier(scored("p", 0.30, "severe"), POLICY)
    assert (tier, reason) == ("severe", "severe frailty (eFI) meets the severe rule")
    tier, reason = rule_tier(scored("p", 0.50, "severe"), POLICY)
    assert (tier, reason) == ("severe", "risk 50% >= 45% (severe threshold)")
    assert rule_tier(scored("p", 0.05), POLICY) == (BELOW_THRESHOLD, "below every tier's threshold")


def test_a_rule_may_have_only_one_part_and_a_tier_may_have_no_rule() -> None:
    probability_only = TierPolicy("rules", {"severe": TierRule(0.45), "mild": TierRule(0.12)})
    assert tier_of(0.05, "severe", probability_only) == BELOW_THRESHOLD
    assert tier_of(0.30, "fit", probability_only) == "mild"  # no moderate rule
    frailty_only = TierPolicy("rules", {"moderate": TierRule(min_frailty="moderate")})
    assert tier_of(0.99, "fit", frailty_only) == BELOW_THRESHOLD
    assert tier_of(0.0, "severe", frailty_only) == "moderate"
    assert tier_of(0.99, policy=TierPolicy("rules", {})) == BELOW_THRESHOLD


def test_rules_candidates_are_the_people_in_the_candidate_tiers() -> None:
    people = [scored("s", 0.6), scored("m", 0.3), scored("f", 0.05, "moderate"), scored("l", 0.2), scored("b", 0.01)]
    got = decide(people, POLICY)
    assert {pid: (d.tier, d.candidate) for pid, d in got.items()} == {
        "s": ("severe", True),
        "m": ("moderate", True),
        "f": ("moderate", True),
        "l": ("mild", False),
        "b": (BELOW_THRESHOLD, False),
    }
    only_severe = decide(people, TierPolicy("rules", RULES, candidate_tiers=("severe",)))
    assert [pid for pid, d in only_severe.items() if d.candidate] == ["s"]


def test_rules_ignore_locality_and_capacity() -> None:
    policy = TierPolicy("rules", RULES, capacity={"North": 0})
    got = decide([scored("s", 0.6, locality="North")], policy)
    assert got["s"] == Decision("severe", True, "risk 60% >= 45% (severe threshold)")


# -- capacity ------------------------------------------------------------------------------------------------
CAPACITY = TierPolicy("capacity", RULES, capacity={"North": 2, "Central": 1})


def test_capacity_takes_the_top_n_of_each_locality_by_probability() -> None:
    people = [
        scored("n1", 0.90),
        scored("n2", 0.05),
        scored("n3", 0.30),
        scored("n4", 0.02),
        scored("c1", 0.10, locality="Central"),
        scored("c2", 0.20, locality="Central"),
        scored("s1", 0.95, locality="South"),  # no capacity listed: no places
    ]
    got = decide(people, CAPACITY)
    assert {pid for pid, d in got.items() if d.candidate} == {"n1", "n3", "c2"}
    assert got["n1"].tier == "severe"  # a candidate keeps a tier above the floor
    assert got["n3"].tier == "moderate"
    assert got["n2"].tier == BELOW_THRESHOLD  # beyond capacity, and below every rule anyway
    assert got["c2"].tier == "moderate"  # mild by the rules, raised to the lowest candidate tier
    assert got["c1"].tier == BELOW_THRESHOLD
    assert got["s1"].tier == "mild"  # severe by the rules, but beyond capacity: at most the tier below moderate
    assert not got["s1"].candidate
    assert "within North's capacity of 2 (rank 1)" in got["n1"].reason
    assert "within North's capacity of 2 (rank 2)" in got["n3"].reason
    assert "beyond North's capacity of 2" in got["n2"].reason
    assert "beyond South's capacity of 0" in got["s1"].reason


def test_candidate_floor_and_non_candidate_ceiling() -> None:
    policy = TierPolicy("capacity", RULES, capacity={"North": 1})
    got = decide([scored("low", 0.01), scored("lower", 0.005)], policy)
    assert got["low"] == Decision(
        "moderate", True, "below every tier's threshold; within North's capacity of 1 (rank 1)"
    )
    got = decide([scored("top", 0.9), scored("second", 0.8, "severe"), scored("third", 0.3)], policy)
    assert (got["top"].tier, got["top"].candidate) == ("severe", True)
    assert (got["second"].tier, got["second"].candidate) == ("mild", False)
    assert (got["third"].tier, got["third"].candidate) == ("mild", False)


def test_with_mild_a_candidate_tier_the_ceiling_is_below_threshold() -> None:
    policy = TierPolicy("capacity", RULES, capacity={"North": 1}, candidate_tiers=("mild", "moderate", "severe"))
    got = decide([scored("a", 0.01), scored("b", 0.6)], policy)
    assert (got["b"].tier, got["b"].candidate) == ("severe", True)
    assert (got["a"].tier, got["a"].candidate) == (BELOW_THRESHOLD, False)
    got = decide([scored("a", 0.01)], policy)
    assert (got["a"].tier, got["a"].candidate) == ("mild", True)


def test_capacity_ties_go_to_the_higher_efi_then_the_lower_id() -> None:
    policy = TierPolicy("capacity", RULES, capacity={"North": 1})
    frailer = decide([scored("a", 0.3, "fit"), scored("b", 0.3, "moderate")], policy)
    assert [pid for pid, d in frailer.items() if d.candidate] == ["b"]
    by_id = decide([scored("b", 0.3, "mild"), scored("a", 0.3, "mild")], policy)
    assert [pid for pid, d in by_id.items() if d.candidate] == ["a"]


def test_capacity_decisions_do_not_depend_on_the_input_order() -> None:
    rng = random.Random(7)
    frailties = ("fit", "mild", "moderate", "severe")
    localities = ("North", "Central", "South")
    people = [
        scored(f"p{n:02d}", rng.choice((0.1, 0.2, 0.3, 0.5)), rng.choice(frailties), rng.choice(localities))
        for n in range(30)
    ]
    policy = TierPolicy("capacity", RULES, capacity={"North": 3, "Central": 4, "South": 2})
    expected = decide(people, policy)
    for _ in range(20):
        shuffled = people[:]
        rng.shuffle(shuffled)
        assert decide(shuffled, policy) == expected
    for permutation in itertools.islice(itertools.permutations(people[:6]), 50):
        assert decide(list(permutation), policy) == decide(people[:6], policy)
    counts = {
        loc: sum(1 for p in people if p.locality == loc and expected[p.patient_id].candidate) for loc in localities
    }
    assert counts == {loc: min(policy.capacity[loc], sum(1 for p in people if p.locality == loc)) for loc in localities}


# -- settings ------------------------------------------------------------------------------------------------
def minimal(**tables: Any) -> dict[str, Any]:
    raw: dict[str, Any] = {"practices": {"Z91001": "North"}}
    raw.update(tables)
    return raw


def test_minimal_settings_take_the_defaults() -> None:
    got = parse_settings({"practices": {" z91001 ": "North", "Z92001": "Central"}}, "test.toml")
    assert got.practices == {"Z91001": "North", "Z92001": "Central"}
    assert (got.min_age, got.review_months, got.model_name, got.model_version) == (65, 3, "default", "")
    assert got.tiering == TierPolicy()
    assert got.source == "test.toml"


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        ({"practices": {"Z91001": "East"}}, "practices.Z91001: 'East' is not a locality"),
        (minimal(tiering={"capacity": {"West": 10}}), "tiering.capacity: 'West' is not a locality"),
        (minimal(plan={"case_management": {"Mid": 1}}), "plan.case_management: 'Mid' is not a locality"),
        (minimal(plan={"population": {"North": -1}}), "plan.population.North: expected a whole number"),
        (minimal(tiering={"moderate": {"min_frailty": "frail"}}), "tiering.moderate.min_frailty: 'frail' is not"),
        (minimal(tiering={"severe": {"min_probability": 1.5}}), "tiering.severe.min_probability"),
        (minimal(tiering={"mild": {"min_probability": -0.1}}), "tiering.mild.min_probability"),
        (minimal(tiering={"mild": {"min_probability": "0.2"}}), "tiering.mild.min_probability"),
        (minimal(tiering={"mild": {"min_probability": True}}), "tiering.mild.min_probability"),
        (minimal(tiering={"policy": "capacity"}), "tiering.policy is 'capacity' but [tiering.capacity] is empty"),
        (minimal(tiering={"policy": "lottery"}), "tiering.policy must be 'rules' or 'capacity'"),
        (minimal(tiering={"candidate_tiers": ["critical"]}), "tiering.candidate_tiers: 'critical'"),
        (minimal(tiering={"capacity": {"North": 1.5}}), "tiering.capacity.North: expected a whole number"),
        (minimal(cohort={"min_age": "65"}), "cohort.min_age: expected a whole number"),
        (minimal(cohort={"review_months": -3}), "cohort.review_months"),
        (minimal(cohort=65), "'cohort' must be a table"),
        ({"practices": {}}, "[practices] is empty"),
        ({}, "[practices] is empty"),
    ],
)
def test_parse_settings_refuses_what_cannot_be_used(raw: dict[str, Any], message: str) -> None:
    with pytest.raises(SettingsError) as error:
        parse_settings(raw, "board.toml")
    assert message in str(error.value)


def test_probabilities_at_the_ends_of_the_range_are_accepted() -> None:
    got = parse_settings(minimal(tiering={"severe": {"min_probability": 1}, "mild": {"min_probability": 0}}))
    assert got.tiering.rules == {"severe": TierRule(1.0, None), "mild": TierRule(0.0, None)}


def documented_rules() -> dict[str, TierRule]:
    """The tier table of FEATURES.md: | tier | probability >= | or frailty >= | ... |"""
    text = resources.files("stratify").joinpath("FEATURES.md").read_text(encoding="utf-8")
    rows = re.findall(r"^\| (severe|moderate|mild) \| ([0-9.]+) \| (\w+) \(eFI", text, flags=re.MULTILINE)
    return {tier: TierRule(float(probability), frailty) for tier, probability, frailty in rows}


def test_the_packaged_default(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(ENV_VAR, raising=False)
    got = load_settings()
    assert "packaged default" in got.source
    assert len(got.practices) == 36
    assert {loc: list(got.practices.values()).count(loc) for loc in ("North", "Central", "South")} == {
        "North": 12,
        "Central": 12,
        "South": 12,
    }
    # The synthetic county's practices at full size are exactly the ones in scope.
    assert got.practices == {p.ods: p.locality for p in practices_for(1.0)}
    plan = {"North": 2782, "Central": 2656, "South": 3355}
    assert got.plan_case_management == plan
    assert got.tiering.capacity == plan
    assert got.plan_population == {"North": 23190, "Central": 22135, "South": 27962}
    assert sum(got.plan_population.values()) == 73287
    assert (got.min_age, got.review_months, got.model_name, got.model_version) == (65, 3, "default", "")
    assert got.tiering.policy == "rules"
    assert got.tiering.candidate_tiers == ("moderate", "severe")
    assert got.tiering.rules == documented_rules()
    assert got.as_record()["practices"] == 36


def test_load_settings_from_a_path_or_the_environment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "board.toml"
    path.write_text('[cohort]\nmin_age = 75\n[practices]\nA81001 = "South"\n', encoding="utf-8")
    monkeypatch.delenv(ENV_VAR, raising=False)
    got = load_settings(path)
    assert (got.min_age, got.practices, got.source) == (75, {"A81001": "South"}, str(path))
    monkeypatch.setenv(ENV_VAR, str(path))
    assert load_settings().practices == {"A81001": "South"}


def test_load_settings_names_an_unreadable_or_invalid_file(tmp_path: Path) -> None:
    with pytest.raises(SettingsError, match="cannot read stratification settings"):
        load_settings(tmp_path / "missing.toml")
    bad = tmp_path / "bad.toml"
    bad.write_text("[practices\n", encoding="utf-8")
    with pytest.raises(SettingsError, match="not valid TOML"):
        load_settings(bad)
