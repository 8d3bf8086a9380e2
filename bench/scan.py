"""Benchmark: the stale scan, the daily task cards and outbox delivery at 500k open deals.

Issue: "500k open deals on SQLite and on PostgreSQL: one stale scan under 2 s, and a second scan with
no new crossings much faster than the first (the scan's cost follows the deals that cross a
threshold, not all deals). Task cards for 10,000 reps rendered and queued in under 10 s. Delivery
throughput against a loopback API with no rate limit, and proof that a rate-limited recipient is
never sent more than its limit."

Per database (SQLite file bench/out/scan.db, PostgreSQL database `bench_scan`), in one process:
  data     200 teams, each with a manager, 50 reps and a manager ChatGroup (10,000 reps); 500k open
           deals (50 per rep, one customer each) whose last movement is spread uniformly over the
           10 days before T0 = 2026-11-30 01:00 UTC (09:00 Monday in Shanghai); as an import leaves
           them, each deal's first look (deal_scan.next_check_at) is its last movement, so the first
           scan has to look at every deal. One visit (Activity) per
           deal, which the red card quotes. Reps own random numbers of deals (about 50 each).
  scan a   cold: bot.jobs.scan.scan(rt, T0): every deal evaluated, every stale one warned.
  scan b   steady state: scan at T0 + 5 min: only the deals crossing a threshold in those 5 minutes.
  scan c   right after b, same `now`: no crossings.
  daily    bot.jobs.daily.daily(rt, T0 + 5 min) (09:05 local): one task card per rep and a digest per manager,
           queued; then every queued card rendered to text (bot.render.render_text), timed apart.
  deliver  bot.jobs.deliver.deliver in a loop, (1) through the built-in local adapter, which does no
           network I/O (it only marks rows sent), and (2) through an adapter that renders each message
           and POSTs it to a loopback HTTP server (a thread of this process) with no rate limit.
  limit    an adapter with limits [30 per 60 s, 1000 per 3600 s] POSTing to the loopback server;
           200 messages for one recipient, deliver called once per simulated second for 10 simulated
           minutes; the busiest 60-second window, from the rows' sent_at and from the server's log.
           Then the same with two delivery processes (forked) calling deliver in step.

Run from the repo root:  .venv/bin/python bench/scan.py [--db sqlite|postgres|both] [--quick]
"""
from __future__ import annotations

import http.client
import json
import random
import threading
import time
from bisect import bisect_left, bisect_right
from datetime import datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import _common as C
from _common import log, table

T0 = datetime(2026, 11, 30, 1, 0)  # naive UTC: Monday 09:00 in Asia/Shanghai
FULL = dict(teams=200, reps_per_team=50, deals=500_000, render_seconds=60.0, local_seconds=60.0,
            http_seconds=30.0, rl_messages=200, rl_steps=600, rl_seconds=180.0, quiet_wait=60)
QUICK = dict(teams=4, reps_per_team=10, deals=2000, render_seconds=5.0, local_seconds=3.0,
             http_seconds=2.0, rl_messages=200, rl_steps=400, rl_seconds=60.0, quiet_wait=0)
STAGE_WEIGHTS = [30, 26, 22, 18, 17, 14]


# -- data -------------------------------------------------------------------------------------------

