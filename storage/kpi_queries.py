"""The stored history the manager's numbers are computed from (rules/kpi.py), and the targets: a team's
(`target`) and each rep's own (`rep_target`).

Set-based: a fixed handful of queries per team and period, whatever the number of reps, customers
or deals (never a query per customer or per deal). Times are naive UTC; `team_id` None = every team.
"""
from __future__ import annotations

import operator
from dataclasses import dataclass
from datetime import date, datetime
from functools import reduce

from peewee import IntegrityError, fn

from rules.access import MANAGER_ROLES
from rules.kpi import CustomerActivity, DealRow, KpiInput, StageMove, close_day

from .localday import local_date
from .models import (Activity, Customer, Deal, HealthScore, ManagerAction, Rep, RepTarget, StageChange, Target,
                     Team, Warning, db)

PLAN = "plan"  # a next step booked with nothing done (handlers.activities): no follow-up, no movement


SCORE_BATCH = 400  # (customer, day) pairs per query: well inside every database's parameter limit


def _dt(v):
    """A stored timestamp as a naive datetime: SQLite hands back the stored text."""
    if v is None or isinstance(v, datetime):
        return v
    return datetime.fromisoformat(str(v))


def _day(v) -> datetime:
    """A DATE() value (text on SQLite, a date elsewhere) as midnight."""
    if isinstance(v, datetime):
        return v.replace(hour=0, minute=0, second=0, microsecond=0)
    if isinstance(v, date):
        return datetime(v.year, v.month, v.day)
    return datetime.fromisoformat(str(v)[:10])


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


@dataclass(frozen=True)
class Window:
    """A period to load, [start, until) in naive UTC, and the target period it is measured against."""
    start: datetime
    until: datetime
    target_key: str | None = None
    target_start: datetime | None = None
    target_end: datetime | None = None


def load(team_id: int | None, start: datetime, until: datetime, tz, target_key: str | None = None,
         target_start: datetime | None = None, target_end: datetime | None = None) -> KpiInput:
    """Everything rules.kpi.compute needs for [start, until)."""
    return load_windows(team_id, [Window(start, until, target_key, target_start, target_end)], tz)[0]


