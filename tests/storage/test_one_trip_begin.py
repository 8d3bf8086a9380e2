"""PostgreSQL: a transaction's BEGIN goes out with its first statement (storage.database.OneTripBegin),
and the transaction is still one: what it wrote is all kept or all gone."""
from __future__ import annotations

from datetime import datetime

import psycopg2.extensions
import pytest
from peewee import IntegrityError

from storage.database import bulk_insert
from storage.models import Customer, Rep, Team
from tests.storage.test_prepared import _opened, _postgres

NOW = datetime(2026, 11, 27, 2, 0)
SENT: list[str] = []


class CountingCursor(psycopg2.extensions.cursor):
    """Records each query text handed to the server (one simple query: one round trip)."""

    def execute(self, query, vars=None):
        SENT.append(query if isinstance(query, str) else query.decode())
        return super().execute(query, vars)


@pytest.fixture
def database():
    database = _opened(_postgres())
    database.connect_params["cursor_factory"] = CountingCursor
    with database.connection_context():
        team = Team.create(name="华东", created_at=NOW)
        team.owner = Rep.create(team=team, name="王磊", local_id="alice")
        SENT.clear()
        yield database, team


def names():
    return sorted(c.name for c in Customer.select())


def test_begin_rides_with_the_first_statement_and_an_empty_transaction_sends_nothing(database):
    db, team = database
    with db.atomic():
        Customer.create(team=team, owner=team.owner, name="华联超市", created_at=NOW)
        Customer.create(team=team, owner=team.owner, name="永辉超市", created_at=NOW)
    assert len(SENT) == 3 and SENT[0].startswith("BEGIN; INSERT") and SENT[2] == "COMMIT"
    SENT.clear()
    with db.atomic():
        pass
    try:
        with db.atomic():
            raise KeyError("nothing was sent")
    except KeyError:
        pass
    assert SENT == []
    assert names() == ["华联超市", "永辉超市"]


def test_a_rolled_back_transaction_leaves_nothing_behind(database):
    db, team = database
    with pytest.raises(RuntimeError):
        with db.atomic():
            Customer.create(team=team, owner=team.owner, name="华联超市", created_at=NOW)
            raise RuntimeError("the command was refused")
    assert names() == []


def test_a_failing_first_statement_rolls_back_and_the_connection_goes_on(database):
    db, team = database
    Customer.create(team=team, owner=team.owner, name="华联超市", created_at=NOW)
    with pytest.raises(IntegrityError):
        with db.atomic():
            Customer.insert(id=Customer.get().id, team=team, owner=team.owner, name="重复", created_at=NOW).execute()
    with db.atomic():
        Customer.create(team=team, owner=team.owner, name="永辉超市", created_at=NOW)
    assert names() == ["华联超市", "永辉超市"]


def test_a_raw_cursor_begins_first_so_a_copy_is_rolled_back_with_its_transaction(database):
    db, team = database
    with pytest.raises(RuntimeError):
        with db.atomic():
            fields = [Customer.team, Customer.owner, Customer.name, Customer.initials, Customer.tier,
                      Customer.created_at, Customer.high_intent]
            bulk_insert(Customer, fields, [(team.id, team.owner.id, name, "", "C", NOW, False)
                                           for name in ("华联超市", "永辉超市")])
            assert len(names()) == 2
            raise RuntimeError("the import failed half way")
    assert SENT[0] == "BEGIN"
    assert names() == []


def test_a_savepoint_inside_keeps_the_outer_transaction(database):
    db, team = database
    with db.atomic():
        Customer.create(team=team, owner=team.owner, name="华联超市", created_at=NOW)
        with pytest.raises(RuntimeError):
            with db.atomic():
                Customer.create(team=team, owner=team.owner, name="永辉超市", created_at=NOW)
                raise RuntimeError("inner")
    assert names() == ["华联超市"]


def test_reusing_the_open_connection_inside_a_transaction_keeps_its_begin(database):
    """`connected` / connection_context inside a transaction reuse the connection: the transaction
    that has not yet sent its BEGIN still sends it, so a rollback still rolls back."""
    db, team = database
    with pytest.raises(RuntimeError):
        with db.atomic():
            db.connect(reuse_if_open=True)
            Customer.create(team=team, owner=team.owner, name="华联超市", created_at=NOW)
            raise RuntimeError("refused")
    assert names() == []
