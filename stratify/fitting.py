"""Fit a logistic model to the store's own history and say honestly how well it does (pure: no IO).

The design matrix holds the default model's term values (`stratify.models.default.TERMS`: capped counts,
scores and 0/1 flags), so a fitted model weighs the same quantities and its notes read the same. Columns
are standardised on the training period before fitting (so the mild L2 penalty treats a 0/1 flag and a
count of bed days alike), and the coefficients are then turned back into log-odds per unit of each
column, which is what is stored and what a reader can compare with the default model. A column that
does not vary in the training period (say, nobody in a care home) cannot be estimated and gets 0.

The model is fitted on one period (features as of one day, outcome in the 12 months after) and judged on a
later held-out period: AUROC, Brier score and a calibration table by deciles of predicted risk, with the
default model's AUROC on the same people for comparison.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import brier_score_loss, roc_auc_score

from stratify.features import Features
from stratify.models.default import TERMS, DefaultModel, linear_predict

DESIGN_COLUMNS: tuple[str, ...] = tuple(term.name for term in TERMS)
MIN_PEOPLE = 50  # in each period: fewer and the fit and its figures mean nothing
MIN_EVENTS = 10  # people with the outcome in the training period
CALIBRATION_BINS = 10
PENALTY_C = 1.0  # inverse L2 strength on standardised columns: mild, it only steadies collinear terms


class FitError(ValueError):
    """The data cannot give a model or an honest measure of one; the message says why."""


def design_row(features: Features) -> list[float]:
    """The numeric row for one person, in DESIGN_COLUMNS order."""
    return [term.value(features) for term in TERMS]


@dataclass(frozen=True)
class CalibrationRow:
    """One decile of predicted risk in the test period."""

    bin: int  # 1 (lowest predicted risk) to 10
    n: int
    mean_predicted: float
    observed_rate: float


@dataclass(frozen=True)
class FitResult:
    coefficients: dict[str, float]  # log-odds per unit of each design column
    intercept: float
    metrics: dict[str, float]  # auroc, brier, default_auroc (all on the test period)
    calibration: list[CalibrationRow]
    train_size: int
    test_size: int
    train_prevalence: float
    test_prevalence: float
    columns: tuple[str, ...] = field(default=DESIGN_COLUMNS)

    def predict(self, features: Features) -> float:
        """The fitted probability for one person (the same arithmetic the stored model uses)."""
        probability, _ = linear_predict(features, self.coefficients, self.intercept)
        return probability


def fit(
    train_features: Sequence[Features],
    train_outcomes: Sequence[int],
    test_features: Sequence[Features],
    test_outcomes: Sequence[int],
) -> FitResult:
    """Fit on the training period, measure on the test period."""
    x_train, y_train = _checked(train_features, train_outcomes, "training")
    x_test, y_test = _checked(test_features, test_outcomes, "test")
    if int(y_train.sum()) < MIN_EVENTS:
        raise FitError(
            f"the training period has {int(y_train.sum())} people with an emergency admission; "
            f"at least {MIN_EVENTS} are needed to fit a model"
        )

    mean = x_train.mean(axis=0)
    scale = x_train.std(axis=0)
    varies = scale > 1e-12
    standardised = (x_train[:, varies] - mean[varies]) / scale[varies]
    regression = LogisticRegression(C=PENALTY_C, max_iter=1000)
    regression.fit(standardised, y_train)

    per_unit = np.zeros(len(DESIGN_COLUMNS))
    per_unit[varies] = regression.coef_[0] / scale[varies]
    intercept = float(regression.intercept_[0] - np.dot(per_unit[varies], mean[varies]))
    coefficients = {name: float(value) for name, value in zip(DESIGN_COLUMNS, per_unit, strict=True)}

    predicted = _probabilities(x_test, per_unit, intercept)
    default = DefaultModel()
    default_predicted = np.array([default.predict(f).probability for f in test_features])
    metrics = {
        "auroc": float(roc_auc_score(y_test, predicted)),
        "brier": float(brier_score_loss(y_test, predicted)),
        "default_auroc": float(roc_auc_score(y_test, default_predicted)),
        "default_brier": float(brier_score_loss(y_test, default_predicted)),
    }
    return FitResult(
        coefficients=coefficients,
        intercept=intercept,
        metrics=metrics,
        calibration=calibration_table(predicted, y_test),
        train_size=len(y_train),
        test_size=len(y_test),
        train_prevalence=float(y_train.mean()),
        test_prevalence=float(y_test.mean()),
    )


def calibration_table(
    predicted: np.ndarray, observed: np.ndarray, bins: int = CALIBRATION_BINS
) -> list[CalibrationRow]:
    """Deciles of predicted risk (people ranked by prediction and split into groups of near-equal size,
    so ties never empty a bin): size, mean prediction and observed rate of each."""
    order = np.argsort(predicted, kind="stable")
    rows = []
    for number, chunk in enumerate(np.array_split(order, bins), start=1):
        rows.append(
            CalibrationRow(
                bin=number,
                n=len(chunk),
                mean_predicted=float(predicted[chunk].mean()) if len(chunk) else 0.0,
                observed_rate=float(observed[chunk].mean()) if len(chunk) else 0.0,
            )
        )
    return rows


def _probabilities(x: np.ndarray, coefficients: np.ndarray, intercept: float) -> np.ndarray:
    logit = intercept + x @ coefficients
    out: np.ndarray = 1.0 / (1.0 + np.exp(-logit))
    return out


def _checked(features: Sequence[Features], outcomes: Sequence[int], period: str) -> tuple[np.ndarray, np.ndarray]:
    if len(features) != len(outcomes):
        raise FitError(f"the {period} period has {len(features)} people but {len(outcomes)} outcomes")
    if len(features) < MIN_PEOPLE:
        raise FitError(f"the {period} period has {len(features)} people; at least {MIN_PEOPLE} are needed")
    y = np.asarray(outcomes, dtype=float)
    if not np.isin(y, (0.0, 1.0)).all():
        raise FitError(f"the {period} period's outcomes must be 0 or 1")
    positives = int(y.sum())
    if positives == 0:
        raise FitError(f"nobody in the {period} period had an emergency admission: the outcome has one class only")
    if positives == len(y):
        raise FitError(f"everybody in the {period} period had an emergency admission: the outcome has one class only")
    x = np.array([design_row(f) for f in features], dtype=float)
    return x, y.astype(int)
