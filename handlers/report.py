"""The manager's numbers in chat: `周报` / `report` [period] [对比|vs baseline period].

Also the shared shaping of those numbers into template data, used by `漏斗` (handlers/queries.py)
and by the weekly funnel review (bot/jobs/weekly.py).
"""
from __future__ import annotations

import re
from datetime import date, datetime

from rules.access import is_manager, visible_to
from rules.kpi import Kpis, Period, StageFlow, compression, compute, parse_period, week_of
from storage import kpi_queries

from .context import Context
from .router import Router
from .views import format_yuan

REP_LIMIT = 10  # reps listed by follow-up interval on a card; the rest are counted


def team_numbers(funnel, tz, team_id: int | None, period: Period, now: datetime) -> Kpis:
    """The KPIs of a team (None: every team) for a period, up to `now` when it has not ended yet."""
    return team_numbers_vs(funnel, tz, team_id, [period], now)[0]


def team_numbers_vs(funnel, tz, team_id: int | None, periods: list[Period], now: datetime) -> list[Kpis]:
    """The KPIs of several periods (a period and its baseline), the history read once for all."""
    return [compute(data, funnel, tz) for data in kpi_queries.load_windows(team_id, windows_of(periods, tz, now), tz)]


def windows_of(periods: list[Period], tz, now: datetime) -> list[kpi_queries.Window]:
    """What to load for each period: up to `now` when it has not ended, with its target period."""
    windows = []
    for p in periods:
        start, end = p.bounds(tz)
        t_start, t_end = parse_period(p.target_key, p.start).bounds(tz)
        windows.append(kpi_queries.Window(start, max(start, min(end, now)), p.target_key, t_start, t_end))
    return windows


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


MIN_SAMPLE = 5  # a figure computed from fewer deals or customers than this says so


def metric(label: str, now: float | None, before: float | None, fmt, detail: str = "",
           lower_is_better: bool = False, sample: int | None = None, drill: dict | None = None) -> dict:
    """One figure against its baseline; `sample` (how many deals or customers it is computed from) marks
    a small sample as such; `drill` names the deal-list filter of the deals behind it."""
    small = sample is not None and 0 < sample < MIN_SAMPLE
    if small:
        detail = f"{detail}（样本少，仅{sample}个，仅供参考）" if detail else f"样本少，仅{sample}个，仅供参考"
    return {"label": label, "now": fmt(now), "before": fmt(before), "trend": trend(now, before, lower_is_better),
            "detail": detail, "small": small, "drill": drill or {}}


def cycle_change(comp: float | None, deals: int) -> str:
    """"压缩 32.1%" for a shorter cycle, "延长 30.6%" for a longer one."""
    if comp is None:
        return f"{deals}个赢单" if deals else "本期没有赢单"
    if comp > 0:
        return f"{deals}个赢单，比上期压缩 {comp:.1f}%"
    if comp < 0:
        return f"{deals}个赢单，比上期延长 {-comp:.1f}%"
    return f"{deals}个赢单，与上期持平"


def target_metric(k: Kpis, period: Period, scope_name: str) -> dict:
    a = k.attainment
    if a is None:
        team = scope_name if scope_name and scope_name != "全部团队" else "<团队名>"
        return {"label": "目标达成", "now": "未设目标", "before": "", "trend": "", "small": False, "drill": {},
                "detail": f"设置：主管发「目标 团队 {period.target_key} 300万」，"
                          f"或 python -m bot target {team} {period.target_key} 300万"}
    summed = f"（未设团队目标，按{a.summed_reps}位销售的个人目标之和）" if a.summed_reps else ""
    return {"label": "目标达成", "now": pct(a.rate), "before": "", "trend": "", "small": False,
            "drill": {"status": "won", "period": a.key},
            "detail": f"{a.key} 目标 {format_yuan(a.target)}{summed}，已赢单 {format_yuan(a.won)}"
                      + (f"，还差 {format_yuan(a.target - a.won)}" if a.won < a.target else "")}


def rep_target(k: Kpis, rep_id: int, name: str, period: Period) -> dict:
    """One rep's won amount against their own target (the period's quarter or month, as the team's): the
    one figure and wording of 周报, the weekly card and the dashboard's reps table."""
    a = k.rep_attainment.get(rep_id)
    if a is None:
        return {"id": rep_id, "name": name, "now": "未设目标", "rate": None, "set": False,
                "detail": f"主管发「目标 {name} {period.target_key} 50万」设置"}
    return {"id": rep_id, "name": name, "now": pct(a.rate), "rate": a.rate, "set": True,
            "short": f"{format_yuan(a.won)}/{format_yuan(a.target)}",
            "detail": f"{a.key} 目标 {format_yuan(a.target)}，已赢单 {format_yuan(a.won)}"}


def rep_target_rows(k: Kpis, reps: dict[int, tuple[str, str, bool]], period: Period,
                    limit: int = REP_LIMIT) -> tuple[list[dict], list[dict], int]:
    """(reps with a target, best attainment first; active reps without one; how many more were left
    out): every active rep and anyone with a target of their own."""
    listed = [rid for rid, (_, role, active) in sorted(reps.items())
              if rid in k.rep_attainment or (active and role == "rep")]
    rows = [rep_target(k, rid, reps[rid][0], period) for rid in listed]
    with_target = sorted((r for r in rows if r["set"]), key=lambda r: -r["rate"])
    without = [r for r in rows if not r["set"]]
    more = max(0, len(with_target) - limit) + max(0, len(without) - limit)
    return with_target[:limit], without[:limit], more


