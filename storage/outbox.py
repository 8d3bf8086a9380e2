"""The outbox: every outbound message is a row with a unique key, delivered (and retried) from here."""
from __future__ import annotations

import json
from datetime import datetime, timedelta

from peewee import SqliteDatabase

from .redact import redact
from .database import in_transaction
from .models import Outbox, db
from .prepared import prepared


# one statement, no savepoint: a key already there is skipped by the database (ON CONFLICT DO NOTHING,
# INSERT OR IGNORE, INSERT IGNORE), which also waits for a concurrent transaction inserting the same key
_insert = prepared(lambda key, channel, recipient, payload, now: Outbox.insert(
    key=key, channel=channel, recipient=recipient, payload=payload, status="pending", attempts=0,
    next_attempt_at=now, created_at=now).on_conflict_ignore())


# a payload as stored: compact JSON (the 09:00 run writes 10,000 cards of kilobytes: a tenth less to encode,
# send and compress than with json.dumps' spaces)
_json = json.JSONEncoder(ensure_ascii=False, separators=(",", ":")).encode
MAX_PAYLOAD = 65535  # bytes: MySQL's TEXT; checked here for every database alike


def enqueue(key: str, channel: str, recipient: str, payload: dict, now: datetime) -> bool:
    """Queue a message once: returns False when a row with this key exists already (nothing changes).
    A value the row cannot hold raises ValueError (MySQL's INSERT IGNORE would cut it short silently).
    It is due at once; a message held for later goes through enqueue_many's `send_at`."""
    body = _checked(key, channel, recipient, _json(payload))
    return _insert.execute(key[:190], channel, recipient, body, now) == 1


def _checked(key: str, channel: str, recipient: str, body: str) -> str:
    """`body` when a row can hold the values; else ValueError (MySQL's INSERT IGNORE would store a long
    payload cut short, a NULL recipient as '')."""
    if not channel or not recipient or len(channel) > 16 or len(recipient) > 64:
        raise ValueError(f"outbox row {key[:60]!r}: bad channel {channel!r} or recipient {recipient!r}")
    if len(body) * 4 > MAX_PAYLOAD and len(body.encode()) > MAX_PAYLOAD:  # (a character is 4 bytes at most)
        raise ValueError(f"outbox row {key[:60]!r}: payload of {len(body.encode())} bytes, over {MAX_PAYLOAD}")
    return body


def rows(status: str | None = None, recipient: str | None = None, channel: str | None = None,
         limit: int = 100) -> list[Outbox]:
    q = Outbox.select()
    if status:
        q = q.where(Outbox.status == status)
    if recipient:
        q = q.where(Outbox.recipient == recipient)
    if channel:
        q = q.where(Outbox.channel == channel)
    return list(q.order_by(Outbox.id.desc()).limit(limit))


def counts() -> dict[str, int]:
    from peewee import fn
    return {s: n for s, n in Outbox.select(Outbox.status, fn.COUNT(Outbox.id)).group_by(Outbox.status).tuples()}


def counts_by_channel() -> dict[tuple[str, str], int]:
    """{(channel, status): rows} (for /metrics)."""
    from peewee import fn
    return {(c, s): n for c, s, n in Outbox.select(Outbox.channel, Outbox.status, fn.COUNT(Outbox.id))
            .group_by(Outbox.channel, Outbox.status).tuples()}


def oldest_pending() -> datetime | None:
    """When the oldest row still waiting to go out was queued (None: nothing waits)."""
    from peewee import fn
    return Outbox.select(fn.MIN(Outbox.created_at)).where(Outbox.status.in_(("pending", "sending"))).scalar()


def payload_of(row: Outbox) -> dict:
    return json.loads(row.payload)


def retry(row_id: int, now: datetime) -> bool:
    """Re-queue a failed row."""
    n = (Outbox.update(status="pending", next_attempt_at=now, attempts=0, claimed_at=None, claimed_by=None)
         .where((Outbox.id == row_id) & (Outbox.status == "failed")).execute())
    return n == 1


