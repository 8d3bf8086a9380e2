"""Customers, contacts, deals, stage changes and activities. Times are naive UTC."""
from __future__ import annotations

from datetime import datetime

from peewee import JOIN, IntegrityError, SqliteDatabase, fn

from rules.access import visible_to
from rules.funnel import DealFacts

from .models import Activity, Contact, Customer, Deal, ManagerAction, Rep, StageChange, db
from .people import REP_COLUMNS
from .prepared import instance, prepared
from .scan_queries import LiteDeal

CUSTOMER_FIELDS = tuple(Customer._meta.sorted_fields)
DEAL_FIELDS = tuple(Deal._meta.sorted_fields)


_candidates = {
    "admin": prepared(lambda: Customer.select(Customer.id, Customer.name, Customer.initials)),
    "team": prepared(lambda team: Customer.select(Customer.id, Customer.name, Customer.initials)
                     .where(Customer.team == team)),
    "own": prepared(lambda owner: Customer.select(Customer.id, Customer.name, Customer.initials)
                    .where(Customer.owner == owner)),
}


def customer_candidates(rep: Rep, whole_team: bool = False) -> list[tuple[int, str, str]]:
    """(id, name, initials) of the customers `rep` may act on: their own (rep), the team's (manager),
    all (admin); or the whole team's."""
    team_id, owner_id = (rep.team_id, None) if whole_team else visible_to(rep)
    if owner_id is not None:
        return _candidates["own"].rows(owner_id)
    if team_id is not None:
        return _candidates["team"].rows(team_id)
    return _candidates["admin"].rows()


_customer = prepared(lambda customer_id: Customer.select(*CUSTOMER_FIELDS, *REP_COLUMNS).join(Rep)
                     .where(Customer.id == customer_id))


def get_customer(customer_id: int) -> Customer:
    """The customer with its owner loaded; raises Customer.DoesNotExist."""
    row = _customer.first(customer_id)
    if row is None:
        raise Customer.DoesNotExist(f"customer {customer_id}")
    n = len(CUSTOMER_FIELDS)
    customer = instance(Customer, CUSTOMER_FIELDS, row[:n])
    customer.__rel__["owner"] = instance(Rep, REP_COLUMNS, row[n:])
    return customer


def customer_by_name(team_id: int, name: str) -> Customer | None:
    return Customer.get_or_none((Customer.team == team_id) & (Customer.name == name))


def create_customer_and_deal(owner: Rep, name: str, initials: str, amount: int, stage: str,
                             now: datetime) -> Deal:
    customer = Customer.create(team=owner.team_id, owner=owner, name=name, initials=initials,
                               created_at=now)
    return create_deal(customer, owner, amount, stage, now)


def create_deal(customer: Customer, owner: Rep, amount: int, stage: str, now: datetime) -> Deal:
    deal = Deal.create(customer=customer, owner=owner, team=customer.team_id, amount=amount, stage=stage,
                       created_at=now, stage_entered_at=now, last_movement_at=now, next_check_at=now)
    StageChange.create(deal=deal, from_stage=None, to_stage=stage, rep=owner, at=now)
    return deal


_open_deal = prepared(lambda customer_id: Deal.select(*DEAL_FIELDS)
                      .where((Deal.customer == customer_id) & (Deal.status == "open"))
                      .order_by(Deal.created_at.desc(), Deal.id.desc()).limit(1))


def open_deal(customer_id: int) -> Deal | None:
    """The customer's open deal (the newest, if there are several)."""
    row = _open_deal.first(customer_id)
    return None if row is None else instance(Deal, DEAL_FIELDS, row)


_latest_deal = prepared(lambda customer_id: Deal.select(*DEAL_FIELDS).where(Deal.customer == customer_id)
                        .order_by(Deal.id.desc()).limit(1))


def latest_deal(customer_id: int) -> Deal | None:
    row = _latest_deal.first(customer_id)
    return None if row is None else instance(Deal, DEAL_FIELDS, row)


CONTACT_FIELDS = tuple(Contact._meta.sorted_fields)
_contact = prepared(lambda customer_id, name: Contact.select(*CONTACT_FIELDS)
                    .where((Contact.customer == customer_id) & (Contact.name == name)).limit(1))


def upsert_contact(customer: Customer, name: str, title: str, decision_maker: bool, now: datetime,
                   weak_title: bool = False) -> Contact:
    """The customer's contact `name`, created or updated. A `weak_title` (only the polite form of the name,
    总 in 王总) never replaces a stored one (采购总监)."""
    return upsert_contact_tracked(customer, name, title, decision_maker, now, weak_title)[0]


