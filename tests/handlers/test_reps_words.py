"""Messages as reps really write them (issue 13), through the whole bot on SQLite: what is recorded is
exactly what the reply says. The clock is Friday 2026-11-27 10:00 local."""
from __future__ import annotations

import random
from datetime import datetime, timezone

import pytest

from storage.models import Activity, Contact, Deal, PendingChoice
from tests.helpers import Chat, advance, counts, deal_of, small_team


@pytest.fixture
def chat(empty_runtime):
    small_team(empty_runtime)
    return Chat(empty_runtime)


@pytest.fixture
def rt(empty_runtime):
    return empty_runtime


def activities(rt) -> list[Activity]:
    with rt.database.connection_context():
        return list(Activity.select().order_by(Activity.id))


def contact(rt, name: str) -> Contact | None:
    with rt.database.connection_context():
        return Contact.get_or_none(Contact.name == name)


def local_date(rt, dt: datetime) -> str:
    return dt.replace(tzinfo=timezone.utc).astimezone(rt.tz).date().isoformat()


def test_a_sentence_starting_with_today_is_a_visit_not_the_task_list(chat, rt):
    h = chat.send("alice", "今天去了华联超市，见了采购总监王总，聊了Q4陈列，周五前发方案")
    out = "\n".join(r.template for r in h.replies)
    assert "task_card" not in out and h.understood["intent"] == "visit"
    [act] = activities(rt)
    assert act.kind == "visit" and "聊了Q4陈列" in act.text
    assert contact(rt, "王总").title == "采购总监" and contact(rt, "王总").is_decision_maker
    deal = deal_of(rt, "华联超市")
    assert deal.next_step == "周五前发方案" and local_date(rt, deal.next_step_due) == "2026-11-27"
    text = chat.say("alice", "今天去了华联便利店 见了店长")
    assert "已记录拜访：华联便利店" in text
    assert "今日任务" in chat.say("alice", "今天")  # the command alone still works


def test_customer_glued_to_the_verb_and_followed_by_a_comma(chat, rt):
    out = chat.say("alice", "拜访华联超市，见了王总，下一步下周一报价")
    assert "已记录拜访：华联超市" in out and "王总" in out and "11月30日" in out


def test_customer_inside_the_sentence(chat, rt):
    out = chat.say("alice", "打电话给华联超市的陈总 约了明天下午见面")
    assert "已记录电话：华联超市" in out and "陈总" in out and "明天下午见面" in out
    [act] = activities(rt)
    assert act.kind == "call" and act.contact.name == "陈总"


def test_next_step_without_the_word_next_step_books_it(chat, rt):
    out = chat.say("alice", "电话 华联超市 跟店长李经理确认了试销数量 明天寄样品")
    assert "下一步：明天寄样品" in out and "11月28日" in out
    deal = deal_of(rt, "华联超市")
    assert deal.next_step == "明天寄样品" and local_date(rt, deal.next_step_due) == "2026-11-28"


def test_a_plan_alone_books_the_next_step_and_logs_no_visit(chat, rt, clock):
    before = deal_of(rt, "华联超市")
    advance(clock, hours=1)
    for text in ("华联超市 明天再去一趟", "拜访 华联超市 明天再去一趟"):
        out = chat.say("alice", text)
        assert "已记下计划：华联超市" in out and "已记录拜访" not in out, text
    assert [a.kind for a in activities(rt)] == ["plan", "plan"]
    deal = deal_of(rt, "华联超市")
    assert deal.next_step == "明天再去一趟" and local_date(rt, deal.next_step_due) == "2026-11-28"
    assert deal.last_activity_at == before.last_activity_at  # a plan is no follow-up: the clock runs on


def test_a_vague_time_gives_a_next_step_with_no_date(chat, rt):
    out = chat.say("alice", "拜访 华联超市 见了王总 年后再约")
    assert "下一步：年后再约（没有具体日期）" in out
    deal = deal_of(rt, "华联超市")
    assert deal.next_step == "年后再约" and deal.next_step_due is None


def test_a_weaker_mention_never_overwrites_a_stored_title(chat, rt):
    chat.say("alice", "拜访 华联超市 见了采购总监王总")
    out = chat.say("alice", "拜访 华联超市 王总说下周签合同")
    assert "采购总监" in out
    assert contact(rt, "王总").title == "采购总监"
    chat.say("alice", "拜访 华联超市 见了总经理王总")  # a title said as a title does change it
    assert contact(rt, "王总").title == "总经理"


