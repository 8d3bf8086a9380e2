"""DingTalk signatures: the robot callback's `timestamp` + `sign` headers, and the group robot's signed
webhook URL. Both are base64(HMAC-SHA256(key=secret, timestamp + "\\n" + secret))."""
from __future__ import annotations

import base64
import hashlib
import hmac
from datetime import datetime, timedelta
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from storage import kv

from ..base import Rejected

SIGN_WINDOW = timedelta(hours=1)
SIGN_PREFIX = "dingtalk:sign:"  # a (timestamp, sign) pair -> the hash of the one body it came with


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


def claim_sign(timestamp: str, given: str, body: bytes, now: datetime) -> None:
    """A (timestamp, sign) pair is good for one body: DingTalk's sign covers only the timestamp, so
    whoever saw one request could send any body with its headers for an hour. The pair's first body
    is kept (by hash) for as long as the pair is valid; the same body again is a redelivery (the
    message id makes it count once), another body is refused."""
    digest = hashlib.sha256(body).hexdigest()
    key = SIGN_PREFIX + hashlib.sha256(f"{timestamp}\n{given}".encode()).hexdigest()[:48]
    if not kv.add(key, digest, now, 2 * SIGN_WINDOW) and kv.get(key, now) != digest:
        raise Rejected(409, "this timestamp and sign came with another body before (a replay)")


def signed_webhook(webhook: str, secret: str | None, now_ms: int) -> str:
    """The group robot URL with timestamp and sign (when the robot has a SEC secret)."""
    if not secret:
        return webhook
    parts = urlsplit(webhook)
    query = [(k, v) for k, v in parse_qsl(parts.query, keep_blank_values=True) if k not in ("timestamp", "sign")]
    query += [("timestamp", str(now_ms)), ("sign", sign(str(now_ms), secret))]
    return urlunsplit(parts._replace(query=urlencode(query)))
