"""Sign-in, sessions, CSRF, roles and scope on the web pages, through the Flask test client (SQLite and
PostgreSQL). Every page but the sign-in page needs a signed-in user; a patient, practice, team or
caseload outside the user's practices is a 404, however the URL is written."""

from __future__ import annotations

import time

import pytest
from click.testing import CliRunner
from flask import Flask
from pages_data import ADMIN_NORTH, CM_NORTH, GP_NORTH, GP_SOUTH, MILD, NORTH, PASSWORD, SEVERE, SOUTH, WELL, review_day
from pages_forms import csrf_token, form_token, sign_in
from sqlalchemy import select

from closer.cli import main
from closer.errors import FhirError
from pages.blueprint import configure
from pages.settings import PagesSettings
from pages.users import MAX_FAILURES, add_user, authenticate, get_user, pages_users


def test_every_page_but_sign_in_needs_a_session(pages_app: Flask) -> None:
    client = pages_app.test_client()
    assert client.get("/app/login").status_code == 200
    assert client.get("/app/static/pages.css").status_code == 200
    for url in ("/app/", f"/app/triage/{NORTH}", f"/app/patient/{SEVERE}", "/app/programme", "/app/anything/else"):
        response = client.get(url)
        assert response.status_code == 302, url
        assert response.headers["Location"].startswith("/app/login"), url
    # The CSV and MeasureReport exports too.
    assert client.get("/app/programme/figures.csv").status_code == 302


def test_the_pages_do_not_open_the_fhir_api(pages_app: Flask) -> None:
    """A session is for the pages only: the FHIR API still wants a bearer token."""
    client = sign_in(pages_app.test_client(), GP_NORTH.username)
    assert client.get(f"/Patient/{SEVERE}").status_code == 401


def test_sign_in_page_is_labelled_and_carries_a_csrf_token(pages_app: Flask) -> None:
    html = pages_app.test_client().get("/app/login").get_data(as_text=True)
    assert '<label for="username">' in html and '<label for="password">' in html
    assert 'class="skip-link" href="#main"' in html
    assert csrf_token(html)


def test_wrong_password_is_refused_without_saying_which_part_was_wrong(pages_app: Flask) -> None:
    client = pages_app.test_client()
    token = csrf_token(client.get("/app/login").get_data(as_text=True))
    for username in (GP_NORTH.username, "nobody-at-all"):
        response = client.post("/app/login", data={"username": username, "password": "wrong", "csrf_token": token})
        assert response.status_code == 401
        assert "The username or password is not right." in response.get_data(as_text=True)
    assert client.get("/app/").status_code == 302  # still not signed in


def test_lockout_after_repeated_wrong_passwords(pages_app: Flask) -> None:
    client = pages_app.test_client()
    token = csrf_token(client.get("/app/login").get_data(as_text=True))
    for _ in range(MAX_FAILURES):
        client.post("/app/login", data={"username": GP_NORTH.username, "password": "guess", "csrf_token": token})
    right = {"username": GP_NORTH.username, "password": PASSWORD, "csrf_token": token}
    response = client.post("/app/login", data=right)
    assert response.status_code == 401
    assert "locked" in response.get_data(as_text=True)
    engine = pages_app.extensions["closer.engine"]
    assert authenticate(engine, GP_NORTH.username, PASSWORD).locked
    # The lock lifts after its time (here: asked as if 20 minutes later).
    assert authenticate(engine, GP_NORTH.username, PASSWORD, now=time.time() + 20 * 60).user is not None


def test_missing_csrf_token_is_a_400(pages_app: Flask) -> None:
    client = pages_app.test_client()
    client.get("/app/login")
    response = client.post("/app/login", data={"username": GP_NORTH.username, "password": PASSWORD})
    assert response.status_code == 400
    assert "CSRF" in response.get_data(as_text=True)
    sign_in(client, GP_NORTH.username)
    response = client.post(f"/app/triage/{NORTH}/sign-off", data={"practice": NORTH})
    assert response.status_code == 400


def test_fhir_api_posts_need_no_csrf_token(client: object) -> None:
    """CSRF protection is the pages' alone: the API's POSTs carry bearer tokens (here, the `client` fixture's)."""
    response = client.post(  # type: ignore[attr-defined]
        "/Patient",
        json={"resourceType": "Patient", "name": [{"family": "Api"}]},
        headers={"Content-Type": "application/fhir+json"},
    )
    assert response.status_code == 201


