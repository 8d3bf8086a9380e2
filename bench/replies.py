"""Reply latency: from a signed DingTalk callback to the answer reaching the conversation's session webhook.

gunicorn with 2 sync workers serves the bot (SQLite or PostgreSQL); a loopback session webhook in this
process records when each answer arrives (every message has a session webhook URL of its own, so an
answer sent twice or never is counted). The mix of bench/callbacks.py: one rep in six logs a visit, five
ask for `我的客户`. By default `python -m bot scheduler` runs beside it, as in production: its delivery
poll (every 3 s) races the instant path, and every answer must still arrive exactly once.
Targets: p50 under 300 ms, p99 under 1 s, also at 50 messages a second.

    .venv/bin/python bench/replies.py [--db sqlite|postgres|both] [--seconds 10] [--rates 5,50] [--no-scheduler]

The load generator, the webhook and the database share the machine's 2 cores with the bot.
"""
from __future__ import annotations

import argparse
import http.client
import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, urlparse

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

import _common as C  # noqa: E402
from callbacks import DT_ROBOT, DT_SECRET, PG_URL, env_for, prepare  # noqa: E402

from bot.channels.dingtalk.sign import sign  # noqa: E402


class Webhook:
    """The session webhooks (DINGTALK_API_BASE points here, so the bot takes them for DingTalk's): POST
    /robot/sendBySession?m=<msgId> records the arrival time of each answer."""

    def __init__(self):
        self.arrived: dict[str, list[float]] = {}
        self.lock = threading.Lock()
        hook = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def setup(self):
                super().setup()
                # the headers and the body are two writes: without this the body waits for the
                # client's delayed ACK (40 ms), which a real server does not add
                self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

            def do_POST(self):
                t = time.perf_counter()
                self.rfile.read(int(self.headers.get("Content-Length", 0)))
                m = parse_qs(urlparse(self.path).query).get("m", [""])[0]
                with hook.lock:
                    hook.arrived.setdefault(m, []).append(t)
                body = b'{"errcode":0,"errmsg":"ok"}'
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *a):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.port = self.server.server_address[1]
        threading.Thread(target=self.server.serve_forever, daemon=True).start()


import itertools  # noqa: E402

COUNTER = itertools.count(1)  # each run starts at other reps
REPS = 600  # senders: at 50 messages a second each rep sends about one in 12 s, as people do


def add_reps(url: str) -> None:
    """REPS more reps in the demo team (bench00..), each with a customer of their own (客户bench00)."""
    roster = ROOT / "bench" / "out" / "replies_roster.csv"
    roster.write_text("team,local_id,name,role,dingtalk_staffid\n" + "".join(
        f"华东饮料团队,bench{i:03d},测试{i:03d},rep,bench{i:03d}\n" for i in range(REPS)), encoding="utf-8")
    subprocess.run([sys.executable, "-m", "bot", "import", str(roster)], cwd=ROOT, env=env_for(url), check=True,
                   capture_output=True)


def text_for(i: int, first: bool = False) -> tuple[str, str]:
    staff = f"bench{i % REPS:03d}"
    if first:
        return staff, f"新客户 客户{staff} 金额8万"
    return staff, f"拜访 客户{staff} 见了采购总监王总,下一步周五前发方案" if i % 6 == 0 else "我的客户"


def body_for(i: int, hook_port: int, first: bool = False) -> tuple[str, bytes]:
    staff, text = text_for(i, first)
    msg_id = f"msg{uuid.uuid4().hex}"
    now = int(time.time() * 1000)
    return msg_id, json.dumps({
        "msgtype": "text", "text": {"content": text}, "msgId": msg_id, "createAt": now, "conversationType": "1",
        "conversationId": f"cid{staff}", "senderStaffId": staff, "senderNick": staff,
        "sessionWebhook": f"http://127.0.0.1:{hook_port}/robot/sendBySession?m={msg_id}",
        "sessionWebhookExpiredTime": now + 5_400_000, "robotCode": DT_ROBOT}, ensure_ascii=False).encode()


