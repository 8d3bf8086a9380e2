"""Fixing the last log within 30 minutes, in one message: 改 下一步 周四 / 改 联系人 李经理 / 撤销;
"下一步 周五 发方案" fills in a next step the log did not have. Nothing is logged twice."""
from __future__ import annotations

import json
import re

from storage import deals, kv

from .activities import UNDO_TTL, last_log_key, reading_of
from .context import Context, Refusal
from .parse import DateError, normalize, weekday_name
from .parse.dates import find_dates
from .parse.people import find_person, is_decision_maker
from .router import Router

_FIELD = re.compile(r"^(?P<field>下一步|下步|next|联系人|见的人|contact|日期|时间|due)\s*[:：]?\s*(?P<value>.*)$", re.I)


def _last_log(ctx: Context) -> dict:
    raw = kv.get(last_log_key(ctx), ctx.now)
    state = json.loads(raw) if raw else None
    if state is None or not deals.activity_exists(state["activity"]):
        raise Refusal("no_last_log")
    return state


def said(ctx: Context, **data) -> None:
    base = {"undone": False, "contact": None, "title": None, "decision_maker": False, "next_step": None,
            "due": None, "weekday": None}
    ctx.say("log_corrected", **{**base, **data})


def _save(ctx: Context, state: dict) -> None:
    kv.put(last_log_key(ctx), json.dumps(state, ensure_ascii=False), ctx.now, UNDO_TTL)


def undo(ctx: Context, args: str) -> None:
    """Remove the last log and put the deal (and a contact it created or changed) back as it was."""
    state = _last_log(ctx)
    deals.undo_log(state["activity"], state["deal"], state["deal_before"])
    if state.get("contact"):
        deals.drop_contact_if_unused(state["contact"], state["contact_created"], state["contact_before"])
    kv.delete(last_log_key(ctx))
    ctx.understood.update({"intent": "undo", "customer": state["customer"]})
    said(ctx, customer=state["customer"], undone=True)


def correct(ctx: Context, args: str) -> None:
    m = _FIELD.match(normalize(args or ""))
    if m is None:
        raise Refusal("bad_correction")
    field, value = m["field"].lower(), m["value"].strip()
    if field in ("联系人", "见的人", "contact"):
        correct_contact(ctx, value)
    else:
        set_step(ctx, value, only_date=field in ("日期", "时间", "due"))


def next_step_command(ctx: Context, args: str) -> None:
    """下一步 周五 发方案: the next step of the last log (when it had none, or to change it)."""
    set_step(ctx, args)


def set_step(ctx: Context, value: str, only_date: bool = False) -> None:
    state = _last_log(ctx)
    value = normalize(value)
    if not value:
        raise Refusal("bad_correction")
    if state["deal"] is None:
        raise Refusal("no_open_deal", customer=state["customer"])
    try:
        dates = find_dates(value, ctx.today)
    except DateError as e:
        raise Refusal("bad_date", message=str(e)) from None
    deal = deals.open_deal_by_id(state["deal"])
    if deal is None:
        raise Refusal("no_open_deal", customer=state["customer"])
    step_text = value
    if dates and (only_date or dates[0].text == value.strip()) and deal.next_step:
        # 改 下一步 周四: the same step, another day
        step_text = deal.next_step
    due = dates[0].day if dates else None
    if due is not None and due < ctx.today:
        raise Refusal("step_in_past", date=due.strftime("%m月%d日"))
    deals.set_next_step(deal.id, step_text[:500], ctx.end_of_local_day(due) if due else None)
    ctx.understood.update({"intent": "correct_step", "customer": state["customer"], "next_step": step_text,
                           "due": due.isoformat() if due else None})
    said(ctx, customer=state["customer"], next_step=step_text,
            due=due.strftime("%m月%d日") if due else None, weekday=weekday_name(due) if due else None)


def correct_contact(ctx: Context, value: str) -> None:
    state = _last_log(ctx)
    person = find_person(value) or (find_person("见了" + value) if value else None)
    if person is None:
        raise Refusal("bad_correction")
    customer = deals.get_customer(state["customer_id"])
    dm = is_decision_maker(person, list(ctx.funnel.decision_titles))
    contact, created, before = deals.upsert_contact_tracked(customer, person.name[:64], (person.title or "")[:64],
                                                            dm, ctx.now, weak_title=not person.explicit_title)
    deals.set_activity_contact(state["activity"], contact)
    if state.get("contact") and state["contact"] != contact.id:
        deals.drop_contact_if_unused(state["contact"], state["contact_created"], state["contact_before"],
                                     keep_activity=None)
    state.update({"contact": contact.id, "contact_created": created, "contact_before": before})
    _save(ctx, state)
    ctx.understood.update({"intent": "correct_contact", "customer": state["customer"], "contact": contact.name})
    said(ctx, customer=state["customer"], contact=contact.name, title=contact.title,
            decision_maker=contact.is_decision_maker)


__all__ = ["undo", "correct", "next_step_command", "reading_of"]


def register(router: Router) -> None:
    router.command(("撤销", "撤回", "undo"), undo)
    router.command(("改", "修改", "更正", "fix"), correct)
    router.command(("下一步",), next_step_command)
