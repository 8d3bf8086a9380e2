"""Malformed requests for every HTTP route, unsigned and correctly signed, drawn from a `random.Random`.

Shared by the property tests (tests/security/test_routes_fuzz.py, where hypothesis supplies the Random
through `st.randoms()`, so failures shrink) and the long seeded run (bench/fuzz.py). Two apps: the demo
shape (local channel, demo login, simulator) and the production shape (WeCom and DingTalk configured);
both have the events API on.
"""
from __future__ import annotations

import json
import time
from datetime import datetime, timezone
from urllib.parse import quote

from wechatpy.enterprise.crypto import WeChatCrypto

from bot import create_app
from bot.api import sign as api_sign
from bot.channels.dingtalk.sign import sign as dingtalk_sign
from bot.clock import FixedClock

T0 = datetime(2026, 11, 27, 2, 0, tzinfo=timezone.utc)
API_SECRET = "fuzz-api-secret"
TOKEN, AES_KEY, CORP_ID, AGENT = "fuzztoken", "kWxPEV2UEDyxWpmPdKC3F4dgPDmOvfKX1HGnEUDS1aR", "wx49f0ab532d5d035a", "1000002"
APP_KEY, APP_SECRET = "dingfuzzkey", "ding-fuzz-secret"
WORDS = ["新客户", "拜访", "推进", "赢单", "输单", "推迟", "我的客户", "客户", "今日任务", "漏斗", "周报", "介入", "催办",
         "帮助", "华联超市", "金额", "原因:", "下一步", "天", "99999999999999999999", "1e308", "-1", "0", "9999-12",
         "2026-Q4", "]]>", "<![CDATA[", "&amp;", "<!DOCTYPE x>", "\u202e", "@销售助手", "１２３", "%00", "%09", "../",
         "//evil.com", "\\", "'", '"', "null", "NaN", "{}", "[]", "followup:1:1", "snooze:99999999999999999999:24",
         "rep1", "liyan", "alice", "boss", "mgr", "\r\n"]
RANGES = [(0x20, 0x7e), (0x4e00, 0x9fff), (0x0, 0x1f), (0xa0, 0x2fff), (0xe000, 0xfffd), (0x1f300, 0x1f64f)]


# -- junk ------------------------------------------------------------------------------------------------

def text(rnd, size: int = 12) -> str:
    kind = rnd.random()
    if kind < 0.4:
        return " ".join(rnd.choice(WORDS) for _ in range(rnd.randint(0, 4)))
    if kind < 0.5:
        return str(rnd.choice([10 ** 23, 2 ** 63, -2 ** 63, 2 ** 31, 10 ** 40, 0, -1]))
    lo, hi = rnd.choice(RANGES)
    return "".join(chr(rnd.randint(lo, hi)) for _ in range(rnd.randint(0, size)))


def header(rnd, size: int = 12) -> str:
    """Junk a header can carry (HTTP has no newline in a header value)."""
    return text(rnd, size).replace("\r", "").replace("\n", "")


def scalar(rnd):
    return rnd.choice([None, True, False, rnd.randint(-2 ** 70, 2 ** 70), rnd.random() * 10 ** rnd.randint(0, 308),
                       float("1e308"), -0.0, text(rnd), text(rnd, 200)])


def value(rnd, depth: int = 0):
    """Any JSON value, a few levels deep."""
    r = rnd.random()
    if depth > 3 or r < 0.5:
        return scalar(rnd)
    if r < 0.75:
        return [value(rnd, depth + 1) for _ in range(rnd.randint(0, 3))]
    return {text(rnd, 6): value(rnd, depth + 1) for _ in range(rnd.randint(0, 3))}


def deep(n: int, kind: str = "json") -> str:
    return "[" * n + "]" * n if kind == "json" else "<a>" * n + "</a>" * n


def mutate(rnd, obj: dict) -> dict:
    """A plausible object with some fields replaced by junk or removed."""
    out = dict(obj)
    for key in rnd.sample(list(out), k=rnd.randint(0, len(out))):
        if rnd.random() < 0.3:
            out.pop(key)
        else:
            out[key] = value(rnd)
    return out


