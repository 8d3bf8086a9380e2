"""DingTalk (钉钉) enterprise-app robot: the HTTP callback, and the callback -> Incoming path that Stream
mode (bot/channels/dingtalk_stream_mode.py) shares.

HTTP mode: verify the `timestamp` + `sign` headers (HMAC-SHA256 with the app secret, constant-time,
one hour against the runtime clock), parse the JSON, run it through the one inbound path (dedup by
msgId) and answer 200 `{}` at once. The replies go out through the outbox: the request never waits on
DingTalk. The conversation's session webhook (and its expiry) is kept in the shared key/value store
under the message id, where the adapter (bot/channels/dingtalk_api.py) finds it by the outbox key
`reply:dingtalk:<msgId>:<i>`; once it has expired the adapter uses the robot OpenAPI instead.
"""
from __future__ import annotations

import base64
import hashlib
import hmac
import json
import logging
import re
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone

from flask import Blueprint, Response, current_app, jsonify, request
from werkzeug.exceptions import RequestEntityTooLarge

from storage.database import connected
from storage import kv, outbox
from storage.people import rep_for_sender

from ..messages import Incoming, Reply
from ..runtime import Handled

log = logging.getLogger(__name__)
blueprint = Blueprint("dingtalk", __name__)

MAX_BODY = 64 * 1024
SIGN_WINDOW = timedelta(hours=1)
SESSION_PREFIX = "dingtalk:session:"
SESSION_KEEP = timedelta(days=1)  # how long after the message its conversation is remembered
PURGE_EVERY = timedelta(minutes=10)
REPLY_PREFIX = "reply:dingtalk:"
LEADING_MENTIONS = re.compile(r"^(?:\s*@\S+)+\s*")


class Rejected(Exception):
    def __init__(self, status: int, why: str):
        super().__init__(why)
        self.status, self.why = status, why


def sign(timestamp: str, secret: str) -> str:
    """base64(HMAC-SHA256(key=secret, timestamp + "\\n" + secret)): the callback's and the group robot's sign."""
    digest = hmac.new(secret.encode(), f"{timestamp}\n{secret}".encode(), hashlib.sha256).digest()
    return base64.b64encode(digest).decode()


def verify_sign(timestamp: str | None, given: str | None, secret: str, now: datetime) -> None:
    """Raise Rejected unless `given` is the sign of `timestamp` and the timestamp is within an hour of now."""
    if not timestamp or not given:
        raise Rejected(401, "missing timestamp or sign header")
    if not (timestamp.isascii() and timestamp.isdigit()) or len(timestamp) > 16:
        raise Rejected(400, "timestamp header is not a number of milliseconds")
    if not hmac.compare_digest(sign(timestamp, secret).encode(), given.encode("utf-8", "replace")):
        raise Rejected(403, "wrong sign")
    skew = abs(now.timestamp() * 1000 - int(timestamp))
    if skew > SIGN_WINDOW.total_seconds() * 1000:
        raise Rejected(403, f"stale timestamp ({skew / 60000:.0f} min away from now; the limit is 60)")


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


def _str(data: dict, name: str, required: bool = True, limit: int = 512) -> str | None:
    value = data.get(name)
    if value is None or value == "":
        if required:
            raise Rejected(400, f"missing field {name}")
        return None
    if not isinstance(value, str) or len(value) > limit:
        raise Rejected(400, f"field {name} is not a string of at most {limit} characters")
    return value


def _millis(data: dict, name: str) -> int | None:
    value = data.get(name)
    if value is None or value == "":
        return None
    try:
        return int(value)
    except (TypeError, ValueError):
        raise Rejected(400, f"field {name} is not a number of milliseconds") from None


def parse_callback(data) -> Callback:
    if not isinstance(data, dict):
        raise Rejected(400, "the body is not a JSON object")
    msg_id = _str(data, "msgId", limit=100)
    staff_id = _str(data, "senderStaffId", limit=64)
    kind = data.get("conversationType")
    if str(kind) not in ("1", "2"):
        raise Rejected(400, "missing field conversationType (1 or 2)")
    group = str(kind) == "2"
    conversation_id = _str(data, "conversationId", required=group, limit=128) or ""
    webhook = _str(data, "sessionWebhook", required=False, limit=1024)
    if webhook and not webhook.startswith(("https://", "http://")):
        raise Rejected(400, "sessionWebhook is not an http(s) URL")
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
                    datetime.fromtimestamp(created / 1000, timezone.utc) if created else None)


