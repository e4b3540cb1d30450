"""Which practice each patient of an extract is registered with, as patients.csv says.

The other files of the extract carry no practice column, yet every record they make is filed under its
patient's practice: in its id (so two practices never collide) and in the gp-extract identifier (so a
re-ingest of one practice's extract retracts only what that practice sent).
"""

from __future__ import annotations

from collections.abc import Mapping

from adapters.rows import RowError

Roster = Mapping[str, str]  # NHS number -> practice ODS code


def registered_practice(roster: Roster, nhs: str) -> str:
    practice = roster.get(nhs)
    if practice is None:
        raise RowError(
            f"nhs_number {nhs} is not in patients.csv: every patient in the extract must be listed there "
            "(their practice is taken from it)"
        )
    return practice
