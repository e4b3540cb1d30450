"""Regenerate the expected outputs of the GP samples from the current code. Run by hand:

    cd /work/main && .venv/bin/python tests/adapters/gp/regenerate_expected.py

tests/samples/gp/extract/ is loaded into an empty SQLite store and the stored resources (without meta)
are written to extract/expected.json; tests/samples/gp/gp-connect/structured-record.json likewise, with the
report's issues (what was not translated or not carried), to structured-record.expected.json. READ the
diff before committing it: the expected files are the reviewed output test_gp_samples.py compares against.
"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from gp_data import EXTRACT, RECORD, RECORD_EXPECTED, dump_json, stored_resources

from adapters.gp.extract import load_extract
from adapters.gp.record import load_record
from adapters.writing import open_repository
from closer.settings import Settings


def main() -> None:
    with tempfile.TemporaryDirectory() as folder:
        repo = open_repository(Settings.from_env({}, database_url=f"sqlite:///{folder}/extract.db"))
        report = load_extract(repo, EXTRACT)
        if not report.ok:
            raise SystemExit(report.summary())
        dump_json(EXTRACT / "expected.json", stored_resources(repo))
        repo.engine.dispose()

        repo = open_repository(Settings.from_env({}, database_url=f"sqlite:///{folder}/record.db"))
        record = load_record(repo, RECORD)
        if not record.ok:
            raise SystemExit(record.summary())
        dump_json(RECORD_EXPECTED, {"resources": stored_resources(repo), "issues": record.as_dict()["issues"]})
        repo.engine.dispose()
    print(f"{EXTRACT / 'expected.json'}\n{RECORD_EXPECTED}")


if __name__ == "__main__":
    main()
