"""WeCom end to end: callbacks built with wechatpy exactly as WeCom builds them, posted to the Flask
app; sending against a loopback fake of the WeCom API (tests/fakes/wecom_server.py)."""
from __future__ import annotations

import re
import time
from datetime import timedelta

import pytest
import xmltodict
from wechatpy.enterprise.crypto import WeChatCrypto

from bot import create_app
from bot.clock import FixedClock
from bot.jobs.daily import daily
from bot.jobs.deliver import deliver
from bot.jobs.scan import scan
from storage import people
from storage.models import Activity, Deal, KeyValue, Outbox
from tests.conftest import T0
from tests.fakes.wecom_server import FakeWeCom
from tests.helpers import deal_of, small_team

TOKEN, AES_KEY, CORP_ID = "123456", "kWxPEV2UEDyxWpmPdKC3F4dgPDmOvfKX1HGnEUDS1aR", "wx49f0ab532d5d035a"
SECRET, AGENT = "s3cret", "1000002"


@pytest.fixture
def fake():
    server = FakeWeCom(CORP_ID, SECRET).start()
    yield server
    server.stop()


@pytest.fixture
def app(db_url, fake):
    cfg = {"database_url": db_url, "use_dotenv": False, "wecom_corp_id": CORP_ID, "wecom_agent_id": AGENT,
           "wecom_secret": SECRET, "wecom_token": TOKEN, "wecom_aes_key": AES_KEY, "wecom_api_base": fake.base}
    app = create_app(cfg, clock=FixedClock(T0))
    rt = app.extensions["bot"]
    small_team(rt)
    with rt.database.connection_context():
        team = people.ensure_team("东区")
        people.upsert_group(team, "manager", "mgr", "东区主管群", wecom_robot_key="robot-key")
    return app


@pytest.fixture
def rt(app):
    return app.extensions["bot"]


@pytest.fixture
def client(app):
    return app.test_client()


crypto = WeChatCrypto(TOKEN, AES_KEY, CORP_ID)


def wecom_post(client, inner_xml: str, nonce: str = "n0nce", corp=CORP_ID, forge: bool = False):
    """What WeCom sends: the encrypted envelope and the signature in the query string."""
    c = crypto if corp == CORP_ID else WeChatCrypto(TOKEN, AES_KEY, corp)
    ts = str(int(time.time()))
    env = xmltodict.parse(c.encrypt_message(inner_xml, nonce, ts))["xml"]
    body = f"<xml><ToUserName><![CDATA[{CORP_ID}]]></ToUserName><AgentID>{AGENT}</AgentID>" \
           f"<Encrypt><![CDATA[{env['Encrypt']}]]></Encrypt></xml>"
    sig = "0" * 40 if forge else env["MsgSignature"]
    return client.post(f"/wecom/callback?msg_signature={sig}&timestamp={ts}&nonce={nonce}", data=body,
                       content_type="text/xml")


def text_msg(user: str, content: str, msg_id: str) -> str:
    return (f"<xml><ToUserName><![CDATA[{CORP_ID}]]></ToUserName><FromUserName><![CDATA[{user}]]></FromUserName>"
            f"<CreateTime>1764208800</CreateTime><MsgType><![CDATA[text]]></MsgType>"
            f"<Content><![CDATA[{content}]]></Content><MsgId>{msg_id}</MsgId><AgentID>{AGENT}</AgentID></xml>")


def card_event(user: str, task_id: str, key: str, code: str = "rc-1") -> str:
    return (f"<xml><ToUserName><![CDATA[{CORP_ID}]]></ToUserName><FromUserName><![CDATA[{user}]]></FromUserName>"
            f"<CreateTime>1764208900</CreateTime><MsgType><![CDATA[event]]></MsgType>"
            f"<Event><![CDATA[template_card_event]]></Event><EventKey><![CDATA[{key}]]></EventKey>"
            f"<TaskId><![CDATA[{task_id}]]></TaskId><CardType><![CDATA[button_interaction]]></CardType>"
            f"<ResponseCode><![CDATA[{code}]]></ResponseCode><AgentID>{AGENT}</AgentID></xml>")


def decrypt_reply(resp) -> dict:
    env = xmltodict.parse(resp.get_data(as_text=True))["xml"]
    plain = crypto.decrypt_message(resp.get_data(as_text=True), env["MsgSignature"], env["TimeStamp"], env["Nonce"])
    return xmltodict.parse(plain)["xml"]


def activities(rt) -> int:
    with rt.database.connection_context():
        return Activity.select().count()


