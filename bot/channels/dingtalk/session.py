"""Where to answer a DingTalk message: its conversation's session webhook (valid about 90 minutes) and
conversation, kept in the shared key/value store under the message id, where sending finds it by the
outbox key `reply:dingtalk:<msgId>:<i>`."""
from __future__ import annotations

import json
from datetime import datetime, timedelta
from urllib.parse import urlsplit
from typing import TYPE_CHECKING

from storage import kv

from .sign import SIGN_PREFIX
from .wire import Callback

if TYPE_CHECKING:
    from ...runtime import Runtime

SESSION_PREFIX = "dingtalk:session:"
SESSION_KEEP = timedelta(days=1)  # how long after the message its conversation is remembered
PURGE_EVERY = timedelta(minutes=10)
REPLY_PREFIX = "reply:dingtalk:"


SESSION_PATH = "/robot/sendBySession"
DINGTALK_ORIGIN = ("https", "oapi.dingtalk.com", 443)


def _origin(url: str) -> tuple | None:
    try:
        parts = urlsplit(url)
        port = parts.port or {"https": 443, "http": 80}.get(parts.scheme)
    except ValueError:
        return None
    if parts.username is not None or parts.password is not None or not parts.hostname:
        return None
    return parts.scheme, parts.hostname.lower(), port


def webhook_allowed(url: str | None, cfg) -> bool:
    """Whether a session webhook may be posted to: DingTalk's own (https://oapi.dingtalk.com/robot/
    sendBySession…), or the scheme, host and port of a configured DINGTALK_API_BASE / DINGTALK_OAPI_BASE
    (a test's fake). A body naming any other address (127.0.0.1, 169.254.169.254, an intranet host) would
    make the bot post a rep's deal list there."""
    if not url or not urlsplit(url).path.startswith(SESSION_PATH):
        return False
    origin = _origin(url)
    allowed = {DINGTALK_ORIGIN} | {_origin(cfg[k]) for k in ("DINGTALK_API_BASE", "DINGTALK_OAPI_BASE") if cfg[k]}
    return origin is not None and origin in allowed


def session_key(msg_id: str) -> str:
    return SESSION_PREFIX + msg_id


def msg_id_of_key(outbox_key: str) -> str | None:
    """The DingTalk msgId behind an outbox key `reply:dingtalk:<msgId>:<i>`, else None."""
    if not outbox_key.startswith(REPLY_PREFIX):
        return None
    rest = outbox_key[len(REPLY_PREFIX):]
    msg_id, sep, index = rest.rpartition(":")
    return msg_id if sep and index.isdigit() and msg_id else None


def remember_session(runtime: Runtime, cb: Callback, now: datetime) -> None:
    """Keep where to answer this message: its session webhook and conversation, for the adapter."""
    value = json.dumps({"webhook": cb.session_webhook, "expires": cb.session_expires, "group": cb.group,
                        "conversation_id": cb.conversation_id, "staff_id": cb.staff_id})
    # one INSERT; a redelivery keeps the first delivery's session (its replies were queued with it),
    # and concurrent deliveries only wait on each other, never update the same row (a MariaDB deadlock)
    kv.add(session_key(cb.msg_id), value, now, SESSION_KEEP)
    last = runtime.dingtalk_purged
    if last is None or now - last >= PURGE_EVERY:
        runtime.dingtalk_purged = now
        kv.purge_expired(SESSION_PREFIX, now)
        kv.purge_expired(SIGN_PREFIX, now)


def session_of(outbox_key: str, now: datetime) -> dict | None:
    msg_id = msg_id_of_key(outbox_key)
    if msg_id is None:
        return None
    value = kv.get(session_key(msg_id), now)
    return json.loads(value) if value else None
