"""The stored history the manager's numbers are computed from (rules/kpi.py), and team targets.

Set-based: a fixed handful of queries per team and period, whatever the number of reps, customers
or deals (never a query per customer or per deal). Times are naive UTC; `team_id` None = every team.
"""
from __future__ import annotations

import operator
from datetime import date, datetime
from functools import reduce

from peewee import fn

from rules.kpi import CustomerActivity, DealRow, KpiInput, StageMove, close_day

from .models import Activity, Customer, Deal, HealthScore, Rep, StageChange, Target, Team, Warning, db


SCORE_BATCH = 400  # (customer, day) pairs per query: well inside every database's parameter limit


def _dt(v):
    """A stored timestamp as a naive datetime: SQLite hands back the stored text."""
    if v is None or isinstance(v, datetime):
        return v
    return datetime.fromisoformat(str(v))


def _rows(q) -> list[tuple]:
    """The raw rows of a query: peewee's per-row conversion costs more than the queries here; the
    callers convert what they use (_dt for timestamps, which SQLite hands back as text)."""
    return db.execute(q).fetchall()


def _team(q, field, team_id):
    return q if team_id is None else q.where(field == team_id)


def _alive(start: datetime, until: datetime):
    """Deals that were open at some moment of [start, until)."""
    return (Deal.created_at < until) & ((Deal.status == "open") | (Deal.closed_at >= start))


def _open_at(until: datetime):
    return (Deal.created_at < until) & ((Deal.status == "open") | (Deal.closed_at >= until))


def load(team_id: int | None, start: datetime, until: datetime, tz, target_key: str | None = None,
         target_start: datetime | None = None, target_end: datetime | None = None) -> KpiInput:
    """Everything rules.kpi.compute needs for [start, until): eight queries, one pass each."""
    data = KpiInput(start=start, until=until)
    alive = _alive(start, until)

    q = (Deal.select(Deal.id, Deal.customer, Deal.owner, Deal.amount, Deal.status, Deal.stage, Deal.created_at,
                     Deal.closed_at, Deal.last_movement_at, Deal.next_step_due, Customer.high_intent)
         .join(Customer, on=(Deal.customer == Customer.id)).where(alive))
    data.deals = [DealRow(i, c, o, int(a or 0), st, sg, _dt(cr), _dt(cl), _dt(lm), _dt(due), bool(hi))
                  for i, c, o, a, st, sg, cr, cl, lm, due, hi in _rows(_team(q, Deal.team, team_id))]

    q = (StageChange.select(StageChange.deal, StageChange.from_stage, StageChange.to_stage, StageChange.at)
         .join(Deal, on=(StageChange.deal == Deal.id)).where(alive & (StageChange.at < until))
         .order_by(StageChange.deal, StageChange.at, StageChange.id))
    data.moves = [StageMove(d, f, t, _dt(at)) for d, f, t, at in _rows(_team(q, Deal.team, team_id))]

    q = (Activity.select(Activity.customer, Customer.owner, fn.COUNT(Activity.id), fn.MIN(Activity.at),
                         fn.MAX(Activity.at))
         .join(Customer, on=(Activity.customer == Customer.id))
         .where((Activity.at >= start) & (Activity.at < until))
         .group_by(Activity.customer, Customer.owner))
    data.activity = [CustomerActivity(c, o, int(n), _dt(a), _dt(b))
                     for c, o, n, a, b in _rows(_team(q, Customer.team, team_id))]

    # deals open at the end that moved after it: their last movement back then is rebuilt
    q = (Activity.select(Activity.deal, fn.MAX(Activity.at)).join(Deal, on=(Activity.deal == Deal.id))
         .where(_open_at(until) & ((Deal.status != "open") | (Deal.last_movement_at > until))
                & (Activity.at < until))
         .group_by(Activity.deal))
    data.last_activity = {d: _dt(at) for d, at in _rows(_team(q, Deal.team, team_id))}

    risky = _open_at(until) | ((Deal.status == "lost") & (Deal.closed_at >= start) & (Deal.closed_at < until))
    q = (Warning.select(Warning.deal, fn.MIN(Warning.at)).join(Deal, on=(Warning.deal == Deal.id))
         .where(risky & Warning.level.in_(("orange", "red")) & (Warning.at < until))
         .group_by(Warning.deal))
    data.first_flag = {d: _dt(at) for d, at in _rows(_team(q, Deal.team, team_id))}

    # the health score of each closed deal's customer on the (local) day it closed, and no other
    pairs = {(d.customer_id, close_day(d.closed_at, tz)) for d in data.deals
             if d.status != "open" and d.closed_at is not None and start <= d.closed_at < until}
    for terms in _score_batches(pairs):
        cond = reduce(operator.or_, [(HealthScore.day == day) & HealthScore.customer.in_(cs) for day, cs in terms])
        q = HealthScore.select(HealthScore.customer, HealthScore.day, HealthScore.score).where(cond)
        data.scores.update({(c, d if isinstance(d, date) else date.fromisoformat(str(d))): int(s)
                            for c, d, s in _rows(q)})

    if target_key:
        data.target_key = target_key
        t_until = min(until, target_end) if target_end else until
        data.target_amount, data.target_won = target_progress(team_id, target_key, target_start or start, t_until)
    return data


