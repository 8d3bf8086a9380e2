"""The database from one URL (SQLite, PostgreSQL or MySQL/MariaDB), schema versions and migrations."""
from __future__ import annotations

import fcntl
import logging
import os
import re
import sqlite3
import threading
import time
from datetime import date, datetime, timezone
from typing import Callable

from peewee import (Database, DatabaseError, MySQLDatabase, OperationalError, PostgresqlDatabase, Psycopg2Adapter,
                    SqliteDatabase, fn)
from playhouse.db_url import connect, parse
from playhouse.migrate import SchemaMigrator, migrate  # noqa: F401  (used by migrations)

from rules.localtime import to_utc

from .models import ALL_MODELS, SchemaVersion, db

log = logging.getLogger(__name__)

# (version, description, function(database, migrator)). Version 1 is the schema `create_tables` makes.
# A later change appends here, e.g. (2, "deal priority", lambda d, m: migrate(m.add_column(...))).
def _no_secrets(database: Database, migrator: SchemaMigrator) -> None:
    """Version 30: no secret kept in the database. Error texts written before redaction (a failed
    gettoken's `corpsecret=…`, `access_token=…`) are scrubbed; the action-link signing key that was
    generated into the key/value table is dropped (it now lives in a 0600 file, or BOT_SECRET_KEY):
    links and sessions signed with it stop working, so one read from a backup forges nothing."""
    from .models import KeyValue, Outbox
    from .redact import redact
    for row_id, error in Outbox.select(Outbox.id, Outbox.last_error).where(Outbox.last_error.is_null(False)).tuples():
        clean = redact(error)
        if clean != error:
            Outbox.update(last_error=clean).where(Outbox.id == row_id).execute()
    KeyValue.delete().where(KeyValue.key.in_(["links:secret-key", "links:secret-key:lock"])).execute()


def _outbox_parts(database: Database, migrator: SchemaMigrator) -> None:
    from peewee import SQL, IntegerField
    from playhouse.migrate import migrate
    if "parts" not in {c.name for c in database.get_columns("outbox")}:
        migrate(migrator.add_column("outbox", "parts", IntegerField(default=1, constraints=[SQL("DEFAULT 1")])))


def _deal_scan(database: Database, migrator: SchemaMigrator) -> None:
    """Version 50: the stale scan's bookkeeping (warned level, its silence period, the next look) moves
    from the deal row to the narrow deal_scan table (created before the migrations run), so that a first
    scan after an import rewrites narrow rows instead of every deal row and every index of the deal table.
    What each open deal had is kept; deal.next_check_at is left for a person's change to ask for a look."""
    from peewee import Entity
    from .models import Deal, DealScan
    if "warn_level" not in {c.name for c in database.get_columns("deal")}:
        return  # made by this code already
    old = Deal.select(Deal.id, Entity("warn_level"), Entity("warn_since"), Deal.next_check_at).where(
        (Deal.status == "open") & ~fn.EXISTS(DealScan.select(DealScan.deal).where(DealScan.deal == Deal.id)))
    DealScan.insert_from(old, [DealScan.deal, DealScan.warn_level, DealScan.warn_since,
                               DealScan.next_check_at]).execute()
    Deal.update(next_check_at=None).where(Deal.next_check_at.is_null(False)).execute()
    migrate(migrator.drop_column("deal", "warn_level"), migrator.drop_column("deal", "warn_since"))


def _rep_targets(database: Database, migrator: SchemaMigrator) -> None:
    """Version 60: each rep's own sales target (rep_target); a new table, nothing else changes."""
    from .models import RepTarget
    database.create_tables([RepTarget], safe=True)


def _warning_indexes(database: Database, migrator: SchemaMigrator) -> None:
    """Version 51: a warning row has two indexes fewer to write (a first scan after an import writes
    300k of them): the foreign key's own index on deal_id and (scan, deal_id) repeat what the unique
    (deal_id, level, since) index gives (MariaDB's look-up of a scan's rows goes through it)."""
    have = {i.name for i in database.get_indexes("warning")}
    drops = [migrator.drop_index("warning", name) for name in ("warning_deal_id", "warning_scan_deal_id")
             if name in have]
    if drops:
        migrate(*drops)


