"""Every feature of FEATURES.md computed from hand-built facts, with eFI and HFRS worked out by hand.

The run date is 1 October 2026 throughout; "n days before" means the run date minus n days. The code lists
are the packaged ones, so the codes here are real SNOMED CT concepts and ICD-10 codes from the CSV files.
"""

from __future__ import annotations

from datetime import date, timedelta

import pytest

from stratify.codelists import EFI_DEFICITS, POLYPHARMACY, CodeLists, load_codelists
from stratify.features import (
    CarePackage,
    Coded,
    Course,
    Evidence,
    Features,
    PersonFacts,
    Stay,
    age_on,
    compute,
    efi_score,
    frailty_category,
    hfrs_band,
    hfrs_score,
    in_cohort,
    ltc_band,
)
from stratify.history import admitted_within_year, sample

DAY = date(2026, 10, 1)
PRACTICE = "Z91001"

# Real codes from the code lists (checked against them in the first tests).
HYPERTENSION, ESSENTIAL_HYPERTENSION = "38341003", "59621000"  # LTC hypertension, eFI hypertension
DIABETES = "44054006"  # LTC diabetes, eFI diabetes
HEART_FAILURE = "84114007"  # LTC heart-failure, eFI heart-failure
DEMENTIA = "52448006"  # LTC dementia, eFI memory-cognitive-problems
DEPRESSION = "35489007"  # LTC depression, not an eFI deficit
FALL, RECURRENT_FALLS = "1912002", "279992002"  # eFI falls, not an LTC
HEARING_LOSS = "15188001"  # eFI hearing-impairment
DIZZINESS = "404640003"  # eFI dizziness
DYSPNOEA = "267036007"  # eFI dyspnoea


@pytest.fixture(scope="module")
def lists() -> CodeLists:
    return load_codelists()


def days_before(n: int) -> date:
    return DAY - timedelta(days=n)


def person(**fields: object) -> PersonFacts:
    base: dict[str, object] = {
        "patient_id": "p1",
        "birth_date": date(1950, 5, 17),
        "sex": "female",
        "practice": PRACTICE,
    }
    base.update(fields)
    return PersonFacts(**base)  # type: ignore[arg-type]


def snomed(code: str, day: date | None = None, ref: str | None = None, active: bool = True) -> Coded:
    return Coded(ref or f"Condition/gp-{code}", "snomed", code, day or days_before(400), active)


def icd10(code: str, day: date | None = None, ref: str | None = None, active: bool = True) -> Coded:
    return Coded(ref or f"Condition/apc-{code}", "icd10", code, day or days_before(100), active)


def emergency(ref: str, start: date, end: date | None) -> Stay:
    return Stay(f"Encounter/{ref}", "emergency", start, end)


def features(facts: PersonFacts, lists: CodeLists, day: date = DAY) -> Features:
    return compute(facts, day, lists).features


def deficit_codes(lists: CodeLists) -> dict[str, str]:
    """One SNOMED CT code for each of the 35 coded eFI deficits (the first the list gives)."""
    first: dict[str, str] = {}
    for code, deficit in lists.efi_snomed.items():
        first.setdefault(deficit, code)
    return first


def test_the_codes_these_tests_use_mean_what_the_tests_say(lists: CodeLists) -> None:
    assert lists.ltc_snomed[HYPERTENSION] == lists.ltc_snomed[ESSENTIAL_HYPERTENSION] == "hypertension"
    assert lists.ltc_snomed[DIABETES] == "diabetes"
    assert lists.ltc_snomed[HEART_FAILURE] == "heart-failure"
    assert lists.ltc_snomed[DEMENTIA] == "dementia"
    assert lists.ltc_snomed[DEPRESSION] == "depression"
    assert DEPRESSION not in lists.efi_snomed
    assert lists.efi_snomed[FALL] == lists.efi_snomed[RECURRENT_FALLS] == "falls"
    assert FALL not in lists.ltc_snomed
    assert lists.efi_snomed[HEARING_LOSS] == "hearing-impairment"
    assert lists.efi_snomed[DIZZINESS] == "dizziness"
    assert lists.efi_snomed[DYSPNOEA] == "dyspnoea"
    assert lists.efi_snomed[DEMENTIA] == "memory-cognitive-problems"
    assert set(deficit_codes(lists)) == set(EFI_DEFICITS) - {POLYPHARMACY}
    # The HFRS weights of Gilbert et al. as hfrs.csv gives them.
    assert lists.hfrs["F00"] == 7.1
    assert lists.hfrs["R26"] == 2.6
    assert (lists.hfrs["G81"], lists.hfrs["G30"], lists.hfrs["I69"]) == (4.4, 4.0, 3.7)


