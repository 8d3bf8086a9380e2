"""The chat callbacks an outsider can reach: DingTalk replies go only to DingTalk (no SSRF, no redirect),
a (timestamp, sign) pair carries one body, robotCode must be ours; WeCom's reply XML survives any
sender name; malformed fields are 4xx, never 500."""
from __future__ import annotations

import json
from datetime import timedelta

import pytest

from bot.channels.dingtalk.session import webhook_allowed
from bot.config import load_config
from bot.jobs.deliver import deliver
from storage.models import Activity, InboundMessage
from tests.conftest import T0
from tests.e2e.test_dingtalk import APP_SECRET, app, client, count, ding_post, fake, ms, robot_msg, rt  # noqa: F401
from tests.e2e.test_dingtalk import VISIT, nothing_written, run
from tests.fakes.dingtalk_server import dingtalk_sign
from tests.fakes.loopback import JsonHandler, LoopbackServer


class Listener(LoopbackServer):
    """Somewhere a forged body would like the bot to post to; with `redirect_to`, it sends the bot on."""

    def __init__(self, redirect_to: str | None = None):
        self.hits, self.redirect_to = [], redirect_to
        self._listen()

    def _handler(self):
        me = self

        class Handler(JsonHandler):
            def do_POST(self):
                me.hits.append(self.path)
                if me.redirect_to:
                    self.send_response(307)
                    self.send_header("Location", me.redirect_to + self.path)
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return
                self._json({"errcode": 0})

            do_GET = do_POST

        return Handler


@pytest.fixture
def attacker():
    server = Listener().start()
    yield server
    server.stop()


@pytest.mark.parametrize("where", ["loopback", "metadata", "http-dingtalk", "lookalike", "userinfo", "other-path"])
def test_a_session_webhook_elsewhere_is_never_posted_to(client, rt, fake, attacker, where):
    body = robot_msg(rt, fake, "alice", VISIT, f"ssrf-{where}")
    body["sessionWebhook"] = {
        "loopback": f"{attacker.origin}/robot/sendBySession?session=x",
        "metadata": "http://169.254.169.254/latest/meta-data/",
        "http-dingtalk": "http://oapi.dingtalk.com/robot/sendBySession?session=x",
        "lookalike": "https://oapi.dingtalk.com.evil.example/robot/sendBySession?session=x",
        "userinfo": f"https://oapi.dingtalk.com@127.0.0.1:{attacker.server.server_port}/robot/sendBySession",
        "other-path": fake.base + "/v1.0/robot/oToMessages/batchSend",
    }[where]
    assert ding_post(client, rt, body).status_code == 200
    run(rt, deliver, T0 + timedelta(seconds=1))
    assert attacker.hits == [] and fake.session_msgs == []
    (sent,) = fake.oto  # answered all the same, through the robot OpenAPI
    assert sent["userIds"] == ["alice"] and "已记录拜访" in json.dumps(sent, ensure_ascii=False)


def test_the_webhook_rule():
    cfg = load_config({"use_dotenv": False, "dingtalk_oapi_base": "http://127.0.0.1:5555"}, environ={})
    assert webhook_allowed("https://oapi.dingtalk.com/robot/sendBySession?session=abc", cfg)
    assert webhook_allowed("https://OAPI.dingtalk.com:443/robot/sendBySession?session=abc", cfg)
    assert webhook_allowed("http://127.0.0.1:5555/robot/sendBySession?session=abc", cfg)
    for url in ("http://127.0.0.1:5556/robot/sendBySession", "https://127.0.0.1:5555/robot/sendBySession",
                "https://oapi.dingtalk.com:8443/robot/sendBySession", "https://oapi.dingtalk.com/robot/send",
                "https://oapi.dingtalk.com:bad/robot/sendBySession", "", None, "ftp://oapi.dingtalk.com/robot/sendBySession"):
        assert not webhook_allowed(url, cfg), url


def test_a_redirect_from_the_session_webhook_is_not_followed(db_url, attacker):
    """The bot posts to an allowed address that answers 307 to elsewhere: nothing reaches elsewhere."""
    from bot import create_app
    from bot.clock import FixedClock
    from tests.e2e.test_dingtalk import APP_KEY, ROBOT_CODE
    from tests.helpers import small_team
    redirector = Listener(redirect_to=attacker.origin).start()
    try:
        app = create_app({"database_url": db_url, "use_dotenv": False, "dingtalk_app_key": APP_KEY,
                          "dingtalk_app_secret": APP_SECRET, "dingtalk_robot_code": ROBOT_CODE,
                          "dingtalk_api_base": redirector.origin, "dingtalk_oapi_base": redirector.origin,
                          "bot_secret_key": "k" * 32}, clock=FixedClock(T0))
        rt_ = app.extensions["bot"]
        small_team(rt_)
        now = ms(T0)
        body = {"msgtype": "text", "msgId": "redir-1", "createAt": now, "conversationType": "1",
                "conversationId": "cidalice", "senderStaffId": "alice", "robotCode": ROBOT_CODE,
                "sessionWebhook": f"{redirector.origin}/robot/sendBySession?session=s1",
                "sessionWebhookExpiredTime": now + 5400000, "text": {"content": VISIT}}
        assert ding_post(app.test_client(), rt_, body).status_code == 200
        run(rt_, deliver, T0 + timedelta(seconds=1))
        assert redirector.hits and attacker.hits == []
    finally:
        redirector.stop()


