"""Writing a synthetic county out in every feed format Closer takes, in the layouts the adapters read.

    DIR/gp/<practice ODS>/{patients,events,medications,allergies}.csv   closer ingest gp-csv
    DIR/hospital/apc.csv, DIR/hospital/ecds.csv                         closer ingest apc / ecds
    DIR/hl7/adt.hl7   (A01 + A03 of the last quarter's emergency spells)  closer ingest hl7 / MLLP
    DIR/social_care/extract.xml                                          closer ingest social-care

The hospital trust and A&E site have ODS-shaped codes no real organisation uses. The HL7 messages
cover spells the APC extract also holds: a visit arrives by both routes, as it does in a real ICB.
"""

from __future__ import annotations

import csv
from collections.abc import Iterator
from datetime import date, datetime, time, timedelta
from decimal import Decimal
from pathlib import Path

from adapters.gp import allergies as gp_allergies
from adapters.gp import events as gp_events
from adapters.gp import medications as gp_medications
from adapters.gp import patients as gp_patients
from adapters.hospital import apc, ecds
from adapters.social_care import model as sc
from adapters.social_care import xmlwriter as sc_writer
from synth import codes
from synth.population import Attendance, County, Person, Spell

TRUST_ODS = "ZZ1"
ED_SITE_ODS = "ZZ1A1"
LOCAL_AUTHORITY = "Z99LA"
DISCHARGED_HOME = ("306689006", "Discharge to home")
DISCHARGED_TO_WARD = ("306706006", "Discharge to ward")
HL7_QUARTER_DAYS = 91


def write_all(county: County, out: Path) -> dict[str, int]:
    """Every feed the county has a writer for; returns what was written, by file."""
    written: dict[str, int] = {}
    for writer in (write_gp, write_hospital, write_hl7, write_social_care):
        written.update(writer(county, out))
    return written


GP_FILES = {
    "patients.csv": gp_patients.COLUMNS,
    "events.csv": gp_events.COLUMNS,
    "medications.csv": gp_medications.COLUMNS,
    "allergies.csv": gp_allergies.COLUMNS,
}
SYSTOLIC = ("72313002", "Systolic arterial pressure")


def write_gp(county: County, out: Path) -> dict[str, int]:
    """One extract folder per practice, with the four files `closer ingest gp-csv` reads."""
    counts = dict.fromkeys(GP_FILES, 0)
    for practice in county.practices:
        folder = out / "gp" / practice.ods
        folder.mkdir(parents=True, exist_ok=True)
        patients = [p for p in county.people if p.practice == practice]
        rows = {
            "patients.csv": [_gp_patient(p) for p in patients],
            "events.csv": [row for p in patients for row in _gp_events(p, county.as_of)],
            "medications.csv": [row for p in patients for row in _gp_medications(p, county.as_of)],
            "allergies.csv": [_gp_allergy(p) for p in patients if p.allergy],
        }
        for name, columns in GP_FILES.items():
            counts[name] += _write_csv(folder / name, columns, iter(rows[name]))
    return {f"gp {name} rows": count for name, count in counts.items()}


def _gp_patient(person: Person) -> list[str]:
    return [
        person.nhs_number,
        person.family,
        person.given,
        person.birth_date.isoformat(),
        "F" if person.sex == "female" else "M",
        person.postcode,
        person.practice.ods,
        person.registered.isoformat(),
        person.died.isoformat() if person.died else "",
    ]


def _gp_events(person: Person, as_of: date) -> Iterator[list[str]]:
    for condition, onset in zip(person.conditions, person.condition_onsets, strict=True):
        yield [person.nhs_number, onset.isoformat(), condition.snomed, condition.name, "", ""]
    for n, deficit in enumerate(person.deficits):
        recorded = as_of - timedelta(days=20 + (int(person.nhs_number[-3:]) * (n + 7)) % 700)
        yield [person.nhs_number, recorded.isoformat(), deficit.snomed, deficit.name, "", ""]
    if any(c.icd10 == "I10" for c in person.conditions):
        reading = 125 + int(person.nhs_number[-2:]) % 40
        yield [person.nhs_number, (as_of - timedelta(days=60)).isoformat(), *SYSTOLIC, str(reading), "mm[Hg]"]


