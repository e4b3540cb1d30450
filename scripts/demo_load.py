"""Load the demo's synthetic sample resources into a running Closer and print URLs to try.

Usage: CLOSER_DEMO_TOKEN=$(closer token --client demo) python scripts/demo_load.py BASE_URL

The API needs a bearer token (scripts/demo registers the internal client `demo` and gets one);
CLOSER_DEMO_TOKEN_COMMAND is the command the printed examples say gets a fresh one.
"""

from __future__ import annotations

import json
import os
import sys
import time
from pathlib import Path

import requests

SAMPLE = Path(__file__).parent / "demo_data" / "sample-transaction.json"
FHIR_JSON = "application/fhir+json"


def wait_until_up(base: str, seconds: float = 60) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            if requests.get(f"{base}/healthz", timeout=2).ok:
                return
        except requests.ConnectionError:
            pass
        time.sleep(0.3)
    raise SystemExit(f"Closer did not answer on {base}/healthz within {seconds:.0f}s")


def main(base: str, token: str, token_command: str) -> None:
    wait_until_up(base)
    bundle = json.loads(SAMPLE.read_text())
    headers = {"Content-Type": FHIR_JSON, "Accept": FHIR_JSON, "Authorization": f"Bearer {token}"}
    response = requests.post(base, json=bundle, headers=headers, timeout=60)
    if response.status_code != 200:
        raise SystemExit(f"Loading the sample bundle failed ({response.status_code}): {response.text}")
    statuses = [e["response"]["status"] for e in response.json()["entry"]]
    print(f"==> loaded {len(statuses)} sample resources ({', '.join(sorted(set(statuses)))})")
    print("==> try (the API needs a bearer token; a token lasts 5 minutes, so run the export again for a fresh one):")
    print(f"    export TOKEN=$({token_command})")
    print(f"    curl -s '{base}/metadata'    # anonymous, as are /healthz and /.well-known/smart-configuration")
    for path in (
        "/Patient?birthdate=le1961&_sort=family",
        "/Patient?identifier=https://fhir.nhs.uk/Id/nhs-number|9990000018",
        "/Condition?patient.identifier=https://fhir.nhs.uk/Id/nhs-number|9990000018&_include=Condition:patient",
        "/Patient?general-practitioner:identifier=https://fhir.nhs.uk/Id/ods-organization-code|M82001",
        "/Patient?_revinclude=AllergyIntolerance:patient&_revinclude=Flag:patient",
        "/Observation?code=http://snomed.info/sct|27113001&value-quantity=gt70",
        "/Patient/_history?_count=5",
        "/Encounter?type=http://snomed.info/sct|183452005&_summary=count",
        "/Encounter?type=http://snomed.info/sct|183452005&date=ge2026-01-01&_include=Encounter:subject&_count=5",
        "/EpisodeOfCare?type=https://closer.example.nhs.uk/fhir/CodeSystem/social-care-service|nursing&status=active",
        "/MedicationStatement?status=active&category=https://closer.example.nhs.uk/fhir/CodeSystem/medication-course"
        "|repeat&_count=5",
        "/StructureDefinition",
        "/RiskAssessment?_count=3",
        "/RiskAssessment?risk=https://closer.example.nhs.uk/fhir/CodeSystem/risk-tier|severe&_summary=count",
        "/CodeSystem/risk-tier",
    ):
        print(f"""    curl -s -H "Authorization: Bearer $TOKEN" '{base}{path}'""")


if __name__ == "__main__":
    demo_token = os.environ.get("CLOSER_DEMO_TOKEN", "")
    if not demo_token:
        raise SystemExit(
            "set CLOSER_DEMO_TOKEN to a bearer token, e.g. CLOSER_DEMO_TOKEN=$(closer token --client demo)"
        )
    main(
        sys.argv[1] if len(sys.argv) > 1 else "http://localhost:8080",
        demo_token,
        os.environ.get("CLOSER_DEMO_TOKEN_COMMAND", "closer token --client demo"),
    )
