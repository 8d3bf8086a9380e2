"""The reminder engine, by time travel: warnings once per level and silence period, the 09:00 card on
working days only, escalation to the manager group, snooze, catch-up after downtime."""
from __future__ import annotations

import json
from collections import Counter
from datetime import datetime, timedelta, timezone

import pytest

from bot.clock import FixedClock
from bot.jobs.daily import daily
from bot.jobs.deliver import deliver
from bot.jobs.scan import scan
from storage.models import Deal, Outbox, Warning
from tests.conftest import make_runtime
from tests.helpers import Chat, deal_of, small_team

SHANGHAI = timezone(timedelta(hours=8))


def local(*args) -> datetime:
    """A Shanghai wall-clock time as the naive UTC the jobs take."""
    return datetime(*args, tzinfo=SHANGHAI).astimezone(timezone.utc).replace(tzinfo=None)


def run(rt, job, now):
    rt.clock.set(now.replace(tzinfo=timezone.utc))
    with rt.database.connection_context():
        return job(rt, now)


def rows(rt, **where):
    with rt.database.connection_context():
        q = Outbox.select()
        for k, v in where.items():
            q = q.where(getattr(Outbox, k) == v)
        return [(r.key, r.recipient, json.loads(r.payload)) for r in q.order_by(Outbox.id)]


@pytest.fixture
def rt(sqlite_url):
    rt = make_runtime(sqlite_url, FixedClock(local(2026, 11, 2, 10, 0)))  # Monday 10:00
    small_team(rt)
    return rt


def test_a_silent_deal_gets_one_yellow_one_orange_one_red(rt):
    start = local(2026, 11, 2, 10, 0)
    t = start
    while t < start + timedelta(days=8):  # a scan every 30 minutes for 8 days
        run(rt, scan, t)
        t += timedelta(minutes=30)
    with rt.database.connection_context():
        fired = Counter((w.deal.customer.name, w.level) for w in Warning.select())
    for name in ("华联超市", "华联便利店", "永辉超市"):
        assert [fired[(name, lv)] for lv in ("yellow", "orange", "red")] == [1, 1, 1], name
    # alice's two deals cross together: one merged message per level, not a burst
    alice = [p for _, to, p in rows(rt, recipient="alice")]
    assert [len(p["data"]["rows"]) for p in alice] == [2, 2, 2]
    assert [p["data"]["rows"][0]["level"] for p in alice] == ["yellow", "orange", "red"]
    assert [p["urgent"] for p in alice] == [False, True, True]
    # red escalates to the manager group with a card per deal, suggestion from the rules file
    cards = [p for key, to, p in rows(rt, recipient="mgr") if key.startswith("red:")]
    assert len(cards) == 3
    assert cards[0]["data"]["suggestion"] == rt.funnel.first.suggestion
    assert {b["label"] for b in cards[0]["buttons"]} == {"我来介入", "请销售跟进"}


def test_times_of_the_crossings(rt):
    start = local(2026, 11, 2, 10, 0)
    assert run(rt, scan, start + timedelta(hours=47, minutes=59))["fired"]["yellow"] == 0
    assert run(rt, scan, start + timedelta(hours=48))["fired"]["yellow"] == 3
    assert run(rt, scan, start + timedelta(hours=48, minutes=5))["checked"] == 0  # cost follows crossings
    assert run(rt, scan, start + timedelta(hours=72))["fired"]["orange"] == 3
    # red after five working days: Saturday 10:00 (120 calendar hours) is a day off, Monday 10:00 is day five
    # (working-day clock, issue 14; this assertion read "red at 120 calendar hours" before)
    assert run(rt, scan, start + timedelta(hours=120))["fired"]["red"] == 0
    assert run(rt, scan, local(2026, 11, 9, 9, 59))["fired"]["red"] == 0
    assert run(rt, scan, local(2026, 11, 9, 10, 0))["fired"]["red"] == 3


def test_activity_starts_a_new_silence_period(rt):
    chat = Chat(rt)
    start = local(2026, 11, 2, 10, 0)
    run(rt, scan, start + timedelta(hours=50))  # yellow for all three
    rt.clock.set((start + timedelta(hours=60)).replace(tzinfo=timezone.utc))
    chat.say("alice", "拜访 华联超市 见了王总")
    assert run(rt, scan, start + timedelta(hours=75))["fired"] == {"yellow": 0, "orange": 2, "red": 0}
    # the visited deal is quiet until 48 h after the visit, then yellow again (a new period)
    assert run(rt, scan, start + timedelta(hours=108))["fired"]["yellow"] == 1
    with rt.database.connection_context():
        deal = deal_of(rt, "华联超市")
        assert [w.level for w in Warning.select().where(Warning.deal == deal).order_by(Warning.id)] == \
            ["yellow", "yellow"]


