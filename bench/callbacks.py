"""Signed/encrypted chat callbacks end to end under gunicorn (2 workers), beside reference routes.

WeCom (issue): decrypt, parse, command, database write, encrypted reply; distinct MsgIds; 8 concurrent
connections; reference routes on the same server: a bare Flask route and wechatpy's
decrypt + parse + encrypt only. Targets: p99 under 25 ms; throughput at least half the crypto-only route's.
DingTalk (issue): signed callbacks at 100 requests a second (paced), p50/p99 beside the bare route.
Target: p99 under 25 ms.

    .venv/bin/python bench/callbacks.py [--db sqlite|postgres|both] [--seconds 10] [--quick]

The load generator runs on the same 2 cores as the server; its CPU use lowers every figure alike. The three
WeCom routes run in interleaved rounds, so a change in the machine's speed during the run falls on all of them.
"""
from __future__ import annotations

import argparse
import http.client
import json
import os
import signal
import subprocess
import sys
import threading
import time
import uuid
from pathlib import Path

import xmltodict

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

import _common as C  # noqa: E402

TOKEN, AES_KEY, CORP_ID = "123456", "kWxPEV2UEDyxWpmPdKC3F4dgPDmOvfKX1HGnEUDS1aR", "wx49f0ab532d5d035a"
DT_KEY, DT_SECRET, DT_ROBOT = "dingbench", "bench-app-secret", "dingbench"
PG_URL = "postgresql://postgres@127.0.0.1:5432/bench_callbacks"
CUSTOMERS = ["华联超市", "永辉超市", "物美超市"]


def env_for(url: str) -> dict:
    return {**os.environ, "DATABASE_URL": url, "PYTHONPATH": str(ROOT), "BOT_BENCH_ROUTES": "1",
            "WECOM_CORP_ID": CORP_ID, "WECOM_AGENT_ID": "1000002", "WECOM_SECRET": "x", "WECOM_TOKEN": TOKEN,
            "WECOM_AES_KEY": AES_KEY, "WECOM_API_BASE": "http://127.0.0.1:9/cgi-bin/",
            "DINGTALK_APP_KEY": DT_KEY, "DINGTALK_APP_SECRET": DT_SECRET, "DINGTALK_ROBOT_CODE": DT_ROBOT,
            "DINGTALK_API_BASE": "http://127.0.0.1:9"}


def prepare(url: str) -> None:
    C.fresh_database(url)
    env = env_for(url)
    for verb in (["initdb"], ["demo"]):
        subprocess.run([sys.executable, "-m", "bot", *verb], cwd=ROOT, env=env, check=True, capture_output=True)


def wecom_requests(n: int) -> list[tuple[str, bytes]]:
    from wechatpy.enterprise.crypto import WeChatCrypto
    crypto = WeChatCrypto(TOKEN, AES_KEY, CORP_ID)
    out = []
    for i in range(n):
        user = f"rep{1 + i % 6}"
        inner = (f"<xml><ToUserName><![CDATA[{CORP_ID}]]></ToUserName><FromUserName><![CDATA[{user}]]>"
                 f"</FromUserName><CreateTime>{int(time.time())}</CreateTime><MsgType><![CDATA[text]]></MsgType>"
                 f"<Content><![CDATA[拜访 {CUSTOMERS[0] if user == 'rep1' else '我的'} 见了采购总监王总,下一步周五前发方案]]>"
                 f"</Content><MsgId>{10 ** 12 + i}{uuid.uuid4().int % 1000}</MsgId><AgentID>1000002</AgentID></xml>")
        if user != "rep1":
            inner = inner.replace("拜访 我的 见了采购总监王总,下一步周五前发方案", "我的客户")
        nonce, ts = uuid.uuid4().hex[:10], str(int(time.time()))
        env = xmltodict.parse(crypto.encrypt_message(inner, nonce, ts))["xml"]
        body = (f"<xml><ToUserName><![CDATA[{CORP_ID}]]></ToUserName><AgentID>1000002</AgentID>"
                f"<Encrypt><![CDATA[{env['Encrypt']}]]></Encrypt></xml>").encode()
        out.append((f"/wecom/callback?msg_signature={env['MsgSignature']}&timestamp={ts}&nonce={nonce}", body))
    return out


