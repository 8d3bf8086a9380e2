"""Messages the bot sends on its own (warnings, cards, digests, notices, the weekly review).

Each waits for the team's send window ([schedule] send_window, working days only): it is queued with
`next_attempt_at` at the window's next opening, so delivery just sends what is due. A person gets at
most [schedule] daily_budget of them a day; what comes beyond goes into one digest that evening.
Answers to a person's own message never come through here, and are never held.
"""
from __future__ import annotations

from datetime import datetime, time, timedelta, timezone

from storage import outbox

from handlers.messages import Reply
from ..render import render_text

# the keys of what the bot sends on its own
INITIATED = ("warn:", "red:", "reddigest:", "task:", "intent:", "weekly:", "digest:")
FOLD_GRACE = timedelta(minutes=30)  # a warning held overnight waits this long after the opening for the 09:00 card
DIGEST_BEFORE_CLOSE = timedelta(hours=1)  # the day's digest goes this long before the window closes
DIGEST_ITEMS = 20
ITEM_CHARS = 600


def send_time(rt, now: datetime, fold: bool = False) -> datetime:
    """When a message queued now may go: now inside the window, else its next opening (plus the grace
    that lets the 09:00 card take in a held warning first, for `fold`)."""
    at = rt.funnel.send_window.next_open(rt.funnel.workdays(rt.tz), now)
    return at + FOLD_GRACE if fold and at > now else at


def day_bounds(rt, at: datetime) -> tuple[datetime, datetime, datetime]:
    """(start, end, digest time) of the local day of `at`, as naive UTC."""
    day = at.replace(tzinfo=timezone.utc).astimezone(rt.tz).date()

    def utc(d, t):
        return datetime.combine(d, t, tzinfo=rt.tz).astimezone(timezone.utc).replace(tzinfo=None)
    start = utc(day, time(0))
    closes = utc(day, rt.funnel.send_window.closes)
    return start, utc(day + timedelta(days=1), time(0)), max(at, closes - DIGEST_BEFORE_CLOSE)


def queue(rt, rows: list[tuple[str, str, str, dict]], now: datetime, fold: bool = False,
          budgeted: bool = True) -> int:
    """Queue (key, channel, recipient, payload) rows for the send window. With `budgeted`, a recipient
    who already has daily_budget - 1 messages that day gets the rest in the day's digest (the last one
    of the budget). Returns how many rows (or digest entries) were new."""
    if not rows:
        return 0
    at = send_time(rt, now, fold)
    if not budgeted:
        return outbox.enqueue_many(rows, now, at)
    budget = rt.funnel.schedule.daily_budget
    start, end, digest_at = day_bounds(rt, at)
    counts = outbox.scheduled_counts(sorted({r[2] for r in rows}), INITIATED, start, end)
    keep, over = [], {}
    for row in rows:
        to = row[2]
        if counts.get(to, 0) < budget - 1 or outbox.exists(row[0]):
            keep.append(row)
            counts[to] = counts.get(to, 0) + 1
        else:
            over.setdefault((row[1], to), []).append(row)
    queued = outbox.enqueue_many(keep, now, at)
    for (channel, to), extra in over.items():
        queued += _into_digest(rt, channel, to, extra, now, start, digest_at)
    return queued


def _into_digest(rt, channel: str, to: str, rows, now: datetime, day_start: datetime, digest_at: datetime) -> int:
    """The day's digest for `to` takes in these messages (as text); one row a day, filled until it goes."""
    day = day_start.replace(tzinfo=timezone.utc).astimezone(rt.tz).date().isoformat()
    key = f"digest:{to}:{day}"
    row = outbox.by_key(key)
    if row is not None and row.status != "pending":  # today's digest went already: tomorrow's takes them
        nxt = send_time(rt, day_start + timedelta(days=1))
        start, _, at = day_bounds(rt, nxt)
        return _into_digest(rt, channel, to, rows, now, start, at)
    data = outbox.payload_of(row)["data"] if row is not None else {"items": [], "count": 0, "keys": [], "date": day}
    new = [r for r in rows if r[0] not in data["keys"]]
    for key_, _, _, payload in new:
        data["keys"].append(key_)
        data["count"] += 1
        if len(data["items"]) < DIGEST_ITEMS:
            data["items"].append(render_text(Reply.from_dict(payload), channel)[:ITEM_CHARS])
    data["more"] = data["count"] - len(data["items"])
    payload = Reply("digest", data).to_dict()
    if row is None:
        outbox.enqueue_many([(key, channel, to, payload)], now, digest_at)
    else:
        outbox.replace_payload(row.id, payload)
    return len(new)
