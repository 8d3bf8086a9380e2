"""Set-based queries of the daily health recompute: one query per signal for all customers."""
from __future__ import annotations

from datetime import date, datetime, timedelta

from peewee import chunked, fn

from rules.health_score import HealthRules, Signals

from .database import bulk_insert
from .models import Activity, Contact, Customer, HealthScore, Ticket, TierChange
from .prepared import instance, prepared


def gather(rules: HealthRules, now: datetime, team_id: int | None = None) -> dict[int, Signals]:
    """Signals of every customer (of a team) as of `now` (naive UTC)."""
    s = rules.signals

    def since(key: str) -> datetime:
        return now - timedelta(days=rules.windows[key])

    def scoped(q):
        return q.where(Customer.team == team_id) if team_id is not None else q

    customers = [cid for (cid,) in scoped(Customer.select(Customer.id)).tuples()]
    last = dict(scoped(Activity.select(Activity.customer, fn.MAX(Activity.at)).join(Customer)
                       .where(Activity.kind.in_(s["recency"].get("kinds", ["visit", "call", "meeting"]))
                              & (Activity.at <= now)).group_by(Activity.customer)).tuples())

    def count(kind: str, key: str) -> dict[int, int]:
        return dict(scoped(Activity.select(Activity.customer, fn.COUNT(Activity.id)).join(Customer)
                           .where((Activity.kind == kind) & (Activity.at > since(key)) & (Activity.at <= now))
                           .group_by(Activity.customer)).tuples())

    opens, competitor = count("doc_open", "doc_opens"), count("competitor", "competitor")
    dm = dict(scoped(Activity.select(Activity.customer, fn.COUNT(Activity.id)).join(Contact)
                     .switch(Activity).join(Customer)
                     .where((Contact.is_decision_maker == True) & (Activity.at > since("decision_maker"))  # noqa: E712
                            & (Activity.at <= now)).group_by(Activity.customer)).tuples())
    zero = float(s["collaboration"].get("zero_after_hours", 48))
    waits: dict[int, list[float]] = {}
    for cid, opened, answered in scoped(Ticket.select(Ticket.customer, Ticket.opened_at, Ticket.answered_at)
                                        .join(Customer).where((Ticket.opened_at > since("collaboration"))
                                                              & (Ticket.opened_at <= now))).tuples():
        end = answered if answered is not None and answered <= now else now
        hours = (end - opened).total_seconds() / 3600
        if answered is None or answered > now:
            hours = max(hours, 0.0) if hours >= zero else None  # still open: counts once it is slow
        if hours is not None:
            waits.setdefault(cid, []).append(hours)
    out = {}
    for cid in customers:
        t = last.get(cid)
        w = waits.get(cid)
        out[cid] = Signals(days_since_contact=None if t is None else max(0.0, (now - t).total_seconds() / 86400),
                           doc_opens=int(opens.get(cid, 0)), decision_maker_interactions=int(dm.get(cid, 0)),
                           competitor_events=int(competitor.get(cid, 0)),
                           avg_ticket_response_hours=sum(w) / len(w) if w else None)
    return out


def current_state(team_id: int | None = None) -> dict[int, tuple]:
    """{customer id: (health, tier, high_intent, team_id, owner_id, name)}."""
    q = Customer.select(Customer.id, Customer.health, Customer.tier, Customer.high_intent, Customer.team,
                        Customer.owner, Customer.name)
    if team_id is not None:
        q = q.where(Customer.team == team_id)
    return {row[0]: row[1:] for row in q.tuples()}


def save_scores(day: date, scores: dict[int, tuple[int, str]]) -> None:
    """Keep one score per customer and day (a second run the same day replaces it)."""
    HealthScore.delete().where(HealthScore.day == day).execute() if len(scores) > 1000 else \
        HealthScore.delete().where((HealthScore.day == day) & HealthScore.customer.in_(list(scores))).execute()
    bulk_insert(HealthScore, [HealthScore.customer, HealthScore.day, HealthScore.score, HealthScore.parts],
                [(cid, day, total, parts) for cid, (total, parts) in scores.items()])


def update_customers(changes: list[tuple[int, int, str, bool]], entered: list[int], left: list[int],
                     now: datetime) -> None:
    """Write (id, health, tier, high_intent) for customers whose state changed: one UPDATE per distinct
    value set (at most ~100 scores x tiers x flags), not one per customer."""
    groups: dict[tuple, list[int]] = {}
    for cid, health, tier, high in changes:
        groups.setdefault((health, tier, high), []).append(cid)
    for (health, tier, high), ids in groups.items():
        for batch in chunked(ids, 5000):
            Customer.update(health=health, tier=tier, high_intent=high).where(Customer.id.in_(batch)).execute()
    for batch in chunked(entered, 5000):
        Customer.update(high_intent_since=now).where(Customer.id.in_(batch)).execute()
    for batch in chunked(left, 5000):
        Customer.update(high_intent_since=None).where(Customer.id.in_(batch)).execute()


def record_tier_changes(changes: list[tuple[int, str, str]], day: date) -> None:
    bulk_insert(TierChange, [TierChange.customer, TierChange.from_tier, TierChange.to_tier, TierChange.day],
                [(cid, a, b, day) for cid, a, b in changes])


_score_on = prepared(lambda customer_id, day: HealthScore.select(HealthScore.score)
                     .where((HealthScore.customer == customer_id) & (HealthScore.day <= day))
                     .order_by(HealthScore.day.desc()).limit(1))
SCORE_FIELDS = tuple(HealthScore._meta.sorted_fields)
_latest = prepared(lambda customer_id: HealthScore.select(*SCORE_FIELDS).where(HealthScore.customer == customer_id)
                   .order_by(HealthScore.day.desc()).limit(1))


def score_on(customer_id: int, day: date) -> int | None:
    """The customer's score on `day`, or the latest before it."""
    row = _score_on.first(customer_id, day)
    return row[0] if row else None


def latest(customer_id: int) -> HealthScore | None:
    row = _latest.first(customer_id)
    return None if row is None else instance(HealthScore, SCORE_FIELDS, row)


def _high_intent(*where):
    return (Customer.select(Customer.name).where((Customer.high_intent == True), *where)  # noqa: E712
            .order_by(Customer.health.desc()).limit(10))


_high_intent_of_team = prepared(lambda team: _high_intent(Customer.team == team))
_high_intent_of_owner = prepared(lambda team, owner: _high_intent(Customer.team == team, Customer.owner == owner))


def high_intent_names(team_id: int, owner_id: int | None = None) -> list[str]:
    """The team's (or one rep's) high-intent customers, best score first, at most 10."""
    rows = (_high_intent_of_team.rows(team_id) if owner_id is None
            else _high_intent_of_owner.rows(team_id, owner_id))
    return [n for (n,) in rows]
