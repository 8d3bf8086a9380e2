"""Access tokens of the chat APIs, kept in the database and shared by every process.

A refresh first claims the right to fetch under a database lock and records the attempt (committed),
then calls the token endpoint outside any transaction: a slow or hanging endpoint holds no database
lock (on SQLite that lock would stop every callback), and a failed fetch still counts. The token
endpoint is therefore never called twice within MIN_FETCH_INTERVAL, whatever happens. A process that
finds another one's fetch under way waits briefly for its token; after a failed fetch, or when the
wait runs out, it gets TokenBusy (the delivery tries again after MIN_FETCH_INTERVAL).
"""
from __future__ import annotations

import time
from datetime import timedelta
from typing import Callable, TYPE_CHECKING

from storage import kv

if TYPE_CHECKING:
    from ..runtime import Runtime

TOKEN_MARGIN = timedelta(minutes=5)  # refresh this long before a token expires
MIN_FETCH_INTERVAL = timedelta(seconds=10)
WAIT_FOR_OTHER = 6.0  # seconds to wait for another process's fetch (its HTTP timeout is 5 s)
POLL = 0.05

FETCHING, FETCHED, FAILED = "fetching", "fetched", "failed"


class TokenBusy(Exception):
    """The token was fetched (or tried) moments ago: wait instead of fetching it again."""


def cached_token(runtime: Runtime, key: str) -> str | None:
    return kv.get(key, runtime.now(), margin=TOKEN_MARGIN)


def refresh_token(runtime: Runtime, key: str, fetch: Callable[[], tuple[str, int]], stale: str | None) -> str:
    """A fresh token for `key`: another process's if it refreshed meanwhile, else fetch() -> (token, seconds)."""
    deadline = time.monotonic() + WAIT_FOR_OTHER
    lock_key = f"{key}:lock"
    while True:
        now = runtime.now()
        with kv.locked(lock_key, now) as row:
            current = kv.get(key, now, margin=TOKEN_MARGIN)
            if current and current != stale:
                return current
            recent = row.value in (FETCHING, FETCHED, FAILED) and now - row.updated_at < MIN_FETCH_INTERVAL
            if not recent:
                kv.put(lock_key, FETCHING, now)  # committed before the call: the attempt counts
                break
        if row.value != FETCHING or time.monotonic() >= deadline:
            raise TokenBusy("the access token was fetched less than 10 s ago")
        time.sleep(POLL)  # another process is fetching: its token arrives in a moment
    try:
        token, seconds = fetch()
    except BaseException:
        kv.put(lock_key, FAILED, now)
        raise
    with runtime.database.atomic():
        kv.put(key, token, now, timedelta(seconds=seconds))
        kv.put(lock_key, FETCHED, now)
    return token