def body_json(rnd, plausible: dict) -> bytes:
    r = rnd.random()
    if r < 0.05:
        return deep(rnd.choice([100, 3000, 20000])).encode()
    if r < 0.1:
        return text(rnd, 40).encode("utf-8", "replace")
    if r < 0.2:
        return json.dumps(value(rnd)).encode()
    return json.dumps(mutate(rnd, plausible), ensure_ascii=rnd.random() < 0.5).encode()


def query(rnd, names: list[str]) -> dict:
    return {n: text(rnd) for n in names if rnd.random() < 0.7}


# -- the apps --------------------------------------------------------------------------------------------

def demo_app(url: str):
    from bot.demo import load_demo
    app = create_app({"database_url": url, "use_dotenv": False, "bot_local_channel": "1", "bot_demo_login": "1",
                      "bot_simulator": "1", "bot_api_secret": API_SECRET, "bot_secret_key": "fuzz-secret-key"},
                     clock=FixedClock(T0))
    rt = app.extensions["bot"]
    with rt.database.connection_context():
        load_demo(rt.funnel, rt.now())
    return app


def production_app(url: str):
    from tests.helpers import small_team
    app = create_app({"database_url": url, "use_dotenv": False, "bot_api_secret": API_SECRET,
                      "bot_secret_key": "fuzz-secret-key", "wecom_corp_id": CORP_ID, "wecom_agent_id": AGENT,
                      "wecom_secret": "fuzz-wecom-secret", "wecom_token": TOKEN, "wecom_aes_key": AES_KEY,
                      "wecom_api_base": "http://127.0.0.1:9/cgi-bin/", "dingtalk_app_key": APP_KEY,
                      "dingtalk_app_secret": APP_SECRET, "dingtalk_robot_code": APP_KEY,
                      "dingtalk_api_base": "http://127.0.0.1:9", "dingtalk_oapi_base": "http://127.0.0.1:9",
                      "bot_public_url": "https://bot.example.com"}, clock=FixedClock(T0))
    small_team(app.extensions["bot"])
    return app


class Session:
    """A test client of one app, logged in as `user` (demo app) with its CSRF token."""

    def __init__(self, app, user: str | None = None):
        import re
        self.app, self.client = app, app.test_client()
        self.counter = 0
        page = self.client.get("/login").get_data(as_text=True)
        m = re.search(r'name="csrf(?:_token|-token)" (?:value|content)="([^"]+)"', page)
        self.csrf = m.group(1) if m else ""
        if user:
            self.client.post("/login/demo", data={"csrf_token": self.csrf, "user": user})
            page = self.client.get("/simulator").get_data(as_text=True)
            m = re.search(r'name="csrf(?:_token|-token)" (?:value|content)="([^"]+)"', page)
            self.csrf = m.group(1) if m else self.csrf

    def unique(self) -> int:
        self.counter += 1
        return self.counter


# -- requests: each builder returns (method, path, kwargs for client.open) -------------------------------

def local_messages(rnd, s):
    body = {"user": rnd.choice(["rep1", "liyan", "nobody", ""]), "text": text(rnd, 60), "id": f"fz-{s.unique()}"}
    if rnd.random() < 0.3:
        body = {"user": body["user"], "action": rnd.choice(WORDS + [text(rnd)]), "id": body["id"]}
    return "POST", "/local/messages", {"data": body_json(rnd, body), "content_type": "application/json"}


def local_outbox(rnd, s):
    return "GET", "/local/outbox", {"query_string": query(rnd, ["to", "limit"])}


def simulator(rnd, s):
    kind = rnd.choice(["send", "advance", "feed", "page"])
    headers = {"X-CSRF-Token": s.csrf if rnd.random() < 0.9 else header(rnd)}
    if kind == "send":
        body = {"user": rnd.choice(["rep1", "liyan", text(rnd)]), "text": text(rnd, 40)}
        return "POST", "/simulator/send", {"data": body_json(rnd, body), "content_type": "application/json",
                                           "headers": headers}
    if kind == "advance":
        body = rnd.choice([{"hours": value(rnd)}, {"days": value(rnd)}, {"at": text(rnd)}, {"to": text(rnd)},
                           {"hours": rnd.choice([1e308, -1, float("inf"), 0.001, 2])}])
        return "POST", "/simulator/advance", {"data": body_json(rnd, body), "content_type": "application/json",
                                              "headers": headers}
    if kind == "feed":
        return "GET", "/simulator/feed", {"query_string": query(rnd, ["user"])}
    return "GET", "/simulator", {"query_string": query(rnd, ["user"])}


