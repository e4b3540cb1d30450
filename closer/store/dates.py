"""FHIR dates as ranges of instants.

A partial date names a range ("2020-03" is all of March), so the index stores every date as
[low, high] in microseconds since the Unix epoch (UTC), and search prefixes compare ranges as the
FHIR search specification describes. Dates and date-times that carry no offset are read as UTC.
"""

from __future__ import annotations

import calendar
import re
from datetime import UTC, datetime, timedelta, timezone

MIN_US = -(2**62)
MAX_US = 2**62

_DATE = re.compile(
    r"^(?P<y>\d{4})(?:-(?P<m>\d{2})(?:-(?P<d>\d{2})"
    r"(?:T(?P<H>\d{2}):(?P<M>\d{2})(?::(?P<S>\d{2})(?:\.(?P<f>\d+))?)?"
    r"(?P<tz>Z|[+-]\d{2}:\d{2})?)?)?)?$"
)
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_DAY_US = 86_400_000_000


class BadDate(ValueError):
    """The text is not a FHIR date, dateTime or instant."""


def to_us(moment: datetime) -> int:
    """Microseconds since the epoch for an aware datetime."""
    delta = moment - _EPOCH
    return (delta.days * 86_400 + delta.seconds) * 1_000_000 + delta.microseconds


def from_us(us: int) -> datetime:
    return _EPOCH + timedelta(microseconds=us)


def date_range(text: str) -> tuple[int, int]:
    """The [low, high] microsecond range (both inclusive) that a FHIR date/dateTime/instant covers."""
    match = _DATE.match(text.strip())
    if not match:
        raise BadDate(f"'{text}' is not a valid FHIR date or dateTime")
    g = match.groupdict()
    try:
        tz = _tz(g["tz"])
        year = int(g["y"])
        if g["m"] is None:
            low = datetime(year, 1, 1, tzinfo=tz)
            span = _DAY_US * (366 if calendar.isleap(year) else 365)
        elif g["d"] is None:
            month = int(g["m"])
            low = datetime(year, month, 1, tzinfo=tz)
            span = _DAY_US * calendar.monthrange(year, month)[1]
        elif g["H"] is None:
            low = datetime(year, int(g["m"]), int(g["d"]), tzinfo=tz)
            span = _DAY_US
        else:
            low, span = _time_range(year, int(g["m"]), int(g["d"]), g, tz)
    except ValueError as exc:
        raise BadDate(f"'{text}' is not a valid date: {exc}") from None
    # The span is added in microseconds, not as a datetime, so the last day of year 9999 (a common
    # "no end" sentinel) does not overflow datetime.
    start = to_us(low)
    return start, start + span - 1


def _time_range(year: int, month: int, day: int, g: dict[str, str | None], tz: timezone) -> tuple[datetime, int]:
    """The first instant and the length in microseconds of a date-time of the given precision."""
    hour, minute = int(g["H"] or 0), int(g["M"] or 0)
    if g["S"] is None:
        return datetime(year, month, day, hour, minute, tzinfo=tz), 60_000_000
    second = int(g["S"])
    if g["f"] is None:
        return datetime(year, month, day, hour, minute, second, tzinfo=tz), 1_000_000
    digits = g["f"][:6]
    micro = int(digits.ljust(6, "0"))
    return datetime(year, month, day, hour, minute, second, micro, tzinfo=tz), 10 ** (6 - len(digits))


def _tz(text: str | None) -> timezone:
    if text is None or text == "Z":
        return UTC
    sign = -1 if text[0] == "-" else 1
    hours, minutes = int(text[1:3]), int(text[4:6])
    return timezone(sign * timedelta(hours=hours, minutes=minutes))


def instant_now() -> datetime:
    return datetime.now(UTC)


def format_instant(moment: datetime) -> str:
    """FHIR instant text with millisecond precision and an explicit offset."""
    return moment.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
