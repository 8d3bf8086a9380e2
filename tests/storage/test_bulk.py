"""The bulk writers (a first scan, the 09:00 cards, an import) keep every value as given, on all three
databases: text with quotes, backslashes, commas, braces and Chinese, NULLs, times
(naive UTC, as everything is stored)."""
from __future__ import annotations

from datetime import datetime, timedelta

from storage.database import bulk_insert_ignore, bulk_update, connected
from storage.models import Outbox
from tests.conftest import make_runtime
from bot.clock import FixedClock

NOW = datetime(2026, 11, 30, 1, 0, 7)
TEXTS = ['{"text": "王磊说\\"明天\\"签, 见 C:\\\\合同\\\\", "rows": [1, 2]}', "a,b}{c", "", "NULL", " 空格 ",
         "换行\n制表\t", "'单引号'", "x" * 20000]


def test_bulk_insert_and_update_keep_every_character_and_instant(db_url):
    rt = make_runtime(db_url, FixedClock(NOW))
    fields = [Outbox.key, Outbox.channel, Outbox.recipient, Outbox.payload, Outbox.status, Outbox.attempts,
              Outbox.next_attempt_at, Outbox.created_at, Outbox.last_error]
    rows = [(f"k{i}", "local", "alice", text, "pending", i, NOW + timedelta(minutes=i), NOW,
             None if i % 3 else text)
            for i, text in enumerate(TEXTS)]
    with connected(rt.database):
        bulk_insert_ignore(Outbox, fields, rows)
        bulk_insert_ignore(Outbox, fields, [("k0", "local", "bob", "again", "sent", 9, NOW, NOW, None)])
        got = {o.key: o for o in Outbox.select()}
        assert len(got) == len(TEXTS) and got["k0"].recipient == "alice"  # the key already there is skipped
        for i, text in enumerate(TEXTS):
            o = got[f"k{i}"]
            assert (o.payload, o.attempts, o.next_attempt_at) == (text, i, NOW + timedelta(minutes=i))
            assert o.created_at == NOW
            assert o.last_error == (None if i % 3 else text)
        bulk_update(Outbox, [Outbox.last_error, Outbox.attempts],
                    [(f"改{t}", 100 + i, got[f"k{i}"].id) for i, t in enumerate(TEXTS)])
        for i, text in enumerate(TEXTS):
            o = Outbox.get(Outbox.key == f"k{i}")
            assert (o.last_error, o.attempts) == (f"改{text}", 100 + i)
    rt.database.close()


def test_put_creates_then_replaces_a_key_and_its_expiry(db_url):
    """kv.put (a visit's 撤销 record, a card's task id) in one upsert on every database: a new key, then a
    new value and expiry for it, never a second row."""
    from storage import kv
    from storage.models import KeyValue
    rt = make_runtime(db_url, FixedClock(NOW))
    with connected(rt.database):
        kv.put("undo:alice", "第一次", NOW, timedelta(minutes=30))
        assert kv.get("undo:alice", NOW) == "第一次"
        kv.put("undo:alice", "改过 \\\"引号\\\"", NOW + timedelta(minutes=1), timedelta(minutes=30))
        assert kv.get("undo:alice", NOW + timedelta(minutes=30)) == "改过 \\\"引号\\\""  # the expiry moved too
        assert kv.get("undo:alice", NOW + timedelta(minutes=31)) is None
        kv.put("undo:alice", "不过期", NOW)
        assert kv.get("undo:alice", NOW + timedelta(days=999)) == "不过期"
        assert KeyValue.select().where(KeyValue.key == "undo:alice").count() == 1
    rt.database.close()


def test_postgresql_compresses_payloads_with_lz4_on_a_new_schema_and_after_the_upgrade(db_url):
    """A 09:00 run queues a card of kilobytes per rep: lz4 compresses them several times faster than
    pglz, PostgreSQL's default, and the texts read back the same."""
    if not db_url.startswith("postgres"):
        return
    from storage.database import latest_version, migrate_database
    from storage.models import SchemaVersion
    rt = make_runtime(db_url, FixedClock(NOW))

    def method():
        return rt.database.execute_sql("SELECT attcompression FROM pg_attribute WHERE attrelid = 'outbox'::regclass "
                                       "AND attname = 'payload'").fetchone()[0]
    with connected(rt.database):
        assert method() == "l"
        rt.database.execute_sql('ALTER TABLE outbox ALTER COLUMN payload SET COMPRESSION pglz')
        SchemaVersion.update(version=60).execute()
        assert method() == "p"
    assert migrate_database(rt.database) == latest_version()
    with connected(rt.database):
        assert method() == "l"
        text = '{"rows": ["华联超市 王总"]}' * 400
        bulk_insert_ignore(Outbox, [Outbox.key, Outbox.channel, Outbox.recipient, Outbox.payload, Outbox.status,
                                    Outbox.attempts, Outbox.next_attempt_at, Outbox.created_at],
                           [("big", "local", "alice", text, "pending", 0, NOW, NOW)])
        assert rt.database.execute_sql("SELECT pg_column_compression(payload) FROM outbox WHERE key = 'big'"
                                       ).fetchone()[0] == "lz4"
        assert Outbox.get(Outbox.key == "big").payload == text
    rt.database.close()