def test_a_snoozed_deal_stays_quiet_until_the_snooze_ends(rt):
    chat = Chat(rt)
    start = local(2026, 11, 2, 10, 0)
    rt.clock.set((start + timedelta(hours=1)).replace(tzinfo=timezone.utc))
    out = chat.say("alice", "推迟 华联超市 4天 原因:客户出差")
    assert "已推迟" in out and "客户出差" in out
    t = start
    while t < start + timedelta(hours=97):
        run(rt, scan, t)
        t += timedelta(hours=1)
    with rt.database.connection_context():
        deal = deal_of(rt, "华联超市")
        assert Warning.select().where(Warning.deal == deal).count() == 0
    run(rt, scan, start + timedelta(hours=98))  # snooze over: 98 h silent -> orange straight away
    with rt.database.connection_context():
        assert [w.level for w in Warning.select().where(Warning.deal == deal)] == ["orange"]


def test_booked_next_step_pauses_the_clock(rt):
    chat = Chat(rt)
    chat.say("alice", "拜访 华联超市 见了王总,下一步下周三前发方案")  # due Wednesday 11-11 end of day
    start = local(2026, 11, 2, 10, 0)
    run(rt, scan, start + timedelta(days=7))
    with rt.database.connection_context():
        deal = deal_of(rt, "华联超市")
        assert Warning.select().where(Warning.deal == deal).count() == 0
    run(rt, scan, local(2026, 11, 14, 0, 1))  # 48 h after the step fell due
    with rt.database.connection_context():
        assert [w.level for w in Warning.select().where(Warning.deal == deal)] == ["yellow"]


@pytest.mark.parametrize("day, expect", [
    ((2026, 9, 30), True),  # Wednesday before National Day
    ((2026, 10, 1), False),  # National Day
    ((2026, 10, 7), False),
    ((2026, 10, 10), True),  # make-up working Saturday (调休)
    ((2026, 11, 28), False),  # an ordinary Saturday
    ((2026, 11, 29), False),  # Sunday
    ((2026, 11, 30), True),
])
def test_task_card_only_on_working_days(rt, day, expect):
    result = run(rt, daily, local(*day, 9, 0))
    cards = rows(rt, recipient="alice")
    assert bool(cards) is expect, result
    if expect:
        key, _, payload = cards[0]
        assert key == f"task:alice:{datetime(*day).date().isoformat()}" and payload["template"] == "task_card"


def test_team_days_off_from_the_rules_file(sqlite_url, tmp_path):
    from rules.funnel import DEFAULT_RULES
    rules = tmp_path / "funnel.toml"
    rules.write_text(DEFAULT_RULES.read_text(encoding="utf-8").replace('days_off = []', 'days_off = ["2026-11-30"]'),
                     encoding="utf-8")
    rt = make_runtime(sqlite_url, FixedClock(local(2026, 11, 30, 9, 0)), bot_rules=str(rules))
    small_team(rt)
    assert run(rt, daily, local(2026, 11, 30, 9, 0))["skipped"] == "day off"


def test_task_card_catches_up_the_same_morning_once(rt):
    assert run(rt, daily, local(2026, 11, 30, 8, 59))["skipped"]
    first = run(rt, daily, local(2026, 11, 30, 10, 40))  # the bot was down at 09:00
    assert first["queued"] == 3  # alice, bob and the manager's digest
    assert run(rt, daily, local(2026, 11, 30, 10, 45))["queued"] == 0
    assert run(rt, daily, local(2026, 12, 1, 13, 0))["skipped"]  # too late for a morning card


def test_task_card_ranks_by_level_then_amount(rt):
    chat = Chat(rt)
    rt.clock.set(local(2026, 11, 4, 9, 0).replace(tzinfo=timezone.utc))
    chat.say("alice", "新客户 物美超市 金额100万")
    run(rt, daily, local(2026, 11, 5, 9, 0))  # 71 h: the two older deals are yellow, the new one is not
    (_, _, card), = rows(rt, recipient="alice")
    names = [r["customer"] for r in card["data"]["warned"]]
    assert names == ["华联超市", "华联便利店"]  # 8万 before 3万; the new 100万 deal is not warned
    assert card["buttons"][0]["action"].startswith("followup:")
    digest = [p for k, _, p in rows(rt, recipient="boss")][0]
    assert digest["data"]["manager"] is True and digest["data"]["warned"] == []  # yellow is not on the digest


