"""DingTalk (钉钉) end to end: robot callbacks signed exactly as DingTalk signs them, posted to the Flask app
(HTTP mode) or fed to the Stream-mode handler through the dingtalk-stream SDK's own message classes and
a loopback WebSocket; sending against a loopback fake of the DingTalk APIs (tests/fakes/dingtalk_server.py).
Every test runs on SQLite, PostgreSQL and MariaDB."""
from __future__ import annotations

import asyncio
import itertools
import json
import logging
import re
import threading
from datetime import timedelta
from urllib.parse import urlsplit

import dingtalk_stream
import pytest
from dingtalk_stream import AckMessage, CallbackMessage, ChatbotMessage

from bot import create_app
from bot.channels.dingtalk.sign import sign
from bot.channels.dingtalk.sign import signed_webhook
from bot.channels.dingtalk.stream import FunnelChatbotHandler, stream_client
from bot.clock import FixedClock
from bot.jobs.daily import daily
from bot.jobs.deliver import deliver
from bot.jobs.scan import scan
from storage import outbox, people
from storage.models import Activity, InboundMessage, KeyValue, Outbox
from tests.conftest import T0
from tests.fakes.dingtalk_server import FakeDingTalk, dingtalk_sign
from tests.helpers import small_team

APP_KEY, APP_SECRET = "dingappkey01", "app-secret-for-tests"
ROBOT_CODE = APP_KEY
GROUP_TOKEN, GROUP_SECRET = "group-robot-token", "SECgroup0secret"
PUBLIC = "https://bot.example.com"
VISIT = "拜访 华联超市 见了采购总监王总,下一步周五前发方案"


@pytest.fixture
def fake():
    server = FakeDingTalk(APP_KEY, APP_SECRET, ROBOT_CODE).start()
    yield server
    server.stop()


@pytest.fixture
def app(db_url, fake):
    cfg = {"database_url": db_url, "use_dotenv": False, "dingtalk_app_key": APP_KEY,
           "dingtalk_app_secret": APP_SECRET, "dingtalk_robot_code": ROBOT_CODE, "dingtalk_api_base": fake.base,
           "bot_public_url": PUBLIC, "bot_secret_key": "", "dingtalk_mode": "http"}
    app = create_app(cfg, clock=FixedClock(T0))
    rt = app.extensions["bot"]
    fake.clock = rt.clock  # the fake checks signs and expiries at the test's instant
    small_team(rt)
    with rt.database.connection_context():
        team = people.ensure_team("东区")
        people.upsert_group(team, "manager", "mgr", "东区主管群",
                            dingtalk_webhook=fake.add_robot(GROUP_TOKEN, GROUP_SECRET), dingtalk_secret=GROUP_SECRET)
    return app


@pytest.fixture
def rt(app):
    return app.extensions["bot"]


@pytest.fixture
def client(app):
    return app.test_client()


def ms(dt) -> int:
    return int(dt.timestamp() * 1000)


def robot_msg(rt, fake, staff: str, text: str, msg_id: str, group: bool = False,
              session_for=timedelta(minutes=90), msgtype: str = "text") -> dict:
    """A robot callback body as DingTalk sends it (HTTP body = Stream data)."""
    now = ms(rt.clock.now())
    expires = now + int(session_for.total_seconds() * 1000)
    body = {"msgtype": msgtype, "msgId": msg_id, "createAt": now,
            "conversationType": "2" if group else "1",
            "conversationId": "cidGroupEast==" if group else f"cid{staff}==",
            "conversationTitle": "东区销售群" if group else "", "senderId": f"$:LWCP_v1:${staff}",
            "senderStaffId": staff, "senderNick": staff, "senderCorpId": "dingcorp", "chatbotCorpId": "dingcorp",
            "chatbotUserId": "$:LWCP_v1:$robot", "robotCode": ROBOT_CODE, "isAdmin": False,
            "sessionWebhook": fake.session(expires), "sessionWebhookExpiredTime": expires,
            "isInAtList": group, "atUsers": [{"dingtalkId": "$:LWCP_v1:$robot"}] if group else []}
    if msgtype == "text":
        body["text"] = {"content": text}
    else:
        body["content"] = {"downloadCode": "dl-1", "pictureDownloadCode": "pdl-1"}
    return body


