"""The running bot: configuration, rules, clock and database, and the one inbound path.

inbound: channel.parse -> Incoming -> dedup -> identity -> handlers -> replies -> channel.answer
         (what fits in the request's own answer; the rest are outbox rows queued in the same transaction)
"""
from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING
from zoneinfo import ZoneInfo

from peewee import IntegrityError

from handlers import Context, Refusal, dispatch
from handlers.messages import Incoming, Reply
from rules.funnel import Funnel, load_funnel
from rules.health_score import HealthRules, load_health_rules
from storage import choices, inbound, outbox
from storage.database import connected, migrate_database, open_database, to_db
from storage.people import rep_for_sender

from .channels import Answer, Channel, inbound_channel
from .clock import Clock, SystemClock
from .config import Config, load_config
from .metrics import HANDLED

if TYPE_CHECKING:
    from peewee import Database

    from .courier import Courier
    from .links import WebLinks

log = logging.getLogger(__name__)
_TIMERS: dict = {}  # channel -> its child of the bot_message_seconds histogram (looked up once)


class _Refused(Exception):
    """A command's Refusal on its way out of the message's transaction (which it rolls back)."""

    def __init__(self, ctx: Context, refusal: Refusal):
        super().__init__(refusal.code)
        self.ctx, self.refusal = ctx, refusal


@dataclass
class Handled:
    replies: list[Reply]
    understood: dict = field(default_factory=dict)
    duplicate: bool = False
    answer: Answer | None = None  # what goes in the request's own answer (None: the replies went by message)
    queued: list[str] = field(default_factory=list)  # outbox keys of the replies queued by this delivery