def build_data(rt, cfg: dict) -> dict:
    from storage.models import Activity, ChatGroup, Customer, Deal, DealScan, Rep, Team
    db = rt.database
    rnd = random.Random(3)
    stages = [s.key for s in rt.funnel.open_stages]
    teams, groups, reps, sales = [], [], [], []
    rid = 1
    for t in range(1, cfg["teams"] + 1):
        teams.append((t, f"团队{t:03d}"))
        groups.append((t, t, "manager", f"团队{t:03d}主管群", f"g{t:03d}"))
        reps.append((rid, t, f"主管{t:03d}", "manager", f"m{t:03d}", True))
        rid += 1
        for r in range(1, cfg["reps_per_team"] + 1):
            reps.append((rid, t, f"销售{t:03d}-{r:02d}", "rep", f"r{t:03d}{r:02d}", True))
            sales.append((rid, t))
            rid += 1
    n = cfg["deals"]
    orand = random.Random(4)  # owners at random: reps hold different numbers of deals (about n / reps each)
    owners = [orand.choice(sales) for _ in range(n)]
    span = 10 * 86400
    silent = [rnd.randint(0, span) for _ in range(n)]  # seconds since each deal's last movement

    def customers():
        for i in range(n):
            owner, team = owners[i]
            yield (i + 1, team, owner, f"客户{i + 1:07d}", f"kh{i + 1:07d}", "ABCC"[i % 4],
                   T0 - timedelta(days=60 + i % 300))

    def deals():
        for i in range(n):
            owner, team = owners[i]
            moved = T0 - timedelta(seconds=silent[i])
            entered = moved - timedelta(seconds=rnd.randint(0, 3 * 86400))
            created = entered - timedelta(days=rnd.randint(1, 30))
            stage = rnd.choices(stages, weights=STAGE_WEIGHTS[:len(stages)])[0]
            amount = rnd.choice([2, 3, 5, 8, 12, 15, 20, 30, 50]) * 10000
            yield (i + 1, i + 1, owner, team, amount, stage, "open", created, entered, moved, moved)

    def visits():  # the visit that last moved each deal (the red card quotes it)
        for i in range(n):
            owner, _ = owners[i]
            yield (i + 1, i + 1, i + 1, owner, "visit", "例行拜访，沟通进度", T0 - timedelta(seconds=silent[i]))

    with db.connection_context():
        C.bulk_insert(db, Team, ["id", "name"], teams)
        C.bulk_insert(db, ChatGroup, ["id", "team", "purpose", "name", "local_id"], groups)
        C.bulk_insert(db, Rep, ["id", "team", "name", "role", "local_id", "active"], reps)
        C.bulk_insert(db, Customer, ["id", "team", "owner", "name", "initials", "tier", "created_at"], customers())
        C.bulk_insert(db, Deal, ["id", "customer", "owner", "team", "amount", "stage", "status", "created_at",
                                 "stage_entered_at", "last_activity_at", "last_movement_at"], deals())
        # as bot/importer.py leaves an imported deal: the scan's first look at its last movement
        C.bulk_insert(db, DealScan, ["deal", "next_check_at"],
                      ((i + 1, T0 - timedelta(seconds=silent[i])) for i in range(n)))
        C.bulk_insert(db, Activity, ["id", "deal", "customer", "rep", "kind", "text", "at"], visits())
        C.fix_sequences(db, [Team, ChatGroup, Rep, Customer, Deal, Activity])
        C.analyze(db)
        return {"teams": Team.select().count(), "reps": Rep.select().where(Rep.role == "rep").count(),
                "managers": Rep.select().where(Rep.role == "manager").count(),
                "open deals": Deal.select().where(Deal.status == "open").count()}


# -- probes -----------------------------------------------------------------------------------------

def scan_probe() -> C.Probe:
    import bot.jobs.scan as jobs
    import storage.deals as sdeals
    import storage.outbox as soutbox
    import storage.people as speople
    import storage.scan_queries as sscan
    p = C.Probe()
    p.wrap(sscan, "due_deal_ids", "scan_q.due_deal_ids (1 query)")
    p.wrap(sscan, "due_rows", "scan_q.due_rows (per 2000)")
    p.wrap(jobs, "evaluate", "rules.stale.evaluate (per deal)")
    p.wrap(sscan, "record_warnings", "scan_q.record_warnings")
    p.wrap(sscan, "save_scan_state", "scan_q.save_scan_state")
    p.wrap(jobs, "_queue_warnings", "jobs._queue_warnings")
    p.wrap(sscan, "deal_details", "  scan_q.deal_details")
    p.wrap(jobs, "warning_reply", "  cards.warning_reply (per rep)")
    p.wrap(jobs, "red_card_reply", "  cards.red_card_reply (per red deal)")
    p.wrap(speople, "team_group", "  people.team_group (1 query)")
    p.wrap(sdeals, "last_activities", "  deals.last_activities (batch)")
    p.wrap(soutbox, "enqueue", "  outbox.enqueue (1 insert)")
    p.wrap(soutbox, "enqueue_many", "  outbox.enqueue_many (batch insert)")
    return p


