"""A loopback fake of the WeCom server API: a real HTTP server in a thread.

Implements cgi-bin/gettoken, message/send, message/update_template_card and webhook/send with their
documented responses, the per-member (30/min) and robot (20/min) limits, token expiry (42001) and
invalid users (invaliduser), and records every request it received.
"""
from __future__ import annotations

import json
import threading
import time
from collections import defaultdict, deque
from urllib.parse import parse_qs, urlparse

from tests.fakes.loopback import JsonHandler, LoopbackServer


class FakeWeCom(LoopbackServer):
    def __init__(self, corp_id: str, secret: str, robot_keys=("robot-key",)):
        self.corp_id, self.secret = corp_id, secret
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
        self.delay = 0.0  # seconds each message/send takes
        self.token_gate: threading.Event | None = None  # gettoken answers only once this is set
        self.token_waiting = threading.Event()  # set while a gettoken call waits at the gate
        self.spent_codes: set[str] = set()
        self.deduped = 0  # message/send calls WeCom's duplicate check swallowed
        self._seen: dict[str, float] = {}
        self._windows: dict[str, deque] = defaultdict(deque)
        self._lock = threading.Lock()
        self._listen()

    @property
    def base(self) -> str:
        return f"{self.origin}/cgi-bin/"



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

    def _handler(self):
        fake = self

        class Handler(JsonHandler):
            def do_GET(self):
                url = urlparse(self.path)
                q = {k: v[0] for k, v in parse_qs(url.query).items()}
                fake.requests.append(("GET", url.path))
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
                        if fake._over(f"robot:{key}", fake.robot_limit):
                            return self._json({"errcode": 45009, "errmsg": "api freq out of limit"})
                        fake.robot.append({"key": key, **body})
                    return self._json({"errcode": 0, "errmsg": "ok"})
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
                            return self._json({"errcode": 0, "errmsg": "ok", "invaliduser": user})
                        if fake._over(f"user:{user}", fake.member_limit):
                            return self._json({"errcode": 45009, "errmsg": "api freq out of limit"})
                        if body.get("enable_duplicate_check"):  # same content to the same user: dropped
                            sig = json.dumps({k: v for k, v in body.items() if k not in ("touser",)},
                                             sort_keys=True) + user
                            seen = fake._seen.get(sig)
                            fake._seen[sig] = time.monotonic()
                            if seen is not None and time.monotonic() - seen < body.get("duplicate_check_interval", 1800):
                                fake.deduped += 1
                                return self._json({"errcode": 0, "errmsg": "ok", "msgid": "dup"})
                        fake.sent.append(body)
                    return self._json({"errcode": 0, "errmsg": "ok", "msgid": f"m{len(fake.sent)}",
                                       "response_code": f"rc-{len(fake.sent)}"})
                if url.path == "/cgi-bin/message/update_template_card":
                    with fake._lock:
                        code = body.get("response_code", "")
                        if code in fake.spent_codes:
                            return self._json({"errcode": 60140, "errmsg": "response_code has been used"})
                        fake.spent_codes.add(code)
                        fake.updates.append(body)
                    return self._json({"errcode": 0, "errmsg": "ok"})
                self._json({"errcode": 404, "errmsg": "not found"}, 404)

        return Handler