def test_all_clear_line_for_a_rep_with_nothing_to_do(rt):
    run(rt, daily, local(2026, 11, 2, 10, 0))
    from bot.render import render_text
    from handlers.messages import Reply
    (_, _, card), = rows(rt, recipient="bob")
    assert "没有待处理的预警" in render_text(Reply.from_dict(card))


def test_buttons_followup_snooze_help_and_take(rt):
    chat = Chat(rt)
    run(rt, scan, local(2026, 11, 9, 11, 0))  # five working days and an hour after Monday 11-02 10:00
    warn = [p for k, to, p in rows(rt, recipient="bob") if k.startswith("warn:")][0]
    actions = {b["label"]: b["action"] for b in warn["buttons"]}
    red = [p for k, to, p in rows(rt, recipient="mgr") if k.startswith("red:")]
    take = next(b["action"] for p in red if p["data"]["customer"] == "永辉超市" for b in p["buttons"]
                if b["label"] == "我来介入")
    # only the deal's rep or the team's manager
    assert "只有负责" in chat.say("alice", action=actions["请主管支援"])
    assert "由团队主管来做" in chat.say("bob", action=take)  # taking over is the manager's
    assert "已通知" in chat.say("bob", action=actions["请主管支援"])
    assert "已经通知过主管" in chat.say("bob", action=actions["请主管支援"])
    assert "已认领" in chat.say("boss", action=take)
    assert "已由 李岩 介入" in chat.say("boss", action=take)
    assert "已推迟" in chat.say("bob", action=actions["推迟24小时"])
    assert "已推迟到" in chat.say("bob", action=actions["推迟24小时"])
    assert "已记录跟进" in chat.say("bob", action=actions["已跟进"])
    assert "已经处理过" in chat.say("bob", action=actions["已跟进"])  # spent: the deal moved on
    with rt.database.connection_context():
        keys = [r.key for r in Outbox.select().where(Outbox.recipient.in_(["mgr", "bob"]))]
        assert sum(k.startswith("askhelp:") for k in keys) == 1
        assert sum(k.startswith("take:") for k in keys) == 1
        assert Deal.get(Deal.id == int(take.split(":")[1])).intervention_by.local_id == "boss"
    assert "无法识别" in chat.say("bob", action="explode:1:2")
    assert "无法识别" in chat.say("bob", action="followup:abc")


def test_contract_approval_stage_escalates_to_legal(sqlite_url, tmp_path):
    from storage import people
    from tests.rules.test_funnel import with_contract_stage
    rules = tmp_path / "funnel.toml"
    rules.write_text(with_contract_stage(), encoding="utf-8")
    start = local(2026, 11, 2, 10, 0)
    rt = make_runtime(sqlite_url, FixedClock(start), bot_rules=str(rules))
    small_team(rt)
    with rt.database.connection_context():
        team = deal_of(rt, "华联超市").team
        people.upsert_group(team, "legal", "legal-group", "法务群")
        deal = deal_of(rt, "华联超市")
        deal.stage, deal.next_check_at = "contract_approval", deal.last_movement_at
        deal.save()
    run(rt, scan, start + timedelta(hours=49))  # contract approval's own red is 48 h
    legal = rows(rt, recipient="legal-group")
    assert len(legal) == 1 and legal[0][2]["data"]["suggestion"] == "升级法务,当天给出审批意见"
    assert not [k for k, _, _ in rows(rt, recipient="mgr") if k.startswith("red:")]


def test_scan_run_twice_at_the_same_instant_sends_once(rt):
    t = local(2026, 11, 9, 10, 0)
    run(rt, scan, t)
    n = len(rows(rt))
    with rt.database.connection_context():
        Deal.update(next_check_at=t).execute()  # force a re-evaluation of everything
    assert run(rt, scan, t)["messages"] == 0
    assert len(rows(rt)) == n