def test_logout_ends_the_session(pages_app: Flask) -> None:
    client = sign_in(pages_app.test_client(), GP_NORTH.username)
    assert client.get(f"/app/triage/{NORTH}").status_code == 200
    response = client.post("/app/logout", data={"csrf_token": form_token(client)})
    assert response.status_code == 302
    assert client.get(f"/app/triage/{NORTH}").status_code == 302


def test_a_disabled_user_is_signed_out_at_the_next_request(pages_app: Flask) -> None:
    client = sign_in(pages_app.test_client(), GP_NORTH.username)
    engine = pages_app.extensions["closer.engine"]
    result = CliRunner().invoke(main, ["users", "disable", GP_NORTH.username, "--database-url", str(engine.url)])
    assert result.exit_code == 0, result.output
    assert client.get(f"/app/triage/{NORTH}").status_code == 302


def test_session_cookie_is_httponly_samesite_and_secure_by_default(
    pages_app: Flask, monkeypatch: pytest.MonkeyPatch
) -> None:
    client = pages_app.test_client()
    token = csrf_token(client.get("/app/login").get_data(as_text=True))
    right = {"username": GP_NORTH.username, "password": PASSWORD, "csrf_token": token}
    response = client.post("/app/login", data=right)
    cookie = response.headers["Set-Cookie"]
    assert "HttpOnly" in cookie and "SameSite=Lax" in cookie and "Path=/app" in cookie
    assert "Secure" not in cookie  # CLOSER_INSECURE_COOKIES=1 in these tests
    monkeypatch.delenv("CLOSER_INSECURE_COOKIES")
    production = Flask("production")
    production.extensions["closer.engine"] = pages_app.extensions["closer.engine"]
    configure(production, PagesSettings.from_env())
    assert production.config["SESSION_COOKIE_SECURE"] is True
    assert production.config["WTF_CSRF_SSL_STRICT"] is True


def test_secret_key_is_generated_once_with_mode_0600(pages_app: Flask, pages_env: object) -> None:
    from pathlib import Path

    path = Path(str(pages_env)) / "closer-data" / "secret-key"
    assert path.stat().st_mode & 0o777 == 0o600
    assert pages_app.config["SECRET_KEY"] == path.read_text().strip()


def test_sign_in_never_redirects_off_site(pages_app: Flask) -> None:
    for target in ("https://evil.example/", "//evil.example/app/", "/Patient"):
        client = pages_app.test_client()
        token = csrf_token(client.get("/app/login").get_data(as_text=True))
        data = {"username": GP_NORTH.username, "password": PASSWORD, "csrf_token": token, "next": target}
        response = client.post("/app/login", data=data)
        assert response.headers["Location"] == "/app/", target


def test_passwords_are_stored_only_as_argon2id_hashes(pages_app: Flask) -> None:
    engine = pages_app.extensions["closer.engine"]
    with engine.connect() as conn:
        hashes = list(conn.execute(select(pages_users.c.password_hash)).scalars())
    assert hashes and all(h.startswith("$argon2id$") and PASSWORD not in h for h in hashes)


# -- roles -----------------------------------------------------------------------------------------------


def test_only_a_gp_may_sign_off(pages_app: Flask) -> None:
    client = sign_in(pages_app.test_client(), ADMIN_NORTH.username)
    response = client.post(f"/app/triage/{NORTH}/sign-off", data={"practice": NORTH, "csrf_token": form_token(client)})
    assert response.status_code == 403
    client = sign_in(pages_app.test_client(), GP_NORTH.username)
    response = client.post(f"/app/triage/{NORTH}/sign-off", data={"practice": NORTH, "csrf_token": form_token(client)})
    assert response.status_code == 302
    page = client.get(f"/app/triage/{NORTH}").get_data(as_text=True)
    assert "Signed off the 2026-Q4 result for practice Z91001 (2 assessments)" in page
    assert f"Signed by {GP_NORTH.display_name} ({GP_NORTH.username}, GP)" in page


