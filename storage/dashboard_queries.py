"""The queries of the manager dashboard (bot/web): set-based, whatever the number of deals.

Every query takes a scope, `team_id` (None: every team) and `owner_id` (None: the whole team), that
the web layer derives from who is logged in; nothing here widens it. Counts and sums are GROUP BY
queries, lists are LIMITed and use the indexes of storage/models.py; no query loads all deals.

Stale levels: the web layer passes, per stage, the instants before which a silence is yellow, orange
or red (`Cutoffs`, from the stage's thresholds in the rules file and `now`), so the database counts
and orders deals by the same rule as rules/stale.silence; the rows listed are then checked with that
function itself. Times are naive UTC.
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import date, datetime

from peewee import JOIN, Case, fn

from .localday import local_date
from .models import (Activity, ChatGroup, Contact, Customer, Deal, HealthScore, ManagerAction, Rep, RepTarget,
                     StageChange, Target, Team, Warning)

LEVELS = ("red", "orange", "yellow")  # most urgent first


@dataclass(frozen=True)
class Cutoffs:
    """A silence that started at or before `red` is red (then orange, then yellow)."""
    yellow: datetime
    orange: datetime
    red: datetime


@dataclass(frozen=True)
class LevelRule:
    """What the database needs to tell a deal's stale level: cutoffs per stage, a default for stages
    the rules file no longer has, and whether a booked next step pauses the clock."""
    by_stage: dict[str, Cutoffs]
    default: Cutoffs
    pause: bool

    @property
    def latest_yellow(self) -> datetime:
        """No deal that moved after this instant can be at any level (an index-friendly pre-filter)."""
        return max([c.yellow for c in self.by_stage.values()] + [self.default.yellow])


def _scoped(q, team_field, owner_field, team_id: int | None, owner_id: int | None):
    if team_id is not None:
        q = q.where(team_field == team_id)
    if owner_id is not None:
        q = q.where(owner_field == owner_id)
    return q


def silence_start(pause: bool):
    """SQL of rules.stale.silence_start: a next step booked after the last movement pauses the clock."""
    if not pause:
        return Deal.last_movement_at
    return Case(None, [((Deal.next_step_due.is_null(False)) & (Deal.next_step_due > Deal.last_movement_at),
                        Deal.next_step_due)], Deal.last_movement_at)


def level_of(rule: LevelRule):
    """SQL: 'red' | 'orange' | 'yellow' | NULL for an open deal, by its stage's cutoffs."""
    start = silence_start(rule.pause)

    def by(c: Cutoffs):
        return Case(None, [(start <= c.red, "red"), (start <= c.orange, "orange"), (start <= c.yellow, "yellow")],
                    None)

    if not rule.by_stage:
        return by(rule.default)
    return Case(Deal.stage, [(key, by(c)) for key, c in rule.by_stage.items()], by(rule.default))


def _warned(rule: LevelRule, team_id: int | None, owner_id: int | None):
    """Open deals that may be at a level. Without a team, or for one rep, the (status, last movement) and
    (owner, status, last movement) indexes narrow the rows to the silent ones; for a team, its
    (team, status, stage) index already holds just its open deals, and the planner does best with that."""
    if team_id is not None and owner_id is None:
        return Deal.status == "open"
    return (Deal.status == "open") & (Deal.last_movement_at <= rule.latest_yellow)


# -- the funnel ---------------------------------------------------------------------------------------

def stage_totals(team_id: int | None, owner_id: int | None) -> dict[str, tuple[int, int]]:
    """{stage: (open deals, amount)} in scope."""
    q = (Deal.select(Deal.stage, fn.COUNT(Deal.id), fn.COALESCE(fn.SUM(Deal.amount), 0))
         .where(Deal.status == "open").group_by(Deal.stage))
    q = _scoped(q, Deal.team, Deal.owner, team_id, owner_id)
    return {stage: (int(n), int(total)) for stage, n, total in q.tuples()}


# -- stale warnings -----------------------------------------------------------------------------------

