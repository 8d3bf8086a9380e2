"""The schema. Every timestamp is stored as naive UTC."""
from __future__ import annotations

import threading
from contextlib import contextmanager

from peewee import (SQL, BigIntegerField, BooleanField, CharField, DatabaseProxy, DateField, DateTimeField,
                    ForeignKeyField, IntegerField, Model, TextField)


class RoutedDatabaseProxy(DatabaseProxy):
    """The models' database. Inside `routed()` one thread's queries go to another database (the chat
    simulator's own, bot/web/simulator.py) while every other thread keeps the process's database."""
    __slots__ = ("_routes",)
    _ATTRS = ("obj", "_callbacks", "_Model", "_routes")

    def __setattr__(self, attr, value):
        if attr not in self._ATTRS:
            raise AttributeError("Cannot set attribute on proxy.")
        object.__setattr__(self, attr, value)

    def __init__(self):
        self._routes = threading.local()
        super().__init__()

    @property
    def obj(self):
        routed = getattr(self._routes, "db", None)
        return routed if routed is not None else DatabaseProxy.obj.__get__(self)

    @obj.setter
    def obj(self, value):
        if getattr(self._routes, "on", False):  # open_database() inside routed(): this thread only
            self._routes.db = value
        else:
            DatabaseProxy.obj.__set__(self, value)

    @contextmanager
    def routed(self, database=None):
        """This thread's queries go to `database` (or to the one opened inside the block) until it ends."""
        saved = getattr(self._routes, "db", None), getattr(self._routes, "on", False)
        self._routes.db, self._routes.on = database, True
        try:
            yield
        finally:
            self._routes.db, self._routes.on = saved


db = RoutedDatabaseProxy()


class BaseModel(Model):
    class Meta:
        database = db
        legacy_table_names = False


class SchemaVersion(BaseModel):
    version = IntegerField()


class Team(BaseModel):
    name = CharField(max_length=100, unique=True)


class Rep(BaseModel):
    team = ForeignKeyField(Team, backref="reps")
    name = CharField(max_length=100)
    role = CharField(max_length=16, default="rep")  # rep | manager | admin
    local_id = CharField(max_length=64, unique=True)
    wecom_userid = CharField(max_length=64, null=True, unique=True)
    dingtalk_staffid = CharField(max_length=64, null=True, unique=True)
    active = BooleanField(default=True)


class ChatGroup(BaseModel):
    """A group chat the bot posts to: the team's manager group, or an escalation target (e.g. legal)."""
    team = ForeignKeyField(Team, backref="groups")
    purpose = CharField(max_length=32)  # "manager", or a stage's escalate_to
    name = CharField(max_length=100)
    local_id = CharField(max_length=64, unique=True)
    wecom_robot_key = CharField(max_length=128, null=True)
    dingtalk_webhook = CharField(max_length=512, null=True)
    dingtalk_secret = CharField(max_length=128, null=True)

    class Meta:
        indexes = ((("team", "purpose"), True),)


class Customer(BaseModel):
    team = ForeignKeyField(Team, backref="customers")
    owner = ForeignKeyField(Rep, backref="customers")
    name = CharField(max_length=100)
    initials = CharField(max_length=100, default="")
    tier = CharField(max_length=1, default="C")
    created_at = DateTimeField()
    health = IntegerField(null=True)  # the latest daily health score, 0-100
    high_intent = BooleanField(default=False)  # score reached 75; cleared only below 70 (hysteresis)
    high_intent_since = DateTimeField(null=True)

    class Meta:
        indexes = ((("team", "name"), True), (("team", "high_intent"), False))


class Contact(BaseModel):
    customer = ForeignKeyField(Customer, backref="contacts")
    name = CharField(max_length=64)
    title = CharField(max_length=64, default="")
    is_decision_maker = BooleanField(default=False)
    created_at = DateTimeField()

    class Meta:
        indexes = ((("customer", "name"), True),)


