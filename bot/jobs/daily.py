"""The 09:00 task card on working days: one per rep, a digest per manager; once per person per day.

`python -m bot run daily [--now ...]`; the scheduler calls it every few minutes and the timetable
(timetable.py) says when it works: on a working day within the task-card window of the rules file.
The card takes in the rep's warnings still waiting for the send window (fold_into_morning).
"""
from __future__ import annotations

from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from handlers.messages import Reply
from handlers.views import silences_of
from rules.access import is_manager
from rules.localtime import to_local
from storage import outbox, scan_queries
from storage.database import in_transaction

from ..cards import MAX_BUTTON_DEALS, rep_buttons
from . import pushes
from .calendar_gap import calendar_notices
from .scan import RED_DIGEST_ROWS
from .timetable import not_due

if TYPE_CHECKING:
    from ..runtime import Runtime


def daily(rt: Runtime, now: datetime) -> dict:
    """The task cards of the day (naive UTC `now`).

    Run it as often as you like: before 09:00, on a day off, or after the catch-up window it does
    nothing, and the outbox key (person + date) makes a second run that morning send nothing new.
    """
    day = to_local(now, rt.tz).date()
    skipped = not_due("daily", rt, now)
    if skipped:
        return {"job": "daily", "date": day.isoformat(), "skipped": skipped}
    from handlers.queries import task_card_data
    reps = scan_queries.active_reps()
    by_owner = scan_queries.open_deal_rows({r.id: r.name for r in reps})  # one query for every card
    intent = scan_queries.high_intent_by_owner()
    by_team: dict[int, list] = {}
    intent_by_team: dict[int, list] = {}
    customer_of = {}
    for deals in by_owner.values():
        for d in deals:
            by_team.setdefault(d.team_id, []).append(d)
            customer_of[d.id] = d.customer_id
    for items in intent.values():
        for team, name in items:
            intent_by_team.setdefault(team, []).append(name)
    silences = silences_of(rt.funnel, rt.tz, now, [d for deals in by_owner.values() for d in deals])
    cards = []
    for rep in reps:
        ctx = rt.context_for(rep, now)
        if not is_manager(rep):
            mine, hot = by_owner.get(rep.id, []), [n for _, n in intent.get(rep.id, [])][:10]
        else:
            mine, hot = by_team.get(rep.team_id, []), intent_by_team.get(rep.team_id, [])[:10]
        cards.append((rep, task_card_data(ctx, mine, hot, silences)))
    # the customers' names of the deals the cards show, in one go
    shown = [r for _, data in cards for part in ("warned", "due", "overdue") for r in data[part]]
    names = scan_queries.customer_names(customer_of[r["deal_id"]] for r in shown)
    for r in shown:
        r["customer"] = names.get(customer_of[r["deal_id"]], "")
    rows = []
    for rep, data in cards:
        buttons = []
        if not is_manager(rep):
            for r in data["warned"][:MAX_BUTTON_DEALS]:
                buttons += rep_buttons(r["deal_id"], r["period"], r["customer"], prefix=True)
        rows.append((f"task:{rep.local_id}:{day.isoformat()}", rt.config.primary_channel, rep.local_id,
                     Reply("task_card", data, buttons).to_dict()))

    notices = calendar_notices(rt, day, reps)

    def write():
        queued = pushes.queue(rt, rows, now, budgeted=False)
        return queued, fold_into_morning(rt, now, day, {r[2]: r[0] for r in rows}), \
            pushes.queue(rt, notices, now, budgeted=False)
    queued, folded, noticed = in_transaction(rt.database, write)
    return {"job": "daily", "date": day.isoformat(), "queued": queued, "folded": folded, "calendar_notices": noticed}


def fold_into_morning(rt: Runtime, now: datetime, day, task_keys: dict[str, str]) -> dict:
    """On a working morning: each rep's warnings still waiting (held overnight, or queued this minute)
    go inside their 09:00 card (queued just before, `task_keys`: recipient -> its key), which lists
    every warned deal, instead of beside it; a group's red cards held overnight become one digest.
    Returns how many rows were folded."""
    opening = rt.funnel.send_window.day_start(rt.funnel.workdays(rt.tz), day)
    folded = {"warnings": 0, "red": 0}
    by_rep: dict[str, list] = {}
    for row in outbox.held(("warn:",), now):
        by_rep.setdefault(row.recipient, []).append(row.id)
    cards = outbox.ids_by_key([task_keys[to] for to in by_rep if to in task_keys])
    pairs = []
    for to, ids in by_rep.items():
        card = cards.get(task_keys.get(to, ""))
        if card is not None and card[1] == "pending":  # a card gone already cannot take them in
            pairs += [(i, card[0]) for i in ids]
    folded["warnings"] = outbox.fold(pairs, now)
    by_group: dict[tuple[str, str], list] = {}
    for row in outbox.held(("red:", "reddigest:"), opening - timedelta(microseconds=1), payload=True):
        by_group.setdefault((row.channel, row.recipient), []).append(row)
    for (channel, group), held in by_group.items():
        if len(held) < 2:
            continue
        cards = []
        for row in held:
            p = outbox.payload_of(row)
            cards += p["data"]["rows"] if p["template"] == "red_digest" else [p["data"]]
        cards.sort(key=lambda c: (-c["days_silent"], -c["amount"]))
        key = f"reddigest:{group}:{day.isoformat()}:morning"
        reply = Reply("red_digest", {"rows": cards[:RED_DIGEST_ROWS], "count": len(cards),
                                     "more": max(0, len(cards) - RED_DIGEST_ROWS)}, urgent=True)
        outbox.enqueue_many([(key, channel, group, reply.to_dict())], now, pushes.send_time(rt, now))
        digest = outbox.by_key(key)
        folded["red"] += outbox.fold([(r.id, digest.id) for r in held], now)
    return folded
