"""A sent button card and its clicks: the task_id -> card map, and the card a click updates.

When a card goes out (send.py) its reply is kept under its task_id for 72 hours, as long as WeCom
lets a card be updated. A click then marks the clicked deal handled on that card and queues the
card's update (message/update_template_card with the click's ResponseCode, sent by the outbox like
any reply): the whole card again, the clicked deal's row marked (✅ 已处理：推迟至…) and its buttons
gone, the other deal's buttons still live. The passive `update_button` reply would grey out every
button of the card; it stays for a card the bot no longer knows (older than 72 hours, sent before
this map existed).
"""
from __future__ import annotations

import hashlib
import json
import re
from datetime import timedelta

from handlers.messages import Reply
from storage import kv, outbox
from storage.database import connected

from ...render import render_text
from .wire import button_card

CARD_TTL = timedelta(hours=72)  # a response_code is good for 72 hours: a card older than that is not updated
PREFIX = "wecom:card:"
PURGE_EVERY = timedelta(hours=1)
UPDATE = "card_update"  # an outbox reply that updates a card: not a message, it takes no rate-limit slot
TASK_ID = re.compile(r"[0-9A-Za-z_\-@]{1,128}")  # WeCom's task_id (anything else names no card of ours)
MAX_CODE = 512


def remember(runtime, task_id: str, recipient: str, userid: str, reply: Reply, now) -> None:
    """Keep a card about to go out (before it is sent: a card WeCom shows is always known). One INSERT;
    a retried send keeps the first one's state (and the clicks it holds). Expired cards are deleted
    once an hour."""
    state = {"recipient": recipient, "userid": userid, "reply": reply.to_dict(), "handled": {}}
    kv.add(PREFIX + task_id, json.dumps(state, ensure_ascii=False), now, CARD_TTL)
    last = runtime.__dict__.get("_wecom_cards_purged")
    if last is None or now - last >= PURGE_EVERY:
        runtime.__dict__["_wecom_cards_purged"] = now
        kv.purge_expired(PREFIX, now)


def card_state(task_id: str, now) -> dict | None:
    raw = kv.get(PREFIX + task_id, now) if TASK_ID.fullmatch(task_id or "") else None
    return None if raw is None else json.loads(raw)


def subject(action: str) -> str:
    """What a button acts on: the deal of "snooze:42:1700000000" ("42"); a button without a deal, itself."""
    parts = action.split(":")
    return parts[1] if len(parts) > 2 and parts[1].isdigit() else action


def label(outcome: Reply | None = None, expired: bool = False, all_done: bool = False) -> str:
    """The mark of a handled deal (what its click did), or a greyed button's text (bot/templates/text/card_done.j2)."""
    return render_text(Reply("card_done", {"outcome": outcome.template if outcome else "",
                                           "data": outcome.data if outcome else {},
                                           "expired": expired, "all_done": all_done}), "wecom")


def clicked(runtime, msg, replies: list[Reply]) -> str | None:
    """Mark the clicked deal handled on its card and queue the card's update, in one transaction (a
    click WeCom delivers again changes nothing more). Returns the outbox key of the update, or None
    when the card is not known here: the caller greys its buttons the old way."""
    task_id = str(msg.extra.get("task_id") or "")
    code = str(msg.extra.get("response_code") or "")
    if not code or len(code) > MAX_CODE:
        return None
    now = runtime.now()
    key = PREFIX + task_id
    update_key = "wecard:" + hashlib.sha1(msg.message_id.encode()).hexdigest()
    with connected(runtime.database):
        state = card_state(task_id, now)
        if state is None or state["userid"] != msg.sender or not any(
                b["action"] == msg.action for b in state["reply"]["buttons"]):
            return None
        with kv.locked(key, now):
            state = card_state(task_id, now)  # again, under the lock: a click on the other deal at once
            if state is None:
                return None
            handled = state.setdefault("handled", {})
            if subject(msg.action) not in handled:
                handled[subject(msg.action)] = label(replies[0] if replies else None)
                kv.replace(key, json.dumps(state, ensure_ascii=False))
            new = outbox.enqueue(update_key, "wecom", state["recipient"],
                                 Reply(UPDATE, {"task_id": task_id, "response_code": code}).to_dict(), now)
    if new and runtime.courier is not None and not runtime.database.in_transaction():
        runtime.courier.kick([update_key])
    return update_key


def updated_card(state: dict, task_id: str) -> dict:
    """The card as it is now: every handled deal's row marked and its buttons gone. Once no button is
    left (a button card needs at least one) the buttons show greyed: with the one deal's mark, or
    "✅ 已全部处理" for a card of several."""
    reply = Reply.from_dict(state["reply"])
    handled = state.get("handled", {})
    live = [b for b in reply.buttons[:6] if subject(b.action) not in handled]
    shown = Reply(reply.template, {**reply.data, "handled": handled}, live, reply.urgent)
    subjects = {subject(b.action) for b in reply.buttons[:6]}
    greyed = "" if live else (handled[subjects.pop()] if len(subjects) == 1 else label(all_done=True))
    card, _ = button_card(render_text(shown, "wecom"), live or reply.buttons, task_id, replace_text=greyed)
    return card
