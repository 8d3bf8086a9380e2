"""Secrets out of text that is stored, logged or shown: error strings, log lines, access-log paths.

The chat APIs put secrets in URLs (WeCom's `gettoken?corpsecret=…`, `?access_token=…` on every call,
a DingTalk group robot's `?access_token=…&sign=…`) and HTTP libraries quote the URL in their errors.
`redact` removes every URL query string, every `name=value` whose name says it is a credential, and
every value registered with `register` (the configured secrets), so no copy of a secret lands in an
outbox row, a log line or a page. Action-link tokens (`/a/<token>`: a bearer credential) are cut too.
"""
from __future__ import annotations

import re
import threading

MASK = "***"
_SENSITIVE = (r"access_token|corpsecret|secret|app_?secret|client_?secret|sign|signature|msg_signature|key|"
              r"token|code|auth_?code|password|passwd|echostr")
# a query string after a URL or a path (requests writes "with url: /cgi-bin/gettoken?corpid=…")
_QUERY = re.compile(r"((?:https?://|/)[^\s?#'\"<>]*)\?[^\s#'\"<>)]*", re.IGNORECASE)
_PAIR = re.compile(rf"\b({_SENSITIVE})=[^&\s'\",;)}}]+", re.IGNORECASE)  # name=value
_JSON_PAIR = re.compile(rf"([\"']({_SENSITIVE})[\"']\s*:\s*[\"'])[^\"']*", re.IGNORECASE)  # "appSecret": "…"
_LINK = re.compile(r"(/a/)[A-Za-z0-9_\-.=%]+")

_lock = threading.Lock()
_values: set[str] = set()


def register(*values: str | None) -> None:
    """Values to cut wherever they appear (the app and API secrets, the signing key). Short values
    (under 6 characters) are not registered: they would mangle ordinary text."""
    with _lock:
        _values.update(v for v in values if v and len(v) >= 6)


def redact(text):
    """`text` with query strings, credential pairs, link tokens and registered secrets replaced by ***."""
    if not isinstance(text, str) or not text:
        return text
    for value in sorted(_values, key=len, reverse=True):
        if value in text:
            text = text.replace(value, MASK)
    text = _QUERY.sub(lambda m: f"{m.group(1)}?{MASK}", text)
    text = _PAIR.sub(lambda m: f"{m.group(1)}={MASK}", text)
    text = _JSON_PAIR.sub(lambda m: f"{m.group(1)}{MASK}", text)
    return _LINK.sub(lambda m: f"{m.group(1)}{MASK}", text)
