"""Channel adapters. Each turns its tool's callbacks into `Incoming` and sends neutral replies.

An adapter for delivery has `send(recipient_local_id, reply) -> SendResult` and `limits(recipient)`.
Adding a chat tool touches only this folder and the templates.
"""
from __future__ import annotations

from dataclasses import dataclass


@dataclass
class SendResult:
    ok: bool
    error: str = ""
    retry: bool = False  # a passing failure (rate limit, busy): try again later
    retry_after: float | None = None  # seconds, when the API said how long
    attempted: bool = True  # False: nothing reached the chat tool (waiting for a token): no attempt used


@dataclass(frozen=True)
class RateLimit:
    count: int
    seconds: int


class LocalAdapter:
    """The local channel delivers by recording: GET /local/outbox shows what was sent."""
    name = "local"

    def __init__(self, runtime):
        self.runtime = runtime

    def limits(self, recipient: str) -> list[RateLimit]:
        return []

    def send(self, recipient: str, reply, key: str = "") -> SendResult:
        return SendResult(ok=True)


def adapter_for(channel: str, runtime):
    cache = runtime.__dict__.setdefault("_adapters", {})
    if channel not in cache:
        if channel == "local":
            cache[channel] = LocalAdapter(runtime)
        elif channel == "wecom" and runtime.config.channel_on("wecom"):
            from .wecom_api import WeComAdapter
            cache[channel] = WeComAdapter(runtime)
        elif channel == "dingtalk" and runtime.config.channel_on("dingtalk"):
            from .dingtalk_api import DingTalkAdapter
            cache[channel] = DingTalkAdapter(runtime)
        else:
            raise LookupError(f"no adapter for channel {channel!r}")
    return cache[channel]
