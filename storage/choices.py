"""Numbered questions waiting for a rep's answer ("which customer? 1. ... 2. ...")."""
from __future__ import annotations

import json
from datetime import datetime

from .models import PendingChoice


def save(rep_id: int, command: str, options: list[tuple[int, str]], expires_at: datetime) -> None:
    PendingChoice.delete().where(PendingChoice.rep == rep_id).execute()
    PendingChoice.create(rep=rep_id, command=json.dumps({"text": command}, ensure_ascii=False),
                         options=json.dumps(options, ensure_ascii=False), expires_at=expires_at)


def take(rep_id: int, now: datetime) -> tuple[str, list[list]] | None:
    """The rep's open question (removed once taken), or None when there is none or it expired."""
    row = PendingChoice.get_or_none(PendingChoice.rep == rep_id)
    if row is None:
        return None
    PendingChoice.delete().where(PendingChoice.id == row.id).execute()
    if row.expires_at < now:
        return None
    return json.loads(row.command)["text"], json.loads(row.options)


def peek(rep_id: int, now: datetime) -> tuple[str, list[list]] | None:
    row = PendingChoice.get_or_none(PendingChoice.rep == rep_id)
    if row is None or row.expires_at < now:
        return None
    return json.loads(row.command)["text"], json.loads(row.options)