# -- age and sex ---------------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("born", "age"),
    [
        (date(1956, 10, 1), 70),  # birthday on the run date
        (date(1956, 10, 2), 69),  # birthday tomorrow
        (date(1956, 9, 30), 70),
        (date(1961, 10, 1), 65),
        (date(1961, 10, 2), 64),
    ],
)
def test_age_is_whole_years_on_the_run_date(lists: CodeLists, born: date, age: int) -> None:
    assert age_on(born, DAY) == age
    assert features(person(birth_date=born), lists).age == age


def test_a_leap_day_birthday_comes_on_the_first_of_march_in_other_years() -> None:
    born = date(1960, 2, 29)
    assert age_on(born, date(2025, 2, 28)) == 64
    assert age_on(born, date(2025, 3, 1)) == 65
    assert age_on(born, date(2024, 2, 29)) == 64
    assert age_on(born, date(2024, 2, 28)) == 63


def test_sex_is_the_administrative_gender(lists: CodeLists) -> None:
    assert features(person(sex="male"), lists).sex == "male"
    assert features(person(sex="unknown"), lists).sex == "unknown"


def test_a_person_with_no_records_has_every_count_at_zero(lists: CodeLists) -> None:
    got = features(person(), lists)
    assert (got.ltc_count, got.efi, got.hfrs, got.nel_admissions, got.nel_bed_days, got.ae_attendances) == (
        0,
        0.0,
        0.0,
        0,
        0,
        0,
    )
    assert (got.repeat_medications, got.home_care_hours, got.home_care, got.care_home, got.unpaid_carer) == (
        0,
        0.0,
        False,
        False,
        False,
    )
    assert (got.ltc_band, got.frailty, got.hfrs_band) == ("0", "fit", "low")
    assert compute(person(), DAY, lists).basis == ()


# -- long-term conditions ------------------------------------------------------------------------------------
def test_ltcs_are_counted_from_gp_snomed_codes(lists: CodeLists) -> None:
    got = features(person(coded=[snomed(HYPERTENSION), snomed(DIABETES), snomed(FALL)]), lists)
    assert got.ltc_count == 2
    assert got.ltcs == ("diabetes", "hypertension")


@pytest.mark.parametrize(
    ("code", "condition"),
    [
        ("I50.9", "heart-failure"),
        ("I509", "heart-failure"),  # written without the dot
        ("j44.1", "copd"),
        ("I10", "hypertension"),
        ("I11.9", "hypertension"),
        ("I11.0", "heart-failure"),  # the longest prefix (I110) wins over I11
        ("N18.3", "chronic-kidney-disease"),
        ("N18.9", None),  # only stages 3-5 (N183-N185) are listed
        ("I70.2", "peripheral-arterial-disease"),
        ("I70.0", None),
        ("F03", "dementia"),
        ("R55", None),
    ],
)
def test_ltcs_are_counted_from_hospital_icd10_prefixes(lists: CodeLists, code: str, condition: str | None) -> None:
    got = features(person(coded=[icd10(code)]), lists)
    assert got.ltcs == ((condition,) if condition else ())
    assert got.ltc_count == (1 if condition else 0)