_stamps = itertools.count()  # DingTalk's timestamp is the request's millisecond: one per request


def ding_post(client, rt, body=None, ts: str | None = None, sign_value: str | None = None, raw: bytes | None = None):
    ts = ts or str(ms(rt.clock.now()) + next(_stamps))
    data = raw if raw is not None else json.dumps(body, ensure_ascii=False).encode()
    return client.post("/dingtalk/callback", data=data, content_type="application/json",
                       headers={"timestamp": ts, "sign": sign_value or dingtalk_sign(ts, APP_SECRET)})


def run(rt, job, now):
    rt.clock.set(now)
    with rt.database.connection_context():
        return job(rt, rt.now())


def count(rt, model, *where) -> int:
    with rt.database.connection_context():
        q = model.select()
        for w in where:
            q = q.where(w)
        return q.count()


def nothing_written(rt) -> bool:
    return (count(rt, InboundMessage) == 0 and count(rt, Activity) == 0 and count(rt, Outbox) == 0
            and count(rt, KeyValue, KeyValue.key.startswith("dingtalk:session:")) == 0)


def card_links(param: dict) -> dict[str, str]:
    """{button label: URL} of an OpenAPI sampleActionCard* message (buttons and links in the text)."""
    links = {param[k]: param[k.replace("actionTitle", "actionURL")] for k in param if k.startswith("actionTitle")}
    if "singleTitle" in param:
        links[param["singleTitle"]] = param["singleURL"]
    links.update({label: url for label, url in re.findall(r"\[([^\]]+)\]\(([^)]+)\)", param["text"])})
    return links


def action_links_for(rt, rep: str, action: str) -> str:
    from bot.links import action_links
    from handlers.messages import Button, Reply
    ((_, url),) = action_links(Reply("task_card", {}, [Button("x", action)]), rep, rt)
    return url


def path_of(url: str) -> str:
    assert url.startswith(PUBLIC + "/a/")
    return urlsplit(url).path


# --- signs -----------------------------------------------------------------------------------------

def test_sign_matches_the_computed_example_in_the_protocol_notes():
    assert sign("1577262236757", "this is secret") == "hmPWwU+7lVdm3ZZz0r9tSfx0L4Q26jWOZr9+Gs6EZQM="
    url = signed_webhook("https://oapi.dingtalk.com/robot/send?access_token=T", "this is secret", 1577262236757)
    assert url == ("https://oapi.dingtalk.com/robot/send?access_token=T&timestamp=1577262236757"
                   "&sign=hmPWwU%2B7lVdm3ZZz0r9tSfx0L4Q26jWOZr9%2BGs6EZQM%3D")


# --- HTTP mode ---------------------------------------------------------------------------------------

def test_rep_logs_a_visit_from_a_one_to_one_chat(client, rt, fake):
    r = ding_post(client, rt, robot_msg(rt, fake, "alice", VISIT, "msgA1"))
    assert r.status_code == 200 and r.get_json() == {}
    assert count(rt, Activity) == 1
    assert fake.session_msgs == [] and fake.requests == []  # the request waited on nothing
    assert run(rt, deliver, T0)["sent"] == 1
    (msg,) = fake.session_msgs
    assert msg["msgtype"] == "markdown" and "已记录拜访：华联超市" in msg["markdown"]["text"]
    assert "王总" in msg["markdown"]["text"] and "at" not in msg


def visit_logged(client, rt, fake, body) -> dict:
    """Post a callback carrying the VISIT text; the visit is logged and its answer delivered (returned)."""
    assert ding_post(client, rt, body).status_code == 200
    with rt.database.connection_context():
        assert Activity.get().text.startswith("见了采购总监王总")
    run(rt, deliver, T0)
    (msg,) = fake.session_msgs
    assert "已记录拜访：华联超市" in msg["markdown"]["text"]
    return msg


def test_a_visit_typed_around_a_photo_is_logged(client, rt, fake):
    """A rich-text message (text, a photo, more text): its text parts are read as one message."""
    body = robot_msg(rt, fake, "alice", "", "msgR1", msgtype="richText")
    body["content"] = {"richText": [{"text": "拜访 华联超市"}, {"pictureDownloadCode": "pdl-2", "type": "picture"},
                                    {"text": "见了采购总监王总,下一步周五前发方案"}]}
    visit_logged(client, rt, fake, body)