def _payload_lz4(database: Database, migrator: SchemaMigrator | None = None) -> None:
    """Version 61 (and every new PostgreSQL schema): the outbox's payloads, kilobytes of JSON each, are
    compressed with lz4 rather than pglz. The 09:00 run queues one card per rep and a first scan one
    warning per rep: inserting 10,000 cards took the server 1.0 s with lz4, 2.1-2.6 s with pglz. Rows
    already there keep pglz (both read back the same). A server older than 14 or built without lz4 keeps pglz."""
    if not isinstance(database, PostgresqlDatabase) or database.connection().server_version < 140000:
        return
    try:
        with database.atomic():  # a savepoint: a server without lz4 refuses, and the rest goes on
            database.execute_sql('ALTER TABLE "outbox" ALTER COLUMN "payload" SET COMPRESSION lz4')
    except DatabaseError as e:
        log.info("outbox payloads stay compressed with pglz: %s", e)


MIGRATIONS: list[tuple[int, str, Callable[[Database, SchemaMigrator], None]]] = [
    (30, "no secrets in the database (error texts scrubbed, generated signing key out)", _no_secrets),
    (40, "outbox.parts: a long text sent as several messages takes as many rate-limit slots", _outbox_parts),
    (50, "the stale scan's state per deal in its own narrow table (deal_scan)", _deal_scan),
    (51, "warnings: two indexes fewer to write (the unique key covers their look-ups)", _warning_indexes),
    (60, "rep_target: each rep's own sales target for a quarter or a month", _rep_targets),
    (61, "PostgreSQL: outbox payloads compressed with lz4 (faster to queue thousands of cards)", _payload_lz4),
]


def latest_version() -> int:
    return max([1] + [v for v, _, _ in MIGRATIONS])


def schema_version() -> int:
    """The version the database's schema is at."""
    return SchemaVersion.select().get().version


_WRITE = re.compile(r"\s*(INSERT|UPDATE|DELETE|REPLACE)\b", re.IGNORECASE)


_POLL_FAST, _FAST_POLLS, _POLL_SLOW = 0.00005, 60, 0.002  # seconds, polls, seconds


class QueuedSqliteDatabase(SqliteDatabase):
    """SQLite whose writers queue on a file lock beside the database (`bot.db.lock`).

    Every transaction here begins IMMEDIATE (it takes SQLite's write lock at BEGIN). When another
    process holds that lock, SQLite's busy handler polls it with sleeps that grow to 100 ms, so under
    load from several web processes a writer waits many times longer than the lock is held: a 1 ms
    transaction gets a 100 ms tail. The file lock is polled every 50 µs (nominal) for the first 60 polls,
    then every 2 ms, and given up (as "database is locked") after the busy timeout, as SQLite would. A
    write outside a transaction queues too, for its one statement; anything not of this class still meets
    SQLite's busy handler.
    """

    def init(self, database, *args, **kwargs):
        super().init(database, *args, **kwargs)
        self._queue_path = None if not database or database == ":memory:" or database.startswith("file:") \
            else os.path.abspath(database) + ".lock"
        # per thread an open lock file (flock locks belong to an open file, so threads queue too); a file
        # object, so that a thread that ends without closing its connection does not leak the descriptor
        self._queue = threading.local()
        self._queue_timeout = dict(self._pragmas).get("busy_timeout", 5000) / 1000

    def _lock_file(self) -> int:
        file = getattr(self._queue, "file", None)
        if file is None or self._queue.pid != os.getpid():  # a forked worker opens its own
            file = self._queue.file = os.fdopen(_open_private(self._queue_path), "ab")  # closed in _close
            self._queue.pid = os.getpid()
        return file.fileno()

    def _acquire(self) -> None:
        fd = self._lock_file()
        deadline, polls = time.monotonic() + self._queue_timeout, 0
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                self._queue.held = True
                return
            except BlockingIOError:
                if time.monotonic() >= deadline:
                    raise OperationalError(f"database is locked (another writer held it for "
                                           f"{self._queue_timeout:g} s)") from None
                # a chat message's transaction holds the lock for about half a millisecond: polled every
                # 50 µs (nominal: about 130 µs with the kernel's timer slack) for the first 60 polls (a
                # wait that doubled from 0.1 ms overshot the holder's commit by as much again), then
                # every 2 ms
                polls += 1
                time.sleep(_POLL_FAST if polls <= _FAST_POLLS else _POLL_SLOW)

    def _release(self) -> None:
        if getattr(self._queue, "held", False):
            self._queue.held = False
            fcntl.flock(self._queue.file.fileno(), fcntl.LOCK_UN)

    def _queues(self, lock_type) -> bool:
        return self._queue_path is not None and (lock_type or self._lock_type or "").upper() in ("IMMEDIATE",
                                                                                                 "EXCLUSIVE")

    def begin(self, lock_type=None):
        if not self._queues(lock_type):
            return super().begin(lock_type)
        self._acquire()
        try:
            super().begin(lock_type)
        except BaseException:
            self._release()
            raise

    def execute_sql(self, sql, params=None):
        if self._queue_path is None or self.in_transaction() or not _WRITE.match(sql):
            return super().execute_sql(sql, params)
        self._acquire()  # a write in autocommit mode: one statement, its own queue turn
        try:
            return super().execute_sql(sql, params)
        finally:
            self._release()

    def commit(self):
        try:
            super().commit()
        finally:
            self._release()

    def rollback(self):
        try:
            super().rollback()
        finally:
            self._release()

    def _close(self, conn):
        self._release()
        file = getattr(self._queue, "file", None)
        if file is not None:
            self._queue.file = None
            file.close()
        super()._close(conn)


