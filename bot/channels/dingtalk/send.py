"""Sending to DingTalk (钉钉).

- Replies to a message: the conversation's session webhook (no token) while it is valid; after that the
  robot OpenAPI: `/v1.0/robot/oToMessages/batchSend` (one-to-one) or `/v1.0/robot/groupMessages/send`
  (the group, by openConversationId).
- Proactive messages to a rep (reminders, the 09:00 task card): `oToMessages/batchSend` to the rep's
  staff id, `sampleMarkdown`, or `sampleActionCard*` when the message has buttons.
- Team groups (red cards): the group's custom robot webhook, signed with its SEC secret, as markdown
  that @-mentions the team's managers.

Buttons open signed, expiring links on our own server (bot/links.py).
"""
from __future__ import annotations

import json
import logging
from datetime import timedelta
from typing import TYPE_CHECKING

from handlers.messages import Reply
from storage.people import group_by_local_id, rep_by_local_id, team_managers

from ...links import action_links, managers_links
from ..base import SendResult
from ..tokens import MIN_FETCH_INTERVAL, TokenBusy
from .client import TIMEOUT, DingTalkError, json_of
from .session import session_of, webhook_allowed
from .sign import signed_webhook
from .wire import openapi_message, robot_message

if TYPE_CHECKING:
    from storage.models import ChatGroup, Rep

log = logging.getLogger(__name__)
SESSION_MARGIN = timedelta(minutes=1)  # a session webhook this close to its expiry counts as expired
ROBOT_BLOCKED = 600.0  # seconds: a group robot that sent too fast is blocked for 10 minutes
ROBOT_TOO_FAST = {410100, 130101}
ROBOT_RETRY = {-1}  # system busy
SETUP_CODES = {"invalidClientIdOrSecret", "invalidParameter.robotCode", "Forbidden.AccessDenied.AccessTokenPermissionDenied"}


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
    return SendResult(False, error + hint, alert=f"dingtalk-robot:{code}" if code in (310000, 400101, 400102) else "")


class Sender:
    """One channel's sending state: the HTTP session and the OpenAPI client."""

    def __init__(self, runtime, http, client):
        self.runtime, self.http, self.client = runtime, http, client

    def now_ms(self) -> int:
        return int(self.runtime.clock.now().timestamp() * 1000)

    def send(self, recipient: str, reply: Reply, key: str = "") -> SendResult:
        group = group_by_local_id(recipient)
        if group is not None:
            return self.send_group_robot(group, reply)
        rep = rep_by_local_id(recipient)
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
            if e.code == "staffId.notExisted":
                return SendResult(False, f"staffId.notExisted / invalidStaffIdList: {staff_id} (不在机器人可见范围或已离职)")
            return SendResult(False, f"钉钉 OpenAPI {e}", retry=e.retry,
                              alert=f"dingtalk:{e.code}" if e.code in SETUP_CODES else "")

    def reply_in_session(self, session: dict, reply: Reply, rep: Rep | None) -> SendResult | None:
        """Answer in the conversation the message came from; None: fall back to one-to-one."""
        group = bool(session.get("group"))
        # whoever opens a signed link acts as the rep it names: never put the sender's links in a group chat
        links = action_links(reply, rep.local_id, self.runtime) if rep and not group else []
        expires = session.get("expires")
        webhook = session.get("webhook")
        if webhook and not webhook_allowed(webhook, self.runtime.config):  # kept before the check existed
            log.warning("session webhook refused (not DingTalk's address); using the OpenAPI")
            webhook = None
        if webhook and expires and int(expires) - SESSION_MARGIN.total_seconds() * 1000 > self.now_ms():
            at = [session["staff_id"]] if group and session.get("staff_id") else None
            r = self.http.post(webhook, json=robot_message(reply, links, at), timeout=TIMEOUT)
            body = json_of(r)
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
        body = json_of(r)
        if r.status_code != 200:
            return SendResult(False, f"群机器人 HTTP {r.status_code}", retry=r.status_code >= 500 or r.status_code == 429)
        if body.get("errcode", 0) != 0:
            return robot_error(body.get("errcode"), body.get("errmsg", ""), "群机器人")
        return SendResult(True)
