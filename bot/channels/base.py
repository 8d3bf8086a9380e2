"""The one interface every chat tool implements, and the types it speaks in.

A channel is a package under bot/channels/ (wecom/, dingtalk/, local/) whose files name their job:
`routes.py` (the HTTP endpoints: verify, decode, hand over, answer), `crypto.py` / `sign.py`
(verification), `wire.py` (the tool's formats: callback -> `Incoming`, `Reply` -> its bodies),
`client.py` (its API with the shared access token) and `send.py` (delivery). The runtime and the
delivery job call every channel the same way, through `Channel` below; nothing outside a channel's
package knows its formats.

    routes ──parse──> Incoming ──runtime.handle──> replies ──answer──> in the request's own answer
                                                          └─(None)──> outbox rows ──send──> the tool
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

import requests

if TYPE_CHECKING:
    from handlers.messages import Incoming, Reply


@dataclass
class SendResult:
    ok: bool
    error: str = ""
    retry: bool = False  # a passing failure (rate limit, busy): try again later
    retry_after: float | None = None  # seconds, when the API said how long
    attempted: bool = True  # False: nothing reached the chat tool (waiting for a token): no attempt used
    alert: str = ""  # a failure of the set-up, not of this message (bad secret, IP not trusted, robot off):
    #                  its cause, e.g. "wecom:60020"; the team's admins are told once (bot/alerts.py)


@dataclass(frozen=True)
class RateLimit:
    count: int
    seconds: int


@dataclass
class Answer:
    """What goes in the request's own answer (WeCom's passive reply, the local channel's JSON): the
    replies, and the channel's rendering of them when it rendered them to decide (kept, not redone)."""
    replies: list
    text: str = ""


class NoRedirects(requests.Session):
    """An HTTP session that never follows a redirect: a chat API answers, it does not send us on (a
    redirect from a webhook would carry the message and its links to wherever it points)."""

    def request(self, method, url, *args, **kwargs):
        kwargs["allow_redirects"] = False
        return super().request(method, url, *args, **kwargs)


class Rejected(Exception):
    """A request refused before anything is written: its HTTP status and why (logged, never a secret)."""

    def __init__(self, status: int, why: str):
        super().__init__(why)
        self.status, self.why = status, why


@runtime_checkable
class Channel(Protocol):
    """A chat tool, as the runtime and the delivery job see it."""

    name: str

    def parse(self, data: Any) -> "Incoming | None":
        """A verified, decoded request (WeCom: the decrypted XML's fields; DingTalk: the callback JSON)
        as an `Incoming`; None for what the bot does not act on. Raises Rejected for bad data."""

    def remember(self, msg: "Incoming", now: datetime) -> None:
        """Keep what answering `msg` later needs (DingTalk: its session webhook). Runs inside the
        message's transaction, so it is kept exactly when the message is recorded."""

    def answer(self, msg: "Incoming", replies: list) -> Answer | None:
        """What fits in the request's own answer; None: the replies go out as messages (queued in the
        outbox in the message's own transaction)."""

    def render(self, reply: "Reply") -> str:
        """The reply as this tool's text (what a merged message is made of)."""

    def send(self, recipient: str, reply: "Reply", key: str = "") -> SendResult:
        """Deliver one outbox row's reply to a rep or chat group (by local id)."""

    def limits(self, recipient: str) -> list[RateLimit]:
        """The tool's rate limits for this recipient."""

    def cost(self, recipient: str, reply: "Reply") -> int:
        """How many of the recipient's rate-limit slots sending the reply takes (a long text in parts)."""

    def merges(self, recipient: str) -> bool:
        """Whether waiting messages to this recipient may go merged into one (a group robot)."""


class ChannelBase:
    """Defaults for a channel: no callback of its own, nothing to remember, no limits, no merging,
    the common text templates, the replies by message."""

    name = "base"
    runtime = None

    def parse(self, data):
        raise NotImplementedError(f"channel {self.name!r} has no callback")

    def remember(self, msg, now) -> None:
        return None

    def answer(self, msg, replies) -> Answer | None:
        return None

    def render(self, reply) -> str:
        from ..render import render_text
        return render_text(reply, self.name)

    def send(self, recipient, reply, key="") -> SendResult:
        return SendResult(ok=False, error=f"channel {self.name!r} cannot send")

    def limits(self, recipient) -> list[RateLimit]:
        return []

    def cost(self, recipient, reply) -> int:
        return 1

    def merges(self, recipient) -> bool:
        return False


class InRequest(ChannelBase):
    """A channel that answers in the request and sends nothing on its own: the signed action links
    (`link`), and any channel a runtime has no sender for (a test's runtime without WeCom keys)."""

    def __init__(self, name: str, runtime=None):
        self.name, self.runtime = name, runtime

    def answer(self, msg, replies) -> Answer:
        return Answer(replies)
