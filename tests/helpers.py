"""Test helpers: a small known team, and a chat that talks to a runtime like a rep would."""
from __future__ import annotations

import itertools
from datetime import timedelta

from handlers.messages import Incoming
from bot.render import render_text
from handlers.parse import initials_of
from storage import deals, people
from storage.models import Activity, Customer, Deal, Outbox, StageChange

_ids = itertools.count(1)


def small_team(rt):
    """Team 东区: manager boss, reps alice and bob, group 'mgr'; alice owns 华联超市 and 华联便利店,
    bob owns 永辉超市. Deals start in stage 1 at the runtime's now."""
    now = rt.now()
    with rt.database.connection_context():
        team = people.ensure_team("东区")
        boss, _ = people.upsert_rep(team, "boss", "李岩", "manager", wecom_userid="boss", dingtalk_staffid="boss")
        alice, _ = people.upsert_rep(team, "alice", "王磊", "rep", wecom_userid="alice", dingtalk_staffid="alice")
        bob, _ = people.upsert_rep(team, "bob", "张敏", "rep", wecom_userid="bob", dingtalk_staffid="bob")
        people.upsert_group(team, "manager", "mgr", "东区主管群")
        for owner, name, amount in ((alice, "华联超市", 80000), (alice, "华联便利店", 30000), (bob, "永辉超市", 50000)):
            deals.create_customer_and_deal(owner, name, initials_of(name), amount, rt.funnel.first.key, now)
    return {"boss": boss, "alice": alice, "bob": bob}


class Chat:
    def __init__(self, rt, channel: str = "local"):
        self.rt, self.channel = rt, channel

    def send(self, user: str, text: str = "", action: str | None = None, msg_id: str | None = None):
        return self.rt.handle(Incoming(self.channel, msg_id or f"m{next(_ids)}", user, text=text, action=action))

    def say(self, user: str, text: str = "", **kw) -> str:
        return "\n".join(render_text(r) for r in self.send(user, text, **kw).replies)


def counts(rt) -> dict:
    """Row counts that a command could change: 'nothing written' compares these."""
    with rt.database.connection_context():
        return {m.__name__: m.select().count() for m in (Customer, Deal, Activity, StageChange, Outbox)}


def deal_of(rt, customer_name: str) -> Deal:
    with rt.database.connection_context():
        return Deal.select().join(Customer).where(Customer.name == customer_name).get()


def advance(clock, **delta):
    clock.set(clock.now() + timedelta(**delta))
