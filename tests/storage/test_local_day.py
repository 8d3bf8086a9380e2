"""Days with activity are the team's local days (Asia/Shanghai), not UTC days, on every database: a log at
07:30 and one at 08:30 Shanghai time are one day (07:30 is the day before in UTC); 23:30 and 00:30 are two
(both fall on one UTC day)."""
from __future__ import annotations

from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from rules import kpi as K
from rules.funnel import load_funnel

TZ = ZoneInfo("Asia/Shanghai")


def shanghai(day: int, hour: int, minute: int = 0) -> datetime:
    """A Shanghai wall-clock time in November 2026 as naive UTC, the way times are stored."""
    return (datetime(2026, 11, day, hour, minute, tzinfo=TZ).astimezone(ZoneInfo("UTC"))).replace(tzinfo=None)


@pytest.fixture
def history(db_url):
    from storage.database import migrate_database, open_database
    from storage.models import Activity, Customer, Rep, Team
    database = open_database(db_url)
    migrate_database(database)
    with database.connection_context():
        team = Team.create(name="东区")
        rep = Rep.create(team=team, name="王磊", local_id="alice")

        def customer(name, *times):
            c = Customer.create(team=team, owner=rep, name=name, created_at=shanghai(1, 10))
            for t in times:
                Activity.create(customer=c, rep=rep, kind="visit", text="拜访", at=t)
            return c.id
        ids = {
            "team": team.id, "rep": rep.id,
            # Monday 11-16 07:30 and 08:30: one local day (UTC: Sunday 11-15 23:30 and 11-16 00:30); then 11-18
            "morning": customer("华联超市", shanghai(16, 7, 30), shanghai(16, 8, 30), shanghai(18, 10)),
            # 11-10 23:30 and 11-11 00:30: two local days (UTC: both on 11-10)
            "midnight": customer("永辉超市", shanghai(10, 23, 30), shanghai(11, 0, 30)),
        }
    yield database, ids
    database.close()


def test_the_helper_gives_the_local_date_on_each_database(history):
    from peewee import fn

    from storage.localday import local_date
    from storage.models import Activity
    database, ids = history
    with database.connection_context():
        day = local_date(Activity.at, TZ)
        rows = (Activity.select(Activity.customer, fn.COUNT(day.distinct()), fn.MIN(day), fn.MAX(day))
                .group_by(Activity.customer).tuples())
        got = {c: (int(n), str(a)[:10], str(b)[:10]) for c, n, a, b in rows}
    assert got[ids["morning"]] == (2, "2026-11-16", "2026-11-18")
    assert got[ids["midnight"]] == (2, "2026-11-10", "2026-11-11")


def test_the_follow_up_interval_counts_local_days_on_each_database(history):
    """07:30 + 08:30 on 11-16, then 11-18: two days, 2.0 days apart (by UTC days it would be three days and
    1.5); 23:30 and 00:30: two days, 1.0 apart (by UTC one day, and the customer would not count)."""
    from handlers.report import team_numbers
    database, ids = history
    with database.connection_context():
        k = team_numbers(load_funnel(), TZ, ids["team"], K.parse_period("2026-11", date(2026, 12, 2)),
                         datetime(2026, 12, 2))
    assert k.followup.customers == 2
    assert k.followup.mean_days == pytest.approx((2.0 + 1.0) / 2)
    assert k.followup.by_rep == {ids["rep"]: (pytest.approx(1.5), 2)}


def test_the_weekly_trend_puts_an_early_monday_log_in_its_local_week(history):
    """The 07:30 log of Monday 11-16 is that week's (in UTC it is Sunday's, the week before)."""
    from storage import dashboard_queries
    database, ids = history
    weeks = [K.week_of(date(2026, 11, 2)), K.week_of(date(2026, 11, 9)), K.week_of(date(2026, 11, 16))]
    start, end = weeks[0].bounds(TZ)[0], weeks[-1].bounds(TZ)[1]
    with database.connection_context():
        raw = dashboard_queries.trend_rows(ids["team"], None, start, end, TZ)
    days = dict(raw["activity_days"])
    assert days == {date(2026, 11, 16): 2, date(2026, 11, 18): 1, date(2026, 11, 10): 1, date(2026, 11, 11): 1}
    rows = K.weekly_trend(weeks, [], [], [], raw["activity_days"], TZ)
    assert [r.activities for r in rows] == [0, 2, 3]


def test_the_offset_of_a_zone():
    from datetime import timezone

    from storage.localday import offset_minutes
    assert offset_minutes(TZ) == 480
    assert offset_minutes(timezone.utc) == 0
    assert offset_minutes(timezone(timedelta(hours=-5, minutes=-30))) == -330
    ny = ZoneInfo("America/New_York")
    assert offset_minutes(ny, datetime(2026, 7, 1)) == -240 and offset_minutes(ny, datetime(2026, 1, 1)) == -300