def upsert_contact_tracked(customer: Customer, name: str, title: str, decision_maker: bool, now: datetime,
                           weak_title: bool = False) -> tuple[Contact, bool, list | None]:
    """upsert_contact, also saying whether it created the contact and what it was before (for 撤销)."""
    row = _contact.first(customer.id, name)
    contact = None if row is None else instance(Contact, CONTACT_FIELDS, row)
    if contact is None:
        try:
            with Contact._meta.database.atomic():  # two messages naming the same new contact at once
                return Contact.create(customer=customer, name=name, title=title or "",
                                      is_decision_maker=decision_maker, created_at=now), True, None
        except IntegrityError:
            # the other message's row: a locking read sees it even inside MySQL's REPEATABLE READ snapshot
            q = Contact.select().where((Contact.customer == customer) & (Contact.name == name))
            if not isinstance(db.obj, SqliteDatabase):
                q = q.for_update()
            contact = q.get()
    before = contact_state(contact)
    changed = False
    if title and title != contact.title and not (weak_title and contact.title):
        contact.title, changed = title, True
    if decision_maker and not contact.is_decision_maker:
        contact.is_decision_maker, changed = True, True
    if changed:
        contact.save()
    return contact, False, before


_insert_activity = prepared(lambda deal, customer, rep, contact, kind, text, at: Activity.insert(
    deal=deal, customer=customer, rep=rep, contact=contact, kind=kind, text=text, at=at))
_deal_moved = prepared(lambda deal_id, last_activity_at, last_movement_at, next_step, next_step_due, next_check_at:
                       Deal.update({Deal.last_activity_at: last_activity_at, Deal.last_movement_at: last_movement_at,
                                    Deal.next_step: next_step, Deal.next_step_due: next_step_due,
                                    Deal.next_check_at: next_check_at}).where(Deal.id == deal_id))


def _id(obj) -> int | None:
    return None if obj is None else obj.id


def add_activity(deal: Deal | None, customer: Customer, rep: Rep, kind: str, text: str, now: datetime,
                 contact: Contact | None = None, next_step: str | None = None,
                 next_step_due: datetime | None = None, movement: bool = True) -> Activity:
    """Log an activity; on an open deal it is movement (resets the silence clock) unless `movement`
    is False (a signal from another system, such as the customer opening a document)."""
    values = {"deal": _id(deal), "customer": customer.id, "rep": _id(rep), "contact": _id(contact), "kind": kind,
              "text": text, "at": now}
    activity = Activity(**values)
    activity.id = _insert_activity.insert(*values.values())
    activity._dirty = set()
    if movement and deal is not None and deal.status == "open" and now >= (deal.last_activity_at or now):
        deal.last_activity_at = now
        deal.last_movement_at = max(now, deal.stage_entered_at)
        if next_step:
            deal.next_step, deal.next_step_due = next_step, next_step_due
        deal.next_check_at = now  # the stale scan looks again: a new silence period begins
        _deal_moved.execute(deal.id, deal.last_activity_at, deal.last_movement_at, deal.next_step, deal.next_step_due,
                            deal.next_check_at)
        deal._dirty = set()
    return activity


def deal_facts(deal: Deal) -> DealFacts:
    acts = tuple(Activity.select(Activity.kind, Activity.at).where(Activity.deal == deal).tuples())
    has_dm = Contact.select().where((Contact.customer == deal.customer_id)
                                    & (Contact.is_decision_maker == True)).exists()  # noqa: E712
    return DealFacts(stage_entered_at=deal.stage_entered_at, activities=acts, has_decision_maker=has_dm)


def change_stage(deal: Deal, to_stage: str, rep: Rep, now: datetime, note: str | None = None) -> None:
    StageChange.create(deal=deal, from_stage=deal.stage, to_stage=to_stage, rep=rep, at=now, note=note)
    deal.stage, deal.stage_entered_at, deal.last_movement_at = to_stage, now, now
    deal.next_check_at = now
    deal.save()


SKIPPED = "跳过"  # a won deal's exit criteria recorded as skipped: "won; 跳过: a；b"


def close_deal(deal: Deal, status: str, reason: str | None, rep: Rep, closing_stage: str, now: datetime,
               skipped: list[str] | None = None) -> None:
    note = f"{status}: {reason}" if reason else status
    if skipped:
        note += f"; {SKIPPED}: " + "；".join(skipped)
    StageChange.create(deal=deal, from_stage=deal.stage, to_stage=closing_stage, rep=rep, at=now, note=note)
    deal.stage, deal.status, deal.lost_reason = closing_stage, status, reason
    deal.stage_entered_at = deal.last_movement_at = deal.closed_at = now
    deal.next_check_at = None
    deal.save()