def test_a_visit_spoken_as_a_voice_message_is_logged(client, rt, fake):
    """DingTalk recognises a voice message's words (content.recognition): they are the command; a
    voice message it could not recognise gets the short answer."""
    body = robot_msg(rt, fake, "alice", "", "msgV1", msgtype="audio")
    body["content"] = {"duration": 4200, "downloadCode": "dl-3", "recognition": "拜访华联超市 见了采购总监王总"}
    assert ding_post(client, rt, body).status_code == 200
    mute = robot_msg(rt, fake, "alice", "", "msgV2", msgtype="audio")
    mute["content"] = {"duration": 900, "downloadCode": "dl-4", "recognition": ""}
    assert ding_post(client, rt, mute).status_code == 200
    with rt.database.connection_context():
        assert Activity.get().text.startswith("见了采购总监王总")
    run(rt, deliver, T0)
    texts = [m["markdown"]["text"] for m in fake.session_msgs]
    assert len(texts) == 2 and "已记录拜访：华联超市" in texts[0] and "文字" in texts[1]


def test_rep_logs_a_visit_from_a_group_at_mention(client, rt, fake):
    body = robot_msg(rt, fake, "alice", "@销售助手\u2005" + VISIT, "msgG1", group=True)
    msg = visit_logged(client, rt, fake, body)
    assert msg["at"]["atUserIds"] == ["alice"]  # the answer in the group @-mentions the sender


def test_the_same_msg_id_delivered_three_times_is_one_activity(client, rt, fake):
    body = robot_msg(rt, fake, "alice", VISIT, "msgDup")
    for _ in range(3):
        assert ding_post(client, rt, body).status_code == 200
    assert count(rt, Activity) == 1 and count(rt, InboundMessage) == 1 and count(rt, Outbox) == 1
    run(rt, deliver, T0)
    assert len(fake.session_msgs) == 1


@pytest.mark.parametrize("case", ["forged_sign", "stale_timestamp", "future_timestamp", "no_sign", "not_json",
                                  "no_msg_id", "no_sender", "no_text", "not_an_object", "too_big"])
def test_bad_callbacks_get_4xx_write_nothing_and_say_why(client, rt, fake, caplog, case):
    caplog.set_level(logging.WARNING, logger="bot.channels.dingtalk")
    body = robot_msg(rt, fake, "alice", VISIT, "msgBad")
    now = ms(rt.clock.now())
    why = {"forged_sign": "wrong sign", "stale_timestamp": "stale timestamp", "future_timestamp": "stale timestamp",
           "no_sign": "missing timestamp or sign", "not_json": "not JSON", "no_msg_id": "msgId",
           "no_sender": "senderStaffId", "no_text": "text.content", "not_an_object": "not a JSON object",
           "too_big": "64 KB"}[case]
    if case == "forged_sign":
        r = ding_post(client, rt, body, sign_value=dingtalk_sign(str(now), "not-the-app-secret"))
    elif case == "stale_timestamp":  # correctly signed, but 61 minutes old
        r = ding_post(client, rt, body, ts=str(now - 61 * 60 * 1000))
    elif case == "future_timestamp":
        r = ding_post(client, rt, body, ts=str(now + 61 * 60 * 1000))
    elif case == "no_sign":
        r = client.post("/dingtalk/callback", json=body)
    elif case == "not_json":
        r = ding_post(client, rt, raw=b"<xml>not json</xml>")
    elif case == "not_an_object":
        r = ding_post(client, rt, raw=b"[1, 2]")
    elif case == "too_big":
        body["text"]["content"] = "拜" * 30000
        r = ding_post(client, rt, body)
    else:
        if case == "no_text":
            body["text"] = {}
        else:
            del body["msgId" if case == "no_msg_id" else "senderStaffId"]
            if case == "no_sender":  # no sender at all (without senderStaffId alone the message is answered)
                del body["senderId"]
        r = ding_post(client, rt, body)
    assert 400 <= r.status_code < 500, r.status_code
    assert nothing_written(rt)
    assert any("dingtalk" in rec.getMessage() and "rejected" in rec.getMessage() and why in rec.getMessage()
               for rec in caplog.records), [rec.getMessage() for rec in caplog.records]