class OneTripBegin:
    """PostgreSQL through psycopg2: a transaction's BEGIN goes to the server with its first statement,
    as one simple query ("BEGIN; <statement>"), instead of a round trip of its own (pgjdbc sends its
    BEGIN the same way). A transaction that ran no statement sends neither BEGIN nor COMMIT.

    A message's transaction is a handful of short statements, so a round trip less is a good part of
    its time on the wire and of the server's work per message. A cursor taken outside execute_sql (the
    COPY of bulk_insert) sends the BEGIN first, on its own.
    """

    def begin(self, *args, **kwargs):
        if not isinstance(self._adapter, Psycopg2Adapter):  # psycopg 3 binds on the server: one statement a query
            return super().begin(*args, **kwargs)
        if self.is_closed():
            self.connect()
        self._state.begin_with = self._state.conn

    def connect(self, *args, **kwargs):
        opened = super().connect(*args, **kwargs)
        if opened:  # a new session has no transaction (a pooled connection comes back as the same object)
            self._state.begin_with = None
        return opened

    def _take_begin(self) -> bool:
        """True once when this connection's transaction has begun here but not yet on the server."""
        pending = getattr(self._state, "begin_with", None)
        self._state.begin_with = None
        return pending is not None and pending is self._state.conn

    def _execute_cursor(self, sql, params, **cursor_options):
        if self._take_begin():
            sql = "BEGIN; " + sql
        return super()._execute_cursor(sql, params, **cursor_options)

    def cursor(self, *args, **kwargs):
        cursor = super().cursor(*args, **kwargs)
        if self._take_begin():
            cursor.execute("BEGIN")
        return cursor

    def commit(self):
        if not self._take_begin():
            super().commit()

    def rollback(self):
        if not self._take_begin():
            super().rollback()


_one_trip_classes: dict[type, type] = {}


def _one_trip(base: type) -> type:
    if base not in _one_trip_classes:
        _one_trip_classes[base] = type(f"OneTripBegin{base.__name__}", (OneTripBegin, base), {})
    return _one_trip_classes[base]


def _open_private(path: str) -> int:
    """Open `path` for appending, creating it readable and writable by its owner only (0600, whatever
    the umask); an existing file keeps its mode. The caller closes the descriptor."""
    return os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)


