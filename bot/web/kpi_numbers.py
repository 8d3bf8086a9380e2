"""The manager's numbers on the dashboard: the same computation as the chat's 漏斗 / 周报.

Computing them reads the period's whole history (storage/kpi_queries.load_windows, then rules.kpi.compute):
for a large team that takes seconds, so the dashboard page does not wait for it. The page shows the
numbers at once when they are in this process's cache, else it renders without them and the browser
fetches them from /dashboard/numbers (which computes and caches them). A cached entry is used only
while the data it was computed from is unchanged (storage.dashboard_queries.data_version), for the same
5-minute slot of `now`, and for at most CACHE_SECONDS.

A team's numbers (or every team's) come from `handlers.report.team_numbers_vs`, the function behind
`周报` and `漏斗`, and are shaped by `handlers.report.numbers_data`, so the page shows the chat's figures
and wording. For one rep, the same stored history (storage/kpi_queries.load_windows) is narrowed to that rep's
deals, customers and activities before `rules.kpi.compute` runs: one computation, a smaller input.
"""
from __future__ import annotations

import re
import threading
import time
from collections import OrderedDict
from dataclasses import replace
from datetime import date, timedelta

from handlers import report
from rules.kpi import KpiInput, Kpis, Period, compute, last_days, last_weeks, parse_period, weekly_trend
from storage import kpi_queries

PERIODS = [  # (parameter, label): what the period filter offers; anything parse_period reads works too
    ("last-30", "近30天"), ("this-week", "本周"), ("last-week", "上周"), ("this-month", "本月"),
    ("last-month", "上月"), ("this-quarter", "本季度"), ("last-quarter", "上季度"),
]
_PERIOD_TEXT = {key: label for key, label in PERIODS}
DEFAULT_PERIOD = "last-30"  # as `漏斗` without arguments (`周报` without arguments: this-week)


_DAYS = re.compile(r"^(\d{4}-\d{2}-\d{2})\.\.(\d{4}-\d{2}-\d{2})$")
MAX_DAYS = 400


def parse(value: str | None, today) -> tuple[str, Period]:
    """(parameter, period) for the filter value; an unreadable one falls back to the last 30 days. A span
    of days reads as its key ("2026-10-29..2026-11-27", what the last 30 days link to)."""
    value = (value or DEFAULT_PERIOD).strip()
    if value == "last-30":
        return value, last_days(today, 30)
    if m := _DAYS.match(value):
        try:
            first, last = date.fromisoformat(m[1]), date.fromisoformat(m[2])
        except ValueError:
            first = last = None
        if first and last and 0 <= (last - first).days < MAX_DAYS and first.year > 2000 and last.year < 9000:
            return value, Period("days", first, last + timedelta(days=1))
    period = parse_period(_PERIOD_TEXT.get(value, value), today)
    if period is None:
        return DEFAULT_PERIOD, last_days(today, 30)
    return value, period


def narrow(data: KpiInput, owner_id: int) -> KpiInput:
    """The part of a team's KPI input that belongs to one rep (their deals and customers): their own
    target, not the team's."""
    deals = [d for d in data.deals if d.owner_id == owner_id]
    ids = {d.id for d in deals}
    customers = {d.customer_id for d in deals}
    return replace(data, deals=deals, moves=[m for m in data.moves if m.deal_id in ids],
                   activity=[a for a in data.activity if a.owner_id == owner_id],
                   last_activity={k: v for k, v in data.last_activity.items() if k in ids},
                   first_flag={k: v for k, v in data.first_flag.items() if k in ids},
                   first_action={k: v for k, v in data.first_action.items() if k in ids},
                   scores={k: v for k, v in data.scores.items() if k[0] in customers},
                   target_amount=None, target_won=0, target_reps=0,
                   rep_targets={k: v for k, v in data.rep_targets.items() if k == owner_id},
                   rep_won={k: v for k, v in data.rep_won.items() if k == owner_id})


def numbers_vs(funnel, tz, team_id: int | None, owner_id: int | None, periods: list[Period], now) -> list[Kpis]:
    """The Kpis of each period (a period and its baseline), the history read once for all."""
    if owner_id is None:
        return report.team_numbers_vs(funnel, tz, team_id, periods, now)
    windows = report.windows_of(periods, tz, now)  # those of the team's numbers, narrowed to the rep
    return [compute(narrow(data, owner_id), funnel, tz) for data in kpi_queries.load_windows(team_id, windows, tz)]


def page_numbers(funnel, tz, team_id: int | None, owner_id: int | None, period: Period, now,
                 reps: dict, scope_name: str = "", for_rep: bool = False) -> tuple[Kpis, dict]:
    """(the period's Kpis, the chat's template data of the period against the one before)."""
    baseline = period.previous()
    k, before = numbers_vs(funnel, tz, team_id, owner_id, [period, baseline], now)
    return k, report.numbers_data(k, before, reps, period, baseline, scope_name, for_rep=for_rep,
                                  target=owner_id is None)


def reps_of(team_id: int | None) -> dict:
    return kpi_queries.reps_of(team_id)


CACHE_SECONDS = 300.0
CACHE_SIZE = 64
_cache: OrderedDict = OrderedDict()
_cache_lock = threading.Lock()


def cache_key(team_id, owner_id, period: Period, now, version) -> tuple:
    slot = now.replace(minute=now.minute - now.minute % 5, second=0, microsecond=0)
    return (team_id, owner_id, period.kind, period.start, period.end, slot, version)


def cached(key) -> tuple | None:
    with _cache_lock:
        hit = _cache.get(key)
        if hit is None:
            return None
        at, value = hit
        if time.monotonic() - at > CACHE_SECONDS:
            del _cache[key]
            return None
        _cache.move_to_end(key)
        return value


def remember(key, value) -> None:
    with _cache_lock:
        _cache[key] = (time.monotonic(), value)
        _cache.move_to_end(key)
        while len(_cache) > CACHE_SIZE:
            _cache.popitem(last=False)


def clear_cache() -> None:
    with _cache_lock:
        _cache.clear()



TREND_WEEKS = 8


def trend_view(tz, team_id: int | None, owner_id: int | None, today, now) -> dict:
    """The weekly trend charts of the scope (the last TREND_WEEKS weeks, this one so far), JSON-safe."""
    from storage import dashboard_queries
    weeks = last_weeks(today, TREND_WEEKS)
    start, end = weeks[0].bounds(tz)[0], min(weeks[-1].bounds(tz)[1], now + timedelta(seconds=1))
    raw = dashboard_queries.trend_rows(team_id, owner_id, start, end, tz)
    rows = weekly_trend(weeks, raw["won"], raw["lost"], raw["created"], raw["activity_days"], tz)
    labels = [f"{w.week.start.month}/{w.week.start.day}" for w in rows]

    def chart(key: str, title: str, values: list[int], fmt) -> dict:
        top = max(values + [1])
        return {"key": key, "title": title, "labels": labels, "vals": values, "text": [fmt(v) for v in values],
                "heights": [round(60 * v / top, 1) for v in values], "last": fmt(values[-1]),
                "summary": "，".join(f"{lab} {fmt(v)}" for lab, v in zip(labels, values))}
    from handlers.views import format_yuan
    return {"weeks": TREND_WEEKS, "charts": [
        chart("won_amount", "赢单金额", [r.won_amount for r in rows], format_yuan),
        chart("won", "赢单数", [r.won for r in rows], str),
        chart("created", "新建商机", [r.created for r in rows], str),
        chart("activities", "跟进次数", [r.activities for r in rows], str),
        chart("lost", "输单数", [r.lost for r in rows], str),
    ]}
