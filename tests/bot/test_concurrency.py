"""Two scheduler processes at once against PostgreSQL (and MariaDB): nothing is queued twice."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from datetime import datetime, timedelta
from pathlib import Path

import pytest

from tests.conftest import _server_url, reset_server_db

ROOT = Path(__file__).resolve().parents[2]
NOW = datetime(2026, 11, 27, 2, 0)


def seed(url: str, deals: int) -> None:
    from bot.config import load_config
    from bot.clock import FixedClock
    from bot.runtime import Runtime
    from storage.models import Customer, Deal, db
    from tests.helpers import small_team
    rt = Runtime(load_config({"database_url": url, "use_dotenv": False}, environ={}), clock=FixedClock(NOW))
    reps = small_team(rt)
    with rt.database.connection_context(), db.atomic():
        owners = [reps["alice"], reps["bob"]]
        Customer.insert_many([(owners[i % 2].team_id, owners[i % 2].id, f"客户{i:05d}", "", "C", NOW)
                              for i in range(deals)],
                             fields=[Customer.team, Customer.owner, Customer.name, Customer.initials,
                                     Customer.tier, Customer.created_at]).execute()
        ids = [c.id for c in Customer.select(Customer.id, Customer.owner).where(Customer.name.startswith("客户"))]
        owner_of = dict(Customer.select(Customer.id, Customer.owner).tuples())
        rows = []
        for n, cid in enumerate(ids):
            moved = NOW - timedelta(hours=49 + (n % 100))  # yellow, orange or red
            rows.append((cid, owner_of[cid], owners[0].team_id, 10000, "initial_contact", moved, moved, moved, moved))
        for i in range(0, len(rows), 500):
            Deal.insert_many(rows[i:i + 500], fields=[Deal.customer, Deal.owner, Deal.team, Deal.amount, Deal.stage,
                                                      Deal.created_at, Deal.stage_entered_at, Deal.last_movement_at,
                                                      Deal.next_check_at]).execute()


@pytest.mark.parametrize("kind", ["postgres", "mysql"])
def test_two_concurrent_scans_queue_each_warning_once(kind):
    url = _server_url(kind)
    if url is None:
        pytest.skip(f"{kind} is not running")
    reset_server_db(url)
    seed(url, 3000)
    env = {**os.environ, "DATABASE_URL": url, "PYTHONPATH": str(ROOT)}
    procs = [subprocess.Popen([sys.executable, "-m", "bot", "run", "scan", "--now", "2026-11-27T10:00"],
                              cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
             for _ in range(2)]
    results = []
    for p in procs:
        out, err = p.communicate(timeout=300)
        assert p.returncode == 0, err
        results.append(json.loads(out))
    fired = [sum(r["fired"].values()) for r in results]
    from storage.database import open_database
    from storage.models import Outbox, Warning
    database = open_database(url)
    with database.connection_context():
        deals_warned = [d for (d,) in Warning.select(Warning.deal).tuples()]
        assert len(deals_warned) == len(set(deals_warned)) == 3003 - 3  # every seeded deal, once
        assert sum(fired) == len(deals_warned)
        in_messages = []
        for row in Outbox.select().where(Outbox.key.startswith("warn:")):
            in_messages += json.loads(row.payload)["data"]["deal_ids"]
        assert sorted(in_messages) == sorted(deals_warned)  # no deal in two messages
        reds = [r.key for r in Outbox.select().where(Outbox.key.startswith("red:"))]
        digests = [json.loads(r.payload)["data"]["count"]
                   for r in Outbox.select().where(Outbox.key.startswith("reddigest:"))]
        assert len(reds) == len(set(reds))
        assert len(reds) + sum(digests) == Warning.select().where(Warning.level == "red").count()