def open_database(url: str) -> Database:
    """Connect the models to the database named by `url` and return it (not yet migrated)."""
    kwargs: dict = {}
    if url.startswith("sqlite"):
        path = parse(url).get("database") or ""
        if path and path != ":memory:" and not path.startswith("file:"):
            os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
            os.close(_open_private(path))  # SQLite gives its -wal and -shm files the database file's mode
        # a 64 MB page cache (the default is 2 MB): the stale scan after an import reads and rewrites
        # hundreds of thousands of deal rows and their indexes, which 2 MB sends back to the OS page by page
        kwargs["pragmas"] = {"journal_mode": "wal", "busy_timeout": 10000, "foreign_keys": 1,
                             "synchronous": "normal", "cache_size": -65536}
        kwargs["check_same_thread"] = False
        # a transaction that reads then writes must take the write lock at BEGIN, or two of them
        # deadlock and SQLite answers "database is locked" without waiting; writers queue on a file
        # lock (QueuedSqliteDatabase)
        kwargs["lock_type"] = "IMMEDIATE"
        database = QueuedSqliteDatabase(**{**parse(url), **kwargs})
    else:
        if url.startswith("mysql"):
            kwargs["charset"] = "utf8mb4"
        database = connect(url, **kwargs)  # (which also checks the URL)
        if isinstance(database, PostgresqlDatabase):
            database = _one_trip(type(database))(**{**parse(url), **kwargs})
    db.initialize(database)
    return database


def migrate_database(database: Database, migrations=None) -> int:
    """Create the schema on an empty database, or bring an older one up to date. Returns the version."""
    migrations = MIGRATIONS if migrations is None else migrations
    latest = max([1] + [v for v, _, _ in migrations])
    with database.connection_context():
        if not database.table_exists("schema_version"):
            with database.atomic():
                database.create_tables(ALL_MODELS, safe=True)
                _payload_lz4(database)  # what the models cannot say
                if not SchemaVersion.select().exists():
                    SchemaVersion.create(version=latest)
            return SchemaVersion.select().get().version
        row = SchemaVersion.select().get()
        if row.version > latest:
            raise RuntimeError(f"database schema version {row.version} is newer than this code "
                               f"({latest}); upgrade the bot before using this database")
        # a table added since is created as it is (additive, safe); a changed table needs a migration
        database.create_tables(ALL_MODELS, safe=True)
        migrator = SchemaMigrator.from_database(database)
        for version, description, fn in sorted(migrations, key=lambda m: m[0]):
            if version > row.version:
                log.info("migrating database to version %s: %s", version, description)
                with database.atomic():
                    fn(database, migrator)
                    SchemaVersion.update(version=version).execute()
                row.version = version
        return row.version


def to_db(dt: datetime | None) -> datetime | None:
    """A datetime as the database stores it: naive UTC, whole seconds."""
    if dt is None:
        return None
    if dt.tzinfo is not None:
        dt = to_utc(dt)
    return dt.replace(microsecond=0)


def is_deadlock(error: Exception) -> bool:
    """A deadlock or serialization failure: the transaction can simply be run again."""
    text = str(error)
    code = getattr(getattr(error, "orig", None), "pgcode", None) or getattr(error, "pgcode", None)
    return (code in ("40001", "40P01") or "1213" in text or "Deadlock" in text or "deadlock detected" in text
            or "database is locked" in text)


def has_server(database: Database) -> bool:
    """Whether the database is a server (PostgreSQL, MySQL/MariaDB) that works on a second connection at the
    same time, rather than an SQLite file with one writer."""
    return not isinstance(database, SqliteDatabase)


def transaction():
    """A transaction on the models' database (a savepoint inside one): `with transaction(): ...`."""
    return db.atomic()


def in_transaction(database: Database, fn: Callable, attempts: int = 5):
    """Run fn() in a transaction, again (up to `attempts` times) when the database reports a deadlock."""
    for attempt in range(1, attempts + 1):
        try:
            with database.atomic():
                return fn()
        except Exception as e:  # noqa: BLE001
            if attempt == attempts or not is_deadlock(e):
                raise
            log.info("deadlock, running the transaction again (%s/%s)", attempt, attempts)
            time.sleep(0.05 * attempt)