def test_unknown_staff_id_is_told_so_and_nothing_is_logged(client, rt, fake):
    assert ding_post(client, rt, robot_msg(rt, fake, "intruder", VISIT, "msgX")).status_code == 200
    assert count(rt, Activity) == 0
    run(rt, deliver, T0)
    (msg,) = fake.session_msgs
    assert "还没有登记" in msg["markdown"]["text"] and "intruder" in msg["markdown"]["text"]


def test_a_picture_gets_a_short_answer_and_is_not_recorded(client, rt, fake):
    assert ding_post(client, rt, robot_msg(rt, fake, "alice", "", "msgPic", msgtype="picture")).status_code == 200
    assert count(rt, InboundMessage) == 0
    run(rt, deliver, T0)
    assert "文字" in fake.session_msgs[0]["markdown"]["text"]


def test_expired_session_webhook_one_to_one_goes_through_the_openapi(client, rt, fake):
    ding_post(client, rt, robot_msg(rt, fake, "alice", VISIT, "msgLate"))
    assert run(rt, deliver, T0 + timedelta(hours=2))["sent"] == 1  # the session lived 90 minutes
    assert fake.session_msgs == []
    (sent,) = fake.oto
    assert sent["robotCode"] == ROBOT_CODE and sent["userIds"] == ["alice"] and sent["msgKey"] == "sampleMarkdown"
    assert "已记录拜访：华联超市" in sent["msgParam"]["text"] and fake.token_calls == 1


def test_expired_session_webhook_in_a_group_goes_to_the_group_by_open_conversation_id(client, rt, fake):
    ding_post(client, rt, robot_msg(rt, fake, "alice", "@销售助手 " + VISIT, "msgLateG", group=True))
    run(rt, deliver, T0 + timedelta(hours=2))
    assert fake.session_msgs == [] and fake.oto == []
    (sent,) = fake.group_api
    assert sent["openConversationId"] == "cidGroupEast==" and "已记录拜访" in sent["msgParam"]["text"]


def test_a_session_webhook_that_refuses_falls_back_to_the_openapi(client, rt, fake):
    body = robot_msg(rt, fake, "alice", VISIT, "msgRefused")
    fake.sessions.clear()  # DingTalk no longer knows the session, although its expiry has not passed
    ding_post(client, rt, body)
    assert run(rt, deliver, T0)["sent"] == 1
    assert fake.session_msgs == [] and len(fake.oto) == 1


# --- proactive messages --------------------------------------------------------------------------------

def test_red_escalation_reaches_the_group_robot_at_the_manager(client, rt, fake):
    red_time = T0 + timedelta(days=7, hours=1)  # five working days and an hour (Friday to Friday)
    run(rt, scan, red_time)
    run(rt, deliver, red_time)
    cards = [m for m in fake.robot if "红色预警" in m["markdown"]["text"]]
    assert len(cards) == 3 and fake.robot_errors == []  # signed and timestamped as the robot demands
    card = cards[0]
    assert card["msgtype"] == "markdown" and card["at"] == {"atUserIds": ["boss"], "isAtAll": False}
    assert "@boss" in card["markdown"]["text"] and "建议" in card["markdown"]["text"]
    # the reps' own warnings went one-to-one through the OpenAPI
    assert {m["userIds"][0] for m in fake.oto} == {"alice", "bob"}
    # the manager presses 我来介入 in the group: the link acts as the manager
    take = re.search(r"\[我来介入\]\(([^)]+)\)", card["markdown"]["text"]).group(1)
    page = client.post(path_of(take))
    assert page.status_code == 200 and "你已认领" in page.get_data(as_text=True)


