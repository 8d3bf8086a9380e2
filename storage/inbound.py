"""The inbound message log: each (channel, message id) is recorded once, with the replies it got.

A chat message is recorded, with its replies, as the last statement of the transaction that runs it:
a second delivery of the same message at the same time waits on the unique key and then breaks it,
which rolls back all it did (on every database and isolation level).
"""
from __future__ import annotations

import json
from datetime import datetime

from .models import InboundMessage, Rep, Team
from .people import CHANNEL_ID_FIELD, REP_COLUMNS, active_sender, rep_of_row
from .prepared import prepared

_find = prepared(lambda channel, message_id: InboundMessage.select(InboundMessage.reply).where(
    (InboundMessage.channel == channel) & (InboundMessage.message_id == message_id)).limit(1))
_insert = prepared(lambda channel, message_id, sender, text, received_at, reply: InboundMessage.insert(
    channel=channel, message_id=message_id, sender=sender, text=text, received_at=received_at, reply=reply))


def _arrival(field):
    return prepared(lambda sender, channel, message_id: (
        Rep.select(*REP_COLUMNS, Team.name, _find.build(channel, message_id)).join(Team)
        .where(active_sender(field, sender)).limit(1)))


_arrivals = {channel: _arrival(field) for channel, field in CHANNEL_ID_FIELD.items()}


def arrival(channel: str, message_id: str, sender: str):
    """What a message starts with, in one statement: (the sender's active rep or None, the replies the
    message got when it was handled before or None)."""
    query = _arrivals.get(channel)
    row = query.first(sender, channel, message_id) if query is not None and sender else None
    if row is None:  # an unknown sender: was the message handled before all the same?
        return None, answered(channel, message_id)
    return rep_of_row(row), None if row[-1] is None else json.loads(row[-1] or "[]")


def answered(channel: str, message_id: str) -> list[dict] | None:
    """The replies a message got when it was handled, or None when it was never handled."""
    row = _find.first(channel, message_id)
    return None if row is None else json.loads(row[0] or "[]")


def record(channel: str, message_id: str, sender: str, text: str, now: datetime,
           replies: list[dict] | None = None) -> None:
    """Record a message (or request id) with the replies it got; raises IntegrityError when it was
    recorded before."""
    _insert.insert(channel, message_id, sender[:64], text[:10000], now, json.dumps(replies or [], ensure_ascii=False))
