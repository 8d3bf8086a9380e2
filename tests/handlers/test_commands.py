"""Chat commands as a rep and a manager would use them (SQLite; the HTTP tests cover all databases)."""
from __future__ import annotations

from datetime import datetime

import pytest

from storage.models import Activity, Contact, Deal, Outbox, StageChange
from tests.helpers import Chat, advance, counts, deal_of, small_team


@pytest.fixture
def chat(empty_runtime):
    small_team(empty_runtime)
    return Chat(empty_runtime)


@pytest.fixture
def rt(empty_runtime):
    return empty_runtime


def test_new_customer_with_chinese_amount(chat, rt):
    out = chat.say("alice", "新客户 物美超市 金额八万")
    assert "物美超市" in out and "8万" in out
    deal = deal_of(rt, "物美超市")
    assert deal.amount == 80000 and deal.stage == "initial_contact" and deal.owner.local_id == "alice"


def test_new_customer_twice_is_refused(chat, rt):
    chat.say("alice", "新客户 物美超市 8万")
    before = counts(rt)
    out = chat.say("bob", "新客户 物美超市 5万")
    assert "已经是客户" in out and "王磊" in out
    assert counts(rt) == before


def test_visit_understood_and_confirmed(chat, rt):
    # 2026-11-27 is a Friday; 周五前 on a Friday means today
    h = chat.send("alice", "拜访 华联超市 见了采购总监王总,聊了Q4陈列,下一步下周一前发方案")
    u = h.understood
    assert u["intent"] == "visit" and u["customer"] == "华联超市"
    assert u["contact"] == "王总" and u["decision_maker"] is True
    assert u["next_step"] == "下周一前发方案" and u["due"] == "2026-11-30"
    text = chat.say("alice", "客户 华联超市")
    assert "王总" in text and "下周一前发方案" in text
    with rt.database.connection_context():
        contact = Contact.get(Contact.name == "王总")
        assert contact.is_decision_maker and contact.title == "采购总监"
        act = Activity.get(Activity.kind == "visit")
        assert act.contact_id == contact.id and act.rep.local_id == "alice"
        deal = deal_of(rt, "华联超市")
        assert deal.next_step == "下周一前发方案" and deal.last_activity_at == rt.now()


def test_visit_reply_makes_a_misparse_visible(chat):
    out = chat.say("alice", "电话 华联超市 和财务经理刘敏通了电话,下一步3天后报价")
    assert "刘敏" in out and "财务经理" in out and "决策人" in out
    assert "11月30日" in out  # 3天后 from Friday 27th


def test_customer_by_part_typo_and_initials(chat):
    assert chat.send("alice", "拜访 永辉 聊了").understood.get("refused") == "not_yours"
    assert chat.send("alice", "拜访 华联超 聊了").understood["customer"] == "华联超市"
    assert chat.send("alice", "拜访 华连超市 聊了").understood["customer"] == "华联超市"
    assert chat.send("alice", "拜访 hlbld 聊了").understood["customer"] == "华联便利店"


def test_ambiguous_name_asks_and_a_number_answers(chat, rt):
    before = counts(rt)
    out = chat.say("alice", "拜访 华联 聊了Q4陈列")
    assert "1." in out and "2." in out and "华联超市" in out and "华联便利店" in out
    assert counts(rt) == before  # a question, not a guess
    options = [line.split(". ", 1)[1] for line in out.splitlines() if line[:1].isdigit()]
    out = chat.say("alice", "2")
    assert f"已记录拜访：{options[1]}" in out
    with rt.database.connection_context():
        assert Activity.get().text == "聊了Q4陈列"
    # the question is spent: a second "2" is not a choice any more
    assert "没看懂" in chat.say("alice", "2")


