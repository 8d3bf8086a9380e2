"""The fault suite: the production shape under faults, counted at the fake chat APIs.

gunicorn with several workers and one `python -m bot scheduler`, on PostgreSQL and on MariaDB, with the
loopback WeCom and DingTalk fakes (tests/fakes) as the chat APIs. A steady stream of signed callbacks
(WeCom: encrypted, answered in the request; DingTalk: signed, answered through the outbox and the
session webhook), each one retried by the sender until it is accepted, as WeCom and DingTalk retry; and
a steady stream of outbox rows (messages the bot sends on its own, alternately to WeCom and DingTalk).
Meanwhile, one after the other:

  1. kill -9 a web worker in the middle of requests (a burst keeps every worker busy);
  2. kill -9 the scheduler in the middle of a delivery (the fake API holds the send), then restart it;
  3. restart PostgreSQL (`pg_ctlcluster … restart`; PostgreSQL run only) and wait for it to be back;
  4. take the fake APIs down (connections dropped) for 2 minutes, then make them hang (no answer);
  5. run two schedulers at once.

Then the load stops, the outbox drains, and the counts are checked: every inbound message answered
(WeCom: a passive reply; DingTalk: one session-webhook message) and recorded exactly once, every outbox
row delivered exactly once at the fakes, none lost, none duplicated.

    .venv/bin/python bench/faults.py [--db postgres|mysql|both] [--quick]

--quick: outages of 20 s instead of 120 s and a shorter run (about 3 minutes a database instead of 9).
`run()` is also what tests/security/test_faults.py calls for its short version (no database restart).
Databases: `bench_faults` on the local PostgreSQL and MariaDB servers (dropped and created anew).
"""
from __future__ import annotations

import argparse
import itertools
import json
import os
import random
import re
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from types import SimpleNamespace

import requests

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

URLS = {"postgres": os.environ.get("FAULTS_PG_URL", "postgresql://postgres@127.0.0.1:5432/bench_faults"),
        "mysql": os.environ.get("FAULTS_MYSQL_URL", "mysql://root@127.0.0.1:3306/bench_faults")}
CORP_ID, AGENT, WECOM_SECRET = "wx49f0ab532d5d035a", "1000002", "faults-wecom-secret"
WECOM_TOKEN, AES_KEY = "faultstoken", "kWxPEV2UEDyxWpmPdKC3F4dgPDmOvfKX1HGnEUDS1aR"
APP_KEY, APP_SECRET = "dingfaultskey", "ding-faults-secret"
CITIES = ["北京", "上海", "广州", "深圳", "杭州", "南京", "苏州", "成都", "重庆", "武汉", "西安", "天津", "青岛", "大连",
          "厦门", "长沙", "郑州", "济南", "合肥", "福州"]
REPS = [(f"r{i:02d}", f"{city}超市") for i, city in enumerate(CITIES, start=1)]
HANG_SECONDS = 30.0  # a hanging API answers nothing for this long (the bot's HTTP timeout is 5 s)


# -- the database ----------------------------------------------------------------------------------------

def fresh_database(url: str, name: str | None = None) -> str:
    """Drop and create the database of `url` (or `name` on its server); load the team. Returns its URL."""
    from playhouse.db_url import connect
    base, _, dbname = url.rpartition("/")
    dbname = name or dbname
    admin = connect(f"{base}/{'postgres' if url.startswith('postgres') else 'mysql'}")
    admin.connect()
    if url.startswith("postgres"):
        admin.connection().autocommit = True
    admin.execute_sql(f"DROP DATABASE IF EXISTS {dbname}")
    admin.execute_sql(f"CREATE DATABASE {dbname}" + (" CHARACTER SET utf8mb4" if url.startswith("mysql") else ""))
    admin.close()
    url = f"{base}/{dbname}"
    from storage.database import migrate_database, open_database
    from storage import deals, people
    from rules.funnel import load_funnel
    from datetime import datetime, timezone
    database = open_database(url)
    migrate_database(database)
    now = datetime.now(timezone.utc).replace(tzinfo=None, microsecond=0)
    first = load_funnel(None).first.key
    with database.connection_context():
        team = people.ensure_team("故障演练团队")
        for local_id, customer in REPS:
            rep, _ = people.upsert_rep(team, local_id, f"销售{local_id}", "rep", wecom_userid=local_id,
                                       dingtalk_staffid=local_id)
            deals.create_customer_and_deal(rep, customer, "", 80000, first, now)
    database.close()
    return url