def paced(port: int, hook: Webhook, rate: float, seconds: float, conns: int = 4, first: bool = False) -> dict:
    """Send rate*seconds callbacks, paced, over `conns` keep-alive connections; then wait for the answers."""
    total = int(rate * seconds)
    offset = next(COUNTER) * 7919 if not first else 0
    bodies = [body_for(i + offset, hook.port, first) for i in range(total)]
    sent_at: dict[str, float] = {}
    errors = [0]
    stamp = [0]
    start = time.perf_counter() + 0.05
    lock = threading.Lock()

    def worker(k: int):
        c = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
        for i in range(k, total, conns):
            due = start + i / rate
            pause = due - time.perf_counter()
            if pause > 0:
                time.sleep(pause)
            msg_id, body = bodies[i]
            with lock:  # DingTalk's timestamps differ per callback; a (timestamp, sign) pair is good for one
                stamp[0] = max(int(time.time() * 1000), stamp[0] + 1)
                ts = str(stamp[0])
            t0 = time.perf_counter()
            try:
                c.request("POST", "/dingtalk/callback", body=body, headers={
                    "Content-Type": "application/json", "timestamp": ts, "sign": sign(ts, DT_SECRET)})
                r = c.getresponse()
                r.read()
                ok = r.status == 200
            except OSError:
                ok = False
                c = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
            with lock:
                sent_at[msg_id] = t0
                if not ok:
                    errors[0] += 1

    threads = [threading.Thread(target=worker, args=(k,)) for k in range(conns)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    deadline = time.perf_counter() + 10  # the poll (3 s) sends what the instant path did not
    while time.perf_counter() < deadline and len(hook.arrived.keys() & sent_at.keys()) < len(sent_at):
        time.sleep(0.05)
    time.sleep(0.5)  # anything sent twice arrives now
    with hook.lock:
        arrived = {m: list(v) for m, v in hook.arrived.items() if m in sent_at}
    lat = sorted((v[0] - sent_at[m]) * 1000 for m, v in arrived.items())
    # nearest rank: a percentile is a latency that was measured (statistics.quantiles extrapolates past the
    # slowest of 50 answers); none measured: NaN, which no target accepts
    return {"n": total, "answered": len(arrived), "twice": sum(1 for v in arrived.values() if len(v) > 1),
            "errors": errors[0], "p50": C.pct(lat, 50), "p99": C.pct(lat, 99),
            "max": lat[-1] if lat else 0}


def run(kind: str, seconds: float, rates: list[float], scheduler: bool, instant: str = "1") -> None:
    url = f"sqlite:///{ROOT}/bench/out/replies.db" if kind == "sqlite" else PG_URL.replace("callbacks", "replies")
    os.makedirs(ROOT / "bench" / "out", exist_ok=True)
    prepare(url)
    add_reps(url)
    hook = Webhook()
    env = {**env_for(url), "DINGTALK_API_BASE": f"http://127.0.0.1:{hook.port}", "BOT_INSTANT_REPLIES": instant}
    port = C.free_port()
    procs = [subprocess.Popen([sys.executable, "-m", "gunicorn", "-w", "2", "-b", f"127.0.0.1:{port}",
                               "--log-level", "warning", "bot:create_app()"], cwd=ROOT, env=env,
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)]
    if scheduler:
        procs.append(subprocess.Popen([sys.executable, "-m", "bot", "scheduler"], cwd=ROOT, env=env,
                                      stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True))
    try:
        C.wait_healthy(port)
        # warm-up: every rep creates a customer (each worker loads and prepares its queries, starts its courier)
        paced(port, hook, 100, REPS / 100, first=True)
        print(f"[{kind}] gunicorn -w 2, instant replies {'on' if instant != '0' else 'OFF'}, "
              f"DingTalk HTTP callbacks from {REPS} reps paced for {seconds:g} s per rate"
              f"{', scheduler process beside it (delivery poll every 3 s)' if scheduler else ', no scheduler'}")
        for rate in rates:
            r = paced(port, hook, rate, seconds)
            ok = r["p50"] < 300 and r["p99"] < 1000 and r["answered"] == r["n"] and r["twice"] == 0
            print(f"  {rate:5.0f} msg/s  n={r['n']:<5d} answered={r['answered']:<5d} twice={r['twice']} "
                  f"errors={r['errors']}  callback -> session webhook: p50 {r['p50']:6.1f} ms  "
                  f"p99 {r['p99']:6.1f} ms  max {r['max']:6.1f} ms  {'OK' if ok else 'OVER'} "
                  f"(targets p50 < 300 ms, p99 < 1 s, each answer once)")
    finally:
        for p in procs:
            os.killpg(p.pid, signal.SIGTERM)
            p.wait(10)
        hook.server.shutdown()


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--db", default="sqlite", choices=["sqlite", "postgres", "both"])
    p.add_argument("--seconds", type=float, default=10)
    p.add_argument("--rates", default="5,50")
    p.add_argument("--no-scheduler", action="store_true")
    p.add_argument("--instant", default="1", help="0: instant replies off (the delivery poll alone, as before)")
    p.add_argument("--quick", action="store_true")
    a = p.parse_args()
    for kind in (["sqlite", "postgres"] if a.db == "both" else [a.db]):
        run(kind, 2 if a.quick else a.seconds, [float(x) for x in a.rates.split(",")], not a.no_scheduler, a.instant)


if __name__ == "__main__":
    main()