def run(rt, job, now):
    rt.clock.set(now)
    with rt.database.connection_context():
        return job(rt, rt.now())


def test_url_check_with_the_documented_vector(client):
    echostr = "4ByGGj+sVCYcvGeQYhaKIk1o0pQRNbRjxybjTGblXrBaXlTXeOo1+bXFXDQQb1o6co6Yh9Bv41n7hOchLF6p+Q=="
    expected = crypto.check_signature("dd6b9c95b495b3f7e2901bfbc76c664930ffdb96", "1411443780", "437374425", echostr)
    r = client.get("/wecom/callback", query_string={"msg_signature": "dd6b9c95b495b3f7e2901bfbc76c664930ffdb96",
                                                     "timestamp": "1411443780", "nonce": "437374425",
                                                     "echostr": echostr})
    assert r.status_code == 200 and r.get_data(as_text=True) == expected
    bad = client.get("/wecom/callback", query_string={"msg_signature": "0" * 40, "timestamp": "1411443780",
                                                       "nonce": "437374425", "echostr": echostr})
    assert bad.status_code == 403


def test_rep_logs_a_visit_and_gets_an_encrypted_passive_reply(client, rt):
    r = wecom_post(client, text_msg("alice", "拜访 华联超市 见了采购总监王总,下一步周五前发方案", "10001"))
    assert r.status_code == 200
    reply = decrypt_reply(r)
    assert reply["MsgType"] == "text" and reply["ToUserName"] == "alice"
    assert "已记录拜访：华联超市" in reply["Content"] and "王总" in reply["Content"]
    assert activities(rt) == 1


def test_the_same_message_delivered_four_times_is_one_activity(client, rt):
    answers = [decrypt_reply(wecom_post(client, text_msg("alice", "拜访 华联超市 见了王总", "20002"), nonce=f"n{i}"))
               for i in range(4)]
    assert len({a["Content"] for a in answers}) == 1
    assert activities(rt) == 1


def test_unknown_wecom_user(client, rt):
    reply = decrypt_reply(wecom_post(client, text_msg("intruder", "我的客户", "30003")))
    assert "还没有登记" in reply["Content"] and activities(rt) == 0


BENT = {  # signed and encrypted as WeCom would, but not WeCom's flat <xml> of text fields, each once
    "repeated_field": ("</Content>", "</Content><Content>我的客户</Content>"),
    "nested_field": ("<![CDATA[拜访", "<b>1</b><![CDATA[拜访"),
    "field_attribute": ("<Content>", '<Content kind="x">'),
    "namespaced_field": ("<Content>", '<Content xmlns="urn:x">'),
    "text_between_fields": ("</Content>", "</Content>拜访 永辉超市"),
    "root_attribute": ("<xml>", '<xml kind="x">'),
    "wrong_root": ("xml>", "msg>"),
}


@pytest.mark.parametrize("case", ["forged", "wrong_corp", "not_xml", "bomb", "no_encrypt", "too_big", "two_encrypts",
                                  *BENT])
def test_bad_callbacks_get_4xx_and_write_nothing(client, rt, case):
    inner = text_msg("alice", "拜访 华联超市 见了王总", "40004")
    if case in BENT:
        r = wecom_post(client, inner.replace(*BENT[case]))
        assert r.status_code == 400, r.data  # refused as XML, after the signature and the CorpID passed
    elif case == "two_encrypts":  # refused as XML before the (wrong) signature is looked at
        r = client.post("/wecom/callback?msg_signature=x&timestamp=1&nonce=2",
                        data="<xml><Encrypt>a</Encrypt><Encrypt>b</Encrypt></xml>")
        assert r.status_code == 400 and b"not text" in r.data, r.data
    elif case == "forged":
        r = wecom_post(client, inner, forge=True)
    elif case == "wrong_corp":
        r = wecom_post(client, inner, corp="wx0000000000000000")
    elif case == "not_xml":
        r = client.post("/wecom/callback?msg_signature=x&timestamp=1&nonce=2", data="{\"a\": 1}")
    elif case == "bomb":
        bomb = ('<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol"><!ENTITY lol2 "&lol;&lol;&lol;">]>'
                '<xml><Encrypt>&lol2;</Encrypt></xml>')
        r = client.post("/wecom/callback?msg_signature=x&timestamp=1&nonce=2", data=bomb)
    elif case == "no_encrypt":
        r = client.post("/wecom/callback?msg_signature=x&timestamp=1&nonce=2", data="<xml><A>1</A></xml>")
    else:
        r = client.post("/wecom/callback?msg_signature=x&timestamp=1&nonce=2", data="<xml>" + "x" * 70000 + "</xml>")
    assert 400 <= r.status_code < 500
    assert activities(rt) == 0
    with rt.database.connection_context():
        from storage.models import InboundMessage
        assert InboundMessage.select().count() == 0


