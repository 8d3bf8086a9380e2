"""Sales targets in chat: a manager sets a rep's own target (`目标 王磊 50万`) or the team's; anyone else,
an unknown name, a missing amount or a week is answered and changes nothing; 周报 shows each rep's wins
against their own target."""
from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from bot.clock import FixedClock
from storage import people
from storage.models import Rep, RepTarget, Target
from tests.conftest import make_runtime
from tests.helpers import Chat, small_team

SHANGHAI = timezone(timedelta(hours=8))


@pytest.fixture
def rt(sqlite_url):
    rt = make_runtime(sqlite_url, FixedClock(datetime(2026, 11, 2, 10, 0, tzinfo=SHANGHAI)))
    small_team(rt)
    return rt


def targets(rt) -> dict:
    """{(who, period): amount} as stored: a rep's name, or the team's."""
    with rt.database.connection_context():
        out = {(r.rep.name, r.period): r.amount for r in RepTarget.select().join(Rep)}
        out.update({(t.team.name, t.period): t.amount for t in Target.select()})
        return out


def test_a_manager_sets_a_reps_target_for_this_quarter_and_changes_it(rt):
    chat = Chat(rt)
    from bot.render import render_text
    h = chat.send("boss", "目标 王磊 50万")
    assert h.understood["intent"] == "target" and h.understood["period"] == "2026-Q4"
    assert "已设置 王磊 的个人目标：2026年第4季度（2026-Q4）50万。" in render_text(h.replies[0])
    assert targets(rt) == {("王磊", "2026-Q4"): 500000}
    assert "（原 50万）" in chat.say("boss", "目标 王磊 60万")
    # a month, next quarter, English
    chat.say("boss", "目标 张敏 2026-12 20万")
    chat.say("boss", "目标 张敏 下季度 30万")
    assert "已设置" in chat.say("boss", "target 李岩 next quarter 500k")
    assert targets(rt) == {("王磊", "2026-Q4"): 600000, ("张敏", "2026-12"): 200000, ("张敏", "2027-Q1"): 300000,
                           ("李岩", "2027-Q1"): 500000}
    with rt.database.connection_context():  # who set it, and when
        row = RepTarget.select().join(Rep).where(Rep.name == "王磊").get()
        assert row.set_by.local_id == "boss" and row.set_at == rt.now()


def test_the_team_target_from_chat_and_the_list(rt):
    chat = Chat(rt)
    assert "已设置团队「东区」目标：2026年第4季度（2026-Q4）300万" in chat.say("boss", "目标 团队 300万")
    assert "（原 300万）" in chat.say("boss", "目标 东区 400万")  # the team's name works too
    chat.say("boss", "目标 王磊 50万")
    listing = chat.say("boss", "目标")
    assert "· 团队：400万" in listing and "· 个人：王磊 50万" in listing and "· 未设个人目标：张敏" in listing
    assert targets(rt) == {("东区", "2026-Q4"): 4000000, ("王磊", "2026-Q4"): 500000}


@pytest.mark.parametrize("user, text, code, says", [
    ("alice", "目标 王磊 50万", "manager_only", "只有主管可以设置销售目标"),
    ("boss", "目标 张三 50万", "unknown_rep", "东区里没有「张三」，目标没有改动。可设目标的人：李岩、王磊、张敏"),
    ("boss", "目标 王磊", "no_amount", "请写上目标金额"),
    ("boss", "目标 王磊 本周 50万", "bad_period", "目标按季度或月设置，「本周」不行"),
    ("boss", "目标 50万", "no_who", "给谁设目标？"),
    ("boss", "目标 王磊 10000000亿", "bad_amount", "金额超出范围"),
])
def test_bad_input_is_answered_and_changes_nothing(rt, user, text, code, says):
    chat = Chat(rt)
    chat.say("boss", "目标 王磊 40万")
    before = targets(rt)
    h = chat.send(user, text)
    assert h.understood["refused"] == code
    assert says in chat.say(user, text)
    assert targets(rt) == before


def test_a_rep_writing_about_a_customers_target_logs_it(rt):
    """目标 is an everyday word: "目标 华联超市下周签约" from a rep is about the customer, not the command."""
    out = Chat(rt).say("alice", "目标 华联超市下周签约")
    assert "华联超市" in out and "只有主管" not in out


def test_an_admin_names_the_team(rt):
    chat = Chat(rt)
    with rt.database.connection_context():
        west = people.ensure_team("西区")
        people.upsert_rep(west, "root", "管理员", "admin")
        people.upsert_rep(west, "carol", "王磊", "rep")  # the same name in another team
    assert chat.send("root", "目标 团队 300万").understood["refused"] == "team_needed"
    assert "请写明哪个团队" in chat.say("root", "目标 团队 300万")
    assert chat.send("root", "目标 王磊 50万").understood["refused"] == "ambiguous_rep"
    assert "「王磊」在多个团队里：东区、西区" in chat.say("root", "目标 王磊 50万")
    assert targets(rt) == {}
    chat.say("root", "目标 西区 王磊 50万")
    chat.say("root", "目标 东区 200万")
    with rt.database.connection_context():
        (row,) = RepTarget.select()
        assert row.rep.local_id == "carol"
    assert targets(rt) == {("王磊", "2026-Q4"): 500000, ("东区", "2026-Q4"): 2000000}


def test_the_report_shows_each_reps_wins_against_their_own_target(rt):
    chat = Chat(rt)
    chat.say("boss", "目标 王磊 10万")
    assert "赢单" in chat.say("alice", "赢单 华联超市 已签约")  # 8万
    rt.clock.advance(minutes=5)
    h = chat.send("boss", "周报")
    data = h.replies[0].data
    assert [(r["name"], r["now"], r["detail"]) for r in data["rep_targets"]] == [
        ("王磊", "80%", "2026-Q4 目标 10万，已赢单 8万")]
    assert [r["name"] for r in data["rep_targets_unset"]] == ["张敏"]
    out = chat.say("boss", "周报")
    assert "🎯 个人目标达成（2026-Q4）：王磊 80%（8万/10万）；未设目标：张敏（主管发「目标 张敏 2026-Q4 50万」设置）" in out
    # no team target: the team is measured against the sum of its reps' own targets, and says so
    team = {m["label"]: m for m in data["metrics"]}["目标达成"]
    assert team["now"] == "80%" and "（未设团队目标，按1位销售的个人目标之和）" in team["detail"]
    chat.say("boss", "目标 团队 40万")
    team = {m["label"]: m for m in chat.send("boss", "周报").replies[0].data["metrics"]}["目标达成"]
    assert team["now"] == "20%" and "未设团队目标" not in team["detail"]