def test_task_card_action_link_clicked_twice_is_one_activity(client, rt, fake):
    wednesday = T0 + timedelta(days=5) - timedelta(hours=1)  # Wednesday 09:00 local: 71 working hours, yellow
    run(rt, daily, wednesday)
    run(rt, deliver, wednesday)
    card = next(m for m in fake.oto if m["userIds"] == ["alice"])
    assert card["msgKey"].startswith("sampleActionCard") and "今日任务" in card["msgParam"]["title"]
    label, url = next((k, v) for k, v in card_links(card["msgParam"]).items() if k.endswith("已跟进"))
    # opening the link (a preview, a scanner, the rep's browser) presses nothing: the page posts itself
    for _ in range(2):
        opened = client.get(path_of(url))
        page = opened.get_data(as_text=True)
        assert opened.status_code == 200 and "确认" in page and '<form id="press" method="post">' in page
        assert "已跟进" in page and opened.headers["Cache-Control"] == "no-store"
    assert client.head(path_of(url)).status_code == 200
    assert count(rt, InboundMessage, InboundMessage.channel == "link") == 0
    with rt.database.connection_context():
        assert Activity.select().where(Activity.text == "已跟进(提醒卡片)").count() == 0
    first = client.post(path_of(url))
    text = first.get_data(as_text=True)
    assert first.status_code == 200 and "已完成" in text and "已记录跟进" in text
    assert first.headers["Cache-Control"] == "no-store"
    second = client.post(path_of(url))
    assert second.status_code == 200 and "已处理过" in second.get_data(as_text=True)
    reopened = client.get(path_of(url)).get_data(as_text=True)  # once pressed, opening it says so
    assert "已处理过" in reopened and "已记录跟进" in reopened and "<form" not in reopened
    with rt.database.connection_context():
        assert Activity.select().where(Activity.text == "已跟进(提醒卡片)").count() == 1
    assert count(rt, InboundMessage, InboundMessage.channel == "link") == 1
    # the same card's "推迟24小时" for that deal is spent now (the follow-up started a new period)
    snooze = card_links(card["msgParam"])[label.replace("已跟进", "推迟24小时")]
    spent = client.post(path_of(snooze)).get_data(as_text=True)
    assert "已处理过" in spent and "新进展" in spent
    bobs = path_of(action_links_for(rt, "bob", "followup:1:1"))  # bob does not own deal 1
    for press in (client.post, client.get, client.post):  # pressed, reloaded, pressed again: still refused
        forbidden = press(bobs).get_data(as_text=True)
        assert "未能执行" in forbidden and "已处理过" not in forbidden


def test_forged_and_expired_links_get_4xx_pages_and_write_nothing(client, rt, fake, caplog):
    from bot.links import action_links
    from handlers.messages import Button, Reply
    caplog.set_level(logging.WARNING, logger="bot.links")
    reply = Reply("task_card", {}, [Button("已跟进", "followup:1:1")])
    ((label, url),) = action_links(reply, "alice", rt)
    assert label == "已跟进"
    token = urlsplit(url).path.rsplit("/", 1)[1]
    forged_path = "/a/" + token[:-4] + ("AAAA" if not token.endswith("AAAA") else "BBBB")
    for press in (client.get, client.post):
        forged = press(forged_path)
        assert forged.status_code == 403 and "链接无效" in forged.get_data(as_text=True)
    rt.clock.set(T0 + timedelta(days=13))  # the card's links, sent Wednesday 12-02, last 7 days
    for press in (client.get, client.post):
        expired = press(path_of(url))
        assert expired.status_code == 410 and "链接已过期" in expired.get_data(as_text=True)
    assert count(rt, InboundMessage) == 0 and count(rt, Activity) == 0
    assert any("bad signature" in r.getMessage() for r in caplog.records)
    assert any("expired" in r.getMessage() for r in caplog.records)


def test_the_generated_link_key_is_shared_by_every_process(rt, db_url):
    """Without BOT_SECRET_KEY every process signs with the same key (kept in a file, not the database)."""
    from bot.links import make_token, read_token
    from tests.conftest import make_runtime
    token = make_token(rt, "alice", "followup:1:1")
    other = make_runtime(db_url, FixedClock(T0), dingtalk_app_key=APP_KEY, dingtalk_app_secret=APP_SECRET,
                         dingtalk_robot_code=ROBOT_CODE)
    assert read_token(other, token) == ("alice", "followup:1:1")


def test_group_robot_limits_and_errors(rt, fake):
    with rt.database.connection_context():
        for i in range(20):
            outbox.enqueue(f"n{i}", "dingtalk", "mgr", {"template": "text_only", "data": {}}, rt.now())
        outbox.enqueue("n20", "dingtalk", "bob", {"template": "text_only", "data": {}}, rt.now())
    assert run(rt, deliver, T0)["sent"] == 21
    with rt.database.connection_context():  # the robot's minute is full: the next one waits for it
        outbox.enqueue("n21", "dingtalk", "mgr", {"template": "text_only", "data": {}}, rt.now())
    assert run(rt, deliver, T0 + timedelta(seconds=1))["deferred"] == 1
    assert fake.robot_errors == [] and len(fake.robot) == 20  # our own limit: DingTalk never said 410100


