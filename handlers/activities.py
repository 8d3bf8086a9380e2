"""Logging a visit, call, meeting, feedback, ... in free text: "拜访 华联超市 见了采购总监王总,...下一步周五前发方案"."""
from __future__ import annotations

from storage import deals

from .context import Context, Refusal
from .lookup import resolve_customer
from .parse import DateError, extract_note, weekday_name


def log_activity(ctx: Context, kind: str, args: str) -> None:
    name, _, note = (args or "").partition(" ")
    customer = resolve_customer(ctx, name)
    note = note.strip()
    try:
        facts = extract_note(note, ctx.today, list(ctx.funnel.decision_titles))
    except DateError as e:
        raise Refusal("bad_date", message=str(e)) from None
    due_at = ctx.end_of_local_day(facts.due) if facts.due else None
    ctx.understood.update({
        "intent": kind, "customer": customer.name, "contact": facts.contact_name,
        "title": facts.contact_title, "decision_maker": facts.decision_maker,
        "next_step": facts.next_step, "due": facts.due.isoformat() if facts.due else None,
    })
    contact = None
    if facts.contact_name:
        contact = deals.upsert_contact(customer, facts.contact_name, facts.contact_title or "",
                                       facts.decision_maker, ctx.now)
    deal = deals.open_deal(customer.id)
    deals.add_activity(deal, customer, ctx.rep, kind, note, ctx.now, contact=contact,
                       next_step=facts.next_step, next_step_due=due_at)
    ctx.say("activity_logged", kind=ctx.funnel.activities[kind].name, customer=customer.name,
            contact=facts.contact_name, title=facts.contact_title, decision_maker=facts.decision_maker,
            next_step=facts.next_step, due=facts.due.strftime("%m月%d日") if facts.due else None,
            weekday=weekday_name(facts.due) if facts.due else None,
            stage=ctx.funnel.stage(deal.stage).name if deal else None, has_deal=deal is not None)
