"""FHIR dates as inclusive microsecond ranges: every precision, leap years, offsets and bad input."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest

from closer.store.dates import BadDate, date_range, format_instant, from_us, to_us


def us(year: int, month: int, day: int, hour: int = 0, minute: int = 0, second: int = 0, micro: int = 0) -> int:
    return to_us(datetime(year, month, day, hour, minute, second, micro, tzinfo=UTC))


def span(text: str) -> int:
    """Length of the range in microseconds (high is inclusive, so add one)."""
    low, high = date_range(text)
    return high - low + 1


def test_year_covers_the_whole_year() -> None:
    assert date_range("2021") == (us(2021, 1, 1), us(2022, 1, 1) - 1)


@pytest.mark.parametrize(("year", "days"), [(2019, 365), (2020, 366), (1900, 365), (2000, 366)])
def test_year_length_follows_leap_years(year: int, days: int) -> None:
    assert span(str(year)) == days * 86_400_000_000


def test_month_covers_the_whole_month() -> None:
    assert date_range("2021-03") == (us(2021, 3, 1), us(2021, 4, 1) - 1)


def test_december_ends_at_new_year() -> None:
    assert date_range("2021-12") == (us(2021, 12, 1), us(2022, 1, 1) - 1)


@pytest.mark.parametrize(("text", "days"), [("2020-02", 29), ("2019-02", 28), ("2000-02", 29), ("1900-02", 28)])
def test_february_length(text: str, days: int) -> None:
    low, high = date_range(text)
    assert high == low + days * 86_400_000_000 - 1


def test_leap_day_is_a_valid_day() -> None:
    assert date_range("2020-02-29") == (us(2020, 2, 29), us(2020, 3, 1) - 1)


def test_day_covers_the_whole_day() -> None:
    assert date_range("2021-03-04") == (us(2021, 3, 4), us(2021, 3, 5) - 1)


def test_minutes_precision_covers_one_minute() -> None:
    assert date_range("2021-03-04T10:15Z") == (us(2021, 3, 4, 10, 15), us(2021, 3, 4, 10, 16) - 1)


def test_seconds_precision_covers_one_second() -> None:
    assert date_range("2021-03-04T10:15:30Z") == (us(2021, 3, 4, 10, 15, 30), us(2021, 3, 4, 10, 15, 31) - 1)


@pytest.mark.parametrize(
    ("fraction", "micro", "width"),
    [("5", 500_000, 100_000), ("25", 250_000, 10_000), ("123", 123_000, 1_000), ("123456", 123_456, 1)],
)
def test_fraction_precision(fraction: str, micro: int, width: int) -> None:
    low, high = date_range(f"2021-03-04T10:15:30.{fraction}Z")
    assert low == us(2021, 3, 4, 10, 15, 30, micro)
    assert high == low + width - 1


def test_fraction_beyond_microseconds_is_truncated() -> None:
    low, high = date_range("2021-03-04T10:15:30.1234567Z")
    assert low == high == us(2021, 3, 4, 10, 15, 30, 123_456)


def test_positive_offset_moves_the_range_earlier_in_utc() -> None:
    low, high = date_range("2021-03-04T10:15:30+02:00")
    assert low == us(2021, 3, 4, 8, 15, 30)
    assert high == low + 999_999


def test_negative_offset_with_minutes() -> None:
    low, _ = date_range("2021-03-04T10:15:30-05:30")
    assert low == us(2021, 3, 4, 15, 45, 30)


def test_z_and_zero_offset_and_no_offset_agree() -> None:
    assert date_range("2021-03-04T10:15:30Z") == date_range("2021-03-04T10:15:30+00:00")
    assert date_range("2021-03-04T10:15:30Z") == date_range("2021-03-04T10:15:30")


def test_dates_without_offset_are_utc() -> None:
    assert date_range("2021-03-04")[0] == us(2021, 3, 4)


def test_offset_crossing_midnight_changes_the_utc_day() -> None:
    low, _ = date_range("2021-01-01T00:30:00+01:00")
    assert low == us(2020, 12, 31, 23, 30)


def test_surrounding_whitespace_is_ignored() -> None:
    assert date_range(" 2021-03-04 ") == date_range("2021-03-04")


def test_ranges_nest() -> None:
    year, month, day = date_range("2021"), date_range("2021-06"), date_range("2021-06-15")
    second = date_range("2021-06-15T12:00:00Z")
    assert year[0] <= month[0] <= day[0] <= second[0] <= second[1] <= day[1] <= month[1] <= year[1]


def test_before_the_epoch() -> None:
    assert date_range("1900-01-01") == (us(1900, 1, 1), us(1900, 1, 2) - 1)


@pytest.mark.parametrize("text", ["9999", "9999-12", "9999-12-31", "9999-12-31T23:59:59Z", "9999-12-31T23:59:59-05:00"])
def test_the_last_representable_dates_do_not_overflow(text: str) -> None:
    # 9999-12-31 is a common "open-ended" sentinel in clinical data; it must index and search.
    low, high = date_range(text)
    assert low < high


def test_end_of_year_9999_is_exact() -> None:
    assert date_range("9999-12-31")[1] == us(9999, 12, 31, 23, 59, 59, 999_999)


@pytest.mark.parametrize(
    "text",
    [
        "",
        "20",
        "202",
        "21-03-04",
        "2021-3",
        "2021-03-4",
        "2021/03/04",
        "2021-13",
        "2021-00",
        "2021-02-29",
        "2019-02-29",
        "2021-04-31",
        "2021-03-00",
        "2021-03-04T",
        "2021-03-04T10",
        "2021-03-04T25:00Z",
        "2021-03-04T10:60Z",
        "2021-03-04T10:15:61Z",
        "2021-03-04T10:15:30.Z",
        "2021-03-04T10:15:30+0200",
        "2021-03-04T10:15:30+24:00",
        "2021-03-04T10:15:30 +02:00",
        "2021-03-04 10:15:30",
        "0000",
        "yesterday",
        "2021-03-04Z",
    ],
)
def test_bad_dates_raise_bad_date(text: str) -> None:
    with pytest.raises(BadDate):
        date_range(text)


def test_bad_date_is_a_value_error() -> None:
    assert issubclass(BadDate, ValueError)


def test_to_us_and_from_us_round_trip() -> None:
    moment = datetime(2021, 3, 4, 10, 15, 30, 123_456, tzinfo=UTC)
    assert from_us(to_us(moment)) == moment
    assert to_us(datetime(1970, 1, 1, tzinfo=UTC)) == 0
    assert to_us(datetime(1970, 1, 1, 1, tzinfo=timezone(timedelta(hours=1)))) == 0


def test_format_instant_is_utc_with_milliseconds() -> None:
    moment = datetime(2021, 3, 4, 12, 15, 30, 123_456, tzinfo=timezone(timedelta(hours=2)))
    assert format_instant(moment) == "2021-03-04T10:15:30.123Z"


def test_formatted_instant_parses_back_to_its_millisecond() -> None:
    moment = datetime(2021, 3, 4, 10, 15, 30, 123_000, tzinfo=UTC)
    low, high = date_range(format_instant(moment))
    assert low == to_us(moment)
    assert high == low + 999
