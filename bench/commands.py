"""Benchmark: a chat command's round trip through POST /local/messages, and customer-name matching.

Issue: "With the demo data plus 100k generated deals: round-trip latency of a command through
/local/messages (parse, database write, reply) at p50 and p99, and requests per second with two
worker processes; on SQLite and on PostgreSQL. Target: p99 under 20 ms. Customer-name matching for a
rep with 500 customers: under 2 ms."

What it does, per database (SQLite file bench/out/commands.db, PostgreSQL database `bench_commands`):
  1. a fresh database: the demo team (bot.demo), rep1 topped up to 500 customers, and extra teams
     with ~2000 customers, 100k generated deals in all (open and closed), each with the stage-change
     history the bot writes, and a visit on each open one;
  2. gunicorn with two sync workers on 127.0.0.1 (`bot:create_app()`, DATABASE_URL in its env),
     driven over loopback HTTP by client threads in this process (the clients share the machine's
     two cores with the workers and the database server);
  3. runs: "拜访 <customer> 见了采购总监王总,下一步周五前发方案" from 1 client (latency without
     queueing) and 4 clients (throughput), then a mixed load (visits, 我的客户, 客户 X) the same way;
  4. in-process name matching for rep1's 500 customers: Matcher.match alone, Matcher build + match
     (what every command does), and the full resolve_customer with its database queries.

Run from the repo root:  .venv/bin/python bench/commands.py [--db sqlite|postgres|both] [--quick] [--pool]
(--pool repeats the HTTP runs with DATABASE_URL=...+pool://, peewee's connection pool, for comparison.)
"""
from __future__ import annotations

import http.client
import itertools
import json
import os
import random
import signal
import subprocess
import threading
import time
from datetime import datetime, timedelta

import _common as C
from _common import log, pct, table

VISIT_NOTE = "见了采购总监王总,下一步周五前发方案"
DISTRICTS = ["朝阳", "海淀", "东城", "西城", "丰台", "浦东", "徐汇", "静安", "黄浦", "闵行", "天河", "越秀",
             "南山", "福田", "江宁", "鼓楼", "武侯", "锦江", "西湖", "滨江", "历下", "市南", "雁塔", "江北",
             "渝中", "开福", "思明", "新城", "和平", "南岗"]
BRAND_CHARS = "金银福鑫盛源泰丰和兴隆达祥瑞康宁佳乐美新宏鼎恒润嘉益永顺昌荣德"
HOMOPHONES = {"联": "连", "华": "化", "超": "朝", "市": "是", "便": "变", "利": "力", "店": "电", "餐": "参",
              "饮": "引", "酒": "久", "商": "伤", "贸": "茂", "食": "石", "品": "拼", "百": "白", "货": "或",
              "辉": "会", "美": "每", "家": "加", "福": "付", "鑫": "新", "盛": "胜", "源": "元", "泰": "太",
              "丰": "风", "和": "合", "兴": "星", "隆": "龙", "达": "大", "祥": "想", "瑞": "睿", "康": "抗",
              "宁": "凝", "佳": "加", "乐": "了", "新": "心", "宏": "红", "鼎": "顶", "恒": "横", "润": "闰"}

FULL = dict(total_deals=100_000, rep1_customers=500, extra_teams=20, reps_per_team=10, extra_customers=2000,
            open_share=0.3, warmup=60, runs=[("visit", 1, 1500), ("visit", 4, 3000), ("mixed", 1, 1500),
                                             ("mixed", 4, 3000)], run_seconds=90.0, match_queries=400,
            resolve_queries=200)
QUICK = dict(total_deals=3000, rep1_customers=200, extra_teams=3, reps_per_team=4, extra_customers=120,
             open_share=0.3, warmup=10, runs=[("visit", 1, 60), ("visit", 4, 120), ("mixed", 1, 60),
                                              ("mixed", 4, 120)], run_seconds=10.0, match_queries=60,
             resolve_queries=30)


# -- data -------------------------------------------------------------------------------------------

# the name parts of the generated customers (the demo team's before issue 17 gave it real store names:
# kept here so that the figures stay comparable with earlier runs)
PREFIXES = ["华联", "永辉", "物美", "家乐", "联华", "世纪", "百佳", "苏果", "大润", "红旗", "美宜", "全家",
            "罗森", "喜士多", "好德", "可的", "快客", "良友", "农工商", "华润", "欧尚", "麦德龙", "盒马", "叮咚",
            "便利蜂", "天福", "易捷", "昆仑", "百联", "新华都", "步步高", "中百", "家家悦", "利群", "银座", "大张"]
