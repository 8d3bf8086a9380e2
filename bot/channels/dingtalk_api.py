"""Sending to DingTalk (钉钉).

- Replies to a message: the conversation's session webhook (no token) while it is valid; after that the
  robot OpenAPI: `/v1.0/robot/oToMessages/batchSend` (one-to-one) or `/v1.0/robot/groupMessages/send`
  (the group, by openConversationId).
- Proactive messages to a rep (reminders, the 09:00 task card): `oToMessages/batchSend` to the rep's
  staff id, `sampleMarkdown`, or `sampleActionCard*` when the message has buttons.
- Team groups (red cards): the group's custom robot webhook, signed with its SEC secret, as markdown
  that @-mentions the team's managers.

Buttons open signed, expiring links on our own server (bot/links.py). The OpenAPI access token lives
in the database (storage/kv.py), shared by every process and refreshed under a lock.
"""
from __future__ import annotations

import json
import logging
from datetime import timedelta
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import requests

from storage.models import ChatGroup, Rep
from storage.people import is_group, team_managers

from ..links import action_links, managers_links
from ..messages import Reply
from ..render import render_text
from . import RateLimit, SendResult
from .tokens import MIN_FETCH_INTERVAL, TokenBusy, cached_token, refresh_token
from .dingtalk import session_of, sign

log = logging.getLogger(__name__)
TIMEOUT = 5
SESSION_MARGIN = timedelta(minutes=1)  # a session webhook this close to its expiry counts as expired
ROBOT_BLOCKED = 600.0  # seconds: a group robot that sent too fast is blocked for 10 minutes
ROBOT_TOO_FAST = {410100, 130101}
ROBOT_RETRY = {-1}  # system busy
OPENAPI_TOO_FAST = {"send.too.fast", "send.byToken.tooFast", "too.many.group", "too.many.people"}
MAX_TEXT = 5000  # characters of markdown sent in one message
MAX_CARD_BUTTONS = 5  # sampleActionCard2..5: vertical buttons


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

    def __init__(self, runtime, http: requests.Session | None = None):
        cfg = runtime.config
        self.runtime = runtime
        self.base = cfg["DINGTALK_API_BASE"].rstrip("/")
        self.app_key, self.app_secret = cfg["DINGTALK_APP_KEY"], cfg["DINGTALK_APP_SECRET"]
        self.robot_code = cfg["DINGTALK_ROBOT_CODE"]
        self.http = http or requests.Session()
        self.token_key = f"dingtalk:token:{self.app_key}"

    @property
    def access_token(self) -> str:
        return cached_token(self.runtime, self.token_key) or self.refresh_token(stale=None)

    def refresh_token(self, stale: str | None) -> str:
        return refresh_token(self.runtime, self.token_key, self._fetch, stale)

    def _fetch(self) -> tuple[str, int]:
        r = self.http.post(f"{self.base}/v1.0/oauth2/accessToken",
                           json={"appKey": self.app_key, "appSecret": self.app_secret}, timeout=TIMEOUT)
        body = _json(r)
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
        data = _json(r)
        if r.status_code != 200:
            raise DingTalkError(r.status_code, str(data.get("code", "")), str(data.get("message", r.text[:200])))
        return data


def _json(r: requests.Response) -> dict:
    try:
        data = r.json()
    except ValueError:
        return {}
    return data if isinstance(data, dict) else {}


# --- message bodies ------------------------------------------------------------------------------

def markdown_of(text: str) -> str:
    """Our plain-text rendering as DingTalk markdown: every line a line (two spaces + newline)."""
    return "  \n".join(line.rstrip() for line in text.splitlines())[:MAX_TEXT]


def title_of(text: str) -> str:
    """The notification / conversation-list title: the first line."""
    first = next((line.strip() for line in text.splitlines() if line.strip()), "销售漏斗机器人")
    return first[:40]