def test_stage_move_refused_until_exit_criteria_met(chat, rt):
    out = chat.say("alice", "推进 华联超市 方案提交")
    assert "缺少" in out and "记录一次拜访" in out and "决策人" in out
    with rt.database.connection_context():
        assert StageChange.select().count() == 3  # only the three creations
    chat.say("alice", "拜访 华联超市 见了采购总监王总")
    chat.say("alice", "需求 华联超市 需要冷柜陈列方案")
    out = chat.say("alice", "推进 华联超市 方案提交")
    assert "内部评估" in out  # skipping stages obeys the same rule: stage 4's criterion is missing
    chat.say("alice", "评估 华联超市 客户确认评估已启动")
    out = chat.say("alice", "stage 华联超市 proposal")
    assert "初步接触 → 方案提交" in out
    deal = deal_of(rt, "华联超市")
    assert deal.stage == "proposal"
    with rt.database.connection_context():
        change = StageChange.select().where(StageChange.deal == deal).order_by(StageChange.id.desc()).get()
        assert (change.from_stage, change.to_stage, change.rep.local_id) == ("initial_contact", "proposal", "alice")


def test_feedback_must_come_after_the_proposal(chat, rt, clock):
    for t in ("拜访 华联超市 见了王总", "需求 华联超市 陈列", "评估 华联超市 已启动", "反馈 华联超市 太早的反馈"):
        chat.say("alice", t)
    advance(clock, hours=1)
    chat.say("alice", "推进 华联超市 方案提交")
    advance(clock, hours=1)
    out = chat.say("alice", "推进 华联超市 谈判")
    assert "书面反馈" in out
    advance(clock, hours=1)
    chat.say("alice", "反馈 华联超市 客户书面回复认可方案")
    assert "方案提交 → 谈判" in chat.say("alice", "推进 华联超市 谈判")


def test_unknown_stage_lists_the_stages(chat, rt):
    before = counts(rt)
    out = chat.say("alice", "推进 华联超市 火星")
    assert "没有「火星」这个阶段" in out and "1.初步接触" in out
    assert counts(rt) == before


def test_won_needs_criteria_and_lost_needs_a_reason(chat, rt):
    out = chat.say("alice", "赢单 华联超市")
    assert "缺少" in out
    before = counts(rt)
    out = chat.say("alice", "输单 华联超市")
    assert "原因" in out and counts(rt) == before
    out = chat.say("alice", "输单 华联超市 原因:价格")
    assert "价格" in out
    deal = deal_of(rt, "华联超市")
    assert deal.status == "lost" and deal.lost_reason == "价格" and deal.stage == "closed"
    with rt.database.connection_context():
        notice = Outbox.get(Outbox.key == f"closed:{deal.id}")
        assert notice.recipient == "mgr"
    assert "没有进行中的商机" in chat.say("alice", "推进 华联超市 需求确认")


def test_rep_cannot_touch_another_reps_deal(chat, rt):
    before = counts(rt)
    for text in ("拜访 永辉超市 见了王总", "推进 永辉超市 需求确认", "输单 永辉超市 原因:价格", "客户 永辉超市"):
        out = chat.say("alice", text)
        assert "张敏 负责" in out, text
    assert counts(rt) == before


def test_manager_acts_on_the_teams_deals(chat, rt):
    out = chat.say("boss", "拜访 永辉超市 陪同拜访,见了李经理")
    assert "已记录拜访：永辉超市" in out
    out = chat.say("boss", "漏斗")
    assert "东区" in out and "3个" in out


def test_unknown_user_is_told_and_nothing_written(chat, rt):
    before = counts(rt)
    out = chat.say("stranger", "新客户 物美超市 8万")
    assert "还没有登记" in out
    assert counts(rt) == before


@pytest.mark.parametrize("text, expect", [
    ("", "帮助"),
    ("   ", "帮助"),
    ("x" * 10240, "消息太长"),
    ("😀😀😀", "没看懂"),
    ("拜访 '; DROP TABLE deals; -- 聊了", "没有找到客户"),
    ("新客户 '; DROP TABLE deals; -- 8万", "不可用"),
    ("新客户 🍺啤酒屋 8万", "不可用"),
    ("拜访 华联超市 下一步2月30日前发方案", "日期不存在"),
    ("拜访 不存在的客户 聊了", "没有找到客户"),
    ("推进 华联超市", "要推进到的阶段"),
])
def test_bad_input_gets_a_clear_reply_and_writes_nothing(chat, rt, text, expect):
    before = counts(rt)
    out = chat.say("alice", text)
    assert expect in out
    assert counts(rt) == before
    with rt.database.connection_context():
        assert Deal.select().count() == 3