SUFFIXES = ["超市", "便利店", "餐饮", "酒店", "商贸", "食品", "百货"]


def chain_names(rnd: random.Random) -> list[str]:
    names = [p + s + d + "店" for p in PREFIXES for s in SUFFIXES[:3] for d in DISTRICTS]
    rnd.shuffle(names)
    return names


def brand_names(rnd: random.Random) -> list[str]:
    names = [a + b + s for a in BRAND_CHARS for b in BRAND_CHARS if a != b for s in SUFFIXES]
    rnd.shuffle(names)
    return names


def build_data(rt, now: datetime, cfg: dict) -> dict:
    """Demo team + rep1 topped up to cfg['rep1_customers'] + extra teams, cfg['total_deals'] generated deals."""
    from bot.demo import load_demo
    from handlers.parse import initials_of
    from storage.models import Activity, ChatGroup, Customer, Deal, Rep, StageChange, Team

    rnd = random.Random(11)
    db = rt.database
    stages = [s.key for s in rt.funnel.open_stages]
    closing = rt.funnel.closing.key
    with db.connection_context():
        demo = load_demo(rt.funnel, now)
        team_id = Team.get(Team.name == "华东饮料团队").id
        rep1 = Rep.get(Rep.local_id == "rep1")
        taken = {n for (n,) in Customer.select(Customer.name).where(Customer.team == team_id).tuples()}
        have = Customer.select().where(Customer.owner == rep1).count()
        want = max(0, cfg["rep1_customers"] - have)
        chains, brands = chain_names(rnd), brand_names(rnd)
        rep1_names = []
        for name in itertools.chain.from_iterable(zip(chains, brands)):
            if len(rep1_names) >= want:
                break
            if name not in taken:
                taken.add(name)
                rep1_names.append(name)

        # extra teams, each with a manager, reps and a manager group
        team0, rep0, grp0 = C.next_id(Team), C.next_id(Rep), C.next_id(ChatGroup)
        teams, reps, groups = [], [], []
        rid = rep0
        for t in range(cfg["extra_teams"]):
            tid = team0 + t
            teams.append((tid, f"扩展团队{t + 1:03d}"))
            groups.append((grp0 + t, tid, "manager", f"扩展团队{t + 1:03d}主管群", f"xgrp{t + 1:03d}"))
            reps.append((rid, tid, f"主管{t + 1:03d}", "manager", f"xmgr{t + 1:03d}", True))
            rid += 1
            for r in range(cfg["reps_per_team"]):
                reps.append((rid, tid, f"销售{t + 1:03d}-{r + 1:02d}", "rep", f"xrep{t + 1:03d}{r + 1:02d}", True))
                rid += 1
        C.bulk_insert(db, Team, ["id", "name"], teams)
        C.bulk_insert(db, ChatGroup, ["id", "team", "purpose", "name", "local_id"], groups)
        C.bulk_insert(db, Rep, ["id", "team", "name", "role", "local_id", "active"], reps)

        # customers: rep1's extra ones (demo team), then the extra teams' customers
        cid0 = C.next_id(Customer)
        customers = []  # (id, team, owner, name, initials, tier, created_at)
        for i, name in enumerate(rep1_names):
            customers.append((cid0 + i, team_id, rep1.id, name, initials_of(name), rnd.choice("ABCC"),
                              now - timedelta(days=rnd.randint(30, 400))))
        sales = [r for r in reps if r[3] == "rep"]
        per_team_names: dict[int, list[str]] = {}
        extra = []
        for k in range(cfg["extra_customers"]):
            owner = sales[k % len(sales)]
            names = per_team_names.setdefault(owner[1], brand_names(random.Random(owner[1])))
            name = names.pop()
            extra.append((cid0 + len(customers), owner[1], owner[0], name, initials_of(name), rnd.choice("ABCC"),
                          now - timedelta(days=rnd.randint(30, 400))))
            customers.append(extra[-1])
        C.bulk_insert(db, Customer, ["id", "team", "owner", "name", "initials", "tier", "created_at"], customers)

        # deals: one open deal per extra rep1 customer; the rest spread over the extra teams' customers
        did = C.next_id(Deal)
        fields = ["id", "customer", "owner", "team", "amount", "stage", "status", "created_at",
                  "stage_entered_at", "last_activity_at", "last_movement_at", "next_check_at", "closed_at",
                  "lost_reason"]

        def deal(customer, open_: bool):
            nonlocal did
            _, team, owner, _, _, _, c_at = customer
            amount = rnd.choice([2, 3, 5, 8, 12, 15, 20, 30, 50]) * 10000
            moved = now - timedelta(seconds=rnd.randint(3600, 10 * 86400))
            entered = moved - timedelta(seconds=rnd.randint(0, 5 * 86400))
            created = min(entered, c_at + timedelta(days=rnd.randint(0, 20)))
            did += 1
            if open_:
                return (did - 1, customer[0], owner, team, amount, rnd.choice(stages), "open", created, entered,
                        moved, moved, moved, None, None)
            won = rnd.random() < 0.4
            return (did - 1, customer[0], owner, team, amount, closing, "won" if won else "lost", created, moved,
                    moved, moved, None, moved, None if won else "价格")

        remaining = max(0, cfg["total_deals"] - len(rep1_names))

        def rows():
            for c in customers[:len(rep1_names)]:
                yield deal(c, True)
            for k in range(remaining):
                c = extra[k % len(extra)]
                yield deal(c, k < len(extra) or rnd.random() < cfg["open_share"])

        deal_rows = list(rows())
        n_deals = C.bulk_insert(db, Deal, fields, deal_rows)
        # the history a deal has when the bot created it: a stage change at creation (and at closing),
        # and for an open deal the visit that last moved it
        first = stages[0]
        sc0, act0 = C.next_id(StageChange), C.next_id(Activity)

        def changes():
            k = sc0
            for d in deal_rows:
                yield (k, d[0], None, first, d[2], d[7])
                k += 1
                if d[6] != "open":
                    yield (k, d[0], first, closing, d[2], d[12])
                    k += 1

        def visits():
            k = act0
            for d in deal_rows:
                if d[6] == "open":
                    yield (k, d[0], d[1], d[2], "visit", "例行拜访，沟通进度", d[9])
                    k += 1
        C.bulk_insert(db, StageChange, ["id", "deal", "from_stage", "to_stage", "rep", "at"], changes())
        C.bulk_insert(db, Activity, ["id", "deal", "customer", "rep", "kind", "text", "at"], visits())
        C.fix_sequences(db, [Team, ChatGroup, Rep, Customer, Deal, StageChange, Activity])
        C.analyze(db)
        counts = {
            "customers": Customer.select().count(),
            "deals": Deal.select().count(),
            "open deals": Deal.select().where(Deal.status == "open").count(),
            "generated deals": n_deals,
            "stage changes": StageChange.select().count(),
            "activities": Activity.select().count(),
            "reps": Rep.select().count(),
            "rep1 customers": Customer.select().where(Customer.owner == rep1).count(),
            "demo customers": demo["customers"],
        }
    return counts


