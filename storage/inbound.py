"""The inbound message log: each (channel, message id) is recorded once, with the replies it got."""
from __future__ import annotations

import json
from datetime import datetime

from .models import InboundMessage


def find(channel: str, message_id: str) -> InboundMessage | None:
    return InboundMessage.get_or_none((InboundMessage.channel == channel)
                                      & (InboundMessage.message_id == message_id))


def record(channel: str, message_id: str, sender: str, text: str, now: datetime) -> InboundMessage:
    """Insert the record; raises IntegrityError when the same message was recorded before."""
    return InboundMessage.create(channel=channel, message_id=message_id, sender=sender[:64],
                                 text=text[:10000], received_at=now)


def save_replies(row: InboundMessage, replies: list[dict]) -> None:
    row.reply = json.dumps(replies, ensure_ascii=False)
    row.save()


def replies_of(row: InboundMessage) -> list[dict]:
    return json.loads(row.reply or "[]")
