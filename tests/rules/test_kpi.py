"""The manager's numbers: the reference case's arithmetic, each KPI on a small hand-built history with
known answers (pure, then through storage/kpi_queries.py on SQLite, PostgreSQL and MariaDB), periods, targets."""
from __future__ import annotations

from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from rules import kpi as K
from rules.funnel import RulesError, load_funnel, parse_funnel

TZ = ZoneInfo("Asia/Shanghai")
FUNNEL = load_funnel()


def at(month: int, day: int, hour: int = 2, year: int = 2026) -> datetime:
    """Naive UTC; 02:00 UTC is 10:00 in Shanghai, so the local day is the same day."""
    return datetime(year, month, day, hour)


# -- the reference case (PRODUCT.md) ---------------------------------------------------------------

def test_reference_case_28_to_19_days_is_32_1_percent():
    assert K.compression(28, 19) == 32.1
    assert f"{K.compression(28, 19):.1f}%" == "32.1%"
    assert K.compression(None, 19) is None and K.compression(28, None) is None and K.compression(0, 5) is None


def test_reference_case_cycle_from_the_deals_themselves():
    """September: deals won after 20, 28 and 36 days (mean 28); October: 15, 19 and 23 (mean 19)."""
    def won(i, created, days):
        return K.DealRow(i, i, 1, 10000, "won", "closed", created, created + timedelta(days=days), created)
    sept = [won(1, at(8, 20), 20), won(2, at(8, 10), 28), won(3, at(8, 5), 36)]
    octo = [won(4, at(9, 20), 15), won(5, at(9, 25), 19), won(6, at(9, 30), 23)]
    s = K.sales_cycle(sept + octo, at(9, 1, 0), at(10, 1, 0))
    o = K.sales_cycle(sept + octo, at(10, 1, 0), at(11, 1, 0))
    assert (s.mean_days, s.deals, o.mean_days, o.deals) == (28, 3, 19, 3)
    assert K.compression(s.mean_days, o.mean_days) == 32.1


# -- periods ---------------------------------------------------------------------------------------

@pytest.mark.parametrize("text, kind, start, end, key", [
    ("2026-Q4", "quarter", date(2026, 10, 1), date(2027, 1, 1), "2026-Q4"),
    ("2026q1", "quarter", date(2026, 1, 1), date(2026, 4, 1), "2026-Q1"),
    ("2026年第四季度", "quarter", date(2026, 10, 1), date(2027, 1, 1), "2026-Q4"),
    ("2026-11", "month", date(2026, 11, 1), date(2026, 12, 1), "2026-11"),
    ("2026-12", "month", date(2026, 12, 1), date(2027, 1, 1), "2026-12"),
    ("2026年2月", "month", date(2026, 2, 1), date(2026, 3, 1), "2026-02"),
    ("this week", "week", date(2026, 11, 23), date(2026, 11, 30), "2026-W48"),
    ("本周", "week", date(2026, 11, 23), date(2026, 11, 30), "2026-W48"),
    ("last week", "week", date(2026, 11, 16), date(2026, 11, 23), "2026-W47"),
    ("上周", "week", date(2026, 11, 16), date(2026, 11, 23), "2026-W47"),
    ("上月", "month", date(2026, 10, 1), date(2026, 11, 1), "2026-10"),
    ("本季度", "quarter", date(2026, 10, 1), date(2027, 1, 1), "2026-Q4"),
    ("2026-W01", "week", date(2025, 12, 29), date(2026, 1, 5), "2026-W01"),
])
def test_parse_period(text, kind, start, end, key):
    p = K.parse_period(text, date(2026, 11, 27))  # a Friday
    assert (p.kind, p.start, p.end, p.key) == (kind, start, end, key)


@pytest.mark.parametrize("text", ["", "2026-13", "2026-Q5", "明年", "2026-W60"])
def test_not_a_period(text):
    assert K.parse_period(text, date(2026, 11, 27)) is None


