"""Operations: /metrics (Prometheus), /healthz and the scheduler, one alert for a set-up failure."""
from __future__ import annotations

from datetime import timedelta

from bot.jobs.deliver import deliver
from bot.jobs.scheduler import run_job
from storage import kv, outbox
from storage.models import Outbox
from tests.conftest import T0
from tests.e2e.test_wecom import app, client, fake, rt, run, text_msg, wecom_post  # noqa: F401

NUDGE = {"template": "nudge", "data": {"manager": "李岩", "customer": "c"}}


def test_a_set_up_failure_alerts_the_team_once_not_once_per_message(rt, fake):
    """The server's IP is not trusted (60020): five messages wait, the team hears it once (its manager,
    there being no admin, by app message, and the manager group by its robot, which still works)."""
    fake.trusted_ip = False
    with rt.database.connection_context():
        for i in range(5):
            outbox.enqueue(f"n{i}", "wecom", "alice", {"template": "nudge", "data": {"manager": "李岩",
                                                                                   "customer": f"c{i}"}}, rt.now())
    run(rt, deliver, T0)
    with rt.database.connection_context():
        alerts = sorted(r.recipient for r in Outbox.select().where(Outbox.key.startswith("alert:")))
    assert alerts == ["boss", "mgr"]
    run(rt, deliver, T0 + timedelta(minutes=30))  # retried, still failing: no new alert
    with rt.database.connection_context():
        assert Outbox.select().where(Outbox.key.startswith("alert:")).count() == 2
    robot = [m["text"]["content"] for m in fake.robot]
    assert len(robot) == 1 and "60020" in robot[0] and "可信IP" in robot[0]
    fake.trusted_ip = True  # the admin adds the IP: the messages go out
    run(rt, deliver, T0 + timedelta(hours=3))
    assert sum(1 for m in fake.sent if m["touser"] == "alice") == 5


def test_metrics_in_prometheus_format(client, rt, fake):
    wecom_post(client, text_msg("alice", "我的客户", "9001"))
    with rt.database.connection_context():
        outbox.enqueue("n1", "wecom", "alice", NUDGE, rt.now() - timedelta(minutes=3))
        outbox.enqueue("n2", "wecom", "nobody-known", NUDGE, rt.now())
    run(rt, deliver, T0)
    with rt.database.connection_context():
        outbox.enqueue("n3", "wecom", "alice", NUDGE, rt.now() - timedelta(minutes=2))
    run_job(rt, "scan")
    r = client.get("/metrics")
    assert r.status_code == 200 and r.headers["Content-Type"].startswith("text/plain")
    text = r.get_data(as_text=True)
    assert 'bot_outbox_rows{channel="wecom",status="sent"} 1.0' in text
    assert 'bot_outbox_rows{channel="wecom",status="failed"} 1.0' in text
    assert 'bot_outbox_rows{channel="wecom",status="pending"} 1.0' in text
    assert "bot_outbox_oldest_pending_seconds 120.0" in text
    assert 'bot_delivery_attempts_total{channel="wecom",result="sent"}' in text
    assert 'bot_delivery_failures_total{channel="wecom",errcode="other"}' in text
    assert 'bot_message_seconds_count{channel="wecom"}' in text
    (scan_line,) = [x for x in text.splitlines() if x.startswith('bot_job_last_success_timestamp_seconds{job="scan"}')]
    assert float(scan_line.split()[-1]) == T0.timestamp()


def test_healthz_answers_503_when_the_scheduler_has_not_run_for_15_minutes(client, rt):
    assert client.get("/healthz").status_code == 200  # just started
    rt.clock.set(T0 + timedelta(minutes=16))
    r = client.get("/healthz")
    assert r.status_code == 503 and "调度器" in r.get_json()["error"] and r.get_json()["scheduler_last_run"] is None
    run_job(rt, "deliver")
    r = client.get("/healthz")
    assert r.status_code == 200 and r.get_json()["scheduler_last_run"].startswith("2026-11-27T02:16")
    rt.clock.set(T0 + timedelta(minutes=32))
    assert client.get("/healthz").status_code == 503
    with rt.database.connection_context():
        assert kv.get("job:deliver:ok", rt.now()) is not None


def test_doctor_names_what_to_fix(rt, fake, capsys):
    from bot.doctor import run as doctor
    assert doctor(rt) == 1  # BOT_PUBLIC_URL is the local default
    out = capsys.readouterr().out
    assert "✓ 企业微信 WECOM_CORP_ID / WECOM_SECRET 正确" in out and "「销售漏斗助手」" in out
    assert "✗ BOT_PUBLIC_URL" in out
    from rules.calendar import KNOWN_YEARS  # T0 is 2026-11-27: 2027 starts in five weeks
    assert ("✗ 节假日日历还没有2027年的法定假日与调休" if 2027 not in KNOWN_YEARS else "✓ 节假日日历已知") in out
    fake.trusted_ip = False
    doctor(rt)
    assert "✗ 企业微信 gettoken: errcode 60020: 服务器 IP 不在应用的企业可信IP中" in capsys.readouterr().out
    fake.trusted_ip, fake.secret = True, "rotated"
    doctor(rt)
    assert "WECOM_SECRET 不对" in capsys.readouterr().out
    fake.secret, fake.agent_id = "s3cret", "1000009"
    doctor(rt)
    assert "✗ 企业微信应用 1000002: errcode 301002" in capsys.readouterr().out