def test_a_gp_may_not_enrol_or_agree_plans(pages_app: Flask) -> None:
    client = sign_in(pages_app.test_client(), GP_NORTH.username)
    token = form_token(client)
    data = {"care_manager": f"Practitioner/cm-{CM_NORTH.username}", "csrf_token": token}
    assert client.post(f"/app/patient/{SEVERE}/enrol", data=data).status_code == 403
    assert client.post(f"/app/patient/{SEVERE}/plan", data={"csrf_token": token}).status_code == 403
    assert 'action="/app/patient/' + SEVERE + '/enrol"' not in client.get(f"/app/patient/{SEVERE}").get_data(
        as_text=True
    )


def test_triage_then_enrol_then_plans_through_the_forms(pages_app: Flask) -> None:
    client = sign_in(pages_app.test_client(), CM_NORTH.username)
    token = form_token(client)
    worklist = client.get("/app/triage/north-1").get_data(as_text=True)
    assert SEVERE in worklist and MILD in worklist and WELL not in worklist
    decide = {"patient": SEVERE, "decision": "include", "reason": "Four admissions this year", "csrf_token": token}
    assert client.post("/app/triage/north-1/decide", data=decide).status_code == 302
    exclude = {"patient": MILD, "decision": "exclude", "reason": "Well supported at home", "csrf_token": token}
    exclude["next_review"] = review_day().isoformat()
    client.post("/app/triage/north-1/decide", data=exclude)
    worklist = client.get("/app/triage/north-1").get_data(as_text=True)
    assert f"row-{SEVERE}" not in worklist and f"row-{MILD}" not in worklist  # decided: off the queue
    enrol = {"care_manager": f"Practitioner/cm-{CM_NORTH.username}", "csrf_token": token}
    client.post(f"/app/patient/{SEVERE}/enrol", data=enrol)
    plans = {
        "care_description": "Weekly calls; medication review",
        "care_baseline": "Walks to the shop twice a week",
        "care_review": review_day().isoformat(),
        "emergency_description": "Call the community matron before 999",
        "csrf_token": token,
    }
    client.post(f"/app/patient/{SEVERE}/plan", data=plans)
    page = client.get(f"/app/patient/{SEVERE}").get_data(as_text=True)
    assert "Weekly calls; medication review" in page and "Call the community matron before 999" in page
    assert "Enrolled since" in page and "Carol Evans" in page
    assert "Four admissions this year" in page  # the triage history
    caseload = client.get("/app/caseload").get_data(as_text=True)
    assert SEVERE in caseload


def test_a_failed_step_is_explained_not_an_error_page(pages_app: Flask) -> None:
    client = sign_in(pages_app.test_client(), CM_NORTH.username)
    token = form_token(client)
    decide = {"patient": MILD, "decision": "exclude", "reason": "Fine", "csrf_token": token}  # no review date
    response = client.post("/app/triage/north-1/decide", data=decide, follow_redirects=True)
    assert "Not recorded: an exclusion needs a next review date" in response.get_data(as_text=True)
    response = client.post(
        f"/app/patient/{MILD}/enrol",
        data={"care_manager": f"Practitioner/cm-{CM_NORTH.username}", "csrf_token": token},
        follow_redirects=True,
    )
    assert "Not enrolled:" in response.get_data(as_text=True) and "triage must include them first" in response.get_data(
        as_text=True
    )


# -- scope -----------------------------------------------------------------------------------------------


def test_another_practices_patient_is_not_found_even_by_url(pages_app: Flask) -> None:
    client = sign_in(pages_app.test_client(), GP_SOUTH.username)
    assert client.get(f"/app/patient/{WELL}").status_code == 200
    for url in (
        f"/app/patient/{SEVERE}",
        f"/app/patient/{MILD}",
        "/app/patient/no-such-person",
        f"/app/triage/{NORTH}",
        "/app/triage/north-1",
        f"/app/caseload/{CM_NORTH.username}",
    ):
        assert client.get(url).status_code == 404, url
    token = form_token(client)
    decide = {"patient": SEVERE, "decision": "include", "reason": "x", "csrf_token": token}
    assert client.post(f"/app/triage/{SOUTH}/decide", data=decide).status_code == 404
    sign_off = {"practice": NORTH, "csrf_token": token}
    assert client.post(f"/app/triage/{SOUTH}/sign-off", data=sign_off).status_code == 404
    worklist = client.get(f"/app/triage/{SOUTH}").get_data(as_text=True)
    assert WELL in worklist and SEVERE not in worklist