def test_previous_periods_and_bounds():
    assert K.parse_period("2026-Q1", date.today()).previous().key == "2025-Q4"
    assert K.parse_period("2026-01", date.today()).previous().key == "2025-12"
    assert K.parse_period("2026-03", date.today()).previous().key == "2026-02"
    assert K.week_of(date(2026, 1, 1)).previous().key == "2025-W52"
    assert K.last_days(date(2026, 11, 27), 30).previous().end == date(2026, 10, 29)
    # local midnight in Shanghai is 16:00 UTC the day before
    nov = K.parse_period("2026-11", date.today())
    assert nov.bounds(TZ) == (datetime(2026, 10, 31, 16), datetime(2026, 11, 30, 16))
    assert K.week_of(date(2026, 11, 27)).target_key == "2026-Q4"
    assert K.parse_period("2026-11", date.today()).target_key == "2026-11"


def test_weekly_review_time_is_a_rules_setting():
    assert FUNNEL.schedule.weekly_review_at == (0, datetime.strptime("09:30", "%H:%M").time())
    raw = {**_raw(), "schedule": {"weekly_review_at": "Fri 17:00"}}
    assert parse_funnel(raw).schedule.weekly_review_at[0] == 4
    raw["schedule"] = {"weekly_review_at": "周一 08:45"}
    assert parse_funnel(raw).schedule.weekly_review_at == (0, datetime.strptime("08:45", "%H:%M").time())
    raw["schedule"] = {"weekly_review_at": "Monday morning"}
    with pytest.raises(RulesError, match="weekly_review_at.*Fix"):
        parse_funnel(raw)


def _raw() -> dict:
    import tomllib
    from rules.funnel import DEFAULT_RULES
    return tomllib.loads(DEFAULT_RULES.read_text(encoding="utf-8"))


# -- each KPI on a small hand-built history (pure) ---------------------------------------------------

def test_follow_up_interval_per_customer_and_rep():
    rows = [K.CustomerActivity(1, 10, 3, at(11, 2), at(11, 8)),  # gaps 2 and 4 days: 3.0
            K.CustomerActivity(2, 10, 2, at(11, 10), at(11, 11)),  # 1.0
            K.CustomerActivity(3, 20, 2, at(11, 3), at(11, 13)),  # 10.0
            K.CustomerActivity(4, 20, 1, at(11, 5), at(11, 5))]  # one activity: not counted
    f = K.followup_intervals(rows)
    assert f.customers == 3 and f.mean_days == pytest.approx(14 / 3)
    assert f.by_rep == {10: (2.0, 2), 20: (10.0, 1)}
    assert K.followup_intervals([]).mean_days is None


def test_high_health_is_the_score_on_the_closing_day_else_the_flag():
    def closed(i, status, day, high_intent=False):
        return K.DealRow(i, i, 1, 1, status, "closed", at(10, 1), at(11, day), at(10, 1), None, high_intent)
    data = K.KpiInput(start=at(11, 1, 0), until=at(12, 1, 0), deals=[
        closed(1, "won", 7), closed(2, "lost", 12), closed(3, "lost", 20),
        closed(4, "won", 25, high_intent=True), closed(5, "won", 26)],
        scores={(1, date(2026, 11, 7)): 80, (1, date(2026, 11, 6)): 10, (2, date(2026, 11, 12)): 90,
                (4, date(2026, 11, 24)): 95, (5, date(2026, 11, 26)): 74})
    h = K.health_conversion(data, TZ)
    # high: 1 (80), 2 (90), 4 (no score that day: flag) -> 2 won of 3; rest: 3, 5 (74) -> 1 of 2
    assert (h.high_won, h.high_closed, h.rest_won, h.rest_closed) == (2, 3, 1, 2)
    assert h.high_rate == pytest.approx(2 / 3) and h.rest_rate == 0.5


def test_close_day_is_local():
    # 2026-11-07 17:00 UTC is 11-08 01:00 in Shanghai
    d = K.DealRow(1, 1, 1, 1, "won", "closed", at(10, 1), datetime(2026, 11, 7, 17), at(10, 1))
    assert K.is_high_health(d, {(1, date(2026, 11, 8)): 75}, TZ)
    assert not K.is_high_health(d, {(1, date(2026, 11, 7)): 99}, TZ)


# -- the whole history, through storage -------------------------------------------------------------