def level_counts(team_id: int | None, owner_id: int | None, rule: LevelRule) -> dict[int, dict[str, tuple[int, int]]]:
    """{owner id: {level: (deals, amount)}} of the open deals at a stale level, in scope."""
    level = level_of(rule)
    q = (Deal.select(Deal.owner, level.alias("level"), fn.COUNT(Deal.id), fn.COALESCE(fn.SUM(Deal.amount), 0))
         .where(_warned(rule, team_id, owner_id)).group_by(Deal.owner, level))
    q = _scoped(q, Deal.team, Deal.owner, team_id, owner_id)
    out: dict[int, dict[str, tuple[int, int]]] = {}
    for owner, lv, n, amount in q.tuples():
        if lv:
            out.setdefault(owner, {})[lv] = (int(n), int(amount))
    return out


@dataclass(frozen=True)
class WarnedDeal:
    id: int
    customer: str
    owner: str
    owner_id: int
    stage: str
    amount: int
    last_movement_at: datetime
    next_step_due: datetime | None
    next_step: str | None
    snoozed_until: datetime | None
    intervention_by: int | None


def warned_deals(team_id: int | None, owner_id: int | None, rule: LevelRule, level: str | None = None,
                 limit: int = 50, offset: int = 0) -> list[WarnedDeal]:
    """Open deals at a stale level (or at `level`), the longest silence first."""
    lv, start = level_of(rule), silence_start(rule.pause)
    q = (Deal.select(Deal.id, Customer.name, Rep.name, Deal.owner, Deal.stage, Deal.amount, Deal.last_movement_at,
                     Deal.next_step_due, Deal.next_step, Deal.snoozed_until, Deal.intervention_by)
         .join(Customer, on=(Deal.customer == Customer.id)).switch(Deal).join(Rep, on=(Deal.owner == Rep.id))
         .where(_warned(rule, team_id, owner_id) & (lv == level if level else lv.is_null(False)))
         .order_by(start, Deal.id).limit(limit).offset(offset))
    q = _scoped(q, Deal.team, Deal.owner, team_id, owner_id)
    return [WarnedDeal(*row) for row in q.tuples()]


# -- customers: high intent, health --------------------------------------------------------------------

def high_intent(team_id: int | None, owner_id: int | None, limit: int = 20) -> tuple[int, list[dict]]:
    """(how many, the top `limit` by score) high-intent customers in scope, each with its open deal."""
    base = Customer.high_intent == True  # noqa: E712
    count = _scoped(Customer.select(fn.COUNT(Customer.id)).where(base), Customer.team, Customer.owner,
                    team_id, owner_id).scalar() or 0
    q = (Customer.select(Customer.id, Customer.name, Customer.health, Customer.tier, Customer.high_intent_since,
                         Rep.name).join(Rep, on=(Customer.owner == Rep.id)).where(base)
         .order_by(Customer.health.desc(), Customer.id).limit(limit))
    rows = [{"customer_id": cid, "customer": name, "health": health, "tier": tier, "since": since, "owner": owner}
            for cid, name, health, tier, since, owner in
            _scoped(q, Customer.team, Customer.owner, team_id, owner_id).tuples()]
    deals: dict[int, tuple] = {}
    if rows:
        dq = (Deal.select(Deal.customer, Deal.id, Deal.stage, Deal.amount)
              .where(Deal.customer.in_([r["customer_id"] for r in rows]) & (Deal.status == "open"))
              .order_by(Deal.id))
        for cid, did, stage, amount in dq.tuples():
            deals[cid] = (did, stage, amount)  # the newest open deal
    for r in rows:
        did, stage, amount = deals.get(r["customer_id"], (None, None, 0))
        r.update(deal_id=did, stage=stage, amount=int(amount or 0))
    return int(count), rows


def health_counts(team_id: int | None, owner_id: int | None) -> tuple[dict, dict]:
    """({latest score or None (not scored): customers}, {tier: customers}) in scope: one GROUP BY, at most
    101 x 3 rows, whatever the number of customers."""
    q = _scoped(Customer.select(Customer.health, Customer.tier, fn.COUNT(Customer.id))
                .group_by(Customer.health, Customer.tier), Customer.team, Customer.owner, team_id, owner_id)
    scores: dict = {}
    tiers: dict[str, int] = {}
    for health, tier, n in q.tuples():
        scores[health] = scores.get(health, 0) + int(n)
        tiers[tier] = tiers.get(tier, 0) + int(n)
    return scores, tiers


