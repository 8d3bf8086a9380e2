"""The stale scan: warn about each deal crossing yellow/orange/red, once per level and silence period.

`python -m bot run scan [--now ...]` runs it once; the scheduler runs it on its timetable (timetable.py).
Each rep gets one merged warning per scan; a red deal gets an intervention card in its manager group (a
digest when a group has many at once). The messages wait for the send window (pushes.py).
"""
from __future__ import annotations

import logging
import uuid
from concurrent.futures import ThreadPoolExecutor
from contextlib import closing
from datetime import datetime
from typing import NamedTuple, TYPE_CHECKING

from rules.stale import evaluate
from handlers.views import deal_clock, period_of
from storage import people, scan_queries
from storage.deals import last_activities
from storage.database import has_server, in_transaction

from ..cards import MAX_ROWS, WARN_ORDER, red_card_reply, warning_reply
from handlers.messages import Reply
from . import pushes

if TYPE_CHECKING:
    from ..runtime import Runtime

log = logging.getLogger(__name__)
BATCH = 5000  # deals per transaction: fewer commits on a first scan, a short write lock still
# a first scan after an import (more than this many deals due): larger transactions, as each commit writes
# back every page its batch touched, and a batch of deals grouped by owner touches pages all over the table
LARGE_SCAN, LARGE_BATCH = 100_000, 20_000
STATE_ROWS = 50_000  # deals' scan state per transaction, in id order
RED_CARDS_ONE_BY_ONE = 5  # more red deals for one group in one batch become one digest card
RED_DIGEST_ROWS = 12


def scan(rt: Runtime, now: datetime) -> dict:
    """Stale scan: warn about each deal crossing yellow/orange/red, once per level and silence period."""
    scan_id = uuid.uuid4().hex
    ids = scan_queries.due_deal_ids(now)
    fired_total = {"yellow": 0, "orange": 0, "red": 0}
    messages = 0
    states: list[tuple] = []
    step = LARGE_BATCH if len(ids) > LARGE_SCAN else BATCH
    with closing(_evaluated(rt, [ids[i:i + step] for i in range(0, len(ids), step)], now)) as evaluated:
        for updates, fired, light in evaluated:
            won, queued = in_transaction(rt.database, lambda: _write_batch(rt, fired, light, scan_id, now))
            messages += queued
            states += updates
            for _, level, _ in won:
                fired_total[level] += 1
    # each deal's new state once its warnings are recorded and queued (a scan cut short in between looks at
    # those deals again and sends nothing twice: the warnings' unique key), in id order: a first scan after
    # an import writes each page of deal_scan once, not once per batch of deals grouped by owner
    states.sort()
    _save_states(rt, [states[i:i + STATE_ROWS] for i in range(0, len(states), STATE_ROWS)], now)
    return {"job": "scan", "checked": len(ids), "fired": fired_total, "messages": messages}


def _two_connections(rt: Runtime, parts: list) -> bool:
    """Whether work in `parts` may be shared with a second connection: on PostgreSQL or MySQL, for more than
    one part, and not inside a caller's transaction (whose rows a second connection would not see)."""
    return len(parts) > 1 and has_server(rt.database) and not rt.database.in_transaction()


def _save_states(rt: Runtime, chunks: list[list[tuple]], now: datetime) -> None:
    """Each chunk of deals' new scan state in its own transaction; on PostgreSQL or MySQL every other chunk
    on a second connection, at the same time (the chunks hold different deals)."""
    def save(chunk):
        in_transaction(rt.database, lambda: scan_queries.save_scan_state(chunk, now))
    if not _two_connections(rt, chunks):
        for chunk in chunks:
            save(chunk)
        return
    with ThreadPoolExecutor(1, thread_name_prefix="scan-state") as helper:
        try:
            theirs = [helper.submit(_on_own_connection, rt, save, chunk) for chunk in chunks[1::2]]
            for chunk in chunks[::2]:
                save(chunk)
            for future in theirs:
                future.result()
        finally:
            helper.submit(_close_own_connection, rt).result()


def _evaluated(rt: Runtime, batches: list[list[int]], now: datetime):
    """Each batch read and evaluated, in order. On PostgreSQL or MySQL, with several batches (a first scan
    after an import), batch N+1 is read and evaluated on a second connection while batch N is written:
    the database server and this process then work at the same time, not by turns. The reads see only
    deals and their scan state, which the writes of the batches before do not change."""
    if not _two_connections(rt, batches):
        for batch in batches:
            yield _evaluate_batch(rt, batch, now)
        return
    with ThreadPoolExecutor(1, thread_name_prefix="scan-read") as reader:
        try:
            ahead = reader.submit(_on_own_connection, rt, _evaluate_batch, rt, batches[0], now)
            for nxt in (*batches[1:], None):
                result = ahead.result()
                if nxt is not None:
                    ahead = reader.submit(_on_own_connection, rt, _evaluate_batch, rt, nxt, now)
                yield result
        finally:
            reader.submit(_close_own_connection, rt).result()


def _on_own_connection(rt: Runtime, fn, *args):
    rt.database.connect(reuse_if_open=True)  # this thread's connection, kept for its next task
    return fn(*args)


def _close_own_connection(rt: Runtime) -> None:
    if not rt.database.is_closed():
        rt.database.close()


