"""The demo team's history written as it is (bot/demo.py): rows with the times the demo chose, no rule
applied and nothing derived; the demo decides what they hold."""
from __future__ import annotations

from .models import Activity, Contact, Customer, Deal, ManagerAction, Rep, StageChange, Team, Ticket, Warning


def no_teams() -> bool:
    return not Team.select().exists()


def customers_of(team: Team) -> list[Customer]:
    return list(Customer.select().where(Customer.team == team).order_by(Customer.id))


def manager_of(team: Team) -> Rep:
    return Rep.get((Rep.team == team) & (Rep.role == "manager"))


def first_contact(customer: Customer) -> Contact | None:
    return Contact.get_or_none(Contact.customer == customer)


def customer(**fields) -> Customer:
    return Customer.create(**fields)


def deal(**fields) -> Deal:
    return Deal.create(**fields)


def contact(**fields) -> Contact:
    return Contact.create(**fields)


def stage_change(**fields) -> None:
    StageChange.create(**fields)


def activity(**fields) -> None:
    Activity.create(**fields)


def warning(**fields) -> None:
    Warning.create(**fields)


def manager_action(**fields) -> None:
    ManagerAction.create(**fields)


def ticket(**fields) -> None:
    Ticket.create(**fields)


def save(row) -> None:
    """Write back the fields the demo set on a customer or deal it created."""
    row.save()
