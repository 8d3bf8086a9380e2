"""Time travel through a normal week, National Day 2026 and Spring Festival 2027: the scheduler's jobs
run every half hour, and for each person every message the bot sent on its own is counted with the
local hour it went out at. Nothing outside 09:00-20:00 or on a day off; each level once per silence
period; held warnings inside the 09:00 card; at most the daily budget a person."""
from __future__ import annotations

import json
from collections import Counter
from datetime import date, datetime, timedelta, timezone

from bot.clock import FixedClock
from bot.jobs import JOBS
from bot.jobs.pushes import INITIATED
from rules.calendar import is_workday
from storage import deals
from handlers.parse import initials_of
from storage.models import Deal, Outbox, Rep, Warning
from tests.conftest import make_runtime
from tests.helpers import small_team

SHANGHAI = timezone(timedelta(hours=8))
ORDER = [n for n in JOBS if n != "deliver"] + ["deliver"]  # as the simulator: delivery last


def local(*args) -> datetime:
    return datetime(*args, tzinfo=SHANGHAI).astimezone(timezone.utc).replace(tzinfo=None)


def to_local(dt: datetime) -> datetime:
    return dt.replace(tzinfo=timezone.utc).astimezone(SHANGHAI).replace(tzinfo=None)


def travel(rt, start: datetime, end: datetime, step=timedelta(minutes=30)) -> None:
    t = start
    while t <= end:
        rt.clock.set(t.replace(tzinfo=timezone.utc))
        with rt.database.connection_context():
            for name in ORDER:
                JOBS[name](rt, t)
        t += step


def sent(rt) -> list[tuple[str, str, datetime, dict]]:
    """(key, recipient, local time sent, payload) of every message the bot sent on its own, as its
    own message (not carried inside another's)."""
    with rt.database.connection_context():
        q = Outbox.select().where(Outbox.status == "sent").order_by(Outbox.sent_at, Outbox.id)
        return [(r.key, r.recipient, to_local(r.sent_at), json.loads(r.payload)) for r in q
                if r.key.startswith(INITIATED) and not (r.last_error or "").startswith("merged:")]


def assert_quiet(rt, messages, days_off=frozenset(), extra=frozenset()):
    sched = rt.funnel.schedule
    for key, to, at, _ in messages:
        assert is_workday(at.date(), sched.days_off, sched.extra_workdays), (key, to, at)
        assert 9 <= at.hour < 20, (key, to, at)
    per_day = Counter((to, at.date()) for _, to, at, _ in messages)
    assert max(per_day.values(), default=0) <= sched.daily_budget, per_day.most_common(3)


def once_per_period(rt):
    with rt.database.connection_context():
        fired = Counter((w.deal_id, w.level, w.since) for w in Warning.select())
    assert fired and set(fired.values()) == {1}


def add_deal(rt, owner: str, name: str, moved: datetime, amount: int = 50000) -> None:
    with rt.database.connection_context():
        rep = Rep.get(Rep.local_id == owner)
        deals.create_customer_and_deal(rep, name, initials_of(name), amount, rt.funnel.first.key, moved)


def runtime(url, start, tmp_path=None, extra_rules: str = "", days_off=()):
    rules = None
    if extra_rules or days_off:
        from rules.funnel import DEFAULT_RULES
        text = DEFAULT_RULES.read_text(encoding="utf-8")
        if days_off:
            text = text.replace("days_off = []", "days_off = [" + ", ".join(f'"{d}"' for d in days_off) + "]")
        rules = tmp_path / "funnel.toml"
        rules.write_text(text + extra_rules, encoding="utf-8")
    rt = make_runtime(url, FixedClock(start.replace(tzinfo=timezone.utc)), **({"bot_rules": str(rules)} if rules else {}))
    small_team(rt)
    return rt


def test_a_normal_week_with_a_weekend(sqlite_url):
    """Deals gone quiet at 10:00 Monday, 22:00 Friday and 02:00 Wednesday: warnings only in working hours,
    the night crossings inside the next 09:00 card, nothing on Saturday or Sunday."""
    rt = runtime(sqlite_url, local(2026, 11, 30, 10, 0))  # Monday
    add_deal(rt, "alice", "夜猫超市", local(2026, 11, 27, 22, 0))  # Friday 22:00: yellow Tuesday 22:00
    add_deal(rt, "bob", "凌晨便利", local(2026, 12, 2, 2, 0))  # Wednesday 02:00
    travel(rt, local(2026, 11, 30, 10, 0), local(2026, 12, 14, 8, 0))
    msgs = sent(rt)
    assert_quiet(rt, msgs)
    once_per_period(rt)
    hours = Counter(at.hour for _, _, at, _ in msgs)
    assert hours and min(hours) >= 9 and max(hours) < 20
    assert not [m for m in msgs if m[2].date() in (date(2026, 12, 5), date(2026, 12, 6), date(2026, 12, 12))]
    with rt.database.connection_context():
        night = Deal.select().join(deals.Customer).where(deals.Customer.name == "夜猫超市").get()
        levels = {w.level: to_local(w.at) for w in Warning.select().where(Warning.deal == night)}
        folded = [r for r in Outbox.select() if r.key.startswith(f"warn:alice:") and (r.last_error or "").startswith("merged:")]
    assert levels["yellow"] == datetime(2026, 12, 1, 22, 0)  # two working days after Friday 22:00
    assert folded  # that night's warning came inside Wednesday's 09:00 card, not beside it
    cards = [(to, at) for key, to, at, _ in msgs if key.startswith("task:")]
    # one card each working morning at 09:00 (the first day's came at 10:00, when the bot started)
    assert {(at.date(), at.hour) for to, at in cards if to == "alice" and at.date() > date(2026, 11, 30)} == {
        (date(2026, 11, 30) + timedelta(days=d), 9) for d in range(14)
        if date(2026, 11, 30) + timedelta(days=d) not in (date(2026, 12, 5), date(2026, 12, 6), date(2026, 12, 12),
                                                         date(2026, 12, 13), date(2026, 11, 30))}
    # the red cards the manager group got: in working hours, each red deal once
    reds = [m for m in msgs if m[1] == "mgr" and m[0].startswith(("red:", "reddigest:"))]
    assert reds and all(9 <= at.hour < 20 for _, _, at, _ in reds)