def test_a_case_manager_sees_only_their_own_caseload(pages_app: Flask) -> None:
    client = sign_in(pages_app.test_client(), CM_NORTH.username)
    assert client.get("/app/caseload").status_code == 200
    assert client.get(f"/app/caseload/{CM_NORTH.username}").status_code == 200
    assert client.get(f"/app/caseload/{ADMIN_NORTH.username}").status_code == 404  # not a case manager
    admin = sign_in(pages_app.test_client(), ADMIN_NORTH.username)
    assert admin.get(f"/app/caseload/{CM_NORTH.username}").status_code == 200
    assert admin.get("/app/caseload").status_code == 404  # an administrator has no caseload of their own


def test_programme_exports(pages_app: Flask) -> None:
    client = sign_in(pages_app.test_client(), ADMIN_NORTH.username)
    page = client.get("/app/programme").get_data(as_text=True)
    assert '<svg role="img" aria-labelledby="chart-plan-title chart-plan-desc"' in page
    report = client.get("/app/programme/measure-report.json")
    assert report.status_code == 200 and report.get_json()["resourceType"] == "MeasureReport"
    assert "attachment" in report.headers["Content-Disposition"]
    csv = client.get("/app/programme/figures.csv")
    assert csv.status_code == 200 and csv.content_type.startswith("text/csv")


# -- the CLI ---------------------------------------------------------------------------------------------


def test_users_cli_add_list_disable(pages_app: Flask) -> None:
    url = str(pages_app.extensions["closer.engine"].url.render_as_string(hide_password=False))
    runner = CliRunner()
    command = ["users", "add", "erin", "--role", "case-manager", "--team", "south-1", "--password-stdin"]
    added = runner.invoke(main, [*command, "--database-url", url], input="a long enough password\n")
    assert added.exit_code == 0, added.output
    assert "caseload of Practitioner/cm-erin" in added.output
    assert pages_app.extensions["closer.repository"].read("Practitioner", "cm-erin")["active"] is True
    again = runner.invoke(
        main,
        ["users", "add", "erin", "--role", "gp", "--practice", SOUTH, "--password-stdin", "--database-url", url],
        input="a long enough password\n",
    )
    assert again.exit_code != 0 and "already exists" in again.output
    short = runner.invoke(
        main,
        ["users", "add", "fay", "--role", "gp", "--practice", SOUTH, "--password-stdin", "--database-url", url],
        input="short\n",
    )
    assert short.exit_code != 0 and "at least" in short.output
    unknown = runner.invoke(
        main, ["users", "add", "gil", "--role", "mdt-admin", "--team", "nowhere", "--password-stdin"], input="x" * 12
    )
    assert unknown.exit_code != 0 and "no case management team 'nowhere'" in unknown.output
    listed = runner.invoke(main, ["users", "list", "--database-url", url])
    assert "erin" in listed.output and "team:south-1" in listed.output and "argon2" not in listed.output
    assert runner.invoke(main, ["users", "disable", "erin", "--database-url", url]).exit_code == 0
    engine = pages_app.extensions["closer.engine"]
    found = get_user(engine, "erin")
    assert found is not None and found.disabled
    assert authenticate(engine, "erin", "a long enough password").user is None


def test_sign_in_returns_to_the_page_first_asked_for(pages_app: Flask) -> None:
    client = pages_app.test_client()
    asked = client.get("/app/programme?x=1")
    assert asked.headers["Location"] == "/app/login?next=/app/programme?x%3D1"
    token = csrf_token(client.get(asked.headers["Location"]).get_data(as_text=True))
    data = {"username": GP_NORTH.username, "password": PASSWORD, "csrf_token": token, "next": "/app/programme?x=1"}
    assert client.post("/app/login", data=data).headers["Location"] == "/app/programme?x=1"


def test_only_a_case_manager_gets_a_practitioner(pages_app: Flask) -> None:
    repo = pages_app.extensions["closer.repository"]
    manager = add_user(repo, "hal", role="case-manager", password="x" * 12, team="south-1")
    assert repo.read("Practitioner", "cm-hal")["identifier"][0]["value"] == "hal"
    assert manager.practitioner == "Practitioner/cm-hal"
    gp = add_user(repo, "ivy", role="gp", password="x" * 12, practices=(SOUTH,))
    assert gp.practitioner is None
    with pytest.raises(FhirError) as missing:
        repo.read("Practitioner", "cm-ivy")
    assert missing.value.status == 404
