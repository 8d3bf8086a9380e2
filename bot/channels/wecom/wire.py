"""WeCom's formats: a decrypted callback -> `Incoming`; replies -> passive-reply XML, app message
bodies (text in parts of at most 2048 bytes, button cards) and group-robot texts."""
from __future__ import annotations

import hashlib
from xml.etree import ElementTree

from handlers.messages import Incoming, Reply
from ...render import render_text
from ..base import Rejected

PASSIVE_LIMIT = 2048  # bytes of a passive text reply
SUB_TITLE = 160  # characters of a card's sub_title_text the WeCom client shows (the documented limit)
LINKS_BUDGET = 1024  # bytes of a robot message that its links may take; the card's text keeps the rest


def parse_xml(text: str) -> dict:
    """Parse XML we did not write: no DTDs or entities (XML bombs), must be <xml>…</xml> holding text
    fields, each once, as WeCom sends them ({name: text, whitespace around it stripped; None if empty}).
    The standard library's C parser: a callback parses two documents, and xmltodict took three times as
    long for each."""
    if "<!DOCTYPE" in text.upper() or "<!ENTITY" in text.upper():
        raise Rejected(400, "XML with a DTD or entities")
    try:
        root = ElementTree.fromstring(text)
    except Exception as e:  # noqa: BLE001
        raise Rejected(400, f"not XML: {type(e).__name__}") from None
    if root.tag != "xml" or root.attrib or (root.text or "").strip():
        raise Rejected(400, "XML without an <xml> root of fields")
    fields: dict = {}
    for field in root:
        # WeCom's fields are text, each once: an element inside one, an attribute, a namespace, a repeat
        # or text between fields is not WeCom's
        name = field.tag
        if (len(field) or field.attrib or not isinstance(name, str) or name.startswith("{") or name in fields
                or (field.tail or "").strip()):
            raise Rejected(400, f"field {str(name)[:40]} is not text")
        fields[name] = (field.text or "").strip() or None
    if not fields:
        raise Rejected(400, "XML without fields")
    return fields


MAX_ID = 128  # characters of a message id the inbound record holds


def message_key(key: str) -> str:
    """A dedup key that fits the inbound record: a longer one (a click's userid, task_id and button key
    can add up to 1,200 characters) keeps its start and ends with its digest."""
    return key if len(key) <= MAX_ID else f"{key[:MAX_ID - 41]}#{hashlib.sha1(key.encode()).hexdigest()}"


def to_incoming(fields: dict) -> Incoming | None:
    """The Incoming of a decrypted callback; None for an event the bot does not act on. A card click
    has its action (extra: task_id, response_code); a message the bot cannot read is not `readable`."""
    sender = str(fields.get("FromUserName") or "")
    msg_type = str(fields.get("MsgType") or "").lower()
    created = str(fields.get("CreateTime") or "")
    if msg_type == "text":
        msg_id = str(fields.get("MsgId") or "").strip()
        # no MsgId (WeCom always sends one): the sender and second still name one delivery
        key = f"msg:{msg_id}" if msg_id else f"msg:{sender}:{created}"
        return Incoming("wecom", message_key(key), sender, text=str(fields.get("Content") or ""))
    if msg_type == "event":
        event = str(fields.get("Event") or "").lower()
        if event == "template_card_event":
            task_id, key = str(fields.get("TaskId") or ""), str(fields.get("EventKey") or "")
            return Incoming("wecom", message_key(f"card:{sender}:{task_id}:{key}"), sender, action=key,
                            extra={"response_code": fields.get("ResponseCode"), "task_id": task_id})
        if event in ("enter_agent", "subscribe"):
            return Incoming("wecom", message_key(f"evt:{sender}:{created}:{event}"), sender, text="帮助")
        return None  # a location report, a menu view...: nothing to say
    msg_id = str(fields.get("MsgId") or "").strip()
    return Incoming("wecom", message_key(f"msg:{msg_id or sender + ':' + created}"), sender, readable=False)


def passive_text(replies: list[Reply]) -> str | None:
    """The passive reply's text, or None when the replies cannot go in it (a card with buttons, or
    text over WeCom's 2048 bytes): then they go out as messages."""
    if not replies or any(r.buttons for r in replies):
        return None if replies else ""
    text = "\n\n".join(render_text(r, "wecom") for r in replies)
    return None if len(text.encode()) > PASSIVE_LIMIT else text