def outbox_state(after_id: int) -> dict:
    from storage.models import Outbox, Warning
    from peewee import fn
    rows = list(Outbox.select(Outbox.key, Outbox.payload).where(Outbox.id > after_id).tuples())
    warn = [json.loads(p) for k, p in rows if k.startswith("warn:")]
    return {"rows": len(rows), "warn": len(warn), "red": sum(1 for k, _ in rows if k.startswith("red:")),
            "task": sum(1 for k, _ in rows if k.startswith("task:")),
            # the deals a rep's merged message covers: its deal_ids, or its rows (+ the "more" count)
            "deals in warn messages": sum(len(p["data"]["deal_ids"]) if "deal_ids" in p["data"]
                                          else len(p["data"]["rows"]) + p["data"].get("more", 0) for p in warn),
            "max_outbox": Outbox.select(fn.MAX(Outbox.id)).scalar() or 0,
            "warnings": Warning.select().count()}


def run_scan(rt, now: datetime, probe: C.Probe) -> tuple[dict, float, dict, list]:
    from bot.jobs.scan import scan
    with rt.database.connection_context():
        from storage.models import Outbox, Warning
        from peewee import fn
        ob0 = Outbox.select(fn.MAX(Outbox.id)).scalar() or 0
        w0 = Warning.select().count()
        probe.reset()
        t = time.perf_counter()
        result = scan(rt, now)
        secs = time.perf_counter() - t
        state = outbox_state(ob0)
        state["new warnings"] = state["warnings"] - w0
    return result, secs, state, probe.rows()


# -- loopback API -----------------------------------------------------------------------------------

class Sink:
    """A loopback HTTP API (ThreadingHTTPServer in a thread) that records each POST it gets."""

    def __init__(self):
        self.records: list[tuple[float, dict]] = []
        lock = threading.Lock()
        records = self.records

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            disable_nagle_algorithm = True  # headers and body go out in two writes: no 40 ms delayed-ACK stall

            def do_POST(self):
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                with lock:
                    records.append((time.time(), json.loads(body)))
                out = b'{"errcode":0}'
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(out)))
                self.end_headers()
                self.wfile.write(out)

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.port = self.server.server_address[1]
        self.thread = threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.2}, daemon=True)
        self.thread.start()

    def stop(self):
        self.server.shutdown()
        self.server.server_close()


class LoopbackAdapter:
    """A chat API adapter for the benchmark: renders the message and POSTs it to the Sink."""
    name = "local"

    def merges(self, recipient: str) -> bool:
        return False

    def cost(self, recipient: str, reply) -> int:
        return 1

    def render(self, reply) -> str:
        from bot.render import render_text
        return render_text(reply, "local")

    def __init__(self, port: int, limits=()):
        self.port = port
        self._limits = list(limits)
        self.conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
        self.sim_now: datetime | None = None

    def limits(self, recipient: str):
        return self._limits

    def send(self, recipient: str, reply, key: str = "", **_):
        from bot.channels import SendResult
        from bot.render import render_text
        body = json.dumps({"to": recipient, "text": render_text(reply, "local"), "n": reply.data.get("n"),
                           "sim_now": self.sim_now.isoformat() if self.sim_now else None},
                          ensure_ascii=False).encode()
        try:
            self.conn.request("POST", "/send", body, {"Content-Type": "application/json"})
            r = self.conn.getresponse()
            r.read()
        except (OSError, http.client.HTTPException) as e:
            self.conn.close()
            return SendResult(ok=False, error=str(e), retry=True)
        return SendResult(ok=r.status == 200, error=f"HTTP {r.status}", retry=r.status >= 500)

    def close(self):
        self.conn.close()


def deliver_loop(rt, now: datetime, seconds: float, probe: C.Probe) -> dict:
    """Call deliver until nothing is due or `seconds` have passed."""
    from bot.jobs.deliver import deliver
    sent = calls = claimed = deferred = failed = 0
    probe.reset()
    t = time.perf_counter()
    with rt.database.connection_context():
        while time.perf_counter() - t < seconds and calls < 1_000_000:
            r = deliver(rt, now)
            calls += 1
            sent, claimed = sent + r["sent"], claimed + r["claimed"]
            deferred, failed = deferred + r["deferred"], failed + r["failed"]
            if r["claimed"] == 0:
                break
    secs = time.perf_counter() - t
    return {"calls": calls, "claimed": claimed, "sent": sent, "deferred": deferred, "failed": failed,
            "seconds": secs, "rate": sent / secs if secs else 0.0}


