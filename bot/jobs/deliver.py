"""Delivery of the outbox: claim due rows, send each through its channel, retry with backoff.

Safe with several delivery processes (rows are claimed with SKIP LOCKED / conditional updates), and
across crashes: a row claimed by a process that died is taken again when its lease expires, so at
most the one message in flight at the crash can go out twice.

The job (`deliver`) is the poll the timetable runs every few seconds; the same sending (`send_rows`)
serves bot/courier.py, which sends an answer at once from the process that queued it (`deliver_keys`).
The courier is not a job: it runs in every web process, on no timetable, and this poll is its net.
"""
from __future__ import annotations

import logging
import os
import random
import socket
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from storage import kv, outbox

from ..alerts import alert
from ..channels import SendResult, channel_for
from ..metrics import count_send
from handlers.messages import Reply

if TYPE_CHECKING:
    from ..runtime import Runtime

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


def lease_of(rt: Runtime) -> timedelta:
    """How long a claimed row waits for its delivery process before another one takes it
    (BOT_DELIVERY_LEASE_SECONDS, default 120: well over a send's HTTP timeouts)."""
    try:
        seconds = float(rt.config.get("BOT_DELIVERY_LEASE_SECONDS") or 120)
    except ValueError:
        seconds = 120.0
    return timedelta(seconds=max(15.0, seconds))


def deliver(rt: Runtime, now: datetime, limit: int = 100) -> dict:
    rows = outbox.claim(worker_name(), now, limit=limit, lease=lease_of(rt))
    return {"job": "deliver", "claimed": len(rows), **send_rows(rt, rows, now)}


def deliver_keys(rt: Runtime, keys: list[str], now: datetime, worker: str) -> dict:
    """Send the rows with these keys now, those still pending and due (bot/courier.py: instant replies)."""
    rows = outbox.claim_keys(worker, keys, now)
    return {"claimed": len(rows), **send_rows(rt, rows, now)} if rows else {"claimed": 0}


def send_rows(rt: Runtime, rows, now: datetime) -> dict:
    tally = {"sent": 0, "deferred": 0, "failed": 0}
    for units in plan(rt, rows, now, tally):
        adapter, batch, reply = units
        try:
            result = adapter.send(batch[0].recipient, reply, key=batch[0].key)
        except OSError as e:  # the network (requests' errors are OSErrors): unreachable, reset, a timeout
            # a passing failure, and an expected one: a line each, not a traceback per row and retry
            log.warning("sending outbox row %s failed, to be retried: %s: %s", batch[0].id, type(e).__name__, e)
            result = SendResult(ok=False, error=f"{type(e).__name__}: {e}", retry=True)
        except Exception as e:  # noqa: BLE001  a bug in a channel: retried too, with its traceback
            log.exception("sending outbox row %s failed", batch[0].id)
            result = SendResult(ok=False, error=f"{type(e).__name__}: {e}", retry=True)
        for i, row in enumerate(batch):
            settle(row, result, now, tally, merged_into=batch[0].id if i else None)
        count_send(batch[0].channel, result)
        if result.alert:  # the set-up is wrong: the team's admins hear it once, not once per row
            alert(rt, batch[0], result.alert, result.error, now)
    return tally