def test_the_same_condition_from_the_gp_and_the_hospital_counts_once(lists: CodeLists) -> None:
    facts = person(
        coded=[
            snomed(HYPERTENSION),
            snomed(ESSENTIAL_HYPERTENSION),  # another code for the same condition
            icd10("I10"),
            icd10("I10", ref="Condition/apc-second-spell"),  # and again in another spell
            snomed(HEART_FAILURE),
            icd10("I50.9"),
            icd10("I11.0"),  # hypertensive heart disease with heart failure: heart failure again
        ]
    )
    got = features(facts, lists)
    assert got.ltc_count == 2
    assert got.ltcs == ("heart-failure", "hypertension")


def test_a_resolved_or_inactive_entry_is_not_a_long_term_condition(lists: CodeLists) -> None:
    assert features(person(coded=[snomed(DIABETES, active=False)]), lists).ltc_count == 0
    assert features(person(coded=[icd10("E11.9", active=False)]), lists).ltc_count == 0
    # Resolved at the practice but active in a hospital diagnosis: it counts.
    both = person(coded=[snomed(DIABETES, active=False), icd10("E11.9")])
    assert features(both, lists).ltcs == ("diabetes",)


def test_an_entry_after_the_run_date_does_not_count(lists: CodeLists) -> None:
    later = person(coded=[snomed(DIABETES, day=DAY + timedelta(days=1)), icd10("I10", day=DAY + timedelta(days=1))])
    assert features(later, lists).ltc_count == 0
    on_the_day = person(coded=[snomed(DIABETES, day=DAY), icd10("I10", day=DAY)])
    assert features(on_the_day, lists).ltc_count == 2
    # An LTC is ever recorded: a diagnosis decades old still counts.
    assert features(person(coded=[snomed(DIABETES, day=date(1990, 1, 1))]), lists).ltc_count == 1


@pytest.mark.parametrize(("count", "band"), [(0, "0"), (1, "1"), (2, "2"), (3, "3"), (4, "4+"), (5, "4+"), (12, "4+")])
def test_ltc_bands(count: int, band: str) -> None:
    assert ltc_band(count) == band


def test_the_ltc_band_of_computed_features(lists: CodeLists) -> None:
    codes = [HYPERTENSION, DIABETES, HEART_FAILURE, DEMENTIA, DEPRESSION]
    for n in range(len(codes) + 1):
        got = features(person(coded=[snomed(code) for code in codes[:n]]), lists)
        assert got.ltc_count == n
        assert got.ltc_band == ("0", "1", "2", "3", "4+", "4+")[n]


# -- eFI -----------------------------------------------------------------------------------------------------
def test_efi_by_hand_four_deficits_is_fit(lists: CodeLists) -> None:
    facts = person(coded=[snomed(FALL), snomed(HEARING_LOSS), snomed(DIZZINESS), snomed(DYSPNOEA)])
    got = features(facts, lists)
    assert got.deficits == ("dizziness", "dyspnoea", "falls", "hearing-impairment")
    assert got.efi == 0.1111  # 4 / 36
    assert got.frailty == "fit"


def test_efi_by_hand_nine_deficits_is_moderate(lists: CodeLists) -> None:
    codes = deficit_codes(lists)
    nine = sorted(codes)[:9]
    got = features(person(coded=[snomed(codes[d]) for d in nine]), lists)
    assert got.deficits == tuple(nine)
    assert got.efi == 0.25  # 9 / 36
    assert got.frailty == "moderate"


@pytest.mark.parametrize(
    ("present", "score", "category"),
    [
        (0, 0.0, "fit"),
        (1, 0.0278, "fit"),
        (4, 0.1111, "fit"),  # 4/36 <= 0.12
        (5, 0.1389, "mild"),  # 5/36 > 0.12
        (8, 0.2222, "mild"),  # 8/36 <= 0.24
        (9, 0.25, "moderate"),  # 9/36 > 0.24
        (12, 0.3333, "moderate"),  # 12/36 <= 0.36
        (13, 0.3611, "severe"),  # 13/36 > 0.36
        (36, 1.0, "severe"),
    ],
)
def test_efi_score_and_category_by_number_of_deficits(present: int, score: float, category: str) -> None:
    got = efi_score(EFI_DEFICITS[:present])
    assert got == score
    assert frailty_category(got) == category


