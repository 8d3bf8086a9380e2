"""DingTalk (钉钉): the enterprise app's robot (HTTP callback or Stream mode), its messages, and the team
groups' custom robots.

routes.py (HTTP callback) · stream.py (Stream mode) · sign.py (signatures) · wire.py (callback JSON,
message bodies) · session.py (where to answer a message) · client.py (OpenAPI, shared token) · send.py
"""
from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from storage.people import is_group

from ...render import render_text
from ..base import NoRedirects, RateLimit, Rejected, SendResult
from .client import DingTalkClient
from .send import Sender
from .session import remember_session, webhook_allowed
from .wire import parse_callback, to_incoming

if TYPE_CHECKING:
    from ...runtime import Runtime


log = logging.getLogger(__name__)


class DingTalkChannel:
    name = "dingtalk"
    REP_LIMITS = [RateLimit(30, 60)]
    ROBOT_LIMITS = [RateLimit(20, 60)]  # a custom robot: 20 a minute, else blocked for 10 minutes

    def __init__(self, runtime: Runtime):
        self.runtime = runtime
        self.http = NoRedirects()
        self.client = DingTalkClient(runtime, self.http)
        self.sender = Sender(runtime, self.http, self.client)

    def parse(self, data):
        """A robot callback (HTTP body or Stream data); Rejected for bad data (nothing written). Its
        robotCode must be this bot's; a session webhook not at DingTalk's address is dropped (the reply
        goes through the robot OpenAPI instead)."""
        cb = parse_callback(data)
        if cb.robot_code != self.runtime.config["DINGTALK_ROBOT_CODE"]:
            raise Rejected(403, "robotCode is not this bot's")
        if cb.session_webhook and not webhook_allowed(cb.session_webhook, self.runtime.config):
            log.warning("dingtalk session webhook refused (not DingTalk's address): %s", cb.session_webhook[:200])
            cb.session_webhook = None
        return to_incoming(cb)

    def remember(self, msg, now) -> None:
        remember_session(self.runtime, msg.extra["callback"], now)

    def answer(self, msg, replies):
        """The callback is answered at once with `{}`: every reply goes out as a message (the session
        webhook while it is valid)."""
        return None

    def render(self, reply) -> str:
        return render_text(reply, "dingtalk")

    def merges(self, recipient: str) -> bool:
        """Group robots take merged messages when more are waiting than the limit lets through."""
        return is_group(recipient)

    def limits(self, recipient: str) -> list[RateLimit]:
        return self.ROBOT_LIMITS if is_group(recipient) else self.REP_LIMITS

    def cost(self, recipient: str, reply) -> int:
        return 1

    def send(self, recipient: str, reply, key: str = "") -> SendResult:
        return self.sender.send(recipient, reply, key)


Channel = DingTalkChannel


def receive(runtime: Runtime, data):
    """A robot callback (HTTP or Stream) through the one inbound path. Raises Rejected for bad data
    (nothing written); returns only after the message is recorded and its replies are queued."""
    from .. import channel_for
    return runtime.handle(channel_for("dingtalk", runtime).parse(data))
