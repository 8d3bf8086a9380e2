"""Channel-neutral message types: what channels produce (Incoming) and what handlers answer (Reply).

A channel turns a WeCom XML or DingTalk JSON callback into an `Incoming`, and renders a `Reply`
through the Jinja2 templates in `bot/templates/` into its own wire format. The types are the handlers'
contract (what a handler is given, what it answers), so they live here: bot/ (channels, jobs, runtime)
imports them from handlers/, and handlers/ never imports bot/.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime


@dataclass
class Incoming:
    channel: str  # "local" | "wecom" | "dingtalk"
    message_id: str  # unique per channel; the dedup key
    sender: str  # the channel's user id (WeCom userid, DingTalk staffId, local id)
    text: str = ""
    action: str | None = None  # a card button's action, e.g. "followup:42"
    chat_id: str | None = None  # the group chat it came from; None for a one-to-one chat
    at: datetime | None = None
    extra: dict = field(default_factory=dict)  # channel-specific details (the session webhook, ...)
    readable: bool = True  # False: a picture or a voice message without text: answered, not recorded


@dataclass
class Button:
    label: str
    action: str


@dataclass
class Reply:
    """A neutral message: a template name, the data it renders, optional buttons."""
    template: str
    data: dict = field(default_factory=dict)
    buttons: list[Button] = field(default_factory=list)
    urgent: bool = False

    def to_dict(self) -> dict:
        # not dataclasses.asdict: it deep-copies the data, which costs seconds over thousands of cards
        return {"template": self.template, "data": self.data,
                "buttons": [{"label": b.label, "action": b.action} for b in self.buttons], "urgent": self.urgent}

    @classmethod
    def from_dict(cls, d: dict) -> "Reply":
        return cls(template=d["template"], data=d.get("data", {}),
                   buttons=[Button(**b) for b in d.get("buttons", [])], urgent=d.get("urgent", False))


@dataclass
class Outgoing:
    """A message to someone other than the sender, queued in the outbox under a unique key."""
    key: str
    recipient: str  # local id of a rep or a chat group
    reply: Reply


def refusal_codes(replies) -> set[str]:
    """The refusals among replies: each refusal's code, and "not_registered" for an unknown sender."""
    return {r.data.get("code") if r.template == "refusal" else r.template for r in replies
            if r.template in ("refusal", "not_registered")}