def test_non_text_message_gets_a_short_answer(client):
    inner = (f"<xml><ToUserName>{CORP_ID}</ToUserName><FromUserName>alice</FromUserName><CreateTime>1</CreateTime>"
             f"<MsgType>image</MsgType><PicUrl>http://x</PicUrl><MediaId>m</MediaId><MsgId>5</MsgId></xml>")
    assert "文字" in decrypt_reply(wecom_post(client, inner))["Content"]


def click(client, fake, user: str, task_id: str, key: str, nonce: str = "n0nce") -> tuple[str, object]:
    """alice presses a button on her card (the fake refuses one she cannot see live): the click event
    WeCom posts, and the bot's answer."""
    event = card_event(user, task_id, key, fake.click(user, task_id, key))
    return event, wecom_post(client, event, nonce=nonce)


def task_card(rt, fake, when):
    run(rt, daily, when)
    run(rt, deliver, when)
    card = next(m for m in fake.sent if m["touser"] == "alice" and m["msgtype"] == "template_card")
    return card["template_card"]


def key_of(tc, text: str) -> str:
    return next(b["key"] for b in tc["button_list"] if b["text"] == text)


WEDNESDAY = T0 + timedelta(days=5) - timedelta(hours=1)  # Wednesday 09:00 local, 71 working hours after creation


def test_a_click_on_a_two_deal_card_updates_that_deal_and_leaves_the_other_live(client, rt, fake):
    """The task card lists alice's two deals, three buttons each. 推迟 on 华联超市 updates the whole card
    (update_template_card with the click's ResponseCode): its row says it is handled, its buttons are
    gone, 华联便利店's stay live; a click on those updates the card again, and then none is left."""
    tc = task_card(rt, fake, WEDNESDAY)
    assert tc["card_type"] == "button_interaction" and "今日任务" in tc["main_title"]["title"]
    assert len(tc["button_list"]) == 6
    _, first = click(client, fake, "alice", tc["task_id"], key_of(tc, "华联超市:推迟24小时"))
    assert first.status_code == 200 and first.get_data() == b""  # no update_button: that greys every button
    run(rt, deliver, WEDNESDAY + timedelta(seconds=5))
    assert len(fake.updates) == 1 and fake.updates[0]["userids"] == ["alice"]
    card = fake.cards[tc["task_id"]]["card"]
    assert fake.live_buttons(tc["task_id"]) == ["华联便利店:已跟进", "华联便利店:推迟24小时", "华联便利店:请主管支援"]
    rows = {line.split(" · ")[0].split(" ")[-1]: line for line in card["sub_title_text"].splitlines() if " · " in line}
    assert "✅ 已处理：推迟至" in rows["华联超市"] and "✅" not in rows["华联便利店"]
    assert card["main_title"] == tc["main_title"] and card["task_id"] == tc["task_id"]
    assert any("已推迟到" in m["text"]["content"] for m in fake.sent if m["touser"] == "alice" and m["msgtype"] == "text")

    _, second = click(client, fake, "alice", tc["task_id"], key_of(tc, "华联便利店:已跟进"), nonce="n2")
    assert second.status_code == 200 and second.get_data() == b""
    run(rt, deliver, WEDNESDAY + timedelta(seconds=10))
    assert len(fake.updates) == 2 and fake.updates[1]["response_code"] != fake.updates[0]["response_code"]
    card = fake.cards[tc["task_id"]]["card"]
    assert fake.live_buttons(tc["task_id"]) == [] and card["replace_text"] == "✅ 已全部处理"
    assert "✅ 已处理：推迟至" in card["sub_title_text"] and "✅ 已处理：已跟进" in card["sub_title_text"]
    with rt.database.connection_context():
        assert Activity.select().where(Activity.text == "已跟进(提醒卡片)").count() == 1
        assert Deal.select().where(Deal.snoozed_until.is_null(False)).count() == 1
        assert {r.status for r in Outbox.select()} == {"sent"}
    assert any("已记录跟进" in m.get("text", {}).get("content", "") for m in fake.sent if m["touser"] == "alice")


