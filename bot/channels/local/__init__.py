"""The local chat channel: JSON over HTTP (routes.py), for trying the bot, the CLI, the simulator and
tests. It answers in the request and delivers by recording: GET /local/outbox shows what was sent."""
from __future__ import annotations

import uuid

from handlers.messages import Incoming
from ..base import InRequest, Rejected, SendResult


class LocalChannel(InRequest):
    def __init__(self, runtime):
        super().__init__("local", runtime)

    def parse(self, body) -> Incoming:
        """{"user": ..., "text": ...} or {"user": ..., "action": ...}, optional "id" (the dedup key)."""
        if not isinstance(body, dict):
            raise Rejected(400, "请求体必须是 JSON 对象: {\"user\": ..., \"text\": ...}")
        user, text, action = body.get("user"), body.get("text"), body.get("action")
        if not isinstance(user, str) or not user.strip():
            raise Rejected(400, "缺少 user")
        if (text is None) == (action is None):
            raise Rejected(400, "需要 text 或 action (二选一)")
        if not isinstance(text if text is not None else action, str):
            raise Rejected(400, "text / action 必须是字符串")
        msg_id = body.get("id") or uuid.uuid4().hex
        if not isinstance(msg_id, str) or len(msg_id) > 128:
            raise Rejected(400, "id 必须是不超过 128 字符的字符串")
        return Incoming("local", msg_id, user.strip(), text=text or "", action=action)

    def send(self, recipient: str, reply, key: str = "") -> SendResult:
        return SendResult(ok=True)


Channel = LocalChannel
