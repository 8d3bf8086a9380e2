"""`周报` / `report` and `漏斗` / `funnel` as the manager uses them in chat, after a week of real commands."""
from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from bot.clock import FixedClock
from bot.jobs.scan import scan
from tests.conftest import make_runtime
from tests.helpers import Chat, small_team

SHANGHAI = timezone(timedelta(hours=8))


def local(*args) -> datetime:
    return datetime(*args, tzinfo=SHANGHAI)


@pytest.fixture
def rt(sqlite_url):
    rt = make_runtime(sqlite_url, FixedClock(local(2026, 11, 2, 10, 0)))  # Monday 10:00
    small_team(rt)
    return rt


def at(rt, *when):
    rt.clock.set(local(*when))


def a_week(rt) -> Chat:
    """Monday 11-02: three deals in stage 1. alice visits 华联超市 Monday and Wednesday and moves it on;
    the Thursday scan warns the two silent deals orange; bob loses 永辉超市 Thursday afternoon."""
    chat = Chat(rt)
    chat.say("alice", "拜访 华联超市 见了采购总监王总")
    at(rt, 2026, 11, 4, 10, 0)
    chat.say("alice", "拜访 华联超市 聊了需求")
    assert "需求确认" in chat.say("alice", "推进 华联超市 需求确认")
    at(rt, 2026, 11, 5, 10, 30)
    with rt.database.connection_context():
        assert scan(rt, rt.now())["fired"]["orange"] == 2
    at(rt, 2026, 11, 5, 15, 0)
    assert "输单" in chat.say("bob", "输单 永辉超市 原因:价格")
    at(rt, 2026, 11, 6, 10, 0)  # Friday
    return chat


def test_report_gives_the_manager_this_weeks_numbers(rt):
    chat = a_week(rt)
    h = chat.send("boss", "周报")
    assert h.understood["intent"] == "report" and h.understood["period"] == "2026-W45"
    data = h.replies[0].data
    metrics = {m["label"]: m for m in data["metrics"]}
    assert metrics["跟进间隔"]["now"] == "2.0天"  # 华联超市: visits two days apart
    # 预警覆盖率 (what 提前干预率 measured before issue 17): the lost deal had been warned orange
    assert metrics["预警覆盖率"]["now"] == "100%"
    # 提前干预率: no manager took, nudged or reassigned a lost or stalled deal before the loss
    assert metrics["提前干预率"]["now"] == "0%"
    assert metrics["成交率"]["now"] == "0%"
    assert [(r["name"], r["days"]) for r in data["reps"]] == [("王磊", "2.0天"), ("张敏", "—")]
    stage1 = data["stages"][0]
    assert (stage1["present"], stage1["advanced"], stage1["lost"], stage1["conversion"]) == (3, 1, 1, "33%")
    out = chat.say("boss", "report")
    assert out.startswith("📋 东区 经营数据 · 11月2日-11月8日（对比 10月26日-11月1日）")
    assert "跟进间隔：2.0天" in out and "预警覆盖率：100%" in out and "提前干预率：0%" in out and "王磊 2.0天" in out
    assert "卡点阶段" in out


def test_report_for_a_month_with_a_target_and_a_chosen_baseline(rt):
    chat = a_week(rt)
    from storage import kpi_queries as store
    with rt.database.connection_context():
        store.set_target("东区", "2026-11", 100000)
    at(rt, 2026, 11, 6, 11, 0)
    assert "输单" in chat.say("alice", "输单 华联便利店 原因:预算")  # a second lost deal
    h = chat.send("boss", "周报 2026-11 对比 2026-09")
    data = h.replies[0].data
    assert (data["period_key"], data["baseline_key"]) == ("2026-11", "2026-09")
    target = {m["label"]: m for m in data["metrics"]}["目标达成"]
    assert target["now"] == "0%" and "2026-11 目标 10万" in target["detail"]
    assert "（对比 2026年9月）" in chat.say("boss", "周报 2026-11 vs 2026-09")


def test_report_is_for_managers_and_says_what_it_understands(rt):
    chat = a_week(rt)
    h = chat.send("alice", "周报")
    assert h.understood["refused"] == "manager_only" and "只发给主管" in chat.say("alice", "周报")
    h = chat.send("boss", "周报 明年")
    assert h.understood["refused"] == "bad_period" and "没看懂时间段「明年」" in chat.say("boss", "周报 明年")


def test_funnel_shows_conversion_between_stages_and_where_deals_stall(rt):
    chat = a_week(rt)
    # the next Wednesday: 华联便利店 silent seven working days (red), 华联超市 five since last Wednesday (red:
    # the working-day clock; this read the Monday before, five calendar days, which now counts three)
    at(rt, 2026, 11, 11, 10, 0)
    out = chat.say("boss", "漏斗")
    lines = out.splitlines()
    assert lines[0] == "📊 东区 漏斗：进行中 2 个，11万"
    assert lines[1].startswith("1.初步接触") and "1个 3万 · 转化33% · 平均停留" in lines[1]
    assert lines[2].startswith("2.需求确认") and "1个 8万 · 转化0%" in lines[2]
    assert "转化 = 10月13日-11月11日" in out
    assert "⛔ 卡点：初步接触（停滞1个，平均已9.0天）、需求确认（停滞1个，平均已7.0天）" in out
    # a chosen period; and a rep still gets their own open deals, without the team's numbers
    assert "转化 = 2026年11月" in chat.say("boss", "漏斗 2026-11")
    mine = chat.say("alice", "漏斗")
    assert mine.startswith("📊 王磊 漏斗：进行中 2 个") and "转化" not in mine and "卡点" not in mine
