"""Delivery of the outbox: claim due rows, send each through its channel, retry with backoff.

Safe with several delivery processes (rows are claimed with SKIP LOCKED / conditional updates), and
across crashes: a row claimed by a process that died is taken again when its lease expires, so at
most the one message in flight at the crash can go out twice.
"""
from __future__ import annotations

import logging
import os
import random
import socket
from datetime import datetime, timedelta

from storage import outbox

from .channels import adapter_for
from .messages import Reply

log = logging.getLogger(__name__)
MAX_ATTEMPTS = 8
BASE_DELAY = 30.0  # seconds before the first retry
MAX_DELAY = 3600.0


def backoff(attempts: int, rnd: random.Random | None = None) -> float:
    """Exponential backoff with full jitter between half and all of the step."""
    step = min(MAX_DELAY, BASE_DELAY * (2 ** max(0, attempts - 1)))
    return step * (0.5 + 0.5 * (rnd or random).random())


def worker_name() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"


def deliver(rt, now: datetime, limit: int = 100) -> dict:
    sent = failed = deferred = 0
    rows = outbox.claim(worker_name(), now, limit=limit)
    for row in rows:
        try:
            adapter = adapter_for(row.channel, rt)
        except LookupError as e:
            outbox.mark_failed(row, str(e))
            failed += 1
            continue
        wait = rate_wait(adapter, row.recipient, now)
        if wait is not None:
            outbox.mark_retry(row, "rate limit: deferred", wait)
            deferred += 1
            continue
        try:
            result = adapter.send(row.recipient, Reply.from_dict(outbox.payload_of(row)), key=row.key)
        except Exception as e:  # noqa: BLE001  a network error is a passing failure
            log.exception("sending outbox row %s failed", row.id)
            from .channels import SendResult
            result = SendResult(ok=False, error=f"{type(e).__name__}: {e}", retry=True)
        if result.ok:
            outbox.mark_sent(row, now)
            sent += 1
        elif result.retry and row.attempts < MAX_ATTEMPTS:
            delay = result.retry_after if result.retry_after is not None else backoff(row.attempts)
            outbox.mark_retry(row, result.error, now + timedelta(seconds=delay))
            deferred += 1
        else:
            log.warning("outbox row %s failed for good: %s", row.id, result.error)
            outbox.mark_failed(row, result.error or "failed")
            failed += 1
    return {"job": "deliver", "claimed": len(rows), "sent": sent, "deferred": deferred, "failed": failed}


def rate_wait(adapter, recipient: str, now: datetime) -> datetime | None:
    """When a send to `recipient` would exceed one of the adapter's limits: the time to try again."""
    for limit in adapter.limits(recipient):
        window_start = now - timedelta(seconds=limit.seconds)
        times = outbox.sent_times(recipient, window_start)
        if len(times) >= limit.count:
            return times[len(times) - limit.count] + timedelta(seconds=limit.seconds, milliseconds=1)
    return None
