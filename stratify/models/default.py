"""The transparent default model: a logistic score a GP can check by hand.

log-odds = INTERCEPT + sum of terms, each term = coefficient x a capped value of one feature. Every value
is non-negative and never falls as the feature worsens, and every coefficient is positive, so a person
whose situation worsens in any one respect never gets a lower probability (tests check this).

The coefficients are a hand-set prior, NOT clinically derived and NOT fitted to any data. They were
chosen only so that the ordering is sensible: prior emergency admissions and frailty dominate, as they do
in published admission-risk models such as PARR and the Combined Predictive Model (named for the idea;
neither is copied). The intercept (-2.9) was set so the mean probability is about 0.17 in a 65+ population
shaped like the programme's (14,556 emergency admissions a year among 73,287 people, many having several,
so a little under one in five has one or more): on the synthetic county (`synth.population`) the mean is
0.166 against 17.5% of people admitted in the following year.
A care board should fit its own with `closer stratify fit` (the `fitted` model). Each term is explained in
`stratify/MODELS.md`.

The terms (their design values) are shared with `stratify.fitting`, so a fitted model weighs the same
quantities and explains itself with the same words.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass

from sqlalchemy.engine import Engine

from stratify.features import Features
from stratify.models.base import Contribution, ModelNotFound, Prediction

NAME = "default"
VERSION = "1"
AGE_FROM = 65


def _plural(n: int, one: str, many: str) -> str:
    return f"{n} {one if n == 1 else many}"


def _number(x: float) -> str:
    return f"{x:g}"


@dataclass(frozen=True)
class Term:
    """One term: the design value a feature gives (capped, never falling as it worsens) and its words."""

    name: str  # design column name
    value: Callable[[Features], float]
    label: Callable[[Features], str]


TERMS: tuple[Term, ...] = (
    Term(
        "nel_admissions",
        lambda f: float(min(max(f.nel_admissions, 0), 5)),
        lambda f: _plural(f.nel_admissions, "emergency admission", "emergency admissions") + " in the last 12 months",
    ),
    Term(
        "nel_bed_days",
        lambda f: float(min(max(f.nel_bed_days, 0), 60)),
        lambda f: _plural(f.nel_bed_days, "bed day", "bed days") + " after emergency admissions in the last 12 months",
    ),
    Term(
        "efi",
        lambda f: min(max(f.efi, 0.0), 0.5),
        lambda f: f"eFI {f.efi:.2f} ({f.frailty} frailty)",
    ),
    Term(
        "hfrs",
        lambda f: min(max(f.hfrs, 0.0), 25.0),
        lambda f: f"Hospital Frailty Risk Score {_number(f.hfrs)} ({f.hfrs_band} risk)",
    ),
    Term(
        "age",
        lambda f: float(min(max(f.age - AGE_FROM, 0), 35)),
        lambda f: f"aged {f.age}",
    ),
    Term(
        "ltc_count",
        lambda f: float(min(max(f.ltc_count, 0), 6)),
        lambda f: _plural(f.ltc_count, "long-term condition", "long-term conditions"),
    ),
    Term(
        "ae_attendances",
        lambda f: float(min(max(f.ae_attendances, 0), 5)),
        lambda f: _plural(f.ae_attendances, "A&E attendance", "A&E attendances") + " in the last 12 months",
    ),
    Term(
        "repeat_medications",
        lambda f: float(min(max(f.repeat_medications, 0), 15)),
        lambda f: _plural(f.repeat_medications, "repeat medicine", "repeat medicines"),
    ),
    Term("home_care", lambda f: 1.0 if f.home_care else 0.0, lambda f: "receives home care"),
    Term(
        "home_care_hours",
        lambda f: min(max(f.home_care_hours, 0.0), 40.0),
        lambda f: f"{_number(f.home_care_hours)} hours of home care a week",
    ),
    Term("care_home", lambda f: 1.0 if f.care_home else 0.0, lambda f: "lives in a care home"),
    Term(
        "unpaid_carer",
        lambda f: 1.0 if f.unpaid_carer else 0.0,
        lambda f: "has an unpaid carer, a marker of dependency",
    ),
    Term("male", lambda f: 1.0 if f.sex == "male" else 0.0, lambda f: "male"),
)

COEFFICIENTS: Mapping[str, float] = {
    "nel_admissions": 0.45,  # per admission, up to 5 (at most +2.25)
    "nel_bed_days": 0.01,  # per bed day, up to 60 (at most +0.60)
    "efi": 3.0,  # per unit of eFI, up to 0.5 (moderate 0.25-0.36: +0.75 to +1.08; at most +1.50)
    "hfrs": 0.04,  # per point, up to 25 (high risk, over 15: more than +0.60; at most +1.00)
    "age": 0.03,  # per year over 65, up to 100 (at most +1.05)
    "ltc_count": 0.15,  # per condition, up to 6 (at most +0.90)
    "ae_attendances": 0.15,  # per attendance, up to 5 (at most +0.75)
    "repeat_medications": 0.03,  # per medicine, up to 15 (at most +0.45)
    "home_care": 0.25,  # any current home care package
    "home_care_hours": 0.01,  # per weekly hour, up to 40 (at most +0.40)
    "care_home": 0.40,  # a current residential or nursing placement
    "unpaid_carer": 0.20,  # someone gives unpaid care: a marker of dependency, not a cause
    "male": 0.10,  # men have slightly higher admission rates at the same age
}
INTERCEPT = -2.9


def logistic(x: float) -> float:
    """1 / (1 + e^-x), without overflow for large |x|."""
    if x >= 0:
        return 1.0 / (1.0 + math.exp(-x))
    z = math.exp(x)
    return z / (1.0 + z)


def linear_predict(
    features: Features, coefficients: Mapping[str, float], intercept: float
) -> tuple[float, tuple[Contribution, ...]]:
    """The probability and the non-zero contributions, largest first, for any coefficients over TERMS
    (columns missing from `coefficients` count as 0). Shared by the default and the fitted models. Each
    label ends with the term's log-odds, e.g. "2 emergency admissions in the last 12 months (+0.90)",
    because the RiskAssessment note shows labels as they are."""
    contributions = []
    for term in TERMS:
        points = coefficients.get(term.name, 0.0) * term.value(features)
        if points != 0.0:
            contributions.append(Contribution(term.name, f"{term.label(features)} ({points:+.2f})", points))
    contributions.sort(key=lambda c: c.points, reverse=True)
    logit = intercept + math.fsum(c.points for c in contributions)
    return logistic(logit), tuple(contributions)


class DefaultModel:
    """The hand-set prior (see the module docstring): the model used until a care board fits its own."""

    name = NAME
    version = VERSION
    intercept = INTERCEPT
    coefficients = COEFFICIENTS

    def predict(self, features: Features) -> Prediction:
        probability, contributions = linear_predict(features, self.coefficients, self.intercept)
        return Prediction(probability, contributions)


def factory(version: str, engine: Engine | None) -> DefaultModel:
    """The `closer.risk_models` entry point: there is one version, "1" ("" means the newest)."""
    if version not in ("", VERSION):
        raise ModelNotFound(f"risk model 'default' has no version '{version}' (versions: {VERSION})")
    return DefaultModel()