def claim(worker: str, now: datetime, limit: int = 50, lease: timedelta = timedelta(minutes=2)) -> list[Outbox]:
    """Claim due rows for delivery so that two workers never take the same row.

    PostgreSQL/MySQL: SELECT ... FOR UPDATE SKIP LOCKED. SQLite: writes are serialised, so a
    conditional UPDATE per row is enough. A row claimed by a worker that died is taken again once its
    lease has expired.
    """
    stale = now - lease
    due = (((Outbox.status == "pending") & (Outbox.next_attempt_at <= now))
           | ((Outbox.status == "sending") & (Outbox.claimed_at < stale)))

    def take() -> list[int]:
        # two simple queries (each on the (status, next_attempt_at) index) rather than one OR,
        # which makes the databases sort every due row on each claim
        pending = (Outbox.select(Outbox.id).where((Outbox.status == "pending") & (Outbox.next_attempt_at <= now))
                   .order_by(Outbox.status, Outbox.next_attempt_at).limit(limit))
        expired = (Outbox.select(Outbox.id).where((Outbox.status == "sending") & (Outbox.claimed_at < stale))
                   .limit(limit))
        ids = []
        for q in (expired, pending):
            if not isinstance(db.obj, SqliteDatabase):
                q = q.for_update("FOR UPDATE SKIP LOCKED")
            ids += [r.id for r in q]
        ids = ids[:limit]
        if ids:
            (Outbox.update(status="sending", claimed_at=now, claimed_by=worker, attempts=Outbox.attempts + 1)
             .where(Outbox.id.in_(ids) & due).execute())
        return ids

    ids = in_transaction(db.obj, take)
    if not ids:
        return []
    return list(Outbox.select().where(Outbox.id.in_(ids) & (Outbox.claimed_by == worker)
                                      & (Outbox.status == "sending") & (Outbox.claimed_at == now)))


def claim_keys(worker: str, keys: list[str], now: datetime) -> list[Outbox]:
    """Claim the rows with these keys that are still pending and due (one conditional UPDATE): a row
    another worker claimed first, or one held for later, is left alone."""
    keys = [k[:190] for k in keys]
    n = (Outbox.update(status="sending", claimed_at=now, claimed_by=worker, attempts=Outbox.attempts + 1)
         .where(Outbox.key.in_(keys) & (Outbox.status == "pending") & (Outbox.next_attempt_at <= now)).execute())
    if not n:
        return []
    return list(Outbox.select().where(Outbox.key.in_(keys) & (Outbox.claimed_by == worker)
                                      & (Outbox.status == "sending") & (Outbox.claimed_at == now))
                .order_by(Outbox.id))


def mark_sent(row: Outbox, now: datetime, merged_into: int | None = None) -> None:
    """Sent; a row that went out inside another row's merged message says so (and does not count
    again against the recipient's rate limit)."""
    note = f"merged:{merged_into}" if merged_into else None
    Outbox.update(status="sent", sent_at=now, last_error=note).where(Outbox.id == row.id).execute()


def merged_into(row: Outbox) -> int | None:
    """The row whose merged message carried this one (a sent row marked by mark_sent), else None."""
    note = row.last_error or ""
    return int(note[7:]) if row.status == "sent" and note.startswith("merged:") and note[7:].isdigit() else None


def mark_retry(row: Outbox, error: str, at: datetime, attempted: bool = True) -> None:
    """Back to pending until `at`. A row deferred before any send was tried (a rate limit) gives
    back the attempt its claim counted, so waiting never uses up its retries."""
    attempts = Outbox.attempts if attempted else Outbox.attempts - 1
    Outbox.update(status="pending", next_attempt_at=at, last_error=redact(error)[:2000], claimed_at=None,
                  claimed_by=None, sent_at=None, attempts=attempts).where(Outbox.id == row.id).execute()


def mark_failed(row: Outbox, error: str) -> None:
    Outbox.update(status="failed", last_error=redact(error)[:2000], sent_at=None).where(Outbox.id == row.id).execute()


def reserve_slot(row: Outbox, now: datetime, parts: int = 1) -> None:
    """Count a row about to be sent (as `parts` messages) against its recipient's rate limit (sent_at,
    still `sending`)."""
    Outbox.update(sent_at=now, parts=parts).where(Outbox.id == row.id).execute()


def sent_times(recipient: str, since: datetime) -> list[datetime]:
    """When messages to `recipient` were sent since `since`, oldest first, one entry per message the
    chat tool counted (a row sent as three parts: three; a card's update, parts 0: none), for rate limits."""
    return [t for (t, n) in Outbox.select(Outbox.sent_at, Outbox.parts).where(
        (Outbox.recipient == recipient) & (Outbox.sent_at >= since)
        & (Outbox.last_error.is_null() | ~Outbox.last_error.startswith("merged:")))
        .order_by(Outbox.sent_at).tuples() for _ in range(1 if n is None else n)]


