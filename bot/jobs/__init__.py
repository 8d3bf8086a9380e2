"""The scheduled jobs: plain functions of (runtime, now) that return a summary dict.

    scan.py       stale deals: warnings to reps, red cards to manager groups
    daily.py      the 09:00 task card (and the warnings held overnight folded into it)
    health.py     customers' health scores, tiers, high intent
    weekly.py     the weekly funnel review card per team (its chart: bot/charts.py)
    deliver.py    the outbox poll: send what is due, retry with backoff
    pushes.py     what the jobs send waits for the send window and the daily budget
    timetable.py  when each job runs (the only place that says so)
    scheduler.py  APScheduler wiring: each job on its timetable

`python -m bot run NAME [--now ...]` runs one once; the scheduler runs them all. JOBS names them.
"""
from __future__ import annotations

from . import daily, deliver, health, scan, weekly

JOBS = {"scan": scan.scan, "daily": daily.daily, "deliver": deliver.deliver, "health": health.health,
        "weekly": weekly.weekly}