def _driver(model):
    """(database, table name, its kind: Postgres, MySQL or Sqlite, a raw cursor) for the bulk helpers below."""
    database = model._meta.database.obj if hasattr(model._meta.database, "obj") else model._meta.database
    kind = ("Postgres" if isinstance(database, PostgresqlDatabase) else "MySQL"
            if isinstance(database, MySQLDatabase) else "Sqlite")
    return database, model._meta.table_name, kind, database.cursor()


_COPY_ESCAPES = str.maketrans({"\\": "\\\\", "\t": "\\t", "\n": "\\n", "\r": "\\r"})


def _copy_text(value) -> str:
    """A value in PostgreSQL COPY text format."""
    if value is None:
        return "\\N"
    if value is True or value is False:
        return "t" if value else "f"
    if isinstance(value, datetime):
        return value.isoformat(sep=" ")
    if isinstance(value, str):
        return value.translate(_COPY_ESCAPES)
    return str(value)


def bulk_insert(model, fields: list, rows: list[tuple], page: int = 500) -> None:
    """Insert many rows through the driver's own batch call: the ORM's per-value SQL building is the
    bottleneck at hundreds of thousands of rows. PostgreSQL: COPY; SQLite and MySQL: executemany (which
    PyMySQL sends as multi-row INSERTs). Values are already of the fields' Python types."""
    if not rows:
        return
    database, table, kind, cursor = _driver(model)
    q = "`" if kind == "MySQL" else '"'
    cols = ", ".join(f"{q}{f.column_name}{q}" for f in fields)
    if kind == "Postgres":
        import io
        buf = io.StringIO()
        buf.writelines("\t".join(map(_copy_text, row)) + "\n" for row in rows)
        buf.seek(0)
        cursor.copy_expert(f"COPY {q}{table}{q} ({cols}) FROM STDIN", buf)
        return
    mark = "?" if isinstance(database, SqliteDatabase) else "%s"
    sql = f"INSERT INTO {q}{table}{q} ({cols}) VALUES ({', '.join([mark] * len(fields))})"
    for i in range(0, len(rows), page):
        cursor.executemany(sql, rows[i:i + page])


class connected:
    """Use the thread's open connection, or open one for the block (and close it after).

    Unlike peewee's connection_context, an already open connection (a web request's, kept for the
    next request) is left open.
    """

    def __init__(self, database: Database):
        self.database, self.opened = database, False

    def __enter__(self):
        if self.database.is_closed():
            self.database.connect()
            self.opened = True
        return self.database

    def __exit__(self, *exc):
        if self.opened and not self.database.is_closed():
            self.database.close()
        return False


def _pg_array_item(value) -> str:
    if value is None:
        return "NULL"
    if value is True or value is False:
        return "t" if value else "f"
    if isinstance(value, datetime) and value.tzinfo is not None:
        value = value.astimezone(timezone.utc).replace(tzinfo=None)
    if isinstance(value, (int, float, datetime, date)):
        return str(value)
    return '"' + str(value).replace("\\", "\\\\").replace('"', '\\"') + '"'


def _pg_arrays(rows: list[tuple], fields: list | tuple = ()) -> list:
    """One PostgreSQL array literal ('{1,2,NULL}') per column of `rows`, for `%s::type[]`: the server reads
    the text at once, where the driver's own adaptation of a list is an ARRAY[...] expression of one
    cast value per element, twice as slow to send and to read at 50k rows. Except a TEXT field's column
    (a message's JSON, kilobytes each): there the driver's ARRAY['…'] quotes in C and the server reads
    it a third faster than the same texts escaped inside a literal."""
    kinds = [f.field_type for f in fields]
    return [list(col) if i < len(kinds) and kinds[i] == "TEXT" else "{" + _pg_array_body(col) + "}"
            for i, col in enumerate(zip(*rows))]


_NONE = type(None)


