"""Sending to WeCom: app messages (text, button cards) to a member through message/send, manager groups
through the group robot webhook; WeCom's errcodes as passing or permanent failures."""
from __future__ import annotations

import re
import secrets
from datetime import timedelta
from typing import TYPE_CHECKING

import requests
from wechatpy.exceptions import WeChatClientException

from storage import kv
from handlers.messages import Reply
from storage.people import rep_by_local_id, team_managers

from ...links import managers_links
from ..base import SendResult
from ..tokens import MIN_FETCH_INTERVAL, TokenBusy
from . import cards
from .client import TIMEOUT
from .wire import app_messages, robot_message

if TYPE_CHECKING:
    from storage.models import ChatGroup

RETRY_CODES = {-1, 45009, 45033, 45011, 40014, 42001}
# the set-up is wrong, not the message: every send fails until an admin fixes it. The rows wait (with
# backoff) for the fix and the admins are told once
SETUP_CODES = {40001: "WECOM_SECRET 不对 (应用管理 → 应用 → Secret)",
               40013: "WECOM_CORP_ID 不对 (我的企业 → 企业信息 → 企业ID)",
               60020: "服务器 IP 不在应用的企业可信IP中 (应用管理 → 应用 → 企业可信IP)",
               93000: "群机器人 key 无效 (机器人已被移出群或删除)"}
HINTS = {81013: "不在应用可见范围或已离职", 45002: "消息内容超过长度限制", 40058: "消息格式不合法"}
TASK_ID_USED = 42014
CODE_SPENT = 60140  # update_template_card: the response_code was used (or is past its 72 hours)


def send_app_message(runtime, client, agent_id: int, recipient: str, reply: Reply, key: str) -> SendResult:
    rep = rep_by_local_id(recipient)
    userid = rep.wecom_userid if rep else (recipient.split(":", 1)[1] if recipient.startswith("wecom:") else None)
    if not userid:
        return SendResult(False, f"{recipient} 没有企业微信 userid")
    bodies = app_messages(reply, userid, agent_id, key or recipient)
    if bodies[-1].get("msgtype") == "template_card":  # known before it goes out: its clicks update it
        cards.remember(runtime, bodies[-1]["template_card"]["task_id"], recipient, userid, reply, runtime.now())
    # a long text goes in parts; the parts already sent are counted, so a retry sends only the rest
    progress = f"wecom:parts:{key}" if key and len(bodies) > 1 else None
    done = int(kv.get(progress, runtime.now()) or 0) if progress else 0
    for i, body in enumerate(bodies[done:], start=done + 1):
        try:
            result = client.with_token_retry(lambda body=body: client.post("message/send", data=body))
        except WeChatClientException as e:
            if e.errcode == TASK_ID_USED and body.get("msgtype") == "template_card":
                # WeCom has had a card with this task_id (a restored database, a staging copy): a new one
                body["template_card"]["task_id"] = app_messages(reply, userid, agent_id, key or recipient,
                                                                salt=secrets.token_hex(4))[-1]["template_card"]["task_id"]
                cards.remember(runtime, body["template_card"]["task_id"], recipient, userid, reply, runtime.now())
                try:
                    result = client.with_token_retry(lambda body=body: client.post("message/send", data=body))
                except WeChatClientException as e2:
                    return from_error(e2.errcode, e2.errmsg, userid)
            else:
                return from_error(e.errcode, e.errmsg, userid)
        except TokenBusy as e:
            return SendResult(False, str(e), retry=True, retry_after=MIN_FETCH_INTERVAL.total_seconds(),
                              attempted=False)
        if result.get("invaliduser"):
            return SendResult(False, f"invaliduser: {result['invaliduser']} (不在应用可见范围或已离职)")
        if progress and i < len(bodies):
            kv.put(progress, str(i), runtime.now(), timedelta(days=2))
    if progress:
        kv.delete(progress)
    return SendResult(True)


def send_robot(runtime, http: requests.Session, group: ChatGroup, reply: Reply) -> SendResult:
    if not group.wecom_robot_key:
        return SendResult(False, f"群 {group.name} 没有配置企业微信群机器人 key")
    managers = team_managers(group.team_id)
    links = managers_links(reply, managers, runtime)
    mention = [m.wecom_userid for m in managers if m.wecom_userid]
    url = runtime.config["WECOM_API_BASE"].rstrip("/") + "/webhook/send"
    r = http.post(url, params={"key": group.wecom_robot_key}, json=robot_message(reply, mention, links),
                  timeout=TIMEOUT)
    body = r.json()
    if body.get("errcode", 0) != 0:  # 93000: the robot's key is gone
        return from_error(body["errcode"], body.get("errmsg", ""))
    return SendResult(True)


def send_card_update(runtime, client, agent_id: int, reply: Reply) -> SendResult:
    """Update a clicked card (bot/channels/wecom/cards.py) to what it is now, with the click's
    response_code (good once, for 72 hours)."""
    task_id, code = reply.data.get("task_id", ""), reply.data.get("response_code", "")
    state = cards.card_state(task_id, runtime.now())
    if state is None:
        return SendResult(False, f"卡片 {task_id[:60]} 已超过 72 小时或不存在，无法更新")
    try:
        client.with_token_retry(lambda: update_card(client, agent_id, [state["userid"]], code,
                                                    card=cards.updated_card(state, task_id)))
    except WeChatClientException as e:
        if e.errcode == CODE_SPENT:
            return SendResult(False, f"errcode {e.errcode}: {e.errmsg} (这次点击的 response_code 已用过或超过 72 小时)")
        return from_error(e.errcode, e.errmsg, state["userid"])
    except TokenBusy as e:
        return SendResult(False, str(e), retry=True, retry_after=MIN_FETCH_INTERVAL.total_seconds(),
                          attempted=False)
    return SendResult(True)


def update_card(client, agent_id: int, userids: list[str], response_code: str, label: str = "已处理",
                card: dict | None = None) -> dict:
    """message/update_template_card: the whole card anew (`card`), or its buttons greyed with `label`."""
    body = {"userids": userids, "agentid": agent_id, "response_code": response_code}
    body.update({"template_card": card} if card is not None else {"button": {"replace_name": label}})
    return client.post("message/update_template_card", data=body)


def from_error(errcode, errmsg, userid: str = "") -> SendResult:
    code = int(errcode) if errcode is not None and re.fullmatch(r"-?\d+", str(errcode)) else None
    if code is None or code in RETRY_CODES:
        return SendResult(False, f"errcode {errcode}: {errmsg}", retry=True,
                          retry_after=60.0 if code in (45009, 45033) else None)
    if code in SETUP_CODES:
        return SendResult(False, f"errcode {errcode}: {errmsg} ({SETUP_CODES[code]})", retry=True,
                          alert=f"wecom:{code}")
    if code == 81013:
        return SendResult(False, f"errcode 81013: {errmsg} (invaliduser {userid}: {HINTS[code]})")
    hint = f" ({HINTS[code]})" if code in HINTS else ""
    return SendResult(False, f"errcode {errcode}: {errmsg}{hint}")
