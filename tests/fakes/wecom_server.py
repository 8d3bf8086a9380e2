"""A loopback fake of the WeCom server API: a real HTTP server in a thread.

Implements cgi-bin/gettoken, message/send, message/update_template_card and webhook/send with their
documented responses and records every request it received. As strict as the real server:

- a wrong secret: 40001 from gettoken; a server IP outside the app's trusted IPs (`trusted_ip = False`):
  60020 from every API call; an expired token 42001, an unknown one 40014;
- message/send: a text over 2048 bytes 45002; a template card checked against the documented schema
  (card_type, main_title.title, task_id of [0-9A-Za-z_-@] up to 128, 1-6 buttons each with text and
  key; sub_title_text at most 160 characters, what the client shows): 40058 naming the field; a task_id
  used before (by any message, ever) 42014; a recipient outside the app's visibility: 81013;
- a member's 31st message within a minute is answered errcode 0 and dropped silently (`dropped`), as
  WeCom does; `app_limit` (off by default) answers 45009 past that many messages a minute for the app;
- the group robot: 20 a minute (45009), a text over 2048 bytes 45002;
- message/update_template_card: a response_code is one this server gave (the send's answer, or a
  click: `click()`, which also refuses a button the member cannot see or press), good once (60140
  after) and for 72 hours (60140 after; `skew` moves the fake's clock), for the member it was given
  to; the body carries a card valid by the schema above, with the clicked card's own task_id (40058
  otherwise), or `button.replace_name`. `cards` is what each member sees: every card as last updated.
"""
from __future__ import annotations

import json
import re
import threading
import time
from collections import defaultdict, deque
from urllib.parse import parse_qs, urlparse

from tests.fakes.loopback import JsonHandler, LoopbackServer


