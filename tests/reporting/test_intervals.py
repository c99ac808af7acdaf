"""Report intervals: calendar boundaries in a time zone, the fixed-width shortcut, parsing times."""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

import pytest

from caruso.errors import ReportRequestError
from caruso.services.reporting.intervals import Period, parse_time

AMSTERDAM = ZoneInfo("Europe/Amsterdam")


def test_days_across_the_change_to_summer_time():
    """29 March 2026 has 23 hours in Amsterdam; the days around it 24."""
    period = Period.make(dt.datetime(2026, 3, 28), dt.datetime(2026, 3, 31), "day", timezone="Europe/Amsterdam")
    assert [86400.0, 82800.0, 86400.0] == [hi - lo for lo, hi in period.boundaries()]
    assert ["2026-03-28", "2026-03-29", "2026-03-30"] == [period.label(lo) for lo, _ in period.boundaries()]


def test_weeks_start_on_monday_and_months_on_the_first():
    """A period from a Wednesday: its first week is cut at the period's start, the next starts on Monday."""
    weeks = Period.make(dt.datetime(2026, 3, 4), dt.datetime(2026, 3, 17), "week")
    assert ["2026-03-04", "2026-03-09", "2026-03-16"] == [weeks.label(lo) for lo, _ in weeks.boundaries()]
    months = Period.make(dt.datetime(2026, 1, 15), dt.datetime(2026, 4, 1), "month")
    assert ["2026-01", "2026-02", "2026-03"] == [months.label(lo) for lo, _ in months.boundaries()]


def test_fixed_widths_are_arithmetic_where_the_offsets_allow():
    """An hour is arithmetic in Amsterdam (whole-hour offsets), not in Kolkata (+05:30); 15 minutes in both."""
    start, end = dt.datetime(2026, 3, 2), dt.datetime(2026, 3, 3)
    assert (3600, None, 900) == (
        Period.make(start, end, "hour", timezone="Europe/Amsterdam").width,
        Period.make(start, end, "hour", timezone="Asia/Kolkata").width,
        Period.make(start, end, "15min", timezone="Asia/Kolkata").width,
    )
    kolkata = Period.make(start, end, "hour", timezone="Asia/Kolkata")
    assert ("2026-03-02T00:00+05:30", "2026-03-02T01:00+05:30") == tuple(
        kolkata.label(lo) for lo, _ in kolkata.boundaries()[:2])


def test_counting_intervals():
    """A day by 15 minutes is 96; a period of no length has none."""
    assert (96, 0) == (Period.make(dt.datetime(2026, 3, 2), dt.datetime(2026, 3, 3), "15min").count(),
                       Period.make(dt.datetime(2026, 3, 2), dt.datetime(2026, 3, 2), "hour").count())


def test_an_unknown_interval():
    """--interval minute is refused with the list."""
    with pytest.raises(ReportRequestError) as caught:
        Period.make(dt.datetime(2026, 3, 2), dt.datetime(2026, 3, 3), "hours")
    assert "unknown interval 'hours' (did you mean 'hour'?); choose one of 15min, 30min, hour, day, week, month, total" \
        == str(caught.value)


def test_parsing_times_of_the_command_line():
    """ISO dates and times read in the zone; today and yesterday are local midnights."""
    now = dt.datetime(2026, 3, 2, 7, 30, tzinfo=dt.timezone.utc)  # 08:30 in Amsterdam
    assert [dt.datetime(2026, 3, 1, tzinfo=AMSTERDAM), dt.datetime(2026, 3, 1, 8, tzinfo=AMSTERDAM),
            dt.datetime(2026, 3, 2, tzinfo=AMSTERDAM), dt.datetime(2026, 3, 1, tzinfo=AMSTERDAM)] == [
        parse_time(text, zone=AMSTERDAM, now=now) for text in ("2026-03-01", "2026-03-01T08:00", "today", "yesterday")]
    with pytest.raises(ReportRequestError) as caught:
        parse_time("last week", zone=AMSTERDAM, now=now)
    assert ("cannot read the time 'last week': write it as 2026-03-01 or 2026-03-01T08:00 (or today, yesterday, "
            "now)") == str(caught.value)
