"""Regenerate tests/samples/hl7v2/*.expected.json from the current processor. Run by hand:

    cd /work/main && .venv/bin/python tests/adapters/hl7v2/regenerate_expected.py [NAME.hl7 ...]

Each sample file is processed, message by message and in order, into its own empty SQLite store; the
resources the store then holds (without meta and Provenance.recorded) are written next to the sample as
NAME.expected.json. Every message must be acknowledged AA, or the script stops. READ the diff before
committing it: the expected files are the reviewed, clinically checked output, and test_samples.py
compares the processor against them.
"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from hl7util import SAMPLES, fresh_processor, messages_in, sample_paths, stored_resources, write_expected


def regenerate(path: Path) -> int:
    """Write the expected file for one sample; returns how many resources it holds."""
    with tempfile.TemporaryDirectory() as folder, fresh_processor(f"sqlite:///{folder}/closer.db") as processor:
        for number, text in enumerate(messages_in(path), 1):
            outcome = processor.process(text)
            if outcome.code != "AA":
                raise SystemExit(f"{path.name} message {number}: {outcome.code} {outcome.text} ({outcome.error})")
        found = stored_resources(processor.repository)
    write_expected(path, found)
    return len(found)


def main(names: list[str]) -> None:
    paths = [SAMPLES / name for name in names] if names else sample_paths()
    for path in paths:
        print(f"{path.name}: {regenerate(path)} resources")


if __name__ == "__main__":
    main(sys.argv[1:])
