"""Features of one person on one day, computed from the facts the store holds about them (pure: no IO).

Every definition is documented in `stratify/FEATURES.md`; the code lists are in `codelists/`. Dates
decide everything, not current statuses, so the same facts give the features as of a past day (which
`closer stratify fit` needs): a medication course counts when its period covers the day, a care
package when its period does, a diagnosis when it was recorded on or before the day.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable
from dataclasses import dataclass, field
from datetime import date, timedelta

from stratify.codelists import EFI_DEFICITS, POLYPHARMACY, POLYPHARMACY_MEDICINES, CodeLists

EFI_CUTS = ((0.12, "fit"), (0.24, "mild"), (0.36, "moderate"))  # score <= cut -> category; above: severe
HFRS_LOW, HFRS_HIGH = 5.0, 15.0  # low < 5, intermediate 5-15, high > 15
LTC_BANDS = ("0", "1", "2", "3", "4+")
YEAR = timedelta(days=365)
HFRS_LOOKBACK = timedelta(days=730)


# -- facts: what the store says, reduced to what stratification needs ---------------------------------
@dataclass(frozen=True)
class Coded:
    """A coded entry about the person: a GP Condition (SNOMED CT) or a hospital diagnosis (ICD-10)."""

    ref: str  # "Condition/<id>", for RiskAssessment.basis
    system: str  # "snomed" | "icd10"
    code: str
    day: date  # onset, or recorded date
    active: bool = True  # False when resolved or inactive: no longer a long-term condition


@dataclass(frozen=True)
class Stay:
    """A hospital encounter: an emergency (non-elective) or elective admission, or an A&E attendance."""

    ref: str  # "Encounter/<id>"
    kind: str  # "emergency" | "elective" | "ae"
    start: date
    end: date | None


@dataclass(frozen=True)
class Course:
    """A medication course (MedicationStatement)."""

    code: str
    start: date
    end: date | None
    repeat: bool


@dataclass(frozen=True)
class CarePackage:
    """A social care service (EpisodeOfCare), with its weekly hours for home care."""

    kind: str  # home-care | reablement | day-care | residential | nursing | equipment
    start: date
    end: date | None
    hours: float = 0.0


@dataclass
class PersonFacts:
    patient_id: str
    birth_date: date
    sex: str  # administrative gender
    practice: str  # registered practice ODS code
    died: date | None = None
    coded: list[Coded] = field(default_factory=list)
    stays: list[Stay] = field(default_factory=list)
    courses: list[Course] = field(default_factory=list)
    packages: list[CarePackage] = field(default_factory=list)
    carers: list[date | None] = field(default_factory=list)  # unpaid carers' start dates (None: not known)


# -- features --------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Features:
    """What the models see. Each count and score rises as the person's situation worsens."""

    age: int
    sex: str
    ltc_count: int
    efi: float  # deficits / 36
    hfrs: float
    nel_admissions: int  # emergency admissions starting in the last 12 months
    nel_bed_days: int  # their bed days inside the last 12 months
    ae_attendances: int  # A&E attendances in the last 12 months
    repeat_medications: int  # current repeat medications (distinct medicines)
    home_care_hours: float  # a week, from current home care packages (0: none)
    home_care: bool
    care_home: bool  # a current residential or nursing placement
    unpaid_carer: bool  # someone gives unpaid care: a sign of dependency
    ltcs: tuple[str, ...] = ()
    deficits: tuple[str, ...] = ()
    hfrs_groups: tuple[str, ...] = ()

    @property
    def frailty(self) -> str:
        return frailty_category(self.efi)

    @property
    def hfrs_band(self) -> str:
        return hfrs_band(self.hfrs)

    @property
    def ltc_band(self) -> str:
        return ltc_band(self.ltc_count)


@dataclass(frozen=True)
class Evidence:
    """The features and the resources behind them, for RiskAssessment.basis."""

    features: Features
    basis: tuple[str, ...]  # references, conditions first then encounters


def frailty_category(efi: float) -> str:
    for cut, name in EFI_CUTS:
        if efi <= cut + 1e-9:
            return name
    return "severe"


