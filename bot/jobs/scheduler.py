"""APScheduler wiring: each job of JOBS (bot/jobs/__init__.py) every so often, as timetable.py says.
Jobs stay plain functions.

`serve` starts this in-process; `python -m bot scheduler` runs it alone (the production shape: one
scheduler beside any number of web processes). Catch-up after downtime needs no scheduler state:
the daily job runs at start and every few minutes, and sends only what the outbox has not got yet.
"""
from __future__ import annotations

import logging
from datetime import datetime, timedelta, timezone
from typing import TYPE_CHECKING

from apscheduler.schedulers.background import BackgroundScheduler
from apscheduler.schedulers.blocking import BlockingScheduler
from apscheduler.triggers.interval import IntervalTrigger

from rules.calendar import unknown_years

from ..metrics import job_succeeded
from . import JOBS
from .timetable import TIMETABLE

if TYPE_CHECKING:
    from ..runtime import Runtime

log = logging.getLogger(__name__)


def run_job(rt: Runtime, name: str) -> dict | None:
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


def configure(scheduler, rt: Runtime, every: dict | None = None):
    """Add every job of the timetable to `scheduler`; `every` (job -> seconds) overrides its intervals."""
    today = rt.now().astimezone(rt.tz).date()
    for year in unknown_years(today, rt.funnel.schedule.days_off):
        log.warning("节假日日历没有 %s 年: 在规则文件 [schedule] 写上 days_off / extra_workdays, 或升级 chinesecalendar "
                    "(python -m bot doctor)", year)
    every = {**{name: slot.every for name, slot in TIMETABLE.items()}, **(every or {})}
    start = datetime.now(timezone.utc) + timedelta(seconds=1)
    for name, seconds in every.items():
        scheduler.add_job(run_job, IntervalTrigger(seconds=seconds), args=(rt, name), id=name, name=name,
                          next_run_time=start, coalesce=True, max_instances=1, misfire_grace_time=seconds)
    return scheduler


def start_scheduler(rt: Runtime, every: dict | None = None) -> BackgroundScheduler:
    scheduler = configure(BackgroundScheduler(timezone=rt.tz), rt, every)
    scheduler.start()
    return scheduler


def run_forever(rt: Runtime, every: dict | None = None) -> None:
    scheduler = configure(BlockingScheduler(timezone=rt.tz), rt, every)
    log.info("scheduler running: %s", ", ".join(f"{k} every {s.every}s" for k, s in TIMETABLE.items()))
    try:
        scheduler.start()
    except (KeyboardInterrupt, SystemExit):
        pass