class Runtime:
    """One process's bot: every field is set here, and nothing else is kept on it."""

    config: Config
    clock: Clock
    funnel: Funnel  # rules/funnel.toml
    health_rules: HealthRules  # rules/health.toml
    database: Database
    courier: Courier | None  # instant replies after the commit (bot/courier.py); None: delivery sends them
    links: WebLinks  # the dashboard's addresses in chat messages (the simulator's carry none)
    _adapters: dict[str, Channel]  # the channels built so far, by name (bot/channels/__init__.py)
    link_key: str | None  # the signing key once read (bot/links.secret_key)
    dingtalk_purged: datetime | None  # when expired DingTalk sessions were last purged
    wecom_cards_purged: datetime | None  # when expired WeCom cards were last purged (bot/channels/wecom/cards.py)

    def __init__(self, config: Config | None = None, clock: Clock | None = None, migrate: bool = True):
        from .links import WebLinks
        self.config = config or load_config()
        self.clock = clock or SystemClock()
        self.funnel = load_funnel(self.config["BOT_RULES"] or None)
        self.health_rules = load_health_rules(self.config["BOT_HEALTH_RULES"] or None)
        self.database = open_database(self.config.database_url)
        if migrate:
            migrate_database(self.database)
        self.courier = None
        if self.config["BOT_INSTANT_REPLIES"] not in ("0", "false", "no", ""):
            from .courier import Courier
            self.courier = Courier(self)
        self.links = WebLinks(self)
        self._adapters = {}
        self.link_key = None
        self.dingtalk_purged = None
        self.wecom_cards_purged = None

    @property
    def tz(self) -> ZoneInfo:
        return self.config.tz

    def now(self) -> datetime:
        """Now as stored: naive UTC, whole seconds."""
        return to_db(self.clock.now())

    def handle(self, msg: Incoming) -> Handled:
        """Run one inbound message exactly once; a repeat of it gets the recorded answer. Every channel
        comes in here the same way; its `answer` says what goes back in the request itself, and the
        replies queued instead are sent at once, after the commit (bot/courier.py)."""
        started = time.perf_counter()
        handled = self._handle(msg)
        timer = _TIMERS.get(msg.channel)
        if timer is None:
            timer = _TIMERS[msg.channel] = HANDLED.labels(msg.channel)
        timer.observe(time.perf_counter() - started)
        if handled.queued and self.courier is not None and not self.database.in_transaction():
            self.courier.kick(handled.queued)
        return handled

    def _handle(self, msg: Incoming) -> Handled:
        channel = inbound_channel(msg.channel, self)
        if not msg.readable:
            return self._unreadable(channel, msg)
        with connected(self.database):
            rep, seen = inbound.arrival(msg.channel, msg.message_id, msg.sender)
            if seen is not None:
                return self._repeat(channel, msg, seen)
            try:
                return self._run(channel, msg, rep)
            except IntegrityError:
                # the same message, delivered twice at once, was recorded by the other delivery
                # (this one's record met the unique key, and its transaction was rolled back)
                seen = inbound.answered(msg.channel, msg.message_id)
                if seen is None:
                    raise
                return self._repeat(channel, msg, seen)

    @staticmethod
    def _repeat(channel: Channel, msg: Incoming, seen: list) -> Handled:
        replies = [Reply.from_dict(r) for r in seen]
        return Handled(replies, duplicate=True, answer=channel.answer(msg, replies))

    def _unreadable(self, channel: Channel, msg: Incoming) -> Handled:
        """A picture or a voice message without text: say what the bot understands; nothing is recorded
        (a redelivery finds its answer queued under the same outbox key)."""
        replies = [Reply("text_only", {})]
        answer = channel.answer(msg, replies)
        handled = Handled(replies, answer=answer)
        if answer is None:
            now = self.now()
            with connected(self.database), self.database.atomic():
                channel.remember(msg, now)
                rep = rep_for_sender(msg.channel, msg.sender)
                self._queue_replies(handled, msg, rep.local_id if rep else f"{msg.channel}:{msg.sender[:48]}", now)
        return handled

    def _run(self, channel: Channel, msg: Incoming, rep) -> Handled:
        now = self.now()
        try:
            return self._recorded(channel, msg, now, lambda: self._execute(channel, msg, rep, now))
        except _Refused as refused:
            # the refusal left the transaction, rolling back all the command wrote; what is kept of a
            # refused message (its record, a numbered question, a reply by message) is written anew
            ctx, refusal = refused.ctx, refused.refusal
            return self._recorded(channel, msg, now, lambda: self._refused(channel, ctx, refusal, msg, now))

    def _recorded(self, channel: Channel, msg: Incoming, now, run) -> Handled:
        """run() in one transaction that ends by recording the message with its replies (one INSERT).
        A second delivery of the same message at the same time runs it too, then meets the record's
        unique key (waiting for the first to commit): IntegrityError rolls back all it wrote."""
        with self.database.atomic():
            channel.remember(msg, now)
            handled = run()
            inbound.record(msg.channel, msg.message_id, msg.sender, msg.text or msg.action or "", now,
                           [r.to_dict() for r in handled.replies])
        return handled

    def _execute(self, channel: Channel, msg: Incoming, rep, now) -> Handled:
        """Run the message from `rep` (None: someone the bot does not know) in its transaction."""
        if rep is None:
            log.info("message from unknown %s user %r", msg.channel, msg.sender)
            replies = [Reply("not_registered", {"sender": msg.sender[:64]})]
            handled = Handled(replies, answer=channel.answer(msg, replies))
            if handled.answer is None:  # answered by message, to the channel's user id
                self._queue_replies(handled, msg, f"{msg.channel}:{msg.sender[:48]}", now)
            return handled
        ctx = Context(rep=rep, funnel=self.funnel, now=now, tz=self.tz, incoming=msg,
                      channel=self.config.primary_channel, health_rules=self.health_rules, links=self.links)
        try:
            dispatch(ctx)
        except Refusal as refusal:
            raise _Refused(ctx, refusal) from None
        return self._finish(channel, ctx, msg, now)

    def _refused(self, channel: Channel, ctx: Context, refusal: Refusal, msg: Incoming, now) -> Handled:
        ctx.replies, ctx.outgoing = [refusal.reply()], []
        ctx.understood["refused"] = refusal.code
        return self._finish(channel, ctx, msg, now)

    def _finish(self, channel: Channel, ctx: Context, msg: Incoming, now) -> Handled:
        if ctx.pending_choice:
            text, options, expires = ctx.pending_choice
            choices.save(ctx.rep.id, text, options, expires)
        for out in ctx.outgoing:
            outbox.enqueue(out.key, ctx.channel, out.recipient, out.reply.to_dict(), now)
        handled = Handled(ctx.replies, ctx.understood, answer=channel.answer(msg, ctx.replies))
        if handled.answer is None:
            # the channel cannot answer in the request (a card click, DingTalk, a reply too long for
            # it): the replies go out as messages, queued in the same transaction
            self._queue_replies(handled, msg, ctx.rep.local_id, now)
        return handled

    @staticmethod
    def _queue_replies(handled: Handled, msg: Incoming, recipient: str, now) -> None:
        for i, r in enumerate(handled.replies):
            key = f"reply:{msg.channel}:{msg.message_id}:{i}"
            outbox.enqueue(key, msg.channel, recipient, r.to_dict(), now)
            handled.queued.append(key)

    def context_for(self, rep, now=None) -> Context:
        """A handler context outside of a message (scheduled jobs build cards with it)."""
        now = now or self.now()
        return Context(rep=rep, funnel=self.funnel, now=now, tz=self.tz,
                       incoming=Incoming("scheduler", "", rep.local_id), channel=self.config.primary_channel,
                       health_rules=self.health_rules, links=self.links)