def _open_deals():
    return (Deal.select(Deal.id, Deal.owner, Deal.team, Deal.stage, Deal.amount, Deal.last_movement_at, Deal.next_step,
                        Deal.next_step_due, Deal.snoozed_until, Customer.name, Rep.name)
            .join(Customer).switch(Deal).join(Rep, on=Deal.owner).where(Deal.status == "open")
            .order_by(Deal.last_movement_at, Deal.id))


_open_deals_of = {
    "admin": prepared(lambda limit: _open_deals().limit(limit)),
    "manager": prepared(lambda team, limit: _open_deals().where(Deal.team == team).limit(limit)),
    "rep": prepared(lambda owner, limit: _open_deals().where(Deal.owner == owner).limit(limit)),
}


def open_deals_for(rep: Rep, limit: int = 200) -> list[LiteDeal]:
    """Open deals `rep` may see, oldest movement first, with customer and owner names."""
    team_id, owner_id = visible_to(rep)
    if owner_id is not None:
        rows = _open_deals_of["rep"].rows(owner_id, limit)
    elif team_id is not None:
        rows = _open_deals_of["manager"].rows(team_id, limit)
    else:
        rows = _open_deals_of["admin"].rows(limit)
    return [LiteDeal(row) for row in rows]


_activity_events = prepared(lambda customer_id, limit: (
    Activity.select(Activity.at, Activity.kind, Rep.name, Activity.text).join(Rep, JOIN.LEFT_OUTER)
    .where(Activity.customer == customer_id).order_by(Activity.at.desc(), Activity.id.desc()).limit(limit)))
_stage_events = prepared(lambda customer_id, limit: (
    StageChange.select(StageChange.at, Rep.name, StageChange.from_stage, StageChange.to_stage, StageChange.note)
    .join(Rep, JOIN.LEFT_OUTER).join_from(StageChange, Deal).where(Deal.customer == customer_id)
    .order_by(StageChange.at.desc(), StageChange.id.desc()).limit(limit)))


def timeline(customer: Customer, limit: int = 8) -> list[tuple[datetime, str, str, str]]:
    """The customer's latest events, newest first: (at, what, who, text)."""
    events = [(at, kind, who or "", text) for at, kind, who, text in _activity_events.rows(customer.id, limit)]
    events += [(at, "stage", who or "", f"{a or ''}>{b}>{note or ''}")
               for at, who, a, b, note in _stage_events.rows(customer.id, limit)]
    events.sort(key=lambda e: e[0], reverse=True)
    return events[:limit]


_contacts = prepared(lambda customer_id: Contact.select(*CONTACT_FIELDS).where(Contact.customer == customer_id)
                     .order_by(Contact.id))


def contacts_of(customer: Customer) -> list[Contact]:
    return [instance(Contact, CONTACT_FIELDS, row) for row in _contacts.rows(customer.id)]


def funnel_totals(team_id: int | None) -> dict[str, tuple[int, int]]:
    """{stage: (open deals, total amount)} for a team (None: every team)."""
    q = (Deal.select(Deal.stage, fn.COUNT(Deal.id), fn.COALESCE(fn.SUM(Deal.amount), 0))
         .where(Deal.status == "open").group_by(Deal.stage))
    if team_id is not None:
        q = q.where(Deal.team == team_id)
    return {stage: (int(n), int(total)) for stage, n, total in q.tuples()}


def closed_totals(team_id: int | None, since: datetime) -> dict[str, tuple[int, int]]:
    """{"won"|"lost": (deals, amount)} closed since `since`."""
    q = (Deal.select(Deal.status, fn.COUNT(Deal.id), fn.COALESCE(fn.SUM(Deal.amount), 0))
         .where((Deal.status != "open") & (Deal.closed_at >= since)).group_by(Deal.status))
    if team_id is not None:
        q = q.where(Deal.team == team_id)
    return {status: (int(n), int(total)) for status, n, total in q.tuples()}


def snooze(deal: Deal, until: datetime, reason: str) -> None:
    deal.snoozed_until, deal.snooze_reason = until, reason
    deal.next_check_at = until
    deal.save()


def set_intervention(deal: Deal, manager: Rep) -> None:
    deal.intervention_by = manager
    deal.save()