def load_windows(team_id: int | None, windows: list[Window], tz) -> list[KpiInput]:
    """The inputs of several periods (a period and its baseline) at once: deals, stage changes, first
    warnings and health scores are read once over the span of all of them (rules.kpi.compute picks each
    period's own); the activity aggregates and targets once per period. 6 + 5 per period queries, plus
    one per 400 closed deals for their health scores."""
    lo, hi = min(w.start for w in windows), max(w.until for w in windows)
    alive = _alive(lo, hi)

    q = (Deal.select(Deal.id, Deal.customer, Deal.owner, Deal.amount, Deal.status, Deal.stage, Deal.created_at,
                     Deal.closed_at, Deal.last_movement_at, Deal.next_step_due, Customer.high_intent, Deal.lost_reason)
         .join(Customer, on=(Deal.customer == Customer.id)).where(alive))
    deals = [DealRow(i, c, o, int(a or 0), st, sg, _dt(cr), _dt(cl), _dt(lm), _dt(due), bool(hi_), why)
             for i, c, o, a, st, sg, cr, cl, lm, due, hi_, why in _rows(_team(q, Deal.team, team_id))]

    q = (StageChange.select(StageChange.deal, StageChange.from_stage, StageChange.to_stage, StageChange.at)
         .join(Deal, on=(StageChange.deal == Deal.id)).where(alive & (StageChange.at < hi))
         .order_by(StageChange.deal, StageChange.at, StageChange.id))
    moves = [StageMove(d, f, t, _dt(at)) for d, f, t, at in _rows(_team(q, Deal.team, team_id))]

    # the first orange/red warning of each deal lost in a period or open at a period's end: the earliest
    # overall, so "before it was lost" / "before the period end" holds for every period alike
    risky = reduce(operator.or_, [_open_at(w.until) | ((Deal.status == "lost") & (Deal.closed_at >= w.start)
                                                       & (Deal.closed_at < w.until)) for w in windows])
    q = (Warning.select(Warning.deal, fn.MIN(Warning.at)).join(Deal, on=(Warning.deal == Deal.id))
         .where(risky & Warning.level.in_(("orange", "red")) & (Warning.at < hi))
         .group_by(Warning.deal))
    first_flag = {d: _dt(at) for d, at in _rows(_team(q, Deal.team, team_id))}

    # the first time a manager acted on each of those deals: 介入 / 催办 / 改派, or an activity a manager
    # (or admin) logged on the deal, answering the rep's call for help
    q = (ManagerAction.select(ManagerAction.deal, fn.MIN(ManagerAction.at)).join(Deal, on=(ManagerAction.deal == Deal.id))
         .where(risky & (ManagerAction.at < hi)).group_by(ManagerAction.deal))
    first_action = {d: _dt(at) for d, at in _rows(_team(q, Deal.team, team_id))}
    q = (Activity.select(Activity.deal, fn.MIN(Activity.at)).join(Deal, on=(Activity.deal == Deal.id))
         .join(Rep, on=(Activity.rep == Rep.id))
         .where(risky & (Activity.at < hi) & Rep.role.in_(MANAGER_ROLES)).group_by(Activity.deal))
    for d, at in _rows(_team(q, Deal.team, team_id)):
        at = _dt(at)
        if d not in first_action or at < first_action[d]:
            first_action[d] = at

    # the health score of each closed deal's customer on the (local) day it closed, and no other
    pairs = {(d.customer_id, close_day(d.closed_at, tz)) for d in deals
             if d.status != "open" and d.closed_at is not None and lo <= d.closed_at < hi}
    scores: dict = {}
    for terms in _score_batches(pairs):
        cond = reduce(operator.or_, [(HealthScore.day == day) & HealthScore.customer.in_(cs) for day, cs in terms])
        q = HealthScore.select(HealthScore.customer, HealthScore.day, HealthScore.score).where(cond)
        scores.update({(c, d if isinstance(d, date) else date.fromisoformat(str(d))): int(s)
                       for c, d, s in _rows(q)})

    out = []
    for w in windows:
        data = KpiInput(start=w.start, until=w.until, deals=deals, moves=moves, first_flag=first_flag,
                        first_action=first_action, scores=scores)
        # per customer: the days with activity (several logs on one day count once), the first and the last
        day = local_date(Activity.at, tz, w.start)
        q = (Activity.select(Activity.customer, Customer.owner, fn.COUNT(day.distinct()), fn.MIN(day), fn.MAX(day))
             .join(Customer, on=(Activity.customer == Customer.id))
             .where((Activity.at >= w.start) & (Activity.at < w.until) & (Activity.kind != PLAN))
             .group_by(Activity.customer, Customer.owner))
        data.activity = [CustomerActivity(c, o, int(n), _day(a), _day(b))
                         for c, o, n, a, b in _rows(_team(q, Customer.team, team_id))]
        # deals open at the end that moved after it: their last movement back then is rebuilt
        q = (Activity.select(Activity.deal, fn.MAX(Activity.at)).join(Deal, on=(Activity.deal == Deal.id))
             .where(_open_at(w.until) & ((Deal.status != "open") | (Deal.last_movement_at > w.until))
                    & (Activity.at < w.until) & (Activity.kind != PLAN))
             .group_by(Activity.deal))
        data.last_activity = {d: _dt(at) for d, at in _rows(_team(q, Deal.team, team_id))}
        if w.target_key:
            data.target_key = w.target_key
            t_until = min(w.until, w.target_end) if w.target_end else w.until
            t = target_progress(team_id, w.target_key, w.target_start or w.start, t_until)
            data.target_amount, data.target_won, data.target_reps = t.amount, t.won, t.summed_reps
            data.rep_targets, data.rep_won = t.by_rep, t.won_by_rep
        out.append(data)
    return out


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


