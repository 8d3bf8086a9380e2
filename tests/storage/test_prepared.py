"""Prepared queries (storage/prepared.py) on the three databases, and the SQLite writers' queue."""
from __future__ import annotations

import fcntl
import os
from datetime import datetime

import pytest

from storage.database import migrate_database, open_database
from storage.models import Customer, Rep, Team
from storage.prepared import prepared
from tests.conftest import _server_url, reset_server_db

NOW = datetime(2026, 11, 27, 2, 0)

by_team = prepared(lambda team: Customer.select(Customer.id, Customer.name, Customer.created_at, Customer.high_intent)
                   .where(Customer.team == team).order_by(Customer.id))
add = prepared(lambda team, owner, name, at: Customer.insert(team=team, owner=owner, name=name, created_at=at))
rename = prepared(lambda customer_id, name: Customer.update(name=name).where(Customer.id == customer_id))


@pytest.fixture
def database(db_url):
    database = _opened(db_url)
    with database.connection_context():
        yield database


def _postgres() -> str:
    """The test run's PostgreSQL database, emptied (skipped where the server is not running)."""
    pg = _server_url("postgres")
    if pg is None:
        pytest.skip("postgres is not running")
    reset_server_db(pg)
    return pg


def _opened(url: str):
    database = open_database(url)
    migrate_database(database)
    return database


def _team():
    team = Team.create(name="东区")
    rep = Rep.create(team=team, name="王磊", local_id="alice")
    return team, rep


def test_prepared_queries_read_and_write_like_the_orm(database):
    team, rep = _team()
    other = Team.create(name="西区")
    first = add.insert(team.id, rep.id, "华联超市", NOW)
    second = add.insert(team.id, rep.id, "永辉超市", NOW)
    add.insert(other.id, rep.id, "物美超市", NOW)
    assert second > first and Customer.get_by_id(first).name == "华联超市"

    rows = by_team.rows(team.id)
    orm = list(Customer.select(Customer.id, Customer.name, Customer.created_at, Customer.high_intent)
               .where(Customer.team == team.id).order_by(Customer.id).tuples())
    assert rows == orm == [(first, "华联超市", NOW, False), (second, "永辉超市", NOW, False)]
    assert by_team.first(other.id)[1] == "物美超市"
    assert by_team.first(other.id + 100) is None

    assert rename.execute(first, "华联超市(总店)") == 1
    assert rename.execute(first + 1000, "x") == 0
    assert Customer.get_by_id(first).name == "华联超市(总店)"


def test_values_are_bound_never_spliced_into_the_sql(database):
    team, rep = _team()
    evil = "x'); DROP TABLE customer; --"
    add.insert(team.id, rep.id, evil, NOW)
    assert by_team.first(team.id)[1] == evil and Customer.select().count() == 1


def test_wrong_number_of_values_is_an_error(database):
    with pytest.raises(TypeError, match="takes 1 values, got 2"):
        by_team.rows(1, 2)


def test_each_database_gets_its_own_sql(tmp_path):
    """Compiled on SQLite (? placeholders), the same query still runs on PostgreSQL (%s)."""
    seen = []
    for url in (f"sqlite:///{tmp_path}/a.db", _postgres()):
        database = _opened(url)
        with database.connection_context():
            team, rep = _team()
            add.insert(team.id, rep.id, "华联超市", NOW)
            seen.append(by_team.first(team.id)[1:])
    assert seen == [("华联超市", NOW, False)] * 2


class _OtherWriter:
    """Another process's write transaction, holding the writers' lock until the block ends."""

    def __init__(self, sqlite_url: str):
        self.path = sqlite_url[len("sqlite:///"):] + ".lock"

    def __enter__(self):
        self.fd = os.open(self.path, os.O_RDWR | os.O_CREAT)
        fcntl.flock(self.fd, fcntl.LOCK_EX)
        return self

    def __exit__(self, *exc):
        os.close(self.fd)


def _flock_free(path: str) -> bool:
    """Whether another open file (as another process would have) can take the writers' lock now."""
    fd = os.open(path, os.O_RDWR | os.O_CREAT)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        fcntl.flock(fd, fcntl.LOCK_UN)
        return True
    except BlockingIOError:
        return False
    finally:
        os.close(fd)