def test_national_day_2026(sqlite_url, tmp_path):
    """Deals quiet since the last days of September: nothing from 10-01 to 10-07 nor on Sunday 10-11;
    the working Saturday 10-10 counts. A second team counting calendar hours goes red during the
    break: its reps get one card each on 10-08 at 09:00, its manager group one digest, not a burst."""
    extra = '\n[teams."西区"]\nclock = "calendar"\n'
    rt = runtime(sqlite_url, local(2026, 9, 28, 10, 0), tmp_path, extra)
    with rt.database.connection_context():
        from storage import people
        west = people.ensure_team("西区")
        people.upsert_rep(west, "wmgr", "西区主管", "manager")
        people.upsert_rep(west, "carol", "陈晨", "rep")
        people.upsert_group(west, "manager", "wgroup", "西区主管群")
    for i, h in enumerate((3, 11, 15, 19, 23)):
        add_deal(rt, "carol", f"西区客户{i}", local(2026, 9, 29, h, 0))
    add_deal(rt, "bob", "节前客户", local(2026, 9, 30, 16, 0))
    travel(rt, local(2026, 9, 28, 10, 0), local(2026, 10, 13, 21, 0))
    msgs = sent(rt)
    assert_quiet(rt, msgs)
    once_per_period(rt)
    assert not [m for m in msgs if date(2026, 10, 1) <= m[2].date() <= date(2026, 10, 7) or m[2].date() == date(2026, 10, 11)]
    assert [m for m in msgs if m[2].date() == date(2026, 10, 10) and m[0].startswith("task:")]  # the working Saturday
    # the calendar-hour team on the first working morning: carol one card (her warnings inside it), the group one digest
    oct8 = [m for m in msgs if m[2].date() == date(2026, 10, 8) and m[2].hour == 9]
    assert [k for k, to, _, _ in oct8 if to == "carol"] == ["task:carol:2026-10-08"]
    group = [(k, p) for k, to, _, p in oct8 if to == "wgroup"]
    assert len(group) == 1 and group[0][0].startswith("reddigest:") and group[0][1]["data"]["count"] == 5
    # the working-day team: 节前客户 (Wednesday 16:00) yellow two working days later, 10-09 16:00
    with rt.database.connection_context():
        d = Deal.select().join(deals.Customer).where(deals.Customer.name == "节前客户").get()
        assert {w.level: to_local(w.at) for w in Warning.select().where(Warning.deal == d)}["yellow"] == \
            datetime(2026, 10, 9, 16, 0)


def test_spring_festival_2027(sqlite_url, tmp_path):
    """chinesecalendar 1.11 has no 2027 yet: the team lists its Spring Festival days off in [schedule]."""
    off = [date(2027, 2, d) for d in range(6, 14)]
    rt = runtime(sqlite_url, local(2027, 2, 3, 10, 0), tmp_path, days_off=off)
    add_deal(rt, "alice", "年前客户", local(2027, 2, 4, 14, 0))
    travel(rt, local(2027, 2, 3, 10, 0), local(2027, 2, 19, 21, 0))
    msgs = sent(rt)
    assert_quiet(rt, msgs)
    once_per_period(rt)
    assert not [m for m in msgs if m[2].date() in off or m[2].date().weekday() >= 5 and m[2].date() not in off]
    with rt.database.connection_context():
        d = Deal.select().join(deals.Customer).where(deals.Customer.name == "年前客户").get()
        at = {w.level: to_local(w.at) for w in Warning.select().where(Warning.deal == d)}
    # Thursday 14:00: Thursday and Friday 02-05, then the break and its weekend: yellow on Monday 02-15 14:00
    assert at["yellow"] == datetime(2027, 2, 15, 14, 0) and at["orange"] == datetime(2027, 2, 16, 14, 0)


def test_the_daily_budget_then_one_digest(sqlite_url):
    """Ten deals of alice's gone quiet half an hour apart cross one by one: six messages that day at
    most, the rest in one digest before the window closes."""
    rt = runtime(sqlite_url, local(2026, 11, 30, 9, 0))
    for i in range(10):
        add_deal(rt, "alice", f"预算客户{i}", local(2026, 11, 30, 9, 10) + timedelta(minutes=40 * i))
    travel(rt, local(2026, 11, 30, 9, 0), local(2026, 12, 2, 21, 0))
    msgs = sent(rt)
    assert_quiet(rt, msgs)
    wed = [(k, at, p) for k, to, at, p in msgs if to == "alice" and at.date() == date(2026, 12, 2)]
    assert len(wed) == rt.funnel.schedule.daily_budget
    digest = [p for k, _, p in wed if k.startswith("digest:")]
    assert len(digest) == 1 and [at.hour for k, at, _ in wed if k.startswith("digest:")] == [19]
    with rt.database.connection_context():
        yellow = Warning.select().join(Deal).join(Rep, on=Deal.owner).where((Rep.local_id == "alice") & (Warning.level == "yellow"))
        names = {w.deal.customer.name for w in yellow}
    # every warning reached alice: in its own message, on the 09:00 card, or in the digest
    told = " ".join(json.dumps(p, ensure_ascii=False) for _, _, p in wed)
    assert all(n in told for n in names if n.startswith("预算客户"))
