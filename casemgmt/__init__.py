"""Case management: referral, triage queue, enrolment, plans, reviews and discharge (casemgmt/MODEL.md).

The service layer (casemgmt.service) is what the FHIR operations, the CLI and the web pages call. Its
functions take a Repository (the SQL store: `app.extensions["closer.repository"]`) and the settings
(`current_settings()` or `casemgmt.settings.load_settings(path)`). They raise closer.errors.FhirError for
anything the caller must fix (`.status` 422/409/404, `.diagnostics` to show). `at` defaults to now (UTC).

    current_settings() -> CaseManagementSettings
    load_teams(repo, settings) -> list[dict]                                   Organizations
    refer(repo, patient_id, source, reason, requester=None, at=None, settings=None) -> dict
                                                    ServiceRequest; source gp | ae | clinician | self
    triage_queue(repo, team_key, settings, today=None) -> list[QueueItem]
                                                    then decide with stratify's Patient/$triage (focus)
    enrol(repo, settings, patient_id, care_manager, team=None, tier=None, providers=(), at=None)
        -> tuple[dict, dict]                        (EpisodeOfCare, CareTeam); care_manager "Practitioner/x"
    agree_plan(repo, settings, patient_id, care_plan: PlanInput | None, emergency: PlanInput | None = None,
               end_of_life: PlanInput | None = None, at=None) -> list[dict]    new CarePlans
    due_reviews(repo, settings, today) -> list[dict]                          open review Tasks due
    review(repo, settings, patient_id, decision, reason, next_review=None, plan=None, setting=None,
           discharge_reason=None, at=None) -> dict   the completed review Task
                                                    decision continue | adjust | transfer | discharge;
                                                    discharge_reason improvement | choice | death
    discharge_on_death(repo, settings, patient_id, at=None) -> dict | None    finished EpisodeOfCare
    settle_referral(repo, triage_task) -> dict | None                         (the watcher's)
    caseload(repo, practitioner_ref, settings=None, today=None) -> list[CaseloadItem]
    programme_figures(repo, settings, today=None) -> ProgrammeFigures
    casemgmt.figures.measure_report(figures) -> dict (MeasureReport); figures_csv(figures) -> str

PlanInput(description, next_review: date | None = None, baseline: str | None = None).
QueueItem and CaseloadItem are frozen dataclasses (see casemgmt.service); ProgrammeFigures is in
casemgmt.figures (one LocalityFigures row per locality, then "Total").
"""