def build_history(database) -> dict:
    """Team 东区 (alice, bob; boss) in November 2026, with known answers (see test below)."""
    from storage.models import Activity, Customer, Deal, HealthScore, Rep, StageChange, Target, Team, Warning
    with database.atomic():
        team = Team.create(name="东区")
        other = Team.create(name="西区")
        boss = Rep.create(team=team, name="李岩", role="manager", local_id="boss")
        alice = Rep.create(team=team, name="王磊", local_id="alice")
        bob = Rep.create(team=team, name="张敏", local_id="bob")
        carol = Rep.create(team=other, name="陈静", local_id="carol")
        ids = {"team": team.id, "other": other.id, "boss": boss.id, "alice": alice.id, "bob": bob.id}

        def customer(name, owner, high_intent=False, t=team):
            return Customer.create(team=t, owner=owner, name=name, created_at=at(9, 1), high_intent=high_intent)

        def deal(c, owner, amount, moves, status="open", last=None, t=team):
            """moves: [(stage, at)]; the closing stage closes the deal with `status`."""
            first, end = moves[0][1], moves[-1]
            closed = end[1] if status != "open" else None
            d = Deal.create(customer=c, owner=owner, team=t, amount=amount, stage=end[0], status=status,
                            created_at=first, stage_entered_at=end[1], last_movement_at=last or end[1],
                            closed_at=closed, last_activity_at=last)
            prev = None
            for stage, when in moves:
                StageChange.create(deal=d, from_stage=prev, to_stage=stage, rep=owner, at=when)
                prev = stage
            return d

        def acts(c, owner, *days, d=None):
            for m, day in days:
                Activity.create(customer=c, deal=d, rep=owner, kind="visit", text="", at=at(m, day))

        c1, c2, c3 = customer("华联超市", alice), customer("华联便利店", alice), customer("永辉超市", bob)
        c4, c5 = customer("物美超市", bob, high_intent=True), customer("家乐福", bob)
        c6, c7, c8 = customer("联华超市", alice), customer("世纪联华", alice), customer("百佳", bob)
        # won 11-07 after 19 days, via negotiation (skipping stages); high health that day (80)
        d1 = deal(c1, alice, 80000, [("initial_contact", at(10, 19)), ("negotiation", at(11, 3)),
                                     ("closed", at(11, 7))], "won")
        # lost 11-12 from stage 1; high health that day; an orange warning before it was lost
        d2 = deal(c2, alice, 30000, [("initial_contact", at(10, 1)), ("closed", at(11, 12))], "lost")
        # lost 11-20 from stage 2; no score, not high intent; warned only after it was lost
        d3 = deal(c3, bob, 50000, [("initial_contact", at(10, 5)), ("needs_confirmed", at(10, 15)),
                                   ("closed", at(11, 20))], "lost")
        # won 11-25 after 23 days; no score that day but the customer is high intent
        deal(c4, bob, 20000, [("initial_contact", at(11, 2)), ("closed", at(11, 25))], "won")
        # open, in proposal since 11-10: red at the end of November, warned orange on 11-13
        d5 = deal(c5, bob, 50000, [("initial_contact", at(11, 1)), ("proposal", at(11, 10))])
        # open, a visit on 11-28: only yellow at the end
        d6 = deal(c6, alice, 10000, [("initial_contact", at(11, 20))], last=at(11, 28))
        # open, in needs_confirmed since 11-05: red at the end, never warned
        deal(c7, alice, 10000, [("initial_contact", at(11, 3)), ("needs_confirmed", at(11, 5))])
        # October: won after 28 days (the baseline's cycle)
        deal(c8, bob, 60000, [("initial_contact", at(9, 12)), ("closed", at(10, 10))], "won")
        # another team's won deal: never in 东区's numbers
        cx = customer("外团队客户", carol, t=other)
        deal(cx, carol, 999999, [("initial_contact", at(11, 2)), ("closed", at(11, 4))], "won", t=other)

        acts(c1, alice, (11, 2), (11, 4), (11, 8), d=d1)  # gaps 2, 4: 3.0 days
        acts(c2, alice, (11, 10), (11, 11))  # 1.0
        acts(c3, bob, (10, 31), (11, 3), (11, 13))  # in November: 10.0 (10-31 is outside)
        acts(c4, bob, (11, 5))  # one activity: not counted
        acts(c6, alice, (11, 28), d=d6)  # one activity
        acts(cx, carol, (11, 2), (11, 3))  # another team
        Warning.create(deal=d2, level="orange", since=at(11, 1), at=at(11, 5), scan="s")
        Warning.create(deal=d2, level="yellow", since=at(11, 1), at=at(11, 4), scan="s")
        Warning.create(deal=d3, level="red", since=at(11, 15), at=at(11, 21), scan="s")
        from storage.models import ManagerAction
        ManagerAction.create(deal=d2, manager=boss, kind="nudge", at=at(11, 10))  # before the loss
        ManagerAction.create(deal=d3, manager=boss, kind="take", at=at(11, 25))  # after the loss: too late
        Activity.create(customer=c5, deal=d5, rep=boss, kind="call", text="主管致电决策人", at=at(11, 20))
        Warning.create(deal=d5, level="yellow", since=at(11, 10), at=at(11, 12), scan="s")
        Warning.create(deal=d5, level="orange", since=at(11, 10), at=at(11, 13), scan="s")
        for c, day, score in ((c1, 7, 80), (c1, 6, 10), (c2, 12, 90), (c4, 24, 95), (c3, 19, 99)):
            HealthScore.create(customer=c, day=date(2026, 11, day), score=score, parts="{}")
        Target.create(team=team, period="2026-11", amount=80000)
        Target.create(team=other, period="2026-11", amount=1)
    return ids