def _score_batches(pairs: set[tuple[int, date]]):
    """(day, [customers]) terms in batches of at most SCORE_BATCH parameters and 40 terms: every
    database answers `(day = ? AND customer IN (...)) OR ...` from the (customer, day) index (SQLite
    scans the table for a row-value IN list)."""
    by_day: dict[date, list[int]] = {}
    for customer, day in sorted(pairs, key=lambda p: (p[1], p[0])):
        by_day.setdefault(day, []).append(customer)
    batch, size = [], 0
    for day, customers in by_day.items():
        for i in range(0, len(customers), SCORE_BATCH):
            part = customers[i:i + SCORE_BATCH]
            if batch and (size + len(part) + 1 > SCORE_BATCH or len(batch) >= 40):
                yield batch
                batch, size = [], 0
            batch.append((day, part))
            size += len(part) + 1
    if batch:
        yield batch


def target_progress(team_id: int | None, key: str, start: datetime, until: datetime) -> tuple[int | None, int]:
    """(target amount or None, won amount in [start, until)) for a team, or all teams with a target."""
    q = Target.select(Target.team, Target.amount).where(Target.period == key)
    targets = dict(_team(q, Target.team, team_id).tuples())
    if not targets:
        return None, 0
    won = (Deal.select(fn.COALESCE(fn.SUM(Deal.amount), 0))
           .where((Deal.status == "won") & (Deal.closed_at >= start) & (Deal.closed_at < until)
                  & Deal.team.in_(list(targets))).scalar())
    return sum(targets.values()), int(won or 0)


def reps_of(team_id: int | None) -> dict[int, tuple[str, str, bool]]:
    """{rep id: (name, role, active)} of the team's people."""
    q = Rep.select(Rep.id, Rep.name, Rep.role, Rep.active)
    return {i: (n, r, bool(a)) for i, n, r, a in _team(q, Rep.team, team_id).tuples()}


def health_values(team_id: int | None) -> list[int | None]:
    """Every customer's latest health score (None: not scored yet)."""
    q = Customer.select(Customer.health)
    return [h for (h,) in _team(q, Customer.team, team_id).tuples()]


def team_ids() -> list[tuple[int, str]]:
    return list(Team.select(Team.id, Team.name).order_by(Team.id).tuples())


def set_target(team_name: str, period: str, amount: int) -> tuple[Team, bool] | None:
    """Create or change a team's target for a period; None when there is no such team."""
    team = Team.get_or_none(Team.name == team_name)
    if team is None:
        return None
    with db.atomic():
        row = Target.get_or_none((Target.team == team) & (Target.period == period))
        if row is None:
            Target.create(team=team, period=period, amount=amount)
            return team, True
        row.amount = amount
        row.save()
    return team, False


def target_of(team_id: int, period: str) -> int | None:
    row = Target.get_or_none((Target.team == team_id) & (Target.period == period))
    return row.amount if row else None
