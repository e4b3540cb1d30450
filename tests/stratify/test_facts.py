"""Facts read from a real store, end to end on SQLite and PostgreSQL: a small synthetic county is written in
every feed format, loaded with every adapter, read back by `stratify.facts.load_facts`, and checked person by
person against the generator's own people."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path

import pytest

from closer.store.sql import SqlRepository
from stratify.codelists import POLYPHARMACY, POLYPHARMACY_MEDICINES, CodeLists, load_codelists
from stratify.facts import load_facts
from stratify.features import PersonFacts, compute
from synth import codes
from synth.feeds import HL7_QUARTER_DAYS, write_all
from synth.load import load_county
from synth.population import County, Person, Spell, generate

PEOPLE, SEED = 80, 2  # seed 3 at this size has no one in a care home; seed 2 has every kind of fact
YEAR, TWO_YEARS = timedelta(days=365), timedelta(days=730)


@pytest.fixture(scope="module")
def county() -> County:
    return generate(people=PEOPLE, seed=SEED)


@pytest.fixture(scope="module")
def lists() -> CodeLists:
    return load_codelists()


@dataclass
class Loaded:
    county: County
    store: SqlRepository
    facts: dict[str, PersonFacts]

    @property
    def practices(self) -> list[str]:
        return [p.ods for p in self.county.practices]


@pytest.fixture
def loaded(county: County, store: SqlRepository, tmp_path: Path) -> Iterator[Loaded]:
    write_all(county, tmp_path / "county")
    runs = load_county(store, tmp_path / "county")
    assert all(run.report.failed == 0 for run in runs), [(run.feed, run.report.failed) for run in runs]
    facts = load_facts(store.engine, practices=[p.ods for p in county.practices])
    yield Loaded(county, store, facts)


def is_emergency(spell: Spell) -> bool:
    return spell.method in codes.EMERGENCY_METHODS


def in_last_year(day: date, as_of: date) -> bool:
    return as_of - YEAR < day <= as_of


def expected_end(spell: Spell, as_of: date) -> date | None:
    """The APC extract gives every spell its discharge date, but an emergency spell of the last quarter also
    comes by HL7 ADT (loaded after APC), and the visit is the fold of its ADT events: a spell still open on
    the as-of day has only its A01, so the Encounter is in progress, with no end."""
    via_adt = is_emergency(spell) and spell.admitted >= as_of - timedelta(days=HL7_QUARTER_DAYS)
    return None if via_adt and spell.discharged >= as_of else spell.discharged


def sortable(facts: PersonFacts) -> tuple[object, ...]:
    """A person's facts with each list in a fixed order (scans may return rows in any order)."""
    return (
        facts.patient_id,
        facts.birth_date,
        facts.sex,
        facts.practice,
        facts.died,
        sorted(facts.coded, key=repr),
        sorted(facts.stays, key=repr),
        sorted(facts.courses, key=repr),
        sorted(facts.packages, key=repr),
        sorted(facts.carers, key=repr),
    )


# -- the synthetic codes stratification relies on (no store needed) -------------------------------------------
def test_every_synthetic_condition_is_a_distinct_ltc_by_both_its_codes(lists: CodeLists) -> None:
    ltcs = [lists.ltc_snomed.get(condition.snomed) for condition in codes.CONDITIONS]
    assert None not in ltcs
    assert len(set(ltcs)) == len(codes.CONDITIONS)  # so a person's LTC count is their number of conditions
    for condition, ltc in zip(codes.CONDITIONS, ltcs, strict=True):
        assert lists.ltc_of_icd10(condition.icd10) == ltc, condition.name


def test_no_other_synthetic_code_is_an_ltc_and_every_deficit_is_in_the_efi(lists: CodeLists) -> None:
    for code in [*codes.ACUTE_DIAGNOSES, *(d.icd10 for d in codes.DEFICITS if d.icd10)]:
        assert lists.ltc_of_icd10(code) is None, code
    for deficit in codes.DEFICITS:
        assert deficit.snomed not in lists.ltc_snomed, deficit.name
        assert deficit.snomed in lists.efi_snomed, deficit.name


# -- end to end ----------------------------------------------------------------------------------------------
def test_the_county_gives_enough_to_check(county: County) -> None:
    """The checks below only mean something if the county has each kind of fact; this seed does."""
    as_of = county.as_of
    people = county.people
    assert sum(1 for p in people if p.died) >= 2
    assert sum(1 for p in people for s in p.spells if is_emergency(s) and in_last_year(s.admitted, as_of)) >= 5
    assert sum(1 for p in people for s in p.spells if not is_emergency(s)) >= 1
    assert sum(1 for p in people for a in p.attendances if in_last_year(a.arrived, as_of)) >= 5
    assert any(p.home_care_hours for p in people)
    assert any(p.residential for p in people)
    assert any(p.carer for p in people)
    assert any(len(p.repeats) >= POLYPHARMACY_MEDICINES for p in people)
    assert any(p.deficits for p in people)
    assert any(len(p.conditions) >= 3 for p in people)


def test_facts_match_the_synthetic_people(loaded: Loaded, lists: CodeLists) -> None:
    county, facts = loaded.county, loaded.facts
    as_of = county.as_of
    assert set(facts) == {p.nhs_number for p in county.people}  # Patient id = NHS number; no one is missed
    for person in county.people:
        check_person(person, facts[person.nhs_number], as_of, lists)


