"""Events from other systems (document tracking, ticket system, call records) into the activity log."""
from __future__ import annotations

from datetime import datetime

from .models import Customer, Rep, Team, Ticket


def customers_named(names: set[str], team: str | None = None) -> dict[str, list[Customer]]:
    q = Customer.select(Customer, Rep).join(Rep).where(Customer.name.in_(list(names)))
    if team:
        q = q.switch(Customer).join(Team, on=(Customer.team == Team.id)).where(Team.name == team)
    out: dict[str, list[Customer]] = {}
    for c in q:
        out.setdefault(c.name, []).append(c)
    return out


def ticket_opened(customer: Customer, deal, external_id: str, at: datetime) -> None:
    row = Ticket.get_or_none(Ticket.external_id == external_id)
    if row is None:
        Ticket.create(customer=customer, deal=deal, external_id=external_id, opened_at=at)


def ticket_answered(customer: Customer, deal, external_id: str, at: datetime) -> None:
    row = Ticket.get_or_none(Ticket.external_id == external_id)
    if row is None:  # the answer arrived first: the ticket opened no later than it was answered
        Ticket.create(customer=customer, deal=deal, external_id=external_id, opened_at=at, answered_at=at)
    elif row.answered_at is None:
        row.answered_at = at
        row.save()