@pytest.mark.parametrize(
    ("efi", "category"),
    [
        (0.0, "fit"),
        (0.12, "fit"),  # fit <= 0.12
        (0.1201, "mild"),
        (0.24, "mild"),  # mild <= 0.24
        (0.2401, "moderate"),
        (0.36, "moderate"),  # moderate <= 0.36
        (0.3601, "severe"),
        (1.0, "severe"),
        (0.12 * 3 / 3, "fit"),  # a value computed on the boundary, not typed
        (0.1 + 0.14, "mild"),  # 0.24000000000000002 is still on the mild side
    ],
)
def test_frailty_category_boundaries(efi: float, category: str) -> None:
    assert frailty_category(efi) == category


def test_efi_counts_each_deficit_once_and_ignores_names_outside_the_index() -> None:
    assert efi_score(["falls", "falls", "dizziness"]) == 0.0556  # 2 / 36
    assert efi_score(["falls", "not-a-deficit"]) == 0.0278


def test_two_codes_of_one_deficit_count_once(lists: CodeLists) -> None:
    got = features(person(coded=[snomed(FALL), snomed(RECURRENT_FALLS, ref="Condition/gp-2")]), lists)
    assert got.deficits == ("falls",)
    assert got.efi == 0.0278


def test_efi_deficits_come_from_gp_snomed_entries_recorded_by_the_run_date(lists: CodeLists) -> None:
    # A condition can be a deficit and an LTC at once (hypertension); depression is an LTC but not a deficit.
    both = features(person(coded=[snomed(HYPERTENSION), snomed(DEPRESSION)]), lists)
    assert both.deficits == ("hypertension",)
    assert both.ltcs == ("depression", "hypertension")
    # Hospital diagnoses are not eFI entries (W19 unspecified fall is HFRS, not eFI).
    assert features(person(coded=[icd10("W19")]), lists).deficits == ()
    # Recorded after the run date: not yet a deficit.
    assert features(person(coded=[snomed(FALL, day=DAY + timedelta(days=1))]), lists).deficits == ()
    # Ever recorded: an old or resolved entry is still a deficit.
    old = person(coded=[snomed(FALL, day=date(2001, 1, 1)), snomed(DIZZINESS, active=False)])
    assert features(old, lists).deficits == ("dizziness", "falls")


def courses(*ends: date | None, start: date | None = None, repeat: bool = True) -> list[Course]:
    """A course of a different medicine for each end date (None: still going)."""
    return [Course(f"med-{n}", start or days_before(900), end, repeat) for n, end in enumerate(ends)]


def test_five_medicines_overlapping_the_last_twelve_months_add_the_polypharmacy_deficit(lists: CodeLists) -> None:
    five = [
        *courses(None, None),  # long-running repeats
        Course("med-ended", days_before(900), days_before(200), True),  # ended within the last 12 months
        Course("med-acute", days_before(30), days_before(23), False),  # an acute course counts too
        Course("med-new", DAY, None, True),  # started on the run date
    ]
    got = features(person(courses=five), lists)
    assert got.deficits == (POLYPHARMACY,)
    assert got.efi == 0.0278  # 1 / 36


def test_four_medicines_are_not_polypharmacy(lists: CodeLists) -> None:
    assert features(person(courses=courses(None, None, None, None)), lists).deficits == ()


def test_the_same_medicine_twice_is_one_medicine_for_polypharmacy(lists: CodeLists) -> None:
    repeated = [*courses(None, None, None, None), Course("med-0", days_before(300), days_before(100), False)]
    assert features(person(courses=repeated), lists).deficits == ()


