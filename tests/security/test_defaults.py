"""Production defaults: what lets anyone act as anyone is off unless asked for, and cannot be asked
for beside a real chat tool; the signing key and the SQLite file are readable by the bot's user only."""
from __future__ import annotations

import os
import re
import stat
from pathlib import Path

import pytest

from bot import create_app
from bot.clock import FixedClock
from bot.config import ConfigError, load_config
from storage.models import KeyValue, Outbox, SchemaVersion
from tests.conftest import T0, make_runtime
from tests.helpers import small_team

ROOT = Path(__file__).resolve().parents[2]
WECOM = {"wecom_corp_id": "wx49f0ab532d5d035a", "wecom_agent_id": "1000002", "wecom_secret": "s3cret-wecom",
         "wecom_token": "123456", "wecom_aes_key": "kWxPEV2UEDyxWpmPdKC3F4dgPDmOvfKX1HGnEUDS1aR"}
DINGTALK = {"dingtalk_app_key": "dingappkey01", "dingtalk_app_secret": "app-secret-for-tests",
            "dingtalk_robot_code": "dingappkey01"}


def test_the_local_channel_is_off_unless_asked_for(sqlite_url):
    app = create_app({"database_url": sqlite_url, "use_dotenv": False}, clock=FixedClock(T0))
    small_team(app.extensions["bot"])
    c = app.test_client()
    assert c.post("/local/messages", json={"user": "boss", "text": "我的客户"}).status_code == 404
    assert c.get("/local/outbox?to=boss&limit=-1").status_code == 404
    assert c.get("/simulator").status_code == 404
    assert "local" not in c.get("/healthz").get_json()["channels"]


@pytest.mark.parametrize("tool", [WECOM, DINGTALK], ids=["wecom", "dingtalk"])
@pytest.mark.parametrize("key", ["BOT_LOCAL_CHANNEL", "BOT_DEMO_LOGIN", "BOT_SIMULATOR"])
def test_demo_features_beside_a_chat_tool_stop_start_up_naming_the_variable(sqlite_url, tool, key):
    with pytest.raises(ConfigError, match=key):
        load_config({"database_url": sqlite_url, "use_dotenv": False, **tool, key.lower(): "1"}, environ={})
    with pytest.raises(ConfigError, match=key):  # also from the environment, as gunicorn starts it
        load_config({"use_dotenv": False}, environ={"DATABASE_URL": sqlite_url, key: "true",
                                                    **{k.upper(): v for k, v in tool.items()}})
    load_config({"database_url": sqlite_url, "use_dotenv": False, **tool, key.lower(): "0"}, environ={})


def test_the_cli_refuses_to_start_naming_the_variable(sqlite_url, monkeypatch, capsys):
    from bot.cli import main
    for k, v in {**WECOM, "database_url": sqlite_url, "bot_demo_login": "1"}.items():
        monkeypatch.setenv(k.upper(), v)
    monkeypatch.chdir(os.path.dirname(sqlite_url[len("sqlite:///"):]))  # no .env of the worktree
    assert main(["initdb"]) == 2
    assert "BOT_DEMO_LOGIN" in capsys.readouterr().err


def test_make_run_turns_on_what_the_demo_needs(sqlite_url):
    """`make run` serves the demo: the README's curl to /local/messages, the demo login, the simulator."""
    line = next(line for line in (ROOT / "Makefile").read_text().splitlines() if "bot serve" in line)
    env = dict(re.findall(r"\b(BOT_[A-Z_]+)=(\S+)", line))
    cfg = load_config({"use_dotenv": False}, environ={"DATABASE_URL": sqlite_url, **env})
    assert cfg.channel_on("local") and cfg.flag("BOT_DEMO_LOGIN") and cfg.flag("BOT_SIMULATOR")
    readme = (ROOT / "README.md").read_text()
    assert "curl -s localhost:8000/local/messages" in readme
    app = create_app({"database_url": sqlite_url, "use_dotenv": False, **{k.lower(): v for k, v in env.items()}},
                     clock=FixedClock(T0))
    small_team(app.extensions["bot"])
    r = app.test_client().post("/local/messages", json={"user": "alice", "text": "拜访 华联超市 见了王总"})
    assert r.status_code == 200 and "已记录拜访" in r.get_json()["replies"][0]["text"]


def _mode(path) -> int:
    return stat.S_IMODE(os.stat(path).st_mode)


def test_the_sqlite_file_and_its_companions_are_private(tmp_path):
    old = os.umask(0o022)
    try:
        rt = make_runtime(f"sqlite:///{tmp_path}/bot.db", FixedClock(T0))
        with rt.database.connection_context():  # open while written: the lock file and the WAL exist
            small_team(rt)
            for name in ("bot.db", "bot.db.lock", "bot.db-wal", "bot.db-shm"):
                assert _mode(tmp_path / name) == 0o600, name
    finally:
        os.umask(old)


def test_the_generated_signing_key_is_in_a_private_file_not_the_database(db_url, tmp_path):
    from bot.links import make_token, read_token, secret_key
    key_file = tmp_path / "keys" / "secret_key"
    rt = make_runtime(db_url, FixedClock(T0), bot_secret_key_file=str(key_file), **DINGTALK)
    token = make_token(rt, "alice", "followup:1:1")
    key = secret_key(rt)
    assert key_file.read_text() == key and _mode(key_file) == 0o600 and len(key) >= 32
    with rt.database.connection_context():
        assert not KeyValue.select().where(KeyValue.value.contains(key)).exists()
    other = make_runtime(db_url, FixedClock(T0), bot_secret_key_file=str(key_file), **DINGTALK)  # another process
    assert read_token(other, token) == ("alice", "followup:1:1")


def test_migration_30_scrubs_secrets_from_a_version_1_database(db_url):
    from storage.database import migrate_database, open_database
    rt = make_runtime(db_url, FixedClock(T0))
    now = rt.now()
    with rt.database.connection_context():
        leaked = ("ConnectionError: HTTPConnectionPool(host='127.0.0.1', port=1): Max retries exceeded with url: "
                  "/cgi-bin/gettoken?corpid=wx49f0ab532d5d035a&corpsecret=TOPSECRET (Caused by X)")
        Outbox.insert(key="k1", channel="wecom", recipient="alice", payload="{}", status="failed", attempts=8,
                      next_attempt_at=now, created_at=now, last_error=leaked).execute()
        Outbox.insert(key="k2", channel="wecom", recipient="bob", payload="{}", status="failed", attempts=8,
                      next_attempt_at=now, created_at=now, last_error="errcode 60020: not allow to access").execute()
        KeyValue.insert(key="links:secret-key", value="the-old-key", updated_at=now).execute()
        SchemaVersion.update(version=1).execute()
    database = open_database(db_url)
    assert migrate_database(database) >= 30
    with database.connection_context():
        errors = dict(Outbox.select(Outbox.key, Outbox.last_error).tuples())
        assert "TOPSECRET" not in errors["k1"] and "/cgi-bin/gettoken?***" in errors["k1"]
        assert errors["k2"] == "errcode 60020: not allow to access"
        assert not KeyValue.select().where(KeyValue.key == "links:secret-key").exists()