def robot_message(reply: Reply, links: list[tuple[str, str]], at: list[str] | None = None) -> dict:
    """The custom-robot wire format, used by session webhooks and team group robots alike.

    With `at` (group messages) the message is markdown, the buttons markdown links (only text and
    markdown can @-mention); otherwise buttons make an actionCard.
    """
    text = render_text(reply, "dingtalk")
    title, md = title_of(text), markdown_of(text)
    if at is None and links:
        return {"msgtype": "actionCard", "actionCard": {
            "title": title, "text": md, "btnOrientation": "0",
            "btns": [{"title": label[:20], "actionURL": url} for label, url in links]}}
    if links:
        md += "\n\n" + " · ".join(f"[{label}]({url})" for label, url in links)
    body: dict = {"msgtype": "markdown", "markdown": {"title": title, "text": md}}
    if at:
        body["markdown"]["text"] += "\n\n" + " ".join(f"@{u}" for u in at)
        body["at"] = {"atUserIds": at, "isAtAll": False}
    return body


def openapi_message(reply: Reply, links: list[tuple[str, str]]) -> tuple[str, dict]:
    """(msgKey, msgParam) for the robot OpenAPI: sampleMarkdown, or sampleActionCard[2-5] with buttons."""
    text = render_text(reply, "dingtalk")
    title, md = title_of(text), markdown_of(text)
    if not links:
        return "sampleMarkdown", {"title": title, "text": md}
    if len(links) == 1:
        (label, url), = links
        return "sampleActionCard", {"title": title, "text": md, "singleTitle": label[:20], "singleURL": url}
    shown, rest = links[:MAX_CARD_BUTTONS], links[MAX_CARD_BUTTONS:]
    if rest:  # more buttons than a card holds: the rest as links in the text
        md += "\n\n" + " · ".join(f"[{label}]({url})" for label, url in rest)
    param = {"title": title, "text": md}
    for i, (label, url) in enumerate(shown, start=1):
        param[f"actionTitle{i}"], param[f"actionURL{i}"] = label[:20], url
    return f"sampleActionCard{len(shown)}", param


def signed_webhook(webhook: str, secret: str | None, now_ms: int) -> str:
    """The group robot URL with timestamp and sign (when the robot has a SEC secret)."""
    if not secret:
        return webhook
    parts = urlsplit(webhook)
    query = [(k, v) for k, v in parse_qsl(parts.query, keep_blank_values=True) if k not in ("timestamp", "sign")]
    query += [("timestamp", str(now_ms)), ("sign", sign(str(now_ms), secret))]
    return urlunsplit(parts._replace(query=urlencode(query)))


def robot_error(errcode, errmsg: str, what: str) -> SendResult:
    """310000 (security: sign, timestamp, keyword, IP), 400101 (token not found), 400102 (robot disabled):
    failed for good, visibly; 410100 / 130101 (too fast: the robot is blocked 10 minutes): later."""
    try:
        code = int(errcode)
    except (TypeError, ValueError):
        code = None
    error = f"{what} errcode {errcode}: {errmsg}"
    if code in ROBOT_TOO_FAST:
        return SendResult(False, error + " (发送太快, 机器人被限流10分钟)", retry=True, retry_after=ROBOT_BLOCKED)
    if code in ROBOT_RETRY:
        return SendResult(False, error, retry=True)
    hint = {310000: " (安全设置校验失败: 加签/时间戳/关键词/IP)", 400101: " (webhook 的 access_token 不存在)",
            400102: " (机器人已停用)"}.get(code, "")
    return SendResult(False, error + hint)


