"""Shared key/value state with expiry (access tokens), readable and lockable by every process."""
from __future__ import annotations

from datetime import datetime, timedelta

from peewee import MySQLDatabase, SqliteDatabase

from .database import in_transaction
from .models import KeyValue, db
from .prepared import prepared


def get(key: str, now: datetime, margin: timedelta = timedelta(0)) -> str | None:
    """The value, or None when absent or expiring within `margin`."""
    row = KeyValue.get_or_none(KeyValue.key == key)
    if row is None or (row.expires_at is not None and row.expires_at - margin <= now):
        return None
    return row.value


_add = prepared(lambda key, value, expires_at, now: KeyValue.insert(
    key=key, value=value, expires_at=expires_at, updated_at=now).on_conflict_ignore())


def add(key: str, value: str, now: datetime, ttl: timedelta) -> bool:
    """Store a new key in one statement; False (nothing changed) when the key exists already."""
    return _add.execute(key, value, now + ttl, now) == 1


def _upsert(key, value, expires_at, now):
    """INSERT ... ON CONFLICT (key) DO UPDATE (MySQL: ON DUPLICATE KEY UPDATE, which names no target)."""
    preserve = [KeyValue.value, KeyValue.expires_at, KeyValue.updated_at]
    target = [] if isinstance(db.obj, MySQLDatabase) else [KeyValue.key]
    return (KeyValue.insert(key=key, value=value, expires_at=expires_at, updated_at=now)
            .on_conflict(conflict_target=target or None, preserve=preserve))


_put = prepared(_upsert)


def put(key: str, value: str, now: datetime, ttl: timedelta | None = None) -> None:
    """Set `key` (created or replaced) in one statement: a visit keeps its 撤销 record with it."""
    _put.execute(key, value, now + ttl if ttl else None, now)


def replace(key: str, value: str) -> None:
    """A new value for an existing key, keeping its expiry (a no-op for a key that is gone)."""
    KeyValue.update(value=value).where(KeyValue.key == key).execute()


def delete(key: str) -> None:
    KeyValue.delete().where(KeyValue.key == key).execute()


def locked(key: str, now: datetime):
    """A transaction holding a row lock on `key` (created if missing), so one process refreshes at a time.

    Use as: `with locked(k, now) as row: ...`. PostgreSQL/MySQL: SELECT ... FOR UPDATE; SQLite: the
    transaction's write lock (BEGIN IMMEDIATE) already serialises writers.
    """
    return _Locked(key, now)


class _Locked:
    def __init__(self, key: str, now: datetime):
        self.key, self.now = key, now
        self.tx = db.atomic()

    def __enter__(self) -> KeyValue:
        if not KeyValue.select().where(KeyValue.key == self.key).exists():
            # created in a transaction of its own: two processes creating the same row at once can deadlock
            # on MySQL/MariaDB (the INSERT IGNORE's gap locks, then FOR UPDATE); in_transaction runs it again
            in_transaction(db.obj, lambda: KeyValue.insert(key=self.key, value="", expires_at=self.now,
                                                           updated_at=self.now).on_conflict_ignore().execute())
        self.tx.__enter__()
        q = KeyValue.select().where(KeyValue.key == self.key)
        if not isinstance(db.obj, SqliteDatabase):
            q = q.for_update()
        return q.get()

    def __exit__(self, *exc):
        return self.tx.__exit__(*exc)


def purge_expired(prefix: str, now: datetime) -> int:
    """Delete the rows under `prefix` whose expiry has passed (short-lived per-message state)."""
    return (KeyValue.delete().where(KeyValue.key.startswith(prefix) & KeyValue.expires_at.is_null(False)
                                    & (KeyValue.expires_at <= now)).execute())