@dataclass(frozen=True)
class Progress:
    """The targets of a period and the amounts won toward them in its window."""
    amount: int | None  # the team's target (every team's: their sum); None when there is none to measure
    won: int  # won on the deals of the teams measured
    summed_reps: int  # reps whose own targets stand in for a team target that is not set
    by_rep: dict[int, int]  # rep -> their own target
    won_by_rep: dict[int, int]  # rep -> won on the deals they own


def target_progress(team_id: int | None, key: str, start: datetime, until: datetime) -> Progress:
    """A team's target for `key` (every team with one, for None) and each rep's own, with the amounts won
    in [start, until). A team without a target of its own is measured against the sum of its reps' targets.
    Three queries (two when nothing is set)."""
    q = Target.select(Target.team, Target.amount).where(Target.period == key)
    amounts = {t: int(a) for t, a in _team(q, Target.team, team_id).tuples()}
    q = (RepTarget.select(RepTarget.rep, Rep.team, RepTarget.amount).join(Rep, on=(RepTarget.rep == Rep.id))
         .where((RepTarget.period == key) & (RepTarget.amount > 0)))
    reps = [(r, t, int(a)) for r, t, a in _team(q, Rep.team, team_id).tuples()]
    if not amounts and not reps:
        return Progress(None, 0, 0, {}, {})
    summed = 0
    teams_set = set(amounts)
    for _, team, amount in reps:
        if team not in teams_set:
            amounts[team] = amounts.get(team, 0) + amount
            summed += 1
    q = (Deal.select(Deal.owner, fn.COALESCE(fn.SUM(Deal.amount), 0))
         .where((Deal.status == "won") & (Deal.closed_at >= start) & (Deal.closed_at < until)
                & Deal.team.in_(list(amounts))).group_by(Deal.owner))
    won_by_rep = {o: int(a or 0) for o, a in q.tuples()}
    return Progress(sum(amounts.values()), sum(won_by_rep.values()), summed, {r: a for r, _, a in reps}, won_by_rep)


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


def _upsert(model, key: dict, amount: int, **extra) -> int | None:
    """Create or change the target row matching `key`; the amount it had before (None: it is new). Two
    writers at once: the loser of the unique index updates the winner's row."""
    where = reduce(operator.and_, [getattr(model, k) == v for k, v in key.items()])
    for _ in range(2):
        with db.atomic():
            row = model.select().where(where).first()
            if row is not None:
                model.update(amount=amount, **extra).where(model.id == row.id).execute()
                return int(row.amount)
            try:
                with db.atomic():
                    model.create(**key, amount=amount, **extra)
                return None
            except IntegrityError:
                continue
    raise RuntimeError("target row neither found nor created")


def set_target(team_name: str, period: str, amount: int) -> tuple[Team, bool] | None:
    """Create or change a team's target for a period; None when there is no such team."""
    team = Team.get_or_none(Team.name == team_name)
    if team is None:
        return None
    return team, set_team_target(team.id, period, amount) is None


def set_team_target(team_id: int, period: str, amount: int) -> int | None:
    """Create or change a team's target for a period; the amount it had before (None: new)."""
    return _upsert(Target, {"team": team_id, "period": period}, amount)


def set_rep_target(rep_id: int, period: str, amount: int, by: int | None, at: datetime | None) -> int | None:
    """Create or change a rep's own target for a period (set by `by`, None: the command line, at `at`);
    the amount it had before (None: new)."""
    return _upsert(RepTarget, {"rep": rep_id, "period": period}, amount, set_by=by, set_at=at)


def targets_set(team_id: int | None, period: str) -> tuple[int | None, dict[int, int]]:
    """(the team's target or None, {rep: their own target}) for a period, as stored."""
    team = None
    if team_id is not None:
        row = Target.select(Target.amount).where((Target.team == team_id) & (Target.period == period)).first()
        team = int(row.amount) if row else None
    q = (RepTarget.select(RepTarget.rep, RepTarget.amount).join(Rep, on=(RepTarget.rep == Rep.id))
         .where(RepTarget.period == period))
    return team, {r: int(a) for r, a in _team(q, Rep.team, team_id).tuples()}
