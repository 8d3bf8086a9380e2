"""Logging a visit, call, meeting, feedback, ... in free text, with or without a command word:
"拜访 华联超市 见了采购总监王总,...下一步周五前发方案", "今天去了华联超市,见了王总,周五前发方案",
"华联超市 明天再去一趟" (a plan: the deal's next step, no visit)."""
from __future__ import annotations

import json
from datetime import timedelta

from storage import deals, kv

from .choices import ask
from .context import Context, Refusal
from .lookup import customer_in_text, own_index
from .messages import Button
from .parse import DateError, weekday_name
from .parse.message import Reading, name_hint, read, says_something
from .router import ActivityWords, Decision, Router

UNDO_TTL = timedelta(minutes=30)


def last_log_key(ctx: Context) -> str:
    return f"lastlog:{ctx.rep.id}"


def reading_of(ctx: Context, text: str, verb_kind: str | None = None, hint: str | None = None) -> Reading:
    try:
        return read(text, ctx.today, own_index(ctx), list(ctx.funnel.decision_titles), verb_kind, hint)
    except DateError as e:
        raise Refusal("bad_date", message=str(e)) from None


def record_reading(ctx: Context, reading: Reading, args: str) -> None:
    hint = name_hint(args)
    customer = customer_in_text(ctx, reading, hint or args)
    record(ctx, customer, reading)


def log_free(ctx: Context, text: str, reading: Reading | None = None) -> None:
    """No command word: a message that names one of the rep's customers and says what happened or what
    comes next. Asks (with a button) when the customer was only guessed; refuses when none is named."""
    reading = reading or reading_of(ctx, text)
    named = reading.customer.kind != "none" or ctx.chosen_customer_id is not None
    if not named:
        if says_something(reading):
            customer_in_text(ctx, reading, "", refuse="no_customer_in_text")  # a colleague's, or refused
        raise Refusal("unknown_command", text=text[:30])
    if reading.kind is None:
        raise Refusal("nothing_to_log", customer=reading.customer.candidates[0].name)
    if reading.customer.kind == "alias" and ctx.chosen_customer_id is None:
        customer_in_text(ctx, reading, "")  # a colleague's customer named in full is refused first
        c = reading.customer.candidates[0]
        label = f"记为{c.name}的{kind_label(ctx, reading.kind)}"
        ask(ctx, [(c.id, c.name)])
        ctx.understood.update({"customer": c.name, "intent": reading.kind})
        raise Refusal("confirm_customer", question=label + "？", customer=c.name,
                      buttons=[Button(label, "choose:1")])
    customer = customer_in_text(ctx, reading, "")
    record(ctx, customer, reading)


def kind_label(ctx: Context, kind: str | None) -> str:
    k = ctx.funnel.activities.get(kind or "note")
    return k.name if k else "跟进"


def record(ctx: Context, customer, reading: Reading) -> None:
    """Write what was understood: the activity (or, for a plan, only the next step), the contact, and
    keep the deal's state so the rep can correct or undo it for 30 minutes."""
    kind = reading.kind or "note"
    if kind not in ctx.funnel.activities:
        kind = "note"
    person, step = reading.person, reading.step
    due = step.due if step else None
    due_at = ctx.end_of_local_day(due) if due else None
    ctx.understood.update({
        "intent": kind, "customer": customer.name, "contact": person.name if person else None,
        "title": person.title if person else None, "decision_maker": reading.decision_maker,
        "next_step": step.text if step else None, "due": due.isoformat() if due else None,
        "signal": reading.signal,
    })
    contact, created, before = None, False, None
    if person is not None and kind != "plan":
        contact, created, before = deals.upsert_contact_tracked(
            customer, person.name[:64], (person.title or "")[:64], reading.decision_maker, ctx.now,
            weak_title=not person.explicit_title)
    deal = deals.open_deal(customer.id)
    deal_before = deals.deal_state(deal)
    note = reading.note[:1000]
    if kind == "plan":
        activity = deals.add_activity(deal, customer, ctx.rep, "plan", note, ctx.now, movement=False)
        if deal is not None:
            deals.set_next_step(deal.id, step.text[:500], due_at)
    else:
        activity = deals.add_activity(deal, customer, ctx.rep, kind, note, ctx.now, contact=contact,
                                      next_step=step.text[:500] if step else None, next_step_due=due_at)
    kv.put(last_log_key(ctx), json.dumps({
        "activity": activity.id, "deal": deal.id if deal else None, "deal_before": deal_before,
        "customer": customer.name, "customer_id": customer.id, "kind": kind, "contact": contact.id if contact else None,
        "contact_created": created, "contact_before": before,
    }, ensure_ascii=False), ctx.now, UNDO_TTL)
    stored = contact.title if contact is not None else None
    ctx.say("activity_logged", kind=ctx.funnel.activities[kind].name, plan=kind == "plan", customer=customer.name,
            contact=person.name if person else None, title=stored or (person.title if person else None),
            decision_maker=bool(contact.is_decision_maker) if contact is not None else False,
            next_step=step.text if step else None, due=due.strftime("%m月%d日") if due else None,
            weekday=weekday_name(due) if due else None, vague=bool(step and not due),
            note=note, stage=ctx.funnel.stage(deal.stage).name if deal else None, has_deal=deal is not None,
            missing_contact=person is None and kind in ("visit", "call", "meeting"),
            missing_step=step is None)
    if reading.signal and deal is not None:
        offer_stage_move(ctx, deal, customer, reading.signal, activity.id)


SIGNAL_BUTTONS = {
    "won": ("赢单", "签约/成交"),
    "lost": ("输单", "客户不做了"),
}


def offer_stage_move(ctx: Context, deal, customer, signal: str, activity_id: int) -> None:
    """A one-tap question: the stage never moves by itself."""
    if signal.startswith("advance:"):
        stage = ctx.funnel.find_stage(signal.split(":", 1)[1])
        if stage is None or stage.key == deal.stage or stage.order < ctx.funnel.stage(deal.stage).order:
            return
        ctx.say("stage_offer", customer=customer.name, what=f"进入「{stage.name}」", command=f"推进 {customer.name} {stage.name}",
                buttons=[Button(f"推进到{stage.name}", f"offer:{deal.id}:advance:{stage.key}")])
        return
    label, what = SIGNAL_BUTTONS[signal]
    command = f"赢单 {customer.name}" if signal == "won" else f"输单 {customer.name} 原因:…"
    ctx.say("stage_offer", customer=customer.name, what=what, command=command,
            buttons=[Button(f"记为{label}", f"offer:{deal.id}:{signal}:{activity_id}")])


def log_decision(ctx: Context, decision: Decision) -> None:
    """What the router read as an activity: after its command word (拜访 华联超市 ...), or a sentence
    about a customer without one."""
    if decision.free:
        log_free(ctx, decision.rest, decision.reading)
    else:
        record_reading(ctx, decision.reading, decision.rest)


def register(router: Router) -> None:
    router.on_activity(ActivityWords(read=reading_of, log=log_decision))
