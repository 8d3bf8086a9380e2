"""The stale scan's state per deal (deal_scan) on all three databases: the upgrade that moved it off the
deal row keeps every warning in flight, a change made while a scan runs is not overwritten, and a
closed deal's pending crossing is dropped."""
from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest
from peewee import CharField, DateTimeField
from playhouse.migrate import SchemaMigrator, migrate

from bot.clock import FixedClock
from bot.jobs.scan import scan
from storage import scan_queries
from storage.database import latest_version, migrate_database
from storage.models import Deal, DealScan, SchemaVersion, Warning
from tests.conftest import make_runtime
from tests.helpers import deal_of, small_team

SHANGHAI = timezone(timedelta(hours=8))
START = datetime(2026, 11, 2, 10, 0, tzinfo=SHANGHAI).astimezone(timezone.utc).replace(tzinfo=None)  # Monday


@pytest.fixture
def rt(db_url):
    rt = make_runtime(db_url, FixedClock(START.replace(tzinfo=timezone.utc)))
    small_team(rt)
    yield rt
    rt.database.close()


def run_scan(rt, now: datetime) -> dict:
    rt.clock.set(now.replace(tzinfo=timezone.utc))
    with rt.database.connection_context():
        return scan(rt, now)


def state(rt) -> list[tuple]:
    with rt.database.connection_context():
        return list(DealScan.select(DealScan.deal, DealScan.warn_level, DealScan.warn_since, DealScan.next_check_at)
                    .order_by(DealScan.deal).tuples())


def to_version_40(database) -> None:
    """Put the scan's state back on the deal rows, as version 40 kept it, and say so in schema_version."""
    migrate(SchemaMigrator.from_database(database).add_column("deal", "warn_level", CharField(max_length=8, null=True)),
            SchemaMigrator.from_database(database).add_column("deal", "warn_since", DateTimeField(null=True)))
    p = database.param
    for deal_id, level, since, check in DealScan.select(DealScan.deal, DealScan.warn_level, DealScan.warn_since,
                                                        DealScan.next_check_at).tuples():
        database.execute_sql(f"UPDATE deal SET warn_level = {p}, warn_since = {p}, next_check_at = {p} WHERE id = {p}",
                             (level, since, check, deal_id))
    DealScan.delete().execute()
    SchemaVersion.update(version=40).execute()


def test_upgrade_from_version_40_keeps_each_deals_warnings_in_flight(rt):
    assert run_scan(rt, START + timedelta(hours=48))["fired"]["yellow"] == 3
    before = state(rt)
    assert [s[1] for s in before] == ["yellow"] * 3
    with rt.database.connection_context():
        to_version_40(rt.database)
        assert "warn_level" in {c.name for c in rt.database.get_columns("deal")}
        assert migrate_database(rt.database) == latest_version() >= 50
        assert not {"warn_level", "warn_since"} & {c.name for c in rt.database.get_columns("deal")}
        assert Deal.select().where(Deal.next_check_at.is_null(False)).count() == 0
    assert state(rt) == before
    # nothing is sent twice, and the next level still comes at its time, once
    assert run_scan(rt, START + timedelta(hours=60)) == {"job": "scan", "checked": 0,
                                                          "fired": {"yellow": 0, "orange": 0, "red": 0}, "messages": 0}
    assert run_scan(rt, START + timedelta(hours=72))["fired"] == {"yellow": 0, "orange": 3, "red": 0}
    assert run_scan(rt, START + timedelta(hours=73))["checked"] == 0
    with rt.database.connection_context():
        assert sorted(w.level for w in Warning.select()) == ["orange"] * 3 + ["yellow"] * 3


def test_a_visit_logged_while_the_scan_runs_still_restarts_the_clock(rt):
    """The scan read a deal, a visit moved it, then the scan wrote its state: the visit's ask for a look
    is kept (not overwritten by what the scan computed from the row it read), so the next scan looks again."""
    t = START + timedelta(hours=48)
    with rt.database.connection_context():
        deal = deal_of(rt, "华联超市")
        ids = scan_queries.due_deal_ids(t)
        assert deal.id in ids
        rows = {r[0]: r for r in scan_queries.due_rows(ids)}
        visit = t + timedelta(seconds=30)
        Deal.update(last_movement_at=visit, next_check_at=visit).where(Deal.id == deal.id).execute()
        scan_queries.save_scan_state([(i, "yellow", START, START + timedelta(hours=72), r[10], r[11])
                                     for i, r in rows.items()], t)
        assert Deal.get_by_id(deal.id).next_check_at == visit  # the visit's ask is kept
        others = [i for i in ids if i != deal.id]
        assert Deal.select().where(Deal.id.in_(others) & Deal.next_check_at.is_null(False)).count() == 0
        assert scan_queries.due_deal_ids(t + timedelta(minutes=1)) == [deal.id]


def test_a_closed_deal_crosses_nothing(rt):
    assert run_scan(rt, START + timedelta(hours=48))["fired"]["yellow"] == 3
    with rt.database.connection_context():
        deal = deal_of(rt, "永辉超市")
        Deal.update(status="lost", next_check_at=None).where(Deal.id == deal.id).execute()
    assert run_scan(rt, START + timedelta(hours=72))["fired"]["orange"] == 2
    with rt.database.connection_context():
        assert DealScan.get_by_id(deal.id).next_check_at is None  # its pending crossing is dropped
        assert [w.level for w in Warning.select().where(Warning.deal == deal.id)] == ["yellow"]


def test_a_scan_in_many_batches_reads_ahead_and_warns_each_deal_once(rt, monkeypatch):
    """A first scan after an import runs in batches; on PostgreSQL and MySQL the next batch is read on a
    second connection while one is written, and the deals' new states are saved on both. One deal per batch here: every deal is warned once per level,
    its state saved, and nothing is sent twice."""
    import bot.jobs.scan as jobs
    from storage.models import Outbox
    monkeypatch.setattr(jobs, "BATCH", 1)
    monkeypatch.setattr(jobs, "STATE_ROWS", 1)  # and the states saved on both connections
    read_by = []
    evaluate = jobs._evaluate_batch

    def spy(rt_, batch, now):
        import threading
        read_by.append(threading.current_thread().name)
        return evaluate(rt_, batch, now)
    monkeypatch.setattr(jobs, "_evaluate_batch", spy)

    assert run_scan(rt, START + timedelta(hours=48)) == {"job": "scan", "checked": 3, "messages": 3,
                                                          "fired": {"yellow": 3, "orange": 0, "red": 0}}
    assert len(read_by) == 3
    if "sqlite" not in rt.database.__class__.__name__.lower():
        assert all(name.startswith("scan-read") for name in read_by)  # read on the second connection
    assert [s[1] for s in state(rt)] == ["yellow"] * 3
    assert run_scan(rt, START + timedelta(hours=48))["checked"] == 0
    assert run_scan(rt, START + timedelta(hours=72))["fired"] == {"yellow": 0, "orange": 3, "red": 0}
    with rt.database.connection_context():
        assert sorted(w.level for w in Warning.select()) == ["orange"] * 3 + ["yellow"] * 3
        warned = [o.recipient for o in Outbox.select().where(Outbox.key.startswith("warn:"))]
        assert sorted(set(warned)) == ["alice", "bob"] and len(warned) == 6  # one message per batch that met them