def test_a_course_that_ended_before_the_last_twelve_months_does_not_count(lists: CodeLists) -> None:
    thirteen_months_ago = date(2025, 9, 1)
    old = [*courses(None, None, None, None), Course("med-old", days_before(900), thirteen_months_ago, True)]
    assert features(person(courses=old), lists).deficits == ()
    # The window is the 365 days after the day a year before: ending on that day is outside, a day later inside.
    on_the_edge = [*courses(None, None, None, None), Course("med-edge", days_before(900), days_before(365), True)]
    assert features(person(courses=on_the_edge), lists).deficits == ()
    inside = [*courses(None, None, None, None), Course("med-edge", days_before(900), days_before(364), True)]
    assert features(person(courses=inside), lists).deficits == (POLYPHARMACY,)


def test_a_course_that_starts_after_the_run_date_does_not_count(lists: CodeLists) -> None:
    future = [*courses(None, None, None, None), Course("med-future", DAY + timedelta(days=1), None, True)]
    assert features(person(courses=future), lists).deficits == ()


def test_polypharmacy_adds_to_the_coded_deficits(lists: CodeLists) -> None:
    codes = deficit_codes(lists)
    eight = sorted(codes)[:8]
    facts = person(coded=[snomed(codes[d]) for d in eight], courses=courses(None, None, None, None, None))
    got = features(facts, lists)
    assert len(got.deficits) == 9 and POLYPHARMACY in got.deficits
    assert got.efi == 0.25
    assert got.frailty == "moderate"


# -- HFRS ----------------------------------------------------------------------------------------------------
def test_hfrs_by_hand_dementia_and_gait_is_intermediate(lists: CodeLists) -> None:
    got = features(person(coded=[icd10("F00.1"), icd10("R26.8")]), lists)
    assert got.hfrs_groups == ("F00", "R26")
    assert got.hfrs == 9.7  # 7.1 + 2.6
    assert got.hfrs_band == "intermediate"


def test_hfrs_by_hand_high(lists: CodeLists) -> None:
    facts = person(coded=[icd10("F00.9"), icd10("G81.9"), icd10("G30.1"), icd10("I69.4")])
    got = features(facts, lists)
    assert got.hfrs == pytest.approx(19.2)  # 7.1 + 4.4 + 4.0 + 3.7
    assert got.hfrs_band == "high"


def test_the_same_hfrs_group_counts_once(lists: CodeLists) -> None:
    facts = person(
        coded=[
            icd10("F00.0"),
            icd10("F00.1"),  # another code of the same three-character group
            icd10("F00.0", day=days_before(400), ref="Condition/apc-earlier-spell"),  # another spell
        ]
    )
    got = features(facts, lists)
    assert got.hfrs_groups == ("F00",)
    assert got.hfrs == 7.1
    assert hfrs_score(["F00", "F00", "R26"], lists) == 9.7


def test_hfrs_looks_back_two_years(lists: CodeLists) -> None:
    twenty_five_months = date(2024, 9, 1)
    assert features(person(coded=[icd10("F00.1", day=twenty_five_months)]), lists).hfrs == 0.0
    assert features(person(coded=[icd10("F00.1", day=days_before(730))]), lists).hfrs == 0.0
    assert features(person(coded=[icd10("F00.1", day=days_before(729))]), lists).hfrs == 7.1
    assert features(person(coded=[icd10("F00.1", day=DAY)]), lists).hfrs == 7.1
    assert features(person(coded=[icd10("F00.1", day=DAY + timedelta(days=1))]), lists).hfrs == 0.0
    # ... while the same old diagnosis is still a long-term condition.
    assert features(person(coded=[icd10("F00.1", day=twenty_five_months)]), lists).ltcs == ("dementia",)


def test_hfrs_comes_only_from_icd10_groups_it_lists(lists: CodeLists) -> None:
    assert features(person(coded=[snomed(DEMENTIA)]), lists).hfrs == 0.0  # GP SNOMED CT: not HFRS
    assert features(person(coded=[icd10("I10"), icd10("R07.4")]), lists).hfrs == 0.0  # not among the 109
    assert hfrs_score(["XYZ"], lists) == 0.0