def login(rnd, s):
    kind = rnd.choice(["page", "demo", "logout", "wecom", "dingtalk"])
    if kind == "page":
        return "GET", "/login", {"query_string": query(rnd, ["next"])}
    if kind == "demo":
        return "POST", "/login/demo", {"data": {"csrf_token": s.csrf if rnd.random() < 0.7 else text(rnd),
                                                "user": rnd.choice(["rep1", text(rnd)]), "next": text(rnd)}}
    if kind == "logout":
        return "POST", "/logout", {"data": {"csrf_token": text(rnd)}}
    return "GET", f"/login/{kind}/callback", {"query_string": query(rnd, ["state", "code", "authCode"])}


def dashboard(rnd, s):
    path = rnd.choice(["/dashboard", "/dashboard/warnings", "/dashboard/numbers", "/", "/dashboard/deal/"])
    if path.endswith("/deal/"):
        path += quote(str(rnd.choice([1, 0, 2 ** 31, 2 ** 63, 10 ** 30, text(rnd)])), safe="")
    return "GET", path, {"query_string": query(rnd, ["team", "rep", "period", "level", "page", "wait"])}


def links(rnd, s):
    from bot.links import make_token
    rt = s.app.extensions["bot"]
    token = make_token(rt, rnd.choice(["rep1", "liyan", "nobody"]), rnd.choice(WORDS), label=text(rnd))
    r = rnd.random()
    if r < 0.3:
        token = token + rnd.choice(["=", "==", ".", "x", "%00"])
    elif r < 0.5:
        i = rnd.randrange(len(token))
        token = token[:i] + rnd.choice("AZaz09-_.=") + token[i + 1:]
    elif r < 0.6:
        token = text(rnd, 60)
    return rnd.choice(["GET", "POST", "HEAD"]), "/a/" + quote(token, safe=""), {}


def api_events(rnd, s, signed: bool = True):
    ts = str(int(T0.timestamp()) + s.unique() % 200)
    event = {"id": f"ev-{s.unique()}", "type": rnd.choice(["doc_open", "call", "ticket_opened", text(rnd)]),
             "customer": rnd.choice(["华联超市", text(rnd)]), "at": rnd.choice(["2026-11-27T09:00:00+08:00", text(rnd)]),
             "ticket_id": text(rnd), "contact": text(rnd), "title": text(rnd), "text": text(rnd, 40)}
    body = body_json(rnd, {"events": [mutate(rnd, event) for _ in range(rnd.randint(0, 3))]})
    sig = api_sign(API_SECRET, ts, body) if signed else header(rnd, 64)
    headers = {"X-Bot-Timestamp": ts if signed or rnd.random() < 0.5 else header(rnd), "X-Bot-Signature": sig}
    return "POST", "/api/events", {"data": body, "content_type": "application/json", "headers": headers}


def misc(rnd, s):
    return "GET", rnd.choice(["/healthz", "/charts/" + quote(text(rnd) or "x", safe="") + ".png",
                              "/api/openapi.json", "/static/" + quote(text(rnd) or "x", safe="")]), {}


# production shape

crypto = WeChatCrypto(TOKEN, AES_KEY, CORP_ID)


def wecom_inner(rnd) -> str:
    fields = {"ToUserName": CORP_ID, "FromUserName": rnd.choice(["alice", "bob", "intruder", text(rnd)]),
              "CreateTime": str(rnd.randint(0, 2 ** 40)), "MsgType": rnd.choice(["text", "event", "image", text(rnd)]),
              "Content": text(rnd, 80), "MsgId": str(rnd.randint(0, 2 ** 64)),
              "Event": rnd.choice(["template_card_event", "enter_agent", "LOCATION", text(rnd)]),
              "EventKey": rnd.choice(WORDS), "TaskId": text(rnd), "ResponseCode": text(rnd), "AgentID": AGENT}
    parts = []
    for k, v in mutate(rnd, fields).items():
        v = "" if v is None else str(v)
        if rnd.random() < 0.05:
            parts.append(f"<{k}>{deep(rnd.choice([50, 3000]), 'xml')}</{k}>")
        elif rnd.random() < 0.7:
            parts.append(f"<{k}><![CDATA[{v.replace(']]>', '')}]]></{k}>")
        else:
            parts.append(f"<{k}>{v}</{k}>")
    return "<xml>" + "".join(parts) + "</xml>"


