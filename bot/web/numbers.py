"""The manager's numbers on the dashboard: the same computation as the chat's 漏斗 / 周报.

A team's numbers (or every team's) come from `handlers.report.team_numbers`, the function behind
`周报`, and are shaped by `handlers.report.numbers_data`, so the page shows the chat's figures and
wording. For one rep, the same stored history (storage/kpi.load) is narrowed to that rep's deals,
customers and activities before `rules.kpi.compute` runs: one computation, a smaller input.
"""
from __future__ import annotations

from dataclasses import replace

from handlers import report
from rules import kpi as K
from storage import kpi as store

PERIODS = [  # (parameter, label): what the period filter offers; anything parse_period reads works too
    ("last-30", "近30天"), ("this-week", "本周"), ("last-week", "上周"), ("this-month", "本月"),
    ("last-month", "上月"), ("this-quarter", "本季度"), ("last-quarter", "上季度"),
]
_PERIOD_TEXT = {key: label for key, label in PERIODS}
DEFAULT_PERIOD = "last-30"  # as `漏斗` without arguments (`周报` without arguments: this-week)


def parse(value: str | None, today) -> tuple[str, K.Period]:
    """(parameter, period) for the filter value; an unreadable one falls back to the last 30 days."""
    value = (value or DEFAULT_PERIOD).strip()
    if value == "last-30":
        return value, K.last_days(today, 30)
    period = K.parse_period(_PERIOD_TEXT.get(value, value), today)
    if period is None:
        return DEFAULT_PERIOD, K.last_days(today, 30)
    return value, period


def narrow(data: K.KpiInput, owner_id: int) -> K.KpiInput:
    """The part of a team's KPI input that belongs to one rep (their deals and customers); no target."""
    deals = [d for d in data.deals if d.owner_id == owner_id]
    ids = {d.id for d in deals}
    customers = {d.customer_id for d in deals}
    return replace(data, deals=deals, moves=[m for m in data.moves if m.deal_id in ids],
                   activity=[a for a in data.activity if a.owner_id == owner_id],
                   last_activity={k: v for k, v in data.last_activity.items() if k in ids},
                   first_flag={k: v for k, v in data.first_flag.items() if k in ids},
                   scores={k: v for k, v in data.scores.items() if k[0] in customers},
                   target_key=None, target_amount=None, target_won=0)


def numbers(funnel, tz, team_id: int | None, owner_id: int | None, period: K.Period, now) -> K.Kpis:
    if owner_id is None:
        return report.team_numbers(funnel, tz, team_id, period, now)
    start, end = period.bounds(tz)
    until = max(start, min(end, now))
    return K.compute(narrow(store.load(team_id, start, until, tz), owner_id), funnel, tz)


def page_numbers(funnel, tz, team_id: int | None, owner_id: int | None, period: K.Period, now,
                 reps: dict) -> tuple[K.Kpis, dict]:
    """(the period's Kpis, the chat's template data of the period against the one before)."""
    baseline = period.previous()
    k = numbers(funnel, tz, team_id, owner_id, period, now)
    before = numbers(funnel, tz, team_id, owner_id, baseline, now)
    return k, report.numbers_data(k, before, reps, period, baseline)


def reps_of(team_id: int | None) -> dict:
    return store.reps_of(team_id)