@pytest.mark.parametrize(
    ("score", "band"),
    [(0.0, "low"), (4.9, "low"), (5.0, "intermediate"), (9.7, "intermediate"), (15.0, "intermediate"), (15.1, "high")],
)
def test_hfrs_bands(score: float, band: str) -> None:
    assert hfrs_band(score) == band


# -- hospital use --------------------------------------------------------------------------------------------
def test_emergency_admissions_and_bed_days_in_the_last_twelve_months(lists: CodeLists) -> None:
    stays = [
        emergency("a", days_before(10), days_before(5)),  # 5 days
        emergency("b", days_before(364), days_before(360)),  # first day of the window: 4 days
        emergency("c", days_before(365), days_before(300)),  # starts the day before the window: not counted
        emergency("d", days_before(500), days_before(490)),
        emergency("e", DAY + timedelta(days=1), None),  # after the run date
    ]
    got = features(person(stays=stays), lists)
    assert got.nel_admissions == 2
    assert got.nel_bed_days == 9


def test_a_stay_still_in_progress_counts_its_days_up_to_the_run_date(lists: CodeLists) -> None:
    assert features(person(stays=[emergency("a", days_before(3), None)]), lists).nel_bed_days == 3
    # Seen from a past day, a stay that ended later counts only to that day.
    past = person(stays=[emergency("a", date(2026, 6, 1), date(2026, 6, 20))])
    assert features(past, lists, day=date(2026, 6, 5)).nel_bed_days == 4
    assert features(past, lists).nel_bed_days == 19
    # Admitted on the run date: one admission, no whole day yet.
    today = features(person(stays=[emergency("a", DAY, None)]), lists)
    assert (today.nel_admissions, today.nel_bed_days) == (1, 0)


def test_elective_admissions_are_not_counted(lists: CodeLists) -> None:
    stays = [
        Stay("Encounter/el", "elective", days_before(20), days_before(18)),
        emergency("em", days_before(40), days_before(38)),
    ]
    got = features(person(stays=stays), lists)
    assert (got.nel_admissions, got.nel_bed_days, got.ae_attendances) == (1, 2, 0)


def test_ae_attendances_in_the_last_twelve_months(lists: CodeLists) -> None:
    stays = [
        Stay("Encounter/ae1", "ae", days_before(2), days_before(2)),
        Stay("Encounter/ae2", "ae", days_before(364), None),
        Stay("Encounter/ae3", "ae", DAY, None),
        Stay("Encounter/ae4", "ae", days_before(365), days_before(365)),  # outside
        Stay("Encounter/ae5", "ae", DAY + timedelta(days=1), None),  # after
        emergency("em", days_before(2), days_before(1)),  # the admission that followed ae1
    ]
    got = features(person(stays=stays), lists)
    assert got.ae_attendances == 3
    assert got.nel_admissions == 1
    assert got.nel_bed_days == 1


# -- medication and social care ------------------------------------------------------------------------------
def test_repeat_medications_are_the_distinct_medicines_on_repeat_on_the_run_date(lists: CodeLists) -> None:
    facts = person(
        courses=[
            Course("simvastatin", days_before(900), None, True),
            Course("simvastatin", days_before(90), None, True),  # the same medicine twice counts once
            Course("amlodipine", days_before(900), DAY, True),  # ends on the run date: still covers it
            Course("ramipril", days_before(900), days_before(1), True),  # ended the day before
            Course("amoxicillin", days_before(3), DAY + timedelta(days=4), False),  # acute
            Course("metformin", DAY + timedelta(days=1), None, True),  # starts tomorrow
            Course("bisoprolol", DAY, None, True),  # starts today
        ]
    )
    assert features(facts, lists).repeat_medications == 3  # simvastatin, amlodipine, bisoprolol