def cdata(value) -> str:
    """A CDATA section holding `value` exactly: a `]]>` inside is split over two sections."""
    return "<![CDATA[" + str(value or "").replace("]]>", "]]]]><![CDATA[>") + "]]>"


def _envelope(fields: dict, msg_type: str, body: str, now: int) -> str:
    return (f"<xml><ToUserName>{cdata(fields.get('FromUserName'))}</ToUserName>"
            f"<FromUserName>{cdata(fields.get('ToUserName'))}</FromUserName>"
            f"<CreateTime>{now}</CreateTime><MsgType>{cdata(msg_type)}</MsgType>{body}</xml>")


def text_xml(fields: dict, text: str, now: int) -> str:
    return _envelope(fields, "text", f"<Content>{cdata(text)}</Content>", now)


def update_button_xml(fields: dict, now: int, label: str = "已处理") -> str:
    return _envelope(fields, "update_button", f"<Button><ReplaceName>{cdata(label)}</ReplaceName></Button>", now)


def task_id_for(key: str, salt: str = "") -> str:
    """A card's task_id: unique per message, at most 128 of [0-9A-Za-z_-@]. The same outbox row gives the
    same task_id (so WeCom's duplicate check drops a card a crash made go out twice); `salt` makes a new
    one when WeCom has seen this one before (42014: a restored database, a staging copy)."""
    tid = "t" + hashlib.sha1(key.encode()).hexdigest()
    return f"{tid}_{salt}" if salt else tid


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


def card_text(text: str) -> tuple[str, str, bool]:
    """(title, sub_title_text, whole): the first line as the title, then as many whole lines as the
    SUB_TITLE characters a card shows; when some do not fit, a last line says how many more (whole False)."""
    lines = [x for x in text.splitlines() if x.strip()]
    title, rest = (lines[0] if lines else "")[:36], lines[1:]
    body = "\n".join(rest)
    if len(body) <= SUB_TITLE:
        return title, body, True
    shown: list[str] = []
    for i, line in enumerate(rest):
        more = f"…另有 {len(rest) - i} 行，见上一条消息"
        if len("\n".join(shown + [line, more])) > SUB_TITLE:
            return title, "\n".join(shown + [more]), False
        shown.append(line)
    return title, body, True  # not reached: the body is longer than SUB_TITLE


def app_messages(reply: Reply, userid: str, agent_id: int, key: str, salt: str = "") -> list[dict]:
    """The message/send bodies for a reply: a card, or its text in as many messages as 2048 bytes need.
    A card whose text does not fit the 160 characters a card shows comes after its whole text.

    What the bot sends on its own (a card, a warning) asks WeCom's duplicate check (30 min) to drop it
    if a crash makes it go out twice. An answer to what a rep just asked (outbox key "reply:...") does
    not: the same question asked twice must be answered twice."""
    text = render_text(reply, "wecom")
    base = {"touser": userid, "agentid": agent_id}
    if not key.startswith("reply:"):
        base.update(enable_duplicate_check=1, duplicate_check_interval=1800)
    texts = [{**base, "msgtype": "text", "text": {"content": part}} for part in parts_of(text)]
    if not reply.buttons:
        return texts
    template_card, whole = button_card(text, reply.buttons, task_id_for(key, salt))
    card = {**base, "msgtype": "template_card", "template_card": template_card}
    return [card] if whole else texts + [card]


def button_card(text: str, buttons: list, task_id: str, replace_text: str = "") -> tuple[dict, bool]:
    """A button_interaction template card of a reply's text and buttons (at most 6), and whether the
    text fits whole in it. `replace_text`: the buttons show greyed, with this text (an updated card)."""
    title, sub_title, whole = card_text(text)
    card = {"card_type": "button_interaction", "main_title": {"title": title}, "sub_title_text": sub_title,
            "task_id": task_id,
            "button_list": [{"text": b.label[:20], "style": 1, "key": b.action} for b in buttons[:6]]}
    if replace_text:
        card["replace_text"] = replace_text
    return card, whole


def message_count(reply: Reply) -> int:
    """How many app messages `app_messages` makes of the reply."""
    text = render_text(reply, "wecom")
    if reply.buttons and card_text(text)[2]:
        return 1
    return len(parts_of(text)) + (1 if reply.buttons else 0)


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
