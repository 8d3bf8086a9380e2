"""Turn stored rows into the plain dicts the templates render (JSON-safe: no datetimes)."""
from __future__ import annotations

from datetime import datetime, timedelta, timezone
from typing import TYPE_CHECKING

from rules.stale import LEVEL_ICONS, LEVEL_NAMES, silence, silence_counter
from storage import people
from storage.deals import SKIPPED

from .context import Context

if TYPE_CHECKING:
    from storage.models import Deal

LEVEL_RANK = {"red": 0, "orange": 1, "yellow": 2, None: 3}


def format_yuan(amount) -> str:
    """80000 -> '8万', 85000 -> '8.5万', 3000 -> '3000元'."""
    amount = int(amount or 0)
    if amount >= 10000:
        v = amount / 10000
        return (f"{v:.2f}".rstrip("0").rstrip(".")) + "万"
    return f"{amount}元"


def deal_clock(funnel, tz, stage: str, team_id: int | None):
    """The clock that counts this deal's silence (working days, or every hour for a stage or team that
    says clock = "calendar")."""
    team = people.team_name(team_id) if funnel.schedule.team_clocks else None
    return funnel.clock(tz, stage, team)


def deal_silence(ctx: Context, deal: Deal, stage=None):
    stage = stage or ctx.funnel.stage(deal.stage)
    return silence(deal.last_movement_at, deal.next_step_due, stage.stale, ctx.now,
                   ctx.funnel.pause_while_next_step_ahead, deal_clock(ctx.funnel, ctx.tz, stage.key, deal.team_id))


def silences_of(funnel, tz, now: datetime, deals) -> dict:
    """{deal id: its silence at `now`} for many deals, each (stage, team)'s thresholds and clock looked up
    once (a rep's 我的客户 counts a few dozen; the daily cards 500k)."""
    pause = funnel.pause_while_next_step_ahead
    counters: dict[tuple, object] = {}
    out = {}
    for d in deals:
        count = counters.get((d.stage, d.team_id))
        if count is None:
            count = counters[(d.stage, d.team_id)] = silence_counter(
                funnel.stale_for(d.stage), now, pause, deal_clock(funnel, tz, d.stage, d.team_id))
        out[d.id] = count(d.last_movement_at, d.next_step_due)
    return out


def snooze_label(ctx: Context, until: datetime) -> str:
    """"12月7日 09:00" (local)."""
    t = ctx.to_local(until)
    return f"{t.month}月{t.day}日 {t:%H:%M}"


def snoozed(ctx: Context, deal) -> str:
    """The snooze's end as shown (💤 至12月7日 09:00), or "" for a deal not snoozed now."""
    until = getattr(deal, "snoozed_until", None)
    return snooze_label(ctx, until) if until is not None and until > ctx.now else ""


def deal_row(ctx: Context, deal: Deal, s=None) -> dict:
    """A deal as the cards and lists show it in full: a card's line and its next step, and more;
    `s`: its silence, when the caller has it already."""
    stage = ctx.funnel.stage(deal.stage)
    s = s or deal_silence(ctx, deal, stage)
    return {**card_row(ctx, deal, s), **step_row(ctx, deal), "stage_no": stage.order,
            "hours_silent": round(s.hours, 1), "status": deal.status, "snoozed": snoozed(ctx, deal)}


def card_row(ctx: Context, deal, s) -> dict:
    """A deal as a line of a pushed card shows it (the warnings message, the 09:00 card): what its
    template reads and its buttons carry, nothing more (the morning queues 10k cards at once)."""
    level = s.level
    return {"deal_id": deal.id, "customer": deal.customer.name, "owner": deal.owner.name,
            "stage": ctx.funnel.stage(deal.stage).name, "amount": deal.amount, "days_silent": s.days,
            "level": level, "level_name": LEVEL_NAMES.get(level, ""), "icon": LEVEL_ICONS.get(level, "⚪"),
            "period": period_of(s.since)}


def step_row(ctx: Context, deal) -> dict:
    """A booked next step as the 09:00 card lists it (due today, or overdue since its date)."""
    due = ctx.to_local(deal.next_step_due) if deal.next_step_due else None
    return {"deal_id": deal.id, "customer": deal.customer.name, "next_step": deal.next_step or "",
            "due": due.strftime("%m-%d") if due else ""}


_EPOCH, _SECOND = datetime(1970, 1, 1), timedelta(seconds=1)


def period_of(since: datetime) -> int:
    """A silence period's id, as carried by card buttons: its start in epoch seconds."""
    if since.tzinfo is None:  # naive UTC, as stored (the daily cards ask 150k times)
        return (since - _EPOCH) // _SECOND
    return int(since.replace(tzinfo=timezone.utc).timestamp())


def ranked_silences(ctx: Context, deals) -> list[tuple]:
    """(deal, silence) pairs, warning level first (red, orange, yellow, none), then the larger deal, then
    the longer silence; a snoozed deal after all the others. Only each deal's silence is computed."""
    deals = list(deals)
    known = silences_of(ctx.funnel, ctx.tz, ctx.now, deals)
    pairs = [(d, known[d.id]) for d in deals]
    pairs.sort(key=lambda p: (bool(snoozed(ctx, p[0])), LEVEL_RANK[p[1].level], -p[0].amount, -p[1].hours))
    return pairs


def list_row(ctx: Context, deal, s) -> dict:
    """One line of a deal list (我的客户): what the line shows, and the deal's id. A snoozed deal shows
    until when (💤 至12月7日 09:00) instead of its level."""
    until = snoozed(ctx, deal)
    level = None if until else s.level
    return {"deal_id": deal.id, "customer": deal.customer.name, "owner": deal.owner.name,
            "stage": ctx.funnel.stage(deal.stage).name, "days_silent": s.days, "level": level,
            "level_name": LEVEL_NAMES.get(level, ""), "icon": LEVEL_ICONS.get(level, "⚪"), "snoozed": until}


def stage_change_text(funnel, from_stage: str | None, to_stage: str, note: str | None) -> str:
    """"谈判 → 方案提交"; a close reads as what it was: "谈判 → 赢单" or "谈判 → 输单（价格）", never a lost
    deal "→ 成交"; a won deal's skipped exit criteria are named."""
    def name(key):
        try:
            return funnel.stage(key).name
        except KeyError:
            return key or ""
    note = note or ""
    status, _, detail = note.partition(":")
    status = status.split(";")[0].strip()
    target = name(to_stage)
    if status in ("won", "lost") and funnel.stage_or_none(to_stage) is not None and funnel.stage(to_stage).closing:
        target = "赢单" if status == "won" else "输单"
        reason = detail.split(";")[0].strip() if status == "lost" else ""
        skipped = note.partition(f"{SKIPPED}:")[2].strip()
        target += f"（{reason}）" if reason else ""
        target += f"（跳过：{skipped}）" if skipped else ""
    return f"{name(from_stage)} → {target}" if from_stage else f"新建于 {target}"
