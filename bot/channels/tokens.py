"""Access tokens of the chat APIs, kept in the database and shared by every process.

The refresh runs under a database lock: a process that waited for it uses the token just fetched,
and the token endpoint is never called twice within MIN_FETCH_INTERVAL, whatever happens.
"""
from __future__ import annotations

from datetime import timedelta
from typing import Callable

from storage import kv

TOKEN_MARGIN = timedelta(minutes=5)  # refresh this long before a token expires
MIN_FETCH_INTERVAL = timedelta(seconds=10)


class TokenBusy(Exception):
    """The token was fetched moments ago: wait instead of fetching it again."""


def cached_token(runtime, key: str) -> str | None:
    return kv.get(key, runtime.now(), margin=TOKEN_MARGIN)


def refresh_token(runtime, key: str, fetch: Callable[[], tuple[str, int]], stale: str | None) -> str:
    """A fresh token for `key`: another process's if it refreshed meanwhile, else fetch() -> (token, seconds)."""
    now = runtime.now()
    lock_key = f"{key}:lock"
    with kv.locked(lock_key, now) as row:
        current = kv.get(key, now, margin=TOKEN_MARGIN)
        if current and current != stale:
            return current
        if row.value == "fetched" and now - row.updated_at < MIN_FETCH_INTERVAL:
            raise TokenBusy("the access token was fetched less than 10 s ago")
        kv.put(lock_key, "fetched", now)
        token, seconds = fetch()
        kv.put(key, token, now, timedelta(seconds=seconds))
        return token