def test_home_care_hours_are_summed_over_the_current_packages(lists: CodeLists) -> None:
    facts = person(
        packages=[
            CarePackage("home-care", days_before(400), None, 7.0),
            CarePackage("home-care", days_before(30), DAY, 3.5),  # ends today: still current
            CarePackage("home-care", days_before(400), days_before(1), 10.0),  # ended
            CarePackage("home-care", DAY + timedelta(days=1), None, 14.0),  # not yet started
            CarePackage("reablement", days_before(5), None, 6.0),  # not home care
        ]
    )
    got = features(facts, lists)
    assert got.home_care is True
    assert got.home_care_hours == 10.5
    assert got.care_home is False


def test_a_home_care_package_without_hours_is_still_home_care(lists: CodeLists) -> None:
    got = features(person(packages=[CarePackage("home-care", days_before(10), None)]), lists)
    assert (got.home_care, got.home_care_hours) == (True, 0.0)


@pytest.mark.parametrize(
    ("package", "care_home"),
    [
        (CarePackage("residential", date(2025, 1, 1), None), True),
        (CarePackage("nursing", date(2025, 1, 1), DAY), True),
        (CarePackage("nursing", date(2025, 1, 1), date(2026, 9, 30)), False),  # ended before the day
        (CarePackage("residential", date(2026, 10, 2), None), False),  # starts after
        (CarePackage("home-care", date(2025, 1, 1), None, 5.0), False),
        (CarePackage("day-care", date(2025, 1, 1), None), False),
    ],
)
def test_care_home_is_a_residential_or_nursing_placement_covering_the_run_date(
    lists: CodeLists, package: CarePackage, care_home: bool
) -> None:
    assert features(person(packages=[package]), lists).care_home is care_home


@pytest.mark.parametrize(
    ("carers", "unpaid_carer"),
    [
        ([], False),
        ([days_before(300)], True),
        ([DAY], True),  # started on the run date
        ([DAY + timedelta(days=1)], False),  # starts after
        ([None], True),  # start not known
        ([DAY + timedelta(days=1), days_before(10)], True),
    ],
)
def test_unpaid_carer_started_on_or_before_the_run_date(
    lists: CodeLists, carers: list[date | None], unpaid_carer: bool
) -> None:
    assert features(person(carers=carers), lists).unpaid_carer is unpaid_carer


# -- cohort --------------------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("died", "alive"),
    [
        (None, True),
        (days_before(1), False),
        (DAY, False),  # died on the run date: not alive on it
        (DAY + timedelta(days=1), True),  # died later: alive on the run date (past runs, fitting)
        (date.min, False),  # deceased, day not known
    ],
)
def test_in_cohort_needs_the_person_alive_on_the_run_date(died: date | None, alive: bool) -> None:
    assert in_cohort(person(died=died), DAY, 65, [PRACTICE]) is alive


def test_in_cohort_needs_a_practice_in_scope() -> None:
    assert in_cohort(person(practice="Z91001"), DAY, 65, ["Z91001", "Z92001"])
    assert not in_cohort(person(practice="A81001"), DAY, 65, ["Z91001", "Z92001"])
    assert not in_cohort(person(), DAY, 65, [])


def test_in_cohort_needs_the_minimum_age_on_the_run_date() -> None:
    assert in_cohort(person(birth_date=date(1961, 10, 1)), DAY, 65, [PRACTICE])  # 65 today
    assert not in_cohort(person(birth_date=date(1961, 10, 2)), DAY, 65, [PRACTICE])  # 64, 65 tomorrow
    assert not in_cohort(person(birth_date=date(1955, 1, 1)), DAY, 75, [PRACTICE])  # 71 with min_age 75
    assert in_cohort(person(birth_date=date(1925, 1, 1)), DAY, 65, iter([PRACTICE]))  # any iterable of practices