def stage_row(f: StageFlow) -> dict:
    return {"key": f.key, "stage": f.name, "no": f.order, "present": f.present, "advanced": f.advanced,
            "lost": f.lost, "conversion": pct(f.conversion), "avg_days": in_days(f.avg_days),
            "waiting": f.waiting, "waiting_days": in_days(f.waiting_days), "stalled": f.stalled}


def rep_rows(k: Kpis, reps: dict[int, tuple[str, str, bool]], limit: int = REP_LIMIT) -> tuple[list[dict], int]:
    """Reps by follow-up interval, slowest first (the ones to talk to); active reps without data last."""
    rows = [{"name": reps.get(rid, (f"#{rid}",))[0], "days": in_days(d), "value": round(d, 2), "customers": n}
            for rid, (d, n) in k.followup.by_rep.items()]
    rows.sort(key=lambda r: -r["value"])
    seen = set(k.followup.by_rep)
    rows += [{"name": name, "days": "—", "value": None, "customers": 0}
             for rid, (name, role, active) in sorted(reps.items())
             if rid not in seen and active and role == "rep"]
    return rows[:limit], max(0, len(rows) - limit)


def numbers_data(k: Kpis, before: Kpis, reps: dict, period: Period, baseline: Period,
                 scope_name: str = "", for_rep: bool = False, target: bool = True) -> dict:
    """The KPIs of a period against a baseline, as JSON-safe template data: the one wording of each
    number for 周报, 漏斗, the weekly card and the dashboard. A rep's own view (`for_rep`) leaves out the
    manager's figures (提前干预率, 预警覆盖率, the team target)."""
    h, hb = k.health, before.health
    iv = k.intervention
    comp = compression(before.cycle.mean_days, k.cycle.mean_days)
    p = period.key
    metrics = [
        metric("跟进间隔", k.followup.mean_days, before.followup.mean_days, in_days,
               f"{k.followup.customers}个客户的平均（同一天多次跟进算一次）" if k.followup.customers
               else "本期没有客户被跟进两天以上", lower_is_better=True, sample=k.followup.customers),
        metric("高健康度客户转化", h.high_rate, hb.high_rate, pct,
               f"赢{h.high_won}个/成交或输单{h.high_closed}个，其他客户 {pct(h.rest_rate)}" if h.high_closed
               else "本期没有高健康度客户成交或输单", sample=h.high_closed, drill={"status": "won", "period": p}),
    ]
    if not for_rep:
        metrics += [
            metric("提前干预率", iv.rate, before.intervention.rate, pct,
                   f"输单{iv.lost}+停滞{iv.stalled}个中{iv.acted}个主管事先介入/催办/改派" if iv.risky
                   else "本期没有输单或停滞的商机", sample=iv.risky, drill={"status": "lost", "period": p}),
            metric("预警覆盖率", iv.warned_rate, before.intervention.warned_rate, pct,
                   f"输单{iv.lost}+停滞{iv.stalled}个中{iv.flagged}个事先有橙/红预警" if iv.risky
                   else "本期没有输单或停滞的商机", sample=iv.risky, drill={"status": "lost", "period": p}),
        ]
    metrics += [
        metric("销售周期", k.cycle.mean_days, before.cycle.mean_days, in_days, cycle_change(comp, k.cycle.deals),
               lower_is_better=True, sample=k.cycle.deals, drill={"status": "won", "period": p}),
        metric("成交率", k.close_rate, before.close_rate, pct,
               f"赢单{k.won[0]}个 {format_yuan(k.won[1])}，输单{k.lost[0]}个", sample=k.won[0] + k.lost[0],
               drill={"status": "all", "period": p}),
    ]
    if target and not for_rep:  # a team's target: not on one rep's numbers
        metrics.append(target_metric(k, period, scope_name))
    rows, more = rep_rows(k, reps)
    with_target, without_target, targets_more = rep_target_rows(k, reps, period)
    return {
        "period": period.label, "period_key": period.key, "baseline": baseline.label, "baseline_key": baseline.key,
        "metrics": metrics,
        "compression": comp,
        "stalls": [stage_row(f) for f in k.stalls(3)],
        "stages": [stage_row(f) for f in k.stages],
        "reps": rows, "reps_more": more,
        "target_key": period.target_key, "rep_targets": with_target, "rep_targets_unset": without_target,
        "rep_targets_more": targets_more,
        "created": k.created, "open_at_end": k.open_at_end,
        "won": list(k.won), "lost": list(k.lost),
        "lost_reasons": [{"reason": r, "deals": n, "amount": a} for r, n, a in k.lost_reasons[:8]],
    }


_VS = re.compile(r"\s*(?:对比|比较|vs\.?|versus|比)\s*", re.IGNORECASE)


def parse_report_args(args: str, today: date) -> tuple[Period, Period] | None:
    """"" -> this week vs last week; "2026-Q4" -> it vs the quarter before; "2026-11 vs 2026-09"."""
    text = (args or "").strip()
    if not text:
        week = week_of(today)
        return week, week.previous()
    parts = _VS.split(text, maxsplit=1)
    period = parse_period(parts[0], today)
    if period is None:
        return None
    if len(parts) == 1 or not parts[1].strip():
        return period, period.previous()
    baseline = parse_period(parts[1], today)
    return (period, baseline) if baseline is not None else None


def scope_of(ctx: Context) -> tuple[int | None, str]:
    team_id, _ = visible_to(ctx.rep)
    return (team_id, ctx.rep.team.name) if team_id is not None else (None, "全部团队")


def report(ctx: Context, args: str) -> None:
    if not is_manager(ctx.rep):
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
    ctx.say("report", scope=scope, **numbers_data(k, before, kpi_queries.reps_of(team_id), period, baseline, scope))


def register(router: Router) -> None:
    router.command(("周报", "report"), report)