def test_every_kpi_on_a_hand_built_history_on_each_database(db_url):
    from handlers.report import team_numbers, team_numbers_vs
    from storage import kpi_queries as store
    from storage.database import migrate_database, open_database
    database = open_database(db_url)
    migrate_database(database)
    with database.connection_context():
        ids = build_history(database)
        nov = K.parse_period("2026-11", date(2026, 12, 2))
        k = team_numbers(FUNNEL, TZ, ids["team"], nov, at(12, 2))
        before = team_numbers(FUNNEL, TZ, ids["team"], nov.previous(), at(12, 2))
        # a period and its baseline read together give the same numbers as read apart
        assert team_numbers_vs(FUNNEL, TZ, ids["team"], [nov, nov.previous()], at(12, 2)) == [k, before]
        reps = store.reps_of(ids["team"])

    # follow-up interval: customers 3.0, 1.0 and 10.0 days; alice 2.0, bob 10.0
    assert k.followup.customers == 3 and k.followup.mean_days == pytest.approx(14 / 3)
    assert k.followup.by_rep == {ids["alice"]: (2.0, 2), ids["bob"]: (10.0, 1)}
    # high health: d1 won (80), d2 lost (90), d4 won (flag) -> 2/3; the rest: d3 lost (99 was the day before)
    h = k.health
    assert (h.high_won, h.high_closed, h.rest_won, h.rest_closed) == (2, 3, 0, 1)
    # warning coverage (预警覆盖率, called 提前干预率 before issue 17): lost d2 (orange before), d3 (red
    # after); stalled d5 (orange), d7 (none)
    iv = k.intervention
    assert (iv.lost, iv.stalled, iv.flagged_lost, iv.flagged_stalled) == (2, 2, 1, 1) and iv.warned_rate == 0.5
    # intervention ahead of time (提前干预率): a manager nudged d2 before it was lost, took d3 over after
    # the loss (too late), and logged a call on the stalled d5 (answering the rep's call for help)
    assert (iv.acted_lost, iv.acted_stalled) == (1, 1) and iv.rate == 0.5
    # sales cycle: 19 and 23 days -> 21; October 28 -> compression 25.0 %
    assert k.cycle.deals == 2 and k.cycle.mean_days == pytest.approx(21)
    assert before.cycle.mean_days == pytest.approx(28)
    assert K.compression(before.cycle.mean_days, k.cycle.mean_days) == 25.0
    # totals and the target (won 80000 + 20000 against 80000)
    assert k.won == (2, 100000) and k.lost == (2, 80000) and k.created == 4 and k.open_at_end == 3
    assert k.close_rate == 0.5
    assert (k.attainment.key, k.attainment.target, k.attainment.won) == ("2026-11", 80000, 100000)
    assert k.attainment.rate == 1.25
    # stage flow
    s = {f.key: f for f in k.stages}
    ic = s["initial_contact"]
    assert (ic.present, ic.entered, ic.advanced, ic.lost, ic.back, ic.waiting) == (6, 4, 4, 1, 0, 1)
    assert ic.conversion == pytest.approx(4 / 6)
    assert ic.avg_days == pytest.approx((15 + 42 + 23 + 9 + 2) / 5)  # d1, d2, d4, d5, d7
    assert ic.waiting_days == pytest.approx(10 + 14 / 24)  # d6: 11-20 02:00 to 11-30 16:00 UTC
    nc = s["needs_confirmed"]
    assert (nc.present, nc.advanced, nc.lost, nc.stalled, nc.avg_days) == (2, 0, 1, 1, 36)
    assert (s["proposal"].stalled, s["proposal"].waiting) == (1, 1)
    ng = s["negotiation"]
    assert (ng.present, ng.advanced, ng.avg_days, ng.conversion) == (1, 1, 4, 1.0)
    assert s["decision_chain"].present == 0 and s["decision_chain"].conversion is None
    # where deals stall: the two stages with a red deal (longest wait first), then stage 1
    assert [f.key for f in k.stalls(3)] == ["needs_confirmed", "proposal", "initial_contact"]
    assert reps[ids["alice"]][0] == "王磊"