class DingTalkAdapter:
    name = "dingtalk"
    REP_LIMITS = [RateLimit(30, 60)]
    ROBOT_LIMITS = [RateLimit(20, 60)]  # a custom robot: 20 a minute, else blocked for 10 minutes

    def __init__(self, runtime):
        self.runtime = runtime
        self.http = requests.Session()
        self.client = DingTalkClient(runtime, self.http)

    def merge_to(self, recipient: str) -> bool:
        """Group robots take merged messages when more are waiting than the limit lets through."""
        return is_group(recipient)

    def limits(self, recipient: str) -> list[RateLimit]:
        return self.ROBOT_LIMITS if is_group(recipient) else self.REP_LIMITS

    def now_ms(self) -> int:
        return int(self.runtime.clock.now().timestamp() * 1000)

    def send(self, recipient: str, reply: Reply, key: str = "") -> SendResult:
        group = ChatGroup.get_or_none(ChatGroup.local_id == recipient)
        if group is not None:
            return self.send_group_robot(group, reply)
        rep = Rep.get_or_none(Rep.local_id == recipient)
        staff_id = rep.dingtalk_staffid if rep else (recipient.split(":", 1)[1]
                                                     if recipient.startswith("dingtalk:") else None)
        session = session_of(key, self.runtime.now()) if key else None
        try:
            if session:
                result = self.reply_in_session(session, reply, rep)
                if result is not None:
                    return result
            if not staff_id:
                return SendResult(False, f"{recipient} 没有钉钉 staffId (花名册 dingtalk_staffid 列)")
            links = action_links(reply, rep.local_id, self.runtime) if rep else []
            return self.send_one_to_one(staff_id, reply, links)
        except TokenBusy as e:
            return SendResult(False, str(e), retry=True, retry_after=MIN_FETCH_INTERVAL.total_seconds(),
                              attempted=False)
        except DingTalkError as e:
            return SendResult(False, f"钉钉 OpenAPI {e}", retry=e.retry)

    def reply_in_session(self, session: dict, reply: Reply, rep: Rep | None) -> SendResult | None:
        """Answer in the conversation the message came from; None: fall back to one-to-one."""
        group = bool(session.get("group"))
        # whoever opens a signed link acts as the rep it names: never put the sender's links in a group chat
        links = action_links(reply, rep.local_id, self.runtime) if rep and not group else []
        expires = session.get("expires")
        webhook = session.get("webhook")
        if webhook and expires and int(expires) - SESSION_MARGIN.total_seconds() * 1000 > self.now_ms():
            at = [session["staff_id"]] if group and session.get("staff_id") else None
            r = self.http.post(webhook, json=robot_message(reply, links, at), timeout=TIMEOUT)
            body = _json(r)
            code = body.get("errcode", 0 if r.status_code == 200 else r.status_code)
            if r.status_code == 200 and code == 0:
                return SendResult(True)
            if code in ROBOT_TOO_FAST:
                return robot_error(code, body.get("errmsg", ""), "session webhook")
            log.info("session webhook refused (HTTP %s, errcode %s: %s); using the OpenAPI", r.status_code, code,
                     body.get("errmsg", ""))
        if group and session.get("conversation_id"):
            return self.send_group_openapi(session["conversation_id"], reply)
        return None

    def send_one_to_one(self, staff_id: str, reply: Reply, links: list[tuple[str, str]]) -> SendResult:
        msg_key, param = openapi_message(reply, links)
        result = self.client.call("/v1.0/robot/oToMessages/batchSend", {
            "robotCode": self.client.robot_code, "userIds": [staff_id], "msgKey": msg_key,
            "msgParam": json.dumps(param, ensure_ascii=False)})
        if staff_id in (result.get("invalidStaffIdList") or []):
            return SendResult(False, f"invalidStaffIdList: {staff_id} (不在机器人可见范围或已离职)")
        if staff_id in (result.get("flowControlledStaffIdList") or []):
            return SendResult(False, f"flowControlledStaffIdList: {staff_id} (钉钉限流)", retry=True, retry_after=60.0)
        return SendResult(True)

    def send_group_openapi(self, conversation_id: str, reply: Reply) -> SendResult:
        msg_key, param = openapi_message(reply, [])
        self.client.call("/v1.0/robot/groupMessages/send", {
            "robotCode": self.client.robot_code, "openConversationId": conversation_id, "msgKey": msg_key,
            "msgParam": json.dumps(param, ensure_ascii=False)})
        return SendResult(True)

    def send_group_robot(self, group: ChatGroup, reply: Reply) -> SendResult:
        if not group.dingtalk_webhook:
            return SendResult(False, f"群 {group.name} 没有配置钉钉群机器人 webhook (花名册 dingtalk_webhook 列)")
        managers = team_managers(group.team_id)
        links = managers_links(reply, managers, self.runtime)
        at = [m.dingtalk_staffid for m in managers if m.dingtalk_staffid]
        url = signed_webhook(group.dingtalk_webhook, group.dingtalk_secret, self.now_ms())
        r = self.http.post(url, json=robot_message(reply, links, at), timeout=TIMEOUT)
        body = _json(r)
        if r.status_code != 200:
            return SendResult(False, f"群机器人 HTTP {r.status_code}", retry=r.status_code >= 500 or r.status_code == 429)
        if body.get("errcode", 0) != 0:
            return robot_error(body.get("errcode"), body.get("errmsg", ""), "群机器人")
        return SendResult(True)
