"""Screenshots of the web pages for the README: docs/signin.png, triage.png, patient.png, caseload.png and
programme.png.

Usage: python scripts/screenshots.py [--people 1500] [--out docs]

It builds a synthetic store in a temporary directory the way the demo does (`closer synth`, `closer ingest
county`, `closer stratify run`, `closer casemgmt teams load`, `closer users add`), then plays a few months
of one team's case management through the same workflow functions the pages call (triage, enrolment,
plans, a referral, reviews falling due), starts `closer serve`, signs in with headless Chromium and saves
each page. Everything in it is synthetic. Needs /usr/bin/chromium and /usr/bin/chromedriver
(scripts/_env.sh installs them).
"""

from __future__ import annotations

import argparse
import os
import secrets
import signal
import socket
import subprocess
import sys
import tempfile
import time
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import requests

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from casemgmt import service  # noqa: E402
from casemgmt.plans import PlanInput  # noqa: E402
from closer.audit import Disclosure, record  # noqa: E402
from closer.settings import Settings  # noqa: E402
from closer.store.engine import make_engine  # noqa: E402
from closer.store.searching import search_all  # noqa: E402
from closer.store.sql import SqlRepository  # noqa: E402
from consent.records import sharing_consent  # noqa: E402
from pages import workflow  # noqa: E402

TEAM = "north-1"
PASSWORD = "synthetic demo password"
USERS = (  # username, role, scope option, display name
    ("asha", "gp", ("--practice", "Z91001"), "Dr Asha Patel"),
    ("carol", "case-manager", ("--team", TEAM), "Carol Evans"),
    ("dev", "mdt-admin", ("--team", TEAM), "Dev Shah"),
)
WIDTH = 1280
MAX_HEIGHT = 4000
SNOMED = "http://snomed.info/sct"
DNACPR = {"system": SNOMED, "code": "870373003", "display": "DNACPR decision"}
AMBULANCE = "RX7"  # North West Ambulance Service's ODS code


def closer(env: dict[str, str], cwd: Path, *args: str, stdin: str | None = None) -> None:
    subprocess.run(
        [sys.executable, "-m", "closer.cli", *args],
        cwd=cwd,
        env=env,
        input=stdin,
        text=True,
        check=True,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )


def build_store(env: dict[str, str], workdir: Path, people: int) -> None:
    print(f"==> a synthetic county of {people} people, loaded and stratified")
    closer(env, workdir, "synth", "--people", str(people), "--seed", "1", "--out", str(workdir / "county"))
    closer(env, workdir, "ingest", "county", str(workdir / "county"))
    closer(env, workdir, "stratify", "run", "--as-of", "2026-10-01")
    closer(env, workdir, "casemgmt", "teams", "load")
    for username, role, scope, name in USERS:
        closer(
            env,
            workdir,
            "users",
            "add",
            username,
            "--role",
            role,
            *scope,
            "--display-name",
            name,
            "--password-stdin",
            stdin=PASSWORD + "\n",
        )


def play_the_workflow(database_url: str) -> str:
    """A few months of team north-1: the MDT includes most of its queue and excludes one, the case manager
    enrols people at past dates with plans whose reviews fall due, someone is referred from A&E, and the
    ambulance service is sent one person's alerts. Returns that person's id (the patient page shown)."""
    print("==> playing a few months of team north-1's case management")
    engine = make_engine(database_url)
    repo = SqlRepository(engine)
    settings = service.current_settings()
    host = Settings.from_env({}, database_url=database_url)
    queue = workflow.queue(repo, settings, TEAM)
    now = datetime.now(UTC)
    today = now.date()
    mdt = "Dev Shah (dev, MDT administrator)"
    severe = [item for item in queue if item.tier == "severe"]
    moderate = [item for item in queue if item.tier == "moderate"]
    include, exclude = severe[:3] + moderate[:3], moderate[3:4]
    for item in exclude:
        workflow.triage(
            repo,
            host,
            item.patient_id,
            decision="exclude",
            reason="Well supported at home",
            next_review=today + timedelta(days=90),
            decided_by=mdt,
            focus=item.focus,
        )
    reviews = [today - timedelta(days=4), today + timedelta(days=3), today + timedelta(days=30)]
    for n, item in enumerate(include):
        workflow.triage(
            repo,
            host,
            item.patient_id,
            decision="include",
            reason="Frequent emergency admissions",
            next_review=None,
            decided_by=mdt,
            focus=item.focus,
        )
        if n == len(include) - 1:
            continue  # included, waiting to be enrolled
        started = now - timedelta(days=150 - 25 * n)
        service.enrol(repo, settings, item.patient_id, "Practitioner/cm-carol", at=started)
        plan = PlanInput(
            "Weekly phone call; medication review with the GP; falls prevention exercises",
            reviews[n % len(reviews)],
            "Walks to the shop twice a week",
        )
        emergency = PlanInput("Call the community matron (01691 555 101) before 999; hospital at home if unwell")
        end_of_life = PlanInput("Wishes to die at home; family aware") if n == 0 else None
        service.agree_plan(repo, settings, item.patient_id, plan, emergency, end_of_life, at=started)
    service.due_reviews(repo, settings, today)
    referred = next(p for p in _team_patients(repo, settings) if p not in {i.patient_id for i in queue})
    service.refer(repo, referred, "ae", "Three A&E attendances with falls this month", settings=settings)
    shown = include[0].patient_id
    _alerts_and_consent(repo, shown)
    record(
        engine,
        [
            Disclosure(
                "nwas-epr",
                AMBULANCE,
                f"Patient/{shown}",
                "alerts",
                (f"Flag/dnacpr-{shown}",),
                "0",
                "permitted by Consent/share-" + shown,
                "ETREAT",
            )
        ],
    )
    engine.dispose()
    return shown


