"""End to end through HTTP (the local channel), on SQLite, PostgreSQL and MariaDB."""
from __future__ import annotations

import pytest

from bot import create_app
from bot.clock import FixedClock
from storage.models import Activity, Deal
from tests.conftest import T0
from tests.helpers import small_team


@pytest.fixture
def app(db_url):
    app = create_app({"database_url": db_url, "use_dotenv": False, "bot_local_channel": "1"}, clock=FixedClock(T0))
    small_team(app.extensions["bot"])
    return app


@pytest.fixture
def client(app):
    return app.test_client()


def post(client, **body):
    return client.post("/local/messages", json=body)


def test_healthz(client):
    r = client.get("/healthz")
    assert r.status_code == 200 and r.get_json()["ok"] is True and "local" in r.get_json()["channels"]


def test_a_rep_logs_a_visit_and_moves_the_deal(client, app):
    r = post(client, user="alice", text="拜访 华联超市 见了采购总监王总,聊了Q4陈列,下一步周五前发方案")
    assert r.status_code == 200
    body = r.get_json()
    assert "已记录拜访：华联超市" in body["replies"][0]["text"]
    assert body["understood"]["decision_maker"] is True and body["understood"]["due"] == "2026-11-27"
    text = post(client, user="alice", text="需求 华联超市 冷柜陈列").get_json()["replies"][0]["text"]
    assert "已记录需求" in text
    text = post(client, user="alice", text="推进 华联超市 决策链识别").get_json()["replies"][0]["text"]
    assert "初步接触 → 决策链识别" in text
    rt = app.extensions["bot"]
    with rt.database.connection_context():
        assert Deal.get(Deal.stage == "decision_chain").customer.name == "华联超市"


def test_chinese_and_emoji_survive_the_database(client, app):
    post(client, user="alice", text="拜访 华联超市 客户很满意😀,下一步明天送样品🍺")
    text = post(client, user="alice", text="客户 华联超市").get_json()["replies"][0]["text"]
    assert "😀" in text


def test_retried_message_is_answered_once_executed_once(client, app):
    body = dict(user="alice", text="拜访 华联超市 见了王总", id="wx-msg-1")
    replies = [post(client, **body).get_json() for _ in range(4)]
    assert [r["duplicate"] for r in replies] == [False, True, True, True]
    assert len({r["replies"][0]["text"] for r in replies}) == 1
    rt = app.extensions["bot"]
    with rt.database.connection_context():
        assert Activity.select().count() == 1


def test_rep_touching_another_reps_deal(client, app):
    text = post(client, user="bob", text="输单 华联超市 原因:价格").get_json()["replies"][0]["text"]
    assert "王磊 负责" in text
    rt = app.extensions["bot"]
    with rt.database.connection_context():
        assert Deal.select().where(Deal.status == "open").count() == 3


def test_unknown_user(client):
    text = post(client, user="nobody", text="我的客户").get_json()["replies"][0]["text"]
    assert "还没有登记" in text


@pytest.mark.parametrize("data, content_type", [
    ("not json", "application/json"),
    ("[1, 2]", "application/json"),
    ('{"text": "帮助"}', "application/json"),
    ('{"user": "alice"}', "application/json"),
    ('{"user": "alice", "text": 5}', "application/json"),
    ('{"user": "alice", "text": "a", "action": "b"}', "application/json"),
])
def test_malformed_requests_get_400_and_write_nothing(client, app, data, content_type):
    r = client.post("/local/messages", data=data, content_type=content_type)
    assert r.status_code == 400 and r.get_json()["error"]
    rt = app.extensions["bot"]
    with rt.database.connection_context():
        assert Activity.select().count() == 0


def test_body_over_64kb_is_refused(client):
    r = client.post("/local/messages", data=b'{"user": "alice", "text": "' + b"x" * 70000 + b'"}',
                    content_type="application/json")
    assert r.status_code == 413


def test_outbox_shows_what_the_group_was_sent(client, app):
    post(client, user="alice", text="输单 华联便利店 原因:预算取消")
    from bot.jobs.deliver import deliver
    rt = app.extensions["bot"]
    with rt.database.connection_context():
        deliver(rt, rt.now())
    msgs = client.get("/local/outbox?to=mgr").get_json()["messages"]
    assert len(msgs) == 1 and msgs[0]["status"] == "sent"
    assert "输单「华联便利店」" in msgs[0]["text"] and "预算取消" in msgs[0]["text"]
    assert client.get("/local/outbox").status_code == 400


def test_button_action_through_http(client, app, db_url):
    from bot.jobs.scan import scan
    rt = app.extensions["bot"]
    rt.clock.set(T0.replace(month=12, day=2))  # Wednesday: three working days (72 h) of silence
    with rt.database.connection_context():
        scan(rt, rt.now())
    msgs = client.get("/local/outbox?to=alice").get_json()["messages"]
    assert len(msgs) == 1 and "橙色" in msgs[0]["text"]
    follow = next(b for b in msgs[0]["buttons"] if "已跟进" in b["label"])
    first = post(client, user="alice", action=follow["action"]).get_json()
    assert "已记录跟进" in first["replies"][0]["text"]
    again = post(client, user="alice", action=follow["action"]).get_json()
    assert "已经处理过" in again["replies"][0]["text"]
    note = post(client, user="alice", text="电话确认下周二拜访").get_json()
    assert "已补充" in note["replies"][0]["text"]
    with rt.database.connection_context():
        assert Activity.select().where(Activity.text == "电话确认下周二拜访").count() == 1
