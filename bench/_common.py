"""Shared helpers of the benchmark scripts: argument parsing, fresh databases, bulk loading, figures.

Only the scripts in bench/ import this. Nothing here changes product code: the benchmarks drive the
product through its public functions (Runtime, jobs, the WSGI app) against databases they own:
SQLite files under bench/out/ and the PostgreSQL database `bench` (never `test`).
"""
from __future__ import annotations

import argparse
import http.client
import io
import math
import os
import socket
import sys
import time
from datetime import datetime, timezone
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:  # `python bench/NAME.py` puts bench/ first on the path, not the repo root
    sys.path.insert(0, str(ROOT))
OUT = ROOT / "bench" / "out"
PG_URL = os.environ.get("BENCH_PG_URL", "postgresql://postgres@127.0.0.1:5432/bench")


# -- arguments and databases ------------------------------------------------------------------------

def parser(description: str) -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=description)
    p.add_argument("--db", choices=["sqlite", "postgres", "both"], default="both",
                   help="which database to measure (default: both)")
    p.add_argument("--quick", action="store_true", help="a small smoke run of a few seconds")
    return p


def db_targets(choice: str, name: str) -> list[tuple[str, str]]:
    """[(label, url)] for --db; SQLite files live in bench/out/, PostgreSQL is the `bench` database."""
    OUT.mkdir(parents=True, exist_ok=True)
    out = []
    if choice in ("sqlite", "both"):
        out.append(("sqlite", f"sqlite:///{OUT / (name + '.db')}"))
    if choice in ("postgres", "both"):
        # one database per script (bench_commands, bench_scan): other benchmark scripts use `bench`
        # at the same time, and each starts by dropping the tables of its database
        out.append(("postgres", f"{PG_URL}_{name}"))
    return out


def ensure_pg_database(url: str) -> None:
    """Create the benchmark database when it is missing (connecting to the server's `postgres` db)."""
    import psycopg2
    from playhouse.db_url import parse
    p = parse(url)
    name = p["database"]
    if name in ("test", "postgres", "template0", "template1"):
        raise SystemExit(f"refusing to use PostgreSQL database {name!r} for benchmarks: use a separate one")
    conn = psycopg2.connect(host=p.get("host", "127.0.0.1"), port=p.get("port", 5432),
                            user=p.get("user", "postgres"), dbname="postgres")
    conn.autocommit = True
    try:
        with conn.cursor() as cur:
            cur.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,))
            if cur.fetchone() is None:
                cur.execute(f'CREATE DATABASE "{name}"')
    finally:
        conn.close()


def fresh_database(url: str) -> None:
    """Start from nothing: delete the SQLite file, or drop every table of the PostgreSQL bench db."""
    if url.startswith("sqlite"):
        path = url[len("sqlite:///"):]
        for suffix in ("", "-wal", "-shm", "-journal"):
            try:
                os.remove(path + suffix)
            except FileNotFoundError:
                pass
        return
    ensure_pg_database(url)
    from storage.database import open_database
    from storage.models import ALL_MODELS
    database = open_database(url)
    with database.connection_context():
        database.drop_tables(ALL_MODELS, safe=True, cascade=True)
    database.close()


def make_runtime(url: str, now: datetime):
    """A Runtime on `url` (opened and migrated) whose clock stands at `now` (naive UTC)."""
    from bot.clock import FixedClock
    from bot.config import load_config
    from bot.runtime import Runtime
    config = load_config({"database_url": url, "use_dotenv": False}, environ={})
    return Runtime(config, clock=FixedClock(now.replace(tzinfo=timezone.utc)))


def is_pg(database) -> bool:
    from peewee import PostgresqlDatabase
    return isinstance(database, PostgresqlDatabase)


# -- bulk loading -----------------------------------------------------------------------------------

def next_id(model) -> int:
    from peewee import fn
    return (model.select(fn.MAX(model.id)).scalar() or 0) + 1