def exists(key: str) -> bool:
    return Outbox.select().where(Outbox.key == key[:190]).exists()


def enqueue_many(rows: list[tuple[str, str, str, dict]], now: datetime, send_at: datetime | None = None) -> int:
    """Queue (key, channel, recipient, payload) rows at once; a key already there is skipped.
    They are due at `send_at` (default: now; a message the bot sends on its own waits for the team's
    send window). Returns how many were new. A row no row can hold raises ValueError, queuing none."""
    if not rows:
        return 0
    from .database import bulk_insert_ignore
    bodies = [_checked(k, ch, to, _json(p)) for k, ch, to, p in rows]
    keys = [r[0][:190] for r in rows]
    existing = set()
    for i in range(0, len(keys), 1000):
        existing |= {k for (k,) in Outbox.select(Outbox.key).where(Outbox.key.in_(keys[i:i + 1000])).tuples()}
    bulk_insert_ignore(Outbox, [Outbox.key, Outbox.channel, Outbox.recipient, Outbox.payload, Outbox.status,
                                Outbox.attempts, Outbox.next_attempt_at, Outbox.created_at],
                       [(k[:190], ch, to, body, "pending", 0, send_at or now, now)
                        for (k, ch, to, _), body in zip(rows, bodies) if k[:190] not in existing])
    return len(set(keys) - existing)


def _prefixed(prefixes: tuple[str, ...]):
    cond = None
    for p in prefixes:
        c = Outbox.key.startswith(p)
        cond = c if cond is None else (cond | c)
    return cond


def scheduled_counts(recipients: list[str], prefixes: tuple[str, ...], start: datetime, end: datetime) -> dict[str, int]:
    """{recipient: messages with a key of `prefixes` that go out in [start, end)}: sent then, or still
    waiting for then; a row carried inside another's message (merged, folded) does not count."""
    out: dict[str, int] = {}
    for i in range(0, len(recipients), 1000):
        batch = recipients[i:i + 1000]
        q = (Outbox.select(Outbox.recipient, Outbox.status, Outbox.next_attempt_at, Outbox.sent_at, Outbox.last_error)
             .where(Outbox.recipient.in_(batch) & (Outbox.created_at >= start - timedelta(days=40))
                    & (Outbox.created_at < end) & _prefixed(prefixes)))
        for to, status, due, sent, note in q.tuples():
            if status == "failed" or (note or "").startswith("merged:"):
                continue
            at = sent if status == "sent" else due
            if at is not None and start <= at < end:
                out[to] = out.get(to, 0) + 1
    return out


def held(prefixes: tuple[str, ...], created_by: datetime, payload: bool = False) -> list[Outbox]:
    """Rows still waiting, never tried, created by `created_by` (held overnight, or just now), oldest
    first: id, channel and recipient (and the payload when asked)."""
    fields = [Outbox.id, Outbox.channel, Outbox.recipient] + ([Outbox.payload] if payload else [])
    return list(Outbox.select(*fields).where((Outbox.status == "pending") & (Outbox.attempts == 0)
                                             & (Outbox.created_at <= created_by) & _prefixed(prefixes))
                .order_by(Outbox.id))


def fold(pairs: list[tuple[int, int]], now: datetime) -> int:
    """(row id, into id): rows whose content goes out inside row `into` (the 09:00 card, a digest) are
    sent, merged into it. One statement per page of rows, whatever the number of cards."""
    from .database import bulk_update
    bulk_update(Outbox, [Outbox.status, Outbox.sent_at, Outbox.last_error],
                [("sent", now, f"merged:{into}", row_id) for row_id, into in pairs])
    return len(pairs)


def ids_by_key(keys: list[str]) -> dict[str, tuple[int, str]]:
    """{key: (id, status)} of the rows with these keys."""
    out = {}
    for i in range(0, len(keys), 1000):
        out.update({k: (i_, st) for k, i_, st in Outbox.select(Outbox.key, Outbox.id, Outbox.status)
                    .where(Outbox.key.in_([k[:190] for k in keys[i:i + 1000]])).tuples()})
    return out


def by_key(key: str) -> Outbox | None:
    return Outbox.get_or_none(Outbox.key == key[:190])


def replace_payload(row_id: int, payload: dict) -> bool:
    """A row still waiting gets a new payload (a digest taking in one more message)."""
    return (Outbox.update(payload=_json(payload))
            .where((Outbox.id == row_id) & (Outbox.status == "pending")).execute()) == 1