def _evaluate_batch(rt: Runtime, batch: list[int], now: datetime):
    """Read and evaluate one batch: each deal's new state, what fired, and what the messages need of it."""
    funnel = rt.funnel
    updates, fired = [], []
    rules: dict[tuple, tuple] = {}  # (stage, team) -> (thresholds, clock)
    light: dict[int, Light] = {}
    for row in scan_queries.due_rows(batch):
        deal_id, owner_id, stage, moved, due, snoozed, wlevel, wsince, team_id, amount, asked, known = row
        rule = rules.get((stage, team_id))
        if rule is None:  # a stage removed from the rules file gets the defaults
            rule = rules[(stage, team_id)] = (funnel.stale_for(stage), deal_clock(funnel, rt.tz, stage, team_id))
        ev = evaluate(moved, due, snoozed, wlevel, wsince, rule[0], now, funnel.pause_while_next_step_ahead, rule[1])
        updates.append((deal_id, ev.level, ev.since, ev.next_check, asked, known))
        if ev.fire:
            fired.append((deal_id, ev.fire, ev.since))
            light[deal_id] = Light(owner_id, team_id, stage, amount, ev.hours)
    return updates, fired, light


def _write_batch(rt: Runtime, fired: list[tuple], light: dict, scan_id: str, now: datetime):
    """Record and queue one batch's warnings in one transaction (run again whole on a deadlock); returns
    the warnings this scan recorded and the messages queued."""
    mine = scan_queries.record_warnings(fired, scan_id, now)
    won = [f for f in fired if f[0] in mine]
    return won, _queue_warnings(rt, won, scan_id, now, light)


class Light(NamedTuple):
    """What the scan knows of a deal that fired, enough to choose what the messages show."""
    owner_id: int
    team_id: int
    stage: str
    amount: int
    hours: float  # the silence at `now`, by its clock

    @property
    def days(self) -> int:
        return int(self.hours // 24)


def _queue_warnings(rt: Runtime, fired: list[tuple[int, str, datetime]], scan_id: str, now: datetime,
                    light: dict[int, Light]) -> int:
    """One merged message per rep for this scan, and a red intervention card per red deal (a digest for
    a group with many). Only the deals the messages show are loaded in full (a first scan after an
    import fires for most deals, and a message lists MAX_ROWS of them)."""
    if not fired:
        return 0
    channel = rt.config.primary_channel
    by_rep: dict[int, list] = {}
    for f in fired:
        by_rep.setdefault(light[f[0]].owner_id, []).append(f)
    red_groups: dict[tuple[int, str], list] = {}  # (team, group purpose) -> red (deal, level, since)
    for deal_id, level, since in fired:
        if level == "red":
            st = rt.funnel.stage_or_none(light[deal_id].stage)
            red_groups.setdefault((light[deal_id].team_id, st.escalate_to if st else "manager"), []).append(
                (deal_id, level, since))
    shown: dict[int, list] = {}
    for owner_id, items in by_rep.items():
        items.sort(key=lambda f: (WARN_ORDER[f[1]], -light[f[0]].amount))
        shown[owner_id] = items[:MAX_ROWS]
    one_by_one, digests = {}, {}
    for target, reds in red_groups.items():
        if len(reds) <= RED_CARDS_ONE_BY_ONE:
            one_by_one[target] = reds
        else:  # many at once (the first scan, or after downtime): one digest instead of a flood
            reds.sort(key=lambda f: (-light[f[0]].days, -light[f[0]].amount))
            digests[target] = reds
    need = {f[0] for items in shown.values() for f in items} | {f[0] for reds in one_by_one.values() for f in reds}
    need |= {f[0] for reds in digests.values() for f in reds[:RED_DIGEST_ROWS]}
    details = {d.id: d for d in scan_queries.deal_details(sorted(need))}
    reds_shown = [f[0] for reds in (*one_by_one.values(), *(r[:RED_DIGEST_ROWS] for r in digests.values())) for f in reds]
    last = last_activities(reds_shown) if reds_shown else {}
    rows = []
    contexts = {}
    for owner_id, items in shown.items():
        owner = details[items[0][0]].owner
        ctx = contexts[owner_id] = rt.context_for(owner, now)
        reply = warning_reply(ctx, [(details[d], lv, since, light[d].hours) for d, lv, since in items],
                              deal_ids=[f[0] for f in by_rep[owner_id]])
        # one scan may meet a rep in several batches: the first deal of this batch keeps keys apart
        rows.append((f"warn:{owner.local_id}:{scan_id}:{min(f[0] for f in by_rep[owner_id])}", channel,
                     owner.local_id, reply.to_dict()))
    for target, reds in (*one_by_one.items(), *digests.items()):
        group = people.team_group(*target)
        if group is None:
            log.warning("team %s has no manager group: %d red card(s) not sent", target[0], len(reds))
            continue
        cards = []
        for deal_id, _, since in (reds if target in one_by_one else reds[:RED_DIGEST_ROWS]):
            deal = details[deal_id]
            ctx = contexts.get(deal.owner_id) or rt.context_for(deal.owner, now)
            card = red_card_reply(ctx, deal, rt.funnel.stage(deal.stage), since, period_of(since), last.get(deal_id))
            cards.append((f"red:{deal_id}:{period_of(since)}", card))
        if target in one_by_one:
            rows += [(key, channel, group.local_id, card.to_dict()) for key, card in cards]
        else:
            rows.append((f"reddigest:{group.local_id}:{scan_id}:{cards[0][0]}", channel, group.local_id,
                         Reply("red_digest", {"rows": [c.data for _, c in cards], "count": len(reds),
                                              "more": max(0, len(reds) - RED_DIGEST_ROWS),
                                               "list_url": rt.links.page("/dashboard/warnings", level="red")},
                               urgent=True).to_dict()))
    return pushes.queue(rt, rows, now, fold=True)
