"""APScheduler wiring: the jobs of bot/jobs.py on their timetables. Jobs stay plain functions.

`serve` starts this in-process; `python -m bot scheduler` runs it alone (the production shape: one
scheduler beside any number of web processes). Catch-up after downtime needs no scheduler state:
the daily job runs at start and every few minutes, and sends only what the outbox has not got yet.
"""
from __future__ import annotations

import logging
from datetime import datetime, timedelta, timezone

from apscheduler.schedulers.background import BackgroundScheduler
from apscheduler.schedulers.blocking import BlockingScheduler
from apscheduler.triggers.interval import IntervalTrigger

from .jobs import JOBS
from .metrics import job_succeeded

log = logging.getLogger(__name__)

TIMETABLE = {  # job -> seconds between runs
    "scan": 300,
    "daily": 300,
    "deliver": 3,
    "health": 1800,  # does its work once a day from 06:00 local (bot/health.py)
    "weekly": 300,  # the weekly review: on its day after its time, once a week (bot/weekly.py)
}


def run_job(rt, name: str) -> dict | None:
    try:
        with rt.database.connection_context():
            result = JOBS[name](rt, rt.now())
            job_succeeded(name, rt.now())  # /healthz and /metrics read when the scheduler last ran
        if name != "deliver" or result.get("claimed"):
            log.info("job %s: %s", name, result)
        return result
    except Exception:  # noqa: BLE001  a failing job must not stop the scheduler
        log.exception("job %s failed", name)
        return None


def configure(scheduler, rt, timetable: dict | None = None):
    timetable = {**TIMETABLE, **(timetable or {})}
    start = datetime.now(timezone.utc) + timedelta(seconds=1)
    for name, seconds in timetable.items():
        scheduler.add_job(run_job, IntervalTrigger(seconds=seconds), args=(rt, name), id=name, name=name,
                          next_run_time=start, coalesce=True, max_instances=1, misfire_grace_time=seconds)
    return scheduler


def start_scheduler(rt, timetable: dict | None = None) -> BackgroundScheduler:
    scheduler = configure(BackgroundScheduler(timezone=rt.tz), rt, timetable)
    scheduler.start()
    return scheduler


def run_forever(rt, timetable: dict | None = None) -> None:
    scheduler = configure(BlockingScheduler(timezone=rt.tz), rt, timetable)
    log.info("scheduler running: %s", ", ".join(f"{k} every {v}s" for k, v in TIMETABLE.items()))
    try:
        scheduler.start()
    except (KeyboardInterrupt, SystemExit):
        pass