# -- basis ---------------------------------------------------------------------------------------------------
def test_basis_names_the_conditions_and_encounters_behind_the_features(lists: CodeLists) -> None:
    facts = person(
        coded=[
            snomed(HYPERTENSION, ref="Condition/htn"),  # LTC and eFI deficit: named once
            snomed(FALL, ref="Condition/fall"),  # deficit
            icd10("F00.1", ref="Condition/f00"),  # LTC dementia and HFRS group
            icd10("R26.8", ref="Condition/r26"),  # HFRS group only
            icd10("R26.8", day=days_before(1000), ref="Condition/old-r26"),  # too old for HFRS, not an LTC
            snomed(DIABETES, ref="Condition/resolved", active=False),  # resolved: no LTC, still a deficit
            snomed(DEPRESSION, ref="Condition/future", day=DAY + timedelta(days=1)),  # after the run date
            snomed("72313002", ref="Condition/not-listed"),  # in no code list
        ],
        stays=[
            emergency("nel", days_before(20), days_before(15)),
            Stay("Encounter/ae", "ae", days_before(20), days_before(20)),
            Stay("Encounter/elective", "elective", days_before(50), days_before(49)),
            emergency("old-nel", days_before(400), days_before(390)),
        ],
        courses=courses(None, None, None, None, None),  # polypharmacy: no resource to name
    )
    evidence = compute(facts, DAY, lists)
    assert isinstance(evidence, Evidence)
    basis = evidence.basis
    assert set(basis) == {
        "Condition/htn",
        "Condition/fall",
        "Condition/f00",
        "Condition/r26",
        "Condition/resolved",  # a resolved diabetes is no LTC but is still an eFI deficit, ever recorded
        "Encounter/nel",
        "Encounter/ae",
    }
    assert len(basis) == len(set(basis))
    assert "" not in basis
    conditions = [r for r in basis if r.startswith("Condition/")]
    assert list(basis[: len(conditions)]) == conditions  # conditions first, then encounters
    assert basis[-2:] == ("Encounter/nel", "Encounter/ae")
    got = evidence.features
    assert got.ltcs == ("dementia", "hypertension")
    assert got.deficits == ("diabetes", "falls", "hypertension", POLYPHARMACY)
    assert got.hfrs_groups == ("F00", "R26")


# -- history: the outcome a model learns -------------------------------------------------------------------
def test_admitted_within_year_looks_at_the_twelve_months_after_the_day() -> None:
    def outcome(*stays: Stay) -> int:
        return admitted_within_year(person(stays=list(stays)), DAY)

    assert outcome() == 0
    assert outcome(emergency("a", DAY + timedelta(days=1), None)) == 1
    assert outcome(emergency("a", date(2027, 10, 1), None)) == 1  # the last day of the 12 months
    assert outcome(emergency("a", date(2027, 10, 2), None)) == 0
    assert outcome(emergency("a", DAY, None)) == 0  # on the day itself: a feature of the day, not an outcome
    assert outcome(emergency("a", days_before(10), days_before(2))) == 0
    assert outcome(Stay("Encounter/el", "elective", DAY + timedelta(days=30), None)) == 0
    assert outcome(Stay("Encounter/ae", "ae", DAY + timedelta(days=30), None)) == 0
    assert outcome(Stay("Encounter/ae", "ae", DAY + timedelta(days=30), None), emergency("b", date(2027, 3, 3), None))


def test_admitted_within_year_ends_on_the_same_day_a_year_later_or_the_month_end() -> None:
    leap_day = date(2024, 2, 29)
    facts = person(stays=[emergency("a", date(2025, 2, 28), None)])
    assert admitted_within_year(facts, leap_day) == 1
    facts = person(stays=[emergency("a", date(2025, 3, 1), None)])
    assert admitted_within_year(facts, leap_day) == 0


def test_sample_is_the_cohort_sorted_by_id_with_features_and_outcomes(lists: CodeLists) -> None:
    people = [
        person(patient_id="b", stays=[emergency("b1", DAY + timedelta(days=40), None)], coded=[snomed(DIABETES)]),
        person(patient_id="a"),
        person(patient_id="c", birth_date=date(1970, 1, 1)),  # too young
        person(patient_id="d", died=days_before(3)),
        person(patient_id="e", practice="A81001"),
    ]
    got = sample(people, DAY, 65, [PRACTICE], lists)
    assert got.as_of == DAY
    assert got.outcomes == [0, 1]
    assert [f.ltc_count for f in got.features] == [0, 1]
