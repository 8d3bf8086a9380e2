"""The timetable is the one place that says when each job runs: the scheduler runs every job it names
at its interval, and no job is left out (a job without a slot would never run)."""
from __future__ import annotations

from datetime import datetime, timedelta, timezone

from apscheduler.schedulers.background import BackgroundScheduler

from bot.clock import FixedClock
from bot.jobs import JOBS
from bot.jobs.health import health
from bot.jobs.scheduler import configure
from bot.jobs.timetable import TIMETABLE
from tests.conftest import make_runtime

SH = timezone(timedelta(hours=8))


def test_the_scheduler_runs_every_job_at_its_timetable_interval(sqlite_url):
    rt = make_runtime(sqlite_url, FixedClock(datetime(2026, 11, 2, 7, tzinfo=SH)))
    scheduler = configure(BackgroundScheduler(timezone=rt.tz), rt)
    jobs = {j.id: j for j in scheduler.get_jobs()}
    assert set(jobs) == set(JOBS) == set(TIMETABLE)
    for name, job in jobs.items():
        assert job.trigger.interval == timedelta(seconds=TIMETABLE[name].every), name
        assert job.args == (rt, name)
    assert TIMETABLE["deliver"].every <= 5  # what waits in the outbox goes within seconds


def test_the_health_job_works_from_the_timetable_time(sqlite_url, monkeypatch):
    import bot.jobs.timetable as timetable
    rt = make_runtime(sqlite_url, FixedClock(datetime(2026, 11, 2, 7, tzinfo=SH)))
    at = datetime(2026, 11, 2, 6, 30, tzinfo=SH).astimezone(timezone.utc).replace(tzinfo=None)
    monkeypatch.setattr(timetable, "HEALTH_FROM", timetable.HEALTH_FROM.replace(hour=7))
    with rt.database.connection_context():
        assert health(rt, at)["skipped"] == "before 07:00"
        monkeypatch.undo()
        assert "skipped" not in health(rt, at)
