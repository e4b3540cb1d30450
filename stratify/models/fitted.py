"""Logistic models a care board fitted to its own history (`closer stratify fit`), kept in the store.

Each fit is saved as a new version, numbered "1", "2", ... in the order saved (the newest is the highest
number); a version is never changed once saved, so a stratification run that names one can always be
reproduced. The row keeps the design columns the coefficients belong to, the test-period figures and the
days the training and test features were taken on. Predictions use the same terms and words as the
default model (`stratify.models.default.TERMS`), with the fitted coefficients; a fitted coefficient may
be negative (the data decide), and such a term then lowers the probability and is listed last.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Column, Engine, Float, String, Table, Text, insert, select

from closer.store.engine import WRITE_OPTION
from closer.store.schema import metadata
from stratify.features import Features
from stratify.fitting import DESIGN_COLUMNS, FitResult
from stratify.models.base import ModelNotFound, Prediction
from stratify.models.default import linear_predict

NAME = "fitted"

risk_models = Table(
    "risk_models",
    metadata,
    Column("name", String(64), primary_key=True),
    Column("version", String(64), primary_key=True),
    Column("created", Text, nullable=False),  # ISO 8601 instant, UTC
    Column("features", Text, nullable=False),  # JSON list: the design columns
    Column("coefficients", Text, nullable=False),  # JSON object: column -> log-odds per unit
    Column("intercept", Float, nullable=False),
    Column("metrics", Text, nullable=False),  # JSON: test figures, calibration, sizes, prevalence
    Column("trained_as_of", Text, nullable=False),
    Column("tested_as_of", Text, nullable=False),
)


def create_table(engine: Engine) -> None:
    risk_models.create(engine, checkfirst=True)


@dataclass(frozen=True)
class SavedModel:
    """A saved fit, as `closer stratify models` lists it."""

    name: str
    version: str
    created: str
    intercept: float
    coefficients: dict[str, float]
    metrics: dict[str, Any]
    trained_as_of: str
    tested_as_of: str


class FittedModel:
    name = NAME

    def __init__(self, version: str, coefficients: dict[str, float], intercept: float) -> None:
        unknown = sorted(set(coefficients) - set(DESIGN_COLUMNS))
        if unknown:
            raise ModelNotFound(
                f"risk model 'fitted' version '{version}' uses columns this release does not know: "
                f"{', '.join(unknown)}; fit it again"
            )
        self.version = version
        self.coefficients = coefficients
        self.intercept = intercept

    def predict(self, features: Features) -> Prediction:
        probability, contributions = linear_predict(features, self.coefficients, self.intercept)
        return Prediction(probability, contributions)


def save_fitted(engine: Engine, result: FitResult, trained_as_of: str, tested_as_of: str) -> str:
    """Save a fit as the next version and return that version."""
    create_table(engine)
    metrics: dict[str, Any] = {
        **result.metrics,
        "train_size": result.train_size,
        "test_size": result.test_size,
        "train_prevalence": result.train_prevalence,
        "test_prevalence": result.test_prevalence,
        "calibration": [asdict(row) for row in result.calibration],
    }
    with engine.connect() as conn:
        conn.execution_options(**{WRITE_OPTION: True})  # SQLite: take the write lock before reading
        with conn.begin():
            taken = conn.execute(select(risk_models.c.version).where(risk_models.c.name == NAME)).scalars()
            version = str(max((int(v) for v in taken if v.isdigit()), default=0) + 1)
            conn.execute(
                insert(risk_models).values(
                    name=NAME,
                    version=version,
                    created=datetime.now(UTC).isoformat(timespec="seconds"),
                    features=json.dumps(list(result.columns)),
                    coefficients=json.dumps(result.coefficients),
                    intercept=result.intercept,
                    metrics=json.dumps(metrics),
                    trained_as_of=trained_as_of,
                    tested_as_of=tested_as_of,
                )
            )
    return version


def list_fitted(engine: Engine) -> list[SavedModel]:
    """Every saved fit, oldest first."""
    create_table(engine)
    with engine.connect() as conn:
        rows = conn.execute(select(risk_models).where(risk_models.c.name == NAME)).mappings().all()
    saved = [
        SavedModel(
            name=row["name"],
            version=row["version"],
            created=row["created"],
            intercept=float(row["intercept"]),
            coefficients=json.loads(row["coefficients"]),
            metrics=json.loads(row["metrics"]),
            trained_as_of=row["trained_as_of"],
            tested_as_of=row["tested_as_of"],
        )
        for row in rows
    ]
    return sorted(saved, key=_order)


def factory(version: str, engine: Engine | None) -> FittedModel:
    """The `closer.risk_models` entry point: the saved `version`, or the newest when it is ""."""
    if engine is None:
        raise ModelNotFound("risk model 'fitted' lives in the store, and no database was given")
    saved = list_fitted(engine)
    if not saved:
        raise ModelNotFound("no fitted risk model is saved: run `closer stratify fit` first")
    if version:
        chosen = next((s for s in saved if s.version == version), None)
        if chosen is None:
            known = ", ".join(s.version for s in saved)
            raise ModelNotFound(f"risk model 'fitted' has no version '{version}' (saved: {known})")
    else:
        chosen = saved[-1]
    return FittedModel(chosen.version, chosen.coefficients, chosen.intercept)


def _order(saved: SavedModel) -> tuple[int, str]:
    return (int(saved.version) if saved.version.isdigit() else 0, saved.created)