def test_the_one_actually_met(chat, rt):
    out = chat.say("alice", "拜访 华联超市 陈总不在 见了助理")
    assert "联系人：助理" in out and "决策人" not in out
    assert contact(rt, "陈总") is None and contact(rt, "助理").is_decision_maker is False


def test_the_reply_says_what_is_missing(chat):
    out = chat.say("alice", "拜访 华联超市 聊了陈列")
    assert "没有写下一步：回复「下一步 周五 发方案」补上" in out
    assert "没有写见了谁" in out


def test_next_step_fills_in_the_last_log(chat, rt):
    chat.say("alice", "拜访 华联超市 见了王总 聊了陈列")
    out = chat.say("alice", "下一步 周五 发方案")
    assert "华联超市" in out and "11月27日" in out
    deal = deal_of(rt, "华联超市")
    assert deal.next_step == "周五 发方案" and local_date(rt, deal.next_step_due) == "2026-11-27"
    assert len(activities(rt)) == 1  # nothing logged twice


def test_correct_the_next_step_date_and_the_contact(chat, rt):
    chat.say("alice", "拜访 华联超市 见了王总,下一步周五前发方案")
    out = chat.say("alice", "改 下一步 下周四")
    assert "周五前发方案" in out and "12月03日" in out
    deal = deal_of(rt, "华联超市")
    assert deal.next_step == "周五前发方案" and local_date(rt, deal.next_step_due) == "2026-12-03"
    out = chat.say("alice", "改 联系人 李经理")
    assert "李经理" in out
    [act] = activities(rt)
    assert act.contact.name == "李经理"
    assert contact(rt, "王总") is None  # created by the wrong reading, named nowhere else


def test_undo_puts_everything_back_once(chat, rt, clock):
    start = deal_of(rt, "华联超市")
    advance(clock, minutes=5)
    before = counts(rt)
    chat.say("alice", "拜访 华联超市 见了采购总监王总,下一步周五前发方案")
    out = chat.say("alice", "撤销")
    assert "已撤销" in out
    assert counts(rt) == before and contact(rt, "王总") is None
    deal = deal_of(rt, "华联超市")
    assert (deal.next_step, deal.next_step_due, deal.last_activity_at, deal.last_movement_at) == (
        start.next_step, start.next_step_due, start.last_activity_at, start.last_movement_at)
    assert "没有30分钟内可以更正的记录" in chat.say("alice", "撤销")


def test_corrections_expire_after_30_minutes_and_are_the_senders_own(chat, rt, clock):
    chat.say("alice", "拜访 华联超市 见了王总")
    assert "没有30分钟内" in chat.say("bob", "撤销")  # bob has no log of his own
    advance(clock, minutes=31)
    assert "没有30分钟内" in chat.say("alice", "改 下一步 周四")
    assert len(activities(rt)) == 1


def test_a_stage_signal_is_offered_never_applied(chat, rt):
    h = chat.send("alice", "拜访 华联超市 陈总说不做了 预算砍了")
    [offer] = [r for r in h.replies if r.template == "stage_offer"]
    assert [b.label for b in offer.buttons] == ["记为输单"]
    deal = deal_of(rt, "华联超市")
    assert deal.status == "open"  # nothing moved by itself
    out = chat.say("alice", action=offer.buttons[0].action)
    assert "预算砍了" in out
    deal = deal_of(rt, "华联超市")
    assert deal.status == "lost" and "预算砍了" in deal.lost_reason
    assert "已经处理过" in chat.say("alice", action=offer.buttons[0].action)


def test_won_offer_still_needs_the_exit_criteria(chat, rt):
    h = chat.send("alice", "华联超市合同签了")
    [offer] = [r for r in h.replies if r.template == "stage_offer"]
    out = chat.say("alice", action=offer.buttons[0].action)
    assert "缺少" in out and deal_of(rt, "华联超市").status == "open"
    assert "只有负责该客户的销售或团队主管可以操作" in chat.say("bob", action=offer.buttons[0].action)


