"""DingTalk Stream mode: the bot opens an outbound WebSocket with the official dingtalk-stream SDK, so no
public callback URL is needed. Robot messages arrive on `/v1.0/im/bot/messages/get` with the same JSON
as the HTTP callback and take the same path (`bot.channels.dingtalk.receive`).

A message is acknowledged only after `runtime.handle` returned, i.e. after it is recorded and its
replies are queued in the outbox: if the process dies first, DingTalk delivers it again, and a
redelivery of a recorded message is answered from the record, not run twice.
"""
from __future__ import annotations

import asyncio
import logging
import platform
import threading
from typing import TYPE_CHECKING

import dingtalk_stream
import requests
from dingtalk_stream import AckMessage, CallbackMessage, ChatbotMessage
from dingtalk_stream.version import VERSION_STRING

from ..base import Rejected
from . import receive

if TYPE_CHECKING:
    from ...runtime import Runtime

log = logging.getLogger(__name__)
OPEN_CONNECTION = "/v1.0/gateway/connections/open"


class FunnelChatbotHandler(dingtalk_stream.ChatbotHandler):
    """Robot messages -> the bot's one inbound path; ack after the message is recorded."""

    def __init__(self, runtime: Runtime):
        super().__init__()
        self.runtime = runtime

    async def process(self, callback: CallbackMessage):
        data = callback.data
        try:
            # the database work is blocking: keep it off the event loop (pings, other messages)
            await asyncio.to_thread(receive, self.runtime, data)
        except Rejected as e:
            log.warning("dingtalk stream message rejected (%s): %s", e.status, e.why)
            return AckMessage.STATUS_BAD_REQUEST, e.why  # bad data: delivering it again will not help
        except Exception:  # noqa: BLE001  not recorded: no OK, so DingTalk delivers it again
            log.exception("dingtalk stream message %s failed", getattr(callback.headers, "message_id", "?"))
            return AckMessage.STATUS_SYSTEM_EXCEPTION, "error"
        return AckMessage.STATUS_OK, "OK"


class FunnelStreamClient(dingtalk_stream.DingTalkStreamClient):
    """The SDK client, opening its connection at DINGTALK_API_BASE (the SDK reads a fixed endpoint)."""

    def __init__(self, runtime: Runtime, api_base: str | None = None):
        cfg = runtime.config
        super().__init__(dingtalk_stream.Credential(cfg["DINGTALK_APP_KEY"], cfg["DINGTALK_APP_SECRET"]),
                         logger=logging.getLogger("bot.dingtalk.stream.sdk"))
        self.api_base = (api_base or cfg["DINGTALK_API_BASE"]).rstrip("/")

    def open_connection(self):
        topics = [{"type": "CALLBACK", "topic": t} for t in self.callback_handler_map]
        if self._is_event_required:
            topics.append({"type": "EVENT", "topic": "*"})
        body = {"clientId": self.credential.client_id, "clientSecret": self.credential.client_secret,
                "subscriptions": topics, "localIp": self.get_host_ip(),
                "ua": f"funnel-bot dingtalk-sdk-python/v{VERSION_STRING} "
                      f"Python/{platform.python_version()}"}
        try:
            r = requests.post(self.api_base + OPEN_CONNECTION, json=body, timeout=10, allow_redirects=False)
            r.raise_for_status()
            return r.json()
        except Exception as e:  # noqa: BLE001  the SDK waits and tries again
            log.error("dingtalk stream: opening the connection failed: %s", e)
            return None


def stream_client(runtime: Runtime, api_base: str | None = None) -> FunnelStreamClient:
    client = FunnelStreamClient(runtime, api_base)
    client.register_callback_handler(ChatbotMessage.TOPIC, FunnelChatbotHandler(runtime))
    return client


def run_stream(runtime: Runtime) -> None:
    """Connect and serve robot messages forever (reconnecting as the SDK does)."""
    log.info("dingtalk stream mode: connecting as %s", runtime.config["DINGTALK_APP_KEY"])
    stream_client(runtime).start_forever()


def start_stream_thread(runtime: Runtime) -> threading.Thread:
    """Stream mode beside the web app (`serve` with DINGTALK_MODE=stream)."""
    thread = threading.Thread(target=run_stream, args=(runtime,), name="dingtalk-stream", daemon=True)
    thread.start()
    return thread