def test_a_past_period_is_rebuilt_from_history(sqlite_url):
    """October: d5 and d7 did not exist yet, d2/d3 were open; d3 sat in needs_confirmed since 10-15."""
    from handlers.report import team_numbers
    from storage.database import migrate_database, open_database
    database = open_database(sqlite_url)
    migrate_database(database)
    with database.connection_context():
        ids = build_history(database)
        octo = team_numbers(FUNNEL, TZ, ids["team"], K.parse_period("2026-10", date.today()), at(12, 2))
        week = team_numbers(FUNNEL, TZ, ids["team"], K.week_of(date(2026, 11, 16)), at(12, 2))
    # end of October: d2 (stage 1 since 10-01) and d3 (stage 2 since 10-15) red; d1 moved 10-19: 12 days, red
    assert octo.intervention.stalled == 3 and octo.intervention.flagged == 0
    assert octo.won == (1, 60000) and octo.cycle.mean_days == pytest.approx(28)
    assert octo.attainment is None  # no October target
    # week of 11-16: d3 lost 11-20 (warned only after); stalled at its end: d5 (since 11-10, orange on 11-13),
    # d7, and d4, won later (11-25) but silent since 11-02 back then; d6 (since 11-20) is not red yet
    iv = week.intervention
    assert (iv.lost, iv.stalled, iv.flagged_lost, iv.flagged_stalled) == (1, 3, 0, 1)
    # a week is measured against its quarter's target; none set for 2026-Q4
    assert week.attainment is None


def test_admin_scope_is_every_team(sqlite_url):
    from handlers.report import team_numbers
    from storage.database import migrate_database, open_database
    database = open_database(sqlite_url)
    migrate_database(database)
    with database.connection_context():
        build_history(database)
        k = team_numbers(FUNNEL, TZ, None, K.parse_period("2026-11", date.today()), at(12, 2))
    assert k.won == (3, 1099999) and k.followup.customers == 4
    assert (k.attainment.target, k.attainment.won) == (80001, 1099999)


def test_set_target_upserts(sqlite_url):
    from storage import kpi_queries as store
    from storage.database import migrate_database, open_database
    from storage.models import Target, Team
    database = open_database(sqlite_url)
    migrate_database(database)
    with database.connection_context():
        Team.create(name="东区")
        assert store.set_target("东区", "2026-Q4", 800000)[1] is True
        assert store.set_target("东区", "2026-Q4", 900000)[1] is False
        assert store.set_target("火星", "2026-Q4", 1) is None
        assert [(t.period, t.amount) for t in Target.select()] == [("2026-Q4", 900000)]


