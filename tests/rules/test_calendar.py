"""The working-day clock and the send window, as pure functions of times (naive UTC in and out)."""
from __future__ import annotations

import random
from datetime import date, datetime, time, timedelta, timezone
from zoneinfo import ZoneInfo

import pytest

from rules.calendar import CALENDAR, KNOWN_YEARS, SendWindow, WorkdayClock, is_workday, unknown_years
from rules.funnel import RulesError, Thresholds, load_funnel, parse_funnel
from rules.stale import evaluate, silence, silence_counter
from tests.rules.test_funnel import DEFAULT_TEXT, with_contract_stage, write

SH = ZoneInfo("Asia/Shanghai")
T = Thresholds(48, 72, 120)
CLOCK = WorkdayClock(SH)


def utc(*args) -> datetime:
    """A Shanghai wall-clock time as stored (naive UTC)."""
    return datetime(*args, tzinfo=SH).astimezone(timezone.utc).replace(tzinfo=None)


def local(dt: datetime) -> datetime:
    return dt.replace(tzinfo=timezone.utc).astimezone(SH).replace(tzinfo=None)


def test_friday_17_00_is_yellow_on_tuesday_17_00_not_on_sunday():
    fri = utc(2026, 11, 27, 17, 0)
    assert silence(fri, None, T, utc(2026, 11, 29, 18, 0), clock=CLOCK).level is None  # Sunday 18:00
    assert CLOCK.elapsed_hours(fri, utc(2026, 11, 30, 17, 0)) == 24  # Monday 17:00: one working day
    assert silence(fri, None, T, utc(2026, 12, 1, 16, 59), clock=CLOCK).level is None
    s = silence(fri, None, T, utc(2026, 12, 1, 17, 0), clock=CLOCK)
    assert s.level == "yellow" and s.days == 2
    assert local(CLOCK.add_hours(fri, 48)) == datetime(2026, 12, 1, 17, 0)
    assert local(CLOCK.add_hours(fri, 120)) == datetime(2026, 12, 4, 17, 0)  # red: the next Friday
    # the calendar clock (a stage or team that asks for it) counts the weekend
    assert silence(fri, None, T, utc(2026, 11, 29, 18, 0), clock=CALENDAR).level == "yellow"


def test_national_day_2026_does_not_count_and_saturday_10_10_does():
    sep30 = utc(2026, 9, 30, 10, 0)  # Wednesday, the last working day before the break
    assert [is_workday(date(2026, 10, d)) for d in range(1, 12)] == [False] * 7 + [True, True, True, False]
    assert CLOCK.elapsed_hours(sep30, utc(2026, 10, 7, 23, 59)) == 14  # the eight days off add nothing
    assert local(CLOCK.add_hours(sep30, 48)) == datetime(2026, 10, 9, 10, 0)  # Thu 10-08 and Fri 10-09
    assert local(CLOCK.add_hours(sep30, 72)) == datetime(2026, 10, 10, 10, 0)  # the working Saturday
    assert local(CLOCK.add_hours(sep30, 120)) == datetime(2026, 10, 13, 10, 0)  # Sunday 10-11 is off
    ev = evaluate(sep30, None, None, None, None, T, utc(2026, 10, 5, 12, 0), clock=CLOCK)
    assert ev.fire is None and local(ev.next_check) == datetime(2026, 10, 9, 10, 0)


def test_the_teams_own_days_off_and_extra_working_days():
    """Spring Festival 2027: chinesecalendar 1.11 knows no 2027 yet, so the team lists it in [schedule]."""
    f = parse_funnel({**_raw(), "schedule": {"days_off": [f"2027-02-{d:02d}" for d in range(5, 12)] + ["2027-02-12"],
                                              "extra_workdays": ["2027-02-20"]}})
    clock = f.workdays(SH)
    thu = utc(2027, 2, 4, 10, 0)
    assert clock.elapsed_hours(thu, utc(2027, 2, 14, 10, 0)) == 14  # the whole break, and its weekend
    assert local(clock.add_hours(thu, 48)) == datetime(2027, 2, 16, 10, 0)
    assert not clock.is_workday(date(2027, 2, 8)) and clock.is_workday(date(2027, 2, 20))  # a Saturday
    assert f.workdays(SH) is clock  # one clock per rules, built once