def test_a_guessed_customer_is_asked_with_a_button(chat, rt):
    before = counts(rt)
    h = chat.send("bob", "去了永辉 见了王总")
    [question] = h.replies
    assert question.data["code"] == "confirm_customer" and "记为永辉超市的拜访" in question.data["question"]
    assert counts(rt) == before
    out = chat.say("bob", action=question.buttons[0].action)
    assert "已记录拜访：永辉超市" in out
    assert [a.kind for a in activities(rt)] == ["visit"]


def test_a_name_two_customers_share_is_a_numbered_question(chat, rt):
    before = counts(rt)
    out = chat.say("alice", "今天去了华联 见了王总")
    assert "1." in out and "华联超市" in out and "华联便利店" in out
    assert counts(rt) == before
    assert "已记录拜访：" in chat.say("alice", "1")


def test_a_colleagues_customer_in_a_sentence_is_refused(chat, rt):
    before = counts(rt)
    assert "张敏 负责" in chat.say("alice", "今天去了永辉超市见了王总")
    assert counts(rt) == before


def test_no_customer_named(chat, rt):
    before = counts(rt)
    assert "哪个客户" in chat.say("alice", "今天去了一家新店 见了老板")
    assert "要记录「华联超市」的什么" in chat.say("alice", "华联超市")
    assert counts(rt) == before


def test_an_impossible_date_in_a_sentence_writes_nothing(chat, rt):
    before = counts(rt)
    assert "日期不存在" in chat.say("alice", "华联超市 见了王总 2月30日前发方案")
    assert counts(rt) == before


def test_any_text_gets_a_reply_never_an_error(chat, rt):
    rnd = random.Random(13)
    alphabet = "华联超市便利店今天明天下周一见了王总说签了不做了改撤销下一步 ,.，。、：0123456789月号日初八" \
               "\u200b\u3000😀\ud7ff\U0001F600abcXYZ\n\t'\";--"
    for _ in range(150):
        text = "".join(rnd.choice(alphabet) for _ in range(rnd.randint(0, 40)))
        h = chat.send("alice", text)
        assert h.replies, text


def test_voice_style_message(chat, rt):
    out = chat.say("alice", "嗯那个今天去了华联超市然后见了王总就是说下礼拜二可以签合同然后明天我把方案发过去")
    assert "已记录拜访：华联超市" in out and "王总" in out
    deal = deal_of(rt, "华联超市")
    assert "方案发过去" in deal.next_step and local_date(rt, deal.next_step_due) == "2026-11-28"


def test_english_note(chat, rt):
    out = chat.say("alice", "visit 华联超市 met purchasing director Wang, send proposal by Friday")
    assert "Wang" in out and "决策人" in out and "send proposal by Friday" in out


def test_pending_question_is_not_left_behind_by_a_log(chat, rt):
    chat.say("alice", "拜访 华联 聊了")  # asks which
    chat.say("alice", "1")
    with rt.database.connection_context():
        assert PendingChoice.select().count() == 0
    assert isinstance(deal_of(rt, "华联超市"), Deal)


def test_a_plan_is_not_counted_as_a_follow_up_in_the_managers_numbers(chat, rt, clock):
    from datetime import timedelta

    from storage import kpi_queries as kpi
    chat.say("alice", "拜访 华联超市 见了王总")
    advance(clock, hours=2)
    chat.say("alice", "华联超市 明天再去一趟")
    with rt.database.connection_context():
        team = deal_of(rt, "华联超市").team_id
        data = kpi.load(team, rt.now() - timedelta(days=1), rt.now() + timedelta(hours=1), rt.tz)
    [row] = [a for a in data.activity if a.count]
    assert row.count == 1  # the visit; the plan is no contact with the customer


def test_a_colleagues_full_name_beats_a_shortened_own_one(chat, rt):
    # alice owns 华联超市; bob gets 华联商贸. For bob, "华联超市" is alice's customer named in full:
    # his own 华联商贸 must not be guessed from the shared 华联.
    from handlers.parse import initials_of
    from storage import deals
    from storage.models import Rep
    with rt.database.connection_context():
        bob = Rep.get(Rep.local_id == "bob")
        deals.create_customer_and_deal(bob, "华联商贸", initials_of("华联商贸"), 10000, rt.funnel.first.key, rt.now())
    before = counts(rt)
    assert "王磊 负责" in chat.say("bob", "今天去了华联超市 见了王总")
    assert counts(rt) == before
