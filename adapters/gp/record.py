"""`closer ingest gp-connect FILE.json`: read a GP Connect structured record response, translate it
(connect.py) and store what translates through the shared planstore, so one refused resource costs only
itself. The report lists every entry not translated (a warning, or an error when it was invalid), every
element or reference not carried (warnings on the resource), and every store refusal (errors)."""

from __future__ import annotations

import json
from pathlib import Path

from adapters.gp.connect import RecordError, plan, translate
from adapters.gp.storing import store_plans
from adapters.report import IngestReport
from closer.store.repository import Repository


def load_record(repo: Repository, path: Path) -> IngestReport:
    name = path.name
    report = IngestReport(f"GP Connect {name}")
    try:
        data = json.loads(path.read_bytes())
    except OSError as exc:
        report.fail(name, f"cannot read the file: {exc.strerror or exc}")
        return report
    except ValueError as exc:  # JSONDecodeError and UnicodeDecodeError are both ValueErrors
        report.fail(name, f"not JSON: {exc}")
        return report
    try:
        translation = translate(data)
    except RecordError as exc:
        report.fail(name, str(exc))
        return report
    for skipped in translation.skipped:
        location = f"{name} {skipped.source}"
        if skipped.error:
            report.fail(location, skipped.message)
        else:
            report.warn(location, skipped.message)
    store_plans(repo, [(f"{name} {t.source}", plan(t)) for t in translation.resources], report)
    return report
