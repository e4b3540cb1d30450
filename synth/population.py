"""A synthetic 65+ population shaped like Shropshire's, for the demo, the benchmarks and the tests.

Pure and seeded: the same seed and size give the same people. The model is deliberately simple enough
to read in one sitting:

1. Each locality gets its share of the people (programme report, Table 1: North 23,190, Central 22,135,
   South 27,962 of 73,287), spread over its practices.
2. Age follows a falling curve from 65 (about half are 65-74, one in seven 85+); older people are more
   often women.
3. Exactly the report's share in each locality has one or more long-term conditions (North 19,233,
   Central 17,442, South 22,034), chosen with a weight that rises with age; how many follows age too.
4. Frailty deficits, repeat medicines and social care rise with age and with conditions.
5. Non-elective admissions are Poisson with a rate that rises with age, conditions and frailty; the
   rate's constant is set so the county expects the report's 14,556 a year. A&E attendances come with
   emergency admissions, plus attendances that did not lead to one. Deaths rise with age and frailty.

History covers the `years` before the as-of date, so a model can be fitted on one year and checked on
the next. Every NHS number is valid and in the 999 test range.
"""

from __future__ import annotations

import math
import random
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import date, timedelta

from fhir_profiles.nhs_number import generate_nhs_number
from synth import codes

LOCALITIES = {"North": 23_190, "Central": 22_135, "South": 27_962}
LOCALITY_LTC = {"North": 19_233, "Central": 17_442, "South": 22_034}
COUNTY_PEOPLE = sum(LOCALITIES.values())  # 73,287
NEL_ADMISSIONS_A_YEAR = 14_556
NEL_BY_LTC_COUNT = {1: 3_481, 2: 3_299, 3: 2_207}
PRACTICES_PER_LOCALITY = 12
DEFAULT_AS_OF = date(2026, 10, 1)

FAMILY = "Adams Baker Clarke Davies Evans Foster Griffiths Hughes Jones Lewis Morgan Owen Price Roberts Smith Taylor"
GIVEN_F = "Ann Barbara Carol Doris Edith Frances Gwen Hilda Irene Joan Margaret Nora Pamela Rose Sheila Vera"
GIVEN_M = "Alan Brian Colin David Edward Frank George Harold Ivor John Kenneth Leonard Maurice Norman Peter Roy"


@dataclass(frozen=True)
class Practice:
    ods: str
    name: str
    locality: str


@dataclass
class Spell:
    """A hospital stay: emergency (non-elective) or elective."""

    spell_id: str
    admitted: date
    discharged: date
    method: str  # NHS Data Dictionary admission method
    diagnoses: list[str]  # ICD-10, primary first
    died: bool = False


@dataclass
class Attendance:
    attendance_id: str
    arrived: date
    complaint: tuple[str, str]  # SNOMED code, term
    admitted: bool


@dataclass
class Person:
    nhs_number: str
    family: str
    given: str
    sex: str  # "female" or "male"
    birth_date: date
    practice: Practice
    postcode: str
    registered: date
    conditions: list[codes.Condition] = field(default_factory=list)
    condition_onsets: list[date] = field(default_factory=list)
    deficits: list[codes.Deficit] = field(default_factory=list)
    repeats: list[codes.Medicine] = field(default_factory=list)
    allergy: bool = False
    spells: list[Spell] = field(default_factory=list)
    attendances: list[Attendance] = field(default_factory=list)
    home_care_hours: int = 0  # a week; 0 for none
    residential: str = ""  # "", "residential" or "nursing"
    carer: bool = False
    died: date | None = None

    def age_on(self, day: date) -> int:
        return day.year - self.birth_date.year - ((day.month, day.day) < (self.birth_date.month, self.birth_date.day))


@dataclass
class County:
    people: list[Person]
    practices: list[Practice]
    as_of: date
    years: int
    seed: int


def practices_for(scale: float) -> list[Practice]:
    """Synthetic practices (ODS-shaped codes in a Z range no real practice uses), by locality."""
    count = max(1, round(PRACTICES_PER_LOCALITY * min(1.0, scale * 20)))
    found = []
    for n, locality in enumerate(LOCALITIES, start=1):
        for p in range(1, count + 1):
            found.append(Practice(f"Z9{n}{p:03d}", f"{locality} Synthetic Practice {p}", locality))
    return found