def dingtalk_bodies(n: int) -> list[bytes]:
    now = int(time.time() * 1000)
    out = []
    for i in range(n):
        staff = f"rep{1 + i % 6}"
        text = f"拜访 {CUSTOMERS[0]} 见了王总" if staff == "rep1" else "我的客户"
        out.append(json.dumps({
            "msgtype": "text", "text": {"content": text}, "msgId": f"msg{uuid.uuid4().hex}", "createAt": now,
            "conversationType": "1", "conversationId": f"cid{staff}", "senderStaffId": staff,
            "senderNick": staff, "sessionWebhook": "http://127.0.0.1:9/robot/sendBySession?session=bench",
            "sessionWebhookExpiredTime": now + 5_400_000, "robotCode": DT_ROBOT}, ensure_ascii=False).encode())
    return out


def load(port: int, make, seconds: float, conns: int, rate: float | None = None, keep_latencies: bool = False) -> dict:
    """`conns` keep-alive connections send requests from make(i) for `seconds` (paced at `rate`/s total)."""
    lat: list[float] = []
    errors = [0]
    lock = threading.Lock()
    counter = iter(range(10 ** 9))
    stop = time.perf_counter() + seconds
    start_at = time.perf_counter()

    def worker(k: int):
        c = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
        mine, n = [], 0
        while True:
            now = time.perf_counter()
            if now >= stop:
                break
            if rate:
                due = start_at + (n * conns + k) / rate
                if due > now:
                    time.sleep(due - now)
                n += 1
            method, path, body, headers = make(next(counter))
            t0 = time.perf_counter()
            try:
                c.request(method, path, body=body, headers=headers)
                r = c.getresponse()
                r.read()
                ok = r.status == 200
            except OSError:
                ok = False
                c = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
            mine.append(time.perf_counter() - t0)
            if not ok:
                with lock:
                    errors[0] += 1
        with lock:
            lat.extend(mine)

    threads = [threading.Thread(target=worker, args=(k,)) for k in range(conns)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    lat.sort()
    # nearest rank: a percentile is a latency that was measured, never above the slowest
    return {"n": len(lat), "rps": len(lat) / seconds, "p50": C.pct(lat, 50) * 1000, "p99": C.pct(lat, 99) * 1000,
            "errors": errors[0],
            **({"lat": lat} if keep_latencies else {})}


ROUNDS = 5


def cpu_seconds(pids) -> float:
    """user + system CPU of these processes so far (those that ended are left out)."""
    total = 0
    for pid in pids:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += int(fields[11]) + int(fields[12])
    return total / os.sysconf("SC_CLK_TCK")


def processes(server_pid: int) -> dict[str, list[int]]:
    """The CPU users of a run: the gunicorn workers, the PostgreSQL server's processes, this client."""
    pg = subprocess.run(["pgrep", "-x", "postgres"], capture_output=True, text=True).stdout.split()
    workers = subprocess.run(["pgrep", "-g", str(server_pid)], capture_output=True, text=True).stdout.split()
    return {"workers": [int(p) for p in workers], "postgres": [int(p) for p in pg], "client": [os.getpid()]}


def interleaved(port: int, routes: dict, seconds: float, conns: int, server_pid: int) -> dict:
    """Each route for `seconds` in all, in ROUNDS slices taken in turn, so a change in the machine's
    speed during the run (other load, CPU frequency) falls on every route alike. Also the CPU time per
    request of the web workers, the database server and this load generator."""
    parts: dict[str, list[dict]] = {name: [] for name in routes}
    cpu: dict[str, dict[str, float]] = {name: {} for name in routes}
    for make in routes.values():  # warm-up, not counted: each worker's first requests load and prepare
        load(port, make, 0.5, conns)
    for _ in range(ROUNDS):
        for name, make in routes.items():
            procs = processes(server_pid)
            before = {k: cpu_seconds(v) for k, v in procs.items()}
            parts[name].append(load(port, make, seconds / ROUNDS, conns, keep_latencies=True))
            for k, v in procs.items():
                cpu[name][k] = cpu[name].get(k, 0.0) + cpu_seconds(v) - before[k]
    out = {}
    for name, runs in parts.items():
        lat = sorted(x for r in runs for x in r["lat"])
        out[name] = {"n": len(lat), "rps": len(lat) / seconds, "p50": C.pct(lat, 50) * 1000,
                     "p99": C.pct(lat, 99) * 1000,
                     "errors": sum(r["errors"] for r in runs),
                     "cpu": {k: v / max(1, len(lat)) * 1000 for k, v in cpu[name].items()}}
    return out


def fmt_cpu(r: dict) -> str:
    c = r["cpu"]
    return (f"      CPU ms per request: web workers {c['workers']:.2f}, PostgreSQL server {c['postgres']:.2f}, "
            f"load generator {c['client']:.2f}, all {sum(c.values()):.2f}")


def fmt(name: str, r: dict) -> str:
    return (f"  {name:28s} {r['rps']:8.0f} req/s   p50 {r['p50']:6.1f} ms   p99 {r['p99']:6.1f} ms   "
            f"n={r['n']:<6d} errors={r['errors']}")


def run(kind: str, seconds: float) -> None:
    url = f"sqlite:///{ROOT}/bench/out/callbacks.db" if kind == "sqlite" else PG_URL
    os.makedirs(ROOT / "bench" / "out", exist_ok=True)
    prepare(url)
    port = C.free_port()
    # the workers' log goes to a file: a pipe nobody reads fills up and blocks them mid-request
    server_log = open(ROOT / "bench" / "out" / f"callbacks-{kind}.log", "wb")
    proc = subprocess.Popen([str(ROOT / ".venv/bin/gunicorn"), "-w", "2", "-b", f"127.0.0.1:{port}",
                             "--log-level", "warning", "bot:create_app()"], cwd=ROOT, env=env_for(url),
                            stdout=subprocess.DEVNULL, stderr=server_log, start_new_session=True)
    try:
        C.wait_healthy(port)
        n = int(seconds * 1500) + 2000  # distinct MsgIds for the warm-up and every round
        wecom = wecom_requests(n)
        ding = dingtalk_bodies(n)
        from bot.channels.dingtalk.sign import sign
        xml = {"Content-Type": "text/xml"}
        results = {}
        print(f"[{kind}] gunicorn -w 2, {seconds:g} s per route, in {ROUNDS} interleaved rounds")
        counter = iter(range(10 ** 9))  # distinct MsgIds across rounds
        routes = {
            "bare": lambda i: ("GET", "/bench/bare", None, {}),
            "crypto": lambda i: ("POST", "/bench/wecom-crypto" + wecom[i % n][0][15:], wecom[i % n][1], xml),
            "wecom": lambda i: (lambda j: ("POST", wecom[j][0], wecom[j][1], xml))(next(counter)),
        }
        results.update(interleaved(port, routes, seconds, 8, proc.pid))
        for name, label in (("bare", "bare Flask route"), ("crypto", "wechatpy crypto only"),
                            ("wecom", "WeCom callback (full)")):
            print(fmt(label, results[name]))
            print(fmt_cpu(results[name]))
        print(f"  ratios: full/crypto {results['wecom']['rps'] / results['crypto']['rps']:.2f} (target >= 0.5), "
              f"full/bare {results['wecom']['rps'] / results['bare']['rps']:.2f}, crypto/bare "
              f"{results['crypto']['rps'] / results['bare']['rps']:.2f}; p99 target < 25 ms: "
              f"{'OK' if results['wecom']['p99'] < 25 else 'OVER'}")

        last_ts = [0]

        def ding_req(i):
            # DingTalk signs each request at its own millisecond; a (timestamp, sign) pair is accepted
            # for one body only, so two callbacks of the load generator never share one
            last_ts[0] = max(last_ts[0] + 1, int(time.time() * 1000))
            ts = str(last_ts[0])
            return ("POST", "/dingtalk/callback", ding[i], {"Content-Type": "application/json", "timestamp": ts,
                                                             "sign": sign(ts, DT_SECRET)})
        results["bare100"] = load(port, lambda i: ("GET", "/bench/bare", None, {}), seconds, 4, rate=100)
        print(fmt("bare route @100/s", results["bare100"]))
        results["ding100"] = load(port, ding_req, seconds, 4, rate=100)
        print(fmt("DingTalk callback @100/s", results["ding100"]))
        results["ding"] = load(port, ding_req, seconds, 8)
        print(fmt("DingTalk callback (max)", results["ding"]))
        print(f"  DingTalk p99 at 100/s: {results['ding100']['p99']:.1f} ms "
              f"({'OK' if results['ding100']['p99'] < 25 else 'OVER'} target < 25 ms); "
              f"max-rate ratio to bare {results['ding']['rps'] / results['bare']['rps']:.2f}")
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(10)
        server_log.close()


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--db", default="both", choices=["sqlite", "postgres", "both"])
    p.add_argument("--seconds", type=float, default=10)
    p.add_argument("--quick", action="store_true")
    a = p.parse_args()
    for kind in (["sqlite", "postgres"] if a.db == "both" else [a.db]):
        run(kind, 2 if a.quick else a.seconds)


if __name__ == "__main__":
    main()
