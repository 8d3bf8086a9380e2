"""Storage on all three databases: schema versions and migrations, unique keys, the outbox claim."""
from __future__ import annotations

import threading
from datetime import datetime, timedelta

import pytest
from peewee import SQL, IntegerField
from playhouse.migrate import SchemaMigrator, migrate

from storage import inbound, outbox
from storage.database import migrate_database, open_database
from storage.models import Deal, InboundMessage, Outbox, SchemaVersion

NOW = datetime(2026, 11, 27, 2, 0)


@pytest.fixture
def database(db_url):
    database = open_database(db_url)
    migrate_database(database)
    database.connect(reuse_if_open=True)
    yield database
    database.close()


def test_schema_version_is_recorded(database):
    from storage.database import latest_version
    assert SchemaVersion.get().version == latest_version() >= 30


def test_a_migration_upgrades_and_keeps_the_data(database, db_url):
    outbox.enqueue("keep-me", "local", "alice", {"template": "help"}, NOW)

    def add_priority(db, migrator):
        migrate(migrator.add_column("outbox", "priority", IntegerField(default=0)))

    migrations = [(2, "outbox priority", add_priority)]
    SchemaVersion.update(version=1).execute()  # a database made before any migration
    try:
        assert migrate_database(database, migrations) == 2
        assert SchemaVersion.get().version == 2
        row = Outbox.select(Outbox.key, SQL("priority")).tuples().get()
        assert row == ("keep-me", 0)
        assert migrate_database(database, migrations) == 2  # idempotent
        with pytest.raises(RuntimeError, match="newer than this code"):
            migrate_database(database, [])
    finally:  # leave the shared server database as the other tests expect it
        from storage.database import latest_version
        migrate(SchemaMigrator.from_database(database).drop_column("outbox", "priority"))
        SchemaVersion.update(version=latest_version()).execute()


def test_outbox_key_is_unique(database):
    assert outbox.enqueue("task:alice:2026-11-27", "local", "alice", {"template": "x"}, NOW) is True
    assert outbox.enqueue("task:alice:2026-11-27", "local", "alice", {"template": "y"}, NOW) is False
    assert Outbox.select().count() == 1 and outbox.payload_of(Outbox.get())["template"] == "x"
    with database.atomic():  # inside a transaction a skipped key leaves the transaction usable
        assert outbox.enqueue("task:alice:2026-11-27", "local", "alice", {"template": "z"}, NOW) is False
        assert outbox.enqueue("task:bob:2026-11-27", "local", "bob", {"template": "z"}, NOW) is True
    row = Outbox.get(Outbox.key == "task:bob:2026-11-27")
    assert (row.status, row.attempts, row.next_attempt_at, row.created_at) == ("pending", 0, NOW, NOW)


