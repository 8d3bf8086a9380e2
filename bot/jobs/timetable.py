"""When each job runs: the one timetable. The scheduler reads it; a job asks it whether it is time.

The scheduler calls every job each `every` seconds. A job that works only at certain local times has a
`due` rule here: called at another time it does nothing and says why ({"skipped": ...}), so the job does
its work exactly when this table says however often it is called (by the scheduler, or by hand:
`python -m bot run NAME --now ...`), and the first call after downtime catches up. What a team sets
itself comes from its rules file ([schedule] task_card_at, task_card_until, days_off, extra_workdays,
weekly_review_at); the rest is set here. Doing the work only once (once a day, once a week) is each
job's own business: its outbox keys, or the health job's mark of the day.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, time, timezone
from typing import Callable

from rules.calendar import is_workday

HEALTH_FROM = time(6, 0)  # the health scores are recomputed once a day from this local time


def task_card_window(rt, local: datetime) -> str | None:
    """The 09:00 task card: working days, from [schedule] task_card_at until task_card_until."""
    sched = rt.funnel.schedule
    if not is_workday(local.date(), sched.days_off, sched.extra_workdays):
        return "day off"
    if not (sched.task_card_at <= local.time() < sched.task_card_until):
        return "outside the task-card window"
    return None


def health_time(rt, local: datetime) -> str | None:
    """The health scores: from HEALTH_FROM local, every day."""
    return f"before {HEALTH_FROM:%H:%M}" if local.time() < HEALTH_FROM else None


def review_time(rt, local: datetime) -> str | None:
    """The weekly review: on the day of [schedule] weekly_review_at, from its time."""
    weekday, at = rt.funnel.schedule.weekly_review_at
    if local.weekday() != weekday:
        return "not the review day"
    if local.time() < at:
        return "before the review time"
    return None


@dataclass(frozen=True)
class Slot:
    every: int  # seconds between the scheduler's calls
    due: Callable[[object, datetime], str | None] | None = None  # (runtime, local now) -> why not now


TIMETABLE: dict[str, Slot] = {
    "scan": Slot(300),
    "daily": Slot(300, task_card_window),
    "deliver": Slot(3),  # the safety net: an answer goes at once (bot/courier.py)
    "health": Slot(1800, health_time),
    "weekly": Slot(300, review_time),
}


def not_due(name: str, rt, now: datetime) -> str | None:
    """Why job `name` has nothing to do at `now` (naive UTC) by the timetable, or None when it is time."""
    due = TIMETABLE[name].due
    return None if due is None else due(rt, now.replace(tzinfo=timezone.utc).astimezone(rt.tz))