def check_person(person: Person, facts: PersonFacts, as_of: date, lists: CodeLists) -> None:
    who = f"{person.nhs_number} ({person.given} {person.family})"
    assert (facts.birth_date, facts.sex, facts.practice, facts.died) == (
        person.birth_date,
        person.sex,
        person.practice.ods,
        person.died,
    ), who

    # Stays: every spell (emergency or elective) and every A&E attendance, on the day it began.
    spells = sorted(
        (("emergency" if is_emergency(s) else "elective"), s.admitted, expected_end(s, as_of)) for s in person.spells
    )
    assert sorted((s.kind, s.start, s.end) for s in facts.stays if s.kind != "ae") == spells, who
    arrivals = sorted(a.arrived for a in person.attendances)
    assert sorted(s.start for s in facts.stays if s.kind == "ae") == arrivals, who

    evidence = compute(facts, as_of, lists)
    got = evidence.features
    assert got.age == person.age_on(as_of), who
    assert got.sex == person.sex, who

    # LTCs: the synthetic conditions, each a distinct LTC (GP SNOMED CT and hospital ICD-10 agree).
    assert got.ltc_count == len(person.conditions), who
    assert set(got.ltcs) == {lists.ltc_snomed[c.snomed] for c in person.conditions}, who

    # eFI: the deficits the conditions and the synthetic deficits code for, plus polypharmacy from the repeats.
    deficits = {lists.efi_snomed[d.snomed] for d in person.deficits}
    assert deficits <= set(got.deficits), who
    deficits |= {lists.efi_snomed[c.snomed] for c in person.conditions if c.snomed in lists.efi_snomed}
    if len(person.repeats) >= POLYPHARMACY_MEDICINES:
        deficits.add(POLYPHARMACY)
    assert set(got.deficits) == deficits, who
    assert got.efi == round(len(deficits) / 36, 4), who

    # HFRS: the distinct groups among the diagnoses of the spells admitted in the two years to the as-of day.
    groups = {
        group
        for spell in person.spells
        if as_of - TWO_YEARS < spell.admitted <= as_of
        for code in spell.diagnoses
        if (group := lists.hfrs_group(code))
    }
    assert set(got.hfrs_groups) == groups, who
    assert got.hfrs == round(sum(lists.hfrs[g] for g in groups), 1), who

    # Emergency admissions (methods 21-2D), their bed days and A&E attendances in the last 12 months.
    emergency = [s for s in person.spells if is_emergency(s) and in_last_year(s.admitted, as_of)]
    assert got.nel_admissions == len(emergency), who
    assert got.nel_bed_days == sum((min(s.discharged, as_of) - s.admitted).days for s in emergency), who
    assert got.ae_attendances == sum(1 for a in person.attendances if in_last_year(a.arrived, as_of)), who

    # Medication, social care and carers.
    assert got.repeat_medications == len(person.repeats), who
    assert {c.code for c in facts.courses if c.repeat} == {m.snomed for m in person.repeats}, who
    assert got.home_care_hours == person.home_care_hours, who
    assert got.home_care is bool(person.home_care_hours), who
    assert got.care_home is bool(person.residential), who
    assert got.unpaid_carer is person.carer, who

    # The basis names an Encounter for each emergency admission and A&E attendance counted.
    encounters = [ref for ref in evidence.basis if ref.startswith("Encounter/")]
    assert len(encounters) == got.nel_admissions + got.ae_attendances, who
    assert all(ref.startswith(("Condition/", "Encounter/")) for ref in evidence.basis), who


def test_facts_of_chosen_patients_are_the_same_facts(loaded: Loaded) -> None:
    county, everyone = loaded.county, loaded.facts

    def richness(person: Person) -> tuple[int, ...]:
        return (
            bool(person.spells) + bool(person.attendances) + bool(person.home_care_hours or person.residential),
            int(person.carer),
            len(person.conditions) + len(person.deficits) + len(person.repeats),
        )

    chosen = max(county.people, key=richness)
    assert chosen.spells and chosen.conditions and chosen.repeats
    one = load_facts(loaded.store.engine, loaded.practices, patient_ids={chosen.nhs_number})
    assert list(one) == [chosen.nhs_number]
    assert sortable(one[chosen.nhs_number]) == sortable(everyone[chosen.nhs_number])

    home_care = next(p for p in county.people if p.home_care_hours)
    care_home = next(p for p in county.people if p.residential)
    carer = next(p for p in county.people if p.carer)
    wanted = {chosen.nhs_number, home_care.nhs_number, care_home.nhs_number, carer.nhs_number}
    some = load_facts(loaded.store.engine, loaded.practices, patient_ids={*wanted, "9999999999"})  # no such id
    assert set(some) == wanted
    for patient_id, facts in some.items():
        assert sortable(facts) == sortable(everyone[patient_id])
    assert [p.hours for p in some[home_care.nhs_number].packages] == [home_care.home_care_hours]
    assert [p.kind for p in some[care_home.nhs_number].packages] == [care_home.residential]
    assert len(some[carer.nhs_number].carers) == 1

    assert load_facts(loaded.store.engine, loaded.practices, patient_ids=set()) == {}


def test_facts_are_read_only_for_the_practices_in_scope(loaded: Loaded) -> None:
    county = loaded.county
    first = county.practices[0].ods
    scoped = load_facts(loaded.store.engine, practices=[first])
    assert set(scoped) == {p.nhs_number for p in county.people if p.practice.ods == first}
    for patient_id, facts in scoped.items():
        assert sortable(facts) == sortable(loaded.facts[patient_id])
    assert load_facts(loaded.store.engine, practices=["A81001"]) == {}
