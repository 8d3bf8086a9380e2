"""A loopback fake of the login endpoints of WeCom and DingTalk: a real HTTP server in a thread.

WeCom:    GET  /cgi-bin/gettoken?corpid&corpsecret, GET /cgi-bin/auth/getuserinfo?access_token&code
DingTalk: POST /v1.0/oauth2/accessToken {appKey, appSecret} (the app's token),
          POST /v1.0/oauth2/userAccessToken {clientId, clientSecret, code, grantType},
          GET  /v1.0/contact/users/me (x-acs-dingtalk-access-token: the user's token),
          POST /topapi/user/getbyunionid?access_token=APP_TOKEN {"unionid": ...}

Codes are single-use, tokens are checked, and every request is recorded.
"""
from __future__ import annotations

import json
import secrets
import threading
from urllib.parse import parse_qs, urlparse

from tests.fakes.loopback import JsonHandler, LoopbackServer


class FakeAuth(LoopbackServer):
    def __init__(self, corp_id="corp1", corp_secret="s3cret", app_key="dtkey", app_secret="dtsecret"):
        self.corp_id, self.corp_secret = corp_id, corp_secret
        self.app_key, self.app_secret = app_key, app_secret
        self.wecom_tokens: set[str] = set()
        self.wecom_codes: dict[str, dict] = {}  # code -> getuserinfo answer
        self.dt_app_tokens: set[str] = set()
        self.dt_codes: dict[str, str] = {}  # authCode -> unionId
        self.dt_user_tokens: dict[str, str] = {}  # user token -> unionId
        self.dt_users: dict[str, dict] = {}  # unionId -> getbyunionid "result" (or None: not in the org)
        self.requests: list[tuple[str, str, dict]] = []  # (method, path, query or body)
        self._lock = threading.Lock()
        self._listen()

    @property
    def base(self) -> str:
        return self.origin



    # what the identity providers know
    def wecom_code(self, userid: str | None, openid: str | None = None) -> str:
        code = secrets.token_hex(8)
        self.wecom_codes[code] = {"errcode": 0, "errmsg": "ok", "userid": userid} if userid else \
            {"errcode": 0, "errmsg": "ok", "openid": openid or "o-outsider"}
        return code

    def dingtalk_code(self, union_id: str, userid: str | None, contact_type: int = 0) -> str:
        code = secrets.token_hex(8)
        self.dt_codes[code] = union_id
        self.dt_users[union_id] = {"contact_type": contact_type, "userid": userid} if userid else None
        return code

    def calls(self, path: str) -> list[dict]:
        return [body for _, p, body in self.requests if p == path]

    def _handler(self):
        fake = self

        class Handler(JsonHandler):
            def do_GET(self):
                url = urlparse(self.path)
                q = {k: v[0] for k, v in parse_qs(url.query).items()}
                with fake._lock:
                    fake.requests.append(("GET", url.path, {**q, "_headers": dict(self.headers)}))
                if url.path == "/cgi-bin/gettoken":
                    if q.get("corpid") != fake.corp_id or q.get("corpsecret") != fake.corp_secret:
                        return self._json({"errcode": 40001, "errmsg": "invalid credential"})
                    token = "wt-" + secrets.token_hex(6)
                    fake.wecom_tokens.add(token)
                    return self._json({"errcode": 0, "errmsg": "ok", "access_token": token, "expires_in": 7200})
                if url.path == "/cgi-bin/auth/getuserinfo":
                    if q.get("access_token") not in fake.wecom_tokens:
                        return self._json({"errcode": 42001, "errmsg": "access_token expired"})
                    answer = fake.wecom_codes.pop(q.get("code", ""), None)
                    if answer is None:
                        return self._json({"errcode": 40029, "errmsg": "invalid code"})
                    return self._json(answer)
                if url.path == "/v1.0/contact/users/me":
                    union = fake.dt_user_tokens.get(self.headers.get("x-acs-dingtalk-access-token", ""))
                    if union is None:
                        return self._json({"code": "InvalidAuthentication", "message": "token invalid"}, 401)
                    return self._json({"nick": "用户", "unionId": union, "openId": "open-" + union})
                return self._json({"errcode": 404, "errmsg": "not found"}, 404)

            def do_POST(self):
                url = urlparse(self.path)
                q = {k: v[0] for k, v in parse_qs(url.query).items()}
                length = int(self.headers.get("Content-Length") or 0)
                try:
                    body = json.loads(self.rfile.read(length) or b"{}")
                except ValueError:
                    body = {}
                with fake._lock:
                    fake.requests.append(("POST", url.path, {**q, **body}))
                if url.path == "/v1.0/oauth2/accessToken":
                    if body.get("appKey") != fake.app_key or body.get("appSecret") != fake.app_secret:
                        return self._json({"code": "invalidClientId", "message": "bad app"}, 400)
                    token = "dt-app-" + secrets.token_hex(6)
                    fake.dt_app_tokens.add(token)
                    return self._json({"accessToken": token, "expireIn": 7200})
                if url.path == "/v1.0/oauth2/userAccessToken":
                    if (body.get("clientId"), body.get("clientSecret"), body.get("grantType")) != \
                            (fake.app_key, fake.app_secret, "authorization_code"):
                        return self._json({"code": "invalidClientId", "message": "bad client"}, 400)
                    union = fake.dt_codes.pop(body.get("code", ""), None)
                    if union is None:
                        return self._json({"code": "invalidAuthCode", "message": "code invalid"}, 400)
                    token = "dt-user-" + secrets.token_hex(6)
                    fake.dt_user_tokens[token] = union
                    return self._json({"accessToken": token, "refreshToken": "r", "expireIn": 7200, "corpId": "ding1"})
                if url.path == "/topapi/user/getbyunionid":
                    if q.get("access_token") not in fake.dt_app_tokens:  # topapi's envelope: 88 + sub_code
                        return self._json({"errcode": 88, "errmsg": "不合法的access_token", "sub_code": "40014",
                                           "sub_msg": "不合法的access_token", "request_id": "x"})
                    result = fake.dt_users.get(body.get("unionid", ""))
                    if result is None:
                        return self._json({"errcode": 60121, "errmsg": "找不到该用户"})
                    return self._json({"errcode": 0, "errmsg": "ok", "result": result, "request_id": "x"})
                return self._json({"errcode": 404, "errmsg": "not found"}, 404)

        return Handler
