"""POST /api/events: signed batches from other systems feed the health score (all three databases)."""
from __future__ import annotations

import json
import time

import pytest

from bot import create_app
from bot.api import sign
from bot.clock import FixedClock
from bot.jobs.health import health
from storage.models import Activity, Customer, Ticket
from tests.conftest import T0
from tests.helpers import Chat, deal_of, small_team

SECRET = "api-s3cret"


@pytest.fixture
def app(db_url):
    app = create_app({"database_url": db_url, "use_dotenv": False, "bot_api_secret": SECRET},
                     clock=FixedClock(T0))
    small_team(app.extensions["bot"])
    return app


@pytest.fixture
def rt(app):
    return app.extensions["bot"]


def post(client, events, ts=None, secret=SECRET, body=None):
    ts = str(int(T0.timestamp()) if ts is None else ts)
    body = body if body is not None else json.dumps({"events": events}).encode()
    return client.post("/api/events", data=body, content_type="application/json",
                       headers={"X-Bot-Timestamp": ts, "X-Bot-Signature": sign(secret, ts, body)})


def test_events_feed_the_score_and_a_retried_batch_counts_once(app, rt):
    client = app.test_client()
    events = [
        {"id": "doc-1", "type": "doc_open", "customer": "华联超市", "at": "2026-11-27T09:00:00+08:00"},
        {"id": "doc-2", "type": "doc_open", "customer": "华联超市", "at": "2026-11-27T09:30:00+08:00"},
        {"id": "t-1", "type": "ticket_opened", "customer": "华联超市", "ticket_id": "OA-77",
         "at": "2026-11-26T10:00:00+08:00"},
        {"id": "t-2", "type": "ticket_answered", "customer": "华联超市", "ticket_id": "OA-77",
         "at": "2026-11-26T12:00:00+08:00"},
        {"id": "call-1", "type": "call", "customer": "华联超市", "contact": "王总", "title": "采购总监",
         "text": "电话沟通报价", "at": "2026-11-27T09:45:00+08:00"},
        {"id": "x-1", "type": "doc_open", "customer": "不存在的客户"},
        {"id": "x-2", "type": "teleport", "customer": "华联超市"},
    ]
    r = post(client, events)
    assert r.status_code == 200
    status = {x["id"]: x["status"] for x in r.get_json()["results"]}
    assert status == {"doc-1": "ok", "doc-2": "ok", "t-1": "ok", "t-2": "ok", "call-1": "ok", "x-1": "error",
                      "x-2": "error"}
    assert "未知客户" in r.get_json()["results"][5]["error"]
    # the same batch again (a retry, so a new timestamp and signature): nothing counted twice
    again = post(client, events, ts=int(T0.timestamp()) + 1).get_json()["results"]
    assert [x["status"] for x in again[:5]] == ["duplicate"] * 5
    with rt.database.connection_context():
        assert Activity.select().where(Activity.kind == "doc_open").count() == 2
        ticket = Ticket.get()
        assert (ticket.answered_at - ticket.opened_at).total_seconds() == 7200
        health(rt, rt.now(), force=True)
        c = Customer.get(Customer.name == "华联超市")
        other = Customer.get(Customer.name == "永辉超市")
        assert c.health > other.health
    text = Chat(rt).say("alice", "客户 华联超市")
    assert "方案文档打开 10/15" in text and "决策人互动 12/25" in text and "内部协同速度 30/30" in text


def test_a_document_open_is_not_the_reps_movement(app, rt):
    before = deal_of(rt, "华联超市").last_movement_at
    post(app.test_client(), [{"id": "d", "type": "doc_open", "customer": "华联超市"}])
    assert deal_of(rt, "华联超市").last_movement_at == before


@pytest.mark.parametrize("case, status", [("stale", 401), ("forged", 401), ("replay", 409), ("not_json", 400),
                                          ("too_many", 413), ("empty", 400)])
def test_bad_requests_are_refused_and_change_nothing(app, rt, case, status):
    client = app.test_client()
    one = [{"id": "e1", "type": "doc_open", "customer": "华联超市"}]
    if case == "stale":
        r = post(client, one, ts=int(T0.timestamp()) - 600)
    elif case == "forged":
        r = post(client, one, secret="wrong")
    elif case == "replay":
        assert post(client, one).status_code == 200
        r = post(client, one)
    elif case == "not_json":
        r = post(client, None, body=b"nope")
    elif case == "too_many":
        r = post(client, [{"id": f"e{i}", "type": "doc_open", "customer": "华联超市"} for i in range(1001)])
    else:
        r = post(client, [])
    assert r.status_code == status and r.get_json()["error"]
    with rt.database.connection_context():
        assert Activity.select().count() == (1 if case == "replay" else 0)


def test_openapi_description(app):
    spec = app.test_client().get("/api/openapi.json").get_json()
    assert "/api/events" in spec["paths"] and spec["openapi"].startswith("3.")


def test_api_off_without_a_secret(db_url):
    app = create_app({"database_url": db_url, "use_dotenv": False}, clock=FixedClock(T0))
    assert app.test_client().post("/api/events", data=b"{}").status_code == 404
