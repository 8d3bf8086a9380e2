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

# Friday 2026-11-27 10:00 in Shanghai
T0 = datetime(2026, 11, 27, 2, 0, tzinfo=timezone.utc)


def _server_url(kind: str) -> str | None:
    """The server's URL with a clean schema, or None when the server cannot be reached."""
    if kind in _ready:
        return _ready[kind]
    from storage.database import open_database
    from storage.models import ALL_MODELS
    url = PG_URL if kind == "postgres" else MYSQL_URL
    try:
        database = open_database(url)
        database.connect()
        database.drop_tables(ALL_MODELS, safe=True, cascade=kind == "postgres") if kind == "postgres" \
            else database.drop_tables(list(reversed(ALL_MODELS)), safe=True)
        database.close()
    except Exception as e:  # noqa: BLE001
        if os.environ.get("BOT_TEST_REQUIRE_ALL_DBS"):
            raise
        print(f"{kind} not available: {e}")
        url = None
    _ready[kind] = url
    return url


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
    config = load_config({"database_url": url, "use_dotenv": False, **cfg}, environ={})
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