def customers_by_user(rt) -> dict[str, list[str]]:
    from storage.models import Customer, Rep
    out: dict[str, list[str]] = {}
    with rt.database.connection_context():
        q = Customer.select(Rep.local_id, Customer.name).join(Rep).where(Rep.local_id.in_(
            [f"rep{i}" for i in range(1, 7)])).tuples()
        for user, name in q:
            out.setdefault(user, []).append(name)
    return out


# -- gunicorn ---------------------------------------------------------------------------------------

class Server:
    """gunicorn -w 2 on loopback, in its own process group so that stopping it stops only it."""

    def __init__(self, url: str, label: str):
        self.url, self.label = url, label
        self.port = C.free_port()
        self.proc: subprocess.Popen | None = None
        self.log_path = C.OUT / f"gunicorn-{label}.log"

    def start(self, timeout: float = 60.0) -> None:
        env = {k: v for k, v in os.environ.items()
               if not (k.startswith(("BOT_", "WECOM_", "DINGTALK_")) or k == "DATABASE_URL")}
        env.update(DATABASE_URL=self.url, BOT_LOCAL_CHANNEL="1", PYTHONUNBUFFERED="1")
        gunicorn = str(C.ROOT / ".venv" / "bin" / "gunicorn")
        self._log = open(self.log_path, "w")
        # cwd is bench/out so that no .env of the repo root is read by load_config
        self.proc = subprocess.Popen([gunicorn, "-w", "2", "-b", f"127.0.0.1:{self.port}", "--pythonpath",
                                      str(C.ROOT), "bot:create_app()"], cwd=str(C.OUT), env=env,
                                     stdout=self._log, stderr=subprocess.STDOUT, start_new_session=True)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"gunicorn exited with {self.proc.returncode}; see {self.log_path}")
            if C.healthy(self.port):
                return
            time.sleep(0.2)
        raise RuntimeError(f"gunicorn did not answer /healthz within {timeout:.0f} s; see {self.log_path}")

    def cpu_seconds(self) -> float:
        """user + system CPU seconds used so far by the gunicorn workers (children of the master)."""
        if self.proc is None:
            return 0.0
        tick = os.sysconf("SC_CLK_TCK")
        total = 0.0
        try:
            with open(f"/proc/{self.proc.pid}/task/{self.proc.pid}/children") as f:
                pids = f.read().split()
        except OSError:
            return float("nan")
        for pid in pids:
            try:
                with open(f"/proc/{pid}/stat") as f:
                    fields = f.read().rsplit(")", 1)[1].split()
                total += (int(fields[11]) + int(fields[12])) / tick
            except (OSError, IndexError, ValueError):
                pass
        return total

    def stop(self) -> None:
        if self.proc is None:
            return
        if self.proc.poll() is None:
            try:
                os.killpg(self.proc.pid, signal.SIGTERM)
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait(timeout=5)
            except ProcessLookupError:
                pass
        self._log.close()
        self.proc = None


