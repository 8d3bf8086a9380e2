"""Shared fixtures: a database on SQLite, PostgreSQL and MariaDB; an app and a runtime per test.

PostgreSQL and MariaDB run on this machine (and in CI, where .ci/run starts them if needed). Where
one is missing, its tests are skipped locally and fail in CI (BOT_TEST_REQUIRE_ALL_DBS=1).
"""
from __future__ import annotations

import os
from datetime import datetime, timezone

import pytest

from bot.clock import FixedClock

PG_URL = os.environ.get("BOT_TEST_PG_URL", "postgresql://postgres@127.0.0.1:5432/test")
MYSQL_URL = os.environ.get("BOT_TEST_MYSQL_URL", "mysql://root@127.0.0.1:3306/test")
DB_PARAMS = ["sqlite", "postgres", "mysql"]
_ready: dict[str, str | None] = {}

# The tests drive delivery themselves (`deliver` at the instants they choose), so the instant replies of
# bot/courier.py are off unless a test turns them on (tests/e2e/test_instant_replies.py).
os.environ.setdefault("BOT_INSTANT_REPLIES", "0")

# Friday 2026-11-27 10:00 in Shanghai
T0 = datetime(2026, 11, 27, 2, 0, tzinfo=timezone.utc)


def _server_url(kind: str) -> str | None:
    """A database of this test run's own on the server (so parallel runs do not meet), or None when
    the server cannot be reached."""
    if kind in _ready:
        return _ready[kind]
    base = PG_URL if kind == "postgres" else MYSQL_URL
    name = f"bot_test_{os.getpid()}"
    try:
        _admin(base, f"DROP DATABASE IF EXISTS {name}")
        _admin(base, f"CREATE DATABASE {name}" + (" CHARACTER SET utf8mb4" if kind == "mysql" else ""))
        url = base.rsplit("/", 1)[0] + "/" + name
        _created.append((base, name))
    except Exception as e:  # noqa: BLE001
        if os.environ.get("BOT_TEST_REQUIRE_ALL_DBS"):
            raise
        print(f"{kind} not available: {e}")
        url = None
    _ready[kind] = url
    return url


_created: list[tuple[str, str]] = []


def _admin(base_url: str, sql: str) -> None:
    from playhouse.db_url import connect
    database = connect(base_url)
    database.connect()
    if base_url.startswith("postgres"):
        database.connection().autocommit = True
    try:
        database.execute_sql(sql)
    finally:
        database.close()


@pytest.fixture(scope="session", autouse=True)
def _drop_test_databases():
    yield
    for base, name in _created:
        try:
            _admin(base, f"DROP DATABASE IF EXISTS {name}")
        except Exception:  # noqa: BLE001
            pass


def reset_server_db(url: str) -> None:
    """Empty every table (faster than dropping them) on a server database."""
    from storage.database import migrate_database, open_database
    from storage.models import ALL_MODELS, SchemaVersion
    database = open_database(url)
    migrate_database(database)
    with database.connection_context():
        if url.startswith("postgres"):
            names = ", ".join(m._meta.table_name for m in ALL_MODELS if m is not SchemaVersion)
            database.execute_sql(f"TRUNCATE {names} RESTART IDENTITY CASCADE")
        else:
            database.execute_sql("SET FOREIGN_KEY_CHECKS=0")
            for m in ALL_MODELS:
                if m is not SchemaVersion:
                    database.execute_sql(f"TRUNCATE TABLE `{m._meta.table_name}`")
            database.execute_sql("SET FOREIGN_KEY_CHECKS=1")


@pytest.fixture(params=DB_PARAMS)
def db_url(request, tmp_path) -> str:
    """A fresh, empty database on each of the three engines."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path}/bot.db"
    url = _server_url(request.param)
    if url is None:
        pytest.skip(f"{request.param} is not running")
    reset_server_db(url)
    return url


@pytest.fixture
def sqlite_url(tmp_path) -> str:
    return f"sqlite:///{tmp_path}/bot.db"


@pytest.fixture
def clock() -> FixedClock:
    return FixedClock(T0)


def make_runtime(url: str, clock, **cfg):
    from bot.config import load_config
    from bot.runtime import Runtime
    config = load_config({"database_url": url, "use_dotenv": False, "bot_instant_replies": "0", **cfg}, environ={})
    return Runtime(config, clock=clock)


@pytest.fixture
def runtime(sqlite_url, clock):
    """A runtime on SQLite with the demo team loaded."""
    from bot.demo import load_demo
    rt = make_runtime(sqlite_url, clock)
    with rt.database.connection_context():
        load_demo(rt.funnel, rt.now())
    return rt


@pytest.fixture
def empty_runtime(sqlite_url, clock):
    return make_runtime(sqlite_url, clock)
