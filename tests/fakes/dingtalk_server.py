"""A loopback fake of the DingTalk (钉钉) APIs: a real HTTP server in a thread (and, on demand, a Stream-mode
WebSocket gateway).

- POST /v1.0/oauth2/accessToken {appKey, appSecret} -> {accessToken, expireIn}
- POST /v1.0/robot/oToMessages/batchSend and /v1.0/robot/groupMessages/send: header
  x-acs-dingtalk-access-token checked (401 InvalidAuthentication), robotCode checked, msgParam must be
  a JSON string, msgKey one of the documented message templates with its required parameters (HTTP 400
  invalidParameter.msgKey / .msgParam); when every staff id is unknown: HTTP 400 staffId.notExisted
  (some unknown among known ones: invalidStaffIdList)
- custom robot and session webhook messages over 15,000 bytes (the markdown / text) are refused (460101)
- POST /robot/send?access_token=..&timestamp=..&sign=..: the custom group robot, with the sign and the
  one-hour timestamp window checked (310000), unknown token (400101), disabled robot (400102), and the
  20-a-minute limit that blocks the robot for 10 minutes (410100)
- POST /robot/sendBySession?session=..: session webhooks made by `session()`, refused once expired
- POST /v1.0/gateway/connections/open -> the WebSocket endpoint and a ticket (after `start_stream()`)

Times come from `clock` (the test's clock), so signs and expiries are checked at the test's instant.
Everything accepted is recorded.
"""
from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import itertools
import json
import threading
from collections import defaultdict, deque
from datetime import datetime, timezone
from urllib.parse import parse_qs, urlparse

from tests.fakes.loopback import JsonHandler, LoopbackServer


class _SystemClock:
    def now(self):
        return datetime.now(timezone.utc)


def dingtalk_sign(timestamp: str, secret: str) -> str:
    return base64.b64encode(hmac.new(secret.encode(), f"{timestamp}\n{secret}".encode(),
                                     hashlib.sha256).digest()).decode()


MSG_KEYS = {  # msgKey -> the msgParam fields it requires (DingTalk's robot message templates)
    "sampleText": ["content"], "sampleMarkdown": ["title", "text"], "sampleLink": ["text", "title", "messageUrl"],
    "sampleImageMsg": ["photoURL"],
    "sampleActionCard": ["title", "text", "singleTitle", "singleURL"],
    **{f"sampleActionCard{n}": ["title", "text"] + [f"action{w}{i}" for i in range(1, n + 1) for w in ("Title", "URL")]
       for n in range(2, 6)},
}
ROBOT_BYTES = 15000


def too_long(body: dict) -> bool:
    part = body.get(body.get("msgtype", ""), {})
    return isinstance(part, dict) and len(str(part.get("text", part.get("content", ""))).encode()) > ROBOT_BYTES


