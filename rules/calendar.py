"""Working days in mainland China: statutory holidays and make-up working days (调休), plus the
team's own days off and extra working days from the rules file.

The clocks here count how long a deal has been silent. `WorkdayClock` (the default) counts only the
working days, each as a whole 24 hours in local time: a silence that starts on Friday at 17:00 has
lasted 24 hours on Monday at 17:00 and 48 on Tuesday at 17:00. `CalendarClock` counts every hour.
Both take and give naive UTC datetimes, as stored. `SendWindow` says when the bot may speak on its own.
"""
from __future__ import annotations

from bisect import bisect_left
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from functools import lru_cache

import chinese_calendar

from .localtime import to_local, to_utc

DAY = 86400.0
DAY_US = 86_400_000_000  # a day in microseconds: the walk over whole days is done in integers
_HOLIDAYS = chinese_calendar.holidays  # {date: name}: statutory days off
_WORKDAYS = chinese_calendar.workdays  # {date: name}: make-up working days (调休)
KNOWN_YEARS = range(min(_HOLIDAYS).year, max(_HOLIDAYS).year + 1)
# the statutory days off whose date the law fixes (全国年节及纪念日放假办法: 元旦, 劳动节 two days, 国庆节 three
# days): off in every year, also one the calendar package does not know yet; the lunar holidays and the
# 调休 around them are set each year by the State Council
FIXED_HOLIDAYS = frozenset({(1, 1), (5, 1), (5, 2), (10, 1), (10, 2), (10, 3)})


def is_workday(day: date, days_off: frozenset[date] = frozenset(),
               extra_workdays: frozenset[date] = frozenset()) -> bool:
    if day in days_off:
        return False
    if day in extra_workdays:
        return True
    if day.year in KNOWN_YEARS:  # the package's own rule, read from its tables (its function is slow)
        return day in _WORKDAYS or (day not in _HOLIDAYS and day.weekday() < 5)
    # a year the calendar package does not know yet: Monday to Friday but the fixed-date holidays
    return day.weekday() < 5 and (day.month, day.day) not in FIXED_HOLIDAYS


def unknown_years(today: date, days_off: frozenset[date] = frozenset(), ahead_days: int = 60) -> list[int]:
    """The years from `today` to `ahead_days` later whose public holidays neither the calendar package nor
    the team's own [schedule] days_off know: there every Monday to Friday but the fixed-date holidays
    (New Year's Day, 1-2 May, 1-3 October) counts as a working day, so the Spring Festival's days off would
    count as silence and the bot would push on them."""
    listed = {d.year for d in days_off}
    years = range(today.year, (today + timedelta(days=ahead_days)).year + 1)
    return [y for y in years if y not in KNOWN_YEARS and y not in listed]


class CalendarClock:
    """Every hour counts."""
    kind = "calendar"

    @staticmethod
    def elapsed_hours(start: datetime, end: datetime) -> float:
        return max(0.0, (end - start).total_seconds() / 3600)

    @staticmethod
    def hours_to(end: datetime):
        """elapsed_hours(start, end) as a function of `start`, for many silences counted to one `end`."""
        return lambda start: max(0.0, (end - start).total_seconds() / 3600)

    @staticmethod
    def add_hours(start: datetime, hours: float) -> datetime:
        return start + timedelta(hours=hours)

    @staticmethod
    def latest_start(end: datetime, hours: float) -> datetime:
        """The latest start whose silence has lasted `hours` at `end`."""
        return end - timedelta(hours=hours)


CALENDAR = CalendarClock()
_BASE = date(2000, 1, 1).toordinal()
_BASE_DT = datetime(2000, 1, 1)
_US = timedelta(microseconds=1)