class Deal(BaseModel):
    customer = ForeignKeyField(Customer, backref="deals")
    owner = ForeignKeyField(Rep, backref="deals")
    team = ForeignKeyField(Team)
    amount = BigIntegerField(default=0)  # CNY yuan
    stage = CharField(max_length=64)
    status = CharField(max_length=8, default="open")  # open | won | lost
    lost_reason = TextField(null=True)
    created_at = DateTimeField()
    stage_entered_at = DateTimeField()
    last_activity_at = DateTimeField(null=True)
    # max(stage_entered_at, last_activity_at): what the stale scan orders by
    last_movement_at = DateTimeField()
    next_step = TextField(null=True)
    next_step_due = DateTimeField(null=True)
    snoozed_until = DateTimeField(null=True)
    snooze_reason = TextField(null=True)
    closed_at = DateTimeField(null=True)
    # a person's change asks the stale scan for a look at this time (the deal was created or moved, a
    # snooze ends); the scan clears it once it has looked. The scan's own bookkeeping is in DealScan.
    next_check_at = DateTimeField(null=True)
    intervention_by = ForeignKeyField(Rep, null=True, backref="interventions")

    class Meta:
        indexes = (
            (("status", "next_check_at"), False),
            (("status", "last_movement_at"), False),
            (("owner", "status", "last_movement_at"), False),
            (("team", "status", "stage"), False),
            (("customer", "status"), False),
        )



class DealScan(BaseModel):
    """The stale scan's bookkeeping of a deal, in a narrow table of its own: the level already warned in
    the silence period that began at warn_since, and when the deal next needs a look (the next threshold
    crossing; NULL: not until it moves again). A first scan after an import writes 500k of these rows,
    not 500k wide deal rows and every index of the deal table."""
    deal = ForeignKeyField(Deal, primary_key=True, backref="scan_state")
    warn_level = CharField(max_length=8, null=True)
    warn_since = DateTimeField(null=True)
    next_check_at = DateTimeField(null=True)

    class Meta:
        indexes = ((("next_check_at",), False),)

class StageChange(BaseModel):
    deal = ForeignKeyField(Deal, backref="stage_changes")
    from_stage = CharField(max_length=64, null=True)
    to_stage = CharField(max_length=64)
    rep = ForeignKeyField(Rep, null=True)
    at = DateTimeField()
    note = TextField(null=True)

    class Meta:
        indexes = ((("deal", "at"), False),)


class Activity(BaseModel):
    deal = ForeignKeyField(Deal, backref="activities", null=True)
    customer = ForeignKeyField(Customer, backref="activities")
    rep = ForeignKeyField(Rep, null=True)
    contact = ForeignKeyField(Contact, null=True)
    kind = CharField(max_length=32)
    text = TextField(default="")
    at = DateTimeField()

    class Meta:
        indexes = ((("deal", "at"), False), (("customer", "at"), False))


class Warning(BaseModel):
    """A stale warning that fired: once per deal, level and silence period (the unique key)."""
    # (no index of its own: the unique key's first column is the deal; migration 51)
    deal = ForeignKeyField(Deal, backref="warnings", index=False)
    level = CharField(max_length=8)
    since = DateTimeField()  # start of the silence period
    at = DateTimeField()
    scan = CharField(max_length=32)  # the scan run that fired it

    class Meta:
        indexes = ((("deal", "level", "since"), True),)


class Ticket(BaseModel):
    """An internal ticket (our own side supporting a deal), from the ticket system via /api/events."""
    customer = ForeignKeyField(Customer, backref="tickets")
    deal = ForeignKeyField(Deal, null=True)
    external_id = CharField(max_length=128, unique=True)
    opened_at = DateTimeField()
    answered_at = DateTimeField(null=True)

    class Meta:
        indexes = ((("customer", "opened_at"), False),)


class HealthScore(BaseModel):
    """A customer's health score for one day, with the points of each signal (JSON)."""
    customer = ForeignKeyField(Customer, backref="scores")
    day = DateField()
    score = IntegerField()
    parts = TextField()

    class Meta:
        indexes = ((("customer", "day"), True), (("day",), False))