def test_more_red_cards_than_the_robot_limit_are_merged(rt, fake):
    card = {"template": "red_card", "data": {"customer": "c", "owner": "王磊", "stage": "谈判", "days_silent": 6,
                                             "amount": 80000, "last_activity": None, "suggestion": "主管致电决策人"}}
    with rt.database.connection_context():
        for i in range(45):
            outbox.enqueue(f"red:{i}", "dingtalk", "mgr",
                           {**card, "data": {**card["data"], "customer": f"客户{i:02d}"}}, rt.now())
    run(rt, deliver, T0)
    assert 1 < len(fake.robot) <= 20 and fake.robot_errors == []  # merged, within 20 a minute
    text = "\n".join(m["markdown"]["text"] for m in fake.robot)
    assert all(f"客户{i:02d}" in text for i in range(45))  # nothing dropped
    assert count(rt, Outbox, Outbox.status == "sent") == 45


def test_a_blocked_group_robot_is_retried_after_ten_minutes(rt, fake):
    fake.robot_limit = 1
    with rt.database.connection_context():
        for i in range(2):
            outbox.enqueue(f"b{i}", "dingtalk", "mgr", {"template": "text_only", "data": {}}, rt.now())
    result = run(rt, deliver, T0)
    assert result["sent"] == 1 and result["deferred"] == 1
    with rt.database.connection_context():
        row = Outbox.get(Outbox.key == "b1")
        assert row.status == "pending" and "410100" in row.last_error
        assert row.next_attempt_at == rt.now() + timedelta(seconds=600)


@pytest.mark.parametrize("case,code", [("bad_secret", "310000"), ("disabled", "400102"), ("unknown", "400101")])
def test_group_robot_errors_fail_visibly_and_never_loop(rt, fake, case, code):
    with rt.database.connection_context():
        from storage.models import ChatGroup
        group = ChatGroup.get(ChatGroup.local_id == "mgr")
        if case == "bad_secret":
            group.dingtalk_secret = "SECwrong"
        elif case == "disabled":
            fake.disabled_robots.add(GROUP_TOKEN)
        else:
            group.dingtalk_webhook = fake.base + "/robot/send?access_token=nope"
        group.save()
        outbox.enqueue("e", "dingtalk", "mgr", {"template": "text_only", "data": {}}, rt.now())
    assert run(rt, deliver, T0)["failed"] == 1
    with rt.database.connection_context():
        row = Outbox.get(Outbox.key == "e")
        assert row.status == "failed" and code in row.last_error and row.attempts == 1


def test_access_token_is_cached_in_the_database_and_refreshed_once_when_rejected(rt, fake):
    def send(key, to):
        with rt.database.connection_context():
            outbox.enqueue(key, "dingtalk", to, {"template": "text_only", "data": {}}, rt.now())
    send("t1", "alice")
    run(rt, deliver, T0)
    send("t2", "bob")
    run(rt, deliver, T0 + timedelta(seconds=30))
    assert fake.token_calls == 1 and len(fake.oto) == 2
    fake.expire_tokens()
    send("t3", "alice")
    run(rt, deliver, T0 + timedelta(minutes=1))
    assert fake.token_calls == 2 and len(fake.oto) == 3
    fake.invalid_staff.add("bob")
    send("t4", "bob")
    run(rt, deliver, T0 + timedelta(minutes=2))
    with rt.database.connection_context():
        row = Outbox.get(Outbox.key == "t4")
        assert row.status == "failed" and "invalidStaffIdList" in row.last_error


# --- Stream mode ------------------------------------------------------------------------------------------

def stream_frame(data: dict, frame_id: str) -> dict:
    """A Stream-mode CALLBACK frame as the gateway sends it."""
    return {"specVersion": "1.0", "type": "CALLBACK",
            "headers": {"appId": "app", "connectionId": "conn", "contentType": "application/json",
                        "messageId": frame_id, "time": "1764208800000", "topic": ChatbotMessage.TOPIC},
            "data": json.dumps(data, ensure_ascii=False)}