def test_the_same_click_delivered_again_acts_and_updates_once(client, rt, fake):
    """WeCom posts a click again when the answer was slow (the same event, the same ResponseCode): one
    follow-up, one outcome message, one card update (a second would spend the code twice: 60140)."""
    tc = task_card(rt, fake, WEDNESDAY)
    event, r = click(client, fake, "alice", tc["task_id"], key_of(tc, "华联超市:已跟进"))
    assert wecom_post(client, event, nonce="retry").get_data() == b""  # before the update went out
    run(rt, deliver, WEDNESDAY + timedelta(seconds=5))
    assert wecom_post(client, event, nonce="late").get_data() == b""  # and after
    run(rt, deliver, WEDNESDAY + timedelta(minutes=5))
    assert len(fake.updates) == 1
    assert len(fake.live_buttons(tc["task_id"])) == 3
    with rt.database.connection_context():
        assert Activity.select().where(Activity.text == "已跟进(提醒卡片)").count() == 1
        assert {r.status for r in Outbox.select()} == {"sent"}
    assert sum("已记录跟进" in m.get("text", {}).get("content", "") for m in fake.sent) == 1


@pytest.mark.parametrize("case", ["older_than_72h", "not_in_the_map", "garbage"])
def test_a_click_on_a_card_the_bot_no_longer_knows_greys_it_and_says_how_to_go_on(client, rt, fake, case):
    """A card over WeCom's 72 hours for updates (or sent before the bot kept its cards) cannot be updated
    whole: the click still does its job, and the passive reply greys the card's buttons with a label
    saying where the other deals are. Nothing is queued for update_template_card, nothing fails."""
    tc = task_card(rt, fake, WEDNESDAY)
    task_id, key = tc["task_id"], key_of(tc, "华联超市:已跟进")
    if case == "older_than_72h":
        rt.clock.set(WEDNESDAY + timedelta(hours=72, minutes=1))
    elif case == "not_in_the_map":
        with rt.database.connection_context():
            KeyValue.delete().where(KeyValue.key.startswith("wecom:card:")).execute()
    else:
        task_id = "../" + "x" * 300
    r = wecom_post(client, card_event("alice", task_id, key, "rc-unknown"))
    assert r.status_code == 200
    reply = decrypt_reply(r)
    assert reply["MsgType"] == "update_button" and "今日任务" in reply["Button"]["ReplaceName"]
    with rt.database.connection_context():
        assert Activity.select().where(Activity.text == "已跟进(提醒卡片)").count() == 1
        assert not Outbox.select().where(Outbox.key.startswith("wecard:")).exists()
    run(rt, deliver, rt.now() + timedelta(seconds=5))
    assert fake.updates == []
    with rt.database.connection_context():
        assert {r.status for r in Outbox.select()} == {"sent"}


def test_cards_past_their_72_hours_are_deleted(rt, fake):
    """Every card sent is kept for its clicks: a card sent after they expired deletes them."""
    def kept():
        with rt.database.connection_context():
            return {k for (k,) in KeyValue.select(KeyValue.key).where(KeyValue.key.startswith("wecom:card:")).tuples()}
    tc = task_card(rt, fake, WEDNESDAY)
    wednesday = kept()
    assert f"wecom:card:{tc['task_id']}" in wednesday
    later = WEDNESDAY + timedelta(days=6)  # the next Tuesday: Wednesday's cards are past 72 hours
    run(rt, daily, later)
    run(rt, deliver, later)
    tuesday = {f"wecom:card:{m['template_card']['task_id']}" for m in fake.sent if m["msgtype"] == "template_card"} - wednesday
    assert tuesday and kept() == tuesday


def test_a_refused_card_click_leaves_the_card_as_it_was(client, rt, fake):
    """bob presses a button of alice's card, alice a key the bot does not know, and alice one for a deal
    given to bob since: the card keeps every button live, its stored state is untouched, and each
    refusal arrives as a message. alice's next click on her own deal updates the card as usual."""
    from storage import deals
    tc = task_card(rt, fake, WEDNESDAY)
    deal = deal_of(rt, "华联便利店")
    with rt.database.connection_context():
        state = KeyValue.get(KeyValue.key == f"wecom:card:{tc['task_id']}").value
        deals.reassign(deal, people.rep_for_sender("wecom", "bob"))
    before = len(fake.sent)
    for user, k in (("bob", key_of(tc, "华联超市:已跟进")), ("alice", "bogus:1"), ("alice", key_of(tc, "华联便利店:已跟进"))):
        r = wecom_post(client, card_event(user, tc["task_id"], k), nonce=f"n{user}{k}")
        assert r.status_code == 200 and r.get_data() == b""
    assert activities(rt) == 0
    run(rt, deliver, WEDNESDAY + timedelta(seconds=5))
    assert sorted(m["touser"] for m in fake.sent[before:]) == ["alice", "alice", "bob"]  # the three refusals
    assert fake.updates == [] and len(fake.live_buttons(tc["task_id"])) == 6
    with rt.database.connection_context():
        assert KeyValue.get(KeyValue.key == f"wecom:card:{tc['task_id']}").value == state
    click(client, fake, "alice", tc["task_id"], key_of(tc, "华联超市:推迟24小时"))
    run(rt, deliver, WEDNESDAY + timedelta(seconds=10))
    assert fake.live_buttons(tc["task_id"]) == ["华联便利店:已跟进", "华联便利店:推迟24小时", "华联便利店:请主管支援"]