def hfrs_band(score: float) -> str:
    if score < HFRS_LOW:
        return "low"
    return "intermediate" if score <= HFRS_HIGH else "high"


def ltc_band(count: int) -> str:
    return LTC_BANDS[min(count, len(LTC_BANDS) - 1)]


def age_on(birth: date, day: date) -> int:
    return day.year - birth.year - ((day.month, day.day) < (birth.month, birth.day))


def efi_score(deficits: Iterable[str]) -> float:
    """Deficits present / 36, as Clegg et al. define it."""
    return round(len(set(deficits) & set(EFI_DEFICITS)) / len(EFI_DEFICITS), 4)


def hfrs_score(groups: Iterable[str], lists: CodeLists) -> float:
    """The sum of the weights of the distinct HFRS groups present (each counts once)."""
    return round(sum(lists.hfrs[g] for g in set(groups) if g in lists.hfrs), 1)


def in_cohort(facts: PersonFacts, day: date, min_age: int, practices: Collection[str]) -> bool:
    """Alive, registered with a practice in scope and aged `min_age` or over on `day`. `practices` is asked
    once per person, so pass a set or mapping (the settings' practice -> locality map is one)."""
    alive = facts.died is None or facts.died > day
    return alive and facts.practice in practices and age_on(facts.birth_date, day) >= min_age


def compute(facts: PersonFacts, day: date, lists: CodeLists) -> Evidence:
    """The person's features on `day` and the references that gave them."""
    year_ago = day - YEAR
    ltcs: dict[str, str] = {}
    deficits: dict[str, str] = {}
    groups: dict[str, str] = {}
    for entry in facts.coded:
        if entry.day > day:
            continue
        if entry.system == "snomed":
            condition = lists.ltc_snomed.get(entry.code)
            deficit = lists.efi_snomed.get(entry.code)
            if deficit:
                deficits.setdefault(deficit, entry.ref)
        else:
            condition = lists.ltc_of_icd10(entry.code)
            group = lists.hfrs_group(entry.code)
            if group and entry.day > day - HFRS_LOOKBACK:
                groups.setdefault(group, entry.ref)
        if condition and entry.active:
            ltcs.setdefault(condition, entry.ref)
    recent = [s for s in facts.stays if year_ago < s.start <= day]
    emergency = [s for s in recent if s.kind == "emergency"]
    bed_days = sum(((min(s.end or day, day)) - s.start).days for s in emergency)
    ae = [s for s in recent if s.kind == "ae"]
    medicines = {c.code for c in facts.courses if c.start <= day and (c.end is None or c.end > year_ago)}
    if len(medicines) >= POLYPHARMACY_MEDICINES:
        deficits.setdefault(POLYPHARMACY, "")
    repeats = {c.code for c in facts.courses if c.repeat and c.start <= day and (c.end is None or c.end >= day)}
    current = [p for p in facts.packages if p.start <= day and (p.end is None or p.end >= day)]
    home = [p for p in current if p.kind == "home-care"]
    features = Features(
        age=age_on(facts.birth_date, day),
        sex=facts.sex,
        ltc_count=len(ltcs),
        efi=efi_score(deficits),
        hfrs=hfrs_score(groups, lists),
        nel_admissions=len(emergency),
        nel_bed_days=bed_days,
        ae_attendances=len(ae),
        repeat_medications=len(repeats),
        home_care_hours=round(sum(p.hours for p in home), 2),
        home_care=bool(home),
        care_home=any(p.kind in ("residential", "nursing") for p in current),
        unpaid_carer=any(start is None or start <= day for start in facts.carers),
        ltcs=tuple(sorted(ltcs)),
        deficits=tuple(sorted(deficits)),
        hfrs_groups=tuple(sorted(groups)),
    )
    refs = [*ltcs.values(), *deficits.values(), *groups.values(), *(s.ref for s in emergency), *(s.ref for s in ae)]
    return Evidence(features, tuple(dict.fromkeys(r for r in refs if r)))