def test_each_reps_own_target_and_a_team_measured_against_their_sum_on_each_database(db_url):
    """November: 东区 has a team target (80000); 王磊 (alice) won d1 (80000), 张敏 (bob) d4 (20000). October:
    no team target, the reps' own targets (50000 + 70000) stand in for it; bob won d8 (60000)."""
    from handlers.report import rep_target, team_numbers
    from storage import kpi_queries
    from storage.database import migrate_database, open_database
    database = open_database(db_url)
    migrate_database(database)
    with database.connection_context():
        ids = build_history(database)
        alice, bob = ids["alice"], ids["bob"]
        kpi_queries.set_rep_target(alice, "2026-11", 100000, ids["boss"], at(11, 1))
        kpi_queries.set_rep_target(alice, "2026-10", 50000, ids["boss"], at(10, 1))
        kpi_queries.set_rep_target(bob, "2026-10", 70000, None, None)
        nov = team_numbers(FUNNEL, TZ, ids["team"], K.parse_period("2026-11", date(2026, 12, 2)), at(12, 2))
        octo = team_numbers(FUNNEL, TZ, ids["team"], K.parse_period("2026-10", date(2026, 12, 2)), at(12, 2))
        every = team_numbers(FUNNEL, TZ, None, K.parse_period("2026-10", date(2026, 12, 2)), at(12, 2))
    a = nov.rep_attainment[alice]
    assert (a.key, a.target, a.won, a.rate) == ("2026-11", 100000, 80000, 0.8)
    assert bob not in nov.rep_attainment  # no November target of his own
    assert (nov.attainment.target, nov.attainment.won, nov.attainment.summed_reps) == (80000, 100000, 0)
    assert (octo.attainment.target, octo.attainment.won, octo.attainment.summed_reps) == (120000, 60000, 2)
    assert octo.rep_attainment[bob].won == 60000 and octo.rep_attainment[alice].won == 0
    # every team: 东区 by its reps' sum; 西区 has no October target at all, so its wins do not count
    assert (every.attainment.target, every.attainment.won) == (120000, 60000)
    nov_p = K.parse_period("2026-11", date(2026, 12, 2))
    assert rep_target(nov, alice, "王磊", nov_p)["now"] == "80%"
    assert rep_target(nov, bob, "张敏", nov_p) == {
        "id": bob, "name": "张敏", "now": "未设目标", "rate": None, "set": False,
        "detail": "主管发「目标 张敏 2026-11 50万」设置"}


def test_setting_a_reps_target_twice_keeps_one_row(sqlite_url):
    from storage import kpi_queries
    from storage.database import migrate_database, open_database
    from storage.models import Rep, RepTarget, Team
    database = open_database(sqlite_url)
    migrate_database(database)
    with database.connection_context():
        rep = Rep.create(team=Team.create(name="东区"), name="王磊", local_id="alice")
        assert kpi_queries.set_rep_target(rep.id, "2026-Q4", 500000, None, at(11, 1)) is None
        assert kpi_queries.set_rep_target(rep.id, "2026-Q4", 600000, None, at(11, 2)) == 500000
        assert [(t.period, t.amount, t.set_at) for t in RepTarget.select()] == [("2026-Q4", 600000, at(11, 2))]


def test_a_database_from_before_rep_targets_gets_the_table_on_each_database(db_url):
    from storage import kpi_queries
    from storage.database import latest_version, migrate_database, open_database
    from storage.models import RepTarget, SchemaVersion, Target, Team
    database = open_database(db_url)
    migrate_database(database)
    with database.connection_context():  # as a version-40 database, before rep_target existed
        database.drop_tables([RepTarget])
        SchemaVersion.update(version=40).execute()
        Target.create(team=Team.create(name="东区"), period="2026-Q4", amount=3000000)
    assert migrate_database(database) == latest_version() >= 60
    with database.connection_context():
        assert database.table_exists("rep_target")
        assert kpi_queries.targets_set(Team.get().id, "2026-Q4") == (3000000, {})
