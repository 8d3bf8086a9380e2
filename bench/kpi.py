"""Benchmark: the manager's numbers (KPIs) for a 50-rep team over a quarter, on SQLite and PostgreSQL.

Issue: "KPIs for a 50-rep team over a quarter: under 1 s (bench/kpi.py prints it, on SQLite and on
PostgreSQL database bench at postgresql://postgres@127.0.0.1:5432/bench — create if missing)."

Per database (SQLite file bench/out/kpi.db; PostgreSQL database `bench`, created when missing, in its
own schema `kpi_bench` so that other benchmarks using that database are left alone), in one process:
  data     5 teams of 50 reps (the measured team is the first), 25 customers per rep (6,250 customers),
           2026-04-01 .. 2026-10-08 of history generated like the product would have stored it: deals
           walking the stages (a stage change every ~6 days, 12 % lost at each stage exit, won after
           negotiation, a new deal 5-30 days after the last closed), a logged activity every ~3.5 days
           per customer (on its open deal), the stale warnings the scan would have fired for every
           silence (48 / 72 / 120 h), a health score per customer per day, and a 2026-Q3 target.
  kpis     handlers.report.team_numbers(team, 2026-Q3): storage/kpi.py's queries + rules/kpi.compute,
           the first call (cold) and 5 more (median, max).
  report   the same with its baseline quarter, as `周报 2026-Q3` does it (handlers.report.team_numbers_vs:
           both periods from one read of the history).
  chat     `周报 2026-Q3`, `周报` (this week vs last) and `漏斗` sent by the team's manager through
           Runtime.handle (dedup, identity, handler, rendering): the chat latency.
  weekly   bot.jobs.weekly.weekly at Monday 2026-10-05 09:30 local: the measured team's review card,
           two weeks of numbers and the chart PNG (matplotlib).

Run from the repo root:  .venv/bin/python bench/kpi.py [--db sqlite|postgres|both] [--quick]
"""
from __future__ import annotations

import random
import shutil
import statistics
import tempfile
import time
from datetime import date, datetime, timedelta, timezone

import _common as C
from _common import log, table

START = datetime(2026, 3, 31, 16, 0)  # naive UTC: 2026-04-01 00:00 in Shanghai
END = datetime(2026, 10, 8, 2, 0)  # "now": Thursday 10:00 in Shanghai
WEEKLY_AT = datetime(2026, 10, 5, 1, 30)  # Monday 09:30 in Shanghai
FULL = dict(teams=5, reps=50, customers_per_rep=25)
QUICK = dict(teams=2, reps=10, customers_per_rep=10)
PG_SCHEMA = "kpi_bench"
REPEAT = 5


# -- data -------------------------------------------------------------------------------------------

