"""Death (pure): whether a Patient is recorded deceased, on which day, and what stops on that day. Every
feed (HL7 A03 with discharge disposition died, the GP's date of death, APC discharge method 4) marks the
Patient deceased; the watcher then ends the episode and stops the person's alerts being shared."""

from __future__ import annotations

from datetime import date
from typing import Any

from casemgmt.plans import ended
from stratify.resources import retired_flag

JSON = dict[str, Any]


def is_deceased(patient: JSON) -> bool:
    return bool(patient.get("deceasedDateTime")) or patient.get("deceasedBoolean") is True


def death_date(patient: JSON, fallback: date) -> date:
    """The day of death as recorded (its own offset's calendar day), or `fallback` when only a flag says so."""
    recorded = patient.get("deceasedDateTime")
    if isinstance(recorded, str) and len(recorded) >= 10:
        try:
            return date.fromisoformat(recorded[:10])
        except ValueError:
            pass
    return fallback


def stopped(resource: JSON, died: date) -> JSON | None:
    """An alert that must no longer be shared once the person has died: an active Flag becomes inactive
    ending on the day of death, an active CarePlan completed. None for anything already stopped."""
    if resource.get("status") != "active":
        return None
    if resource.get("resourceType") == "Flag":
        return retired_flag(resource, died)
    if resource.get("resourceType") == "CarePlan":
        return ended(resource, "completed", died)
    return None