def test_latest_start_and_add_hours_agree_everywhere():
    """The dashboard's cutoff (latest_start) is the inverse of the scan's crossing time (add_hours)."""
    rnd = random.Random(14)
    for _ in range(3000):
        start = utc(2026, 1, 1) + timedelta(minutes=rnd.randint(0, 400 * 24 * 60))
        hours = rnd.choice([24, 36, 48, 72, 120, rnd.uniform(0.5, 300)])
        end = CLOCK.add_hours(start, hours)
        assert abs(CLOCK.elapsed_hours(start, end) - hours) < 1e-6
        assert CLOCK.elapsed_hours(start, end - timedelta(seconds=1)) < hours
        cut = CLOCK.latest_start(end, hours)
        assert cut >= start and abs(CLOCK.elapsed_hours(cut, end) - hours) < 1e-6
        assert CLOCK.elapsed_hours(cut + timedelta(seconds=1), end) < hours



@pytest.mark.parametrize("zone", ["Asia/Shanghai", "Europe/Berlin"])
def test_working_hours_are_counted_as_a_walk_over_the_local_days_would(zone):
    """The clock counts in integer microseconds (fast at 500k deals); a day-by-day walk in local wall time,
    in a zone with summer time too, gives the same hours, and add_hours lands where they are reached."""
    tz = ZoneInfo(zone)
    clock = WorkdayClock(tz)

    def to_local(dt):
        return dt.replace(tzinfo=timezone.utc).astimezone(tz).replace(tzinfo=None)

    def walked(start, end):
        a, b = to_local(start), to_local(end)
        secs, day = 0.0, a.date()
        while day <= b.date():
            lo = max(a, datetime.combine(day, time(0)))
            hi = min(b, datetime.combine(day + timedelta(days=1), time(0)))
            if is_workday(day) and hi > lo:
                secs += (hi - lo).total_seconds()
            day += timedelta(days=1)
        return secs / 3600

    rnd = random.Random(zone)
    for _ in range(1500):
        start = datetime(2026, 1, 1) + timedelta(seconds=rnd.randint(0, 400 * 86400), microseconds=rnd.choice([0, 250]))
        end = start + timedelta(seconds=rnd.randint(0, 20 * 86400))
        assert clock.elapsed_hours(start, end) == pytest.approx(walked(start, end), abs=1e-9)
        hours = rnd.choice([24, 48, 72, 120, rnd.uniform(0.1, 200)])
        reached = clock.add_hours(start, hours)
        assert walked(start, reached) == pytest.approx(hours, abs=1e-6)
        assert walked(start, reached - timedelta(seconds=1)) < hours

@pytest.mark.parametrize("zone", ["Asia/Shanghai", "Europe/Berlin"])
def test_many_silences_counted_to_one_now_are_those_counted_one_by_one(zone):
    """The daily cards count 500k silences to one `now` with silence_counter: each is exactly what silence()
    gives for that deal (hours to the microsecond, level, start), with a next step ahead or behind, on both
    clocks, for starts from years back to after `now`."""
    th = Thresholds(48, 72, 120)
    rnd = random.Random(zone)
    for clock in (WorkdayClock(ZoneInfo(zone)), CALENDAR):
        for now in (utc(2026, 11, 30, 1, 0), utc(2026, 10, 8, 1, 0), utc(2039, 12, 30, 12, 0)):
            count = silence_counter(th, now, True, clock)
            for _ in range(400):
                moved = now - timedelta(seconds=rnd.randint(-3 * 86400, 3 * 365 * 86400), microseconds=rnd.choice([0, 7]))
                due = rnd.choice([None, moved + timedelta(hours=rnd.randint(-100, 100))])
                assert count(moved, due) == silence(moved, due, th, now, True, clock)
        assert silence_counter(th, now, False, clock)(moved, moved + timedelta(days=3)) == \
            silence(moved, moved + timedelta(days=3), th, now, False, clock)


