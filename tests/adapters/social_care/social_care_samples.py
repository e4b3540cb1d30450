"""The sample extracts under tests/samples/social_care and what loading one into an empty store gives:
every resource (without meta), the ingest report and the review list."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from social_care_data import stored

from adapters.social_care import review
from adapters.social_care.loader import load_extract
from closer.store.sql import SqlRepository

SAMPLES = Path(__file__).resolve().parents[2] / "samples" / "social_care"


def sample_paths() -> list[Path]:
    return sorted(SAMPLES.glob("*.xml"))


def expected_path(path: Path) -> Path:
    return path.with_suffix(".expected.json")


def outcome(repo: SqlRepository, path: Path) -> dict[str, Any]:
    report = load_extract(repo, path)
    with repo.engine.connect() as conn:
        held = review.listing(conn, include_closed=True)
    return {
        "report": report.as_dict(),
        "review": [
            {
                "la_person_id": item.la_person_id,
                "status": item.status,
                "reason": item.reason,
                "candidates": item.candidates,
            }
            for item in held
        ],
        "resources": stored(repo),
    }


def write_expected(path: Path, found: dict[str, Any]) -> None:
    expected_path(path).write_text(json.dumps(found, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
