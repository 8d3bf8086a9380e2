"""The manager's numbers in chat: `周报` / `report` [period] [对比|vs baseline period].

Also the shared shaping of those numbers into template data, used by `漏斗` (handlers/queries.py)
and by the weekly funnel review (bot/weekly.py).
"""
from __future__ import annotations

import re
from datetime import date, datetime

from bot.render import format_yuan
from rules import kpi as K
from storage import kpi as store

from .context import Context
from .router import router

REP_LIMIT = 10  # reps listed by follow-up interval on a card; the rest are counted


def team_numbers(funnel, tz, team_id: int | None, period: K.Period, now: datetime) -> K.Kpis:
    """The KPIs of a team (None: every team) for a period, up to `now` when it has not ended yet."""
    return team_numbers_vs(funnel, tz, team_id, [period], now)[0]


def team_numbers_vs(funnel, tz, team_id: int | None, periods: list[K.Period], now: datetime) -> list[K.Kpis]:
    """The KPIs of several periods (a period and its baseline), the history read once for all."""
    windows = []
    for p in periods:
        start, end = p.bounds(tz)
        target = K.parse_period(p.target_key, p.start)
        t_start, t_end = target.bounds(tz)
        windows.append(store.Window(start, max(start, min(end, now)), p.target_key, t_start, t_end))
    return [K.compute(data, funnel, tz) for data in store.load_windows(team_id, windows, tz)]


def pct(v: float | None) -> str:
    return "—" if v is None else f"{v * 100:.0f}%"


def in_days(v: float | None) -> str:
    return "—" if v is None else f"{v:.1f}天"


def trend(now: float | None, before: float | None, lower_is_better: bool = False) -> str:
    """'↑' / '↓' with a mark for better (✅) or worse (⚠️); '' when either side is missing or equal."""
    if now is None or before is None or abs(now - before) < 1e-9:
        return ""
    up = now > before
    good = up != lower_is_better
    return ("↑" if up else "↓") + ("✅" if good else "⚠️")


def metric(label: str, now: float | None, before: float | None, fmt, detail: str = "",
           lower_is_better: bool = False) -> dict:
    return {"label": label, "now": fmt(now), "before": fmt(before), "trend": trend(now, before, lower_is_better),
            "detail": detail}


def stage_row(f: K.StageFlow) -> dict:
    return {"key": f.key, "stage": f.name, "no": f.order, "present": f.present, "advanced": f.advanced,
            "lost": f.lost, "conversion": pct(f.conversion), "avg_days": in_days(f.avg_days),
            "waiting": f.waiting, "waiting_days": in_days(f.waiting_days), "stalled": f.stalled}


def rep_rows(k: K.Kpis, reps: dict[int, tuple[str, str, bool]], limit: int = REP_LIMIT) -> tuple[list[dict], int]:
    """Reps by follow-up interval, slowest first (the ones to talk to); active reps without data last."""
    rows = [{"name": reps.get(rid, (f"#{rid}",))[0], "days": in_days(d), "value": round(d, 2), "customers": n}
            for rid, (d, n) in k.followup.by_rep.items()]
    rows.sort(key=lambda r: -r["value"])
    seen = set(k.followup.by_rep)
    rows += [{"name": name, "days": "—", "value": None, "customers": 0}
             for rid, (name, role, active) in sorted(reps.items())
             if rid not in seen and active and role == "rep"]
    return rows[:limit], max(0, len(rows) - limit)


def numbers_data(k: K.Kpis, before: K.Kpis, reps: dict, period: K.Period, baseline: K.Period) -> dict:
    """The KPIs of a period against a baseline, as JSON-safe template data."""
    h, hb = k.health, before.health
    iv = k.intervention
    comp = K.compression(before.cycle.mean_days, k.cycle.mean_days)
    metrics = [
        metric("跟进间隔", k.followup.mean_days, before.followup.mean_days, in_days,
               f"{k.followup.customers}个活跃客户的平均", lower_is_better=True),
        metric("高健康度客户转化", h.high_rate, hb.high_rate, pct,
               f"{h.high_won}/{h.high_closed}，其他客户 {pct(h.rest_rate)}"),
        metric("提前干预率", iv.rate, before.intervention.rate, pct,
               f"输单{iv.lost}+停滞{iv.stalled}个中{iv.flagged}个事先有橙/红预警"),
        metric("销售周期", k.cycle.mean_days, before.cycle.mean_days, in_days,
               (f"压缩 {comp:.1f}%" if comp is not None else f"{k.cycle.deals}个赢单"), lower_is_better=True),
        metric("成交率", k.close_rate, before.close_rate, pct,
               f"赢单{k.won[0]}个 {format_yuan(k.won[1])}，输单{k.lost[0]}个"),
    ]
    a = k.attainment
    if a is not None:
        metrics.append({"label": "目标达成", "now": pct(a.rate), "before": "", "trend": "",
                        "detail": f"{a.key} 目标 {format_yuan(a.target)}，已赢单 {format_yuan(a.won)}"})
    rows, more = rep_rows(k, reps)
    return {
        "period": period.label, "period_key": period.key, "baseline": baseline.label, "baseline_key": baseline.key,
        "metrics": metrics,
        "compression": comp,
        "stalls": [stage_row(f) for f in k.stalls(3)],
        "stages": [stage_row(f) for f in k.stages],
        "reps": rows, "reps_more": more,
        "created": k.created, "open_at_end": k.open_at_end,
        "won": list(k.won), "lost": list(k.lost),
    }


_VS = re.compile(r"\s*(?:对比|比较|vs\.?|versus|比)\s*", re.IGNORECASE)


def parse_report_args(args: str, today: date) -> tuple[K.Period, K.Period] | None:
    """"" -> this week vs last week; "2026-Q4" -> it vs the quarter before; "2026-11 vs 2026-09"."""
    text = (args or "").strip()
    if not text:
        week = K.week_of(today)
        return week, week.previous()
    parts = _VS.split(text, maxsplit=1)
    period = K.parse_period(parts[0], today)
    if period is None:
        return None
    if len(parts) == 1 or not parts[1].strip():
        return period, period.previous()
    baseline = K.parse_period(parts[1], today)
    return (period, baseline) if baseline is not None else None


def scope_of(ctx: Context) -> tuple[int | None, str]:
    if ctx.rep.role == "admin":
        return None, "全部团队"
    return ctx.rep.team_id, ctx.rep.team.name


@router.command("周报", "report")
def report(ctx: Context, args: str) -> None:
    if ctx.rep.role == "rep":
        ctx.understood["refused"] = "manager_only"
        ctx.say("kpi_notice", code="manager_only")
        return
    periods = parse_report_args(args, ctx.today)
    if periods is None:
        ctx.understood["refused"] = "bad_period"
        ctx.say("kpi_notice", code="bad_period", text=args[:30])
        return
    period, baseline = periods
    team_id, scope = scope_of(ctx)
    k, before = team_numbers_vs(ctx.funnel, ctx.tz, team_id, [period, baseline], ctx.now)
    ctx.understood["period"] = period.key
    ctx.say("report", scope=scope, **numbers_data(k, before, store.reps_of(team_id), period, baseline))