def data_version() -> tuple:
    """Changes when anything the manager's numbers are computed from changes: every such change adds a
    row (an activity, a stage change, a warning, a health score, a deal, a manager action) or touches a target (a
    rep's target records when it was set). Each part is an index lookup (MAX of a primary key) or a small table, so
    asking costs next to nothing."""
    parts = [m.select(fn.MAX(m.id)).scalar() or 0
             for m in (Activity, StageChange, Warning, HealthScore, Deal, ManagerAction)]
    targets = Target.select(fn.COUNT(Target.id), fn.COALESCE(fn.SUM(Target.amount), 0)).tuples().first()
    mine = RepTarget.select(fn.COUNT(RepTarget.id), fn.COALESCE(fn.SUM(RepTarget.amount), 0),
                            fn.MAX(RepTarget.set_at)).tuples().first() or (0, 0, None)
    return (tuple(parts) + tuple(int(x or 0) for x in (targets or (0, 0)))
            + (int(mine[0] or 0), int(mine[1] or 0), str(mine[2] or "")))


# -- reps ---------------------------------------------------------------------------------------------

def open_by_owner(team_id: int | None, owner_id: int | None) -> dict[int, tuple[int, int]]:
    """{owner id: (open deals, amount)}."""
    q = (Deal.select(Deal.owner, fn.COUNT(Deal.id), fn.COALESCE(fn.SUM(Deal.amount), 0))
         .where(Deal.status == "open").group_by(Deal.owner))
    q = _scoped(q, Deal.team, Deal.owner, team_id, owner_id)
    return {o: (int(n), int(a)) for o, n, a in q.tuples()}


def people(team_id: int | None, owner_id: int | None = None, limit: int = 500) -> list[tuple[int, str, str, str, int]]:
    """(id, local id, name, role, team id) of the active people in scope, reps first."""
    q = Rep.select(Rep.id, Rep.local_id, Rep.name, Rep.role, Rep.team).where(Rep.active == True)  # noqa: E712
    if team_id is not None:
        q = q.where(Rep.team == team_id)
    if owner_id is not None:
        q = q.where(Rep.id == owner_id)
    order = Case(Rep.role, [("rep", 0), ("manager", 1)], 2)
    return list(q.order_by(order, Rep.team, Rep.id).limit(limit).tuples())


def rep(rep_id: int) -> Rep | None:
    """An active person with their team loaded."""
    return (Rep.select(Rep, Team).join(Team).where((Rep.id == rep_id) & (Rep.active == True))  # noqa: E712
            .first())


def teams() -> list[tuple[int, str]]:
    return list(Team.select(Team.id, Team.name).order_by(Team.id).tuples())


def team_groups(team_id: int | None) -> list[tuple[str, str]]:
    """(local id, name) of the chat groups of a team (every team: None)."""
    q = ChatGroup.select(ChatGroup.local_id, ChatGroup.name).order_by(ChatGroup.team, ChatGroup.id)
    if team_id is not None:
        q = q.where(ChatGroup.team == team_id)
    return list(q.tuples())


def demo_people(limit: int = 200) -> list[tuple[int, str, str, str, str]]:
    """(id, local id, name, role, team name) of the people a local demo login offers."""
    order = Case(Rep.role, [("admin", 0), ("manager", 1)], 2)
    q = (Rep.select(Rep.id, Rep.local_id, Rep.name, Rep.role, Team.name).join(Team)
         .where(Rep.active == True).order_by(Team.id, order, Rep.id).limit(limit))  # noqa: E712
    return list(q.tuples())


# -- one deal -----------------------------------------------------------------------------------------

def deal(deal_id: int, team_id: int | None, owner_id: int | None) -> Deal | None:
    """A deal with its customer, owner and team loaded, or None when it is not in scope."""
    q = (Deal.select(Deal, Customer, Rep, Team).join(Customer, on=(Deal.customer == Customer.id)).switch(Deal)
         .join(Rep, on=(Deal.owner == Rep.id)).switch(Deal).join(Team, on=(Deal.team == Team.id))
         .where(Deal.id == deal_id))
    return _scoped(q, Deal.team, Deal.owner, team_id, owner_id).first()