def to_incoming(cb: Callback) -> Incoming:
    return Incoming("dingtalk", cb.msg_id, cb.staff_id, text=cb.text or "",
                    chat_id=cb.conversation_id if cb.group else None, at=cb.created,
                    extra={"reply_via_outbox": True, "session_webhook": cb.session_webhook,
                           "session_webhook_expires": cb.session_expires,
                           "conversation_type": "2" if cb.group else "1",
                           "conversation_id": cb.conversation_id})


def session_key(msg_id: str) -> str:
    return SESSION_PREFIX + msg_id


def msg_id_of_key(outbox_key: str) -> str | None:
    """The DingTalk msgId behind an outbox key `reply:dingtalk:<msgId>:<i>`, else None."""
    if not outbox_key.startswith(REPLY_PREFIX):
        return None
    rest = outbox_key[len(REPLY_PREFIX):]
    msg_id, sep, index = rest.rpartition(":")
    return msg_id if sep and index.isdigit() and msg_id else None


def remember_session(runtime, cb: Callback, now: datetime) -> None:
    """Keep where to answer this message: its session webhook and conversation, for the adapter."""
    value = json.dumps({"webhook": cb.session_webhook, "expires": cb.session_expires, "group": cb.group,
                        "conversation_id": cb.conversation_id, "staff_id": cb.staff_id})
    # one INSERT; a redelivery keeps the first delivery's session (its replies were queued with it),
    # and concurrent deliveries only wait on each other, never update the same row (a MariaDB deadlock)
    kv.add(session_key(cb.msg_id), value, now, SESSION_KEEP)
    last = runtime.__dict__.get("_dingtalk_purged")
    if last is None or now - last >= PURGE_EVERY:
        runtime.__dict__["_dingtalk_purged"] = now
        kv.purge_expired(SESSION_PREFIX, now)


def session_of(outbox_key: str, now: datetime) -> dict | None:
    msg_id = msg_id_of_key(outbox_key)
    if msg_id is None:
        return None
    value = kv.get(session_key(msg_id), now)
    return json.loads(value) if value else None


def recipient_of(cb: Callback) -> str:
    rep = rep_for_sender("dingtalk", cb.staff_id)
    return rep.local_id if rep else f"dingtalk:{cb.staff_id}"


def handle_callback(runtime, data) -> Handled | None:
    """The callback -> Incoming -> runtime path shared by HTTP and Stream mode. Raises Rejected for bad
    data (nothing written). Returns only after the message is recorded and its replies are queued."""
    cb = parse_callback(data)
    now = runtime.now()
    with connected(runtime.database):
        if cb.text is None:  # a picture or voice message: say what the bot understands, record nothing
            with runtime.database.atomic():
                remember_session(runtime, cb, now)
                outbox.enqueue(f"{REPLY_PREFIX}{cb.msg_id}:0", "dingtalk", recipient_of(cb),
                               Reply("text_only", {}).to_dict(), now)
            return None
        # where to answer and the message itself: one transaction, one commit
        with runtime.database.atomic():
            remember_session(runtime, cb, now)
            # (someone the bot does not know is answered too: the runtime queues that reply to
            # "dingtalk:<staffId>")
            handled = runtime.handle(to_incoming(cb))
    return handled


def reject(e: Rejected, source: str = "http"):
    log.warning("dingtalk %s callback rejected (%s): %s from %s", source, e.status, e.why,
                request.remote_addr if source == "http" else "stream")
    return jsonify(error=e.why), e.status


@blueprint.post("/dingtalk/callback")
def callback():
    runtime = current_app.extensions["bot"]
    cfg = runtime.config
    try:
        if request.content_length is not None and request.content_length > MAX_BODY:
            raise Rejected(413, f"body of {request.content_length} bytes (the limit is 64 KB)")
        verify_sign(request.headers.get("timestamp"), request.headers.get("sign"), cfg["DINGTALK_APP_SECRET"],
                    runtime.clock.now())
        try:
            raw = request.get_data(cache=False)
        except RequestEntityTooLarge:
            raise Rejected(413, "body over 64 KB") from None
        if len(raw) > MAX_BODY:
            raise Rejected(413, "body over 64 KB")
        try:
            data = json.loads(raw)
        except (ValueError, UnicodeDecodeError):
            raise Rejected(400, "the body is not JSON") from None
        handle_callback(runtime, data)
    except Rejected as e:
        return reject(e)
    return Response("{}", mimetype="application/json")
