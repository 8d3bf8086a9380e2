"""WeCom (企业微信): the self-built app's callback and messages, and the team groups' robots.

routes.py (GET URL check, POST callback) · crypto.py (signature, AES) · wire.py (XML, message bodies)
· client.py (API client, shared token) · send.py (delivery, errcodes) · cards.py (sent cards, clicks)
"""
from __future__ import annotations

from storage.people import group_by_local_id, is_group

from ...render import render_text
from ..base import Answer, NoRedirects, RateLimit, SendResult
from . import cards, send
from .client import WeComClient
from .wire import message_count, passive_text, to_incoming


class WeComChannel:
    name = "wecom"
    REP_LIMITS = [RateLimit(30, 60), RateLimit(1000, 3600)]
    ROBOT_LIMITS = [RateLimit(20, 60)]

    def __init__(self, runtime):
        self.runtime = runtime
        self.client = WeComClient(runtime)
        self.agent_id = int(runtime.config["WECOM_AGENT_ID"])
        self.http = NoRedirects()

    def parse(self, fields: dict):
        return to_incoming(fields)

    def remember(self, msg, now) -> None:
        return None

    def answer(self, msg, replies) -> Answer | None:
        """The passive reply carries the text; a card click's outcome, a card with buttons or a text
        over 2048 bytes go out as messages (the passive reply of a click updates its button)."""
        if msg.action is not None:
            return None
        text = passive_text(replies)
        return None if text is None else Answer(replies, text)

    def render(self, reply) -> str:
        return render_text(reply, "wecom")

    def merges(self, recipient: str) -> bool:
        """Group robots take merged messages when more are waiting than the limit lets through."""
        return is_group(recipient)

    def limits(self, recipient: str) -> list[RateLimit]:
        return self.ROBOT_LIMITS if is_group(recipient) else self.REP_LIMITS

    def cost(self, recipient: str, reply) -> int:
        """A member's app messages: as many as the text's parts (and the card after them); WeCom drops
        a member's messages past 30 a minute without an error. A group robot: one. A card's update: none."""
        if reply.template == cards.UPDATE:
            return 0
        return 1 if is_group(recipient) else message_count(reply)

    def send(self, recipient: str, reply, key: str = "") -> SendResult:
        if reply.template == cards.UPDATE:  # a clicked card, updated (not a message)
            return send.send_card_update(self.runtime, self.client, self.agent_id, reply)
        group = group_by_local_id(recipient)
        if group is not None:
            return send.send_robot(self.runtime, self.http, group, reply)
        return send.send_app_message(self.runtime, self.client, self.agent_id, recipient, reply, key)


Channel = WeComChannel
