"""What a risk model is to the rest of stratify: features in, a probability and its reasons out.

Models register in the `closer.risk_models` entry point group (built-ins too); `load_model` finds one
by name. A model must say why, term by term, so a GP can read the RiskAssessment's note.
"""

from __future__ import annotations

from dataclasses import dataclass
from importlib.metadata import entry_points
from typing import Protocol

from sqlalchemy.engine import Engine

from stratify.features import Features

OUTCOME = "emergency admission within 12 months"


@dataclass(frozen=True)
class Contribution:
    """One term of the model for one person: how far it moved the log-odds, and why, in words."""

    factor: str  # a feature name, e.g. "nel_admissions"
    label: str  # e.g. "2 emergency admissions in the last 12 months"
    points: float  # contribution to the log-odds (0 when the feature is absent)


@dataclass(frozen=True)
class Prediction:
    probability: float
    contributions: tuple[Contribution, ...]  # largest first; zero terms left out

    def top(self, n: int = 5) -> tuple[Contribution, ...]:
        return self.contributions[:n]


class RiskModel(Protocol):
    name: str
    version: str

    def predict(self, features: Features) -> Prediction: ...


class ModelNotFound(LookupError):
    """No model of that name (or version) is registered or saved."""


class ModelFactory(Protocol):
    def __call__(self, version: str, engine: Engine | None) -> RiskModel: ...


def load_model(name: str, version: str = "", engine: Engine | None = None) -> RiskModel:
    """The model registered as `name` in closer.risk_models, at `version` ("" for its newest).
    Each entry point is a factory `(version, engine) -> RiskModel`; fitted models live in the store."""
    found = {e.name: e for e in entry_points(group="closer.risk_models")}
    if name not in found:
        known = ", ".join(sorted(found)) or "none"
        raise ModelNotFound(f"no risk model named '{name}' (registered: {known})")
    factory: ModelFactory = found[name].load()
    return factory(version, engine)