def _copy_text(value) -> str:
    if value is None:
        return "\\N"
    if isinstance(value, bool):
        return "t" if value else "f"
    if isinstance(value, datetime):
        return value.isoformat(sep=" ")
    s = str(value)
    if any(c in s for c in "\\\t\n\r"):
        s = s.replace("\\", "\\\\").replace("\t", "\\t").replace("\n", "\\n").replace("\r", "\\r")
    return s


def bulk_insert(database, model, fields: list[str], rows, chunk: int = 20000) -> int:
    """Insert tuples fast: COPY on PostgreSQL, executemany on SQLite (ids are given explicitly).

    Call `fix_sequences` on PostgreSQL afterwards so the product's own inserts get fresh ids.
    """
    meta = model._meta
    table = meta.table_name
    # the model's Python-side defaults for the columns not given (the schema may have grown)
    extra = [f for f in meta.sorted_fields if f.name not in fields and not f.primary_key and f.default is not None]
    columns = [meta.fields[f].column_name for f in fields] + [f.column_name for f in extra]
    if extra:
        tail = tuple(f.default() if callable(f.default) else f.default for f in extra)
        tail = tuple(f.db_value(v) if not isinstance(v, (bool, int, str, datetime)) else v
                     for f, v in zip(extra, tail))
        rows = (tuple(r) + tail for r in rows)
    n = 0
    if is_pg(database):
        conn = database.connection()
        with conn.cursor() as cur:
            buf = io.StringIO()
            count = 0
            for row in rows:
                buf.write("\t".join(_copy_text(v) for v in row))
                buf.write("\n")
                count += 1
                if count >= chunk:
                    buf.seek(0)
                    cur.copy_expert(f'COPY "{table}" ({", ".join(columns)}) FROM STDIN', buf)
                    n += count
                    buf, count = io.StringIO(), 0
            if count:
                buf.seek(0)
                cur.copy_expert(f'COPY "{table}" ({", ".join(columns)}) FROM STDIN', buf)
                n += count
        conn.commit()
        return n
    sql = f'INSERT INTO "{table}" ({", ".join(columns)}) VALUES ({", ".join("?" * len(columns))})'
    cur = database.cursor()
    with database.atomic():
        batch = []
        for row in rows:
            batch.append(row)
            if len(batch) >= chunk:
                cur.executemany(sql, batch)
                n += len(batch)
                batch = []
        if batch:
            cur.executemany(sql, batch)
            n += len(batch)
    return n


def fix_sequences(database, models) -> None:
    """PostgreSQL: move each table's id sequence past the ids inserted explicitly."""
    if not is_pg(database):
        return
    for m in models:
        t = m._meta.table_name
        database.execute_sql(f"SELECT setval(pg_get_serial_sequence('\"{t}\"', 'id'), "
                             f"COALESCE((SELECT MAX(id) FROM \"{t}\"), 0) + 1, false)")


def analyze(database) -> None:
    """PostgreSQL: refresh planner statistics after a bulk load (autovacuum would do it soon anyway).
    SQLite is left as the product leaves it (it never runs ANALYZE)."""
    vacuum(database)


def vacuum(database, label: str = "") -> None:
    """PostgreSQL with autovacuum off (as on this machine's server): VACUUM ANALYZE between phases,
    standing in for the autovacuum a production server runs. Not counted in any figure."""
    if not is_pg(database):
        return
    if database.in_transaction() or database.execute_sql("SHOW autovacuum").fetchone()[0] == "on":
        database.execute_sql("ANALYZE")  # VACUUM cannot run inside a transaction
        return
    t = time.perf_counter()
    database.execute_sql("VACUUM ANALYZE")
    log(f"{label + ': ' if label else ''}VACUUM ANALYZE in {time.perf_counter() - t:.1f} s "
        f"(autovacuum is off on this server; not counted)")


def code_stamp() -> str:
    """The newest product source file and its modification time (others edit the code meanwhile)."""
    newest, name = 0.0, ""
    for d in ("bot", "handlers", "rules", "storage"):
        for p in (ROOT / d).rglob("*"):
            if p.suffix in (".py", ".j2", ".toml") and p.stat().st_mtime > newest:
                newest, name = p.stat().st_mtime, str(p.relative_to(ROOT))
    return f"{name} modified {time.strftime('%H:%M:%S', time.localtime(newest))}"