# -- the HTTP load ----------------------------------------------------------------------------------

EXPECTED = {"visit": "activity_logged", "list": "my_deals", "show": "customer_info"}


def make_plan(kind: str, names: dict[str, list[str]]):
    users = sorted(names)

    def plan(rnd: random.Random):
        user = rnd.choice(users)
        what = "visit" if kind == "visit" else rnd.choices(["visit", "list", "show"], [6, 2, 2])[0]
        if what == "visit":
            text = f"拜访 {rnd.choice(names[user])} {VISIT_NOTE}"
        elif what == "list":
            text = "我的客户"
        else:
            text = f"客户 {rnd.choice(names[user])}"
        label = what if what != "visit" else ("visit rep1" if user == "rep1" else "visit rep2-6")
        return label, what, user, text
    return plan


def drive(port: int, plan, clients: int, count: int, max_seconds: float, tag: str) -> dict:
    """`count` requests (or until `max_seconds`) from `clients` threads; each thread one connection."""
    results: list[tuple[str, float, bool]] = []
    errors: list[str] = []
    failures = [0]  # requests that got no HTTP answer at all
    lock = threading.Lock()
    counter = itertools.count()
    deadline = time.monotonic() + max_seconds

    def worker(tid: int):
        rnd = random.Random(hash((tag, tid)))
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
        local = []
        try:
            while time.monotonic() < deadline:
                i = next(counter)
                if i >= count:
                    break
                label, what, user, text = plan(rnd)
                body = json.dumps({"user": user, "text": text, "id": f"{tag}-{i}"}, ensure_ascii=False).encode()
                t0 = time.perf_counter()
                try:
                    conn.request("POST", "/local/messages", body, {"Content-Type": "application/json"})
                    r = conn.getresponse()
                    data = r.read()
                except (OSError, http.client.HTTPException) as e:
                    conn.close()
                    with lock:
                        errors.append(f"{type(e).__name__}: {e}")
                        failures[0] += 1
                    continue
                ms = (time.perf_counter() - t0) * 1000
                ok = False
                if r.status == 200:
                    try:
                        reply = json.loads(data)["replies"][0]
                        ok = reply["template"] == EXPECTED[what]
                        if not ok and len(errors) < 5:
                            with lock:
                                errors.append(f"{what}: {reply['text'][:80]!r}")
                    except (ValueError, KeyError, IndexError):
                        pass
                elif len(errors) < 5:
                    with lock:
                        errors.append(f"HTTP {r.status}: {data[:80]!r}")
                local.append((label, ms, ok))
        finally:
            conn.close()
            with lock:
                results.extend(local)

    threads = [threading.Thread(target=worker, args=(t,), daemon=True) for t in range(clients)]
    t0 = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join(max_seconds + 120)
    wall = time.perf_counter() - t0
    return {"results": results, "errors": errors, "failures": failures[0], "wall": wall}


