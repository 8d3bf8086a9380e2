"""A delivery process killed with SIGKILL mid-batch loses nothing and sends nothing twice."""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from bot.clock import FixedClock
from storage import outbox
from storage.models import Outbox
from tests.conftest import make_runtime, T0
from tests.e2e.test_wecom import AES_KEY, AGENT, CORP_ID, SECRET, TOKEN
from tests.fakes.wecom_server import FakeWeCom
from tests.helpers import small_team

ROOT = Path(__file__).resolve().parents[2]


def test_sigkill_mid_batch_then_restart(db_url):
    fake = FakeWeCom(CORP_ID, SECRET).start()
    try:
        fake.delay = 0.05
        fake.member_limit = 1000  # rate limits are tested elsewhere
        wecom = {"WECOM_CORP_ID": CORP_ID, "WECOM_AGENT_ID": AGENT, "WECOM_SECRET": SECRET, "WECOM_TOKEN": TOKEN,
                 "WECOM_AES_KEY": AES_KEY, "WECOM_API_BASE": fake.base}
        rt = make_runtime(db_url, FixedClock(T0), **{k.lower(): v for k, v in wecom.items()})
        small_team(rt)
        with rt.database.connection_context():
            for i in range(60):
                outbox.enqueue(f"crash:{i}", "wecom", ["alice", "bob"][i % 2],
                               {"template": "nudge", "data": {"manager": "李岩", "customer": f"客户{i:02d}"}},
                               rt.now())
        env = {**os.environ, **wecom, "DATABASE_URL": db_url, "PYTHONPATH": str(ROOT)}
        cmd = [sys.executable, "-m", "bot", "run", "deliver", "--now", "2026-11-27T10:00"]
        proc = subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        deadline = time.monotonic() + 60
        while len(fake.sent) < 15 and time.monotonic() < deadline:
            time.sleep(0.01)
        proc.send_signal(signal.SIGKILL)
        proc.wait(30)
        if not fake.sent:
            raise AssertionError(proc.stderr.read().decode()[-3000:])
        delivered_at_kill = len(fake.sent)
        assert 15 <= delivered_at_kill < 60, "the kill must land mid-batch"
        with rt.database.connection_context():
            assert Outbox.select().where(Outbox.status == "sending").count() >= 1  # the claimed batch
        # restarted after the claim lease (2 minutes) has run out
        for minute in (3, 4, 5):
            p = subprocess.run([*cmd[:-1], f"2026-11-27T10:0{minute}"], cwd=ROOT, env=env, capture_output=True,
                               text=True, timeout=120)
            assert p.returncode == 0, p.stderr
        time.sleep(0.2)
        with rt.database.connection_context():
            assert Outbox.select().where(Outbox.status != "sent").count() == 0  # nothing lost
        contents = [m["text"]["content"] for m in fake.sent]
        assert len(set(contents)) == 60  # every message reached its rep ...
        assert len(contents) == 60  # ... exactly once
        assert fake.deduped <= 1  # at most the one in-flight row was re-sent, and WeCom's check dropped it
    finally:
        fake.stop()
