"""What only the chat simulator does with the database (bot/web/simulator.py): route one thread's
queries to the simulation's own database, start afresh, forget what was queued before the tour, keep
the rest of the team quiet while the tour's deal ages, find the tour's customer."""
from __future__ import annotations

from datetime import datetime

from .models import ALL_MODELS, Customer, Deal, Outbox, SchemaVersion, db


def routed(database=None):
    """This thread's queries go to `database` (or to the one opened inside the block) until it ends."""
    return db.routed(database)


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


def customer_named(name: str) -> Customer | None:
    return Customer.get_or_none(Customer.name == name)