def test_delivery_respects_a_recipients_rate_limit(rt):
    from bot.channels import ChannelBase, RateLimit, SendResult
    from storage import outbox

    class Limited(ChannelBase):
        name = "local"
        sent: list = []

        def limits(self, recipient):
            return [RateLimit(30, 60)]

        def send(self, recipient, reply, key=""):
            self.sent.append(rt.clock.now())
            return SendResult(ok=True)

    adapter = Limited()
    rt._adapters = {"local": adapter}
    t = local(2026, 11, 2, 10, 0)
    with rt.database.connection_context():
        for i in range(100):
            outbox.enqueue(f"bulk:{i}", "local", "alice", {"template": "help", "data": {}}, t)
    for second in range(0, 300):
        now = t + timedelta(seconds=second)
        run(rt, deliver, now)
    times = sorted(adapter.sent)
    assert len(times) == 100
    worst = max(sum(1 for x in times if s <= x < s + timedelta(seconds=60)) for s in times)
    assert worst <= 30
    with rt.database.connection_context():  # waiting for the limit used up no retries
        assert {r.attempts for r in Outbox.select()} == {1}


def test_failing_delivery_backs_off_then_fails_visibly(rt):
    from bot.channels import ChannelBase, SendResult
    from storage import outbox

    class Broken(ChannelBase):
        name = "local"
        calls = 0

        def limits(self, recipient):
            return []

        def send(self, recipient, reply, key=""):
            Broken.calls += 1
            return SendResult(ok=False, error="errcode 45033 busy", retry=True)

    rt._adapters = {"local": Broken()}
    t = local(2026, 11, 2, 10, 0)
    with rt.database.connection_context():
        outbox.enqueue("x", "local", "alice", {"template": "help", "data": {}}, t)
    waits = []
    now = t
    for _ in range(20):
        run(rt, deliver, now)
        with rt.database.connection_context():
            row = Outbox.get()
        if row.status == "failed":
            break
        waits.append((row.next_attempt_at - now).total_seconds())
        now = row.next_attempt_at
    assert row.status == "failed" and "45033" in row.last_error and Broken.calls == 8
    assert all(b > a * 1.0 for a, b in zip(waits, waits[1:]))  # growing waits
    with rt.database.connection_context():
        from storage.outbox import retry
        assert retry(row.id, now) is True and Outbox.get().status == "pending"


def test_two_delivery_workers_together_respect_the_rate_limit(db_url):
    """Two delivery processes (threads with their own connections here) never take the same slot."""
    import threading

    from bot.channels import ChannelBase, RateLimit, SendResult
    from storage import outbox

    rt = make_runtime(db_url, FixedClock(local(2026, 11, 2, 10, 0)))
    small_team(rt)
    sent, lock = [], threading.Lock()

    class Limited(ChannelBase):
        name = "local"

        def limits(self, recipient):
            return [RateLimit(7, 60)]

        def send(self, recipient, reply, key=""):
            import time
            time.sleep(0.01)  # a real API call takes a while: the window the other worker could race into
            with lock:
                sent.append(current[0])
            return SendResult(ok=True)

    rt._adapters = {"local": Limited()}
    t = local(2026, 11, 2, 10, 0)
    with rt.database.connection_context():
        for i in range(30):
            outbox.enqueue(f"bulk:{i}", "local", "alice", {"template": "help", "data": {}}, t)
    current = [t]
    for second in range(0, 330, 3):
        now = t + timedelta(seconds=second)
        current[0] = now

        def work():
            with rt.database.connection_context():
                deliver(rt, now, limit=5)
        threads = [threading.Thread(target=work) for _ in range(2)]
        for th in threads:
            th.start()
        for th in threads:
            th.join(30)
    assert len(sent) == 30
    worst = max(sum(1 for x in sent if s <= x < s + timedelta(seconds=60)) for s in sent)
    assert worst <= 7


def test_the_managers_digest_names_each_deal_and_its_rep(rt):
    """The daily job loads the deals alone and names only those the cards show: every row still reads
    with its customer and its rep, on the rep's card and on the manager's digest."""
    run(rt, daily, local(2026, 11, 9, 9, 30))  # five working days after Monday 11-02: orange and red
    digest = [p for k, _, p in rows(rt, recipient="boss")][0]["data"]
    assert digest["warned"], "the digest lists the team's orange and red deals"
    with rt.database.connection_context():
        from storage.models import Deal
        truth = {d.id: (d.customer.name, d.owner.name) for d in Deal.select()}
    assert all((r["customer"], r["owner"]) == truth[r["deal_id"]] for r in digest["warned"])
    (_, _, card), = rows(rt, recipient="alice")
    assert [(r["customer"], r["owner"]) for r in card["data"]["warned"]] == [truth[r["deal_id"]]
                                                                             for r in card["data"]["warned"]]
    assert all(b["label"] for b in card["buttons"]) and card["data"]["warned"][0]["customer"] in str(card["buttons"])