def test_a_click_on_a_warning_card_marks_its_row_too(client, rt, fake):
    """The scan's warning card (two deals, three buttons each) is updated the same way."""
    run(rt, scan, WEDNESDAY)
    run(rt, deliver, WEDNESDAY)
    tc = next(m for m in fake.sent if m["touser"] == "alice" and m["msgtype"] == "template_card")["template_card"]
    assert "黄色" in tc["main_title"]["title"] + tc["sub_title_text"] and len(tc["button_list"]) == 6
    click(client, fake, "alice", tc["task_id"], key_of(tc, "华联便利店:请主管支援"))
    run(rt, deliver, WEDNESDAY + timedelta(seconds=5))
    card = fake.cards[tc["task_id"]]["card"]
    assert fake.live_buttons(tc["task_id"]) == ["华联超市:已跟进", "华联超市:推迟24小时", "华联超市:请主管支援"]
    marked = [line for line in (card["main_title"]["title"] + "\n" + card["sub_title_text"]).splitlines() if "✅" in line]
    assert len(marked) == 1 and "华联便利店" in marked[0] and "已请主管支援" in marked[0]


def test_with_instant_replies_the_card_is_updated_without_the_delivery_poll(db_url, fake):
    """In a running bot the update goes out from the process that took the click, right after its
    commit (bot/courier.py), like any answer; the poll then finds nothing left."""
    cfg = {"database_url": db_url, "use_dotenv": False, "wecom_corp_id": CORP_ID, "wecom_agent_id": AGENT,
           "wecom_secret": SECRET, "wecom_token": TOKEN, "wecom_aes_key": AES_KEY, "wecom_api_base": fake.base,
           "bot_instant_replies": "1"}
    app = create_app(cfg, clock=FixedClock(T0))
    rt = app.extensions["bot"]
    small_team(rt)
    tc = task_card(rt, fake, WEDNESDAY)
    click(app.test_client(), fake, "alice", tc["task_id"], key_of(tc, "华联便利店:推迟24小时"))
    assert rt.courier.idle()  # no deliver() was run
    assert len(fake.updates) == 1 and len(fake.live_buttons(tc["task_id"])) == 3
    assert run(rt, deliver, WEDNESDAY + timedelta(minutes=5))["claimed"] == 0


def test_an_update_whose_response_code_has_expired_fails_visibly(client, rt, fake):
    """WeCom takes a click's ResponseCode for 72 hours, once: a card update that waited longer (an
    outage) fails for good with the reason, and the card stays as the member sees it."""
    tc = task_card(rt, fake, WEDNESDAY)
    click(client, fake, "alice", tc["task_id"], key_of(tc, "华联超市:已跟进"))
    fake.skew = 72 * 3600 + 60
    run(rt, deliver, WEDNESDAY + timedelta(seconds=5))
    assert fake.updates == [] and len(fake.live_buttons(tc["task_id"])) == 6
    with rt.database.connection_context():
        row = Outbox.get(Outbox.key.startswith("wecard:"))
    assert row.status == "failed" and "60140" in row.last_error and "72 小时" in row.last_error


def test_a_long_answer_is_queued_with_the_message_or_not_at_all(client, rt, fake, monkeypatch):
    """An answer too long for the passive reply goes out as a message, queued in the message's own
    transaction: when queueing fails the message is not recorded either, so WeCom's retry runs it."""
    from bot.channels.wecom import wire as wecom
    from storage import outbox
    monkeypatch.setattr(wecom, "PASSIVE_LIMIT", 10)
    real_enqueue, calls = outbox.enqueue, []

    def enqueue_failing_once(*args, **kwargs):
        calls.append(args[0])
        if len(calls) == 1:
            raise RuntimeError("the database went away")
        return real_enqueue(*args, **kwargs)

    monkeypatch.setattr(outbox, "enqueue", enqueue_failing_once)
    inner = text_msg("alice", "拜访 华联超市 见了王总", "80008")
    assert wecom_post(client, inner).status_code == 500  # WeCom delivers it again
    assert activities(rt) == 0
    retry = wecom_post(client, inner, nonce="retry")
    assert retry.status_code == 200 and retry.get_data() == b""
    assert wecom_post(client, inner, nonce="again").get_data() == b""  # a third delivery: nothing new
    assert activities(rt) == 1
    run(rt, deliver, T0)
    assert "已记录拜访：华联超市" in [m["text"]["content"] for m in fake.sent if m["touser"] == "alice"][0]
    assert len(fake.sent) == 1


