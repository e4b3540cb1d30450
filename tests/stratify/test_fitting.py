"""Fitting a logistic model to history, judging it on a later period, and keeping it in the store."""

from __future__ import annotations

import math
from collections.abc import Iterator

import numpy as np
import pytest
from sqlalchemy import Engine

from closer.store.engine import make_engine
from stratify.features import Features
from stratify.fitting import DESIGN_COLUMNS, FitError, FitResult, design_row, fit
from stratify.models.base import ModelNotFound, load_model
from stratify.models.fitted import factory, list_fitted, save_fitted


def synthetic(rng: np.random.Generator, n: int) -> tuple[list[Features], list[int]]:
    """People with a known logistic relation between a few features and the outcome."""
    people, outcomes = [], []
    for _ in range(n):
        age = int(65 + rng.exponential(10.0))
        ltc = int(rng.poisson(1.5))
        efi = min(1.0, rng.poisson(1 + 2.5 * ltc) / 36)
        admissions = int(rng.poisson(0.1 + 0.1 * ltc))
        features = Features(
            age=age,
            sex="male" if rng.random() < 0.45 else "female",
            ltc_count=ltc,
            efi=round(efi, 4),
            hfrs=float(rng.choice([0.0, 0.0, 3.1, 8.4])),
            nel_admissions=admissions,
            nel_bed_days=int(admissions * rng.integers(1, 10)),
            ae_attendances=admissions + int(rng.poisson(0.2)),
            repeat_medications=int(rng.poisson(1 + ltc)),
            home_care_hours=0.0,
            home_care=False,
            care_home=bool(rng.random() < 0.03),
            unpaid_carer=bool(rng.random() < 0.1),
        )
        logit = -4.5 + 1.0 * min(admissions, 5) + 10.0 * efi + 0.05 * (age - 65) + 1.0 * features.care_home
        outcomes.append(int(rng.random() < 1 / (1 + math.exp(-logit))))
        people.append(features)
    return people, outcomes


@pytest.fixture(scope="module")
def periods() -> tuple[list[Features], list[int], list[Features], list[int]]:
    rng = np.random.default_rng(20261123)
    train, train_y = synthetic(rng, 2500)
    test, test_y = synthetic(rng, 1500)
    return train, train_y, test, test_y


@pytest.fixture(scope="module")
def result(periods: tuple[list[Features], list[int], list[Features], list[int]]) -> FitResult:
    return fit(*periods)


def test_design_row_follows_the_columns(periods: tuple[list[Features], list[int], list[Features], list[int]]) -> None:
    row = design_row(periods[0][0])
    assert len(row) == len(DESIGN_COLUMNS)
    assert all(isinstance(v, float) for v in row)


def test_fit_recovers_the_relation_and_reports_honestly(result: FitResult) -> None:
    assert result.metrics["auroc"] > 0.75
    assert 0.0 < result.metrics["brier"] < 0.25
    assert 0.5 < result.metrics["default_auroc"] < 1.0
    assert (result.train_size, result.test_size) == (2500, 1500)
    assert 0.0 < result.train_prevalence < 1.0 and 0.0 < result.test_prevalence < 1.0
    assert set(result.coefficients) == set(DESIGN_COLUMNS)
    assert 0.6 < result.coefficients["nel_admissions"] < 1.4  # truth: 1.0
    assert 6.0 < result.coefficients["efi"] < 14.0  # truth: 10.0
    assert result.coefficients["home_care_hours"] == 0.0  # never varies here, so cannot be estimated


def test_calibration_table_has_ten_deciles(result: FitResult) -> None:
    rows = result.calibration
    assert [r.bin for r in rows] == list(range(1, 11))
    assert sum(r.n for r in rows) == result.test_size
    means = [r.mean_predicted for r in rows]
    assert means == sorted(means)
    assert rows[-1].observed_rate > rows[0].observed_rate
    assert all(0.0 <= r.observed_rate <= 1.0 for r in rows)


def test_one_class_outcome_is_a_clear_error(
    periods: tuple[list[Features], list[int], list[Features], list[int]],
) -> None:
    train, _, test, test_y = periods
    with pytest.raises(FitError, match=r"nobody in the training period.*one class"):
        fit(train, [0] * len(train), test, test_y)
    with pytest.raises(FitError, match=r"everybody in the test period.*one class"):
        fit(train, periods[1], test, [1] * len(test))


def test_too_few_people_or_mismatched_outcomes(
    periods: tuple[list[Features], list[int], list[Features], list[int]],
) -> None:
    train, train_y, test, test_y = periods
    with pytest.raises(FitError, match="at least 50 are needed"):
        fit(train[:10], train_y[:10], test, test_y)
    with pytest.raises(FitError, match="1500 people but 1499 outcomes"):
        fit(train, train_y, test, test_y[:-1])
    few = [1 if i < 3 else 0 for i in range(len(train))]
    with pytest.raises(FitError, match="3 people with an emergency admission"):
        fit(train, few, test, test_y)


@pytest.fixture
def engine(database_url: str) -> Iterator[Engine]:
    made = make_engine(database_url)
    yield made
    made.dispose()


def test_fitted_model_round_trips_through_the_store(
    engine: Engine, result: FitResult, periods: tuple[list[Features], list[int], list[Features], list[int]]
) -> None:
    with pytest.raises(ModelNotFound, match="no fitted risk model is saved"):
        factory("", engine)
    first = save_fitted(engine, result, "2024-10-01", "2025-10-01")
    second = save_fitted(engine, result, "2025-10-01", "2026-10-01")
    assert (first, second) == ("1", "2")

    saved = list_fitted(engine)
    assert [s.version for s in saved] == ["1", "2"]
    assert saved[1].trained_as_of == "2025-10-01" and saved[1].tested_as_of == "2026-10-01"
    assert saved[1].metrics["auroc"] == result.metrics["auroc"]
    assert len(saved[1].metrics["calibration"]) == 10

    newest = load_model("fitted", engine=engine)
    assert (newest.name, newest.version) == ("fitted", "2")
    assert factory("1", engine).version == "1"
    for person in periods[2][:200]:
        prediction = newest.predict(person)
        assert prediction.probability == result.predict(person)
        points = [c.points for c in prediction.contributions]
        assert points == sorted(points, reverse=True)
    with pytest.raises(ModelNotFound, match=r"no version '9' \(saved: 1, 2\)"):
        factory("9", engine)


def test_fitted_model_needs_a_store() -> None:
    with pytest.raises(ModelNotFound, match="no database was given"):
        load_model("fitted")