def test_send_window_opens_at_nine_on_working_days():
    w = SendWindow(time(9), time(20))
    assert w.next_open(CLOCK, utc(2026, 12, 2, 10, 0)) == utc(2026, 12, 2, 10, 0)  # inside: now
    assert w.next_open(CLOCK, utc(2026, 12, 2, 6, 0)) == utc(2026, 12, 2, 9, 0)
    assert w.next_open(CLOCK, utc(2026, 12, 2, 20, 0)) == utc(2026, 12, 3, 9, 0)  # 20:00 is closed
    assert w.next_open(CLOCK, utc(2026, 12, 4, 22, 0)) == utc(2026, 12, 7, 9, 0)  # Friday night -> Monday
    assert w.next_open(CLOCK, utc(2026, 9, 30, 21, 0)) == utc(2026, 10, 8, 9, 0)  # National Day
    assert w.next_open(CLOCK, utc(2026, 10, 9, 23, 0)) == utc(2026, 10, 10, 9, 0)  # the working Saturday
    assert w.day_start(CLOCK, date(2026, 12, 5)) == utc(2026, 12, 7, 9, 0)


def test_rules_file_chooses_the_clock_per_stage_and_per_team(tmp_path):
    text = with_contract_stage().replace('escalate_to = "legal"', 'escalate_to = "legal"\nclock = "calendar"')
    text = text.replace('send_window = "09:00-20:00"', 'send_window = "08:30-19:00"').replace(
        "daily_budget = 6", "daily_budget = 4") + \
        '\n[teams."西区"]\nclock = "calendar"\n'
    f = load_funnel(write(tmp_path, text))
    assert f.clock(SH, "contract_approval") is CALENDAR
    assert f.clock(SH, "proposal").kind == "workday" and f.clock(SH, "proposal", "东区").kind == "workday"
    assert f.clock(SH, "proposal", "西区") is CALENDAR
    assert f.send_window == SendWindow(time(8, 30), time(19, 0)) and f.schedule.daily_budget == 4
    assert load_funnel().send_window == SendWindow(time(9), time(20)) and load_funnel().schedule.daily_budget == 6


@pytest.mark.parametrize("line, edit, words", [
    ('clock = "workday"', 'clock = "hours"', "clock = 'hours' is not a clock"),
    ('send_window = "09:00-20:00"', 'send_window = "21:00-08:00"', "closes before it opens"),
    ('send_window = "09:00-20:00"', 'send_window = "nine to five"', "is not a time range"),
    ("daily_budget = 6", "daily_budget = 0", "daily_budget = 0"),
])
def test_bad_schedule_settings_are_named(tmp_path, line, edit, words):
    assert line in DEFAULT_TEXT
    with pytest.raises(RulesError) as e:
        load_funnel(write(tmp_path, DEFAULT_TEXT.replace(line, edit)))
    assert words in str(e.value) and "Fix:" in str(e.value)


def _raw() -> dict:
    import tomllib
    return tomllib.loads(DEFAULT_TEXT)


def test_a_year_the_calendar_does_not_know_is_named_before_it_starts():
    """From 60 days before a new year the package does not know, the bot says so, until the team lists
    that year's days off itself (doctor and the scheduler's log read this)."""
    last = KNOWN_YEARS.stop - 1
    assert unknown_years(date(last, 6, 1)) == []
    assert unknown_years(date(last, 12, 3)) == [last + 1]
    assert unknown_years(date(last + 1, 3, 1)) == [last + 1]
    assert unknown_years(date(last, 12, 3), frozenset({date(last + 1, 2, 8)})) == []


def test_a_year_the_calendar_does_not_know_still_keeps_the_holidays_the_law_dates():
    """In a year the package does not know yet, New Year's Day, 1-2 May and 1-3 October are days off
    (their dates are fixed by law) and count no silence; the other weekdays count, the weekend does not."""
    year = KNOWN_YEARS.stop  # the first year the package does not know
    fixed = [date(year, 1, 1), date(year, 5, 1), date(year, 5, 2), date(year, 10, 1), date(year, 10, 2),
             date(year, 10, 3)]
    assert not any(is_workday(d) for d in fixed)
    assert is_workday(date(year, 10, 4)) == (date(year, 10, 4).weekday() < 5)
    assert all(is_workday(d) for d in (date(year, 1, 2 + i) for i in range(7)) if d.weekday() < 5)
    # the team's own extra working day still wins
    assert is_workday(date(year, 5, 1), extra_workdays=frozenset({date(year, 5, 1)}))
    # a silence from 09:00 on 31 December to 09:00 on 2 January: New Year's Day does not count
    start, end = utc(year - 1, 12, 31, 9), utc(year, 1, 2, 9)
    expect = 15 * is_workday(date(year - 1, 12, 31)) + 9 * is_workday(date(year, 1, 2))
    assert CLOCK.elapsed_hours(start, end) == expect
