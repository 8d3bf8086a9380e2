"""The admins hear, once a week with the 09:00 card, that the holiday calendar does not know the coming
year, until the rules file lists that year's days off (bot/jobs/calendar_gap.py)."""
from __future__ import annotations

from datetime import date, datetime, timedelta

from bot.jobs.daily import daily
from bot.render import render_text
from handlers.messages import Reply
from rules.calendar import KNOWN_YEARS, is_workday
from storage import people
from tests.bot.test_jobs import local, rows, run
from tests.bot.test_quiet_hours import runtime as quiet_hours_runtime

LAST = KNOWN_YEARS.stop - 1  # the last year the calendar package knows
NEXT = LAST + 1


def working_monday_of_december() -> date:
    d = date(LAST, 12, 1)
    while d.weekday() != 0 or not is_workday(d):
        d += timedelta(days=1)
    return d


def runtime(url, tmp_path, days_off=(), start: date | None = None, admin: bool = True):
    monday = start or working_monday_of_december()
    rt = quiet_hours_runtime(url, morning(monday), tmp_path, days_off=days_off)  # 东区: boss, alice, bob; no admin
    with rt.database.connection_context():
        west = people.ensure_team("西区")
        people.upsert_rep(west, "west_boss", "周强", "manager")
        if admin:
            people.upsert_rep(west, "it", "陈工", "admin")
        people.upsert_rep(west, "carol", "刘芳", "rep")
    return rt, monday


def notices(rt):
    return [(key, to, payload) for key, to, payload in rows(rt) if key.startswith("calendar:")]


def morning(day: date) -> datetime:
    return local(day.year, day.month, day.day, 9, 5)


def test_the_admin_hears_once_a_week_that_next_year_is_unknown(sqlite_url, tmp_path):
    rt, monday = runtime(sqlite_url, tmp_path)
    run(rt, daily, morning(monday))
    first = notices(rt)
    # the rules file is one for every team: the admin (in 西区) hears it, no manager and no rep does
    assert [to for _, to, _ in first] == ["it"]
    text = render_text(Reply.from_dict(first[0][2]))
    assert f"{NEXT}年" in text and "days_off" in text and "extra_workdays" in text and "春节" in text
    for later in (monday + timedelta(days=i) for i in range(1, 5)):  # the rest of the week: nothing new
        if is_workday(later):
            run(rt, daily, morning(later))
    assert notices(rt) == first
    run(rt, daily, morning(monday + timedelta(days=7)))  # the next Monday: once more
    assert [to for _, to, _ in notices(rt)] == ["it", "it"]


def test_without_an_admin_every_teams_managers_hear_it(sqlite_url, tmp_path):
    rt, monday = runtime(sqlite_url, tmp_path, admin=False)
    run(rt, daily, morning(monday))
    assert sorted(to for _, to, _ in notices(rt)) == ["boss", "west_boss"]


def test_the_notice_starts_31_days_before_the_new_year(sqlite_url, tmp_path):
    from bot.jobs.calendar_gap import calendar_notices
    from storage.scan_queries import active_reps
    rt, _ = runtime(sqlite_url, tmp_path)
    with rt.database.connection_context():
        reps = active_reps()
    assert calendar_notices(rt, date(LAST, 11, 30), reps) == []  # New Year's Day is 32 days away
    assert [r[2] for r in calendar_notices(rt, date(LAST, 12, 1), reps)] == ["it"]  # 31 days


def test_no_notice_once_the_rules_file_lists_the_year(sqlite_url, tmp_path):
    rt, monday = runtime(sqlite_url, tmp_path, days_off=[f"{NEXT}-02-08"])
    run(rt, daily, morning(monday))
    assert rows(rt, recipient="alice") and not notices(rt)  # the cards went out, no notice


def test_no_notice_more_than_a_month_before_the_new_year(sqlite_url, tmp_path):
    day = date(LAST, 11, 25)
    while not is_workday(day):
        day -= timedelta(days=1)
    rt, _ = runtime(sqlite_url, tmp_path, start=day)
    run(rt, daily, morning(day))
    assert rows(rt, recipient="alice") and not notices(rt)
