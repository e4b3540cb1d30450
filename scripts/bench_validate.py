"""Structure validation: fhir.resources model_validate against closer's shape cache (closer.fhir.shapes).

    .venv/bin/python scripts/bench_validate.py --resources 20000

Generates N resources, half RiskAssessment like the stratification run writes (extensions, identifier,
method, prediction with probabilityDecimal, note, 0-4 basis references) and half Encounter like the HL7 v2
feed writes (identifier, class, type, period with or without an end, participant, hospitalization, 1-3
locations), every value varying (ids, dates, times, probabilities, codes, text). Times, side by side in
one run over the same resources:

  - model_validate: fhir.resources alone (`cls.model_validate(resource)`);
  - validate_structure, no cache: what every write paid before (the empty-element check, then model_validate);
  - validate_structure, cached: the same call with the shape cache, from empty (so its misses count).

Each resource is validated once per mode; the order of modes is rotated over --rounds and the best
round is kept, as other work on the machine makes single runs noisy.
"""

from __future__ import annotations

import argparse
import os
import random
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from closer.fhir import model  # noqa: E402
from closer.fhir.shapes import ShapeCache  # noqa: E402

SNOMED = "http://snomed.info/sct"
TIERS = {"very-high": "Very high", "high": "High", "moderate": "Moderate", "low": "Low"}
FACTORS = ["COPD", "heart failure", "two or more admissions", "age over 80", "polypharmacy", "frailty"]


class NoCache:
    """Stands in for the shape cache: every resource gets the full validation, as before the cache."""

    hits = misses = 0

    def validate(
        self,
        cls: Any,
        resource: dict[str, Any],
        full: Callable[[Any, dict[str, Any]], Any],
        precheck: Callable[[dict[str, Any]], Any],
    ) -> None:
        precheck(resource)
        full(cls, resource)


def risk_assessment(n: int, rng: random.Random) -> dict[str, Any]:
    patient = f"p{rng.randrange(1, 10**7)}"
    day = f"2025-{rng.randrange(1, 13):02d}-{rng.randrange(1, 29):02d}"
    tier = rng.choice(list(TIERS))
    probability = round(rng.random(), 4)
    extensions: list[dict[str, Any]] = [
        {"url": "https://closer.example/fhir/StructureDefinition/run", "valueString": "2025-Q3"},
        {
            "url": "https://closer.example/fhir/StructureDefinition/practice",
            "valueIdentifier": {
                "system": "https://fhir.nhs.uk/Id/ods-organization-code",
                "value": f"M{82000 + n % 40}",
            },
        },
        {"url": "https://closer.example/fhir/StructureDefinition/locality", "valueString": f"Locality {n % 7}"},
    ]
    if rng.random() < 0.5:
        extensions.append(
            {"url": "https://closer.example/fhir/StructureDefinition/next-review", "valueDate": f"2026-{day[5:]}"}
        )
    resource: dict[str, Any] = {
        "resourceType": "RiskAssessment",
        "id": f"ra-2025Q3-{patient}",
        "meta": {"profile": ["https://closer.example/fhir/StructureDefinition/closer-risk-assessment"]},
        "extension": extensions,
        "identifier": [{"system": "https://closer.example/fhir/Id/risk-run", "value": f"2025-Q3/{patient}"}],
        "status": "preliminary",
        "method": {
            "coding": [{"system": "https://closer.example/fhir/CodeSystem/risk-model", "code": "ea12", "version": "3"}],
            "text": "ea12 model, version 3",
        },
        "code": {"coding": [{"system": SNOMED, "code": "225338004", "display": "Risk assessment"}], "text": "Risk"},
        "subject": {"reference": f"Patient/{patient}"},
        "occurrenceDateTime": day,
        "prediction": [
            {
                "outcome": {"coding": [{"system": SNOMED, "code": "183452005"}], "text": "Emergency admission"},
                "probabilityDecimal": probability,
                "qualitativeRisk": {
                    "coding": [
                        {
                            "system": "https://closer.example/fhir/CodeSystem/risk-tier",
                            "code": tier,
                            "display": TIERS[tier],
                        }
                    ]
                },
                "whenPeriod": {"start": day, "end": f"2026-{day[5:]}"},
            }
        ],
        "note": [
            {"text": f"Tier: {TIERS[tier]}. Risk {probability:.1%}. Top factors: {', '.join(rng.sample(FACTORS, 3))}."}
        ],
    }
    basis = [f"{rng.choice(['Condition', 'Encounter'])}/{rng.randrange(10**6)}" for _ in range(rng.randrange(5))]
    if basis:
        resource["basis"] = [{"reference": ref} for ref in basis]
    return resource


