"""The reads and writes of a customer import (bot/importer/customers.py): the teams' current state loaded
in a few queries, then each chunk's new and changed rows written with multi-row inserts."""
from __future__ import annotations

from peewee import MySQLDatabase

from .database import bulk_insert
from .models import Contact, Customer, Deal, DealScan, Rep, StageChange, db

INSERT_ROWS = 500  # names per IN (...) look-up

DEAL_COLUMNS = (Deal.id, Deal.customer, Deal.owner, Deal.amount, Deal.stage, Deal.status, Deal.lost_reason,
                Deal.created_at, Deal.stage_entered_at, Deal.last_activity_at, Deal.last_movement_at,
                Deal.next_check_at, Deal.closed_at)


def names_fold_case() -> bool:
    """Whether the database compares names case- and accent-insensitively (MySQL/MariaDB collations)."""
    return isinstance(db.obj, MySQLDatabase)


# -- loading --------------------------------------------------------------------------------------------

def reps() -> list[tuple[int, str, str, int]]:
    """(id, local_id, name, team id) of every rep."""
    return list(Rep.select(Rep.id, Rep.local_id, Rep.name, Rep.team).tuples())


def customers(teams: list[int]) -> list[tuple[int, int, str, int]]:
    """(id, team id, name, owner id) of the teams' customers."""
    return list(Customer.select(Customer.id, Customer.team, Customer.name, Customer.owner)
                .where(Customer.team.in_(teams)).tuples())


def deals(teams: list[int]):
    """The teams' deals, oldest first, as tuples of DEAL_COLUMNS."""
    return Deal.select(*DEAL_COLUMNS).where(Deal.team.in_(teams)).order_by(Deal.id).tuples()


def contacts(teams: list[int]):
    """(customer id, name, title, is decision-maker) of the teams' customers' contacts."""
    return (Contact.select(Contact.customer, Contact.name, Contact.title, Contact.is_decision_maker)
            .join(Customer).where(Customer.team.in_(teams)).tuples())


# -- writing (inside one transaction per chunk) ---------------------------------------------------------

def insert_customers(rows: list[tuple]) -> None:
    """(team id, owner id, name, initials, tier, created_at, high_intent) rows."""
    bulk_insert(Customer, [Customer.team, Customer.owner, Customer.name, Customer.initials, Customer.tier,
                           Customer.created_at, Customer.high_intent], rows)


def customer_ids(team_id: int, names: list[str]):
    """(id, name) of the team's customers with these names."""
    for i in range(0, len(names), INSERT_ROWS):
        yield from (Customer.select(Customer.id, Customer.name)
                    .where((Customer.team == team_id) & Customer.name.in_(names[i:i + INSERT_ROWS])).tuples())


def insert_deals(rows: list[tuple]) -> None:
    """(customer id, owner id, team id, amount, stage, status, lost_reason, created_at, stage_entered_at,
    last_movement_at, closed_at) rows."""
    bulk_insert(Deal, [Deal.customer, Deal.owner, Deal.team, Deal.amount, Deal.stage, Deal.status, Deal.lost_reason,
                       Deal.created_at, Deal.stage_entered_at, Deal.last_movement_at, Deal.closed_at], rows)


def insert_first_looks(rows: list[tuple]) -> None:
    """(deal id, next_check_at) rows: the stale scan's first look at each new open deal, in its own narrow
    table, so the first scan after an import rewrites narrow rows, not the deal rows and every index of deal."""
    bulk_insert(DealScan, [DealScan.deal, DealScan.next_check_at], rows)


def deal_ids(customer_ids: list[int]):
    """(deal id, customer id) of these customers' deals, oldest first (a customer's last is its newest)."""
    for i in range(0, len(customer_ids), INSERT_ROWS):
        yield from (Deal.select(Deal.id, Deal.customer).where(Deal.customer.in_(customer_ids[i:i + INSERT_ROWS]))
                    .order_by(Deal.id).tuples())


def insert_stage_changes(rows: list[tuple]) -> None:
    """(deal id, from stage, to stage, rep id, at, note) rows."""
    bulk_insert(StageChange, [StageChange.deal, StageChange.from_stage, StageChange.to_stage, StageChange.rep,
                              StageChange.at, StageChange.note], rows)


def insert_contacts(rows: list[tuple]) -> None:
    """(customer id, name, title, is decision-maker, created_at) rows."""
    bulk_insert(Contact, [Contact.customer, Contact.name, Contact.title, Contact.is_decision_maker,
                          Contact.created_at], rows)


def update_deal(deal_id: int, values: dict[str, object]) -> None:
    """Set these fields of a deal (by attribute name: owner_id, stage, amount ...)."""
    Deal.update({getattr(Deal, "owner" if f == "owner_id" else f): v for f, v in values.items()}) \
        .where(Deal.id == deal_id).execute()


def update_contact(customer_id: int, name: str, title: str, decision_maker: bool) -> None:
    """A contact's title and decision-maker flag ((customer, name) is unique)."""
    (Contact.update({Contact.title: title, Contact.is_decision_maker: decision_maker})
     .where((Contact.customer == customer_id) & (Contact.name == name)).execute())


def set_customer_owner(customer_id: int, owner_id: int) -> None:
    Customer.update({Customer.owner: owner_id}).where(Customer.id == customer_id).execute()