def test_full_width_punctuation_and_extra_spaces(chat):
    h = chat.send("alice", "拜访　　华联超市　见了采购总监王总，下一步：明天打电话")
    assert h.understood["customer"] == "华联超市"
    assert h.understood["next_step"] == "明天打电话" and h.understood["due"] == "2026-11-28"


def test_verb_glued_to_the_customer(chat):
    assert chat.send("alice", "拜访华联超市 见了王总").understood["customer"] == "华联超市"


def test_same_message_twice_is_answered_not_executed(chat, rt):
    a = chat.send("alice", "拜访 华联超市 见了王总", msg_id="dup-1")
    b = chat.send("alice", "拜访 华联超市 见了王总", msg_id="dup-1")
    assert not a.duplicate and b.duplicate
    assert [r.to_dict() for r in a.replies] == [r.to_dict() for r in b.replies]
    with rt.database.connection_context():
        assert Activity.select().count() == 1


def test_english_commands(chat, rt):
    assert "物美超市" in chat.say("alice", "new 物美超市 5w")
    assert "已记录拜访" in chat.say("alice", "visit 物美超市 met the CEO")
    assert "物美超市" in chat.say("alice", "list")
    assert "今日任务" in chat.say("alice", "today")
    assert "新客户" in chat.say("alice", "help")


def test_list_shows_colour_and_days_silent(chat, rt, clock):
    # three working days later (Friday 10:00 -> Wednesday 10:00; before issue 14's working-day clock this
    # read Monday 10:00, 72 calendar hours, which now counts one working day)
    clock.set(datetime(2026, 12, 2, 2, 0))
    out = chat.say("alice", "我的客户")
    assert "🟠" in out and "3天无进展" in out and "橙色" in out


def test_a_deal_followed_up_today_reads_as_followed_up_not_zero_days_silent(chat, rt):
    chat.say("alice", "新客户 物美超市 5万")
    chat.say("alice", "拜访 物美超市 见了王总")
    for out in (chat.say("alice", "我的客户"), chat.say("alice", "客户 物美超市")):
        assert "近日有跟进" in out and "0天无进展" not in out and "0 天无进展" not in out


def test_today_lists_warned_and_due(chat, rt, clock):
    # Tuesday 10:00: 华联超市 two working days silent since Friday 10:00 (yellow; before the working-day
    # clock this was Monday 09:00, 71 calendar hours, now one working day)
    chat.say("alice", "拜访 华联便利店 见了王总,下一步周二前回访")
    clock.set(datetime(2026, 12, 1, 2, 0))
    out = chat.say("alice", "今日任务")
    assert "华联超市" in out and "黄色" in out
    assert "今天到期" in out and "周二前回访" in out


def test_a_manager_takes_over_and_nudges_by_name(chat, rt):
    """The red card's 我来介入 / 请销售跟进, typed: for a card the manager cannot press (a merged group
    message) or a deal with no card yet. Only a manager may; the second time says it was done."""
    out = chat.say("boss", "介入 华联超市")
    assert "华联超市" in out and "王磊" in out
    assert deal_of(rt, "华联超市").intervention_by.local_id == "boss"
    assert "已由" in chat.say("boss", "take 华联超市")
    assert "王磊" in chat.say("boss", "催办 华联超市")
    assert "已经提醒过" in chat.say("boss", "nudge hlcs")
    with rt.database.connection_context():
        told = [o.recipient for o in Outbox.select() if o.key.startswith(("take:", "nudge:"))]
    assert sorted(told) == ["alice", "alice"]  # the rep hears of both, once each
    before = counts(rt)
    assert "不能操作其他销售的客户" in chat.say("bob", "介入 华联超市")
    assert "由团队主管来做" in chat.say("alice", "介入 华联超市")  # her own deal, but taking over is the manager's
    assert counts(rt) == before
    assert "介入 华联超市" in chat.say("boss", "帮助") and "介入" not in chat.say("alice", "帮助")