def deal_timeline(deal: Deal, limit: int = 60) -> list[dict]:
    """The deal's stage changes, activities (also the customer's without a deal) and warnings, newest first."""
    acts = (Activity.select(Activity.at, Activity.kind, Activity.text, Rep.name, Contact.name, Contact.title,
                            Contact.is_decision_maker)
            .join(Rep, JOIN.LEFT_OUTER, on=(Activity.rep == Rep.id)).switch(Activity)
            .join(Contact, JOIN.LEFT_OUTER, on=(Activity.contact == Contact.id))
            .where((Activity.deal == deal.id) | ((Activity.customer == deal.customer_id) & Activity.deal.is_null()))
            .order_by(Activity.at.desc(), Activity.id.desc()).limit(limit))
    events = [{"at": at, "type": "activity", "kind": kind, "text": text, "who": who or "",
               "contact": cname or "", "title": ctitle or "", "decision_maker": bool(dm)}
              for at, kind, text, who, cname, ctitle, dm in acts.tuples()]
    changes = (StageChange.select(StageChange.at, StageChange.from_stage, StageChange.to_stage, StageChange.note,
                                  Rep.name)
               .join(Rep, JOIN.LEFT_OUTER, on=(StageChange.rep == Rep.id)).where(StageChange.deal == deal.id)
               .order_by(StageChange.at.desc(), StageChange.id.desc()).limit(limit))
    events += [{"at": at, "type": "stage", "from": a, "to": b, "text": note or "", "who": who or ""}
               for at, a, b, note, who in changes.tuples()]
    warns = (Warning.select(Warning.at, Warning.level, Warning.since).where(Warning.deal == deal.id)
             .order_by(Warning.at.desc()).limit(limit))
    events += [{"at": at, "type": "warning", "level": level, "since": since, "text": "", "who": ""}
               for at, level, since in warns.tuples()]
    events.sort(key=lambda e: (e["at"], {"stage": 0, "activity": 1, "warning": 2}[e["type"]]), reverse=True)
    return events[:limit]


def deal_counts(deal: Deal) -> dict[str, int]:
    """How many activities and stage changes the deal has (the timeline shows the latest)."""
    return {"activities": Activity.select().where(Activity.deal == deal.id).count(),
            "stage_changes": StageChange.select().where(StageChange.deal == deal.id).count()}


def contacts(customer_id: int) -> list[tuple[str, str, bool]]:
    return list(Contact.select(Contact.name, Contact.title, Contact.is_decision_maker)
                .where(Contact.customer == customer_id).order_by(Contact.id).tuples())


def score_history(customer_id: int, days: int = 30) -> list[tuple[date, int, dict]]:
    """The customer's daily scores, newest first: (day, score, {signal: points})."""
    q = (HealthScore.select(HealthScore.day, HealthScore.score, HealthScore.parts)
         .where(HealthScore.customer == customer_id).order_by(HealthScore.day.desc()).limit(days))
    out = []
    for day, score, parts in q.tuples():
        try:
            parsed = json.loads(parts or "{}")
        except ValueError:
            parsed = {}
        out.append((day if isinstance(day, date) else date.fromisoformat(str(day)), int(score), parsed))
    return out


def other_deals(customer_id: int, deal_id: int) -> list[tuple[int, str, str, int]]:
    """(id, stage, status, amount) of the customer's other deals."""
    return list(Deal.select(Deal.id, Deal.stage, Deal.status, Deal.amount)
                .where((Deal.customer == customer_id) & (Deal.id != deal_id)).order_by(Deal.id.desc()).limit(20)
                .tuples())


# -- the deal list (filters, search, sorting; the export) --------------------------------------------------

@dataclass(frozen=True)
class DealFilter:
    """What the deal list narrows to inside the scope; None / "" = any. Times naive UTC."""
    status: str = "open"  # open | won | lost | all
    stage: str | None = None
    level: str | None = None  # red | orange | yellow (open deals at that stale level)
    tier: str | None = None
    min_amount: int | None = None
    max_amount: int | None = None
    overdue: bool = False  # open, with a next step past its due time
    search: str = ""  # part of the customer's name, or its pinyin initials
    closed_from: datetime | None = None  # closed in [closed_from, closed_until)
    closed_until: datetime | None = None
    created_from: datetime | None = None
    created_until: datetime | None = None
    acted: bool = False  # a manager took, nudged or reassigned it
    due_before: datetime | None = None  # open, with a next step due before this instant (today's, overdue)
    high_intent: bool = False  # the customer is high-intent (health score reached 75)


SORTS = {  # key: (label, order expressions builder)
    "silence": "无进展最久", "amount": "金额最大", "due": "下一步最早到期", "created": "最新创建",
    "closed": "最近成交/输单", "customer": "客户名称",
}