# -- the fake APIs, with faults --------------------------------------------------------------------------

def with_faults(fake):
    """Give a fake server a switch: fake.fault.mode up | down (connections dropped) | hang (no answer);
    fake.fault.delay holds each POST that long, setting fake.fault.in_flight (a send under way)."""
    base = fake.server.RequestHandlerClass
    state = fake.fault = SimpleNamespace(mode="up", delay=0.0, in_flight=threading.Event(), dropped=0,
                                         answered=[])  # (session id, when) of each session-webhook answer

    class Handler(base):
        def _open(self) -> bool:
            if state.mode == "down":
                state.dropped += 1
                self.close_connection = True
                return False
            if state.mode == "hang":
                time.sleep(HANG_SECONDS)
                self.close_connection = True
                return False
            if state.delay and self.command == "POST":
                state.in_flight.set()
                time.sleep(state.delay)
            return True

        def do_GET(self):
            if self._open():
                super().do_GET()

        def do_POST(self):
            if self._open():
                super().do_POST()
                if self.path.startswith("/robot/sendBySession"):
                    state.answered.append((self.path.rpartition("session=")[2], time.monotonic()))

    fake.server.RequestHandlerClass = Handler
    return fake


def start_fakes():
    from tests.fakes.dingtalk_server import FakeDingTalk
    from tests.fakes.wecom_server import FakeWeCom
    wecom = with_faults(FakeWeCom(CORP_ID, WECOM_SECRET)).start()
    ding = with_faults(FakeDingTalk(APP_KEY, APP_SECRET, APP_KEY)).start()
    wecom.member_limit = ding.robot_limit = 10 ** 6  # the bot keeps its own limits; the fake only counts
    return wecom, ding


# -- the processes ---------------------------------------------------------------------------------------