class FakeWeCom(LoopbackServer):
    def __init__(self, corp_id: str, secret: str, robot_keys=("robot-key",)):
        self.corp_id, self.secret = corp_id, secret
        self.agent_id = "1000002"
        self.robot_keys = set(robot_keys)
        self.tokens: set[str] = set()
        self.token_calls = 0
        self.sent: list[dict] = []  # message/send bodies accepted
        self.robot: list[dict] = []  # webhook/send bodies accepted
        self.updates: list[dict] = []
        self.requests: list[tuple[str, str]] = []
        self.invalid_users: set[str] = set()
        self.busy = 0  # answer errcode 45033 to this many next message/send calls
        self.member_limit, self.robot_limit = 30, 20
        self.app_limit: int | None = None  # 45009 past this many message/send calls a minute (app level)
        self.dropped: list[dict] = []  # message/send bodies WeCom accepted and never delivered (over 30/min)
        self.trusted_ip = True  # False: every call comes from an address outside the app's trusted IPs
        self.task_ids: set[str] = set()
        self.delay = 0.0  # seconds each message/send takes
        self.token_gate: threading.Event | None = None  # gettoken answers only once this is set
        self.token_waiting = threading.Event()  # set while a gettoken call waits at the gate
        self.spent_codes: set[str] = set()
        self.codes: dict[str, dict] = {}  # response_code -> {"task_id", "user", "issued"}
        self.cards: dict[str, dict] = {}  # task_id -> {"touser", "card"} (the card as the member sees it now)
        self.skew = 0.0  # seconds added to the clock response codes age by
        self.deduped = 0  # message/send calls WeCom's duplicate check swallowed
        self._seen: dict[str, float] = {}
        self._windows: dict[str, deque] = defaultdict(deque)
        self._lock = threading.Lock()
        self._listen()

    @property
    def base(self) -> str:
        return f"{self.origin}/cgi-bin/"

    def _issue(self, task_id: str, user: str | None) -> str:
        code = f"rc-{len(self.codes) + 1}-{task_id[-6:]}"
        self.codes[code] = {"task_id": task_id, "user": user, "issued": time.time() + self.skew}
        return code

    def click(self, user: str, task_id: str, key: str) -> str:
        """A member presses a button: the ResponseCode of the click event, as WeCom sends it. Only a
        button the member's card shows live can be pressed (AssertionError otherwise)."""
        with self._lock:
            shown = self.cards.get(task_id)
            assert shown is not None and shown["touser"] == user, f"{user} has no card {task_id}"
            card = shown["card"]
            assert not card.get("replace_text"), f"the card's buttons are greyed: {card['replace_text']}"
            assert key in [b["key"] for b in card.get("button_list", [])], f"no live button {key} on the card"
            return self._issue(task_id, user)

    def live_buttons(self, task_id: str) -> list[str]:
        """The texts of the buttons a member can press on the card now."""
        card = self.cards[task_id]["card"]
        return [] if card.get("replace_text") else [b["text"] for b in card.get("button_list", [])]

    def _update_error(self, body: dict) -> tuple[int, str] | None:
        """What the real server refuses in an update_template_card call (None: it is applied)."""
        code = body.get("response_code")
        issued = self.codes.get(code) if isinstance(code, str) else None
        if issued is None:
            return 40058, "invalid Request Parameter: response_code"
        if code in self.spent_codes:
            return 60140, "response_code has been used"
        if time.time() + self.skew - issued["issued"] > 72 * 3600:
            return 60140, "response_code expired"
        userids = body.get("userids") or []
        if issued["user"] is not None and not body.get("atall") and issued["user"] not in userids:
            return 40058, "invalid Request Parameter: userids"
        if "template_card" in body:
            why = self.card_error(body["template_card"])
            if why:
                return 40058, f"invalid Request Parameter: {why}"
            if body["template_card"]["task_id"] != issued["task_id"]:
                return 40058, "invalid Request Parameter: template_card.task_id (not the clicked card's)"
        elif not isinstance(body.get("button"), dict) or not body["button"].get("replace_name"):
            return 40058, "invalid Request Parameter: template_card or button.replace_name"
        return None

    def expire_tokens(self) -> None:
        with self._lock:
            self.tokens.clear()

    def _over(self, key: str, limit: int) -> bool:
        now = time.monotonic()
        w = self._windows[key]
        while w and now - w[0] >= 60:
            w.popleft()
        if len(w) >= limit:
            return True
        w.append(now)
        return False

    @staticmethod
    def card_error(card) -> str | None:
        """What the real server refuses in a button_interaction template card (None: a valid card)."""
        if not isinstance(card, dict) or card.get("card_type") not in (
                "text_notice", "news_notice", "button_interaction", "vote_interaction", "multiple_interaction"):
            return "template_card.card_type"
        if not isinstance(card.get("main_title"), dict) or not card["main_title"].get("title"):
            return "template_card.main_title.title"
        if len(card["main_title"]["title"]) > 36:
            return "template_card.main_title.title (at most 36 characters)"
        task_id = card.get("task_id")
        if not isinstance(task_id, str) or not re.fullmatch(r"[0-9A-Za-z_\-@]{1,128}", task_id):
            return "template_card.task_id"
        if len(str(card.get("sub_title_text", ""))) > 160:
            return "template_card.sub_title_text (at most 160 characters)"
        if "replace_text" in card and (not isinstance(card["replace_text"], str) or not card["replace_text"]):
            return "template_card.replace_text"
        buttons = card.get("button_list")
        if card["card_type"] == "button_interaction":
            if not isinstance(buttons, list) or not 1 <= len(buttons) <= 6:
                return "template_card.button_list (1 to 6 buttons)"
            for b in buttons:
                if not b.get("text") or not b.get("key") or len(b["key"].encode()) > 1024:
                    return "template_card.button_list[].text/key"
        return None

    def _handler(self):
        fake = self

        class Handler(JsonHandler):
            def do_GET(self):
                url = urlparse(self.path)
                q = {k: v[0] for k, v in parse_qs(url.query).items()}
                fake.requests.append(("GET", url.path))
                if not fake.trusted_ip:
                    return self._json({"errcode": 60020, "errmsg": "not allow to access from your ip"})
                if url.path == "/cgi-bin/gettoken":
                    if fake.token_gate is not None:
                        fake.token_waiting.set()
                        fake.token_gate.wait(30)
                    with fake._lock:
                        fake.token_calls += 1
                        if q.get("corpid") != fake.corp_id or q.get("corpsecret") != fake.secret:
                            return self._json({"errcode": 40001, "errmsg": "invalid credential"})
                        token = f"tok-{fake.token_calls}"
                        fake.tokens.add(token)
                    return self._json({"errcode": 0, "errmsg": "ok", "access_token": token, "expires_in": 7200})
                if url.path == "/cgi-bin/agent/get":
                    if q.get("access_token") not in fake.tokens:
                        return self._json({"errcode": 40014, "errmsg": "invalid access_token"})
                    if q.get("agentid") != fake.agent_id:
                        return self._json({"errcode": 301002, "errmsg": "not allow operate another agent with this accesstoken"})
                    return self._json({"errcode": 0, "errmsg": "ok", "agentid": int(fake.agent_id), "name": "销售漏斗助手"})
                self._json({"errcode": 404, "errmsg": "not found"}, 404)

            def do_POST(self):
                url = urlparse(self.path)
                q = {k: v[0] for k, v in parse_qs(url.query).items()}
                body = json.loads(self.rfile.read(int(self.headers.get("Content-Length", 0))) or b"{}")
                fake.requests.append(("POST", url.path))
                if url.path == "/cgi-bin/webhook/send":
                    key = q.get("key", "")
                    with fake._lock:
                        if key not in fake.robot_keys:
                            return self._json({"errcode": 93000, "errmsg": "invalid webhook url"})
                        if len(str((body.get("text") or {}).get("content", "")).encode()) > 2048:
                            return self._json({"errcode": 45002, "errmsg": "content size out of limit"})
                        if fake._over(f"robot:{key}", fake.robot_limit):
                            return self._json({"errcode": 45009, "errmsg": "api freq out of limit"})
                        fake.robot.append({"key": key, **body})
                    return self._json({"errcode": 0, "errmsg": "ok"})
                if not fake.trusted_ip:
                    return self._json({"errcode": 60020, "errmsg": "not allow to access from your ip"})
                token = q.get("access_token", "")
                with fake._lock:
                    if token not in fake.tokens:
                        code = 42001 if token.startswith("tok-") else 40014
                        return self._json({"errcode": code, "errmsg": "access_token expired" if code == 42001
                                           else "invalid access_token"})
                if url.path == "/cgi-bin/message/send":
                    if fake.delay:
                        time.sleep(fake.delay)
                    with fake._lock:
                        if fake.busy > 0:
                            fake.busy -= 1
                            return self._json({"errcode": 45033, "errmsg": "api concurrent out of limit"})
                        user = body.get("touser", "")
                        if user in fake.invalid_users:
                            return self._json({"errcode": 81013, "errmsg": "user & party & tag all invalid"})
                        if body.get("msgtype") == "text" and len(str(body.get("text", {}).get("content", ""))
                                                                 .encode()) > 2048:
                            return self._json({"errcode": 45002, "errmsg": "content size out of limit"})
                        if body.get("msgtype") == "template_card":
                            card = body.get("template_card")
                            why = fake.card_error(card)
                            if why:
                                return self._json({"errcode": 40058, "errmsg": f"invalid Request Parameter: {why}"})
                            if card["task_id"] in fake.task_ids:
                                return self._json({"errcode": 42014, "errmsg": "task_id exist"})
                        if fake.app_limit is not None and fake._over("app", fake.app_limit):
                            return self._json({"errcode": 45009, "errmsg": "api freq out of limit"})
                        if body.get("msgtype") == "template_card":
                            fake.task_ids.add(body["template_card"]["task_id"])
                        if fake._over(f"user:{user}", fake.member_limit):
                            fake.dropped.append(body)  # accepted, never shown to the member
                            return self._json({"errcode": 0, "errmsg": "ok", "msgid": f"d{len(fake.dropped)}"})
                        if body.get("enable_duplicate_check"):  # same content to the same user: dropped
                            sig = json.dumps({k: v for k, v in body.items() if k not in ("touser",)},
                                             sort_keys=True) + user
                            seen = fake._seen.get(sig)
                            fake._seen[sig] = time.monotonic()
                            if seen is not None and time.monotonic() - seen < body.get("duplicate_check_interval", 1800):
                                fake.deduped += 1
                                return self._json({"errcode": 0, "errmsg": "ok", "msgid": "dup"})
                        response_code = None
                        if body.get("msgtype") == "template_card":  # the member sees it, and may press it
                            task_id = body["template_card"]["task_id"]
                            fake.cards[task_id] = {"touser": user, "card": body["template_card"]}
                            response_code = fake._issue(task_id, None)
                        fake.sent.append(body)
                    answer = {"errcode": 0, "errmsg": "ok", "msgid": f"m{len(fake.sent)}"}
                    return self._json({**answer, "response_code": response_code} if response_code else answer)
                if url.path == "/cgi-bin/message/update_template_card":
                    with fake._lock:
                        refused = fake._update_error(body)
                        if refused:
                            return self._json({"errcode": refused[0], "errmsg": refused[1]})
                        code = body["response_code"]
                        fake.spent_codes.add(code)
                        fake.updates.append(body)
                        shown = fake.cards[fake.codes[code]["task_id"]]
                        if "template_card" in body:
                            shown["card"] = body["template_card"]
                        else:  # the buttons greyed, with the new text
                            shown["card"] = {**shown["card"], "replace_text": body["button"]["replace_name"]}
                    return self._json({"errcode": 0, "errmsg": "ok"})
                self._json({"errcode": 404, "errmsg": "not found"}, 404)

        return Handler
