"""The cockpit's pure definitions: the suggested action, lost-reason groups, weekly trends, and the
wording of the numbers (a longer cycle is not "compressed", a small sample says so)."""
from __future__ import annotations

from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

from handlers.report import cycle_change, metric, pct
from rules import kpi as K
from rules.advice import suggested_action

NOW = datetime(2026, 11, 27, 2, 0)
TZ = ZoneInfo("Asia/Shanghai")


def test_the_suggested_action_follows_the_level_and_the_next_step():
    red = suggested_action("red", "主管致电决策人", "发方案", NOW - timedelta(days=3), NOW)
    assert (red.text, red.who, red.overdue_days) == ("主管致电决策人", "manager", 3)
    assert suggested_action("red", "", None, None, NOW).text == "主管与销售沟通，明确下一步"
    taken = suggested_action("red", "主管致电决策人", None, None, NOW, intervened=True)
    assert taken.who == "rep" and taken.text.startswith("主管已介入")
    late = suggested_action("orange", "x", "发报价", NOW - timedelta(hours=30), NOW)
    assert late.who == "rep" and "已逾期1天" in late.text and "发报价" in late.text
    assert "约定下一步" in suggested_action("yellow", "x", None, None, NOW).text
    assert suggested_action("orange", "x", "发报价", NOW + timedelta(days=1), NOW).text == "今天必须联系客户，确认下一步"
    assert suggested_action(None, "x", "发报价", NOW + timedelta(days=1), NOW).overdue_days == 0


def test_lost_reasons_group_by_their_first_clause():
    def lost(i, reason, amount=10000):
        return K.DealRow(i, i, 1, amount, "lost", "closed", NOW, NOW, NOW, lost_reason=reason)
    rows = [lost(1, "价格，对方压到8折", 50000), lost(2, "价格"), lost(3, "选了竞品: 某某"), lost(4, None),
            lost(5, "  ")]
    assert K.lost_reasons(rows) == (("价格", 2, 60000), ("未写原因", 2, 20000), ("选了竞品", 1, 10000))


def test_weekly_trend_puts_each_event_in_its_local_week():
    weeks = K.last_weeks(date(2026, 11, 27), 3)
    assert [w.key for w in weeks] == ["2026-W46", "2026-W47", "2026-W48"]
    # Sunday 11-22 23:30 local is 15:30 UTC: week 47; Monday 11-23 00:30 local is Sunday 16:30 UTC: week 48
    won = [(datetime(2026, 11, 22, 15, 30), 80000), (datetime(2026, 11, 22, 16, 30), 20000)]
    rows = K.weekly_trend(weeks, won, [(datetime(2026, 11, 10), 5)], [datetime(2026, 11, 26)],
                          [(date(2026, 11, 24), 7), (date(2026, 11, 1), 99)], TZ)
    assert [(r.won, r.won_amount, r.lost, r.created, r.activities) for r in rows] == \
        [(0, 0, 1, 0, 0), (1, 80000, 0, 0, 0), (1, 20000, 0, 1, 7)]


def test_the_wording_of_the_numbers():
    assert cycle_change(K.compression(28, 19), 3) == "3个赢单，比上期压缩 32.1%"
    assert cycle_change(K.compression(19, 24.8), 2) == "2个赢单，比上期延长 30.5%"
    assert cycle_change(None, 0) == "本期没有赢单"
    small = metric("成交率", 0.5, 0.2, pct, "赢单1个", sample=2)
    assert small["small"] and "样本少，仅2个" in small["detail"] and small["now"] == "50%"
    assert not metric("成交率", 0.5, 0.2, pct, "x", sample=40)["small"]
    assert not metric("成交率", None, None, pct, "x", sample=0)["small"]


def test_intervention_ahead_of_time_is_the_managers_action_before_the_loss():
    until = NOW
    start = NOW - timedelta(days=30)
    lost = [K.DealRow(i, i, 1, 1000, "lost", "closed", start, NOW - timedelta(days=2), NOW - timedelta(days=2))
            for i in (1, 2, 3)]
    data = K.KpiInput(start=start, until=until, deals=lost,
                      first_action={1: NOW - timedelta(days=5), 2: NOW - timedelta(days=1)},
                      first_flag={1: NOW - timedelta(days=6), 3: NOW - timedelta(days=6)})
    from rules.funnel import load_funnel
    iv = K.compute(data, load_funnel(None), TZ).intervention
    assert (iv.lost, iv.acted_lost, iv.flagged_lost) == (3, 1, 2)  # deal 2's action came after the loss
    assert iv.rate == 1 / 3 and iv.warned_rate == 2 / 3