def _gp_medications(person: Person, as_of: date) -> Iterator[list[str]]:
    for n, medicine in enumerate(person.repeats):
        started = as_of - timedelta(days=90 + (int(person.nhs_number[-4:]) * (n + 3)) % 1800)
        yield [person.nhs_number, medicine.snomed, medicine.name, started.isoformat(), "", "Y"]


def _gp_allergy(person: Person) -> list[str]:
    code, term = codes.PENICILLIN_ALLERGY
    return [person.nhs_number, code, term, "Rash", "moderate", (person.registered + timedelta(days=400)).isoformat()]


def write_social_care(county: County, out: Path) -> dict[str, int]:
    """Everyone with home care, a care home place or an unpaid carer, as the local authority knows them:
    about one in ten without an NHS number, so they have to be matched on their details."""
    folder = out / "social_care"
    folder.mkdir(parents=True, exist_ok=True)
    known = [p for p in county.people if p.home_care_hours or p.residential or p.carer]
    header = sc.ExtractHeader(LOCAL_AUTHORITY, county.as_of, "Synthetic County Council")
    sc_writer.write_extract(
        folder / "extract.xml", header, (_la_person(n, p, county.as_of) for n, p in enumerate(known))
    )
    return {"extract.xml people": len(known)}


def _la_person(n: int, person: Person, as_of: date) -> sc.Person:
    start = as_of - timedelta(days=30 + (int(person.nhs_number[-4:]) % 1500))
    services = []
    if person.home_care_hours:
        services.append(sc.Service(f"SV{n:07d}", "home-care", start, None, Decimal(person.home_care_hours)))
    if person.residential:
        services.append(sc.Service(f"SV{n:07d}", person.residential, start))
    carers = []
    if person.carer:
        relationship = "spouse" if n % 3 else "daughter"
        carers.append(sc.Carer(f"C{n:07d}", person.family, relationship, main_carer=True, start=start))
    assessments = (sc.Assessment(f"A{n:07d}", "needs-assessment", start - timedelta(days=14), "eligible-needs"),)
    return sc.Person(
        la_person_id=f"LA{n:07d}",
        family_name=person.family,
        birth_date=person.birth_date,
        nhs_number="" if n % 10 == 9 else person.nhs_number,
        given_name=person.given,
        postcode=person.postcode,
        assessments=assessments if services else (),
        services=tuple(services),
        carers=tuple(carers),
    )


def write_hospital(county: County, out: Path) -> dict[str, int]:
    folder = out / "hospital"
    folder.mkdir(parents=True, exist_ok=True)
    spells = _write_csv(folder / "apc.csv", apc.COLUMNS, (_apc_row(p, s) for p in county.people for s in p.spells))
    attendances = _write_csv(
        folder / "ecds.csv", ecds.COLUMNS, (_ecds_row(p, a) for p in county.people for a in p.attendances)
    )
    return {"apc.csv rows": spells, "ecds.csv rows": attendances}


def _apc_row(person: Person, spell: Spell) -> list[str]:
    destination = "79" if spell.died else ("54" if person.residential else "19")
    return [
        person.nhs_number,
        spell.spell_id,
        TRUST_ODS,
        spell.admitted.isoformat(),
        spell.method,
        spell.discharged.isoformat(),
        destination,
        "4" if spell.died else "1",
        spell.diagnoses[0],
        ";".join(spell.diagnoses[1:]),
    ]


def _ecds_row(person: Person, attendance: Attendance) -> list[str]:
    arrived = datetime.combine(attendance.arrived, time(8 + int(attendance.attendance_id[-2:]) % 14, 15))
    status = DISCHARGED_TO_WARD if attendance.admitted else DISCHARGED_HOME
    return [
        attendance.attendance_id,
        arrived.isoformat(timespec="minutes"),
        person.nhs_number,
        ED_SITE_ODS,
        attendance.complaint[0],
        attendance.complaint[1],
        status[0],
        status[1],
        (arrived + timedelta(hours=3, minutes=40)).isoformat(timespec="minutes"),
    ]