def test_other_events_get_no_answer(client, rt):
    inner = (f"<xml><ToUserName>{CORP_ID}</ToUserName><FromUserName>alice</FromUserName><CreateTime>7</CreateTime>"
             f"<MsgType>event</MsgType><Event>LOCATION</Event><Latitude>31.2</Latitude><Longitude>121.5</Longitude>"
             f"<Precision>30</Precision><AgentID>{AGENT}</AgentID></xml>")
    r = wecom_post(client, inner)
    assert r.status_code == 200 and r.get_data() == b""


def test_red_escalation_reaches_the_group_robot(client, rt, fake):
    red_time = T0 + timedelta(days=7, hours=1)  # five working days and an hour (Friday to Friday)
    run(rt, scan, red_time)
    run(rt, deliver, red_time)
    cards = [m for m in fake.robot if "红色预警" in m["text"]["content"]]
    assert len(cards) == 3
    assert cards[0]["text"]["mentioned_list"] == ["boss"]
    assert "建议" in cards[0]["text"]["content"]
    # the robot has no callback buttons: the card's buttons are links that act as the manager
    content = cards[0]["text"]["content"]
    assert len(content.encode()) <= 2048
    take = re.search(r"👉 我来介入：(\S+)", content).group(1)
    assert re.search(r"👉 请销售跟进：\S+", content)
    page = client.post(take[take.index("/a/"):])
    assert page.status_code == 200 and "你已认领" in page.get_data(as_text=True)


def test_a_red_card_for_a_team_with_many_managers_stays_whole(rt, fake):
    """Each manager gets links that act as them; with six managers the card's text still comes whole
    and the message within WeCom's 2048 bytes."""
    with rt.database.connection_context():
        team = people.ensure_team("东区")
        for i in range(5):
            people.upsert_rep(team, f"m{i}", f"主管{i}", "manager", wecom_userid=f"m{i}")
    red_time = T0 + timedelta(days=7, hours=1)  # five working days and an hour (Friday to Friday)
    run(rt, scan, red_time)
    run(rt, deliver, red_time)
    cards = [m["text"] for m in fake.robot if "红色预警" in m["text"]["content"]]
    assert len(cards) == 3
    for card in cards:
        assert len(card["content"].encode()) <= 2048 and "建议" in card["content"]
        assert "👉 我来介入（李岩）：" in card["content"]
        assert sorted(card["mentioned_list"]) == sorted(["boss"] + [f"m{i}" for i in range(5)])


def test_a_long_red_card_alone_in_its_message_keeps_its_links(rt, fake):
    """Over the robot's limit cards are merged; a card too long to share a message goes alone, with
    its 我来介入 link."""
    from storage import outbox
    with rt.database.connection_context():
        deal_id = Deal.select(Deal.id).scalar()
        for i in range(21):
            outbox.enqueue(f"red:{i}", "wecom", "mgr", {"template": "red_card", "data": {
                "customer": f"客户{i:02d}", "owner": "王磊", "stage": "谈判", "days_silent": 6, "amount": 80000,
                "last_activity": None, "suggestion": "主管致电决策人，" * 60},
                "buttons": [{"label": "我来介入", "action": f"take:{deal_id}:1"}]}, rt.now())
    assert run(rt, deliver, T0)["sent"] == 20
    assert len(fake.robot) == 20 and all("👉 我来介入" in m["text"]["content"] for m in fake.robot)


def test_expired_token_is_refreshed_once(rt, fake):
    with rt.database.connection_context():
        from storage import outbox
        outbox.enqueue("a", "wecom", "alice", {"template": "help", "data": {"stages": [], "activities": [],
                                                                            "manager": False}}, rt.now())
    run(rt, deliver, T0)
    assert fake.token_calls == 1 and len(fake.sent) == 1
    fake.expire_tokens()
    with rt.database.connection_context():
        from storage import outbox
        outbox.enqueue("b", "wecom", "bob", {"template": "help", "data": {"stages": [], "activities": [],
                                                                          "manager": False}}, rt.now())
    run(rt, deliver, T0 + timedelta(minutes=1))
    assert fake.token_calls == 2 and len(fake.sent) == 2
    with rt.database.connection_context():
        assert {r.status for r in Outbox.select()} == {"sent"}


