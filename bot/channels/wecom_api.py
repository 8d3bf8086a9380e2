"""Sending to WeCom: app messages (text, button cards) through wechatpy's WeChatClient, manager groups
through the group robot webhook. The access token lives in the database, shared by every process."""
from __future__ import annotations

import hashlib
import logging
import re
from datetime import timedelta

import requests
from wechatpy.enterprise import WeChatClient
from wechatpy.exceptions import WeChatClientException
from wechatpy.session import SessionStorage

from storage import kv
from storage.people import is_group, team_managers
from storage.models import ChatGroup, Rep

from ..links import managers_links
from ..messages import Reply
from ..render import render_text
from . import RateLimit, SendResult
from .tokens import MIN_FETCH_INTERVAL, TOKEN_MARGIN, TokenBusy, refresh_token

log = logging.getLogger(__name__)
RETRY_CODES = {-1, 45009, 45033, 45011, 40014, 42001, 40001}
TIMEOUT = 5


class DatabaseSession(SessionStorage):
    """wechatpy session storage in the database, so every process shares one access token."""

    def __init__(self, runtime):
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

    def __init__(self, runtime):
        cfg = runtime.config
        self.runtime = runtime
        self.API_BASE_URL = cfg["WECOM_API_BASE"].rstrip("/") + "/"
        super().__init__(cfg["WECOM_CORP_ID"], cfg["WECOM_SECRET"], session=DatabaseSession(runtime),
                         timeout=TIMEOUT, auto_retry=False)

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
        """Run call(); after 40014/42001/40001 refresh the token once and run it again."""
        used = self.access_token
        try:
            return call()
        except WeChatClientException as e:
            if e.errcode not in (40001, 40014, 42001):
                raise
            log.info("wecom token rejected (%s), refreshing", e.errcode)
            self.refresh_token(stale=used)
            return call()


def task_id_for(key: str) -> str:
    """A card's task_id: unique per message, at most 128 of [0-9A-Za-z_-@]."""
    return "t" + hashlib.sha1(key.encode()).hexdigest()


def clip(text: str, limit: int = 2048) -> str:
    """At most `limit` UTF-8 bytes (WeCom counts bytes), cut at a character boundary."""
    data = text.encode()
    if len(data) <= limit:
        return text
    return data[:limit - 3].decode(errors="ignore") + "…" if limit >= 3 else ""


def parts_of(text: str, limit: int = 2048) -> list[str]:
    """A long text as messages of at most `limit` UTF-8 bytes, cut between lines (a longer line is clipped)."""
    parts, current = [], ""
    for line in text.split("\n"):
        line = clip(line, limit)
        candidate = f"{current}\n{line}" if current else line
        if current and len(candidate.encode()) > limit:
            parts.append(current)
            candidate = line
        current = candidate
    return parts + [current] if current or not parts else parts


def _split(text: str) -> tuple[str, str]:
    lines = [x for x in text.splitlines() if x.strip()]
    title = lines[0] if lines else ""
    return title[:36], "\n".join(lines[1:])[:500]


def app_messages(reply: Reply, userid: str, agent_id: int, key: str) -> list[dict]:
    """The message/send bodies for a reply: a card, or its text in as many messages as 2048 bytes need.

    What the bot sends on its own (a card, a warning) asks WeCom's duplicate check (30 min) to drop it
    if a crash makes it go out twice. An answer to what a rep just asked (outbox key "reply:...") does
    not: the same question asked twice must be answered twice."""
    text = render_text(reply, "wecom")
    base = {"touser": userid, "agentid": agent_id}
    if not key.startswith("reply:"):
        base.update(enable_duplicate_check=1, duplicate_check_interval=1800)
    if not reply.buttons:
        return [{**base, "msgtype": "text", "text": {"content": part}} for part in parts_of(text)]
    title, rest = _split(text)
    return [{**base, "msgtype": "template_card", "template_card": {
        "card_type": "button_interaction",
        "main_title": {"title": title},
        "sub_title_text": rest,
        "task_id": task_id_for(key),
        "button_list": [{"text": b.label[:20], "style": 1, "key": b.action} for b in reply.buttons[:6]],
    }}]


LINKS_BUDGET = 1024  # bytes of a robot message that its links may take; the card's text keeps the rest


