"""Hot queries compiled once per database: peewee writes the SQL on the first call, later calls only bind.

Turning a peewee query object into SQL costs about 0.1-0.3 ms of Python per statement, several times
what SQLite or PostgreSQL take to run it, and a chat message runs a handful. The queries on a
message's path are therefore written with peewee as usual, their arguments standing in as
placeholders, and compiled once for each database:

    find = prepared(lambda channel, message_id: InboundMessage
                    .select(InboundMessage.id, InboundMessage.reply)
                    .where((InboundMessage.channel == channel) & (InboundMessage.message_id == message_id)))
    find.first("wecom", "msg:1")   # (id, reply) or None

Arguments go to the driver as given, without the fields' conversion: pass what the column holds (str,
int, bool, naive UTC datetime). A placeholder compared with `==` never matches NULL: write a separate
query for `IS NULL`. Selected date, time and boolean columns come back converted as peewee would.

On PostgreSQL the statement is also prepared on the server, once per connection (PREPARE, then
EXECUTE with the values), so the server does not parse and plan it for every message either; the
query's own constants (a status, LIMIT 1) are written into the prepared text so that its generic plan
knows them. A session that lost its prepared statements (DISCARD ALL) prepares them again.
"""
from __future__ import annotations

import inspect
import itertools
import weakref
from datetime import datetime

from peewee import BooleanField, DatabaseError, DateField, DateTimeField, Insert, Node, PostgresqlDatabase, SelectQuery

from .models import db

_names = itertools.count(1)
_server_prepared: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()  # connection -> names prepared there


def _datetime(value):
    """SQLite hands datetimes back as text; fromisoformat reads peewee's format many times faster."""
    if isinstance(value, str):
        try:
            return datetime.fromisoformat(value)
        except ValueError:
            return DateTimeField().python_value(value)
    return value


def _pgcode(error) -> str | None:
    """PostgreSQL's SQLSTATE of a (peewee-wrapped) driver error."""
    for e in (error, *(error.args[:1]), error.__cause__, error.__context__):
        code = getattr(e, "pgcode", None)
        if code:
            return code
    return None


def _pg_literal(value) -> str | None:
    """A constant as SQL text, for the simple kinds that cannot be mistaken; None: keep it a parameter."""
    if value is True or value is False:
        return "TRUE" if value else "FALSE"
    if isinstance(value, int):
        return str(int(value))
    if isinstance(value, str) and value.isascii() and value.isalnum():
        return f"'{value}'"
    return None


class _Arg:
    __slots__ = ("n",)

    def __init__(self, n: int):
        self.n = n


class Slot(Node):
    """The n-th argument of a prepared query, as a placeholder in the SQL."""

    def __init__(self, n: int):
        self.n = n

    def __sql__(self, ctx):
        return ctx.value(_Arg(self.n), converter=False)


class _Compiled:
    __slots__ = ("sql", "params", "slots", "converters", "returning", "server_name", "server_sql")

    def __init__(self, query, database):
        self.sql, params = query.sql()
        self.params = list(params)
        self.slots = [(i, p.n) for i, p in enumerate(self.params) if isinstance(p, _Arg)]
        self.converters = []
        if isinstance(query, SelectQuery):
            for i, column in enumerate(query._returning):
                field = getattr(column, "unwrap", lambda: column)()
                if isinstance(field, DateTimeField):
                    self.converters.append((i, _datetime))
                elif isinstance(field, (DateField, BooleanField)):
                    self.converters.append((i, field.python_value))
        self.returning = isinstance(query, Insert) and bool(database.returning_clause)
        self.server_name = self.server_sql = None
        if isinstance(database, PostgresqlDatabase) and "%%" not in self.sql:
            self._server_side()

    def _server_side(self):
        """PREPARE text with $n for the placeholders; the query's own constants (a status, LIMIT 1) are
        written in, so the server's generic plan knows them and is kept after the first few runs."""
        pieces = self.sql.split("%s")
        text, kept = [pieces[0]], []
        for value, piece in zip(self.params, pieces[1:]):
            literal = None if isinstance(value, _Arg) else _pg_literal(value)
            if literal is None:
                kept.append(value)
                literal = f"${len(kept)}"
            text += [literal, piece]
        self.server_name = f"bot_q{next(_names)}"
        self.server_sql = "".join(text)
        self.params = kept
        self.slots = [(i, p.n) for i, p in enumerate(kept) if isinstance(p, _Arg)]
        self.sql = f"EXECUTE {self.server_name}" + (f" ({', '.join(['%s'] * len(kept))})" if kept else "")

    def bind(self, args) -> list:
        params = self.params[:]
        for i, n in self.slots:
            params[i] = args[n]
        return params


class Prepared:
    """A peewee query built by `build(*placeholders)`, run with values: rows, first, execute, insert."""

    def __init__(self, build):
        self.build = build
        # the placeholders: the parameters without a default (a default can bind a loop variable)
        self.arity = sum(1 for p in inspect.signature(build).parameters.values() if p.default is p.empty)
        self._compiled: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()

    def _run(self, args):
        if len(args) != self.arity:
            raise TypeError(f"{self.build.__qualname__} takes {self.arity} values, got {len(args)}")
        database = db.obj
        compiled = self._compiled.get(database)
        if compiled is None:
            compiled = _Compiled(self.build(*(Slot(i) for i in range(self.arity))), database)
            self._compiled[database] = compiled
        if compiled.server_name is None:
            return compiled, database.execute_sql(compiled.sql, compiled.bind(args))
        names = _server_prepared.setdefault(database.connection(), set())
        try:
            self._prepare(database, compiled, names)
            return compiled, database.execute_sql(compiled.sql, compiled.bind(args))
        except DatabaseError as e:
            if _pgcode(e) != "26000":  # invalid_sql_statement_name: the session lost it (DISCARD ALL)
                raise
            names.clear()
            if database.in_transaction():  # the transaction is aborted: the next one prepares again
                raise
            self._prepare(database, compiled, names)
            return compiled, database.execute_sql(compiled.sql, compiled.bind(args))

    @staticmethod
    def _prepare(database, compiled: _Compiled, names: set) -> None:
        """PREPARE the statement in this session unless it is there (it outlives a rolled-back transaction)."""
        if compiled.server_name not in names:
            database.execute_sql(f"PREPARE {compiled.server_name} AS {compiled.server_sql}")
            names.add(compiled.server_name)

    def rows(self, *args) -> list[tuple]:
        compiled, cursor = self._run(args)
        rows = cursor.fetchall()
        if compiled.converters and rows:
            out = []
            for row in rows:
                row = list(row)
                for i, convert in compiled.converters:
                    row[i] = convert(row[i])
                out.append(tuple(row))
            return out
        return [tuple(r) for r in rows]

    def first(self, *args) -> tuple | None:
        rows = self.rows(*args)
        return rows[0] if rows else None

    def execute(self, *args) -> int:
        """Run an UPDATE or DELETE; returns the number of rows it changed."""
        return self._run(args)[1].rowcount

    def insert(self, *args) -> int:
        """Run an INSERT; returns the new row's id."""
        compiled, cursor = self._run(args)
        return cursor.fetchone()[0] if compiled.returning else cursor.lastrowid


def prepared(build) -> Prepared:
    return Prepared(build)


def instance(model, fields, values):
    """A model instance from selected `fields` and their `values`, without peewee's row machinery."""
    obj = model(__no_default__=True)
    obj.__data__ = {f.name: v for f, v in zip(fields, values)}
    return obj