HELP = {"template": "help", "data": {"stages": [], "activities": [], "manager": False}}


def test_a_failing_gettoken_is_not_called_in_a_burst(rt, fake):
    """The app secret was rotated in the admin console: gettoken fails. The ten messages waiting make
    one gettoken call between them per 10 s, not one each, and none is dropped. (The team's manager is
    told once, tests/e2e/test_operations.py: those alert rows are left out here.)"""
    from storage import outbox
    fake.secret = "rotated-in-the-console"
    with rt.database.connection_context():
        for i in range(10):
            outbox.enqueue(f"k{i}", "wecom", "alice", {"template": "followup_logged",
                                                      "data": {"customer": f"客户{i}"}}, rt.now())
    tally = run(rt, deliver, T0)
    assert fake.token_calls == 1 and tally == {"job": "deliver", "claimed": 10, "sent": 0, "deferred": 10,
                                               "failed": 0}
    with rt.database.connection_context():
        errors = sorted(r.last_error for r in Outbox.select().where(Outbox.key.startswith("k")))
    assert sum("errcode 40001" in e for e in errors) == 1
    assert sum("less than 10 s ago" in e for e in errors) == 9
    with rt.database.connection_context():  # waiting for the token used up no attempt: nothing was sent
        assert sorted(r.attempts for r in Outbox.select().where(Outbox.key.startswith("k"))) == [0] * 9 + [1]
    run(rt, deliver, T0 + timedelta(minutes=10))  # every row due again: still one call
    assert fake.token_calls == 2
    fake.secret = SECRET  # the admin puts the new secret in the config
    run(rt, deliver, T0 + timedelta(hours=3))
    assert fake.token_calls == 3 and len([m for m in fake.sent if m["touser"] == "alice"]) == 10
    assert len([m for m in fake.sent if m["touser"] == "boss"]) == 1  # the alert, once
    with rt.database.connection_context():
        assert {r.status for r in Outbox.select()} == {"sent"}


def test_a_hanging_gettoken_holds_up_no_callback(client, rt, fake):
    """While gettoken hangs, the delivery holds no database lock: a rep's message is answered."""
    import threading
    from storage import outbox
    fake.token_gate = threading.Event()
    with rt.database.connection_context():
        outbox.enqueue("slow", "wecom", "bob", HELP, rt.now())
    sender = threading.Thread(target=run, args=(rt, deliver, T0))
    sender.start()
    try:
        assert fake.token_waiting.wait(10)
        r = wecom_post(client, text_msg("alice", "拜访 华联超市 见了王总", "70007"))
        assert r.status_code == 200 and "已记录拜访" in decrypt_reply(r)["Content"]
        assert sender.is_alive()  # the token is still being fetched
    finally:
        fake.token_gate.set()
        sender.join(30)
    assert len(fake.sent) == 1 and fake.sent[0]["touser"] == "bob"


def test_gettoken_that_never_answers_times_out_and_is_retried(rt, fake, monkeypatch):
    import threading
    from bot.channels.wecom import client as wecom_api
    from storage import outbox
    monkeypatch.setattr(wecom_api, "TIMEOUT", 0.3)
    fake.token_gate = threading.Event()
    try:
        with rt.database.connection_context():
            outbox.enqueue("hang", "wecom", "alice", HELP, rt.now())
        tally = run(rt, deliver, T0)
        assert tally["deferred"] == 1 and tally["sent"] == 0
        with rt.database.connection_context():
            row = Outbox.get()
        assert row.status != "failed" and "Timeout" in row.last_error
    finally:
        fake.token_gate.set()


def test_rate_limited_recipient_is_retried_later_not_dropped(rt, fake):
    fake.app_limit = 2  # the app's own frequency limit: 45009
    from storage import outbox
    with rt.database.connection_context():
        for i in range(3):
            outbox.enqueue(f"r{i}", "wecom", "wecom:zed", {"template": "nudge", "data": {"manager": "李岩",
                                                                                          "customer": f"c{i}"}},
                           rt.now())
    result = run(rt, deliver, T0)
    assert result["sent"] == 2 and result["deferred"] == 1
    with rt.database.connection_context():
        row = Outbox.get(Outbox.key == "r2")
        assert row.status == "pending" and "45009" in row.last_error and row.next_attempt_at > rt.now()


