"""Queries of the stale scan and the daily cards. Set-based: the scan reads only the deals whose next
look has come (a threshold crossed: deal_scan.next_check_at; or a person's change: deal.next_check_at),
never all open deals."""
from __future__ import annotations

from datetime import datetime

from peewee import SQL, PostgresqlDatabase, chunked, fn

from .database import bulk_insert_ignore, bulk_update, bulk_upsert
from .models import Customer, Deal, DealScan, Rep, Warning, db

DUE_FIELDS = (Deal.id, Deal.owner, Deal.stage, Deal.last_movement_at, Deal.next_step_due, Deal.snoozed_until,
              Deal.team, Deal.amount, Deal.next_check_at, Deal.status)


def due_deal_ids(now: datetime) -> list[int]:
    """Deals that need a look now, grouped by owner (so one rep's warnings merge): a threshold crossed,
    or a look asked for by a change. A closed deal's pending crossing is dropped on the way (one closed
    since may still be named: due_rows leaves it out)."""
    (DealScan.update(next_check_at=None)
     .where((DealScan.next_check_at <= now)
            & ~fn.EXISTS(Deal.select(SQL("1")).where((Deal.id == DealScan.deal) & (Deal.status == "open"))))
     .execute())
    asked = Deal.select(Deal.id, Deal.owner).where((Deal.status == "open") & (Deal.next_check_at <= now))
    # (no condition on the deal's status here, or SQLite reads every open deal to find the few crossed)
    crossed = DealScan.select(DealScan.deal, Deal.owner).join(Deal).where(DealScan.next_check_at <= now)
    q = (asked | crossed).order_by(SQL("2"), SQL("1"))
    return [i for i, _ in _driver_rows(*q.sql())]


def due_rows(ids: list[int]) -> list[tuple]:
    """Of the open deals among `ids`, in that order: (id, owner_id, stage, last_movement_at, next_step_due,
    snoozed_until, warn_level, warn_since, team_id, amount, asked_at: the deal's own next_check_at, known:
    whether the deal has its deal_scan row yet).

    Two queries, the deals' rows and their scan state, joined here: joined in SQL, PostgreSQL hashes the
    whole of deal_scan for every batch. The status is checked here too (in SQL, SQLite would read every
    open deal through its status index). The driver's rows as they are: peewee's per-value conversion
    costs seconds at 500k rows."""
    deals = {r[0]: r for r in _driver_rows(*_wide_in(lambda one: Deal.select(*DUE_FIELDS).where(Deal.id.in_(one)),
                                                     ids))}
    state = {r[0]: r for r in _driver_rows(*_wide_in(
        lambda one: DealScan.select(DealScan.deal, DealScan.warn_level, DealScan.warn_since)
        .where(DealScan.deal.in_(one)), ids))}
    text = any(isinstance(r[3], str) for r in deals.values())  # SQLite hands datetimes back as text
    none = (None, None, None)
    out = []
    for i in ids:
        d = deals.get(i)
        if d is None or d[9] != "open":
            continue
        _, owner, stage, moved, due, snoozed, team, amount, asked, _ = d
        known = i in state
        _, level, since = state[i] if known else none
        if text:
            moved, due, snoozed = _dt(moved), due and _dt(due), snoozed and _dt(snoozed)
            since, asked = since and _dt(since), asked and _dt(asked)
        out.append((i, owner, stage, moved, due, snoozed, level, since, team, amount, asked, known))
    return out


def _wide_in(query_for, ids: list[int]) -> tuple[str, list]:
    """The SQL and parameters of `query_for(ids)`, whose last parameter is an `IN (...)` list of ids, built
    from its SQL for one id: peewee builds a node per value, which costs seconds over 500k ids. PostgreSQL
    gets `= ANY(array)` with the ids as one array literal (a quarter faster to send and read than a list of
    20,000 parameters)."""
    sql, params = query_for(ids[:1]).sql()
    one = f"IN ({db.obj.param})"
    if sql.count(one) != 1:
        raise ValueError("_wide_in needs exactly one IN list")
    if isinstance(db.obj, PostgresqlDatabase):
        return sql.replace(one, "= ANY(%s::integer[])"), [*params[:-1], "{" + ",".join(map(str, map(int, ids))) + "}"]
    return sql.replace(one, "IN (" + ", ".join([db.obj.param] * len(ids)) + ")"), [*params[:-1], *ids]