def _pg_array_body(col: tuple) -> str:
    """A column's elements, comma-separated, converted a whole column at once where all its values are of
    one plain kind (a first scan builds arrays of millions of values); any other mix value by value."""
    kinds = set(map(type, col))
    if kinds <= {int, float, _NONE}:
        return ",".join(map(str, col)) if _NONE not in kinds else ",".join(
            "NULL" if v is None else str(v) for v in col)
    if kinds <= {datetime, _NONE} and not any(v.tzinfo for v in col if v is not None):
        if _NONE not in kinds:  # ISO 8601 with its "T", which the server reads as it reads a space
            return ",".join(map(datetime.isoformat, col))
        return ",".join("NULL" if v is None else v.isoformat() for v in col)
    if kinds <= {str, _NONE}:
        return ",".join("NULL" if v is None else '"' + v.replace("\\", "\\\\").replace('"', '\\"') + '"'
                        for v in col)
    return ",".join(map(_pg_array_item, col))


_PG_CAST = {"INT": "integer", "BIGINT": "bigint", "AUTO": "integer", "VARCHAR": "varchar", "TEXT": "text",
            "DATETIME": "timestamp", "DATE": "date", "BOOL": "boolean", "FLOAT": "double precision"}


def bulk_update(model, fields: list, rows: list[tuple], page: int = 5000, guard: tuple = ()) -> None:
    """UPDATE many rows by primary key, each with its own values: rows are (value per field..., key, value per
    guard field...). With `guard` fields a row is changed only where each of them still holds the value given
    (what was read before: a change made since by someone else is kept).

    SQLite and MySQL: the driver's executemany of one UPDATE; PostgreSQL: one UPDATE ... FROM unnest(arrays)
    per page, which the planner joins through the primary key (a VALUES list of thousands of rows gets a hash
    join over a sequential scan of the whole table, per page). Much faster than the ORM's CASE expressions."""
    if not rows:
        return
    database, table, kind, cursor = _driver(model)
    key = model._meta.primary_key
    if kind == "Postgres":
        cols = [f.column_name for f in fields]
        casts = [_PG_CAST.get(f.field_type, "text") for f in (*fields, key, *guard)]
        sets = ", ".join(f'"{c}" = v."{c}"' for c in cols)
        names = ", ".join([f'"{c}"' for c in cols] + ["k_"] + [f"g{i}" for i in range(len(guard))])
        arrays = ", ".join(f"%s::{c}[]" for c in casts)
        checks = "".join(f' AND t."{g.column_name}" = v.g{i}' for i, g in enumerate(guard))
        sql = f'UPDATE "{table}" AS t SET {sets} FROM unnest({arrays}) AS v({names}) WHERE t."{key.column_name}" = v.k_{checks}'
        for i in range(0, len(rows), page):
            cursor.execute(sql, _pg_arrays(rows[i:i + page], (*fields, key, *guard)))
        return
    q = "`" if kind == "MySQL" else '"'
    mark = "?" if isinstance(database, SqliteDatabase) else "%s"
    sets = ", ".join(f"{q}{f.column_name}{q} = {mark}" for f in fields)
    checks = "".join(f" AND {q}{g.column_name}{q} = {mark}" for g in guard)
    sql = f"UPDATE {q}{table}{q} SET {sets} WHERE {q}{key.column_name}{q} = {mark}{checks}"
    for i in range(0, len(rows), page):
        cursor.executemany(sql, rows[i:i + page])


