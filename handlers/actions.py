"""Card-button actions and the snooze command.

An action reads "name:deal_id:period", where period identifies the silence period the card was
about. Once the deal has moved on (a new period), the card's buttons are spent and say so.
Only the deal's rep or the team's manager may press them; "take"/"nudge" are the manager's.
"""
from __future__ import annotations

import re
from datetime import timedelta
from typing import TYPE_CHECKING

from rules.access import may_act_on
from storage import choices, deals, outbox, people

from .context import Context, Refusal
from .lookup import resolve_customer
from .parse import DateError, parse_due
from .router import Router
from .views import deal_silence, period_of, snooze_label

if TYPE_CHECKING:
    from storage.models import Deal

DEFAULT_SNOOZE = timedelta(hours=24)
MAX_SNOOZE = timedelta(days=30)
NOTE_TTL = timedelta(hours=12)


def _deal_for_action(ctx: Context, arg: str, manager_only: bool = False) -> tuple[Deal, int]:
    parts = arg.split(":")
    if len(parts) != 2 or not all(p.isdigit() for p in parts):
        raise Refusal("unknown_action", action=arg[:40])
    deal = deals.deal_by_id(int(parts[0]))
    if deal is None:
        raise Refusal("action_expired")
    if manager_only and not may_act_on(ctx.rep, deal.team_id):
        raise Refusal("manager_only")
    if not may_act_on(ctx.rep, deal.team_id, deal.owner_id):
        raise Refusal("not_allowed")
    if deal.status != "open":
        raise Refusal("action_spent", detail="商机已关闭")
    if period_of(deal_silence(ctx, deal).since) != int(parts[1]):
        raise Refusal("action_spent", detail="该商机之后已有新进展")
    ctx.understood["deal_id"] = deal.id
    return deal, int(parts[1])


def followup(ctx: Context, arg: str) -> None:
    deal, _ = _deal_for_action(ctx, arg)
    activity = deals.add_activity(deal, deal.customer, ctx.rep, "note", "已跟进(提醒卡片)", ctx.now)
    choices.save(ctx.rep.id, f"__note__:{activity.id}", [], ctx.now + NOTE_TTL)
    ctx.say("followup_logged", customer=deal.customer.name)


def fill_note(ctx: Context, text: str) -> bool:
    """The one line a rep sends after pressing "已跟进" becomes that follow-up's text."""
    pending = choices.peek(ctx.rep.id, ctx.now)
    if pending is None or not pending[0].startswith("__note__:"):
        return False
    choices.take(ctx.rep.id, ctx.now)
    activity_id = int(pending[0].split(":", 1)[1])
    customer = deals.set_activity_text(activity_id, text[:1000])
    ctx.understood["intent"] = "followup_note"
    ctx.say("note_added", customer=customer)
    return True


def snooze_action(ctx: Context, arg: str) -> None:
    deal, _ = _deal_for_action(ctx, arg)
    if deal.snoozed_until and deal.snoozed_until > ctx.now:
        raise Refusal("action_spent", detail=f"已推迟到 {snooze_label(ctx, deal.snoozed_until)}")
    until = ctx.now + DEFAULT_SNOOZE
    deals.snooze(deal, until, "提醒卡片: 推迟24小时")
    ctx.say("snoozed", customer=deal.customer.name, until=snooze_label(ctx, until), reason="")


SNOOZE_FOR = re.compile(r"^(\d+)\s*(天|日|小时|h|d)$", re.IGNORECASE)
REASON = re.compile(r"(?:原因|理由|reason)\s*[:是]?\s*(.*)$", re.IGNORECASE)


def snooze_command(ctx: Context, args: str) -> None:
    """推迟 华联超市 3天 原因:客户出差 / 推迟 华联超市 到12月1日 原因:..."""
    name, _, rest = (args or "").partition(" ")
    customer = resolve_customer(ctx, name)
    deal = deals.open_deal(customer.id)
    if deal is None:
        raise Refusal("no_open_deal", customer=customer.name)
    m = REASON.search(rest)
    reason = m.group(1).strip() if m else ""
    when = REASON.sub("", rest).strip().removeprefix("到").strip()
    until = ctx.now + DEFAULT_SNOOZE
    if when:
        d = SNOOZE_FOR.match(when)
        if d:
            n = int(d.group(1)[:6])  # (more digits are out of range anyway: no date overflow)
            until = ctx.now + (timedelta(days=n) if d.group(2).lower() in ("天", "日", "d") else timedelta(hours=n))
        else:
            try:
                found = parse_due(when, ctx.today)
            except DateError as e:
                raise Refusal("bad_date", message=str(e)) from None
            if found is None:
                raise Refusal("bad_snooze", text=when[:30])
            # 推迟 … 下周一: reminders resume when that working day starts (its send window opens)
            until = ctx.funnel.send_window.day_start(ctx.funnel.workdays(ctx.tz), found[0])
    if until <= ctx.now or until - ctx.now > MAX_SNOOZE:
        raise Refusal("snooze_range", days=MAX_SNOOZE.days)
    if not reason:
        raise Refusal("snooze_needs_reason", customer=customer.name)
    deals.snooze(deal, until, reason[:200])
    ctx.understood.update({"customer": customer.name, "until": until.isoformat(), "reason": reason})
    ctx.say("snoozed", customer=customer.name, until=snooze_label(ctx, until), reason=reason)