def max_per_window(times: list[datetime], seconds: int, closed: bool = False) -> int:
    """The most sends in any window of `seconds` starting at a send: [t, t+s) or, closed, [t, t+s]."""
    ts = sorted(times)
    best = 0
    for i, t in enumerate(ts):
        end = t + timedelta(seconds=seconds)
        j = bisect_right(ts, end) if closed else bisect_left(ts, end)
        best = max(best, j - i)
    return best



# -- the rate-limit test ----------------------------------------------------------------------------

def _rl_loop(rt, adapter, start: datetime, steps: int, max_seconds: float, barrier=None) -> dict:
    """deliver() once per simulated second; with a barrier, in step with the other processes."""
    import bot.jobs.deliver as bdel
    tot = {"sent": 0, "deferred": 0, "failed": 0, "steps": 0}
    t = time.perf_counter()
    with rt.database.connection_context():
        for step in range(steps):
            if barrier is not None:
                try:
                    barrier.wait(timeout=30)
                except threading.BrokenBarrierError:
                    break
            now = start + timedelta(seconds=step)
            adapter.sim_now = now
            r = bdel.deliver(rt, now)
            for k in ("sent", "deferred", "failed"):
                tot[k] += r[k]
            tot["steps"] += 1
            if time.perf_counter() - t > max_seconds:
                if barrier is not None:
                    barrier.abort()
                break
    return tot


def _rl_child(url: str, port: int, start: datetime, steps: int, max_seconds: float, barrier, results) -> None:
    from bot.channels import RateLimit
    rt = C.make_runtime(url, start)
    adapter = LoopbackAdapter(port, [RateLimit(30, 60), RateLimit(1000, 3600)])
    rt._adapters = {"local": adapter}
    try:
        results.put(_rl_loop(rt, adapter, start, steps, max_seconds, barrier))
    finally:
        adapter.close()
        rt.database.close()