@dataclass(frozen=True)
class ListedDeal:
    id: int
    customer: str
    owner: str
    owner_id: int
    stage: str
    amount: int
    status: str
    tier: str
    health: int | None
    created_at: datetime
    closed_at: datetime | None
    last_movement_at: datetime
    next_step: str | None
    next_step_due: datetime | None
    lost_reason: str | None
    snoozed_until: datetime | None
    intervention_by: int | None


def _list_where(team_id, owner_id, f: DealFilter, rule: LevelRule, now: datetime):
    cond = []
    if f.status in ("open", "won", "lost"):
        cond.append(Deal.status == f.status)
    if team_id is not None:
        cond.append(Deal.team == team_id)
    if owner_id is not None:
        cond.append(Deal.owner == owner_id)
    if f.stage:
        cond.append(Deal.stage == f.stage)
    if f.level:
        cond += [_warned(rule, team_id, owner_id), level_of(rule) == f.level]
    if f.tier or f.search or f.high_intent:  # the team's matching customers first, then their deals
        customers = Customer.select(Customer.id)
        if f.high_intent:
            customers = customers.where(Customer.high_intent == True)  # noqa: E712
        if team_id is not None:
            customers = customers.where(Customer.team == team_id)
        if f.tier:
            customers = customers.where(Customer.tier == f.tier)
        if f.search:
            text = f.search.strip()
            customers = customers.where(Customer.name.contains(text) | Customer.initials.startswith(text.lower()))
        cond.append(Deal.customer.in_(customers))
    if f.min_amount is not None:
        cond.append(Deal.amount >= f.min_amount)
    if f.max_amount is not None:
        cond.append(Deal.amount <= f.max_amount)
    if f.overdue:
        cond += [Deal.status == "open", Deal.next_step_due.is_null(False), Deal.next_step_due < now]
    if f.closed_from is not None:
        cond += [Deal.closed_at >= f.closed_from, Deal.closed_at < f.closed_until]
    if f.created_from is not None:
        cond += [Deal.created_at >= f.created_from, Deal.created_at < f.created_until]
    if f.due_before is not None:
        cond += [Deal.status == "open", Deal.next_step_due.is_null(False), Deal.next_step_due < f.due_before]
    if f.acted:
        cond.append(Deal.id.in_(ManagerAction.select(ManagerAction.deal)))
    out = cond[0]
    for c in cond[1:]:
        out &= c
    return out


def _list_order(sort: str, rule: LevelRule):
    if sort == "amount":
        return [Deal.amount.desc(), Deal.id.desc()]
    if sort == "due":
        return [Case(None, [(Deal.next_step_due.is_null(), 1)], 0), Deal.next_step_due, Deal.id]
    if sort == "created":
        return [Deal.created_at.desc(), Deal.id.desc()]
    if sort == "closed":
        return [Deal.closed_at.desc(), Deal.id.desc()]
    if sort == "customer":
        return [Customer.name, Deal.id]
    return [silence_start(rule.pause), Deal.id]


def deal_list(team_id: int | None, owner_id: int | None, f: DealFilter, rule: LevelRule, now: datetime,
              sort: str = "silence", limit: int = 50, offset: int = 0) -> list[ListedDeal]:
    """A page of the deals in scope that pass the filter, in the chosen order (one query)."""
    q = (Deal.select(Deal.id, Customer.name, Rep.name, Deal.owner, Deal.stage, Deal.amount, Deal.status,
                     Customer.tier, Customer.health, Deal.created_at, Deal.closed_at, Deal.last_movement_at,
                     Deal.next_step, Deal.next_step_due, Deal.lost_reason, Deal.snoozed_until, Deal.intervention_by)
         .join(Customer, on=(Deal.customer == Customer.id)).switch(Deal).join(Rep, on=(Deal.owner == Rep.id))
         .where(_list_where(team_id, owner_id, f, rule, now)).order_by(*_list_order(sort, rule))
         .limit(limit).offset(offset))
    return [ListedDeal(*row) for row in q.tuples()]


def deal_list_totals(team_id: int | None, owner_id: int | None, f: DealFilter, rule: LevelRule,
                     now: datetime) -> tuple[int, int]:
    """(deals, amount) that pass the filter."""
    q = Deal.select(fn.COUNT(Deal.id), fn.COALESCE(fn.SUM(Deal.amount), 0)).where(
        _list_where(team_id, owner_id, f, rule, now))
    n, amount = q.tuples().first() or (0, 0)
    return int(n or 0), int(amount or 0)