def _driver_rows(query, params=None) -> list[tuple]:
    cursor = db.obj.execute(query) if params is None else db.obj.execute_sql(query, params)
    out = []
    while True:
        rows = cursor.fetchmany(5000)
        if not rows:
            return out
        out += rows


def record_warnings(fired: list[tuple[int, str, datetime]], scan_id: str, now: datetime) -> set[int]:
    """Insert (deal, level, since) warnings; returns the deals whose warning this scan inserted.

    The unique key makes a concurrent or repeated scan insert nothing for a warning already fired.
    """
    if not fired:
        return set()
    # in deal order: neighbouring deals share pages of the unique index (and of the deal rows the foreign
    # key looks up)
    inserted = bulk_insert_ignore(Warning, [Warning.deal, Warning.level, Warning.since, Warning.at, Warning.scan],
                                  [(d, lv, since, now, scan_id) for d, lv, since in sorted(fired)],
                                  returning=Warning.deal)
    if inserted is not None:  # INSERT ... RETURNING said which rows are this scan's
        return set(inserted)
    mine: set[int] = set()  # MySQL/MariaDB: look this scan's rows up
    for batch in chunked([d for d, _, _ in fired], 5000):
        mine |= {d for (d,) in _driver_rows(*_wide_in(lambda one: Warning.select(Warning.deal).where(
            (Warning.scan == scan_id) & Warning.deal.in_(one)), batch))}
    return mine


def save_scan_state(updates: list[tuple[int, str | None, datetime, datetime | None, datetime | None, bool]],
                    now: datetime) -> None:
    """Rows (deal id, level, since, next check, asked_at, known): set (warn_level, warn_since, next_check_at)
    in deal_scan, in id order (neighbouring rows share pages): an UPDATE where the row was there when
    due_rows read it (`known`, a first scan after an import: twice as fast as an upsert on PostgreSQL),
    else an upsert. asked_at is the deal's own next_check_at as due_rows read it: come by `now`, it has been
    answered and is cleared on the deal, unless a change set it again since; still ahead (a snooze's end),
    it stays."""
    known, new, answered = [], [], []
    for deal_id, level, since, check, asked, there in sorted(updates):
        if there:
            known.append((level, since, check, deal_id))
        else:
            new.append((deal_id, level, since, check))
        if asked is not None and asked <= now:
            answered.append((None, deal_id, asked))
    fields = [DealScan.warn_level, DealScan.warn_since, DealScan.next_check_at]
    bulk_update(DealScan, fields, known)
    bulk_upsert(DealScan, [DealScan.deal, *fields], new)
    bulk_update(Deal, [Deal.next_check_at], answered, guard=(Deal.next_check_at,))


def deal_details(ids: list[int]) -> list["LiteDeal"]:
    """Open deals with their customer's name and their owner (a Rep), for the warning messages: plain
    rows (a first scan after an import shows tens of thousands; ORM instances cost seconds). The deals,
    then their customers' names: joined in SQL, PostgreSQL hashes the whole customer table per query."""
    if not ids:
        return []
    rows = []
    for batch in chunked(ids, 20000):
        rows += _driver_rows(*_wide_in(lambda one: Deal.select(*_LITE_DEAL).where(Deal.id.in_(one)), batch))
    names = customer_names(r[-1] for r in rows)
    owners = {}
    for batch in chunked(sorted({r[1] for r in rows}), 1000):
        owners.update({r.id: r for r in Rep.select().where(Rep.id.in_(batch))})
    out = []
    for r in rows:
        d = _lite((*r[:-1], names[r[-1]], None), r[-1])
        d.owner = owners[d.owner_id]
        out.append(d)
    return out