def write_hl7(county: County, out: Path) -> dict[str, int]:
    """A01 and, once discharged, A03 for each emergency spell of the last quarter, in time order."""
    folder = out / "hl7"
    folder.mkdir(parents=True, exist_ok=True)
    since = county.as_of - timedelta(days=HL7_QUARTER_DAYS)
    events: list[tuple[datetime, str]] = []
    for person in county.people:
        for spell in person.spells:
            if spell.method in codes.EMERGENCY_METHODS and spell.admitted >= since:
                events.extend(_adt_messages(person, spell, county.as_of))
    events.sort()
    with (folder / "adt.hl7").open("w", encoding="utf-8", newline="") as handle:
        for _, message in events:
            handle.write(message + "\r\n")
    return {"adt.hl7 messages": len(events)}


def _adt_messages(person: Person, spell: Spell, as_of: date) -> Iterator[tuple[datetime, str]]:
    admitted = datetime.combine(spell.admitted, time(10, 30))
    yield admitted, _adt("A01", person, spell, admitted, admitted, None)
    discharged = datetime.combine(spell.discharged, time(15, 0))
    if spell.discharged < as_of:
        yield discharged, _adt("A03", person, spell, discharged, admitted, discharged)


def _adt(trigger: str, person: Person, spell: Spell, when: datetime, admitted: datetime, left: datetime | None) -> str:
    stamp = when.strftime("%Y%m%d%H%M")
    female = person.sex == "female"
    died_here = trigger == "A03" and spell.died
    pid = {
        1: "1",
        3: f"{person.nhs_number}^^^NHS^NH",
        5: f"{person.family.upper()}^{person.given.upper()}^^^{'MRS' if female else 'MR'}^^L",
        7: person.birth_date.strftime("%Y%m%d"),
        8: "F" if female else "M",
        11: f"^^^^{person.postcode}^GBR^H",
        29: spell.discharged.strftime("%Y%m%d") if died_here else "",
        30: "Y" if died_here else "",
        32: "01",
    }
    pv1 = {
        1: "1",
        2: "I",
        3: f"{TRUST_ODS}^WARD{int(spell.spell_id[-2:]) % 12}^BED^{TRUST_ODS}",
        4: spell.method,
        19: f"{spell.spell_id}^^^{TRUST_ODS}^VN",
        36: ("79" if spell.died else "19") if left else "",
        44: admitted.strftime("%Y%m%d%H%M"),
        45: left.strftime("%Y%m%d%H%M") if left else "",
    }
    segments = [
        f"MSH|^~\\&|PAS|{TRUST_ODS}|CLOSER|ICB|{stamp}||ADT^{trigger}^ADT_A01|{spell.spell_id}{trigger}|P|2.4|||AL|NE"
        "|GBR|UNICODE UTF-8|EN||iTKv1.0",
        f"EVN|{trigger}|{stamp}",
        _segment("PID", pid),
        f"PD1|||{person.practice.name.upper()}^^{person.practice.ods}",
        _segment("PV1", pv1),
    ]
    for n, code in enumerate(spell.diagnoses[:3], start=1):
        segments.append(f"DG1|{n}||{code}^^I10||{admitted.strftime('%Y%m%d%H%M')}|A")
    return "\r".join(segments)


def _segment(name: str, fields: dict[int, str]) -> str:
    values = [""] * (max(fields) + 1)
    for position, value in fields.items():
        values[position] = value
    values[0] = name
    return "|".join(values).rstrip("|")


def _write_csv(path: Path, columns: tuple[str, ...], rows: Iterator[list[str]]) -> int:
    count = 0
    with path.open("w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(columns)
        for row in rows:
            writer.writerow(row)
            count += 1
    return count
