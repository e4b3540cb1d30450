"""Feed timestamps to FHIR dateTimes. Feeds send UK wall-clock time without an offset, so a naive time
is Europe/London: GMT (+00:00) in winter and BST (+01:00) in summer.

At the autumn change the hour 01:00-01:59 happens twice; we read it as the first (BST) occurrence,
as zoneinfo does with fold=0. At the spring change 01:00-01:59 does not exist; such a time is read
with the offset in force before the change (GMT), which names the instant a clock that missed the
change would have shown.
"""

from __future__ import annotations

import re
from datetime import date, datetime, timedelta, timezone
from zoneinfo import ZoneInfo

LONDON = ZoneInfo("Europe/London")

_DTM = re.compile(
    r"^(?P<y>\d{4})(?P<mo>\d{2})?(?P<d>\d{2})?(?P<h>\d{2})?(?P<mi>\d{2})?(?P<s>\d{2})?"
    r"(?:\.(?P<frac>\d{1,6}))?(?P<tz>[+-]\d{4})?$"
)


class BadTimestamp(ValueError):
    """A timestamp that is not a valid HL7 DTM/DT, or names a day or time that does not exist."""


def london_offset(moment: datetime) -> datetime:
    """Attach Europe/London to a naive wall-clock time (see module notes for the changeover hours)."""
    return moment.replace(tzinfo=LONDON)


def hl7_to_fhir(text: str) -> str:
    """An HL7 DTM (YYYY[MM[DD[HH[MM[SS[.S...]]]]]][+/-ZZZZ]) as a FHIR dateTime.

    Dates keep their precision (2020, 2020-03, 2020-03-01). A time of day gets seconds and an offset:
    the one sent, or Europe/London's for that instant."""
    m = _DTM.match(text.strip())
    if not m:
        raise BadTimestamp(f"'{text}' is not an HL7 date/time (YYYYMMDD[HHMM[SS]][+ZZZZ])")
    parts = m.groupdict()
    year = int(parts["y"])
    try:
        if parts["mo"] is None:
            return f"{year:04d}"
        if parts["d"] is None:
            date(year, int(parts["mo"]), 1)
            return f"{year:04d}-{parts['mo']}"
        day = date(year, int(parts["mo"]), int(parts["d"]))
        if parts["h"] is None:
            return day.isoformat()
        naive = datetime(
            year,
            day.month,
            day.day,
            int(parts["h"]),
            int(parts["mi"] or 0),
            int(parts["s"] or 0),
            int((parts["frac"] or "0").ljust(6, "0")[:6]),
        )
    except ValueError as exc:
        raise BadTimestamp(f"'{text}' is not a real date or time: {exc}") from None
    if parts["tz"]:
        sign = 1 if parts["tz"][0] == "+" else -1
        hours, minutes = int(parts["tz"][1:3]), int(parts["tz"][3:5])
        if hours > 14 or minutes > 59:
            raise BadTimestamp(f"'{text}' has an impossible UTC offset {parts['tz']}")
        moment = naive.replace(tzinfo=timezone(sign * timedelta(hours=hours, minutes=minutes)))
    else:
        moment = london_offset(naive)
    return format_datetime(moment)


def hl7_to_date(text: str) -> str:
    """An HL7 DT/DTM as a FHIR date (the day only): for birth dates, where the time is not wanted."""
    value = hl7_to_fhir(text[:8]) if len(text.strip()) >= 8 else hl7_to_fhir(text)
    return value[:10]


def format_datetime(moment: datetime) -> str:
    """FHIR dateTime text: seconds always, microseconds when present, offset as +HH:MM."""
    spec = "seconds" if moment.microsecond == 0 else "microseconds"
    return moment.isoformat(timespec=spec)


def parse_iso_local(text: str) -> str:
    """An ISO 8601 date or date-time from a CSV feed as a FHIR date/dateTime, London time if naive."""
    value = text.strip()
    try:
        if len(value) == 10:
            return date.fromisoformat(value).isoformat()
        moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise BadTimestamp(f"'{text}' is not an ISO 8601 date (YYYY-MM-DD) or date-time") from None
    if moment.tzinfo is None:
        moment = london_offset(moment)
    return format_datetime(moment)
