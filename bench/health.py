"""Health recompute at scale: 500k customers with 5M activities, on SQLite and PostgreSQL.

Target (issue): under 60 s per recompute (set-based queries, not one query per customer).

    .venv/bin/python bench/health.py [--db sqlite|postgres|both] [--customers N] [--per-customer K] [--quick]
"""
from __future__ import annotations

import argparse
import os
import random
import sys
import time
from datetime import datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

import _common as C  # noqa: E402

from bot.clock import FixedClock  # noqa: E402
from bot.config import load_config  # noqa: E402

NOW = datetime(2026, 11, 27, 0, 0)  # 08:00 Shanghai
PG_URL = "postgresql://postgres@127.0.0.1:5432/bench_health"
KINDS = ["visit", "call", "meeting", "note", "doc_open", "competitor", "feedback"]


def fresh(url: str) -> None:
    C.fresh_database(url)


def seed(rt, customers: int, per_customer: int) -> float:
    from storage.models import Activity, Contact, Customer, Deal, Rep, Team, Ticket, db
    rnd = random.Random(1)
    t0 = time.perf_counter()
    with db.atomic():
        teams = [Team.create(name=f"team{t}") for t in range(max(1, customers // 10000))]
        reps = []
        for i in range(max(1, customers // 50)):
            reps.append(Rep.create(team=teams[i % len(teams)], name=f"rep{i}", role="rep", local_id=f"r{i}"))
    rep_team = [(r.id, r.team_id) for r in reps]
    batch = 5000
    for start in range(0, customers, batch):
        with db.atomic():
            rows = []
            for i in range(start, min(customers, start + batch)):
                rid, tid = rep_team[i % len(rep_team)]
                rows.append((tid, rid, f"客户{i:07d}", "", "C", NOW - timedelta(days=90)))
            Customer.insert_many(rows, fields=[Customer.team, Customer.owner, Customer.name, Customer.initials,
                                               Customer.tier, Customer.created_at]).execute()
    ids = [(c, o, t) for c, o, t in Customer.select(Customer.id, Customer.owner, Customer.team).tuples()]
    for start in range(0, len(ids), batch):
        with db.atomic():
            chunk = ids[start:start + batch]
            Deal.insert_many([(c, o, t, 50000, "proposal", NOW - timedelta(days=60), NOW - timedelta(days=5),
                               NOW - timedelta(days=2), NOW) for c, o, t in chunk],
                             fields=[Deal.customer, Deal.owner, Deal.team, Deal.amount, Deal.stage, Deal.created_at,
                                     Deal.stage_entered_at, Deal.last_movement_at, Deal.next_check_at]).execute()
            Contact.insert_many([(c, "王总", "总经理", rnd.random() < 0.6, NOW - timedelta(days=60)) for c, _, _ in chunk],
                                fields=[Contact.customer, Contact.name, Contact.title, Contact.is_decision_maker,
                                        Contact.created_at]).execute()
    contact_of = dict(Contact.select(Contact.customer, Contact.id).tuples())
    acts = []
    n_acts = 0
    for c, o, t in ids:
        for k in range(per_customer):
            kind = KINDS[rnd.randrange(len(KINDS))]
            acts.append((c, o, contact_of.get(c) if kind in ("visit", "meeting") else None, kind, "",
                         NOW - timedelta(hours=rnd.uniform(0, 24 * 60))))
        if len(acts) >= 20000:
            with db.atomic():
                for j in range(0, len(acts), 5000):
                    Activity.insert_many(acts[j:j + 5000], fields=[Activity.customer, Activity.rep, Activity.contact,
                                                                  Activity.kind, Activity.text, Activity.at]).execute()
            n_acts += len(acts)
            acts = []
    if acts:
        with db.atomic():
            Activity.insert_many(acts, fields=[Activity.customer, Activity.rep, Activity.contact, Activity.kind,
                                               Activity.text, Activity.at]).execute()
        n_acts += len(acts)
    with db.atomic():
        tickets = [(c, f"t{c}", NOW - timedelta(days=3), NOW - timedelta(days=3) + timedelta(hours=rnd.choice([1, 5, 30])))
                   for c, _, _ in ids[: len(ids) // 3]]
        for j in range(0, len(tickets), 5000):
            Ticket.insert_many(tickets[j:j + 5000], fields=[Ticket.customer, Ticket.external_id, Ticket.opened_at,
                                                            Ticket.answered_at]).execute()
    print(f"  seeded {len(ids):,} customers, {n_acts:,} activities, {len(tickets):,} tickets "
          f"in {time.perf_counter() - t0:.0f} s")
    return time.perf_counter() - t0


def run(kind: str, customers: int, per_customer: int) -> None:
    from bot.jobs.health import health
    from bot.runtime import Runtime
    url = f"sqlite:///{ROOT}/bench/out/health.db" if kind == "sqlite" else PG_URL
    os.makedirs(ROOT / "bench" / "out", exist_ok=True)
    fresh(url)
    rt = Runtime(load_config({"database_url": url, "use_dotenv": False}, environ={}), clock=FixedClock(NOW))
    print(f"[{kind}]")
    with rt.database.connection_context():
        seed(rt, customers, per_customer)
        for label, now in (("first recompute", NOW), ("next day", NOW + timedelta(days=1))):
            t0 = time.perf_counter()
            result = health(rt, now, force=True)
            dt = time.perf_counter() - t0
            print(f"  {label:16s} {dt:7.2f} s  customers={result['customers']:,} changed={result['changed']:,} "
                  f"tier_changes={result['tier_changes']:,} new_high_intent={result['new_high_intent']:,}"
                  f"   {'OK' if dt < 60 else 'OVER'} (target < 60 s)")


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--db", default="both", choices=["sqlite", "postgres", "both"])
    p.add_argument("--customers", type=int, default=500_000)
    p.add_argument("--per-customer", type=int, default=10)
    p.add_argument("--quick", action="store_true")
    a = p.parse_args()
    if a.quick:
        a.customers, a.per_customer = 5000, 10
    for kind in (["sqlite", "postgres"] if a.db == "both" else [a.db]):
        run(kind, a.customers, a.per_customer)


if __name__ == "__main__":
    main()
