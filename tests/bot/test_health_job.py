"""The daily health job: scores kept per day, tiers follow the score, high intent enters once."""
from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone

from bot.clock import FixedClock
from bot.jobs.health import health
from storage.models import Customer, HealthScore, Outbox, TierChange
from tests.conftest import make_runtime
from tests.helpers import Chat, small_team

SH = timezone(timedelta(hours=8))


def at(day, hour=7):
    return datetime(2026, 11, day, hour, tzinfo=SH).astimezone(timezone.utc).replace(tzinfo=None)


def test_daily_scores_tiers_and_high_intent_once(sqlite_url):
    rt = make_runtime(sqlite_url, FixedClock(at(2)))
    small_team(rt)
    chat = Chat(rt)
    chat.say("alice", "拜访 华联超市 见了采购总监王总")
    chat.say("alice", "会议 华联超市 和总经理陈伟开会")
    with rt.database.connection_context():  # the customer opened the proposal twice (document tracking)
        from storage import deals
        c = Customer.get(Customer.name == "华联超市")
        for _ in range(2):
            deals.add_activity(deals.open_deal(c.id), c, c.owner, "doc_open", "", rt.now(), movement=False)
    with rt.database.connection_context():
        assert health(rt, at(2, 5))["skipped"] == "before 06:00"
        first = health(rt, at(2))
        assert first["customers"] == 3 and first["new_high_intent"] == 1
        assert health(rt, at(2, 9))["skipped"] == "already computed today"
        c = Customer.get(Customer.name == "华联超市")
        assert c.health >= 75 and c.tier == "A" and c.high_intent
        notices = [o for o in Outbox.select() if o.key.startswith("intent:")]
        assert len(notices) == 1 and notices[0].recipient == "mgr"
        # days pass without contact: the score falls; it stays high-intent until below 70
        seen = []
        for day in range(3, 10):
            health(rt, at(day))
            c = Customer.get(Customer.name == "华联超市")
            seen.append((c.health, c.high_intent, c.tier))
        assert [h for h, _, _ in seen] == sorted([h for h, _, _ in seen], reverse=True)
        for score, high, tier in seen:
            assert high == (score >= 70)  # it entered at >= 75 and leaves only below 70
        assert HealthScore.select().where(HealthScore.customer == c).count() == 8
        assert TierChange.select().where(TierChange.customer == c).count() >= 2  # C->A, then down
        assert len([o for o in Outbox.select() if o.key.startswith("intent:")]) == 1
    rt.clock.set(at(9).replace(tzinfo=timezone.utc))
    text = chat.say("alice", "客户 华联超市")
    assert "健康分" in text and "近7天 ↓" in text and "提分最多" in text


def test_one_star_message_per_manager_group_a_day_listing_every_new_one(sqlite_url):
    """Two customers turn high-intent the same morning (06:00 run): the manager group gets one ⭐
    message naming both, and it waits for the send window (09:00), not 07:00."""
    from handlers.messages import Reply
    from bot.render import render_text
    from storage import deals
    rt = make_runtime(sqlite_url, FixedClock(at(2)))
    small_team(rt)
    chat = Chat(rt)
    for name in ("华联超市", "华联便利店"):
        chat.say("alice", f"拜访 {name} 见了采购总监王总")
        chat.say("alice", f"会议 {name} 和总经理陈伟开会")
        with rt.database.connection_context():
            c = Customer.get(Customer.name == name)
            for _ in range(2):
                deals.add_activity(deals.open_deal(c.id), c, c.owner, "doc_open", "", rt.now(), movement=False)
    with rt.database.connection_context():
        assert health(rt, at(2))["new_high_intent"] == 2
        notices = [o for o in Outbox.select() if o.key.startswith("intent:")]
        assert len(notices) == 1 and notices[0].recipient == "mgr"
        assert notices[0].next_attempt_at == at(2, 9)  # Monday 11-02: held from 07:00 until the window opens
        text = render_text(Reply.from_dict(json.loads(notices[0].payload)))
    assert "2 个高意向客户" in text and "华联超市" in text and "华联便利店" in text