# -- figures ----------------------------------------------------------------------------------------

def pct(values: list[float], p: float) -> float:
    """The p-th percentile (nearest rank) of `values`; NaN when empty."""
    if not values:
        return float("nan")
    s = sorted(values)
    k = max(0, min(len(s) - 1, math.ceil(p / 100 * len(s)) - 1))
    return s[k]


def fmt(v, digits: int = 2) -> str:
    if isinstance(v, float):
        if math.isnan(v):
            return "-"
        return f"{v:,.{digits}f}"
    if isinstance(v, int):
        return f"{v:,}"
    return str(v)


def table(title: str, headers: list[str], rows: list[list], digits: int = 2) -> str:
    cells = [[fmt(c, digits) for c in r] for r in rows]
    widths = [max(len(h), *(len(r[i]) for r in cells)) if cells else len(h) for i, h in enumerate(headers)]
    line = "+".join("-" * (w + 2) for w in widths)
    out = [f"\n{title}", line,
           " | ".join(h.ljust(w) if i == 0 else h.rjust(w) for i, (h, w) in enumerate(zip(headers, widths))),
           line]
    for r in cells:
        out.append(" | ".join(c.ljust(w) if i == 0 else c.rjust(w) for i, (c, w) in enumerate(zip(r, widths))))
    out.append(line)
    text = "\n".join(out)
    print(text, flush=True)
    return text


def load() -> str:
    """The machine's load average (1, 5 min): other work on these 2 cores skews the figures."""
    a, b, _ = os.getloadavg()
    return f"load avg {a:.2f} / {b:.2f}"


def wait_quiet(limit: float = 1.0, max_wait: float = 60.0) -> None:
    """Wait (at most `max_wait` s) for the 1-minute load average to fall under `limit`, then go on anyway."""
    deadline = time.monotonic() + max_wait
    while os.getloadavg()[0] > limit and time.monotonic() < deadline:
        time.sleep(5)
    log(f"starting: {load()}")


def log(msg: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {msg}", flush=True)


class Stopwatch:
    def __init__(self):
        self.t0 = time.perf_counter()

    @property
    def s(self) -> float:
        return time.perf_counter() - self.t0


class Probe:
    """Time spent in named functions during a run: wraps module attributes, restores them after.

    Used only to explain where a job spends its time; the job itself is the product's code.
    """

    def __init__(self):
        self.stats: dict[str, list[float]] = {}  # label -> [calls, seconds]
        self._saved: list[tuple[object, str, object]] = []

    def wrap(self, module, name: str, label: str | None = None) -> None:
        label = label or f"{module.__name__}.{name}"
        orig = getattr(module, name, None)
        if orig is None:  # the product changed: measure without this probe
            self.stats[f"{label} (not found, not measured)"] = [0, 0.0]
            return
        stat = self.stats.setdefault(label, [0, 0.0])

        def wrapper(*a, **kw):
            t = time.perf_counter()
            try:
                return orig(*a, **kw)
            finally:
                stat[0] += 1
                stat[1] += time.perf_counter() - t

        self._saved.append((module, name, orig))
        setattr(module, name, wrapper)

    def reset(self) -> None:
        for v in self.stats.values():
            v[0], v[1] = 0, 0.0

    def restore(self) -> None:
        for module, name, orig in reversed(self._saved):
            setattr(module, name, orig)
        self._saved.clear()

    def rows(self) -> list[list]:
        return [[label, int(c), s, (s / c * 1000) if c else float("nan")]
                for label, (c, s) in self.stats.items() if c]


def free_port() -> int:
    """A loopback port nobody listens on now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def healthy(port: int) -> bool:
    """Whether the bot on this loopback port answers /healthz with 200."""
    try:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
        conn.request("GET", "/healthz")
        r = conn.getresponse()
        r.read()
        conn.close()
        return r.status == 200
    except OSError:
        return False


def wait_healthy(port: int, timeout: float = 20.0) -> bool:
    """Wait until the bot on this port answers /healthz; False when it did not within `timeout`."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if healthy(port):
            return True
        time.sleep(0.2)
    return False