def sdk_chatbot_message(rt, fake, staff: str, text: str, msg_id: str) -> dict:
    """The callback data built with the SDK's own ChatbotMessage class."""
    msg = ChatbotMessage.from_dict(robot_msg(rt, fake, staff, text, msg_id))
    assert msg.sender_staff_id == staff and msg.text.content == text
    return msg.to_dict()


def test_stream_handler_acks_after_the_message_is_recorded(rt, fake, monkeypatch):
    handler = FunnelChatbotHandler(rt)
    frame = CallbackMessage.from_dict(stream_frame(sdk_chatbot_message(rt, fake, "alice", VISIT, "msgS1"), "f1"))
    real_handle = rt.handle

    def crash(incoming):
        raise RuntimeError("the database went away")

    monkeypatch.setattr(rt, "handle", crash)
    ack = asyncio.run(handler.raw_process(frame))
    assert ack.code == AckMessage.STATUS_SYSTEM_EXCEPTION  # not acknowledged: DingTalk delivers it again
    assert count(rt, InboundMessage) == 0
    monkeypatch.setattr(rt, "handle", real_handle)
    for _ in range(2):  # the redelivery, then a duplicate of it
        ack = asyncio.run(handler.raw_process(frame))
        assert ack.code == AckMessage.STATUS_OK and ack.headers.message_id == "f1"
    assert count(rt, Activity) == 1 and count(rt, InboundMessage) == 1
    run(rt, deliver, T0)
    assert "已记录拜访：华联超市" in fake.session_msgs[0]["markdown"]["text"]
    bad = CallbackMessage.from_dict(stream_frame({"msgtype": "text", "text": {"content": "x"}}, "f2"))
    assert asyncio.run(handler.raw_process(bad)).code == AckMessage.STATUS_BAD_REQUEST


def test_stream_mode_over_a_loopback_websocket(rt, fake):
    """The SDK's own client: opens the connection at DINGTALK_API_BASE, receives a frame over a real
    WebSocket, runs it, and sends the ack; a redelivered frame is acked and not run again."""
    fake.start_stream()
    client = stream_client(rt, api_base=fake.base)
    loop = asyncio.new_event_loop()

    def serve():
        try:
            loop.run_until_complete(client.start())
        except (RuntimeError, asyncio.CancelledError):  # stopped by the test
            pass

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    try:
        data = sdk_chatbot_message(rt, fake, "alice", VISIT, "msgWS1")
        for n in (1, 2):
            fake.ws_ack_event.clear()
            fake.push_frame(stream_frame(data, f"ws-frame-{n}"))
            assert fake.ws_ack_event.wait(15), "no ack over the websocket"
            ack = fake.ws_acks[-1]
            assert ack["code"] == 200 and ack["headers"]["messageId"] == f"ws-frame-{n}"
        assert count(rt, Activity) == 1 and fake.ws_connections == 1
    finally:
        _stop_loop(loop, thread)
    assert not thread.is_alive()
    run(rt, deliver, T0)
    assert len(fake.session_msgs) == 1


def _stop_loop(loop, thread) -> None:
    def cancel_all():
        for task in asyncio.all_tasks(loop):
            task.cancel()

    for _ in range(3):  # the SDK's loop swallows one cancellation and sleeps; cancel that sleep too
        loop.call_soon_threadsafe(cancel_all)
        thread.join(timeout=1)
        if not thread.is_alive():
            break
    if not thread.is_alive():
        loop.close()


def test_cli_has_the_stream_verb_and_config_checks_the_mode():
    from bot.cli import parser
    from bot.config import ConfigError, load_config
    assert parser().parse_args(["dingtalk-stream"]).fn.__name__ == "cmd_dingtalk_stream"
    assert load_config({"use_dotenv": False}, environ={})["DINGTALK_MODE"] == "http"
    with pytest.raises(ConfigError, match="DINGTALK_MODE"):
        load_config({"use_dotenv": False, "dingtalk_mode": "websocket"}, environ={})
    assert dingtalk_stream.ChatbotMessage.TOPIC == "/v1.0/im/bot/messages/get"
