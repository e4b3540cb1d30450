"""Stratification runs against a real store (SQLite and PostgreSQL): what is written, idempotent re-runs,
identical results from identical data, people leaving the cohort, exclusions, and the run record."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta

from closer.store.sql import SqlRepository
from stratify.models.base import load_model
from stratify.resources import flag_id, risk_assessment_id
from stratify.runs import run
from stratify.runstore import RunRecord, results_of, runs
from stratify.triage import triage_task
from tests.stratify.strat_data import AS_OF, MILD, SEVERE, WELL, YOUNG, patient, populate, settings


def _run(store: SqlRepository, day: date = AS_OF) -> RunRecord:
    return run(store, settings(), day, load_model("default"))


def test_a_run_writes_an_assessment_per_cohort_member_and_flags_candidates(store: SqlRepository) -> None:
    populate(store)
    record = _run(store)
    assert record.period == "2026-Q4"
    assert record.counts["cohort"] == 3  # YOUNG is 56
    ra = store.read("RiskAssessment", risk_assessment_id("2026-Q4", SEVERE))
    assert ra["status"] == "preliminary"
    prediction = ra["prediction"][0]
    assert prediction["qualitativeRisk"]["coding"][0]["code"] == "severe"
    assert prediction["whenPeriod"] == {"start": "2026-10-01", "end": "2027-10-01"}
    assert 0.45 <= prediction["probabilityDecimal"] < 1
    assert ra["method"]["coding"][0]["code"] == "default"
    basis = {b["reference"] for b in ra["basis"]}
    assert {f"Encounter/enc-{SEVERE}-{n}" for n in range(4)} <= basis
    assert "emergency admissions in the last 12 months" in ra["note"][0]["text"]
    flag = store.read("Flag", flag_id(SEVERE))
    assert flag["status"] == "active" and flag["subject"]["reference"] == f"Patient/{SEVERE}"
    mild = store.read("RiskAssessment", risk_assessment_id("2026-Q4", MILD))
    assert mild["prediction"][0]["qualitativeRisk"]["coding"][0]["code"] == "mild"
    well = store.read("RiskAssessment", risk_assessment_id("2026-Q4", WELL))
    assert well["prediction"][0]["qualitativeRisk"]["coding"][0]["code"] == "below-threshold"
    review = {e["url"].rsplit("/", 1)[-1]: e for e in well["extension"]}["next-review"]
    assert review["valueDate"] == "2027-01-01"  # below threshold: reconsidered 3 months on
    with store.transaction() as tx:
        assert tx.read_many({("RiskAssessment", risk_assessment_id("2026-Q4", YOUNG)), ("Flag", flag_id(MILD))}) == {}


def test_a_second_run_of_the_quarter_changes_nothing_and_gives_identical_results(store: SqlRepository) -> None:
    populate(store)
    first = _run(store)
    second = _run(store)
    assert set(second.counts["written"]) == {"Flag.noop", "RiskAssessment.noop"}
    assert list(results_of(store.engine, first.run_id)) == list(results_of(store.engine, second.run_id))
    ra = store.read("RiskAssessment", risk_assessment_id("2026-Q4", SEVERE))
    assert ra["meta"]["versionId"] == "1"
    assert [r.run_id for r in runs(store.engine)] == [first.run_id, second.run_id]
    assert second.counts["tiers"] == first.counts["tiers"]
    assert second.settings["tiering"]["policy"] == "rules" and second.model == "default"


def test_someone_who_leaves_the_cohort_has_the_quarters_assessment_cancelled_and_flag_retired(
    store: SqlRepository,
) -> None:
    populate(store)
    _run(store)
    with store.transaction() as tx:
        tx.put_many([patient(SEVERE, date(1936, 5, 1), "Z91001", died=AS_OF - timedelta(days=1))])
    _run(store, AS_OF + timedelta(days=14))
    assert store.read("RiskAssessment", risk_assessment_id("2026-Q4", SEVERE))["status"] == "cancelled"
    flag = store.read("Flag", flag_id(SEVERE))
    assert flag["status"] == "inactive" and flag["period"]["end"] == "2026-10-15"


def test_an_excluded_person_is_not_proposed_before_the_review_date(store: SqlRepository) -> None:
    populate(store)
    _run(store)
    review = AS_OF + timedelta(days=120)
    task = triage_task("t1", SEVERE, "exclude", "Already under the heart failure team", date_time(AS_OF), "Dr A",
                       None, review, AS_OF)  # fmt: skip
    with store.transaction() as tx:
        tx.put_many([task])
    next_quarter = AS_OF + timedelta(days=92)
    record = _run(store, next_quarter)
    assert record.counts["candidates"] == 0
    ra = store.read("RiskAssessment", risk_assessment_id("2027-Q1", SEVERE))
    assert "not proposed again before 2027-01-29" in ra["note"][0]["text"]
    assert store.read("Flag", flag_id(SEVERE))["status"] == "inactive"
    after = _run(store, review + timedelta(days=1))
    assert after.counts["candidates"] == 1
    assert store.read("Flag", flag_id(SEVERE))["status"] == "active"


def test_the_capacity_policy_takes_the_top_n_per_locality(store: SqlRepository) -> None:
    populate(store)
    record = run(store, settings(policy="capacity", capacity={"North": 2, "South": 0}), AS_OF, load_model("default"))
    results = {r.patient_id: r for r in results_of(store.engine, record.run_id)}
    assert results[SEVERE].candidate and results[MILD].candidate and not results[WELL].candidate
    assert results[MILD].tier == "moderate"  # a candidate is at least in the lowest candidate tier


def date_time(day: date) -> datetime:
    return datetime.combine(day, time(9, 0), tzinfo=UTC)


def test_a_sign_off_while_a_run_is_planning_its_writes_is_kept(store: SqlRepository, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    """The run read no sign-offs, but one commits before it writes: each write batch looks again."""
    import stratify.runs
    from stratify.runstore import record_signoff

    populate(store)
    _run(store)
    ra_id = risk_assessment_id("2026-Q4", SEVERE)
    with store.transaction() as tx:
        tx.put_many([{**store.read("RiskAssessment", ra_id), "status": "final"}])
        record_signoff(tx.connection, "2026-Q4", "Z91001", "Dr A", 2)
    monkeypatch.setattr(stratify.runs, "signed_off", lambda engine, period: {})
    record = _run(store, AS_OF + timedelta(days=7))
    assert store.read("RiskAssessment", ra_id)["status"] == "final"
    assert record.counts["written"]["RiskAssessment.kept-signed"] == 2
