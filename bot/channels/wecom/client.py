"""The WeCom API client: wechatpy's WeChatClient with the access token kept in the database (shared by
every process) and fetched with a timeout, never in a burst (bot/channels/tokens.py)."""
from __future__ import annotations

import logging
from datetime import timedelta
from typing import TYPE_CHECKING

from wechatpy.enterprise import WeChatClient
from wechatpy.exceptions import WeChatClientException
from wechatpy.session import SessionStorage

from storage import kv

from ..base import NoRedirects
from ..tokens import TOKEN_MARGIN, refresh_token

if TYPE_CHECKING:
    from ...runtime import Runtime

log = logging.getLogger(__name__)
TIMEOUT = 5
TOKEN_ERRORS = (40014, 42001)  # a token WeCom no longer takes (40001, a wrong secret, is not one)


class DatabaseSession(SessionStorage):
    """wechatpy session storage in the database, so every process shares one access token."""

    def __init__(self, runtime: Runtime):
        self.runtime = runtime

    def get(self, key, default=None):
        value = kv.get(key, self.runtime.now(), margin=TOKEN_MARGIN)
        return default if value is None else value

    def set(self, key, value, ttl=None):
        kv.put(key, value, self.runtime.now(), timedelta(seconds=ttl) if ttl else None)

    def delete(self, key):
        kv.delete(key)


class WeComClient(WeChatClient):
    """wechatpy's client with the API base from config and a token refresh that never bursts.

    wechatpy's own retry-after-refetch is off (it can loop); `with_token_retry` retries once.
    """

    def __init__(self, runtime: Runtime):
        cfg = runtime.config
        self.runtime = runtime
        self.API_BASE_URL = cfg["WECOM_API_BASE"].rstrip("/") + "/"
        super().__init__(cfg["WECOM_CORP_ID"], cfg["WECOM_SECRET"], session=DatabaseSession(runtime),
                         timeout=TIMEOUT, auto_retry=False)
        self._http = NoRedirects()  # wechatpy's own session follows redirects

    @property
    def access_token(self):
        return self.session.get(self.access_token_key) or self.refresh_token(stale=None)

    def fetch_access_token(self):
        return {"access_token": self.refresh_token(stale=self.session.get(self.access_token_key))}

    def refresh_token(self, stale: str | None) -> str:
        return refresh_token(self.runtime, self.access_token_key, self._fetch, stale)

    def _fetch(self) -> tuple[str, int]:
        """gettoken, with the HTTP timeout (wechatpy's own fetch has none and could hang for ever)."""
        res = self._http.get(self.API_BASE_URL + "gettoken", params={"corpid": self.corp_id,
                                                                      "corpsecret": self.secret}, timeout=TIMEOUT)
        try:
            result = res.json()
        except ValueError:
            raise WeChatClientException(None, f"gettoken answered HTTP {res.status_code}, not JSON",
                                        client=self, request=res.request, response=res) from None
        if result.get("errcode", 0) != 0 or not result.get("access_token"):
            raise WeChatClientException(result.get("errcode"), result.get("errmsg", ""), client=self,
                                        request=res.request, response=res)
        return result["access_token"], int(result.get("expires_in", 7200))

    def with_token_retry(self, call):
        """Run call(); after 40014/42001 refresh the token once and run it again."""
        used = self.access_token
        try:
            return call()
        except WeChatClientException as e:
            if e.errcode not in TOKEN_ERRORS:
                raise
            log.info("wecom token rejected (%s), refreshing", e.errcode)
            self.refresh_token(stale=used)
            return call()