def ask_help(ctx: Context, arg: str) -> None:
    deal, period = _deal_for_action(ctx, arg)
    key = f"askhelp:{deal.id}:{period}"
    if outbox.exists(key):
        raise Refusal("action_spent", detail="已经通知过主管")
    group = people.team_group(deal.team_id, "manager")
    if group is None:
        raise Refusal("no_manager_group")
    s = deal_silence(ctx, deal)
    ctx.notify(key, group.local_id, "help_request", urgent=True, rep=ctx.rep.name, customer=deal.customer.name,
               stage=ctx.funnel.stage(deal.stage).name, days_silent=s.days, amount=deal.amount,
               buttons=None, url=ctx.deal_url(deal.id))
    ctx.say("help_requested", customer=deal.customer.name, group=group.name)


def take(ctx: Context, arg: str) -> None:
    deal, period = _deal_for_action(ctx, arg, manager_only=True)
    if deal.intervention_by_id is not None:
        raise Refusal("action_spent", detail=f"已由 {deal.intervention_by.name} 介入")
    deals.set_intervention(deal, ctx.rep)
    deals.record_manager_action(deal, ctx.rep, "take", ctx.now)
    ctx.notify(f"take:{deal.id}:{period}", deal.owner.local_id, "intervention_taken", manager=ctx.rep.name,
               customer=deal.customer.name, url=ctx.deal_url(deal.id))
    ctx.say("intervention_assigned", customer=deal.customer.name, rep=deal.owner.name)


def nudge(ctx: Context, arg: str) -> None:
    deal, period = _deal_for_action(ctx, arg, manager_only=True)
    key = f"nudge:{deal.id}:{period}"
    if outbox.exists(key):
        raise Refusal("action_spent", detail="已经提醒过销售")
    deals.record_manager_action(deal, ctx.rep, "nudge", ctx.now)
    ctx.notify(key, deal.owner.local_id, "nudge", urgent=True, manager=ctx.rep.name, customer=deal.customer.name,
               url=ctx.deal_url(deal.id))
    ctx.say("nudged", customer=deal.customer.name, rep=deal.owner.name)


def reassign(ctx: Context, arg: str) -> None:
    """改派: "reassign:deal_id:period:rep_id" gives the deal (and its customer) to another active rep of
    the deal's team; the new rep and the old one are told."""
    head, _, rep_part = arg.rpartition(":")
    if not rep_part.isdigit():
        raise Refusal("unknown_action", action=arg[:40])
    deal, period = _deal_for_action(ctx, head, manager_only=True)
    new = people.active_rep(int(rep_part))
    if new is None or new.team_id != deal.team_id or new.role != "rep":
        raise Refusal("bad_reassign")
    old = deal.owner
    if new.id == old.id:
        raise Refusal("action_spent", detail=f"已经由 {old.name} 负责")
    deals.reassign(deal, new)
    deals.record_manager_action(deal, ctx.rep, "reassign", ctx.now, note=f"{old.name} → {new.name}")
    customer = deal.customer.name
    ctx.notify(f"reassign:{deal.id}:{period}:{new.id}", new.local_id, "reassigned", urgent=True,
               manager=ctx.rep.name, customer=customer, previous=old.name, mine=True, url=ctx.deal_url(deal.id))
    ctx.notify(f"reassign-from:{deal.id}:{period}:{new.id}", old.local_id, "reassigned", manager=ctx.rep.name,
               customer=customer, previous=old.name, rep=new.name, mine=False)
    ctx.say("reassign_done", customer=customer, previous=old.name, rep=new.name)


def _current(ctx: Context, name: str) -> str:
    """The action argument "deal_id:period" for the open deal of the customer a manager named."""
    customer = resolve_customer(ctx, (name or "").strip())
    deal = deals.open_deal(customer.id)
    if deal is None:
        raise Refusal("no_open_deal", customer=customer.name)
    return f"{deal.id}:{period_of(deal_silence(ctx, deal).since)}"


def take_command(ctx: Context, args: str) -> None:
    """介入 华联超市: what the red card's 我来介入 button does, for a card the manager cannot press (a
    merged group message, or no card at all)."""
    take(ctx, _current(ctx, args))


def nudge_command(ctx: Context, args: str) -> None:
    """催办 华联超市: the red card's 请销售跟进, typed."""
    nudge(ctx, _current(ctx, args))


def register(router: Router) -> None:
    router.on_pending(fill_note)
    router.action("followup", followup)
    router.action("snooze", snooze_action)
    router.command(("推迟", "暂停", "snooze"), snooze_command)
    router.action("askhelp", ask_help)
    router.action("take", take)
    router.action("nudge", nudge)
    router.action("reassign", reassign)
    router.command(("介入", "take"), take_command)
    router.command(("催办", "nudge"), nudge_command)
