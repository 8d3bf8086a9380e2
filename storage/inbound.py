"""The inbound message log: each (channel, message id) is recorded once, with the replies it got.

A chat message is recorded in the transaction that runs it, after the command (`record_answered`):
a second delivery of the same message that ran at the same time breaks the unique key and its whole
transaction rolls back, so the command's effects are kept once.
"""
from __future__ import annotations

import json
from datetime import datetime

from .models import InboundMessage as M
from .prepared import prepared

_find = prepared(lambda channel, message_id: M.select(M.reply)
                 .where((M.channel == channel) & (M.message_id == message_id)).limit(1))
_insert = prepared(lambda channel, message_id, sender, text, received_at, reply: M.insert(
    channel=channel, message_id=message_id, sender=sender, text=text, received_at=received_at, reply=reply))


def answered(channel: str, message_id: str) -> list[dict] | None:
    """The replies a message got when it was handled, or None when it was never handled."""
    row = _find.first(channel, message_id)
    return None if row is None else json.loads(row[0] or "[]")


def record_answered(channel: str, message_id: str, sender: str, text: str, now: datetime,
                    replies: list[dict]) -> None:
    """Record a handled message with its replies; raises IntegrityError when it was recorded before."""
    _insert.insert(channel, message_id, sender[:64], text[:10000], now, json.dumps(replies, ensure_ascii=False))


def record(channel: str, message_id: str, sender: str, text: str, now: datetime) -> None:
    """Record a message or request id with no replies; raises IntegrityError when recorded before."""
    record_answered(channel, message_id, sender, text, now, [])