def encounter(n: int, rng: random.Random) -> dict[str, Any]:
    start = (
        f"2025-{rng.randrange(1, 13):02d}-{rng.randrange(1, 29):02d}T{rng.randrange(24):02d}:{rng.randrange(60):02d}:00"
    )
    offset = rng.choice(["+00:00", "+01:00", "Z"])
    period: dict[str, Any] = {"start": start + offset}
    status = "in-progress"
    if rng.random() < 0.6:
        period["end"] = start[:11] + f"{rng.randrange(24):02d}:{rng.randrange(60):02d}:00{offset}"
        status = "finished"
    resource: dict[str, Any] = {
        "resourceType": "Encounter",
        "id": f"enc-{n}",
        "identifier": [{"system": "https://fhir.example/Id/visit-number", "value": f"V{rng.randrange(10**9):09d}"}],
        "status": status,
        "class": {
            "system": "http://terminology.hl7.org/CodeSystem/v3-ActCode",
            "code": rng.choice(["IMP", "EMER", "AMB"]),
        },
        "type": [{"coding": [{"system": SNOMED, "code": rng.choice(["183452005", "270427003", "11429006"])}]}],
        "subject": {"reference": f"Patient/p{rng.randrange(10**7)}"},
        "participant": [
            {
                "type": [
                    {
                        "coding": [
                            {"system": "http://terminology.hl7.org/CodeSystem/v3-ParticipationType", "code": "ATND"}
                        ]
                    }
                ],
                "individual": {"display": f"Dr {rng.choice(['Jones', 'Smith', 'Patel', 'Evans'])}"},
            }
        ],
        "period": period,
        "hospitalization": {
            "admitSource": {
                "coding": [
                    {"system": "https://fhir.example/CodeSystem/admit-source", "code": str(rng.randrange(10, 30))}
                ]
            }
        },
        "location": [
            {"location": {"display": f"Ward {rng.randrange(20)}"}, "status": "active"}
            for _ in range(rng.randrange(1, 4))
        ],
        "serviceProvider": {"identifier": {"system": "https://fhir.nhs.uk/Id/ods-organization-code", "value": "RXX"}},
    }
    return resource


def timed(resources: list[dict[str, Any]], run: Callable[[dict[str, Any]], Any]) -> float:
    """Microseconds per resource."""
    began = time.perf_counter()
    for resource in resources:
        run(resource)
    return (time.perf_counter() - began) / len(resources) * 1e6


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--resources", type=int, default=20_000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()

    rng = random.Random(args.seed)
    resources = [risk_assessment(n, rng) if n % 2 == 0 else encounter(n, rng) for n in range(args.resources)]
    kinds = ("RiskAssessment", "Encounter")
    classes = {kind: model.model_class(kind) for kind in kinds}
    subsets = {kind: [r for r in resources if r["resourceType"] == kind] for kind in kinds}
    saved = model.SHAPES
    stats: dict[str, int] = {}

    def model_validate(resource: dict[str, Any]) -> None:
        classes[resource["resourceType"]].model_validate(resource)

    def validate_structure(resource: dict[str, Any]) -> None:
        model.validate_structure(resource)

    modes: dict[str, tuple[Callable[[dict[str, Any]], Any], Callable[[], Any]]] = {
        "model_validate (fhir.resources)": (model_validate, lambda: None),
        "validate_structure, no cache": (validate_structure, lambda: setattr(model, "SHAPES", NoCache())),
        "validate_structure, cached": (validate_structure, lambda: setattr(model, "SHAPES", ShapeCache())),
    }
    best: dict[str, dict[str, float]] = {}
    names = list(modes)
    for round_ in range(args.rounds):
        for name in names[round_ % len(names) :] + names[: round_ % len(names)]:
            run, setup = modes[name]
            setup()
            for kind in kinds:  # on the cached run, Encounters follow RiskAssessments in the same cache
                micros = timed(subsets[kind], run)
                best.setdefault(name, {})
                best[name][kind] = min(best[name].get(kind, float("inf")), micros)
            if name == "validate_structure, cached":
                stats = {"hits": model.SHAPES.hits, "misses": model.SHAPES.misses, "shapes": len(model.SHAPES)}
            model.SHAPES = saved

    print(
        f"{args.resources:,} generated resources (half RiskAssessment, half Encounter), best of {args.rounds} rounds, "
        f"machine: {os.cpu_count()} cores"
    )
    base = best["model_validate (fhir.resources)"]
    for name, per_kind in best.items():
        cells = "   ".join(
            f"{kind} {micros:7.1f} µs ({base[kind] / micros:4.1f}x)" for kind, micros in per_kind.items()
        )
        print(f"  {name:34} {cells}")
    before, after = best["validate_structure, no cache"], best["validate_structure, cached"]
    print(
        "  validate_structure speed-up from the cache: "
        + ", ".join(f"{kind} {before[kind] / after[kind]:.1f}x" for kind in before)
    )
    print(
        f"  shape cache: {stats.get('hits', 0):,} hits, {stats.get('misses', 0):,} misses, "
        f"{stats.get('shapes', 0):,} shapes remembered"
    )
    per_73k = best["validate_structure, no cache"]["RiskAssessment"] * 73_000 / 1e6
    per_73k_cached = best["validate_structure, cached"]["RiskAssessment"] * 73_000 / 1e6
    print(f"  73,000 RiskAssessments: {per_73k:.1f} s without the cache, {per_73k_cached:.1f} s with it")


if __name__ == "__main__":
    main()
