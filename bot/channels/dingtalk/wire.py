"""DingTalk's formats: a robot callback (HTTP body or Stream data) -> `Incoming`; replies -> the custom
robot's markdown / actionCard (session webhooks, group robots) and the robot OpenAPI's msgKey/msgParam."""
from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime, timezone

from handlers.messages import Incoming, Reply
from ...render import render_text
from ..base import Rejected

LEADING_MENTIONS = re.compile(r"^(?:\s*@\S+)+\s*")
ROBOT_BYTES = 15000  # bytes of markdown a robot message takes: custom robot, session webhook and OpenAPI
MAX_CARD_BUTTONS = 5  # sampleActionCard2..5: vertical buttons


@dataclass
class Callback:
    """What the bot uses of a robot callback (HTTP body or Stream data)."""
    msg_id: str
    staff_id: str
    group: bool
    conversation_id: str
    text: str | None  # None: not a text message (a picture, a voice message, ...)
    session_webhook: str | None
    session_expires: int | None  # epoch milliseconds
    created: datetime | None
    robot_code: str | None = None


def _str(data: dict, name: str, required: bool = True, limit: int = 512) -> str | None:
    value = data.get(name)
    if value is None or value == "":
        if required:
            raise Rejected(400, f"missing field {name}")
        return None
    if not isinstance(value, str) or len(value) > limit:
        raise Rejected(400, f"field {name} is not a string of at most {limit} characters")
    return value


MAX_MILLIS = 10 ** 14  # epoch milliseconds up to the year 5138: a datetime can hold it


def _millis(data: dict, name: str) -> int | None:
    value = data.get(name)
    if value is None or value == "":
        return None
    try:
        millis = int(value)
    except (TypeError, ValueError, OverflowError):
        raise Rejected(400, f"field {name} is not a number of milliseconds") from None
    if isinstance(value, bool) or not 0 <= millis < MAX_MILLIS:
        raise Rejected(400, f"field {name} is not a number of milliseconds")
    return millis


def parse_callback(data) -> Callback:
    if not isinstance(data, dict):
        raise Rejected(400, "the body is not a JSON object")
    msg_id = _str(data, "msgId", limit=100)
    # someone from outside the organisation (or a robot) has no senderStaffId: answered by senderId
    staff_id = _str(data, "senderStaffId", required=False, limit=64)
    if staff_id is None:
        staff_id = _str(data, "senderId", required=False, limit=128)
        if staff_id is None:
            raise Rejected(400, "missing field senderStaffId and senderId")
    kind = data.get("conversationType")
    if str(kind) not in ("1", "2"):
        raise Rejected(400, "missing field conversationType (1 or 2)")
    group = str(kind) == "2"
    conversation_id = _str(data, "conversationId", required=group, limit=128) or ""
    webhook = _str(data, "sessionWebhook", required=False, limit=1024)  # (its address: session.webhook_allowed)
    expires = _millis(data, "sessionWebhookExpiredTime")
    created = _millis(data, "createAt")
    msgtype = data.get("msgtype") or ("text" if "text" in data else "")
    text = None
    if msgtype == "text":
        body = data.get("text")
        if not isinstance(body, dict) or not isinstance(body.get("content"), str):
            raise Rejected(400, "missing field text.content")
        text = body["content"]
    elif msgtype == "richText":  # text with pictures: keep the text parts
        items = ((data.get("content") or {}).get("richText") or []) if isinstance(data.get("content"), dict) else []
        items = items if isinstance(items, list) else []
        # the text parts, one per line (a photo between two sentences separates them)
        text = "\n".join(i["text"] for i in items if isinstance(i, dict) and isinstance(i.get("text"), str)) or None
    elif msgtype == "audio":  # a voice message: DingTalk's speech recognition gives its text (a rep on the road)
        content = data.get("content") if isinstance(data.get("content"), dict) else {}
        recognized = content.get("recognition")
        text = recognized if isinstance(recognized, str) and recognized.strip() else None
    if text is not None:
        text = text[:4000]
        if group:  # "@销售助手 拜访 …": the robot's own @name (and any leading @someone) is not the command
            text = LEADING_MENTIONS.sub("", text)
        text = text.strip()
    return Callback(msg_id, staff_id, group, conversation_id, text, webhook, expires,
                    datetime.fromtimestamp(created / 1000, timezone.utc) if created else None,
                    _str(data, "robotCode", required=False, limit=128))


def to_incoming(cb: Callback) -> Incoming:
    return Incoming("dingtalk", cb.msg_id, cb.staff_id, text=cb.text or "",
                    chat_id=cb.conversation_id if cb.group else None, at=cb.created, readable=cb.text is not None,
                    extra={"callback": cb, "session_webhook": cb.session_webhook,
                           "session_webhook_expires": cb.session_expires,
                           "conversation_type": "2" if cb.group else "1",
                           "conversation_id": cb.conversation_id})


def markdown_of(text: str, limit_bytes: int) -> str:
    """Our plain-text rendering as DingTalk markdown: every line a line (two spaces + newline), at most
    `limit_bytes` UTF-8 bytes, cut between lines."""
    lines = [line.rstrip() for line in text.splitlines()]
    out, size = [], 0
    for line in lines:
        n = len(line.encode()) + 3
        if size + n > limit_bytes:
            break
        out.append(line)
        size += n
    return "  \n".join(out)


def links_bytes(links: list[tuple[str, str]]) -> int:
    """The bytes buttons take as markdown links at the end of a message's text."""
    return sum(len(f" · [{label}]({url})".encode()) for label, url in links)


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
    room = ROBOT_BYTES - 200 - links_bytes(links) - 40 * len(at or ())
    title, md = title_of(text), markdown_of(text, room)
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
    shown, rest = links[:MAX_CARD_BUTTONS], links[MAX_CARD_BUTTONS:]
    room = ROBOT_BYTES - 200 - links_bytes(rest)
    title, md = title_of(text), markdown_of(text, room)
    if not links:
        return "sampleMarkdown", {"title": title, "text": md}
    if len(links) == 1:
        (label, url), = links
        return "sampleActionCard", {"title": title, "text": md, "singleTitle": label[:20], "singleURL": url}
    if rest:  # more buttons than a card holds: the rest as links in the text
        md += "\n\n" + " · ".join(f"[{label}]({url})" for label, url in rest)
    param = {"title": title, "text": md}
    for i, (label, url) in enumerate(shown, start=1):
        param[f"actionTitle{i}"], param[f"actionURL{i}"] = label[:20], url
    return f"sampleActionCard{len(shown)}", param