class Stack:
    """gunicorn (several workers) and schedulers, as the production shape runs them."""

    def __init__(self, url: str, wecom, ding, workdir: str, lease: int | None = None):
        bindir = Path(sys.executable).parent
        self.gunicorn = str(bindir / "gunicorn")
        self.port = free_port()
        self.env = {"PATH": os.environ.get("PATH", ""), "PYTHONPATH": str(ROOT), "PYTHONUNBUFFERED": "1",
                    "DATABASE_URL": url, "BOT_SECRET_KEY": "faults-signing-key", "BOT_PUBLIC_URL": "https://bot.example.com",
                    "WECOM_CORP_ID": CORP_ID, "WECOM_AGENT_ID": AGENT, "WECOM_SECRET": WECOM_SECRET,
                    "WECOM_TOKEN": WECOM_TOKEN, "WECOM_AES_KEY": AES_KEY, "WECOM_API_BASE": wecom.base,
                    "DINGTALK_APP_KEY": APP_KEY, "DINGTALK_APP_SECRET": APP_SECRET, "DINGTALK_ROBOT_CODE": APP_KEY,
                    "DINGTALK_API_BASE": ding.base, "DINGTALK_OAPI_BASE": ding.base, "DINGTALK_MODE": "http"}
        if lease:
            self.env["BOT_DELIVERY_LEASE_SECONDS"] = str(lease)
        self.workdir = workdir
        self.web: subprocess.Popen | None = None
        self.schedulers: list[subprocess.Popen] = []
        self.kills: list[float] = []  # when a kill -9 hit a process that sends (a web worker, a scheduler)
        self.logs = open(os.path.join(workdir, "processes.log"), "ab")  # noqa: SIM115  closed in stop()

    @property
    def origin(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start_web(self, workers: int = 3) -> None:
        self.web = subprocess.Popen([self.gunicorn, "-w", str(workers), "-b", f"127.0.0.1:{self.port}",
                                     "--timeout", "60", "--graceful-timeout", "5", "--log-level", "warning",
                                     "--access-logfile", os.path.join(self.workdir, "access.log"),
                                     "bot:create_app()"], cwd=self.workdir, env=self.env,
                                    stdout=self.logs, stderr=self.logs)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                if requests.get(self.origin + "/healthz", timeout=2).status_code == 200:
                    return
            except requests.RequestException:
                pass
            time.sleep(0.2)
        raise RuntimeError("gunicorn did not come up (see processes.log)")

    def workers(self) -> list[int]:
        """The web workers' pids (the gunicorn master's children)."""
        try:
            text = Path(f"/proc/{self.web.pid}/task/{self.web.pid}/children").read_text()
        except OSError:
            return []
        return [int(p) for p in text.split()]

    def busy_workers(self) -> list[int]:
        """The web workers holding a client's connection right now (a sync worker holds one only while it
        serves a request): the ones whose kill -9 cuts a request."""
        established = set()
        for table in ("/proc/net/tcp", "/proc/net/tcp6"):
            try:
                lines = Path(table).read_text().splitlines()[1:]
            except OSError:
                continue
            for line in lines:
                fields = line.split()
                if fields[3] == "01" and int(fields[1].rsplit(":", 1)[1], 16) == self.port:
                    established.add(fields[9])  # the socket's inode
        busy = []
        for pid in self.workers():
            try:
                fds = os.listdir(f"/proc/{pid}/fd")
                inodes = {os.readlink(f"/proc/{pid}/fd/{fd}")[8:-1] for fd in fds}
            except OSError:
                continue
            if inodes & established:
                busy.append(pid)
        return busy

    def start_scheduler(self) -> subprocess.Popen:
        proc = subprocess.Popen([sys.executable, "-m", "bot", "scheduler"], cwd=self.workdir, env=self.env,
                                stdout=self.logs, stderr=self.logs)
        self.schedulers.append(proc)
        return proc

    def kill(self, proc: subprocess.Popen) -> None:
        self.kills.append(time.monotonic())
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
        self.schedulers = [p for p in self.schedulers if p is not proc]

    def stop(self) -> None:
        for proc in [*self.schedulers, self.web]:
            if proc is not None and proc.poll() is None:
                proc.terminate()
        for proc in [*self.schedulers, self.web]:
            if proc is not None:
                try:
                    proc.wait(10)
                except subprocess.TimeoutExpired:
                    proc.kill()
        self.logs.close()


def free_port() -> int:
    import socket
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


# -- the load: signed callbacks, retried until accepted, and outbox rows ----------------------------------

@dataclass
class Tally:
    wecom_sent: int = 0
    wecom_answered: int = 0
    ding_sent: int = 0
    ding_accepted: int = 0
    attempts: int = 0
    cut: int = 0  # attempts that met a dropped connection or a 5xx (a killed worker, the database away)
    gave_up: list = field(default_factory=list)
    sessions: dict = field(default_factory=dict)  # DingTalk session id -> message number
    markers: list = field(default_factory=list)  # (marker, channel) of the outbox rows queued
    lock: threading.Lock = field(default_factory=threading.Lock)


class Load:
    def __init__(self, stack: Stack, ding, rate: float, threads: int = 6, give_up_after: float = 900.0):
        from wechatpy.enterprise.crypto import WeChatCrypto
        self.stack, self.ding, self.rate = stack, ding, rate
        self.crypto = WeChatCrypto(WECOM_TOKEN, AES_KEY, CORP_ID)
        self.tally = Tally()
        self.numbers = itertools.count(1)
        self.stopping = threading.Event()
        self.give_up_after = give_up_after
        self.threads = [threading.Thread(target=self._loop, daemon=True) for _ in range(threads)]
        self.http = threading.local()

    def start(self):
        for t in self.threads:
            t.start()
        return self

    def stop(self) -> None:
        self.stopping.set()
        for t in self.threads:
            t.join()

    def _session(self) -> requests.Session:
        if not hasattr(self.http, "s"):
            self.http.s = requests.Session()
        return self.http.s

    def _loop(self) -> None:
        pause = len(self.threads) / self.rate
        while not self.stopping.is_set():
            started = time.monotonic()
            self.one(next(self.numbers))
            time.sleep(max(0.0, pause - (time.monotonic() - started)))

    def burst(self, n: int) -> list[threading.Thread]:
        """n messages at once (every web worker busy): what a kill then cuts is mid-request."""
        threads = [threading.Thread(target=self.one, args=(next(self.numbers),), daemon=True) for _ in range(n)]
        for t in threads:
            t.start()
        return threads

    def one(self, n: int) -> None:
        """Send message n (WeCom when odd, DingTalk when even) until it is accepted."""
        rep, customer = REPS[n % len(REPS)]
        text = f"拜访 {customer} 见了采购总监王总,聊了陈列 编号{n}"
        wecom = n % 2 == 1
        with self.tally.lock:
            if wecom:
                self.tally.wecom_sent += 1
            else:
                self.tally.ding_sent += 1
        deadline = time.monotonic() + self.give_up_after
        body = None
        while time.monotonic() < deadline:
            with self.tally.lock:
                self.tally.attempts += 1
            try:
                if wecom:
                    if self._wecom(rep, text, n):
                        with self.tally.lock:
                            self.tally.wecom_answered += 1
                        return
                else:
                    body = body or self._ding_body(rep, text, n)
                    if self._ding(body):
                        with self.tally.lock:
                            self.tally.ding_accepted += 1
                        return
            except requests.RequestException:
                pass
            with self.tally.lock:
                self.tally.cut += 1
            time.sleep(0.5)
        with self.tally.lock:
            self.tally.gave_up.append(n)

    def _wecom(self, rep: str, text: str, n: int) -> bool:
        import xmltodict
        inner = (f"<xml><ToUserName><![CDATA[{CORP_ID}]]></ToUserName><FromUserName><![CDATA[{rep}]]></FromUserName>"
                 f"<CreateTime>{int(time.time())}</CreateTime><MsgType><![CDATA[text]]></MsgType>"
                 f"<Content><![CDATA[{text}]]></Content><MsgId>{n}</MsgId><AgentID>{AGENT}</AgentID></xml>")
        nonce, ts = f"n{n}{random.randrange(10 ** 6)}", str(int(time.time()))
        env = xmltodict.parse(self.crypto.encrypt_message(inner, nonce, ts))["xml"]
        body = f"<xml><ToUserName><![CDATA[{CORP_ID}]]></ToUserName><Encrypt><![CDATA[{env['Encrypt']}]]></Encrypt></xml>"
        r = self._session().post(f"{self.stack.origin}/wecom/callback", data=body.encode(), timeout=10,
                                 params={"msg_signature": env["MsgSignature"], "timestamp": ts, "nonce": nonce},
                                 headers={"Content-Type": "text/xml"})
        if r.status_code != 200:
            return False
        reply = xmltodict.parse(r.text)["xml"]
        plain = self.crypto.decrypt_message(r.text, reply["MsgSignature"], reply["TimeStamp"], reply["Nonce"])
        return "已记录拜访" in plain

    def _ding_body(self, rep: str, text: str, n: int) -> dict:
        now = int(time.time() * 1000)
        webhook = self.ding.session(now + 90 * 60 * 1000)
        with self.tally.lock:
            self.tally.sessions[webhook.rsplit("=", 1)[1]] = n
        return {"msgtype": "text", "msgId": f"fault-{n}", "createAt": now, "conversationType": "1",
                "conversationId": f"cid{rep}", "senderStaffId": rep, "robotCode": APP_KEY,
                "sessionWebhook": webhook, "sessionWebhookExpiredTime": now + 90 * 60 * 1000,
                "text": {"content": text}}

    def _ding(self, body: dict) -> bool:
        from bot.channels.dingtalk.sign import sign
        ts = str(int(time.time() * 1000))  # signed anew at each attempt, as DingTalk does
        r = self._session().post(f"{self.stack.origin}/dingtalk/callback", timeout=10,
                                 data=json.dumps(body, ensure_ascii=False).encode(),
                                 headers={"Content-Type": "application/json", "timestamp": ts,
                                          "sign": sign(ts, APP_SECRET)})
        return r.status_code == 200


class Marks:
    """Outbox rows the bot sends on its own (as the scheduler's jobs queue them), one every `every`
    seconds, alternately to WeCom and DingTalk; each carries a marker counted at the fakes."""

    def __init__(self, url: str, tally: Tally, every: float = 0.5):
        self.url, self.tally, self.every = url, tally, every
        self.stopping = threading.Event()
        self.thread = threading.Thread(target=self._loop, daemon=True)

    def start(self):
        self.thread.start()
        return self

    def stop(self) -> None:
        self.stopping.set()
        self.thread.join()

    def _loop(self) -> None:
        from datetime import datetime, timezone
        from storage import outbox
        from storage.database import open_database
        database = open_database(self.url)
        for k in itertools.count(1):
            if self.stopping.wait(self.every):
                break
            channel = "wecom" if k % 2 else "dingtalk"
            rep, _ = REPS[k % len(REPS)]
            marker = f"MARK{k:05d}"
            now = datetime.now(timezone.utc).replace(tzinfo=None, microsecond=0)
            try:
                with database.connection_context():
                    outbox.enqueue(f"faults:{marker}", channel, rep,
                                   {"template": "note_added", "data": {"customer": marker}}, now)
            except Exception:  # noqa: BLE001  the database restarting: this row was not queued
                continue
            with self.tally.lock:
                self.tally.markers.append((marker, channel))
        database.close()


# -- the faults ------------------------------------------------------------------------------------------

def log(msg: str) -> None:
    print(f"  [{time.strftime('%H:%M:%S')}] {msg}", flush=True)


def kill_web_worker(stack: Stack, load: Load) -> None:
    cut = load.tally.cut
    done = lambda: load.tally.wecom_answered + load.tally.ding_accepted  # noqa: E731
    for _ in range(5):  # a worker killed between two requests cuts none: then again, under another burst
        before = done()
        burst = load.burst(60)
        # kill once the burst is being served (a few answered, most still queued)
        wait_until = time.monotonic() + 5
        while done() < before + 5 and time.monotonic() < wait_until:
            time.sleep(0.002)
        busy = []
        while not busy and time.monotonic() < wait_until + 2:
            busy = stack.busy_workers()
        victim = random.choice(busy or stack.workers())
        stack.kills.append(time.monotonic())  # its courier thread may be sending a DingTalk answer right now
        os.kill(victim, signal.SIGKILL)
        for t in burst:
            t.join()
        log(f"kill -9 web worker {victim} under a burst of 60 messages (gunicorn starts another); "
            f"requests cut: {load.tally.cut - cut}")
        if load.tally.cut > cut:
            return
        time.sleep(1)  # gunicorn starts the next worker


def kill_scheduler_mid_delivery(stack: Stack, wecom, ding) -> str:
    for fake in (wecom, ding):
        fake.fault.in_flight.clear()
        fake.fault.delay = 2.0
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and not (wecom.fault.in_flight.is_set() or ding.fault.in_flight.is_set()):
        time.sleep(0.02)
    which = "WeCom" if wecom.fault.in_flight.is_set() else "DingTalk"
    victim = stack.schedulers[0]
    stack.kill(victim)
    for fake in (wecom, ding):
        fake.fault.delay = 0.0
    stack.start_scheduler()
    log(f"kill -9 scheduler {victim.pid} while a {which} send was in flight; a new scheduler started")
    return which


def restart_postgresql() -> float:
    version = sorted(os.listdir("/etc/postgresql"))[-1]
    started = time.monotonic()
    subprocess.run(["pg_ctlcluster", "--skip-systemctl-redirect", version, "main", "restart"], check=True,
                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    while subprocess.run(["pg_isready", "-q", "-h", "127.0.0.1"]).returncode != 0:
        if time.monotonic() - started > 120:
            raise RuntimeError("PostgreSQL did not come back within 2 minutes")
        time.sleep(0.2)
    seconds = time.monotonic() - started
    log(f"PostgreSQL {version}/main restarted, accepting again after {seconds:.1f} s")
    return seconds


def api_outage(wecom, ding, mode: str, seconds: float) -> None:
    for fake in (wecom, ding):
        fake.fault.mode = mode
    log(f"fake WeCom and DingTalk APIs {'down (connections dropped)' if mode == 'down' else 'hanging'} "
        f"for {seconds:.0f} s")
    time.sleep(seconds)
    for fake in (wecom, ding):
        fake.fault.mode = "up"


# -- counting ----------------------------------------------------------------------------------------------

MARK = re.compile(r"MARK\d{5}")


def count(url: str, tally: Tally, wecom, ding) -> dict:
    """What arrived at the fakes and what the database recorded, against what was sent."""
    from peewee import fn
    from storage.database import open_database
    from storage.models import Activity, InboundMessage, Outbox
    at_fakes = Counter()
    for body in wecom.sent + ding.oto + ding.group_api + ding.session_msgs:  # a message names its marker
        at_fakes.update(set(MARK.findall(json.dumps(body, ensure_ascii=False))))  # in its title and its text
    marks = [m for m, _ in tally.markers]
    session_counts = Counter(m["session"] for m in ding.session_msgs if m["session"] in tally.sessions)
    database = open_database(url)
    with database.connection_context():
        activities = Activity.select().count()
        inbound = dict(InboundMessage.select(InboundMessage.channel, fn.COUNT(InboundMessage.id))
                       .group_by(InboundMessage.channel).tuples())
        statuses = dict(Outbox.select(Outbox.status, fn.COUNT(Outbox.id)).group_by(Outbox.status).tuples())
        failed = [(r.key, r.last_error) for r in Outbox.select().where(Outbox.status == "failed").limit(5)]
    database.close()
    ding_unanswered = [n for sid, n in tally.sessions.items() if session_counts[sid] == 0]
    return {
        "wecom_sent": tally.wecom_sent, "wecom_answered": tally.wecom_answered,
        "ding_sent": tally.ding_sent, "ding_accepted": tally.ding_accepted,
        "ding_answered_once": sum(1 for c in session_counts.values() if c == 1),
        "ding_answered_twice_or_more": sum(1 for c in session_counts.values() if c > 1),
        "ding_unanswered": len(ding_unanswered),
        "ding_replies_by_openapi": len(ding.oto) - sum(1 for b in ding.oto if MARK.search(json.dumps(b))),
        "activities": activities, "inbound_records": inbound,
        "attempts": tally.attempts, "attempts_cut": tally.cut, "gave_up": len(tally.gave_up),
        "outbox_rows_queued": len(marks), "outbox_delivered_once": sum(1 for m in marks if at_fakes[m] == 1),
        "outbox_duplicated": sum(1 for m in marks if at_fakes[m] > 1),
        "outbox_lost": sum(1 for m in marks if at_fakes[m] == 0),
        "wecom_duplicates_swallowed": wecom.deduped, "outbox_statuses": statuses, "failed_rows": failed,
        "dropped_by_outage": wecom.fault.dropped + ding.fault.dropped,
    }


def lost(result: dict) -> int:
    """Messages lost anywhere: an inbound one unanswered or unrecorded, an outbox row never delivered."""
    sent = result["wecom_sent"] + result["ding_sent"]
    return ((result["wecom_sent"] - result["wecom_answered"]) + result["ding_unanswered"] + result["gave_up"]
            + abs(sent - result["activities"]) + result["outbox_lost"]
            + sum(n for s, n in result["outbox_statuses"].items() if s != "sent"))


def duplicated(result: dict) -> int:
    return result["ding_answered_twice_or_more"] + result["outbox_duplicated"]


def explained(result: dict) -> int:
    """Duplicates no system can avoid here: a DingTalk answer in flight when its sender was killed (a
    scheduler, or a web worker's instant-reply thread): the fake had the request, DingTalk's APIs take no
    idempotency key, so the row's retry after its lease is a second message. Counted as the duplicated
    answers whose first copy reached the fake within KILL_WINDOW seconds of a kill -9 (after it, too: the
    fake held the scheduler's send for 2 s before answering it). A WeCom send
    in flight is swallowed by WeCom's duplicate check. A DingTalk OpenAPI send held in flight at the
    scheduler's kill counts too (one, either way)."""
    at_scheduler_kill = sum(1 for which in result["in_flight_at_kill"] if which == "DingTalk")
    return result["ding_duplicates_at_a_kill"] + min(at_scheduler_kill, result["outbox_duplicated"])


KILL_WINDOW = 3.0


def duplicates_at_a_kill(ding, sessions, kills: list[float]) -> int:
    """The DingTalk answers that arrived twice and whose first copy arrived around a kill -9."""
    first, seen = {}, Counter()
    for sid, at in ding.fault.answered:
        if sid in sessions:
            seen[sid] += 1
            first.setdefault(sid, at)
    return sum(1 for sid, n in seen.items()
               if n > 1 and any(abs(k - first[sid]) <= KILL_WINDOW for k in kills))


def ok(result: dict) -> bool:
    return lost(result) == 0 and duplicated(result) <= explained(result)


def drained(url: str) -> bool:
    from storage.database import open_database
    from storage.models import Outbox
    database = open_database(url)
    with database.connection_context():
        busy = Outbox.select().where(Outbox.status.in_(["pending", "sending"])).count()
    database.close()
    return busy == 0


# -- the scenario ----------------------------------------------------------------------------------------

def run(kind: str, quick: bool = False, restart_db: bool = True, short: bool = False, url: str | None = None,
        lease: int | None = None, rate: float = 8.0, database_name: str | None = None) -> dict:
    """One database's run. short: the suite's version (a worker and a scheduler killed, two schedulers,
    a 5-second outage; no database restart); quick: 20-second outages; else the full 2-minute outage."""
    url = fresh_database(url or URLS[kind], database_name)
    wecom, ding = start_fakes()
    workdir = tempfile.mkdtemp(prefix="faults-")
    stack = Stack(url, wecom, ding, workdir, lease=lease)
    outage = 5.0 if short else 20.0 if quick else 120.0
    phases = {}
    in_flight = []
    try:
        stack.start_web(workers=3)
        stack.start_scheduler()
        load = Load(stack, ding, rate=rate).start()
        marks = Marks(url, load.tally).start()
        started = time.monotonic()

        def phase(name, fn, *args):
            t = time.monotonic()
            out = fn(*args)
            phases[name] = round(time.monotonic() - t, 1)
            time.sleep(2 if short else 5)
            return out

        time.sleep(2 if short else 5)
        phase("kill -9 web worker", kill_web_worker, stack, load)
        if not short:
            phase("kill -9 web worker (again)", kill_web_worker, stack, load)
        in_flight.append(phase("kill -9 scheduler mid-delivery", kill_scheduler_mid_delivery, stack, wecom, ding))
        if kind == "postgres" and restart_db and not short:
            phases["postgresql back after (s)"] = restart_postgresql()
            time.sleep(5)
        phase("API down", api_outage, wecom, ding, "down", outage)
        if not short:
            phase("API hanging", api_outage, wecom, ding, "hang", outage / 2)
        second = stack.start_scheduler()
        log("a second scheduler runs beside the first")
        time.sleep(outage)
        stack.kill(second)
        log("the second scheduler stopped")
        marks.stop()
        load.stop()
        log(f"load stopped after {time.monotonic() - started:.0f} s; waiting for the outbox to drain")
        deadline = time.monotonic() + (300 if short else 1200)
        while time.monotonic() < deadline and not drained(url):
            time.sleep(2)
        time.sleep(1)  # the last sends' answers
        result = count(url, load.tally, wecom, ding)
        result["seconds"] = round(time.monotonic() - started)
        result["phases"] = phases
        result["in_flight_at_kill"] = in_flight
        result["ding_duplicates_at_a_kill"] = duplicates_at_a_kill(ding, load.tally.sessions, stack.kills)
        result["sender_kills"] = len(stack.kills)
        result["access_log_link_tokens"] = len(re.findall(r"/a/[A-Za-z0-9_-]{20,}",
                                                          Path(workdir, "access.log").read_text(errors="replace")))
        return result
    finally:
        stack.stop()
        wecom.stop()
        ding.stop()


def report(kind: str, r: dict) -> None:
    print(f"\n{kind}: {r['seconds']} s under load; phases {r['phases']}")
    print(f"  inbound WeCom:    {r['wecom_sent']} sent, {r['wecom_answered']} answered (passive reply)")
    print(f"  inbound DingTalk: {r['ding_sent']} sent, {r['ding_accepted']} accepted, answered once "
          f"{r['ding_answered_once']}, twice or more {r['ding_answered_twice_or_more']}, "
          f"unanswered {r['ding_unanswered']}")
    print(f"  activities recorded {r['activities']} (messages sent {r['wecom_sent'] + r['ding_sent']}); "
          f"inbound records {r['inbound_records']}")
    print(f"  sender attempts {r['attempts']}, cut by a fault {r['attempts_cut']}, given up {r['gave_up']}")
    print(f"  outbox rows queued {r['outbox_rows_queued']}: delivered once {r['outbox_delivered_once']}, "
          f"duplicated {r['outbox_duplicated']}, lost {r['outbox_lost']}; WeCom duplicate check swallowed "
          f"{r['wecom_duplicates_swallowed']}; statuses {r['outbox_statuses']}")
    if r["failed_rows"]:
        print(f"  failed rows: {r['failed_rows']}")
    print(f"  API requests dropped by the outage {r['dropped_by_outage']}; link tokens in the access log "
          f"{r['access_log_link_tokens']}")
    print(f"  lost {lost(r)}, duplicated {duplicated(r)} (of which the DingTalk send in flight at a scheduler "
          f"kill -9: {min(duplicated(r), explained(r))}; sends in flight at the kills: {r['in_flight_at_kill']})")
    print(f"  => {'OK' if ok(r) else 'NOT OK'}: none lost; "
          f"{'none duplicated' if duplicated(r) == 0 else 'duplicates only the in-flight DingTalk send'}")


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--db", choices=["postgres", "mysql", "both"], default="both")
    p.add_argument("--quick", action="store_true", help="20-second outages, a shorter run")
    p.add_argument("--no-restart", action="store_true", help="do not restart PostgreSQL")
    args = p.parse_args()
    import logging
    logging.disable(logging.CRITICAL)
    good = True
    for kind in (["postgres", "mysql"] if args.db == "both" else [args.db]):
        print(f"== {kind} ({'quick' if args.quick else 'full'}) ==", flush=True)
        result = run(kind, quick=args.quick, restart_db=not args.no_restart)
        report(kind, result)
        good = good and ok(result)
    return 0 if good else 1


if __name__ == "__main__":
    sys.exit(main())