def http_benchmark(label: str, url: str, cfg: dict, names: dict[str, list[str]]) -> list[list]:
    server = Server(url, label)
    rows, detail = [], []
    try:
        log(f"{label}: starting gunicorn -w 2 on port {server.port}")
        server.start()
        tag = f"b{int(time.time())}"
        drive(server.port, make_plan("mixed", names), 2, cfg["warmup"], 60, f"{tag}-warm")
        for kind, clients, count in cfg["runs"]:
            log(f"{label}: {kind} x {clients} client(s), {count} requests (at most {cfg['run_seconds']:.0f} s), "
                f"{C.load()}")
            cpu0 = server.cpu_seconds()
            out = drive(server.port, make_plan(kind, names), clients, count, cfg["run_seconds"],
                        f"{tag}-{kind}-{clients}")
            cpu = server.cpu_seconds() - cpu0
            res = out["results"]
            ms = [m for _, m, _ in res]
            bad = sum(1 for _, _, ok in res if not ok) + out["failures"]
            name = f"{kind} ({clients} client{'s' if clients > 1 else ''})"
            rows.append([name, len(res), bad, len(res) / out["wall"], pct(ms, 50), pct(ms, 95), pct(ms, 99),
                         max(ms) if ms else float("nan"), cpu * 1000 / len(res) if res else float("nan"),
                         os.getloadavg()[0]])
            for e in out["errors"][:3]:
                log(f"  unexpected reply: {e}")
            by = {}
            for lab, m, _ in res:
                by.setdefault(lab, []).append(m)
            for lab in sorted(by):
                v = by[lab]
                detail.append([f"{name}: {lab}", len(v), pct(v, 50), pct(v, 95), pct(v, 99), max(v)])
    finally:
        server.stop()
        log(f"{label}: gunicorn stopped ({C.load()})")
    table(f"[{label}] POST /local/messages round trip, gunicorn -w 2 (sync workers), latency in ms",
          ["run", "requests", "errors", "req/s", "p50", "p95", "p99", "max", "worker CPU ms/req", "load 1m"], rows)
    table(f"[{label}] by command, ms", ["run: command", "n", "p50", "p95", "p99", "max"], detail)
    return rows


# -- name matching ----------------------------------------------------------------------------------

def typo(name: str, rnd: random.Random) -> str:
    spots = [i for i, ch in enumerate(name) if ch in HOMOPHONES]
    if spots:
        i = rnd.choice(spots)
        return name[:i] + HOMOPHONES[name[i]] + name[i + 1:]
    i = rnd.randrange(len(name))
    return name[:i] + rnd.choice(BRAND_CHARS) + name[i + 1:]


def partial(name: str, rnd: random.Random) -> str:
    n = rnd.randint(2, min(4, len(name)))
    start = 0 if rnd.random() < 0.5 else rnd.randint(0, len(name) - n)
    return name[start:start + n]


def queries_for(cands, n: int, rnd: random.Random, taken: set[str]) -> dict[str, list[str]]:
    from handlers.parse import initials_of
    names = [c.name for c in cands]
    unknown = [x for x in brand_names(random.Random(99)) if x not in taken]
    return {
        "exact name": [rnd.choice(names) for _ in range(n)],
        "partial name": [partial(rnd.choice(names), rnd) for _ in range(n)],
        "typo (1 char)": [typo(rnd.choice(names), rnd) for _ in range(n)],
        "pinyin initials": [(lambda s: s if rnd.random() < 0.5 else s[:max(3, len(s) - 2)])(
            initials_of(rnd.choice(names))) for _ in range(n)],
        "unknown name": [unknown[i % len(unknown)] for i in range(n)],
    }


