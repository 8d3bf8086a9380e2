"""Read-only commands: today's tasks, the funnel, help."""
from __future__ import annotations

from datetime import timedelta

from rules.access import is_manager, visible_to
from rules.kpi import last_days, parse_period
from storage import deals, health_queries

from .context import Context
from .report import stage_row, team_numbers
from .router import Router
from .views import LEVEL_RANK, card_row, deal_silence, step_row

TASK_LIMIT = 15


def task_card_data(ctx: Context, open_deals: list | None = None, high_intent: list | None = None,
                   silences: dict | None = None) -> dict:
    """The daily task card: warned deals ranked by level then amount, next steps due today or overdue.

    A rep's card lists their own deals; a manager's (the digest) the team's orange and red deals.
    `open_deals` lets the daily job pass deals it loaded for many reps at once, and `silences` share
    each deal's silence between a rep's card and the manager's digest.
    """
    manager = is_manager(ctx.rep)
    if open_deals is None:
        open_deals = deals.open_deals_for(ctx.rep, limit=100000)
    # the level of every deal is cheap; the full row only for the deals the card shows. One pass over the
    # deals (the daily job passes 500k for 10k cards): a snoozed deal leaves today's card
    known = silences if silences is not None else {}
    now = ctx.now
    counts = {"red": 0, "orange": 0, "yellow": 0}
    shown, mine = [], []  # mine: the deals with a next step booked (the manager's digest: his own)
    me = ctx.rep.id
    for d in open_deals:
        if d.next_step_due is not None and (not manager or d.owner_id == me):
            mine.append(d)
        until = d.snoozed_until
        if until is not None and until > now:
            continue
        s = known.get(d.id)
        if s is None:
            s = known[d.id] = deal_silence(ctx, d)
        level = s.level
        if level is not None:
            counts[level] += 1
            if not manager or level != "yellow":  # ranked by level, then amount, then silence (then as read)
                shown.append((LEVEL_RANK[level], -d.amount, -s.hours, len(shown), d, s))
    shown.sort()
    warned = [card_row(ctx, d, s) for *_, d, s in shown[:TASK_LIMIT]]
    start, end = ctx.local_day_bounds(ctx.today)
    mine.sort(key=lambda d: d.next_step_due)
    due = [step_row(ctx, d) for d in mine if start <= d.next_step_due < end]
    overdue = [d for d in mine if start - timedelta(days=30) <= d.next_step_due < start]
    return {
        "rep": ctx.rep.name,
        "manager": manager,
        "date": ctx.today.strftime("%m月%d日"),
        "counts": counts,
        "warned": warned,
        "more": max(0, len(shown) - TASK_LIMIT),
        "due": due,
        "overdue": [step_row(ctx, d) for d in overdue[:TASK_LIMIT]],
        "high_intent": high_intent if high_intent is not None else health_queries.high_intent_names(
            ctx.rep.team_id, None if manager else ctx.rep.id),
        "list_url": ctx.page_url("/dashboard/warnings") if len(shown) > TASK_LIMIT else "",
        "overdue_url": ctx.page_url("/dashboard/deals", overdue="1") if len(overdue) > TASK_LIMIT else "",
    }


def today(ctx: Context, args: str) -> None:
    ctx.say("task_card", **task_card_data(ctx))


def funnel(ctx: Context, args: str) -> None:
    """Open deals by stage; for a manager also each stage's conversion and stay over a period (default:
    the last 30 days, or e.g. `漏斗 2026-Q4`) and the three stages where deals stall most."""
    team_id, owner_id = visible_to(ctx.rep)
    if owner_id is not None:
        totals: dict = {}
        for d in deals.open_deals_for(ctx.rep, limit=100000):
            n, amount = totals.get(d.stage, (0, 0))
            totals[d.stage] = (n + 1, amount + d.amount)
        scope = ctx.rep.name
    else:
        totals = deals.funnel_totals(team_id)
        scope = ctx.rep.team.name if team_id else "全部团队"
    flow: dict = {}
    stalls: list = []
    period_label = ""
    won = lost = (0, 0)
    if is_manager(ctx.rep):
        period = parse_period(args, ctx.today) or last_days(ctx.today, 30)
        numbers = team_numbers(ctx.funnel, ctx.tz, team_id, period, ctx.now)
        flow = {f.key: stage_row(f) for f in numbers.stages if f.present}
        stalls = [stage_row(f) for f in numbers.stalls(3)]
        period_label = period.label
        won, lost = numbers.won, numbers.lost  # the period's, as the dashboard and 周报 count them
    rows = [{"no": s.order, "stage": s.name, "count": totals.get(s.key, (0, 0))[0],
             "amount": totals.get(s.key, (0, 0))[1], "conversion": flow.get(s.key, {}).get("conversion", ""),
             "avg_days": flow.get(s.key, {}).get("avg_days", "")} for s in ctx.funnel.open_stages]
    top = max([r["count"] for r in rows] + [1])
    for r in rows:
        r["bar"] = "█" * max(1 if r["count"] else 0, round(10 * r["count"] / top))
    ctx.say("funnel", scope=scope, rows=rows, total=sum(r["count"] for r in rows),
            amount=sum(r["amount"] for r in rows), won=list(won), lost=list(lost),
            period=period_label, stalls=stalls, list_url=ctx.page_url("/dashboard/deals"))


def help_(ctx: Context, args: str) -> None:
    ctx.say("help", stages=[s.name for s in ctx.funnel.stages],
            activities=[(k.name, k.words[0]) for k in ctx.funnel.activities.values() if k.in_help],
            manager=is_manager(ctx.rep))


def today_action(ctx: Context, arg: str) -> None:
    """The 今日任务 button."""
    today(ctx, "")


def register(router: Router) -> None:
    router.command(("今日任务", "今天", "任务", "today", "tasks"), today)
    router.command(("漏斗", "funnel"), funnel)
    router.command(("帮助", "help", "?", "菜单", "menu"), help_)
    router.action("today", today_action)
