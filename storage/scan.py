"""Queries of the stale scan and the daily cards. Set-based: the scan reads only the deals whose
`next_check_at` has come (a threshold crossed, or the deal moved), never all open deals."""
from __future__ import annotations

from datetime import datetime

from peewee import chunked

from .database import bulk_insert_ignore, bulk_update
from .models import Customer, Deal, Rep, Warning, db

DUE_FIELDS = (Deal.id, Deal.owner, Deal.stage, Deal.last_movement_at, Deal.next_step_due, Deal.snoozed_until,
              Deal.warn_level, Deal.warn_since, Deal.team)


def due_deal_ids(now: datetime) -> list[int]:
    """Open deals that need a look now, grouped by owner (so one rep's warnings merge)."""
    q = (Deal.select(Deal.id).where((Deal.status == "open") & (Deal.next_check_at <= now))
         .order_by(Deal.owner, Deal.id))
    return [i for (i,) in q.tuples()]


def due_rows(ids: list[int]) -> list[tuple]:
    """(id, owner_id, stage, last_movement_at, next_step_due, snoozed_until, warn_level, warn_since, team_id)."""
    return list(Deal.select(*DUE_FIELDS).where(Deal.id.in_(ids)).order_by(Deal.owner, Deal.id).tuples())


def record_warnings(fired: list[tuple[int, str, datetime]], scan_id: str, now: datetime) -> set[int]:
    """Insert (deal, level, since) warnings; returns the deals whose warning this scan inserted.

    The unique key makes a concurrent or repeated scan insert nothing for a warning already fired.
    """
    if not fired:
        return set()
    bulk_insert_ignore(Warning, [Warning.deal, Warning.level, Warning.since, Warning.at, Warning.scan],
                       [(d, lv, since, now, scan_id) for d, lv, since in fired])
    mine: set[int] = set()
    for batch in chunked([d for d, _, _ in fired], 1000):
        mine |= {d for (d,) in Warning.select(Warning.deal).where((Warning.scan == scan_id)
                                                                   & Warning.deal.in_(batch)).tuples()}
    return mine


def save_scan_state(updates: list[tuple[int, str | None, datetime, datetime | None]]) -> None:
    """Set (warn_level, warn_since, next_check_at) per deal id."""
    bulk_update(Deal, [Deal.warn_level, Deal.warn_since, Deal.next_check_at],
                [(level, since, check, deal_id) for deal_id, level, since, check in updates])


def deal_details(ids: list[int]) -> list[Deal]:
    """Deals with customer and owner loaded, for the warning messages."""
    if not ids:
        return []
    out = []
    for batch in chunked(ids, 500):
        out += list(Deal.select(Deal, Customer, Rep).join(Customer).switch(Deal).join(Rep, on=Deal.owner)
                    .where(Deal.id.in_(batch)))
    return out


def active_reps() -> list[Rep]:
    return list(Rep.select().where(Rep.active == True).order_by(Rep.id))  # noqa: E712


class Named:
    __slots__ = ("name",)

    def __init__(self, name: str):
        self.name = name


class LiteDeal:
    """An open deal as the daily cards read it: plain attributes, no ORM instance (500k of them load fast)."""
    __slots__ = ("id", "owner_id", "team_id", "stage", "amount", "last_movement_at", "next_step", "next_step_due",
                 "snoozed_until", "status", "customer", "owner")

    def __init__(self, row):
        (self.id, self.owner_id, self.team_id, self.stage, self.amount, self.last_movement_at, self.next_step,
         self.next_step_due, self.snoozed_until, customer, owner) = row
        self.status = "open"
        self.customer, self.owner = Named(customer), Named(owner)


def open_deal_rows() -> dict[int, list[LiteDeal]]:
    """Every open deal of an active rep, grouped by owner id: one query for all the daily cards."""
    q = (Deal.select(Deal.id, Deal.owner, Deal.team, Deal.stage, Deal.amount, Deal.last_movement_at, Deal.next_step,
                     Deal.next_step_due, Deal.snoozed_until, Customer.name, Rep.name)
         .join(Customer).switch(Deal).join(Rep, on=Deal.owner)
         .where((Deal.status == "open") & (Rep.active == True)).tuples())  # noqa: E712
    out: dict[int, list[LiteDeal]] = {}
    # the driver's rows as they are (peewee's per-value conversion costs seconds at 500k rows);
    # SQLite hands datetimes back as text
    cursor = db.obj.execute(q)
    while True:
        rows = cursor.fetchmany(5000)
        if not rows:
            break
        for row in rows:
            d = LiteDeal(row)
            if isinstance(d.last_movement_at, str):
                d.last_movement_at = _dt(d.last_movement_at)
                d.next_step_due = _dt(d.next_step_due) if d.next_step_due else None
                d.snoozed_until = _dt(d.snoozed_until) if d.snoozed_until else None
            out.setdefault(d.owner_id, []).append(d)
    return out


def _dt(text: str) -> datetime:
    return datetime.fromisoformat(text)


def high_intent_by_owner() -> dict[int, list[tuple[int, str]]]:
    """{owner id: [(team id, customer name)]} of high-intent customers, best score first."""
    out: dict[int, list[tuple[int, str]]] = {}
    q = (Customer.select(Customer.owner, Customer.team, Customer.name).where(Customer.high_intent == True)  # noqa: E712
         .order_by(Customer.health.desc()).tuples())
    for owner, team, name in q:
        out.setdefault(owner, []).append((team, name))
    return out
