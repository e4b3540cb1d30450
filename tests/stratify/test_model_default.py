"""The default model: worse never scores lower, the arithmetic adds up, and it loads by entry point."""

from __future__ import annotations

import math
from dataclasses import replace
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from stratify.features import Features
from stratify.models.base import ModelNotFound, load_model
from stratify.models.default import COEFFICIENTS, INTERCEPT, TERMS, DefaultModel, factory

MODEL = DefaultModel()

features_strategy = st.builds(
    Features,
    age=st.integers(50, 110),
    sex=st.sampled_from(["female", "male", "other", "unknown"]),
    ltc_count=st.integers(0, 15),
    efi=st.floats(0.0, 1.0),
    hfrs=st.floats(0.0, 60.0),
    nel_admissions=st.integers(0, 12),
    nel_bed_days=st.integers(0, 200),
    ae_attendances=st.integers(0, 15),
    repeat_medications=st.integers(0, 25),
    home_care_hours=st.floats(0.0, 80.0),
    home_care=st.booleans(),
    care_home=st.booleans(),
    unpaid_carer=st.booleans(),
)

WORSENING_NUMBERS = (
    "age",
    "ltc_count",
    "efi",
    "hfrs",
    "nel_admissions",
    "nel_bed_days",
    "ae_attendances",
    "repeat_medications",
    "home_care_hours",
)
WORSENING_FLAGS = ("home_care", "care_home", "unpaid_carer")


def worse(features: Features, name: str, step: float) -> Features:
    value: Any = getattr(features, name)
    changes: dict[str, Any] = {}
    if isinstance(value, bool):
        changes[name] = True
    elif isinstance(value, int):
        changes[name] = value + max(1, round(step * 10))
    else:
        changes[name] = value + step
    return replace(features, **changes)


@given(
    features_strategy,
    st.sampled_from(WORSENING_NUMBERS + WORSENING_FLAGS),
    st.floats(0.0, 5.0),
)
def test_worsening_one_feature_never_lowers_the_probability(features: Features, name: str, step: float) -> None:
    after = worse(features, name, step)
    assert MODEL.predict(after).probability >= MODEL.predict(features).probability


@given(features_strategy)
def test_probability_contributions_and_logit_agree(features: Features) -> None:
    prediction = MODEL.predict(features)
    assert 0.0 < prediction.probability < 1.0
    points = [c.points for c in prediction.contributions]
    assert points == sorted(points, reverse=True)
    assert all(p > 0 for p in points)  # zero terms are left out; none is negative
    logit = INTERCEPT + math.fsum(points)
    assert math.log(prediction.probability / (1 - prediction.probability)) == pytest.approx(logit, abs=1e-9)
    assert all(c.label for c in prediction.contributions)


def test_every_term_has_a_positive_coefficient() -> None:
    assert set(COEFFICIENTS) == {t.name for t in TERMS}
    assert all(c > 0 for c in COEFFICIENTS.values())


def example() -> Features:
    return Features(
        age=84,
        sex="female",
        ltc_count=3,
        efi=0.31,
        hfrs=7.2,
        nel_admissions=2,
        nel_bed_days=11,
        ae_attendances=1,
        repeat_medications=9,
        home_care_hours=14.0,
        home_care=True,
        care_home=False,
        unpaid_carer=True,
    )


def test_labels_read_as_sentences() -> None:
    prediction = MODEL.predict(example())
    labels = {c.factor: c.label for c in prediction.contributions}
    assert labels["nel_admissions"] == "2 emergency admissions in the last 12 months (+0.90)"
    assert labels["efi"] == "eFI 0.31 (moderate frailty) (+0.93)"
    assert labels["ae_attendances"] == "1 A&E attendance in the last 12 months (+0.15)"
    assert labels["home_care_hours"] == "14 hours of home care a week (+0.14)"
    assert labels["unpaid_carer"] == "has an unpaid carer, a marker of dependency (+0.20)"
    assert "male" not in labels
    by_factor = {c.factor: c.points for c in prediction.contributions}
    assert by_factor["nel_admissions"] == pytest.approx(0.90)
    assert prediction.contributions[0].factor == "efi"  # frailty and admissions lead


def test_a_typical_fit_person_is_low_risk_and_a_frail_one_high() -> None:
    fit = replace(
        example(),
        age=70,
        ltc_count=1,
        efi=0.03,
        hfrs=0.0,
        nel_admissions=0,
        nel_bed_days=0,
        ae_attendances=0,
        repeat_medications=1,
        home_care_hours=0.0,
        home_care=False,
        unpaid_carer=False,
    )
    assert MODEL.predict(fit).probability < 0.1
    assert MODEL.predict(example()).probability > 0.5


def test_load_model_finds_the_default_through_its_entry_point() -> None:
    model = load_model("default")
    assert (model.name, model.version) == ("default", "1")
    assert load_model("default", "1").predict(example()) == MODEL.predict(example())


def test_unknown_model_names_the_registered_ones() -> None:
    with pytest.raises(ModelNotFound) as raised:
        load_model("no-such-model")
    assert "default" in str(raised.value) and "fitted" in str(raised.value)


def test_unknown_default_version() -> None:
    with pytest.raises(ModelNotFound, match="no version '2'"):
        factory("2", None)