def bulk_upsert(model, fields: list, rows: list[tuple], page: int = 5000) -> None:
    """Insert many rows keyed by the model's primary key (the first of `fields`), or where the key is
    there already, set the other fields to the row's values. PostgreSQL: one INSERT ... SELECT FROM
    unnest(arrays) ... ON CONFLICT per page; SQLite (ON CONFLICT) and MySQL (ON DUPLICATE KEY): executemany."""
    if not rows:
        return
    database, table, kind, cursor = _driver(model)
    key, rest = fields[0].column_name, [f.column_name for f in fields[1:]]
    if kind == "Postgres":
        cols = ", ".join(f'"{f.column_name}"' for f in fields)
        arrays = ", ".join(f"%s::{_PG_CAST.get(f.field_type, 'text')}[]" for f in fields)
        sets = ", ".join(f'"{c}" = EXCLUDED."{c}"' for c in rest)
        sql = (f'INSERT INTO "{table}" ({cols}) SELECT * FROM unnest({arrays}) '
               f'ON CONFLICT ("{key}") DO UPDATE SET {sets}')
        for i in range(0, len(rows), page):
            cursor.execute(sql, _pg_arrays(rows[i:i + page], fields))
        return
    if kind == "MySQL":
        cols = ", ".join(f"`{f.column_name}`" for f in fields)
        sets = ", ".join(f"`{c}` = VALUES(`{c}`)" for c in rest)
        sql = (f"INSERT INTO `{table}` ({cols}) VALUES ({', '.join(['%s'] * len(fields))}) "
               f"ON DUPLICATE KEY UPDATE {sets}")
    else:
        cols = ", ".join(f'"{f.column_name}"' for f in fields)
        sets = ", ".join(f'"{c}" = excluded."{c}"' for c in rest)
        sql = (f'INSERT INTO "{table}" ({cols}) VALUES ({", ".join(["?"] * len(fields))}) '
               f'ON CONFLICT ("{key}") DO UPDATE SET {sets}')
    for i in range(0, len(rows), page):
        cursor.executemany(sql, rows[i:i + page])


def bulk_insert_ignore(model, fields: list, rows: list[tuple], page: int = 5000, returning=None) -> list | None:
    """Insert many rows, skipping those that break a unique key (the dialect's INSERT ... IGNORE).

    With `returning` (a field): the values of that field of the rows this call inserted, from INSERT ...
    RETURNING on PostgreSQL and SQLite >= 3.35; None where the database cannot say (MySQL/MariaDB, older
    SQLite), and the caller must look them up itself."""
    if not rows:
        return [] if returning is not None else None
    database, table, kind, cursor = _driver(model)
    if kind == "Postgres":  # the values as one array per column (the driver adapts a list at once)
        cols = ", ".join(f'"{f.column_name}"' for f in fields)
        arrays = ", ".join(f"%s::{_PG_CAST.get(f.field_type, 'text')}[]" for f in fields)
        tail = f' RETURNING "{returning.column_name}"' if returning is not None else ""
        sql = f'INSERT INTO "{table}" ({cols}) SELECT * FROM unnest({arrays}) ON CONFLICT DO NOTHING{tail}'
        got = []
        for i in range(0, len(rows), page):
            cursor.execute(sql, _pg_arrays(rows[i:i + page], fields))
            if returning is not None:
                got += [r[0] for r in cursor.fetchall()]
        return got if returning is not None else None
    if isinstance(database, SqliteDatabase):
        cols = ", ".join(f'"{f.column_name}"' for f in fields)
        one = "(" + ", ".join(["?"] * len(fields)) + ")"
        if returning is not None and sqlite3.sqlite_version_info >= (3, 35, 0):
            out = []
            step = max(1, min(page, 30000 // len(fields)))  # under SQLite's 32766 parameters per statement
            for i in range(0, len(rows), step):
                chunk = rows[i:i + step]
                cursor.execute(f'INSERT OR IGNORE INTO "{table}" ({cols}) VALUES {", ".join([one] * len(chunk))} '
                               f'RETURNING "{returning.column_name}"', [v for row in chunk for v in row])
                out += [r[0] for r in cursor.fetchall()]
            return out
        sql = f'INSERT OR IGNORE INTO "{table}" ({cols}) VALUES {one}'
    else:
        cols = ", ".join(f"`{f.column_name}`" for f in fields)
        sql = f"INSERT IGNORE INTO `{table}` ({cols}) VALUES ({', '.join(['%s'] * len(fields))})"
    for i in range(0, len(rows), page):
        cursor.executemany(sql, rows[i:i + page])
    return None


def ping(database: Database) -> None:
    """Raise unless the database answers (the health check)."""
    database.execute_sql("SELECT 1")