def _team_patients(repo: SqlRepository, settings: Any) -> list[str]:
    found = []
    for practice in settings.teams[TEAM].practices:
        criteria = [("general-practitioner", f"Organization/{practice}")]
        found.extend(str(patient["id"]) for patient in search_all(repo, "Patient", criteria))
    return sorted(found)


def _coding(system: str, code: str, display: str = "") -> dict[str, str]:
    return {"system": system, "code": code, **({"display": display} if display else {})}


def _alerts_and_consent(repo: SqlRepository, patient: str) -> None:
    """A DNACPR flag, an allergy and the patient's consent to share alerts and plans with the ambulance
    service (ODS RX7) for emergency treatment."""
    ref = {"reference": f"Patient/{patient}"}
    started = (date.today() - timedelta(days=40)).isoformat()
    terminology = "http://terminology.hl7.org/CodeSystem"
    resources: list[dict[str, Any]] = [
        {
            "resourceType": "Flag",
            "id": f"dnacpr-{patient}",
            "status": "active",
            "code": {"coding": [DNACPR], "text": "Do not attempt CPR (DNACPR) decision in place"},
            "subject": ref,
            "period": {"start": started},
        },
        {
            "resourceType": "AllergyIntolerance",
            "id": f"allergy-{patient}",
            "clinicalStatus": {"coding": [_coding(f"{terminology}/allergyintolerance-clinical", "active")]},
            "code": {"coding": [_coding(SNOMED, "91936005", "Allergy to penicillin")], "text": "Penicillin"},
            "patient": ref,
            "recordedDate": started,
            "reaction": [{"manifestation": [{"text": "Rash and swelling"}]}],
        },
    ]
    consent = sharing_consent(
        f"share-{patient}", patient, [AMBULANCE], ("Flag", "CarePlan", "AllergyIntolerance"), given=started
    )
    consent["provision"]["period"] = {"start": started}  # the page shows when the permission runs from
    with repo.transaction() as tx:
        tx.put_many([*resources, consent])


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def serve(env: dict[str, str], workdir: Path) -> tuple[subprocess.Popen[bytes], str]:
    port = _free_port()
    base = f"http://127.0.0.1:{port}"
    proc = subprocess.Popen(
        [sys.executable, "-m", "closer.cli", "serve", "--host", "127.0.0.1", "--port", str(port), "--workers", "1"],
        cwd=workdir,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            if requests.get(f"{base}/healthz", timeout=1).ok:
                return proc, base
        except requests.RequestException:
            time.sleep(0.2)
    proc.terminate()
    raise SystemExit("closer serve did not start")


def shoot(base: str, out: Path, patient: str) -> list[Path]:
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    options = webdriver.ChromeOptions()
    options.binary_location = "/usr/bin/chromium"
    for argument in (
        "--headless=new",
        "--no-sandbox",
        "--disable-dev-shm-usage",
        "--hide-scrollbars",
        f"--window-size={WIDTH},900",
        "--force-device-scale-factor=1",
    ):
        options.add_argument(argument)
    driver = webdriver.Chrome(service=Service("/usr/bin/chromedriver"), options=options)
    saved: list[Path] = []

    def save(name: str) -> None:
        """The whole page, however long (up to MAX_HEIGHT): the viewport is made as tall as the page."""
        height = min(int(driver.execute_script("return document.documentElement.scrollHeight")), MAX_HEIGHT)
        metrics = {"width": WIDTH, "height": height, "deviceScaleFactor": 1, "mobile": False}
        driver.execute_cdp_cmd("Emulation.setDeviceMetricsOverride", metrics)
        path = out / f"{name}.png"
        driver.save_screenshot(str(path))
        driver.execute_cdp_cmd("Emulation.clearDeviceMetricsOverride", {})
        saved.append(path)

    def sign_in(username: str) -> None:
        driver.delete_all_cookies()
        driver.get(f"{base}/app/login")
        driver.find_element(By.ID, "username").send_keys(username)
        driver.find_element(By.ID, "password").send_keys(PASSWORD)
        driver.find_element(By.CSS_SELECTOR, "form button[type=submit]").click()
        WebDriverWait(driver, 15).until(lambda d: "/app/login" not in d.current_url)

    try:
        driver.get(f"{base}/app/login")
        save("signin")
        sign_in("dev")
        driver.get(f"{base}/app/triage/{TEAM}")
        save("triage")
        sign_in("carol")
        driver.get(f"{base}/app/patient/{patient}")
        save("patient")
        driver.get(f"{base}/app/caseload")
        save("caseload")
        driver.get(f"{base}/app/programme")
        save("programme")
    finally:
        driver.quit()
    return saved


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--people", type=int, default=1500)
    parser.add_argument("--out", type=Path, default=ROOT / "docs")
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="closer-screenshots-") as tmp:
        workdir = Path(tmp)
        database_url = f"sqlite:///{workdir}/closer.db"
        env = {k: v for k, v in os.environ.items() if not k.startswith("CLOSER_")}
        env.update(
            CLOSER_DATABASE_URL=database_url,
            CLOSER_INSECURE_COOKIES="1",  # plain HTTP on loopback
            CLOSER_SECRET_KEY=secrets.token_hex(32),
            CLOSER_DATA_DIR=str(workdir / "closer-data"),
        )
        build_store(env, workdir, args.people)
        os.environ.update(env)  # the in-process workflow reads the same settings
        patient = play_the_workflow(database_url)
        proc, base = serve(env, workdir)
        try:
            print(f"==> screenshots from {base}")
            for path in shoot(base, args.out, patient):
                print(f"    {path.relative_to(ROOT) if path.is_relative_to(ROOT) else path}")
        finally:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)


if __name__ == "__main__":
    main()