def test_outbox_refuses_what_a_row_cannot_hold_on_every_database(database):
    """MySQL's INSERT IGNORE would cut a long payload short (and a NULL recipient to ''): refused alike."""
    for bad in ({"recipient": None}, {"recipient": "x" * 65}, {"channel": ""},
                {"payload": {"template": "help", "data": {"text": "长" * 22000}}}):
        args = {"key": "k", "channel": "local", "recipient": "alice", "payload": {"template": "help"}, **bad}
        with pytest.raises(ValueError):
            outbox.enqueue(args["key"], args["channel"], args["recipient"], args["payload"], NOW)
        # a batch (a scan's warnings, the 09:00 cards) refuses it the same way, queuing none of its rows
        good = ("k0", "local", "alice", {"template": "help"})
        with pytest.raises(ValueError):
            outbox.enqueue_many([good, (args["key"], args["channel"], args["recipient"], args["payload"])], NOW)
    assert Outbox.select().count() == 0
    # just under the limit in bytes (3 per character here) is kept whole
    text = "长" * ((outbox.MAX_PAYLOAD - 200) // 3)
    assert outbox.enqueue_many([("k1", "local", "alice", {"template": "help", "data": {"text": text}})], NOW) == 1
    assert outbox.payload_of(Outbox.get(Outbox.key == "k1"))["data"]["text"] == text


def test_inbound_message_recorded_once(database):
    from peewee import IntegrityError
    inbound.record("wecom", "m1", "alice", "hi", NOW)
    with pytest.raises(IntegrityError):
        with database.atomic():
            inbound.record("wecom", "m1", "alice", "hi", NOW)
    inbound.record("dingtalk", "m1", "alice", "hi", NOW)  # another channel's id space
    assert InboundMessage.select().count() == 2


def test_claim_never_hands_a_row_to_two_workers(database, db_url):
    for i in range(60):
        outbox.enqueue(f"k{i}", "local", "alice", {"template": "help"}, NOW)
    claimed: dict[str, list[int]] = {}
    errors = []

    def worker(name):
        db = database
        try:
            with db.connection_context():
                got = []
                while True:
                    rows = outbox.claim(name, NOW, limit=7)
                    if not rows:
                        break
                    got += [r.id for r in rows]
                claimed[name] = got
        except Exception as e:  # noqa: BLE001
            errors.append(e)

    threads = [threading.Thread(target=worker, args=(f"w{i}",)) for i in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert not errors
    all_ids = [i for ids in claimed.values() for i in ids]
    assert len(all_ids) == 60 and len(set(all_ids)) == 60


def test_claim_takes_back_rows_of_a_dead_worker_after_the_lease(database):
    outbox.enqueue("k", "local", "alice", {"template": "help"}, NOW)
    assert len(outbox.claim("dead", NOW)) == 1
    assert outbox.claim("alive", NOW + timedelta(seconds=30)) == []
    again = outbox.claim("alive", NOW + timedelta(minutes=3))
    assert len(again) == 1 and again[0].attempts == 2


def test_indexes_for_the_scheduler_exist(database):
    names = {tuple(i.columns) for i in database.get_indexes("deal")}
    assert ("status", "next_check_at") in names
    assert ("owner_id", "status", "last_movement_at") in names
    assert Deal._meta.table_name == "deal"


def test_migration_40_adds_the_parts_of_outbox_rows_keeping_them(database):
    """A version-1 database (no outbox.parts) is brought to the latest version; its rows count as one part."""
    from storage.database import latest_version
    outbox.enqueue("old-row", "local", "alice", {"template": "help"}, NOW)
    migrate(SchemaMigrator.from_database(database).drop_column("outbox", "parts"))
    SchemaVersion.update(version=1).execute()
    assert "parts" not in {c.name for c in database.get_columns("outbox")}
    assert migrate_database(database) == latest_version() >= 40
    assert Outbox.get(Outbox.key == "old-row").parts == 1
    outbox.reserve_slot(Outbox.get(Outbox.key == "old-row"), NOW, parts=3)
    assert outbox.sent_times("alice", NOW) == [NOW, NOW, NOW]


def test_migration_51_drops_the_warnings_two_redundant_indexes(database):
    """A version-50 database (warning indexed by deal_id and by (scan, deal_id) besides its unique key) loses
    the two; the unique key stays, and a scan's own warnings are still found through it."""
    from storage.database import latest_version
    from storage.models import Warning
    for sql in ("CREATE INDEX warning_deal_id ON warning (deal_id)",
                "CREATE INDEX warning_scan_deal_id ON warning (scan, deal_id)"):
        database.execute_sql(sql)
    SchemaVersion.update(version=50).execute()
    assert {"warning_deal_id", "warning_scan_deal_id"} <= {i.name for i in database.get_indexes("warning")}
    assert migrate_database(database) == latest_version() >= 51
    indexes = {i.name: i for i in database.get_indexes("warning")}
    assert not {"warning_deal_id", "warning_scan_deal_id"} & set(indexes)
    assert indexes["warning_deal_id_level_since"].unique


def test_batch_insert_keeps_every_character_of_a_message(database):
    """Messages queued in one batch (a scan's warnings) come back exactly as queued on every database:
    quotes, backslashes, braces, commas, a text reading NULL, emoji, and no text at all."""
    texts = ['他说"好的",明天{再谈}', "C:\\路径\\n不是换行", "NULL", "", "🔴 红色, 5天", "a'b\"c\\\\d"]
    rows = [(f"batch:{i}", "local", "alice", {"template": "text", "data": {"text": t}}) for i, t in enumerate(texts)]
    assert outbox.enqueue_many(rows, NOW) == len(texts)
    got = {r.key: outbox.payload_of(r)["data"]["text"] for r in Outbox.select()}
    assert got == {f"batch:{i}": t for i, t in enumerate(texts)}
    assert all(r.next_attempt_at == NOW and r.status == "pending" for r in Outbox.select())