def test_a_long_list_reaches_the_rep_whole_in_parts(rt, fake):
    """A manager's list over WeCom's 2048 bytes goes as several messages cut between lines, nothing cut
    off; when a later part fails the retry sends only what is missing."""
    from storage import outbox
    rows = [{"deal_id": i, "customer": f"客户{i:02d}", "owner": "王磊", "stage": "方案提交", "days_silent": 4,
             "level": "orange", "level_name": "橙色", "icon": "🟠"} for i in range(40)]
    with rt.database.connection_context():
        outbox.enqueue("reply:wecom:msg:1:0", "wecom", "boss", {"template": "my_deals", "data": {
            "rows": rows, "manager": True, "total": 137, "more": 97}}, rt.now())
    fake.busy = 0
    fake.app_limit = 1  # the second part meets the app's frequency limit: 45009
    assert run(rt, deliver, T0)["deferred"] == 1
    fake.app_limit = None
    fake._windows.clear()
    assert run(rt, deliver, T0 + timedelta(minutes=2))["sent"] == 1
    parts = [m["text"]["content"] for m in fake.sent if m["touser"] == "boss"]
    assert len(parts) == 2 and all(len(p.encode()) <= 2048 for p in parts)
    whole = "\n".join(parts)
    assert all(f"客户{i:02d}" in whole for i in range(40)) and "还有 97 个" in whole
    assert fake.deduped == 0 and len(parts) == 2  # the retry did not send the first part again
    with rt.database.connection_context():  # a long list sent in one go leaves no count behind either
        outbox.enqueue("reply:wecom:msg:2:0", "wecom", "boss", {"template": "my_deals", "data": {
            "rows": rows, "manager": True, "total": 137, "more": 96}}, rt.now())
    assert run(rt, deliver, T0 + timedelta(minutes=4))["sent"] == 1
    assert len([m for m in fake.sent if m["touser"] == "boss"]) == 4
    with rt.database.connection_context():
        assert not KeyValue.select().where(KeyValue.key.startswith("wecom:parts:")).exists()


def test_the_same_question_asked_twice_is_answered_twice(rt, fake):
    """WeCom's duplicate check is for what the bot sends on its own; an answer that goes by message (a
    card click's outcome, a long list) reaches the rep every time they ask."""
    from storage import outbox
    with rt.database.connection_context():
        for msg in ("m1", "m2"):
            outbox.enqueue(f"reply:wecom:card:alice:{msg}:0", "wecom", "alice",
                           {"template": "followup_logged", "data": {"customer": "华联超市"}}, rt.now())
        for day in ("d1", "d2"):  # a card the scheduler sends twice (a crash): WeCom drops the second
            outbox.enqueue(f"task:alice:{day}", "wecom", "alice",
                           {"template": "followup_logged", "data": {"customer": "永辉超市"}}, rt.now())
    assert run(rt, deliver, T0)["sent"] == 4
    texts = [m["text"]["content"] for m in fake.sent]
    assert sum("华联超市" in t for t in texts) == 2 and sum("永辉超市" in t for t in texts) == 1
    assert fake.deduped == 1


def test_invalid_user_fails_visibly(rt, fake):
    fake.invalid_users.add("alice")
    from storage import outbox
    with rt.database.connection_context():
        outbox.enqueue("x", "wecom", "alice", {"template": "nudge", "data": {"manager": "李岩", "customer": "c"}},
                       rt.now())
    assert run(rt, deliver, T0)["failed"] == 1
    with rt.database.connection_context():
        row = Outbox.get()
        assert row.status == "failed" and "invaliduser" in row.last_error
        assert "81013" in row.last_error and "alice" in row.last_error  # WeCom's code, and who it was


def test_more_red_cards_than_the_robot_limit_are_merged(rt, fake):
    from storage import outbox
    card = {"template": "red_card", "data": {"customer": "c", "owner": "王磊", "stage": "谈判", "days_silent": 6,
                                             "amount": 80000, "last_activity": None, "suggestion": "主管致电决策人"}}
    with rt.database.connection_context():
        for i in range(45):
            outbox.enqueue(f"red:{i}", "wecom", "mgr", {**card, "data": {**card["data"], "customer": f"客户{i:02d}"}},
                           rt.now())
    run(rt, deliver, T0)
    assert 1 < len(fake.robot) <= 20  # merged, within the robot's 20 a minute
    text = "\n".join(m["text"]["content"] for m in fake.robot)
    assert all(f"客户{i:02d}" in text for i in range(45))  # nothing dropped
    assert all(len(m["text"]["content"].encode()) <= 2048 for m in fake.robot)
    with rt.database.connection_context():
        assert Outbox.select().where(Outbox.status == "sent").count() == 45