def build_data(rt, cfg: dict) -> dict:
    from storage.models import (Activity, ChatGroup, Customer, Deal, HealthScore, Rep, StageChange, Target,
                                Team, Warning)
    rnd = random.Random(11)
    db = rt.database
    stages = [s.key for s in rt.funnel.open_stages]
    closing = rt.funnel.closing.key
    th = [(lv, timedelta(hours=rt.funnel.default_stale.hours(lv))) for lv in ("yellow", "orange", "red")]
    teams, groups, reps, customers, deals, changes, acts, warns, targets = ([] for _ in range(9))
    ids = {"rep": 0, "customer": 0, "deal": 0, "change": 0, "act": 0, "warn": 0}

    def nid(kind):
        ids[kind] += 1
        return ids[kind]

    days = (END - START).days + 1
    for t in range(1, cfg["teams"] + 1):
        teams.append((t, f"团队{t}"))
        groups.append((t, t, "manager", f"团队{t}主管群", f"mgr{t}"))
        targets.append((t, t, "2026-Q3", 125_000_000))
        reps.append((nid("rep"), t, f"主管{t}", "manager", f"boss{t}", True))
        for r in range(cfg["reps"]):
            rep = nid("rep")
            reps.append((rep, t, f"销售{t}-{r}", "rep", f"rep{t}-{r}", True))
            for c in range(cfg["customers_per_rep"]):
                cid = nid("customer")
                h = health_walk(cid, days)[-1]
                customers.append((cid, t, rep, f"客户{cid}", "", "ABC"[h % 3], START, h, h >= 75))
                # activity times over the whole span
                times, at = [], START + timedelta(hours=rnd.uniform(0, 72))
                while at < END:
                    times.append(at)
                    at += timedelta(hours=rnd.expovariate(1 / 84))
                # deals one after another
                at = START + timedelta(days=rnd.uniform(0, 20))
                while at < END:
                    did = nid("deal")
                    created, moves, status, closed = at, [(None, stages[0], at)], "open", None
                    for i, stage in enumerate(stages):
                        at = at + timedelta(hours=rnd.expovariate(1 / 144))
                        if at >= END:
                            break
                        if rnd.random() < 0.12:
                            status, closed = "lost", at
                            moves.append((stage, closing, at))
                            break
                        if i == len(stages) - 1:
                            status, closed = "won", at
                            moves.append((stage, closing, at))
                            break
                        moves.append((stage, stages[i + 1], at))
                    end = closed or END
                    mine = [x for x in times if created <= x < end]
                    for x in mine:
                        acts.append((nid("act"), did, cid, rep, "visit", "", x))
                    for f, to, x in moves:
                        changes.append((nid("change"), did, f, to, rep, x))
                    # the warnings the scan fired: each silence between movements, per level crossed
                    movement = sorted([x for _, _, x in moves if x < end] + mine)
                    for a, b in zip(movement, movement[1:] + [end]):
                        for lv, after in th:
                            if a + after < b:
                                warns.append((nid("warn"), did, lv, a, a + after, "bench"))
                    last_act = mine[-1] if mine else None
                    entered = moves[-1][2]
                    moved = max(entered, last_act) if last_act else entered
                    deals.append((did, cid, rep, t, rnd.choice([2, 3, 5, 8, 12, 20, 30]) * 10000,
                                  moves[-1][1], status, created, entered, last_act, moved, closed,
                                  moved if status == "open" else None))
                    at = end + timedelta(days=rnd.uniform(5, 30))
    C.bulk_insert(db, Team, ["id", "name"], teams)
    C.bulk_insert(db, ChatGroup, ["id", "team", "purpose", "name", "local_id"], groups[:1])
    C.bulk_insert(db, Rep, ["id", "team", "name", "role", "local_id", "active"], reps)
    C.bulk_insert(db, Customer, ["id", "team", "owner", "name", "initials", "tier", "created_at", "health",
                                 "high_intent"], customers)
    C.bulk_insert(db, Deal, ["id", "customer", "owner", "team", "amount", "stage", "status", "created_at",
                             "stage_entered_at", "last_activity_at", "last_movement_at", "closed_at",
                             "next_check_at"], deals)
    C.bulk_insert(db, StageChange, ["id", "deal", "from_stage", "to_stage", "rep", "at"], changes)
    C.bulk_insert(db, Activity, ["id", "deal", "customer", "rep", "kind", "text", "at"], acts)
    C.bulk_insert(db, Warning, ["id", "deal", "level", "since", "at", "scan"], warns)

    def scores():
        i = 0
        for c in customers:
            for d, h in enumerate(health_walk(c[0], days)):
                i += 1
                yield i, c[0], (START + timedelta(days=d, hours=8)).date(), h, "{}"
    n_scores = C.bulk_insert(db, HealthScore, ["id", "customer", "day", "score", "parts"], scores())
    C.bulk_insert(db, Target, ["id", "team", "period", "amount"], targets)
    C.fix_sequences(db, [Team, ChatGroup, Rep, Customer, Deal, StageChange, Activity, Warning, HealthScore,
                         Target])
    C.analyze(db)
    per_team = sum(1 for d in deals if d[3] == 1)
    return {"teams": len(teams), "reps": len(reps), "customers": len(customers), "deals": len(deals),
            "deals of team 1": per_team, "stage changes": len(changes), "activities": len(acts),
            "warnings": len(warns), "health scores": n_scores}


def health_walk(customer_id: int, days: int) -> list[int]:
    """A customer's daily health scores: a random walk (the same every time for a customer)."""
    rnd = random.Random(customer_id)
    h, out = rnd.randint(30, 90), []
    for _ in range(days):
        h = max(0, min(100, h + rnd.randint(-6, 6)))
        out.append(h)
    return out


# -- databases ------------------------------------------------------------------------------------------

def prepare(label: str, url: str) -> str:
    """An empty database: a fresh SQLite file, or a fresh schema `kpi_bench` in the PostgreSQL db."""
    from storage.database import open_database
    from storage.models import ALL_MODELS, SchemaVersion
    from storage.database import latest_version
    if label == "sqlite":
        C.fresh_database(url)
    else:
        import psycopg2
        from playhouse.db_url import parse
        C.ensure_pg_database(url)
        p = parse(url)
        conn = psycopg2.connect(host=p.get("host", "127.0.0.1"), port=p.get("port", 5432),
                                user=p.get("user", "postgres"), dbname=p["database"])
        conn.autocommit = True
        with conn.cursor() as cur:
            cur.execute(f"DROP SCHEMA IF EXISTS {PG_SCHEMA} CASCADE")
            cur.execute(f"CREATE SCHEMA {PG_SCHEMA}")
        conn.close()
        url = f"{url}?options=-csearch_path%3D{PG_SCHEMA}"
    database = open_database(url)
    with database.connection_context():
        database.create_tables(ALL_MODELS)
        SchemaVersion.create(version=latest_version())
    database.close()
    return url