def active_reps() -> list[Rep]:
    return list(Rep.select().where(Rep.active == True).order_by(Rep.id))  # noqa: E712


class Named:
    __slots__ = ("name",)

    def __init__(self, name: str):
        self.name = name


class LiteDeal:
    """An open deal as the daily cards read it: plain attributes, no ORM instance (500k of them load fast).
    `customer` and `owner` are made when read (a card shows a few of a rep's deals)."""
    __slots__ = ("id", "owner_id", "team_id", "stage", "amount", "last_movement_at", "next_step", "next_step_due",
                 "snoozed_until", "customer_name", "owner_name", "_owner", "customer_id")
    status = "open"

    def __init__(self, row, customer_id: int | None = None):
        (self.id, self.owner_id, self.team_id, self.stage, self.amount, self.last_movement_at, self.next_step,
         self.next_step_due, self.snoozed_until, self.customer_name, self.owner_name) = row
        self._owner, self.customer_id = None, customer_id

    @property
    def customer(self) -> Named:
        return Named(self.customer_name)

    @property
    def owner(self):
        return self._owner if self._owner is not None else Named(self.owner_name)

    @owner.setter
    def owner(self, rep) -> None:
        self._owner = rep


_LITE_DEAL = (Deal.id, Deal.owner, Deal.team, Deal.stage, Deal.amount, Deal.last_movement_at, Deal.next_step,
              Deal.next_step_due, Deal.snoozed_until, Deal.customer)


def _lite(row, customer_id: int | None = None) -> LiteDeal:
    d = LiteDeal(row, customer_id)
    if isinstance(d.last_movement_at, str):  # SQLite hands datetimes back as text
        d.last_movement_at = _dt(d.last_movement_at)
        d.next_step_due = _dt(d.next_step_due) if d.next_step_due else None
        d.snoozed_until = _dt(d.snoozed_until) if d.snoozed_until else None
    return d


def open_deal_rows(owners: dict[int, str]) -> dict[int, list[LiteDeal]]:
    """Every open deal of `owners` (id -> name: the active reps), grouped by owner id: one query for all the
    daily cards, of the deal table alone. Each deal knows its customer's id, not the name: a card shows a
    few deals, and customer_names() names those (joined here, 500k lookups cost seconds on SQLite)."""
    q = Deal.select(*_LITE_DEAL).where(Deal.status == "open").tuples()
    out: dict[int, list[LiteDeal]] = {}
    # the driver's rows as they are (peewee's per-value conversion costs seconds at 500k rows)
    cursor = db.obj.execute(q)
    while True:
        rows = cursor.fetchmany(5000)
        if not rows:
            break
        for row in rows:
            name = owners.get(row[1])
            if name is not None:
                out.setdefault(row[1], []).append(_lite((*row[:-1], None, name), row[-1]))
    return out


def customer_names(ids) -> dict[int, str]:
    """{customer id: name} for `ids` (any iterable, repeats allowed), 20,000 per query."""
    names: dict[int, str] = {}
    for batch in chunked(sorted(set(ids)), 20000):
        names.update(_driver_rows(*_wide_in(lambda one: Customer.select(Customer.id, Customer.name)
                                            .where(Customer.id.in_(one)), batch)))
    return names


_dt = datetime.fromisoformat  # SQLite's text of a stored datetime


def high_intent_by_owner() -> dict[int, list[tuple[int, str]]]:
    """{owner id: [(team id, customer name)]} of high-intent customers, best score first."""
    out: dict[int, list[tuple[int, str]]] = {}
    q = (Customer.select(Customer.owner, Customer.team, Customer.name).where(Customer.high_intent == True)  # noqa: E712
         .order_by(Customer.health.desc()).tuples())
    for owner, team, name in q:
        out.setdefault(owner, []).append((team, name))
    return out
