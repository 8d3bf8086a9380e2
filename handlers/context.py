"""What a handler receives: the sender, the rules, the time, and helpers to answer (`say`, `notify`)."""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta, timezone
from typing import TYPE_CHECKING
from zoneinfo import ZoneInfo

from .messages import Button, Incoming, Outgoing, Reply
from rules.funnel import Funnel

if TYPE_CHECKING:
    from storage.models import Rep


class Refusal(Exception):
    """Stop the command: nothing it wrote is kept, and the sender gets the `refusal` template."""

    def __init__(self, code: str, buttons: list[Button] | None = None, **data):
        super().__init__(code)
        self.code, self.data, self.buttons = code, data, buttons or []

    def reply(self) -> Reply:
        return Reply("refusal", {"code": self.code, **self.data}, list(self.buttons))


@dataclass
class Context:
    rep: Rep
    funnel: Funnel
    now: datetime  # naive UTC, as stored
    tz: ZoneInfo
    incoming: Incoming
    channel: str = "local"  # where messages to other people go
    replies: list[Reply] = field(default_factory=list)
    outgoing: list[Outgoing] = field(default_factory=list)
    understood: dict = field(default_factory=dict)
    chosen_customer_id: int | None = None  # set when the sender answered a numbered question
    health_rules: object | None = None  # rules.health_score.HealthRules, for showing score breakdowns
    pending_choice: tuple | None = None  # (command text, [(id, label)], expires_at) to ask the sender
    links: object | None = None  # bot.links.WebLinks: addresses of the dashboard's pages (None: no links)
    own_customers: object | None = None  # handlers.parse.names.CustomerIndex of the sender's, once read

    def deal_url(self, deal_id: int) -> str:
        """The signed link to a deal's page on the dashboard ("" when links are off)."""
        return self.links.deal(deal_id) if self.links is not None else ""

    def page_url(self, path: str, **query) -> str:
        """A dashboard page, e.g. page_url("/dashboard/deals", level="red") ("" when links are off)."""
        return self.links.page(path, **query) if self.links is not None else ""

    def say(self, template: str, buttons: list[Button] | None = None, **data) -> None:
        self.replies.append(Reply(template, data, buttons or []))

    def notify(self, key: str, recipient: str, template: str, buttons: list[Button] | None = None,
               urgent: bool = False, **data) -> None:
        self.outgoing.append(Outgoing(key, recipient, Reply(template, data, buttons or [], urgent)))

    @property
    def local_now(self) -> datetime:
        return self.now.replace(tzinfo=timezone.utc).astimezone(self.tz)

    @property
    def today(self) -> date:
        return self.local_now.date()

    def to_local(self, dt: datetime | None) -> datetime | None:
        return None if dt is None else dt.replace(tzinfo=timezone.utc).astimezone(self.tz)

    def end_of_local_day(self, d: date) -> datetime:
        """23:59:59 local on `d`, as naive UTC."""
        local = datetime.combine(d, time(23, 59, 59), tzinfo=self.tz)
        return local.astimezone(timezone.utc).replace(tzinfo=None)

    def local_day_bounds(self, d: date) -> tuple[datetime, datetime]:
        start = datetime.combine(d, time(0), tzinfo=self.tz).astimezone(timezone.utc).replace(tzinfo=None)
        return start, start + timedelta(days=1)