def matching_benchmark(label: str, url: str, cfg: dict) -> None:
    from handlers.messages import Incoming
    from handlers import Refusal
    from handlers.context import Context
    from handlers.lookup import resolve_customer
    from handlers.parse import Candidate, Matcher
    from handlers.parse import names as names_mod
    from storage import deals, people
    from storage.models import Customer

    rt = C.make_runtime(url, datetime.utcnow().replace(microsecond=0))
    rnd = random.Random(5)
    with rt.database.connection_context():
        rep1 = people.rep_for_sender("local", "rep1")
        t = time.perf_counter()
        cands = [Candidate(*row) for row in deals.customer_candidates(rep1)]
        q_ms = (time.perf_counter() - t) * 1000
        taken = {n for (n,) in Customer.select(Customer.name).tuples()}
    qs = queries_for(cands, cfg["match_queries"], rnd, taken)

    # the cold start of the pinyin spellings (first near-miss query of a process)
    names_mod._spelling.cache_clear()
    m = Matcher(cands)
    t = time.perf_counter()
    m.match(qs["typo (1 char)"][0])
    cold_ms = (time.perf_counter() - t) * 1000

    rows = []
    for cat, queries in qs.items():
        matcher = Matcher(cands)
        matcher.match(queries[0])  # spellings computed once per Matcher: a warm matcher
        alone, built, kinds = [], [], {}
        for q in queries:
            t = time.perf_counter()
            r = matcher.match(q)
            alone.append((time.perf_counter() - t) * 1000)
            kinds[r.kind] = kinds.get(r.kind, 0) + 1
            t = time.perf_counter()
            Matcher(cands).match(q)
            built.append((time.perf_counter() - t) * 1000)
        rows.append([cat, len(queries), " ".join(f"{k}:{v}" for k, v in sorted(kinds.items())),
                     pct(alone, 50), pct(alone, 99), max(alone), pct(built, 50), pct(built, 99), max(built)])
    table(f"[{label}] name matching, rep1 with {len(cands)} customers, in-process, ms "
          f"(candidate query {q_ms:.2f} ms; first near-miss query of a process, pinyin cache cold: {cold_ms:.1f} ms)",
          ["queries", "n", "outcomes", "match p50", "match p99", "match max", "build+match p50",
           "build+match p99", "build+match max"], rows, digits=3)

    # the full resolve: candidate query + Matcher + match + customer load (+ the team's list for a miss)
    rows = []
    with rt.database.connection_context():
        rep1 = people.rep_for_sender("local", "rep1")
        for cat, queries in qs.items():
            times, kinds = [], {}
            for q in queries[:cfg["resolve_queries"]]:
                ctx = Context(rep=rep1, funnel=rt.funnel, now=rt.now(), tz=rt.tz,
                              incoming=Incoming("local", "bench", "rep1", text=q))
                t = time.perf_counter()
                try:
                    resolve_customer(ctx, q)
                    kind = "found"
                except Refusal as e:
                    kind = e.code
                times.append((time.perf_counter() - t) * 1000)
                kinds[kind] = kinds.get(kind, 0) + 1
            rows.append([cat, len(times), " ".join(f"{k}:{v}" for k, v in sorted(kinds.items())),
                         pct(times, 50), pct(times, 99), max(times)])
    rt.database.close()
    table(f"[{label}] handlers.lookup.resolve_customer for rep1 (DB queries included), ms",
          ["queries", "n", "outcomes", "p50", "p99", "max"], rows, digits=3)


# -- main -------------------------------------------------------------------------------------------

def main() -> None:
    p = C.parser(__doc__.split("\n")[0])
    p.add_argument("--pool", action="store_true",
                   help="also run the HTTP load with peewee's pooled connections (DATABASE_URL scheme "
                        "sqlite+pool:// / postgresql+pool://): a configuration change, for comparison")
    args = p.parse_args()
    cfg = QUICK if args.quick else FULL
    summary = []
    stamp = C.code_stamp()
    log(f"product code: newest file {stamp}")
    for label, url in C.db_targets(args.db, "commands"):
        C.wait_quiet(max_wait=0 if args.quick else 60)
        log(f"{label}: fresh database {url}")
        C.fresh_database(url)
        # the server runs on the system clock: the data is generated as of now
        now = datetime.utcnow().replace(microsecond=0)
        rt = C.make_runtime(url, now)
        sw = C.Stopwatch()
        counts = build_data(rt, now, cfg)
        names = customers_by_user(rt)
        rt.database.close()
        log(f"{label}: data ready in {sw.s:.1f} s: " + ", ".join(f"{k} {v:,}" for k, v in counts.items()))
        rows = http_benchmark(label, url, cfg, names)
        summary += [[label, *r] for r in rows]
        if args.pool:
            scheme, rest = url.split("://", 1)
            rows = http_benchmark(f"{label}+pool", f"{scheme}+pool://{rest}", cfg, names)
            summary += [[f"{label}+pool", *r] for r in rows]
        matching_benchmark(label, url, cfg)
    if summary:
        table("Summary: POST /local/messages, latency in ms (target: p99 < 20 ms)",
              ["db", "run", "requests", "errors", "req/s", "p50", "p95", "p99", "max", "worker CPU ms/req",
               "load 1m"], summary)
    if C.code_stamp() != stamp:
        log(f"WARNING: the product code changed during the run (newest file now {C.code_stamp()}); "
            f"figures may mix versions")
    if summary:
        print("worker CPU ms/req: user+system CPU of the two gunicorn workers per request (database server not "
              "included);\nload 1m: the machine's 1-minute load average after the run (2 cores; other sessions "
              "share them).")


if __name__ == "__main__":
    main()