def record_manager_action(deal: Deal, manager: Rep, kind: str, now: datetime, note: str | None = None) -> None:
    """A manager's 介入 (take) / 催办 (nudge) / 改派 (reassign) on a deal, with its time."""
    ManagerAction.create(deal=deal.id, manager=manager.id, kind=kind, at=now, note=note)


def reassign(deal: Deal, rep: Rep) -> None:
    """Give the deal, and its customer, to another rep of the team."""
    Deal.update(owner=rep.id).where(Deal.id == deal.id).execute()
    Customer.update(owner=rep.id).where(Customer.id == deal.customer_id).execute()
    deal.owner = rep


def set_activity_text(activity_id: int, text: str) -> str:
    """Replace an activity's text; returns its customer's name."""
    activity = Activity.select(Activity, Customer).join(Customer).where(Activity.id == activity_id).get()
    activity.text = text
    activity.save()
    return activity.customer.name


def last_activities(deal_ids: list[int]) -> dict[int, Activity]:
    """The latest activity of each deal, in one query per 500 deals."""
    out: dict[int, Activity] = {}
    for i in range(0, len(deal_ids), 500):
        batch = deal_ids[i:i + 500]
        latest = (Activity.select(Activity.deal.alias("d"), fn.MAX(Activity.at).alias("m"))
                  .where(Activity.deal.in_(batch)).group_by(Activity.deal).alias("latest"))
        q = (Activity.select(Activity).join(latest, on=((Activity.deal == latest.c.d) & (Activity.at == latest.c.m)))
             .order_by(Activity.id))
        for a in q:
            out[a.deal_id] = a
    return out


# ---- the last log, kept 30 minutes so the rep can correct or undo it ------------------------------

_DEAL_STATE = ("last_activity_at", "last_movement_at", "next_step", "next_step_due", "next_check_at")


def deal_state(deal: Deal | None) -> dict | None:
    """What logging an activity changes on a deal, as JSON-ready values (to put back on 撤销)."""
    if deal is None:
        return None
    return {f: (v.isoformat() if isinstance(v, datetime) else v) for f in _DEAL_STATE
            for v in [getattr(deal, f)]}


def _restore(deal_id: int, state: dict) -> None:
    values = {}
    for f in _DEAL_STATE:
        v = state.get(f)
        if v is not None and f != "next_step":
            v = datetime.fromisoformat(v)
        values[getattr(Deal, f)] = v
    Deal.update(values).where(Deal.id == deal_id).execute()


def contact_state(contact: Contact | None) -> list | None:
    return None if contact is None else [contact.title, contact.is_decision_maker]


def drop_contact_if_unused(contact_id: int, created: bool, previous: list | None, keep_activity: int | None = None) -> None:
    """Undo what a log did to a contact: remove one it created (when no other activity names it), or put
    back the title and decision-maker flag it had."""
    used = Activity.select().where((Activity.contact == contact_id) & (Activity.id != (keep_activity or 0))).exists()
    if created and not used:
        Contact.delete().where(Contact.id == contact_id).execute()
    elif previous is not None:
        Contact.update(title=previous[0], is_decision_maker=previous[1]).where(Contact.id == contact_id).execute()


def undo_log(activity_id: int, deal_id: int | None, deal_before: dict | None) -> bool:
    """Remove the activity and put its deal back as it was; False when the activity is gone already."""
    if Activity.delete().where(Activity.id == activity_id).execute() == 0:
        return False
    if deal_id is not None and deal_before is not None:
        _restore(deal_id, deal_before)
    return True


def set_next_step(deal_id: int, step: str | None, due: datetime | None) -> None:
    """Book (or correct) the deal's next step; not movement: the silence clock is not reset."""
    Deal.update({Deal.next_step: step, Deal.next_step_due: due}).where(Deal.id == deal_id).execute()


def set_activity_contact(activity_id: int, contact: Contact | None) -> None:
    Activity.update(contact=contact.id if contact else None).where(Activity.id == activity_id).execute()


def activity_exists(activity_id: int) -> bool:
    return Activity.select().where(Activity.id == activity_id).exists()


def deal_by_id(deal_id: int) -> Deal | None:
    return Deal.get_or_none(Deal.id == deal_id)


def open_deal_by_id(deal_id: int) -> Deal | None:
    return Deal.get_or_none((Deal.id == deal_id) & (Deal.status == "open"))


def activity_text(activity_id: int) -> str | None:
    row = Activity.select(Activity.text).where(Activity.id == activity_id).tuples().first()
    return row[0] if row else None