def generate(people: int = COUNTY_PEOPLE, seed: int = 1, as_of: date = DEFAULT_AS_OF, years: int = 3) -> County:
    rng = random.Random(seed)
    scale = people / COUNTY_PEOPLE
    practices = practices_for(scale)
    nhs_numbers: set[str] = set()
    population: list[Person] = []
    for locality, share in _split(people, LOCALITIES).items():
        local_practices = [p for p in practices if p.locality == locality]
        cohort = [_person(rng, as_of, local_practices, nhs_numbers) for _ in range(share)]
        with_ltc = round(share * LOCALITY_LTC[locality] / LOCALITIES[locality])
        for person in _weighted_pick(rng, cohort, with_ltc, lambda p: 1.0 + 0.06 * (p.age_on(as_of) - 65)):
            _give_conditions(rng, person, as_of)
        population.extend(cohort)
    for person in population:
        _give_frailty_and_care(rng, person, as_of)
    _give_hospital_use(rng, population, as_of, years, scale)
    return County(population, practices, as_of, years, seed)


def _split(total: int, weights: dict[str, int]) -> dict[str, int]:
    """Whole numbers in proportion to `weights` that add up to `total`."""
    whole = sum(weights.values())
    shares = {k: total * w // whole for k, w in weights.items()}
    for k in list(weights)[: total - sum(shares.values())]:
        shares[k] += 1
    return shares


def _weighted_pick(rng: random.Random, items: list[Person], k: int, weight: Callable[[Person], float]) -> list[Person]:
    """k people without replacement, each with probability in proportion to weight (Efraimidis-Spirakis)."""
    keyed = sorted(items, key=lambda p: rng.random() ** (1.0 / weight(p)), reverse=True)
    return keyed[:k]


def _person(rng: random.Random, as_of: date, practices: list[Practice], taken: set[str]) -> Person:
    while (years_over := int(rng.expovariate(1 / 10.5))) >= 37:  # 65-101, about one in eight 85 or over
        pass
    age = 65 + years_over
    female = rng.random() < min(0.75, 0.52 + 0.006 * (age - 65))
    born = as_of - timedelta(days=age * 365 + rng.randrange(365) + age // 4)
    while (number := generate_nhs_number(rng)) in taken:
        pass
    taken.add(number)
    practice = rng.choice(practices)
    district = {"North": 12, "Central": 3, "South": 7}[practice.locality]
    return Person(
        nhs_number=number,
        family=rng.choice(FAMILY.split()),
        given=rng.choice((GIVEN_F if female else GIVEN_M).split()),
        sex="female" if female else "male",
        birth_date=born,
        practice=practice,
        postcode=f"SY{district + rng.randrange(3)} {rng.randrange(1, 10)}{rng.choice('ABDEFGHJLNPQRSTUWXYZ')}"
        f"{rng.choice('ABDEFGHJLNPQRSTUWXYZ')}",
        registered=born + timedelta(days=365 * rng.randrange(20, 60)),
    )


def _give_conditions(rng: random.Random, person: Person, as_of: date) -> None:
    age = person.age_on(as_of)
    count = min(len(codes.CONDITIONS), 1 + _poisson(rng, 0.5 + 0.045 * (age - 65)))
    weights = [c.prevalence for c in codes.CONDITIONS]
    chosen: list[codes.Condition] = []
    while len(chosen) < count:
        pick = rng.choices(codes.CONDITIONS, weights)[0]
        if pick not in chosen:
            chosen.append(pick)
    person.conditions = chosen
    person.condition_onsets = [as_of - timedelta(days=rng.randrange(180, 365 * 15)) for _ in chosen]


def _give_frailty_and_care(rng: random.Random, person: Person, as_of: date) -> None:
    age = person.age_on(as_of)
    ltc = len(person.conditions)
    n_deficits = min(len(codes.DEFICITS), _poisson(rng, 0.4 + 0.7 * ltc + 0.09 * (age - 65)))
    person.deficits = rng.sample(codes.DEFICITS, n_deficits)
    n_repeats = min(len(codes.MEDICINES), _poisson(rng, 0.6 + 1.3 * ltc))
    person.repeats = rng.sample(codes.MEDICINES, n_repeats)
    person.allergy = rng.random() < 0.08
    frailty = 0.05 * (age - 65) + 0.3 * n_deficits
    if rng.random() < _logistic(-6.0 + frailty):
        person.residential = "nursing" if rng.random() < _logistic(-2.0 + 0.2 * n_deficits) else "residential"
    elif rng.random() < _logistic(-4.5 + frailty):
        person.home_care_hours = rng.choice((3, 5, 7, 10, 12, 14, 17, 21, 28))
    person.carer = not person.residential and rng.random() < _logistic(-2.5 + 0.15 * n_deficits)


def _risk(person: Person, as_of: date) -> float:
    """Relative rate of emergency admission: rises with age, long-term conditions and frailty."""
    age = person.age_on(as_of)
    return math.exp(0.035 * (age - 65) + 0.3 * len(person.conditions) + 0.12 * len(person.deficits))


def _give_hospital_use(rng: random.Random, people: list[Person], as_of: date, years: int, scale: float) -> None:
    """Deaths first (they end a person's exposure), then admissions and attendances. The rate constant
    is set so the year before `as_of` expects the report's emergency admissions, counting the final
    admissions of people who die in hospital (about four in ten deaths)."""
    start, last_year = as_of - timedelta(days=365 * years), as_of - timedelta(days=365)
    for person in people:
        death_rate = 0.012 * math.exp(0.07 * (person.age_on(as_of) - 65) + 0.08 * len(person.deficits))
        if rng.random() < 1 - math.exp(-death_rate * years):
            person.died = start + timedelta(days=rng.randrange(365 * years))
    dying_in_hospital = 0.4
    recent_deaths = sum(1 for p in people if p.died and p.died >= last_year)
    target = NEL_ADMISSIONS_A_YEAR * scale - dying_in_hospital * recent_deaths
    exposure = sum(
        _risk(p, as_of) * ((p.died or as_of) - max(start, last_year)).days / 365
        for p in people
        if (p.died or as_of) > last_year
    )
    base = max(target, 0.0) / exposure if exposure else 0.0
    ids = iter(range(1, 10**9))
    for person in people:
        _admissions_and_attendances(rng, person, base * _risk(person, as_of), start, as_of, ids)
        if person.died and rng.random() < dying_in_hospital:
            stay = 1 + int(rng.expovariate(1 / 8))
            admitted = person.died - timedelta(days=stay)
            person.spells.append(Spell(f"S{next(ids):08d}", admitted, person.died, "21", _diagnoses(rng, person), True))
            person.attendances.append(Attendance(f"E{next(ids):08d}", admitted, rng.choice(codes.COMPLAINTS), True))
        person.spells.sort(key=lambda s: s.admitted)
        person.attendances.sort(key=lambda a: a.arrived)


def _admissions_and_attendances(
    rng: random.Random, person: Person, rate: float, start: date, as_of: date, ids: Iterator[int]
) -> None:
    end = person.died or as_of
    days = max((end - start).days, 1)

    def when() -> date:
        return start + timedelta(days=rng.randrange(days))

    for _ in range(_poisson(rng, rate * days / 365)):
        admitted = when()
        stay = 1 + int(rng.expovariate(1 / (3 + 0.6 * len(person.deficits))))
        method = rng.choices(("21", "22", "23", "24", "2D"), (70, 18, 4, 5, 3))[0]
        discharged = min(admitted + timedelta(days=stay), end)
        person.spells.append(Spell(f"S{next(ids):08d}", admitted, discharged, method, _diagnoses(rng, person)))
        if method == "21":
            person.attendances.append(Attendance(f"E{next(ids):08d}", admitted, rng.choice(codes.COMPLAINTS), True))
    for _ in range(_poisson(rng, 0.25 * rate * days / 365)):  # elective admissions
        admitted = when()
        method = rng.choice(("11", "12", "13"))
        person.spells.append(
            Spell(f"S{next(ids):08d}", admitted, admitted + timedelta(days=1), method, _diagnoses(rng, person))
        )
    for _ in range(_poisson(rng, 0.8 * rate * days / 365)):  # A&E attendances that did not lead to admission
        person.attendances.append(Attendance(f"E{next(ids):08d}", when(), rng.choice(codes.COMPLAINTS), False))


def _diagnoses(rng: random.Random, person: Person) -> list[str]:
    """A primary diagnosis (often one of the person's conditions) and frailty-related secondaries."""
    primary = (
        rng.choice(person.conditions).icd10
        if person.conditions and rng.random() < 0.5
        else rng.choice(codes.ACUTE_DIAGNOSES)
    )
    secondary = [c.icd10 for c in person.conditions if c.icd10 != primary and rng.random() < 0.6]
    secondary += [d.icd10 for d in person.deficits if d.icd10 and rng.random() < 0.3]
    return [primary, *dict.fromkeys(secondary)]


def _poisson(rng: random.Random, mean: float) -> int:
    """Knuth's method; the means here are small."""
    limit, k, p = math.exp(-mean), 0, rng.random()
    while p > limit:
        k += 1
        p *= rng.random()
    return k


def _logistic(x: float) -> float:
    return 1 / (1 + math.exp(-x))
