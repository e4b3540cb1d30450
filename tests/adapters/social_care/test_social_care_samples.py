"""Each sample extract, loaded into an empty store, gives exactly its reviewed expected output."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from social_care_samples import expected_path, outcome, sample_paths

from closer.store.sql import SqlRepository


def test_there_are_samples() -> None:
    assert sample_paths()
    assert all(expected_path(path).exists() for path in sample_paths())


@pytest.mark.parametrize("path", sample_paths(), ids=lambda path: path.name)
def test_sample_gives_the_expected_fhir(path: Path, store: SqlRepository) -> None:
    expected = json.loads(expected_path(path).read_text(encoding="utf-8"))
    found = outcome(store, path)
    assert found["report"] == expected["report"]
    assert found["review"] == expected["review"]
    assert [(r["resourceType"], r["id"]) for r in found["resources"]] == [
        (r["resourceType"], r["id"]) for r in expected["resources"]
    ]
    assert found["resources"] == expected["resources"]
