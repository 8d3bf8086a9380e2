"""The DingTalk robot OpenAPI (api.dingtalk.com) with the access token kept in the database, shared by
every process and refreshed under a lock (bot/channels/tokens.py)."""
from __future__ import annotations

import logging
from typing import TYPE_CHECKING

import requests

from ..base import NoRedirects
from ..tokens import cached_token, refresh_token

if TYPE_CHECKING:
    from ...runtime import Runtime

log = logging.getLogger(__name__)
TIMEOUT = 5
OPENAPI_TOO_FAST = {"send.too.fast", "send.byToken.tooFast", "too.many.group", "too.many.people"}


class DingTalkError(Exception):
    def __init__(self, status: int, code: str, message: str):
        super().__init__(f"HTTP {status} {code}: {message}")
        self.status, self.code, self.message = status, code, message

    @property
    def retry(self) -> bool:
        return (self.status == 429 or self.status >= 500 or self.code in OPENAPI_TOO_FAST
                or "QpsLimit" in self.code or "Throttling" in self.code or "flowControl" in self.code)

    @property
    def token_rejected(self) -> bool:
        return self.status == 401 or self.code in ("InvalidAuthentication", "invalidAuthentication")


class DingTalkClient:
    """The robot OpenAPI (api.dingtalk.com) with a database-shared access token."""

    def __init__(self, runtime: Runtime, http: requests.Session | None = None):
        cfg = runtime.config
        self.runtime = runtime
        self.base = cfg["DINGTALK_API_BASE"].rstrip("/")
        self.app_key, self.app_secret = cfg["DINGTALK_APP_KEY"], cfg["DINGTALK_APP_SECRET"]
        self.robot_code = cfg["DINGTALK_ROBOT_CODE"]
        self.http = http or NoRedirects()
        self.token_key = f"dingtalk:token:{self.app_key}"

    @property
    def access_token(self) -> str:
        return cached_token(self.runtime, self.token_key) or self.refresh_token(stale=None)

    def refresh_token(self, stale: str | None) -> str:
        return refresh_token(self.runtime, self.token_key, self._fetch, stale)

    def _fetch(self) -> tuple[str, int]:
        r = self.http.post(f"{self.base}/v1.0/oauth2/accessToken",
                           json={"appKey": self.app_key, "appSecret": self.app_secret}, timeout=TIMEOUT)
        body = json_of(r)
        token = body.get("accessToken")
        if r.status_code != 200 or not token:
            raise DingTalkError(r.status_code, str(body.get("code", "")), str(body.get("message", r.text[:200])))
        return token, int(body.get("expireIn") or 7200)

    def call(self, path: str, body: dict) -> dict:
        """POST to the OpenAPI; a rejected token is refreshed once and the call made again."""
        used = self.access_token
        try:
            return self._post(path, body, used)
        except DingTalkError as e:
            if not e.token_rejected:
                raise
            log.info("dingtalk token rejected (%s), refreshing", e.code)
            return self._post(path, body, self.refresh_token(stale=used))

    def _post(self, path: str, body: dict, token: str) -> dict:
        r = self.http.post(self.base + path, json=body, headers={"x-acs-dingtalk-access-token": token},
                           timeout=TIMEOUT)
        data = json_of(r)
        if r.status_code != 200:
            raise DingTalkError(r.status_code, str(data.get("code", "")), str(data.get("message", r.text[:200])))
        return data


def json_of(r: requests.Response) -> dict:
    try:
        data = r.json()
    except ValueError:
        return {}
    return data if isinstance(data, dict) else {}