def rate_limit_test(label: str, url: str, rt, sink, cfg: dict, recipient: str, start: datetime,
                    processes: int) -> tuple[list[list], bool, float]:
    """Queue cfg['rl_messages'] messages for `recipient`, deliver for cfg['rl_steps'] simulated seconds
    from `processes` delivery processes, and check every 60-second window."""
    import multiprocessing
    from bot.channels import RateLimit
    import storage.outbox as soutbox
    from storage.models import Outbox
    with rt.database.connection_context():
        C.vacuum(rt.database, label)
        template = json.loads(Outbox.select(Outbox.payload).where(Outbox.key.startswith("task:")).scalar())
        for i in range(cfg["rl_messages"]):
            payload = {**template, "data": {**template["data"], "n": i}}
            soutbox.enqueue(f"{recipient}:{i}", "local", recipient, payload, start)
    log(f"{label}: rate limit: {cfg['rl_messages']} messages, 30/60 s and 1000/3600 s, "
        f"{cfg['rl_steps']} simulated seconds, {processes} delivery process(es)")
    t = time.perf_counter()
    if processes == 1:
        adapter = LoopbackAdapter(sink.port, [RateLimit(30, 60), RateLimit(1000, 3600)])
        rt._adapters = {"local": adapter}
        tots = [_rl_loop(rt, adapter, start, cfg["rl_steps"], cfg["rl_seconds"])]
        adapter.close()
    else:
        mp = multiprocessing.get_context("fork")
        rt.database.close()  # no connection shared across fork
        barrier, results = mp.Barrier(processes), mp.Queue()
        procs = [mp.Process(target=_rl_child, args=(url, sink.port, start, cfg["rl_steps"], cfg["rl_seconds"],
                                                    barrier, results), daemon=True) for _ in range(processes)]
        for p in procs:
            p.start()
        tots = []
        for _ in procs:
            try:
                tots.append(results.get(timeout=cfg["rl_seconds"] + 90))
            except Exception:  # noqa: BLE001  a child died: report what the others did
                break
        for p in procs:
            p.join(timeout=30)
            if p.is_alive():
                p.terminate()
                p.join(timeout=5)
    secs = time.perf_counter() - t
    with rt.database.connection_context():
        rows_ = list(Outbox.select().where(Outbox.recipient == recipient))
    tot = {k: sum(x[k] for x in tots) for k in ("sent", "deferred", "failed")}
    steps = min((x["steps"] for x in tots), default=0)
    sent_at = [r.sent_at for r in rows_ if r.sent_at is not None]
    status: dict[str, int] = {}
    for r in rows_:
        status[r.status] = status.get(r.status, 0) + 1
    srv = [rec for _, rec in list(sink.records) if rec["to"] == recipient]
    srv_times = [datetime.fromisoformat(rec["sim_now"]) for rec in srv]
    srv_n = [rec["n"] for rec in srv]
    last = max(sent_at) if sent_at else None
    w_rows, w_closed, w_srv = max_per_window(sent_at, 60), max_per_window(sent_at, 60, True), \
        max_per_window(srv_times, 60)
    rows = [
        ["messages queued / sent (rows) / received (server)", f"{len(rows_)} / {len(sent_at)} / {len(srv)}"],
        ["row statuses", " ".join(f"{k}:{v}" for k, v in sorted(status.items()))],
        ["distinct messages received / duplicates", f"{len(set(srv_n))} / {len(srv_n) - len(set(srv_n))}"],
        ["max sends in any 60 s window [t, t+60s), rows' sent_at", w_rows],
        ["max sends in any 60 s window [t, t+60s], rows' sent_at", w_closed],
        ["max sends in any 60 s window [t, t+60s), server log", w_srv],
        ["max sends in any 3600 s window, rows' sent_at (limit 1000)", max_per_window(sent_at, 3600)],
        ["deliver() results: sent / deferred / failed", f"{tot['sent']} / {tot['deferred']} / {tot['failed']}"],
        ["simulated seconds run (per process)", steps],
        ["last send, simulated seconds after the first", (last - start).total_seconds() if last else "-"],
        ["max attempts on a row (claims, incl. rate-limit deferrals)", max((r.attempts for r in rows_), default=0)],
        ["real seconds for the simulated run", secs],
    ]
    ok = w_rows <= 30 and w_srv <= 30 and len(srv_n) == len(set(srv_n)) == len(sent_at)
    rows.append(["limit respected (<= 30 per 60 s, no duplicates)", "YES" if ok else "NO"])
    return rows, ok, secs


# -- the run per database ---------------------------------------------------------------------------