def robot_message(reply: Reply, mention: list[str], links: list[tuple[str, str]] = ()) -> dict:
    """A text message for a group robot (which has no callback buttons): the card's buttons become
    signed links at the end, as many as LINKS_BUDGET holds (a team with many managers: the first
    ones'), kept whole when the text has to be cut."""
    tail = ""
    for label, url in links:
        line = f"\n👉 {label}：{url}"
        if len((tail + line).encode()) > LINKS_BUDGET:
            break
        tail += line
    text = clip(render_text(reply, "wecom"), 2048 - len(tail.encode()))
    return {"msgtype": "text", "text": {"content": text + tail, "mentioned_list": mention}}


class WeComAdapter:
    name = "wecom"
    REP_LIMITS = [RateLimit(30, 60), RateLimit(1000, 3600)]
    ROBOT_LIMITS = [RateLimit(20, 60)]

    def __init__(self, runtime):
        self.runtime = runtime
        self.client = WeComClient(runtime)
        self.agent_id = int(runtime.config["WECOM_AGENT_ID"])
        self.http = requests.Session()

    def merge_to(self, recipient: str) -> bool:
        """Group robots take merged messages when more are waiting than the limit lets through."""
        return is_group(recipient)

    def limits(self, recipient: str) -> list[RateLimit]:
        return self.ROBOT_LIMITS if is_group(recipient) else self.REP_LIMITS

    def send(self, recipient: str, reply: Reply, key: str = "") -> SendResult:
        group = ChatGroup.get_or_none(ChatGroup.local_id == recipient)
        if group is not None:
            return self.send_robot(group, reply)
        rep = Rep.get_or_none(Rep.local_id == recipient)
        userid = rep.wecom_userid if rep else (recipient.split(":", 1)[1] if recipient.startswith("wecom:") else None)
        if not userid:
            return SendResult(False, f"{recipient} 没有企业微信 userid")
        bodies = app_messages(reply, userid, self.agent_id, key or recipient)
        # a long text goes in parts; the parts already sent are counted, so a retry sends only the rest
        progress = f"wecom:parts:{key}" if key and len(bodies) > 1 else None
        done = int(kv.get(progress, self.runtime.now()) or 0) if progress else 0
        for i, body in enumerate(bodies[done:], start=done + 1):
            try:
                result = self.client.with_token_retry(lambda body=body: self.client.post("message/send", data=body))
            except WeChatClientException as e:
                return from_error(e.errcode, e.errmsg)
            except TokenBusy as e:
                return SendResult(False, str(e), retry=True, retry_after=MIN_FETCH_INTERVAL.total_seconds(),
                                  attempted=False)
            if result.get("invaliduser"):
                return SendResult(False, f"invaliduser: {result['invaliduser']} (不在应用可见范围或已离职)")
            if progress and i < len(bodies):
                kv.put(progress, str(i), self.runtime.now(), timedelta(days=2))
        if progress:
            kv.delete(progress)
        return SendResult(True)

    def send_robot(self, group: ChatGroup, reply: Reply) -> SendResult:
        if not group.wecom_robot_key:
            return SendResult(False, f"群 {group.name} 没有配置企业微信群机器人 key")
        managers = team_managers(group.team_id)
        links = managers_links(reply, managers, self.runtime)
        mention = [m.wecom_userid for m in managers if m.wecom_userid]
        url = self.runtime.config["WECOM_API_BASE"].rstrip("/") + "/webhook/send"
        r = self.http.post(url, params={"key": group.wecom_robot_key}, json=robot_message(reply, mention, links),
                           timeout=TIMEOUT)
        body = r.json()
        if body.get("errcode", 0) != 0:
            return from_error(body["errcode"], body.get("errmsg", ""))
        return SendResult(True)

    def update_card(self, userids: list[str], response_code: str, label: str = "已处理") -> dict:
        return self.client.with_token_retry(lambda: self.client.post("message/update_template_card", data={
            "userids": userids, "agentid": self.agent_id, "response_code": response_code,
            "button": {"replace_name": label}}))


def from_error(errcode, errmsg) -> SendResult:
    code = int(errcode) if errcode is not None and re.fullmatch(r"-?\d+", str(errcode)) else None
    if code is None or code in RETRY_CODES:
        return SendResult(False, f"errcode {errcode}: {errmsg}", retry=True,
                          retry_after=60.0 if code in (45009, 45033) else None)
    return SendResult(False, f"errcode {errcode}: {errmsg}")