class FakeDingTalk(LoopbackServer):
    def __init__(self, app_key: str, app_secret: str, robot_code: str, clock=None):
        self.app_key, self.app_secret, self.robot_code = app_key, app_secret, robot_code
        self.clock = clock or _SystemClock()
        self.robots: dict[str, str | None] = {}  # custom robot access_token -> SEC secret (None: no signing)
        self.disabled_robots: set[str] = set()
        self.sessions: dict[str, int] = {}  # session id -> expiry (epoch ms)
        self.tokens: set[str] = set()
        self.token_calls = 0
        self.oto: list[dict] = []  # oToMessages/batchSend accepted (msgParam parsed)
        self.group_api: list[dict] = []  # groupMessages/send accepted
        self.robot: list[dict] = []  # custom robot messages accepted: {"token", **body}
        self.session_msgs: list[dict] = []  # session webhook messages accepted: {"session", **body}
        self.robot_errors: list[dict] = []  # custom robot refusals: {"errcode", "errmsg"}
        self.requests: list[tuple[str, str]] = []
        self.invalid_staff: set[str] = set()
        self.robot_limit = 20
        self._robot_windows: dict[str, deque] = defaultdict(deque)
        self._robot_blocked: dict[str, float] = {}
        self._ids = itertools.count(1)
        self._lock = threading.Lock()
        self._listen()
        # Stream mode (start_stream): frames to push, acks received
        self.ws_port: int | None = None
        self.ws_frames: asyncio.Queue | None = None
        self.ws_acks: list[dict] = []
        self.ws_ack_event = threading.Event()
        self.ws_connections = 0
        self._ws_loop: asyncio.AbstractEventLoop | None = None
        self._ws_stop: asyncio.Future | None = None
        self._ws_thread: threading.Thread | None = None

    # --- life cycle -----------------------------------------------------------------------------
    @property
    def base(self) -> str:
        return self.origin


    def stop(self) -> None:
        super().stop()
        if self._ws_thread is not None:
            self._ws_loop.call_soon_threadsafe(self._ws_stop.set_result, None)
            self._ws_thread.join(timeout=5)

    def now_ms(self) -> int:
        return int(self.clock.now().timestamp() * 1000)

    def add_robot(self, token: str, secret: str | None) -> str:
        """A custom group robot; returns its webhook URL (what the admin copies into the roster)."""
        self.robots[token] = secret
        return f"{self.base}/robot/send?access_token={token}"

    def session(self, expires_ms: int) -> str:
        sid = f"s{next(self._ids)}"
        self.sessions[sid] = expires_ms
        return f"{self.base}/robot/sendBySession?session={sid}"

    def expire_tokens(self) -> None:
        with self._lock:
            self.tokens.clear()

    # --- Stream mode gateway ----------------------------------------------------------------------
    def start_stream(self) -> None:
        import websockets
        ready = threading.Event()

        async def connection(ws):
            self.ws_connections += 1
            sender = asyncio.ensure_future(self._push(ws))
            try:
                async for raw in ws:
                    self.ws_acks.append(json.loads(raw))
                    self.ws_ack_event.set()
            except websockets.ConnectionClosed:
                pass
            finally:
                sender.cancel()

        async def main():
            self.ws_frames = asyncio.Queue()
            self._ws_stop = asyncio.get_running_loop().create_future()
            server = await websockets.serve(connection, "127.0.0.1", 0)
            self.ws_port = server.sockets[0].getsockname()[1]
            ready.set()
            await self._ws_stop
            server.close()
            await server.wait_closed()

        def run():
            self._ws_loop = asyncio.new_event_loop()
            self._ws_loop.run_until_complete(main())
            self._ws_loop.close()

        self._ws_thread = threading.Thread(target=run, daemon=True)
        self._ws_thread.start()
        ready.wait(5)

    async def _push(self, ws):
        while True:
            frame = await self.ws_frames.get()
            await ws.send(json.dumps(frame))

    def push_frame(self, frame: dict) -> None:
        self._ws_loop.call_soon_threadsafe(self.ws_frames.put_nowait, frame)

    # --- the HTTP API -------------------------------------------------------------------------------
    def _robot_check(self, q: dict) -> tuple[int, str] | None:
        token = q.get("access_token", "")
        if token not in self.robots:
            return 400101, "token not exist"
        if token in self.disabled_robots:
            return 400102, "robot disabled"
        secret = self.robots[token]
        if secret:
            ts, sign = q.get("timestamp", ""), q.get("sign", "")
            if not ts.isdigit() or abs(self.now_ms() - int(ts)) > 3600 * 1000:
                return 310000, "sign not match, more: [timestamp is invalid]"
            if not hmac.compare_digest(dingtalk_sign(ts, secret), sign):
                return 310000, "sign not match, more: [sign is invalid]"
        now = self.now_ms() / 1000
        if self._robot_blocked.get(token, 0) > now:
            return 410100, "send too fast, exceed 20 times per minute"
        window = self._robot_windows[token]
        while window and now - window[0] >= 60:
            window.popleft()
        if len(window) >= self.robot_limit:
            self._robot_blocked[token] = now + 600
            return 410100, "send too fast, exceed 20 times per minute"
        window.append(now)
        return None

    def _handler(self):
        fake = self

        class Handler(JsonHandler):
            def do_POST(self):
                url = urlparse(self.path)
                q = {k: v[0] for k, v in parse_qs(url.query).items()}
                try:
                    body = json.loads(self.rfile.read(int(self.headers.get("Content-Length", 0))) or b"{}")
                except ValueError:
                    return self._json({"code": "InvalidParameter", "message": "body is not JSON"}, 400)
                fake.requests.append(("POST", url.path))
                if url.path == "/v1.0/oauth2/accessToken":
                    with fake._lock:
                        fake.token_calls += 1
                        if body.get("appKey") != fake.app_key or body.get("appSecret") != fake.app_secret:
                            return self._json({"code": "invalidClientIdOrSecret", "message": "无效的clientId或clientSecret"}, 400)
                        token = f"tok-{fake.token_calls}"
                        fake.tokens.add(token)
                    return self._json({"accessToken": token, "expireIn": 7200})
                if url.path == "/v1.0/gateway/connections/open":
                    if body.get("clientId") != fake.app_key or body.get("clientSecret") != fake.app_secret:
                        return self._json({"code": "invalidClientIdOrSecret", "message": "bad credential"}, 400)
                    if fake.ws_port is None:
                        return self._json({"code": "ServiceUnavailable", "message": "no gateway"}, 503)
                    return self._json({"endpoint": f"ws://127.0.0.1:{fake.ws_port}/connect", "ticket": "t+1/="})
                if url.path in ("/robot/send", "/robot/sendBySession") and too_long(body):
                    return self._json({"errcode": 460101, "errmsg": "message too long, exceed 15000 bytes"})
                if url.path == "/robot/send":
                    with fake._lock:
                        err = fake._robot_check(q)
                        if err:
                            fake.robot_errors.append({"errcode": err[0], "errmsg": err[1]})
                            return self._json({"errcode": err[0], "errmsg": err[1]})
                        fake.robot.append({"token": q["access_token"], **body})
                    return self._json({"errcode": 0, "errmsg": "ok"})
                if url.path == "/robot/sendBySession":
                    sid = q.get("session", "")
                    with fake._lock:
                        expires = fake.sessions.get(sid)
                        if expires is None or expires <= fake.now_ms():
                            return self._json({"errcode": 300001, "errmsg": "session is invalid or expired"})
                        fake.session_msgs.append({"session": sid, **body})
                    return self._json({"errcode": 0, "errmsg": "ok"})
                if url.path in ("/v1.0/robot/oToMessages/batchSend", "/v1.0/robot/groupMessages/send"):
                    token = self.headers.get("x-acs-dingtalk-access-token", "")
                    with fake._lock:
                        if token not in fake.tokens:
                            return self._json({"code": "InvalidAuthentication", "message": "不合法的access_token"}, 401)
                    if body.get("robotCode") != fake.robot_code:
                        return self._json({"code": "invalidParameter.robotCode", "message": "robot 不存在"}, 400)
                    try:
                        param = json.loads(body.get("msgParam", ""))
                    except (TypeError, ValueError):
                        return self._json({"code": "invalidParameter.msgParam", "message": "msgParam 不是 JSON 字符串"}, 400)
                    need = MSG_KEYS.get(body.get("msgKey"))
                    if need is None:
                        return self._json({"code": "invalidParameter.msgKey", "message": "msgKey 不合法"}, 400)
                    if not isinstance(param, dict) or any(not param.get(k) for k in need):
                        return self._json({"code": "invalidParameter.msgParam",
                                           "message": f"msgParam 缺少 {[k for k in need if not param.get(k)]}"}, 400)
                    if len(str(param.get("text", "")).encode()) > ROBOT_BYTES:
                        return self._json({"code": "invalidParameter.msgParam",
                                           "message": f"msgParam.text 超过 {ROBOT_BYTES} 字节"}, 400)
                    record = {**body, "msgParam": param}
                    with fake._lock:
                        if url.path.endswith("batchSend"):
                            bad = [u for u in body.get("userIds", []) if u in fake.invalid_staff]
                            if bad and len(bad) == len(body.get("userIds", [])):
                                return self._json({"code": "staffId.notExisted", "message": "员工不存在"}, 400)
                            if len(bad) < len(body.get("userIds", [])):
                                fake.oto.append(record)
                            return self._json({"processQueryKey": f"pq{next(fake._ids)}", "invalidStaffIdList": bad,
                                               "flowControlledStaffIdList": []})
                        fake.group_api.append(record)
                    return self._json({"processQueryKey": f"pq{next(fake._ids)}"})
                self._json({"code": "NotFound", "message": "not found"}, 404)

        return Handler
