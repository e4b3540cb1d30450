"""Synthetic GP extract rows and sample paths for the GP feed tests (test-range NHS numbers, fictional
practice M99901; no real patients)."""

from __future__ import annotations

import csv
import json
import shutil
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import orjson
from sqlalchemy import select

from adapters.gp import allergies, events, medications, patients
from closer.store.schema import resources
from closer.store.sql import SqlRepository

JSON = dict[str, Any]
SAMPLES = Path(__file__).resolve().parents[2] / "samples" / "gp"
EXTRACT = SAMPLES / "extract"
RECORD = SAMPLES / "gp-connect" / "structured-record.json"
RECORD_EXPECTED = SAMPLES / "gp-connect" / "structured-record.expected.json"
PRACTICE = "M99901"
EDITH, GWILYM, ANNIE = "9991905324", "9997636406", "9996064468"  # the sample extract's patients
COLUMNS = {
    "patients.csv": patients.COLUMNS,
    "events.csv": events.COLUMNS,
    "medications.csv": medications.COLUMNS,
    "allergies.csv": allergies.COLUMNS,
}


def patient_row(**overrides: str) -> dict[str, str]:
    row = {
        "nhs_number": EDITH,
        "family_name": "Marsh",
        "given_name": "Edith",
        "date_of_birth": "1938-02-11",
        "sex": "F",
        "postcode": "SY2 9ZX",
        "practice_ods": PRACTICE,
        "registration_date": "1962-05-01",
        "date_of_death": "",
    }
    return {**row, **overrides}


def event_row(**overrides: str) -> dict[str, str]:
    row = {"nhs_number": EDITH, "date": "2012-05-14", "snomed_code": "73211009", "term": "Diabetes mellitus"}
    return {**row, "value": "", "unit": "", **overrides}


def medication_row(**overrides: str) -> dict[str, str]:
    row = {"nhs_number": EDITH, "code": "325278007", "name": "Metformin 500mg tablets", "start": "2012-05-20"}
    return {**row, "end": "", "repeat": "Y", **overrides}


def allergy_row(**overrides: str) -> dict[str, str]:
    row = {"nhs_number": EDITH, "snomed_code": "91936005", "term": "Allergy to penicillin", "reaction": "Urticaria"}
    return {**row, "severity": "moderate", "date": "2009-06-02", **overrides}


def write_rows(path: Path, rows: Sequence[dict[str, str]], columns: Sequence[str] | None = None) -> Path:
    """A CSV file of `rows` under the header of its file name (or `columns`)."""
    with path.open("w", encoding="utf-8", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(columns or COLUMNS[path.name]))
        writer.writeheader()
        writer.writerows(rows)
    return path


def write_extract(
    folder: Path,
    patient_rows: Sequence[dict[str, str]] = (),
    event_rows: Sequence[dict[str, str]] = (),
    medication_rows: Sequence[dict[str, str]] = (),
    allergy_rows: Sequence[dict[str, str]] = (),
) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    write_rows(folder / "patients.csv", patient_rows or [patient_row()])
    write_rows(folder / "events.csv", event_rows)
    write_rows(folder / "medications.csv", medication_rows)
    write_rows(folder / "allergies.csv", allergy_rows)
    return folder


def copy_sample(folder: Path) -> Path:
    """The sample extract, in a folder the test may change."""
    shutil.copytree(EXTRACT, folder, ignore=shutil.ignore_patterns("expected.json"))
    return folder


def read_rows(path: Path) -> list[dict[str, str]]:
    with path.open(encoding="utf-8", newline="") as handle:
        return list(csv.DictReader(handle))


def stored_resources(repo: SqlRepository) -> list[JSON]:
    """Every current resource in the store without meta, ordered by type and id."""
    query = select(resources.c.content).where(resources.c.deleted.is_(False))
    with repo.engine.connect() as conn:
        found = [without_meta(orjson.loads(row.content)) for row in conn.execute(query)]
    return sorted(found, key=lambda r: (r["resourceType"], r["id"]))


def without_meta(resource: JSON) -> JSON:
    return {key: item for key, item in resource.items() if key != "meta"}


def load_json(path: Path) -> Any:
    return json.loads(path.read_text(encoding="utf-8"))


def dump_json(path: Path, data: Any) -> None:
    path.write_text(json.dumps(data, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
