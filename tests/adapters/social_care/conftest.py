"""Fixtures for the social care feed tests: a store on each backend and extract files built from dataclasses."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import pytest
from social_care_data import HEADER, ExtractWriter

from adapters.social_care.model import ExtractHeader, Person
from adapters.social_care.xmlwriter import write_extract


@pytest.fixture
def write_people(tmp_path: Path) -> ExtractWriter:
    """Write people as an extract file with xmlwriter (the header defaults to HEADER)."""

    def write(people: Sequence[Person], name: str = "extract.xml", header: ExtractHeader = HEADER) -> Path:
        path = tmp_path / name
        write_extract(path, header, people)
        return path

    return write
