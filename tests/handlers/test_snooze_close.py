"""Snooze and close as people expect: 推迟 … 下周一 resumes when that working day starts, a snoozed deal
leaves today's card and shows 💤 in 我的客户; a signed deal can be won with criteria missing (named,
recorded as skipped); a lost deal never reads "→ 成交"."""
from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from bot.clock import FixedClock
from bot.jobs.scan import scan
from storage.models import Deal, StageChange, Warning
from tests.conftest import make_runtime
from tests.helpers import Chat, counts, deal_of, small_team

SHANGHAI = timezone(timedelta(hours=8))


def local(*args) -> datetime:
    return datetime(*args, tzinfo=SHANGHAI).astimezone(timezone.utc).replace(tzinfo=None)


def at(rt, *args):
    rt.clock.set(local(*args).replace(tzinfo=timezone.utc))


@pytest.fixture
def rt(sqlite_url):
    rt = make_runtime(sqlite_url, FixedClock(local(2026, 11, 27, 10, 0).replace(tzinfo=timezone.utc)))  # Friday
    small_team(rt)
    return rt


def test_snooze_to_next_monday_resumes_at_its_start_and_leaves_todays_lists(rt):
    chat = Chat(rt)
    at(rt, 2026, 12, 2, 11, 0)  # Wednesday: three working days silent, orange
    assert "华联超市" in chat.say("alice", "今日任务")
    out = chat.say("alice", "推迟 华联超市 下周一 原因:客户出差")
    assert "12月7日 09:00" in out and "客户出差" in out
    assert deal_of(rt, "华联超市").snoozed_until == local(2026, 12, 7, 9, 0)
    lines = chat.say("alice", "我的客户").splitlines()
    mine = next(line for line in lines if "华联超市" in line)
    assert "💤 至12月7日 09:00" in mine and "橙色" not in mine and "🟠" not in mine
    assert "华联超市" in lines[-1]  # after the deals that still need something today
    today = chat.say("alice", "今日任务")
    assert "华联超市" not in today and "华联便利店" in today
    # the scan keeps quiet about it until Monday 09:00, then looks at it again (red by then)
    hl = deal_of(rt, "华联超市").id

    def warned():
        return [w.level for w in Warning.select().where(Warning.deal == hl)]
    with rt.database.connection_context():
        assert scan(rt, local(2026, 12, 2, 11, 5))["fired"]["orange"] == 2 and warned() == []  # 华联便利店, 永辉超市
        scan(rt, local(2026, 12, 7, 8, 59))
        assert warned() == []
        scan(rt, local(2026, 12, 7, 9, 0))
        assert warned() == ["red"]


def test_snooze_to_a_day_off_resumes_on_the_next_working_day(rt):
    chat = Chat(rt)
    out = chat.say("alice", "推迟 华联超市 到12月5日 原因:客户出差")  # a Saturday
    assert "12月7日 09:00" in out
    assert deal_of(rt, "华联超市").snoozed_until == local(2026, 12, 7, 9, 0)


def test_won_with_criteria_missing_once_the_customer_has_signed(rt):
    chat = Chat(rt)
    before = counts(rt)
    out = chat.say("alice", "赢单 华联超市")
    assert "缺少" in out and "已签约" in out and counts(rt) == before  # refused, and told how
    out = chat.say("alice", "赢单 华联超市 已签约")
    assert "赢单" in out and "记为跳过" in out and "记录一次拜访、电话或会议" in out
    deal = deal_of(rt, "华联超市")
    assert deal.status == "won"
    with rt.database.connection_context():
        note = StageChange.select().where(StageChange.deal == deal.id).order_by(StageChange.id.desc()).get().note
    assert note.startswith("won; 跳过: ") and "记录一次拜访、电话或会议" in note
    info = chat.say("alice", "客户 华联超市")
    assert "→ 赢单（跳过：" in info and "→ 成交" not in info


def test_a_lost_deal_never_reads_won(rt):
    chat = Chat(rt)
    chat.say("bob", "输单 永辉超市 原因:价格")
    info = chat.say("bob", "客户 永辉超市")
    assert "→ 输单（价格）" in info and "成交" not in info
    with rt.database.connection_context():
        assert Deal.get(Deal.id == deal_of(rt, "永辉超市").id).status == "lost"
