"""CPU instructions per chat message, in-process (no HTTP server, no other process): a steady figure on a
shared machine, where wall-clock rates move by ±10 % with the other load.

The WeCom callback (decrypt, parse, command, database write, encrypted reply) through the Flask test
client on SQLite, the mix of bench/callbacks.py: one rep in six logs a visit, five ask for `我的客户`.
Also the signed DingTalk callback (the same mix; the callback alone: instant replies off, so the
reply's send is not counted). Under callgrind the script runs twice, with W and
W + N messages, and prints the difference per message, so start-up and warm-up do not count.

    .venv/bin/python bench/instructions.py                 # callgrind, N=120 after W=60 (a few minutes)
    .venv/bin/python bench/instructions.py --plain -n 600  # no valgrind: wall time per message
"""
from __future__ import annotations

import argparse
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))


def config(db: str) -> dict:
    from callbacks import AES_KEY, CORP_ID, DT_KEY, DT_ROBOT, DT_SECRET, TOKEN
    return {"database_url": f"sqlite:///{db}", "wecom_corp_id": CORP_ID, "wecom_agent_id": "1000002",
            "wecom_secret": "x", "wecom_token": TOKEN, "wecom_aes_key": AES_KEY,
            "wecom_api_base": "http://127.0.0.1:9/cgi-bin/", "dingtalk_app_key": DT_KEY,
            "dingtalk_app_secret": DT_SECRET, "dingtalk_robot_code": DT_ROBOT,
            "dingtalk_api_base": "http://127.0.0.1:9", "bot_instant_replies": "0"}


def prepare(db: str) -> None:
    env = {**os.environ, "DATABASE_URL": f"sqlite:///{db}", "PYTHONPATH": str(ROOT)}
    for verb in (["initdb"], ["demo"]):
        subprocess.run([sys.executable, "-m", "bot", *verb], cwd=ROOT, env=env, check=True, capture_output=True)


_LAST_MS = [0]


def run(db: str, kind: str, n: int) -> float:
    """Send n messages of `kind` through the app; returns the seconds they took."""
    import logging
    from callbacks import DT_SECRET, dingtalk_bodies, wecom_requests
    from bot import create_app
    app = create_app(config(db))
    logging.disable(logging.WARNING)
    client = app.test_client()
    if kind == "wecom":
        reqs = wecom_requests(n)
        t0 = time.perf_counter()
        for path, body in reqs:
            r = client.post(path, data=body, content_type="text/xml")
            assert r.status_code == 200, r.data
    else:
        try:
            from bot.channels.dingtalk.sign import sign
        except ImportError:  # before the channels became packages
            from bot.channels.dingtalk import sign
        bodies = dingtalk_bodies(n)
        t0 = time.perf_counter()
        for body in bodies:
            # a millisecond of its own per message, also across runs in one process: a (timestamp, sign)
            # pair seen before is refused as a replay
            _LAST_MS[0] = max(_LAST_MS[0] + 1, int(time.time() * 1000))
            ts = str(_LAST_MS[0])
            r = client.post("/dingtalk/callback", data=body, content_type="application/json",
                            headers={"timestamp": ts, "sign": sign(ts, DT_SECRET)})
            assert r.status_code == 200, r.data
    return time.perf_counter() - t0


def callgrind(db_template: str, kind: str, n: int) -> int:
    """Total instructions of a run of n messages (a fresh copy of the prepared database)."""
    with tempfile.TemporaryDirectory() as tmp:
        db = os.path.join(tmp, "bot.db")
        shutil.copy(db_template, db)
        out = subprocess.run(["valgrind", "--tool=callgrind", f"--callgrind-out-file={tmp}/cg.out",
                              sys.executable, __file__, "--child", kind, "-n", str(n), "--db-file", db],
                             cwd=ROOT, capture_output=True, text=True)
        m = re.search(r"Collected\s*:\s*(\d+)", out.stderr)
        if out.returncode != 0 or not m:
            raise SystemExit(f"callgrind run failed:\n{out.stderr[-3000:]}")
        return int(m.group(1))


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("-n", type=int, default=120, help="messages measured")
    p.add_argument("-w", type=int, default=60, help="warm-up messages (not counted)")
    p.add_argument("--plain", action="store_true", help="no valgrind: time per message")
    p.add_argument("--kinds", default="wecom,dingtalk")
    p.add_argument("--child", help=argparse.SUPPRESS)
    p.add_argument("--db-file", help=argparse.SUPPRESS)
    a = p.parse_args()
    if a.child:
        run(a.db_file, a.child, a.n)
        return
    with tempfile.TemporaryDirectory() as tmp:
        template = os.path.join(tmp, "template.db")
        prepare(template)
        for kind in a.kinds.split(","):
            if a.plain:
                db = os.path.join(tmp, f"{kind}.db")
                shutil.copy(template, db)
                run(db, kind, a.w)  # warm-up in the same process is not possible across apps: a separate db
                shutil.copy(template, db)
                seconds = run(db, kind, a.n)
                print(f"{kind:9s} {a.n} messages: {seconds / a.n * 1000:.2f} ms each (wall, in-process)")
                continue
            base = callgrind(template, kind, a.w)
            full = callgrind(template, kind, a.w + a.n)
            print(f"{kind:9s} {(full - base) / a.n / 1e6:.2f} M instructions per message "
                  f"(callgrind, {a.w + a.n} - {a.w} messages, in-process, SQLite)")


if __name__ == "__main__":
    main()