def timed(fn, repeat: int = REPEAT) -> tuple[float, float, float, object]:
    """(first call, median and max of `repeat` more) in seconds, and the last result."""
    t = time.perf_counter()
    result = fn()
    first = time.perf_counter() - t
    runs = []
    for _ in range(repeat):
        t = time.perf_counter()
        result = fn()
        runs.append(time.perf_counter() - t)
    return first, statistics.median(runs), max(runs), result


def run(label: str, url: str, cfg: dict) -> list[list]:
    from handlers.messages import Incoming
    from bot.jobs.weekly import weekly
    from handlers.report import team_numbers, team_numbers_vs
    from rules.kpi import parse_period
    from storage.models import Outbox

    C.wait_quiet(max_wait=60 if cfg is FULL else 0)
    log(f"{label}: fresh database {url}")
    url = prepare(label, url)
    charts = tempfile.mkdtemp(prefix="kpi-charts-")
    rt = C.make_runtime(url, END)
    rt.config.values["BOT_CHARTS_DIR"] = charts
    sw = C.Stopwatch()
    with rt.database.connection_context():
        counts = build_data(rt, cfg)
    log(f"{label}: generated in {sw.s:.1f} s: " + ", ".join(f"{k} {v:,}" for k, v in counts.items()))

    q3 = parse_period("2026-Q3", date(2026, 10, 8))
    rows, summary = [], []
    with rt.database.connection_context():
        first, med, mx, k = timed(lambda: team_numbers(rt.funnel, rt.tz, 1, q3, END))
        rows.append(["KPIs, 2026-Q3 (one period)", first, med, mx])
        summary.append([label, f"KPIs for a {cfg['reps']}-rep team over a quarter", first, med, mx])
        first, med, mx, _ = timed(lambda: team_numbers_vs(rt.funnel, rt.tz, 1, [q3, q3.previous()], END))
        rows.append(["KPIs, 2026-Q3 and its baseline 2026-Q2", first, med, mx])
    n = iter(range(1_000_000))

    def say(text):
        h = rt.handle(Incoming("local", f"kpi-bench-{label}-{next(n)}", "boss1", text=text))
        from bot.render import render_text
        return [render_text(r) for r in h.replies]
    for text in ("周报 2026-Q3", "周报", "漏斗"):
        first, med, mx, out = timed(lambda: say(text))
        rows.append([f"chat: {text} (handle + render)", first, med, mx])
        if text == "周报 2026-Q3":
            summary.append([label, "chat: 周报 2026-Q3", first, med, mx])
    rt.clock.set(WEEKLY_AT.replace(tzinfo=timezone.utc))
    with rt.database.connection_context():
        t = time.perf_counter()
        result = weekly(rt, WEEKLY_AT)
        wk = time.perf_counter() - t
        assert result["queued"] == 1, result
        rows.append(["weekly review job: 1 team, 2 weeks + chart", wk, float("nan"), float("nan")])
        summary.append([label, "weekly review card + chart (1 team)", wk, float("nan"), float("nan")])
        card = Outbox.select().where(Outbox.key.startswith("weekly:")).get()
    table(f"[{label}] the manager's numbers, team 1 of {counts['teams']} ({cfg['reps']} reps, "
          f"{counts['deals of team 1']:,} deals, 2026-Q3), seconds",
          ["what", "first call", f"median of {REPEAT}", "max"], rows, digits=3)
    print(f"\nteam 1, 2026-Q3: follow-up {k.followup.mean_days:.2f} d over {k.followup.customers} customers; "
          f"high-health conversion {k.health.high_rate or 0:.1%} vs {k.health.rest_rate or 0:.1%}; "
          f"intervention {k.intervention.rate or 0:.1%} of {k.intervention.risky}; cycle "
          f"{k.cycle.mean_days or 0:.1f} d over {k.cycle.deals} won; attainment "
          f"{(k.attainment.rate or 0) if k.attainment else 0:.1%}; weekly card {len(card.payload):,} bytes of JSON")
    rt.database.close()
    shutil.rmtree(charts, ignore_errors=True)
    return summary


def main() -> None:
    p = C.parser(__doc__.split("\n")[0])
    args = p.parse_args()
    cfg = QUICK if args.quick else FULL
    results = []
    targets = [(label, C.PG_URL if label == "postgres" else url) for label, url in C.db_targets(args.db, "kpi")]
    for label, url in targets:  # PostgreSQL: the database `bench` itself, in a schema of its own
        sw = C.Stopwatch()
        results += run(label, url, cfg)
        log(f"{label}: finished in {sw.s:.0f} s, {C.load()}")
    table("Summary (target: KPIs for a 50-rep team over a quarter < 1 s), seconds",
          ["db", "what", "first call", f"median of {REPEAT}", "max"], results, digits=3)


if __name__ == "__main__":
    main()