class WorkdayClock:
    """Only working days count, each as 24 hours of the local day."""
    kind = "workday"

    def __init__(self, tz, days_off: frozenset[date] = frozenset(), extra_workdays: frozenset[date] = frozenset()):
        self.tz, self.days_off, self.extra_workdays = tz, days_off, extra_workdays
        probe = [tz.utcoffset(datetime(y, m, 1)) for y in (1995, 2010, 2026, 2040, 2080) for m in (1, 7)]
        self._offset = probe[0] if len(set(probe)) == 1 else None  # a zone without summer time: fast path
        self._offset_us = None if self._offset is None else _us(self._offset)
        self._last_end: tuple = (None, 0)
        self._cum = [0]  # _cum[i]: working days in [_BASE, _BASE + i)
        self._work: list[bool] = []
        self._extend(date(2040, 1, 1).toordinal() - _BASE)

    def _extend(self, upto: int) -> None:
        for i in range(len(self._work), upto + 1):
            w = is_workday(date.fromordinal(_BASE + i), self.days_off, self.extra_workdays)
            self._work.append(w)
            self._cum.append(self._cum[-1] + w)

    def _i(self, ordinal: int) -> int:
        i = ordinal - _BASE
        if i < 0:
            raise ValueError(f"date {date.fromordinal(ordinal)} is before {date.fromordinal(_BASE)}")
        if i + 2 >= len(self._work):
            self._extend(i + 400)
        return i

    def is_workday(self, day: date) -> bool:
        return self._work[self._i(day.toordinal())]

    def _local(self, utc: datetime) -> datetime:
        if self._offset is not None:
            return utc + self._offset
        return to_local(utc, self.tz).replace(tzinfo=None)

    def _utc(self, local: datetime) -> datetime:
        if self._offset is not None:
            return local - self._offset
        return to_utc(local, self.tz)

    @staticmethod
    def _midnight(i: int) -> datetime:
        return datetime.fromordinal(_BASE + i)

    def _local_us(self, utc: datetime) -> int:
        """The local time of `utc` as microseconds since _BASE's midnight (integers: the scan counts 500k
        silences, and datetime arithmetic is several times slower)."""
        if self._offset_us is None:
            return (self._local(utc) - _BASE_DT) // _US
        return (utc - _BASE_DT) // _US + self._offset_us

    def _from_local_us(self, us: int) -> datetime:
        if self._offset_us is None:
            return self._utc(_BASE_DT + timedelta(microseconds=us))
        return _BASE_DT + timedelta(microseconds=us - self._offset_us)

    def _day(self, us: int) -> int:
        """The index of the local day holding `us`, with the days after it built."""
        i = us // DAY_US
        if i < 0 or i + 2 >= len(self._work):
            self._i(_BASE + i)
        return i

    def elapsed_hours(self, start: datetime, end: datetime) -> float:
        if end <= start:
            return 0.0
        last = self._last_end  # many silences are counted to one `now` (the daily cards: 500k)
        if last[0] is end:
            b = last[1]
        else:
            b = self._local_us(end)
            self._last_end = (end, b)  # one assignment: threads sharing the clock see a matching pair
        a = self._local_us(start)
        ia, ib = self._day(a), self._day(b)
        work = self._work
        if ia == ib:
            return (b - a) / 3_600_000_000 if work[ia] else 0.0
        us = (ia + 1) * DAY_US - a if work[ia] else 0
        us += (self._cum[ib] - self._cum[ia + 1]) * DAY_US
        if work[ib]:
            us += b - ib * DAY_US
        return us / 3_600_000_000

    def hours_to(self, end: datetime):
        """elapsed_hours(start, end) as a function of `start`, for many silences counted to one `end` (the
        daily cards count 500k): what depends on `end` alone is worked out once."""
        if self._offset_us is None:  # a zone with summer time: the general way
            return lambda start: self.elapsed_hours(start, end)
        b = self._local_us(end)
        ib = self._day(b)
        work, cum, off, n = self._work, self._cum, self._offset_us, len(self._work)
        cum_b, tail = cum[ib], (b - ib * DAY_US if work[ib] else 0)

        def hours(start: datetime) -> float:
            if end <= start:
                return 0.0
            a = (start - _BASE_DT) // _US + off
            ia = a // DAY_US
            if ia < 0 or ia + 2 >= n:  # outside the days built: the general way (which builds them, or says why not)
                return self.elapsed_hours(start, end)
            if ia == ib:
                return (b - a) / 3_600_000_000 if work[ia] else 0.0
            us = (ia + 1) * DAY_US - a if work[ia] else 0
            return (us + (cum_b - cum[ia + 1]) * DAY_US + tail) / 3_600_000_000
        return hours

    def add_hours(self, start: datetime, hours: float) -> datetime:
        """The earliest instant at which a silence that began at `start` has lasted `hours`."""
        a = self._local_us(start)
        ia = self._day(a)
        left = round(hours * 3_600_000_000)
        if self._work[ia]:
            rest = (ia + 1) * DAY_US - a
            if left <= rest:
                return start + timedelta(microseconds=left)
            left -= rest
        n, r = divmod(left, DAY_US)
        m = int(n) + (1 if r > 0 else 0)  # the m-th working day after `start`'s day holds the instant
        target = self._cum[ia + 1] + m
        self._i(_BASE + ia + 1 + 2 * m + 60)  # enough days built to find it
        while self._cum[-1] < target:
            self._extend(len(self._work) + 400)
        j = bisect_left(self._cum, target) - 1
        return self._from_local_us(j * DAY_US + r if r > 0 else (j + 1) * DAY_US)

    def latest_start(self, end: datetime, hours: float) -> datetime:
        """The latest start whose silence has lasted `hours` at `end`."""
        b = self._local(end)
        ib = self._i(b.toordinal())
        left = round(hours * 3_600_000_000)
        if self._work[ib]:
            avail = _us(b - self._midnight(ib))
            if left <= avail:
                return end - timedelta(microseconds=left)
            left -= avail
        n, r = divmod(left, DAY_US)
        m = int(n) + (1 if r > 0 else 0)  # the m-th working day before `end`'s day
        target = self._cum[ib] - m + 1
        if target < 1:
            return self._utc(self._midnight(0))
        j = bisect_left(self._cum, target) - 1
        local = self._midnight(j + 1) - timedelta(microseconds=r) if r > 0 else self._midnight(j)
        return self._utc(local)


def _us(delta: timedelta) -> int:
    return (delta.days * 86400 + delta.seconds) * 1_000_000 + delta.microseconds


@lru_cache(maxsize=64)
def workday_clock(tz, days_off: frozenset[date], extra_workdays: frozenset[date]) -> WorkdayClock:
    return WorkdayClock(tz, days_off, extra_workdays)


@dataclass(frozen=True)
class SendWindow:
    """When the bot may send on its own: working days, from `opens` to `closes` local time."""
    opens: time = time(9, 0)
    closes: time = time(20, 0)

    def next_open(self, clock: WorkdayClock, now: datetime) -> datetime:
        """`now` when inside the window, else the window's next opening (naive UTC)."""
        local = clock._local(now)
        day = local.date()
        if clock.is_workday(day) and self.opens <= local.time() < self.closes:
            return now
        if not (clock.is_workday(day) and local.time() < self.opens):
            day += timedelta(days=1)
            while not clock.is_workday(day):
                day += timedelta(days=1)
        return clock._utc(datetime.combine(day, self.opens))

    def is_open(self, clock: WorkdayClock, now: datetime) -> bool:
        return self.next_open(clock, now) == now

    def day_start(self, clock: WorkdayClock, day: date) -> datetime:
        """The window's opening on `day`, or on the first working day after it (naive UTC)."""
        while not clock.is_workday(day):
            day += timedelta(days=1)
        return clock._utc(datetime.combine(day, self.opens))
