"""The daily health job: recompute every customer's score, tiers and high-intent flags.

`python -m bot run health --now ...`; the scheduler calls it every half hour and the timetable
(timetable.py) says when it works: from 06:00 local, once a day (it catches up later the same day if it
was down, since a rerun the same day just replaces that day's scores).
"""
from __future__ import annotations

from datetime import datetime, timedelta, timezone

from rules.health_score import SIGNALS, points, score
from storage import health_queries, kv, people
from storage.database import in_transaction
from storage.deals import open_deal

from handlers.messages import Reply
from . import pushes
from .timetable import not_due

PARTS_JSON = "{" + ",".join(f'"{k}":%.1f' for k in SIGNALS) + "}"  # the breakdown, built fast


def health(rt, now: datetime, team_id: int | None = None, force: bool = False) -> dict:
    """Once a day when the timetable says (`force`: recompute now, whatever the time)."""
    rules = rt.health_rules
    local = now.replace(tzinfo=timezone.utc).astimezone(rt.tz)
    day = local.date()
    done_key = f"health_done:{day.isoformat()}"
    if not force:
        skipped = not_due("health", rt, now)
        if skipped:
            return {"job": "health", "date": day.isoformat(), "skipped": skipped}
        if kv.get(done_key, now) is not None:
            return {"job": "health", "date": day.isoformat(), "skipped": "already computed today"}
    signals = health_queries.gather(rules, now, team_id)
    state = health_queries.current_state(team_id)
    scores, changes, tier_changes, entered, left, notices = {}, [], [], [], [], []
    for cid, sig in signals.items():
        pts = points(sig, rules)
        total = int(round(sum(pts)))
        scores[cid] = (total, PARTS_JSON % pts)
        old_health, old_tier, was_high, team, owner, name = state[cid]
        was_high = bool(was_high)
        tier = rules.tier(total)
        high = rules.high_intent(total, was_high)
        if (total, tier, high) != (old_health, old_tier, was_high):
            changes.append((cid, total, tier, high))
        if tier != old_tier:
            tier_changes.append((cid, old_tier, tier))
        if high and not was_high:
            entered.append(cid)
            notices.append((cid, team, name, sig))
        elif was_high and not high:
            left.append(cid)

    def write():
        health_queries.save_scores(day, scores)
        health_queries.update_customers(changes, entered, left, now)
        health_queries.record_tier_changes(tier_changes, day)
        # one ⭐ message per manager group a day, listing every customer that became high-intent
        by_group: dict[tuple, list] = {}
        groups: dict[int, object] = {}
        for cid, team, name, sig in notices:  # once on the manager's to-do list
            if team not in groups:
                groups[team] = people.team_group(team, "manager")
            if groups[team] is not None:
                s = score(sig, rules)
                best = s.best_action
                deal = open_deal(cid)
                url = rt.links.deal(deal.id) if deal is not None else rt.links.page("/dashboard/deals", q=name,
                                                                                     status="all")
                by_group.setdefault(groups[team].local_id, []).append(
                    {"customer": name, "score": s.total, "action": best.action if best else "", "url": url})
        pushes.queue(rt, [(f"intent:{group}:{day.isoformat()}", rt.config.primary_channel, group,
                           Reply("high_intent_notice", {"customers": sorted(items, key=lambda c: -c["score"]),
                                                        "list_url": rt.links.page("/dashboard/deals", hi="1")}).to_dict())
                          for group, items in by_group.items()], now)
        kv.put(done_key, "1", now, timedelta(days=2))
    in_transaction(rt.database, write)
    return {"job": "health", "date": day.isoformat(), "customers": len(scores), "changed": len(changes),
            "tier_changes": len(tier_changes), "new_high_intent": len(entered), "left_high_intent": len(left)}