class TierChange(BaseModel):
    customer = ForeignKeyField(Customer, backref="tier_changes")
    from_tier = CharField(max_length=1)
    to_tier = CharField(max_length=1)
    day = DateField()


class Target(BaseModel):
    """A team's sales target (CNY) for a period such as 2026-Q4 or 2026-11."""
    team = ForeignKeyField(Team, backref="targets")
    period = CharField(max_length=16)
    amount = BigIntegerField()

    class Meta:
        indexes = ((("team", "period"), True),)


class RepTarget(BaseModel):
    """One rep's own sales target (CNY) for a period such as 2026-Q4 or 2026-11, set by a manager in chat
    (`目标 张伟 50万`) or by `python -m bot target TEAM PERIOD AMOUNT --rep NAME`."""
    rep = ForeignKeyField(Rep, backref="targets")
    period = CharField(max_length=16)
    amount = BigIntegerField()
    set_by = ForeignKeyField(Rep, null=True, backref="+")  # None: set from the command line
    set_at = DateTimeField(null=True)

    class Meta:
        indexes = ((("rep", "period"), True),)


class ManagerAction(BaseModel):
    """Something a manager did about a deal: took it over (take), nudged the rep (nudge) or gave it to
    another rep (reassign). 提前干预率 counts the lost and stalled deals with one before the loss."""
    deal = ForeignKeyField(Deal, backref="manager_actions")
    manager = ForeignKeyField(Rep)
    kind = CharField(max_length=16)  # take | nudge | reassign
    at = DateTimeField()
    note = TextField(null=True)

    class Meta:
        indexes = ((("deal", "at"), False),)


class InboundMessage(BaseModel):
    """Every inbound message, recorded before it is acted on; a retry is answered from `reply`."""
    channel = CharField(max_length=16)
    message_id = CharField(max_length=128)
    sender = CharField(max_length=64)
    received_at = DateTimeField()
    text = TextField(default="")
    reply = TextField(default="[]")  # JSON list of rendered-neutral replies

    class Meta:
        indexes = ((("channel", "message_id"), True),)


class Outbox(BaseModel):
    """Every outbound message. `key` is unique, so whatever produces a message twice sends it once."""
    key = CharField(max_length=190, unique=True)
    channel = CharField(max_length=16)
    recipient = CharField(max_length=64)  # local id of a rep, or of a ChatGroup
    payload = TextField()  # JSON of the neutral message
    status = CharField(max_length=8, default="pending")  # pending | sending | sent | failed
    attempts = IntegerField(default=0)
    next_attempt_at = DateTimeField()
    last_error = TextField(null=True)
    created_at = DateTimeField()
    claimed_at = DateTimeField(null=True)
    claimed_by = CharField(max_length=64, null=True)
    sent_at = DateTimeField(null=True)
    # messages the chat tool counted against the recipient's limit (a default in the database too: the
    # bulk inserts name their columns)
    parts = IntegerField(default=1, constraints=[SQL("DEFAULT 1")])

    class Meta:
        indexes = ((("status", "next_attempt_at"), False), (("recipient", "created_at"), False),
                   (("recipient", "sent_at"), False))


class PendingChoice(BaseModel):
    """A numbered question the bot asked a rep ("which customer?"), answered by a number."""
    rep = ForeignKeyField(Rep, unique=True)
    command = TextField()  # JSON: the command to finish
    options = TextField()  # JSON list of [id, label]
    expires_at = DateTimeField()


class KeyValue(BaseModel):
    """Small shared state with an expiry, e.g. a chat API's access token shared by every process."""
    key = CharField(max_length=190, unique=True)
    value = TextField()
    expires_at = DateTimeField(null=True)
    updated_at = DateTimeField()


ALL_MODELS = [SchemaVersion, Team, Rep, ChatGroup, Customer, Contact, Deal, DealScan, StageChange, Activity, Warning,
              Ticket, HealthScore, TierChange, Target, RepTarget, ManagerAction, InboundMessage, Outbox, PendingChoice,
              KeyValue]
