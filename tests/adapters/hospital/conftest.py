"""Fixtures for the hospital extract tests: a store on each backend and small synthetic CSV files."""

from __future__ import annotations

import csv
from collections.abc import Callable, Sequence
from pathlib import Path

import pytest

CsvWriter = Callable[..., Path]


@pytest.fixture
def write_csv(tmp_path: Path) -> CsvWriter:
    """Write rows (dicts) under a header; BOM included, as Excel writes it."""

    def write(name: str, columns: Sequence[str], rows: Sequence[dict[str, str]]) -> Path:
        path = tmp_path / name
        with path.open("w", encoding="utf-8-sig", newline="") as handle:
            writer = csv.DictWriter(handle, fieldnames=list(columns))
            writer.writeheader()
            writer.writerows(rows)
        return path

    return write
