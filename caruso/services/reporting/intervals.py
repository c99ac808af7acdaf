"""Report intervals: 15 minutes to a month, in the report's time zone, and their limits.

A report counts each fact in the interval its time falls in. Fifteen minutes,
half an hour and an hour are fixed widths; when every UTC offset of the time
zone in the period is a whole multiple of the width (true for an hour in
almost every zone, for 15 minutes in all of them), an interval is plain
arithmetic on the event log's epoch seconds (``floor(at / 900)``), which the
database computes in the same pass as the grouping. Days, weeks (Monday to
Monday) and months follow the calendar of the time zone, daylight saving
included, so they are given to the database as a small table of boundaries.

The number of intervals is bounded (``max_intervals``): a year by 15 minutes
is 35,040 rows per queue, which nobody reads and a chart cannot show.
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Iterator
from zoneinfo import ZoneInfo

import attrs

from caruso.errors import ReportRequestError

__all__ = ["INTERVALS", "FIXED_WIDTHS", "Period", "parse_time"]

FIXED_WIDTHS = {"15min": 900, "30min": 1800, "hour": 3600}
INTERVALS = ("15min", "30min", "hour", "day", "week", "month", "total")
"""Every interval a report may be computed by; ``total`` is the whole period as one row."""

_UTC = dt.timezone.utc


@attrs.frozen
class Period:
    """The time a report covers, ``start`` (included) to ``end`` (excluded), by ``interval``.

    Raises:
        ReportRequestError: an unknown interval, an end before the start, or more
            intervals than ``max_intervals``.
    """

    start: dt.datetime
    end: dt.datetime
    interval: str
    timezone: dt.tzinfo = _UTC

    @classmethod
    def make(cls, start: dt.datetime, end: dt.datetime, interval: str, *,
             timezone: str | dt.tzinfo = "UTC", max_intervals: int = 10_000) -> Period:
        """A checked period; naive datetimes are read in ``timezone``."""
        zone = ZoneInfo(timezone) if isinstance(timezone, str) else timezone
        if interval not in INTERVALS:
            from caruso.errors import did_you_mean

            raise ReportRequestError(
                f"unknown interval {interval!r}{did_you_mean(interval, INTERVALS)}; "
                f"choose one of {', '.join(INTERVALS)}")
        start, end = _aware(start, zone), _aware(end, zone)
        if end < start:
            raise ReportRequestError(
                f"the period is reversed: it ends ({end.isoformat()}) before it starts "
                f"({start.isoformat()}); swap --from and --to")
        period = cls(start, end, interval, zone)
        count = period.count()
        if count > max_intervals:
            raise ReportRequestError(
                f"{start.isoformat()} to {end.isoformat()} by {interval} is {count:,} intervals, more than "
                f"the limit of {max_intervals:,} (max_intervals in [services.reports.settings]); "
                "choose a longer interval or a shorter period")
        return period

    @property
    def start_epoch(self) -> float:
        return self.start.timestamp()

    @property
    def end_epoch(self) -> float:
        return self.end.timestamp()

    @property
    def width(self) -> int | None:
        """Seconds per interval when the intervals are plain arithmetic on epoch seconds, else None."""
        width = FIXED_WIDTHS.get(self.interval)
        if width is None:
            return None
        for offset in self._offsets():
            if offset % width:
                return None
        return width

    def count(self) -> int:
        """How many intervals the period has (without listing them for the fixed widths)."""
        if self.end <= self.start:
            return 0
        width = FIXED_WIDTHS.get(self.interval)
        if width is not None:
            return math.ceil(self.end_epoch / width) - math.floor(self.start_epoch / width)
        if self.interval == "total":
            return 1
        days = (self.end - self.start).days
        if days > 200 * 366:  # centuries by day: refuse without listing them
            return days
        return len(self.boundaries())

    def boundaries(self) -> list[tuple[float, float]]:
        """Every interval as (start, end) epoch seconds, clipped to the period."""
        found = []
        low = self.start_epoch
        for edge in self._edges():
            high = min(edge.timestamp(), self.end_epoch)
            if high > low:
                found.append((low, high))
            low = max(low, edge.timestamp())
            if low >= self.end_epoch:
                break
        return found

    def label(self, start_epoch: float) -> str:
        """How an interval is shown: local ISO time (a date for days, weeks and months)."""
        moment = dt.datetime.fromtimestamp(start_epoch, self.timezone)
        if self.interval in ("day", "week", "total"):
            return moment.date().isoformat() if self.interval != "total" else moment.isoformat(timespec="minutes")
        if self.interval == "month":
            return moment.strftime("%Y-%m")
        return moment.isoformat(timespec="minutes")

    def _edges(self) -> Iterator[dt.datetime]:
        """The end of each interval, from the one holding ``start``, in the time zone."""
        if self.interval == "total":
            yield self.end
            return
        width = FIXED_WIDTHS.get(self.interval)
        if width is not None:  # fixed widths in local wall time of the zone's offset
            edge = self.start_epoch - (self.start_epoch + self.start.utcoffset().total_seconds()) % width
            while True:
                edge += width
                yield dt.datetime.fromtimestamp(edge, _UTC)
        local = self.start.astimezone(self.timezone)
        day = local.date()
        if self.interval == "week":
            day -= dt.timedelta(days=day.weekday())
        elif self.interval == "month":
            day = day.replace(day=1)
        while True:
            if self.interval == "day":
                day += dt.timedelta(days=1)
            elif self.interval == "week":
                day += dt.timedelta(days=7)
            else:
                day = (day.replace(day=28) + dt.timedelta(days=4)).replace(day=1)
            yield dt.datetime.combine(day, dt.time(), self.timezone)

    def _offsets(self) -> set[int]:
        """The zone's UTC offsets (seconds) over the period, sampled each day and at both ends."""
        found = {int(self.start.utcoffset().total_seconds()), int(self.end.utcoffset().total_seconds())}
        moment = self.start
        step = dt.timedelta(days=1)
        while moment < self.end and len(found) < 4:
            found.add(int(moment.astimezone(self.timezone).utcoffset().total_seconds()))
            moment += step
        return found


def _aware(moment: dt.datetime, zone: dt.tzinfo) -> dt.datetime:
    if moment.tzinfo is None:
        return moment.replace(tzinfo=zone)
    return moment.astimezone(zone)


def parse_time(text: str, *, zone: dt.tzinfo, now: dt.datetime) -> dt.datetime:
    """A time as the command line takes it: ISO 8601 (``2026-03-01``, ``2026-03-01T08:00``),
    ``today``, ``yesterday`` or ``now``; read in ``zone`` unless it carries an offset.

    Raises:
        ReportRequestError: the text is none of those.
    """
    local_now = now.astimezone(zone)
    words = {
        "now": local_now,
        "today": dt.datetime.combine(local_now.date(), dt.time(), zone),
        "yesterday": dt.datetime.combine(local_now.date() - dt.timedelta(days=1), dt.time(), zone),
        "tomorrow": dt.datetime.combine(local_now.date() + dt.timedelta(days=1), dt.time(), zone),
    }
    if text in words:
        return words[text]
    try:
        return _aware(dt.datetime.fromisoformat(text), zone)
    except ValueError:
        raise ReportRequestError(
            f"cannot read the time {text!r}: write it as 2026-03-01 or 2026-03-01T08:00 "
            "(or today, yesterday, now)") from None
