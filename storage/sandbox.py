"""Writes only the chat simulator makes, on its own database (bot/web/simulator.py): start afresh,
forget what was queued before the tour, keep the rest of the team quiet while the tour's deal ages."""
from __future__ import annotations

from datetime import datetime

from .models import ALL_MODELS, Deal, Outbox, SchemaVersion, db


def clear_all() -> None:
    """Every row of every table (the schema stays), dependants first."""
    with db.atomic():
        for model in reversed(ALL_MODELS):
            if model is not SchemaVersion:
                model.delete().execute()


def clear_outbox() -> int:
    return Outbox.delete().execute()


def snooze_others(keep_deal_id: int, until: datetime, reason: str) -> int:
    """Snooze every open deal but one (their reminders pause; their levels still count)."""
    return (Deal.update(snoozed_until=until, snooze_reason=reason)
            .where((Deal.status == "open") & (Deal.id != keep_deal_id)).execute())
