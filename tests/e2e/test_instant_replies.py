"""Instant replies (bot/courier.py): an answer queued in the outbox goes out right after its message's
transaction commits, from the process that queued it; the delivery poll is the safety net, and a row
goes out once either way. DingTalk over HTTP against the loopback fake, on SQLite, PostgreSQL and MariaDB."""
from __future__ import annotations

import threading
import time
from datetime import timedelta, timezone

import pytest

from bot import create_app
from bot.clock import FixedClock
from bot.jobs.deliver import deliver
from storage import outbox
from storage.models import Outbox
from tests.conftest import T0
from tests.e2e.test_dingtalk import APP_KEY, APP_SECRET, ROBOT_CODE, VISIT, count, ding_post, robot_msg, run
from tests.fakes.dingtalk_server import FakeDingTalk
from tests.helpers import small_team


@pytest.fixture
def fake():
    server = FakeDingTalk(APP_KEY, APP_SECRET, ROBOT_CODE).start()
    yield server
    server.stop()


def make_app(db_url, fake, instant: str = "1"):
    cfg = {"database_url": db_url, "use_dotenv": False, "dingtalk_app_key": APP_KEY,
           "dingtalk_app_secret": APP_SECRET, "dingtalk_robot_code": ROBOT_CODE, "dingtalk_api_base": fake.base,
           "bot_public_url": "https://bot.example.com", "bot_instant_replies": instant}
    app = create_app(cfg, clock=FixedClock(T0))
    fake.clock = app.extensions["bot"].clock
    return app


@pytest.fixture
def app(db_url, fake):
    app = make_app(db_url, fake)
    small_team(app.extensions["bot"])
    return app


def wait_for(predicate, seconds: float = 10.0) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.005)
    return predicate()


def test_an_answer_reaches_the_session_webhook_without_the_delivery_poll(app, fake):
    rt, client = app.extensions["bot"], app.test_client()
    assert ding_post(client, rt, robot_msg(rt, fake, "alice", VISIT, "msgI1")).status_code == 200
    assert wait_for(lambda: len(fake.session_msgs) == 1)  # no deliver() was run
    assert "已记录拜访：华联超市" in fake.session_msgs[0]["markdown"]["text"]
    assert rt.courier.idle()
    with rt.database.connection_context():
        row = Outbox.get(Outbox.key == "reply:dingtalk:msgI1:0")
        assert row.status == "sent" and row.attempts == 1
    assert run(rt, deliver, T0 + timedelta(minutes=5))["claimed"] == 0  # the poll finds nothing left
    # a redelivery of the message is answered from the record and sends nothing again
    assert ding_post(client, rt, robot_msg(rt, fake, "alice", VISIT, "msgI1")).status_code == 200
    assert rt.courier.idle() and len(fake.session_msgs) == 1


def test_an_unknown_sender_and_a_picture_are_answered_at_once_too(app, fake):
    rt, client = app.extensions["bot"], app.test_client()
    ding_post(client, rt, robot_msg(rt, fake, "intruder", VISIT, "msgI2"))
    ding_post(client, rt, robot_msg(rt, fake, "alice", "", "msgI3", msgtype="picture"))
    assert wait_for(lambda: len(fake.session_msgs) == 2)
    texts = sorted(m["markdown"]["text"] for m in fake.session_msgs)
    assert any("还没有登记" in t for t in texts) and any("文字" in t for t in texts)


def test_with_instant_replies_off_the_poll_sends_the_answer(db_url, fake):
    app = make_app(db_url, fake, instant="0")
    rt = app.extensions["bot"]
    small_team(rt)
    assert rt.courier is None
    ding_post(app.test_client(), rt, robot_msg(rt, fake, "alice", VISIT, "msgI4"))
    time.sleep(0.2)
    assert fake.session_msgs == []
    assert run(rt, deliver, T0)["sent"] == 1 and len(fake.session_msgs) == 1


def test_a_failed_instant_send_is_retried_by_the_poll(app, fake, monkeypatch, caplog):
    """DingTalk unreachable at the moment of the answer: the row stays pending with its backoff, and
    the poll sends it once DingTalk is back. The log says so in one line, without a traceback (an outage
    would otherwise write one per message and retry)."""
    import logging
    import requests
    from bot.channels import channel_for
    rt, client = app.extensions["bot"], app.test_client()
    http = channel_for("dingtalk", rt).http
    real_post = http.post

    def unreachable(*a, **kw):
        raise requests.ConnectionError("connection refused")

    monkeypatch.setattr(http, "post", unreachable)
    with caplog.at_level(logging.WARNING, logger="bot.jobs.deliver"):
        ding_post(client, rt, robot_msg(rt, fake, "alice", VISIT, "msgI5"))
        assert rt.courier.idle()
    with rt.database.connection_context():
        row = Outbox.get(Outbox.key == "reply:dingtalk:msgI5:0")
    assert row.status == "pending" and row.attempts == 1 and row.next_attempt_at > rt.now()
    failed = [r for r in caplog.records if r.name == "bot.jobs.deliver"]
    assert len(failed) == 1 and failed[0].levelno == logging.WARNING and failed[0].exc_info is None
    assert f"outbox row {row.id}" in failed[0].getMessage() and "connection refused" in failed[0].getMessage()
    assert fake.session_msgs == []
    monkeypatch.setattr(http, "post", real_post)
    tally = run(rt, deliver, row.next_attempt_at.replace(tzinfo=timezone.utc) + timedelta(seconds=1))
    assert tally["sent"] == 1 and len(fake.session_msgs) == 1, (tally, row.next_attempt_at, rt.now())


def test_a_row_held_for_later_is_not_sent_early(app, fake):
    """A row whose next attempt lies ahead (a backoff, or a send window that opens later) stays queued
    even when a courier is asked to send it."""
    rt = app.extensions["bot"]
    with rt.database.connection_context():
        outbox.enqueue("reply:dingtalk:held:0", "dingtalk", "alice", {"template": "help", "data": {}}, rt.now())
        Outbox.update(next_attempt_at=rt.now() + timedelta(hours=8)).where(Outbox.key == "reply:dingtalk:held:0").execute()
    rt.courier.kick(["reply:dingtalk:held:0"])
    assert rt.courier.idle()
    with rt.database.connection_context():
        assert Outbox.get().status == "pending"
    assert fake.oto == [] and fake.session_msgs == []


def test_courier_and_poll_together_send_each_answer_exactly_once(app, fake):
    """30 messages answered while the delivery poll runs in a loop beside the courier (as the scheduler
    process does): every answer arrives exactly once."""
    rt, client = app.extensions["bot"], app.test_client()
    stop = threading.Event()
    polls = []

    def poll():
        while not stop.is_set():
            with rt.database.connection_context():
                polls.append(deliver(rt, rt.now()))

    poller = threading.Thread(target=poll)
    poller.start()
    try:
        for i in range(30):
            assert ding_post(client, rt, robot_msg(rt, fake, ("alice", "bob")[i % 2], "我的客户", f"msgR{i}")).status_code == 200
        assert wait_for(lambda: len(fake.session_msgs) >= 30)
        assert rt.courier.idle()
    finally:
        stop.set()
        poller.join(30)
    time.sleep(0.1)
    assert len(fake.session_msgs) == 30
    assert len({m["session"] for m in fake.session_msgs}) == 30  # one answer per conversation, none twice
    assert count(rt, Outbox, Outbox.status == "sent") == 30
    assert polls  # the poll ran beside the courier all along
