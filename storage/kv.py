"""Shared key/value state with expiry (access tokens), readable and lockable by every process."""
from __future__ import annotations

import time
from datetime import datetime, timedelta

from peewee import SqliteDatabase

from .database import is_deadlock
from .models import KeyValue, db


def get(key: str, now: datetime, margin: timedelta = timedelta(0)) -> str | None:
    """The value, or None when absent or expiring within `margin`."""
    row = KeyValue.get_or_none(KeyValue.key == key)
    if row is None or (row.expires_at is not None and row.expires_at - margin <= now):
        return None
    return row.value


def put(key: str, value: str, now: datetime, ttl: timedelta | None = None) -> None:
    expires = now + ttl if ttl else None
    with db.atomic():
        n = KeyValue.update(value=value, expires_at=expires, updated_at=now).where(KeyValue.key == key).execute()
        if n == 0:
            KeyValue.insert(key=key, value=value, expires_at=expires, updated_at=now).on_conflict_ignore().execute()
            KeyValue.update(value=value, expires_at=expires, updated_at=now).where(KeyValue.key == key).execute()


def delete(key: str) -> None:
    KeyValue.delete().where(KeyValue.key == key).execute()


def locked(key: str, now: datetime):
    """A transaction holding a row lock on `key` (created if missing), so one process refreshes at a time.

    Use as: `with locked(k, now) as row: ...`. PostgreSQL/MySQL: SELECT ... FOR UPDATE; SQLite: the
    transaction's write lock (BEGIN IMMEDIATE) already serialises writers.
    """
    return _Locked(key, now)


class _Locked:
    ATTEMPTS = 5

    def __init__(self, key: str, now: datetime):
        self.key, self.now = key, now

    def __enter__(self) -> KeyValue:
        # two processes creating the same new row at once can deadlock on MySQL/MariaDB (gap locks of the
        # INSERT IGNORE, then FOR UPDATE): nothing is done yet, so a transaction of its own starts again
        for attempt in range(1, self.ATTEMPTS + 1):
            self.tx = db.atomic()
            self.tx.__enter__()
            outermost = db.transaction_depth() == 1
            try:
                KeyValue.insert(key=self.key, value="", expires_at=self.now,
                                updated_at=self.now).on_conflict_ignore().execute()
                q = KeyValue.select().where(KeyValue.key == self.key)
                if not isinstance(db.obj, SqliteDatabase):
                    q = q.for_update()
                return q.get()
            except Exception as e:  # noqa: BLE001
                self.tx.__exit__(type(e), e, e.__traceback__)
                if not outermost or attempt == self.ATTEMPTS or not is_deadlock(e):
                    raise
                time.sleep(0.01 * attempt)

    def __exit__(self, *exc):
        return self.tx.__exit__(*exc)


def purge_expired(prefix: str, now: datetime) -> int:
    """Delete the rows under `prefix` whose expiry has passed (short-lived per-message state)."""
    return (KeyValue.delete().where(KeyValue.key.startswith(prefix) & KeyValue.expires_at.is_null(False)
                                    & (KeyValue.expires_at <= now)).execute())