def test_sqlite_writers_queue_on_a_file_lock_held_exactly_for_the_transaction(sqlite_url):
    database = _opened(sqlite_url)
    lock = sqlite_url[len("sqlite:///"):] + ".lock"
    with database.connection_context():
        assert _flock_free(lock)
        with database.atomic():
            Team.create(name="东区")
            assert not _flock_free(lock)
            with database.atomic():  # a savepoint does not take it again
                Team.create(name="西区")
            assert not _flock_free(lock)
        assert _flock_free(lock) and Team.select().count() == 2
        with pytest.raises(RuntimeError):
            with database.atomic():
                Team.create(name="北区")
                raise RuntimeError("the command failed")
        assert _flock_free(lock) and Team.select().count() == 2  # rolled back, lock released


def test_postgres_statements_are_prepared_once_per_connection(tmp_path):
    """PostgreSQL: PREPAREd on first use in a connection, kept after a rolled-back transaction, and
    prepared again on a new connection."""
    database = _opened(_postgres())
    with database.connection_context():
        team, rep = _team()
        add.insert(team.id, rep.id, "华联超市", NOW)
        with pytest.raises(RuntimeError):
            with database.atomic():
                assert by_team.first(team.id)[1] == "华联超市"  # prepared inside the transaction
                raise RuntimeError("rolled back")
        assert by_team.first(team.id)[1] == "华联超市"
        names = {r[0] for r in database.execute_sql("SELECT name FROM pg_prepared_statements").fetchall()}
        assert by_team._compiled[database].server_name in names
    with database.connection_context():  # a new connection knows none of them
        assert database.execute_sql("SELECT count(*) FROM pg_prepared_statements").fetchone()[0] == 0
        assert by_team.first(team.id)[1] == "华联超市"


def test_a_sqlite_writer_gives_up_after_the_busy_timeout(sqlite_url):
    """A writer held up longer than the busy timeout gets "database is locked" and writes nothing."""
    from peewee import OperationalError
    database = _opened(sqlite_url)
    database._queue_timeout = 0.2
    with _OtherWriter(sqlite_url), database.connection_context():
        with pytest.raises(OperationalError, match="database is locked"):
            with database.atomic():
                Team.create(name="东区")
    with database.connection_context():
        assert Team.select().count() == 0
        with database.atomic():  # and writes again once the other one is done
            Team.create(name="东区")
        assert Team.select().count() == 1


def test_postgres_session_that_lost_its_statements_prepares_them_again():
    """After DISCARD ALL (what a pooler does between clients) a query prepares itself again."""
    database = _opened(_postgres())
    with database.connection_context():
        team, rep = _team()
        add.insert(team.id, rep.id, "华联超市", NOW)
        assert by_team.first(team.id)[1] == "华联超市"
        database.execute_sql("DISCARD ALL")
        assert by_team.first(team.id)[1] == "华联超市"


def test_sqlite_autocommit_write_queues_too(sqlite_url):
    """A write outside a transaction waits for the queue like a transaction does."""
    from peewee import OperationalError
    database = _opened(sqlite_url)
    database._queue_timeout = 0.2
    with _OtherWriter(sqlite_url) as other, database.connection_context():
        with pytest.raises(OperationalError, match="database is locked"):
            Team.create(name="东区")  # autocommit: no atomic() around it
        assert Team.select().count() == 0  # reads do not queue
    with database.connection_context():
        Team.create(name="东区")
        assert _flock_free(other.path) and Team.select().count() == 1


def test_sqlite_threads_do_not_leave_lock_files_open(sqlite_url):
    import threading
    database = _opened(sqlite_url)
    lock = os.path.realpath(sqlite_url[len("sqlite:///"):] + ".lock")

    def open_locks() -> int:
        fds = os.listdir("/proc/self/fd")
        return sum(1 for f in fds if os.path.realpath(f"/proc/self/fd/{f}") == lock)

    def one_write(i):
        with database.connection_context(), database.atomic():
            Team.create(name=f"团队{i}")

    before = open_locks()
    for i in range(20):
        t = threading.Thread(target=one_write, args=(i,))
        t.start()
        t.join()
    assert open_locks() == before
    with database.connection_context():
        assert Team.select().count() == 20
