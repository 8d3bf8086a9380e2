"""The team's local calendar day of a stored (naive UTC) timestamp, inside SQL.

Counting "days with activity" by `DATE(at)` counts UTC days: in Shanghai (UTC+8) a log at 07:30 falls
on the day before. `local_date(Activity.at, tz)` shifts the timestamp by the zone's UTC offset first,
in each database's own syntax, so GROUP BY / COUNT(DISTINCT ...) see the team's days:

- SQLite: DATE(at, '+480 minutes')
- PostgreSQL: DATE(at + INTERVAL '480 minutes')
- MySQL / MariaDB: DATE(at + INTERVAL 480 MINUTE)

The offset is one number for the whole query: exact for a zone without daylight saving time (Asia/Shanghai,
the default); for a zone with DST it is the offset at `at` (the period's start), so a log within an
hour of midnight around a DST switch may count on the neighbouring day.
"""
from __future__ import annotations

from datetime import datetime

from peewee import SQL, MySQLDatabase, PostgresqlDatabase, fn

from rules.localtime import to_local

from .models import db


def offset_minutes(tz, at: datetime | None = None) -> int:
    """The zone's offset from UTC in whole minutes at `at` (naive UTC); without `at`, on 2026-01-01 (for
    a fixed-offset zone every day is the same)."""
    offset = to_local(at or datetime(2026, 1, 1), tz).utcoffset()
    return int(offset.total_seconds() // 60) if offset else 0


def local_date(field, tz, at: datetime | None = None):
    """SQL: the local date (a DATE on PostgreSQL and MySQL, 'YYYY-MM-DD' text on SQLite) of `field`."""
    minutes = offset_minutes(tz, at)  # an int: safe to write into the SQL text
    if not minutes:
        return fn.DATE(field)
    database = db.obj
    if isinstance(database, PostgresqlDatabase):
        return fn.DATE(field + SQL(f"INTERVAL '{minutes} minutes'"))
    if isinstance(database, MySQLDatabase):
        return fn.DATE(field + SQL(f"INTERVAL {minutes} MINUTE"))
    return fn.DATE(field, f"{minutes:+d} minutes")