def actions_of(deal_ids: list[int]) -> dict[int, list[tuple[str, datetime, str]]]:
    """{deal: [(kind, at, manager name)]} of the manager actions on these deals, newest first."""
    if not deal_ids:
        return {}
    q = (ManagerAction.select(ManagerAction.deal, ManagerAction.kind, ManagerAction.at, Rep.name)
         .join(Rep, on=(ManagerAction.manager == Rep.id)).where(ManagerAction.deal.in_(deal_ids))
         .order_by(ManagerAction.at.desc(), ManagerAction.id.desc()))
    out: dict[int, list] = {}
    for d, kind, at, name in q.tuples():
        out.setdefault(d, []).append((kind, at, name))
    return out


# -- weekly trends --------------------------------------------------------------------------------------------

def trend_rows(team_id: int | None, owner_id: int | None, start: datetime, end: datetime, tz) -> dict:
    """What the weekly trend charts are drawn from, in [start, end): the won and lost deals' (closed at,
    amount), the new deals' creation times, and the activities per local day (the team's zone `tz`):
    four queries."""
    def deals(cond, *fields):
        q = Deal.select(*fields).where(cond)
        return list(_scoped(q, Deal.team, Deal.owner, team_id, owner_id).tuples())
    closed = (Deal.closed_at >= start) & (Deal.closed_at < end)
    day = local_date(Activity.at, tz, start)
    q = (Activity.select(day, fn.COUNT(Activity.id)).join(Customer, on=(Activity.customer == Customer.id))
         .where((Activity.at >= start) & (Activity.at < end)).group_by(day))
    q = _scoped(q, Customer.team, Customer.owner, team_id, owner_id)
    return {"won": deals(closed & (Deal.status == "won"), Deal.closed_at, Deal.amount),
            "lost": deals(closed & (Deal.status == "lost"), Deal.closed_at, Deal.amount),
            "created": [c for (c,) in deals((Deal.created_at >= start) & (Deal.created_at < end), Deal.created_at)],
            "activity_days": [(_as_date(d), int(n)) for d, n in q.tuples()]}


def _as_date(v) -> date:
    if isinstance(v, datetime):
        return v.date()
    return v if isinstance(v, date) else date.fromisoformat(str(v)[:10])


def rep_stats(team_id: int | None, owner_id: int | None, week_start: datetime, now: datetime,
              period_start: datetime, period_end: datetime) -> dict[int, dict]:
    """{rep id: {"visits", "moved", "won", "won_amount"}}: activities the rep logged this week, deals they
    moved to another stage this week, deals they won in the period. Three GROUP BY queries."""
    out: dict[int, dict] = {}

    def put(rep_id, **values):
        out.setdefault(rep_id, {"visits": 0, "moved": 0, "won": 0, "won_amount": 0}).update(values)
    q = (Activity.select(Activity.rep, fn.COUNT(Activity.id)).join(Customer, on=(Activity.customer == Customer.id))
         .where((Activity.at >= week_start) & (Activity.at < now) & Activity.rep.is_null(False)
                & ~Activity.kind.in_(("doc_open", "competitor"))).group_by(Activity.rep))
    for rep_id, n in _scoped(q, Customer.team, Customer.owner, team_id, owner_id).tuples():
        put(rep_id, visits=int(n))
    q = (StageChange.select(StageChange.rep, fn.COUNT(StageChange.deal.distinct()))
         .join(Deal, on=(StageChange.deal == Deal.id))
         .where((StageChange.at >= week_start) & (StageChange.at < now) & StageChange.from_stage.is_null(False)
                & StageChange.rep.is_null(False)).group_by(StageChange.rep))
    for rep_id, n in _scoped(q, Deal.team, Deal.owner, team_id, owner_id).tuples():
        put(rep_id, moved=int(n))
    q = (Deal.select(Deal.owner, fn.COUNT(Deal.id), fn.COALESCE(fn.SUM(Deal.amount), 0))
         .where((Deal.status == "won") & (Deal.closed_at >= period_start) & (Deal.closed_at < period_end))
         .group_by(Deal.owner))
    for rep_id, n, amount in _scoped(q, Deal.team, Deal.owner, team_id, owner_id).tuples():
        put(rep_id, won=int(n), won_amount=int(amount))
    return out