def wecom(rnd, s, signed: bool = True):
    nonce, ts = f"n{s.unique()}", str(int(time.time()))
    if rnd.random() < 0.15:  # the URL check
        return "GET", "/wecom/callback", {"query_string": {"msg_signature": text(rnd), "timestamp": ts,
                                                            "nonce": nonce, "echostr": text(rnd, 40)}}
    if not signed:
        body = rnd.choice([text(rnd, 80), wecom_inner(rnd), f"<xml><Encrypt>{text(rnd, 60)}</Encrypt></xml>",
                           "<!DOCTYPE x [<!ENTITY a 'b'>]><xml>&a;</xml>", deep(3000, "xml")])
        q = {"msg_signature": text(rnd), "timestamp": text(rnd), "nonce": text(rnd)}
        return "POST", "/wecom/callback", {"data": body.encode("utf-8", "replace"), "query_string": q,
                                           "content_type": "text/xml"}
    import xmltodict
    env = xmltodict.parse(crypto.encrypt_message(wecom_inner(rnd), nonce, ts))["xml"]
    body = f"<xml><ToUserName><![CDATA[{CORP_ID}]]></ToUserName><Encrypt><![CDATA[{env['Encrypt']}]]></Encrypt></xml>"
    q = {"msg_signature": env["MsgSignature"], "timestamp": ts, "nonce": nonce}
    return "POST", "/wecom/callback", {"data": body.encode(), "query_string": q, "content_type": "text/xml"}


def dingtalk(rnd, s, signed: bool = True):
    now = int(T0.timestamp() * 1000) + s.unique()  # a fresh timestamp: one (timestamp, sign) pair, one body
    body = {"msgtype": rnd.choice(["text", "richText", "audio", "picture", text(rnd)]), "msgId": f"m{s.unique()}",
            "createAt": rnd.choice([now, 10 ** 20, -1, 1e20, text(rnd)]), "conversationType": rnd.choice(["1", "2", 3]),
            "conversationId": text(rnd), "senderStaffId": rnd.choice(["alice", "boss", text(rnd)]),
            "robotCode": rnd.choice([APP_KEY, APP_KEY, text(rnd)]),
            "sessionWebhook": rnd.choice(["https://oapi.dingtalk.com/robot/sendBySession?session=x",
                                          "http://127.0.0.1:8000/local/messages", "http://169.254.169.254/",
                                          text(rnd)]),
            "sessionWebhookExpiredTime": rnd.choice([now + 5400000, 10 ** 20, text(rnd)]),
            "text": rnd.choice([{"content": text(rnd, 60)}, value(rnd)]),
            "content": rnd.choice([{"recognition": text(rnd)}, {"richText": value(rnd)}, value(rnd)])}
    data = body_json(rnd, body)
    ts = str(now) if signed else rnd.choice([str(now), header(rnd)])
    sig = dingtalk_sign(ts, APP_SECRET) if signed else header(rnd, 44)
    return "POST", "/dingtalk/callback", {"data": data, "content_type": "application/json",
                                          "headers": {"timestamp": ts, "sign": sig}}


DEMO_ROUTES = {"local_messages": local_messages, "local_outbox": local_outbox, "simulator": simulator,
               "login": login, "dashboard": dashboard, "links": links, "api_events_signed": api_events,
               "api_events_unsigned": lambda rnd, s: api_events(rnd, s, signed=False), "misc": misc}
PRODUCTION_ROUTES = {"wecom_signed": wecom, "wecom_unsigned": lambda rnd, s: wecom(rnd, s, signed=False),
                     "dingtalk_signed": dingtalk, "dingtalk_unsigned": lambda rnd, s: dingtalk(rnd, s, signed=False),
                     "login_production": login, "links_production": links, "dashboard_production": dashboard}


def send(session: Session, builder, rnd):
    """Build one request and send it; (method, path, status)."""
    method, path, kwargs = builder(rnd, session)
    resp = session.client.open(path, method=method, **kwargs)
    return method, path, resp.status_code