def plan(rt: Runtime, rows, now: datetime, tally: dict):
    """(adapter, rows, reply) to send: one row each, or, for a recipient over its rate limit whose
    channel can take a merged message (a group robot), the waiting rows merged into one."""
    by_recipient: dict[tuple[str, str], list] = {}
    for row in rows:
        by_recipient.setdefault((row.channel, row.recipient), []).append(row)
    for (channel, recipient), group in by_recipient.items():
        try:
            adapter = channel_for(channel, rt)
        except LookupError as e:
            for row in group:
                outbox.mark_failed(row, str(e))
                tally["failed"] += 1
            continue
        for row in group:
            rest = group[group.index(row):]
            quota = remaining(adapter, recipient, now)
            if len(rest) > quota and adapter.merges(recipient):
                # more waiting than the limit lets through: merged messages instead of a burst
                chunks = merge_chunks([(r, adapter.render(Reply.from_dict(outbox.payload_of(r))))
                                       for r in rest])
                for chunk in chunks:
                    rows_ = [r for r, _ in chunk]
                    wait = reserve(adapter, channel, recipient, rows_[0], now)
                    if wait is not None:
                        for r in rows_:
                            outbox.mark_retry(r, "rate limit: deferred", wait, attempted=False)
                            tally["deferred"] += 1
                        continue
                    if len(rows_) == 1:  # a card alone in its message keeps its buttons
                        yield adapter, rows_, Reply.from_dict(outbox.payload_of(rows_[0]))
                    else:
                        yield adapter, rows_, Reply("merged", {"parts": [t for _, t in chunk], "count": len(chunk)})
                break
            reply = Reply.from_dict(outbox.payload_of(row))
            wait = reserve(adapter, channel, recipient, row, now, adapter.cost(recipient, reply))
            if wait is not None:
                outbox.mark_retry(row, "rate limit: deferred", wait, attempted=False)
                tally["deferred"] += 1
                continue
            yield adapter, [row], reply


MERGE_BYTES = 1900  # a merged message stays under the 2048-byte text limit of the chat tools


def merge_chunks(items: list) -> list[list]:
    chunks, size = [[]], 0
    for row, text in items:
        n = len(text.encode()) + 2
        if chunks[-1] and size + n > MERGE_BYTES - 120:  # room for the header line
            chunks.append([])
            size = 0
        chunks[-1].append((row, text))
        size += n
    return chunks


def settle(row, result: SendResult, now: datetime, tally: dict, merged_into: int | None = None) -> None:
    if result.ok:
        outbox.mark_sent(row, now, merged_into)
        tally["sent"] += 1
    elif result.retry and row.attempts < MAX_ATTEMPTS:
        delay = result.retry_after if result.retry_after is not None else backoff(row.attempts)
        outbox.mark_retry(row, result.error, now + timedelta(seconds=delay), attempted=result.attempted)
        tally["deferred"] += 1
    else:
        log.warning("outbox row %s failed for good: %s", row.id, result.error)
        outbox.mark_failed(row, result.error or "failed")
        tally["failed"] += 1


def remaining(adapter, recipient: str, now: datetime) -> int:
    """How many more messages `recipient` may get now under the adapter's limits."""
    left = 10 ** 9
    for limit in adapter.limits(recipient):
        left = min(left, limit.count - len(outbox.sent_times(recipient, now - timedelta(seconds=limit.seconds))))
    return max(0, left)


def reserve(adapter, channel: str, recipient: str, row, now: datetime, parts: int = 1) -> datetime | None:
    """Take the recipient's send slots for `row` (`parts` messages; its sent_at marks them), or say when
    to try again. Under a per-recipient database lock, so two delivery processes never both take the
    last slot of a window."""
    if not adapter.limits(recipient):
        return None
    if parts == 0:  # not a message (a card's update): no slot, and it counts against no limit
        outbox.reserve_slot(row, now, 0)
        return None
    with kv.locked(f"rate:{channel}:{recipient}", now):
        wait = rate_wait(adapter, recipient, now, parts)
        if wait is None:
            outbox.reserve_slot(row, now, parts)
        return wait


def rate_wait(adapter, recipient: str, now: datetime, parts: int = 1) -> datetime | None:
    """When sending `parts` messages to `recipient` would exceed one of the adapter's limits: the time
    to try again (a chat tool that drops what is over its limit silently must never be sent it)."""
    for limit in adapter.limits(recipient):
        need = min(parts, limit.count)
        window_start = now - timedelta(seconds=limit.seconds)
        times = outbox.sent_times(recipient, window_start)
        if len(times) + need > limit.count:
            return times[len(times) + need - 1 - limit.count] + timedelta(seconds=limit.seconds, milliseconds=1)
    return None