def test_robot_code_must_be_ours(client, rt, fake):
    body = robot_msg(rt, fake, "alice", VISIT, "other-robot")
    body["robotCode"] = "someone-elses-robot"
    assert ding_post(client, rt, body).status_code == 403
    del body["robotCode"]
    assert ding_post(client, rt, body).status_code == 403
    assert nothing_written(rt)


def test_a_timestamp_and_sign_carry_one_body(client, rt, fake):
    ts = str(ms(rt.clock.now()))
    first = robot_msg(rt, fake, "alice", VISIT, "pair-1")
    assert ding_post(client, rt, first, ts=ts).status_code == 200
    assert ding_post(client, rt, first, ts=ts).status_code == 200  # the same body again: a redelivery
    forged = robot_msg(rt, fake, "alice", "输单 华联超市 原因:价格", "pair-2")
    r = ding_post(client, rt, forged, ts=ts)
    assert r.status_code == 409 and "another body" in r.get_json()["error"]
    assert count(rt, InboundMessage) == 1 and count(rt, Activity) == 1


@pytest.mark.parametrize("case", ["createAt", "expires", "deep", "richText"])
def test_malformed_dingtalk_fields_are_400_and_change_nothing(client, rt, fake, case):
    body = robot_msg(rt, fake, "alice", VISIT, f"bad-{case}")
    raw = None
    if case == "createAt":
        body["createAt"] = 1e20
    elif case == "expires":
        body["sessionWebhookExpiredTime"] = 10 ** 30
    elif case == "deep":
        raw = b"[" * 20000 + b"]" * 20000
    else:
        body.update(msgtype="richText", content={"richText": 5})
    r = ding_post(client, rt, body, raw=raw)
    if case == "richText":  # no text in it: the picture answer, nothing recorded
        assert r.status_code == 200 and count(rt, Activity) == 0
    else:
        assert r.status_code == 400 and nothing_written(rt)


# -- WeCom ------------------------------------------------------------------------------------------------

from tests.e2e.test_wecom import decrypt_reply, text_msg, wecom_post  # noqa: E402


@pytest.fixture
def wecom_client(db_url):
    from bot import create_app
    from bot.clock import FixedClock
    from tests.e2e.test_wecom import AES_KEY, AGENT, CORP_ID, SECRET, TOKEN
    from tests.fakes.wecom_server import FakeWeCom
    from tests.helpers import small_team
    server = FakeWeCom(CORP_ID, SECRET).start()
    app = create_app({"database_url": db_url, "use_dotenv": False, "wecom_corp_id": CORP_ID, "wecom_agent_id": AGENT,
                      "wecom_secret": SECRET, "wecom_token": TOKEN, "wecom_aes_key": AES_KEY,
                      "wecom_api_base": server.base}, clock=FixedClock(T0))
    small_team(app.extensions["bot"])
    yield app.test_client(), app.extensions["bot"]
    server.stop()


@pytest.mark.parametrize("sender", ["a]]>b", "]]><Content>x</Content><![CDATA[", "x]]]]>"])
def test_the_reply_xml_holds_any_sender_name(wecom_client, sender):
    client, _ = wecom_client
    r = wecom_post(client, text_msg(sender.replace("]]>", "]]]]><![CDATA[>"), "我的客户", "70001"))
    assert r.status_code == 200
    reply = decrypt_reply(r)
    assert reply["ToUserName"] == sender and "还没有登记" in reply["Content"]


def test_wecom_content_nested_3000_deep_is_400(wecom_client):
    client, rt_ = wecom_client
    inner = text_msg("alice", "x", "70002").replace("<Content><![CDATA[x]]></Content>",
                                                     "<Content>" + "<a>" * 3000 + "</a>" * 3000 + "</Content>")
    assert wecom_post(client, inner).status_code == 400
    assert count(rt_, InboundMessage) == 0


def test_a_non_ascii_wecom_signature_is_403(wecom_client):
    client, _ = wecom_client
    r = client.post("/wecom/callback?msg_signature=签名&timestamp=1&nonce=n", data=b"<xml><Encrypt>x</Encrypt></xml>",
                    content_type="text/xml")
    assert r.status_code == 403
    r = client.get("/wecom/callback", query_string={"msg_signature": "签名", "timestamp": "1", "nonce": "n",
                                                     "echostr": "x"})
    assert r.status_code == 403
