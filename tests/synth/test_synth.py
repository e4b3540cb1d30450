"""The synthetic county: reproducible, valid identifiers, the programme report's shape, and files every
adapter reads without complaint."""

from __future__ import annotations

import csv
import filecmp
from collections import Counter
from datetime import timedelta
from pathlib import Path
from statistics import mean

import pytest
from click.testing import CliRunner
from lxml import etree

from adapters.hl7v2.framing import split_messages
from adapters.hl7v2.mapping import map_message
from adapters.hl7v2.parser import parse
from adapters.hospital import apc, ecds
from adapters.snomed import is_sctid
from adapters.social_care.codes import SERVICE_SYSTEM
from adapters.social_care.xmlreader import extract_schema
from adapters.writing import open_repository
from closer.cli import main
from closer.settings import Settings
from closer.store.query import parse_search
from fhir_profiles.nhs_number import is_valid_nhs_number
from synth import codes
from synth.feeds import write_all
from synth.population import County, Person, generate
from synth.report import comparison

PEOPLE = 6_000


@pytest.fixture(scope="module")
def county() -> County:
    return generate(PEOPLE, seed=11)


@pytest.fixture(scope="module")
def written(county: County, tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("county")
    write_all(county, out)
    return out


def test_the_same_seed_gives_the_same_files(tmp_path: Path) -> None:
    for run in ("a", "b"):
        write_all(generate(300, seed=5), tmp_path / run)
    compared = filecmp.dircmp(tmp_path / "a", tmp_path / "b")
    files = [f for sub in ("hospital", "hl7", "social_care") for f in (tmp_path / "a" / sub).iterdir()]
    assert files
    for path in files:
        assert filecmp.cmp(path, tmp_path / "b" / path.parent.name / path.name, shallow=False), path
    assert not compared.left_only and not compared.right_only


def test_a_different_seed_gives_different_people() -> None:
    assert [p.nhs_number for p in generate(50, seed=1).people] != [p.nhs_number for p in generate(50, seed=2).people]


def test_every_nhs_number_is_valid_unique_and_in_the_test_range(county: County) -> None:
    numbers = [p.nhs_number for p in county.people]
    assert len(set(numbers)) == len(numbers)
    assert all(is_valid_nhs_number(n) and n.startswith("999") for n in numbers)


def test_every_snomed_code_has_a_valid_check_digit() -> None:
    concepts = [c.snomed for c in codes.CONDITIONS] + [d.snomed for d in codes.DEFICITS]
    concepts += [m.snomed for m in codes.MEDICINES] + [c for c, _ in codes.COMPLAINTS] + [codes.PENICILLIN_ALLERGY[0]]
    assert [c for c in concepts if not is_sctid(c)] == []


def test_localities_and_long_term_conditions_match_the_report_exactly(county: County) -> None:
    rows = {name.strip(): (generated, target) for name, generated, target in comparison(county)}
    assert rows["people aged 65+"][0] == PEOPLE
    for name in ("North", "Central", "South"):
        generated, target = rows[name]
        assert abs(generated - target) <= 1
    generated, target = rows["with 1+ long-term condition"]
    assert abs(generated - target) <= 3


def test_emergency_admissions_are_near_the_reported_rate(county: County) -> None:
    generated, target = dict((n.strip(), (g, t)) for n, g, t in comparison(county))[
        "non-elective admissions, last 12 months"
    ]
    assert target * 0.85 <= generated <= target * 1.15


def test_older_and_frailer_people_are_admitted_more(county: County) -> None:
    since = county.as_of - timedelta(days=365)

    def rate(group: list[Person]) -> float:
        spells = sum(1 for p in group for s in p.spells if s.admitted >= since and s.method in codes.EMERGENCY_METHODS)
        return spells / len(group)

    young = [p for p in county.people if p.age_on(county.as_of) < 75]
    old = [p for p in county.people if p.age_on(county.as_of) >= 85]
    assert rate(old) > 1.5 * rate(young)
    frail = [p for p in county.people if len(p.deficits) >= 4]
    fit = [p for p in county.people if not p.deficits]
    assert rate(frail) > 2 * rate(fit)
    assert mean(len(p.deficits) for p in old) > mean(len(p.deficits) for p in young)
    care = Counter(p.age_on(county.as_of) >= 85 for p in county.people if p.residential or p.home_care_hours)
    assert care[True] / len(old) > care[False] / (len(county.people) - len(old))


def test_hospital_rows_map_without_a_single_row_error(written: Path) -> None:
    for feed, name in ((apc.FEED, "apc.csv"), (ecds.FEED, "ecds.csv")):
        with (written / "hospital" / name).open(encoding="utf-8") as handle:
            rows = list(csv.DictReader(handle))
        assert rows
        for row in rows:
            feed.map_row(row)  # raises RowError on anything the adapter would refuse


def test_hl7_messages_map_without_errors(written: Path) -> None:
    messages = split_messages((written / "hl7" / "adt.hl7").read_text(encoding="utf-8"))
    assert messages
    for text in messages:
        mapped = map_message(parse(text))
        assert mapped.visit is not None and mapped.patient is not None


def test_the_social_care_extract_is_valid_against_the_xsd(written: Path) -> None:
    schema = extract_schema()
    document = etree.parse(str(written / "social_care" / "extract.xml"))
    assert schema.validate(document), schema.error_log


def test_closer_synth_writes_the_files_and_compares_with_the_report(tmp_path: Path) -> None:
    result = CliRunner().invoke(main, ["synth", "--people", "200", "--seed", "3", "--out", str(tmp_path)])
    assert result.exit_code == 0, result.output
    assert "non-elective admissions, last 12 months" in result.output
    assert (tmp_path / "hospital" / "apc.csv").exists()
    assert (tmp_path / "social_care" / "extract.xml").exists()


def test_closer_synth_refuses_a_bad_date(tmp_path: Path) -> None:
    result = CliRunner().invoke(main, ["synth", "--people", "10", "--out", str(tmp_path), "--as-of", "2026-13-01"])
    assert result.exit_code == 2
    assert "is not a date" in result.output


def test_a_county_loads_with_every_feed_and_nothing_fails(tmp_path: Path, database_url: str) -> None:
    """The whole chain: synth writes, every adapter loads, and the store answers the stratification
    questions about the same people."""
    county = generate(300, seed=8)
    write_all(county, tmp_path / "county")
    result = CliRunner().invoke(main, ["ingest", "county", str(tmp_path / "county"), "--database-url", database_url])
    assert result.exit_code == 0, result.output
    summary = next(line for line in result.output.splitlines() if line.startswith("county "))
    assert summary.endswith(" 0 duplicates, 0 failed"), summary
    repo = open_repository(Settings(database_url=database_url))
    try:
        patients = repo.search(parse_search("Patient", [("_summary", "count")]))
        assert patients.total == 300
        emergency = repo.search(
            parse_search("Encounter", [("type", "http://snomed.info/sct|183452005"), ("_summary", "count")])
        )
        spells = sum(1 for p in county.people for s in p.spells if s.method in codes.EMERGENCY_METHODS)
        assert emergency.total == spells
        cared_for = [p for p in county.people if p.residential]
        if cared_for:
            person = cared_for[0]
            found = repo.search(
                parse_search(
                    "EpisodeOfCare",
                    [("patient", f"Patient/{person.nhs_number}"), ("type", f"{SERVICE_SYSTEM}|{person.residential}")],
                )
            )
            assert found.matches
    finally:
        repo.engine.dispose()
