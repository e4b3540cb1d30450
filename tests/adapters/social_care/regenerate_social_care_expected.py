"""Regenerate tests/samples/social_care/*.expected.json from the current adapter. Run by hand:

    cd /work/main && .venv/bin/python tests/adapters/social_care/regenerate_social_care_expected.py

Each sample is loaded into its own empty SQLite store and the outcome (report, review list, resources
without meta) is written next to it. READ the diff before committing it: the expected files are the
reviewed output that test_social_care_samples.py compares the adapter against.
"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from social_care_samples import outcome, sample_paths, write_expected

from adapters.writing import open_repository
from closer.settings import Settings


def main() -> None:
    for path in sample_paths():
        with tempfile.TemporaryDirectory() as folder:
            repo = open_repository(Settings.from_env({}, database_url=f"sqlite:///{folder}/closer.db"))
            try:
                found = outcome(repo, path)
            finally:
                repo.engine.dispose()
        write_expected(path, found)
        print(f"{path.name}: {len(found['resources'])} resources, {len(found['review'])} held for review")


if __name__ == "__main__":
    main()