def run(label: str, url: str, cfg: dict) -> list[list]:
    from bot.channels import RateLimit
    from bot.jobs.daily import daily
    from bot.render import render_text
    from handlers.messages import Reply
    import storage.outbox as soutbox
    from storage.models import Outbox

    summary = []
    C.wait_quiet(max_wait=cfg["quiet_wait"])
    log(f"{label}: fresh database {url}")
    C.fresh_database(url)
    rt = C.make_runtime(url, T0)
    sw = C.Stopwatch()
    counts = build_data(rt, cfg)
    gen_s = sw.s
    log(f"{label}: generated in {gen_s:.1f} s: " + ", ".join(f"{k} {v:,}" for k, v in counts.items()))
    summary.append(["data generation (bulk load, not product code)", gen_s, f"{counts['open deals']:,} open deals"])

    # -- the three scans
    probe = scan_probe()
    rows, breakdown = [], {}
    try:
        for name, now in (("a cold (next_check_at = last movement)", T0),
                          ("b steady (+5 min)", T0 + timedelta(minutes=5)),
                          ("c right after b (no crossings)", T0 + timedelta(minutes=5))):
            if not name.startswith("a"):
                with rt.database.connection_context():
                    C.vacuum(rt.database, label)
            log(f"{label}: scan {name} at {now:%Y-%m-%d %H:%M} UTC, {C.load()}")
            result, secs, state, prow = run_scan(rt, now, probe)
            fired = result["fired"]
            lost = state["new warnings"] - state["deals in warn messages"]
            rows.append([name, result["checked"], sum(fired.values()), fired["yellow"], fired["orange"],
                         fired["red"], state["rows"], state["warn"], state["red"], lost, secs])
            breakdown[name] = prow
            summary.append([f"scan {name}", secs, f"{result['checked']:,} checked, {state['rows']:,} queued"])
    finally:
        probe.restore()
    table(f"[{label}] stale scan over {counts['open deals']:,} open deals ({counts['reps']:,} reps)",
          ["scan", "deals checked", "warnings fired", "yellow", "orange", "red", "outbox rows", "warn msgs",
           "red cards", "warned deals missing from msgs", "seconds"], rows)
    for name, prow in breakdown.items():
        if prow:
            table(f"[{label}] where scan {name} spends its time (nested rows are included in their parent)",
                  ["function", "calls", "seconds", "ms/call"], prow, digits=3)

    # -- daily task cards
    import handlers.queries as hq
    import storage.scan_queries as sscan
    p = C.Probe()
    p.wrap(sscan, "open_deal_rows", "scan_q.open_deal_rows (1 query, all open deals)")
    p.wrap(sscan, "customer_names", "scan_q.customer_names (the deals shown)")
    p.wrap(sscan, "high_intent_by_owner", "scan_q.high_intent_by_owner")
    p.wrap(sscan, "active_reps", "scan_q.active_reps")
    p.wrap(hq, "task_card_data", "handlers.queries.task_card_data (per person)")
    p.wrap(soutbox, "enqueue", "outbox.enqueue (1 insert)")
    p.wrap(soutbox, "enqueue_many", "outbox.enqueue_many (batch insert)")
    now_d = T0 + timedelta(minutes=5)
    with rt.database.connection_context():
        C.vacuum(rt.database, label)
    try:
        with rt.database.connection_context():
            ob0 = Outbox.select().order_by(Outbox.id.desc()).first()
            ob0 = ob0.id if ob0 else 0
            log(f"{label}: daily at {now_d:%H:%M} UTC (09:05 Asia/Shanghai)")
            t = time.perf_counter()
            result = daily(rt, now_d)
            daily_s = time.perf_counter() - t
            prow = p.rows()
            # render every queued task card to text (what an adapter does when it sends it)
            cards = Outbox.select(Outbox.payload).where((Outbox.id > ob0) & Outbox.key.startswith("task:"))
            rendered, render_s, t = 0, 0.0, time.perf_counter()
            for (payload,) in cards.tuples().iterator():
                render_text(Reply.from_dict(json.loads(payload)), "local")
                rendered += 1
                if time.perf_counter() - t > cfg["render_seconds"]:
                    break
            render_s = time.perf_counter() - t
            n_cards = cards.count()
    finally:
        p.restore()
    per_card = render_s / rendered if rendered else float("nan")
    render_all = per_card * n_cards
    table(f"[{label}] daily task cards at 09:05 local, {counts['reps']:,} reps + {counts['managers']:,} managers",
          ["step", "cards", "seconds"],
          [["daily(): build + queue (jobs.daily)", result.get("queued", 0), daily_s],
           [f"render_text of queued cards ({rendered:,} rendered{'' if rendered == n_cards else ', extrapolated'})",
            n_cards, render_all],
           ["total: rendered and queued", n_cards, daily_s + render_all]])
    if result.get("skipped"):
        log(f"{label}: daily skipped: {result}")
    table(f"[{label}] where daily() spends its time", ["function", "calls", "seconds", "ms/call"], prow, digits=3)
    summary.append(["daily task cards: queue + render", daily_s + render_all, f"{n_cards:,} cards"])

    # -- delivery
    import bot.jobs.deliver as bdel
    dp = C.Probe()
    dp.wrap(soutbox, "claim", "outbox.claim (per 100 rows)")
    dp.wrap(soutbox, "mark_sent", "outbox.mark_sent (1 update + commit)")
    dp.wrap(bdel, "rate_wait", "delivery.rate_wait")
    now_x = T0 + timedelta(minutes=6)
    with rt.database.connection_context():
        C.vacuum(rt.database, label)
        pending0 = Outbox.select().where(Outbox.status == "pending").count()
    drows, dprobe = [], []
    sink = Sink()
    try:
        log(f"{label}: deliver, local adapter ({pending0:,} rows pending), at most {cfg['local_seconds']:.0f} s")
        r = deliver_loop(rt, now_x, cfg["local_seconds"], dp)
        drows.append(["local adapter (no network, marks rows sent)", r["calls"], r["sent"], r["failed"],
                      r["seconds"], r["rate"]])
        dprobe += [[f"local: {x[0]}", *x[1:]] for x in dp.rows()]
        with rt.database.connection_context():  # the same rows again for the HTTP run
            Outbox.update(status="pending", sent_at=None, next_attempt_at=now_x, attempts=0, claimed_at=None,
                          claimed_by=None).where(Outbox.status == "sent").execute()
            C.vacuum(rt.database, label)
        rt._adapters = {"local": LoopbackAdapter(sink.port)}
        log(f"{label}: deliver, loopback HTTP adapter, no rate limit, at most {cfg['http_seconds']:.0f} s")
        r = deliver_loop(rt, now_x, cfg["http_seconds"], dp)
        drows.append(["loopback HTTP API, render + POST, no limit", r["calls"], r["sent"], r["failed"],
                      r["seconds"], r["rate"]])
        dprobe += [[f"http: {x[0]}", *x[1:]] for x in dp.rows()]
        rt._adapters["local"].close()
        with rt.database.connection_context():
            pending1 = Outbox.select().where(Outbox.status == "pending").count()
    finally:
        dp.restore()
    table(f"[{label}] delivery throughput ({pending0:,} rows pending at the start, {pending1:,} after; "
          f"each run stops when nothing is due or at its time limit)",
          ["adapter", "deliver() calls", "sent", "failed", "seconds", "messages/s"], drows)
    table(f"[{label}] where delivery spends its time", ["function", "calls", "seconds", "ms/call"], dprobe, digits=3)
    summary += [[f"delivery: {d[0]}", d[4], f"{d[5]:,.0f} msg/s"] for d in drows]

    # -- the rate-limit proof: one delivery process, then two at once (the delivery module says it
    # is safe with several delivery processes)
    try:
        with rt.database.connection_context():
            Outbox.update(status="failed", last_error="bench: left over, cleared before the rate-limit test").where(
                Outbox.status.in_(["pending", "sending"])).execute()
        for n, offset in ((1, 1), (2, 2)):
            rows_, ok, secs = rate_limit_test(label, url, rt, sink, cfg, f"rl-target-{n}",
                                              T0 + timedelta(hours=offset), processes=n)
            table(f"[{label}] rate-limited recipient, limits [30 per 60 s, 1000 per 3600 s], "
                  f"{n} delivery process{'es' if n > 1 else ''} calling deliver() every simulated second",
                  ["check", "value"], rows_)
            summary.append([f"rate-limit proof, {n} delivery process{'es' if n > 1 else ''}", secs,
                            "limit respected" if ok else "LIMIT EXCEEDED"])
    finally:
        sink.stop()
    rt.database.close()
    return summary


def main() -> None:
    p = C.parser(__doc__.split("\n")[0])
    p.add_argument("--deals", type=int, help="open deals to generate (default 500000; --quick 2000)")
    args = p.parse_args()
    cfg = dict(QUICK if args.quick else FULL)
    if args.deals:
        cfg["deals"] = args.deals
    results = []
    stamp = C.code_stamp()
    log(f"product code: newest file {stamp}")
    for label, url in C.db_targets(args.db, "scan"):
        sw = C.Stopwatch()
        results += [[label, *r] for r in run(label, url, cfg)]
        log(f"{label}: finished in {sw.s:.0f} s, {C.load()}")
    table("Summary (targets: one scan < 2 s; a scan without crossings much faster; cards < 10 s)",
          ["db", "step", "seconds", "what"], results)
    if C.code_stamp() != stamp:
        log(f"WARNING: the product code changed during the run (newest file now {C.code_stamp()}); "
            f"figures may mix versions")


if __name__ == "__main__":
    main()
