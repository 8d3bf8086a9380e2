"""The weekly funnel review, by time travel: one card per team and ISO week to the manager group on the
review day from the review time, with the week against the week before, and a chart PNG served by /charts."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from bot.clock import FixedClock
from bot.jobs import JOBS
from bot.jobs.timetable import TIMETABLE
from bot.jobs.weekly import weekly
from handlers.messages import Reply
from bot.render import render_text
from storage.models import Outbox, Team
from tests.conftest import make_runtime
from tests.helpers import Chat, small_team

SHANGHAI = timezone(timedelta(hours=8))
ROOT = Path(__file__).resolve().parents[2]


def local(*args) -> datetime:
    """A Shanghai wall-clock time as the naive UTC the jobs take."""
    return datetime(*args, tzinfo=SHANGHAI).astimezone(timezone.utc).replace(tzinfo=None)


def run(rt, now):
    rt.clock.set(now.replace(tzinfo=timezone.utc))
    with rt.database.connection_context():
        return weekly(rt, now)


def cards(rt) -> list[tuple[str, str, dict]]:
    with rt.database.connection_context():
        return [(r.key, r.recipient, json.loads(r.payload))
                for r in Outbox.select().where(Outbox.key.startswith("weekly:")).order_by(Outbox.id)]


@pytest.fixture
def charts(tmp_path) -> Path:
    return tmp_path / "charts"


@pytest.fixture
def rt(sqlite_url, charts):
    rt = make_runtime(sqlite_url, FixedClock(local(2026, 11, 2, 10, 0)), bot_charts_dir=str(charts),
                      bot_public_url="https://bot.example.com")
    small_team(rt)
    return rt


def a_fortnight(rt) -> None:
    """Week 45 (11-02..11-08): alice visits 华联超市 twice, 3 days apart. Week 46: daily visits, and bob
    loses 永辉超市."""
    chat = Chat(rt)
    for day in (2, 5):
        rt.clock.set(datetime(2026, 11, day, 10, tzinfo=SHANGHAI))
        chat.say("alice", "拜访 华联超市 聊了进度")
    for day in (9, 10, 11):
        rt.clock.set(datetime(2026, 11, day, 10, tzinfo=SHANGHAI))
        chat.say("alice", "拜访 华联超市 聊了进度")
    chat.say("bob", "输单 永辉超市 原因:价格")


def test_the_review_is_queued_once_per_week_on_monday_from_0930(rt, charts):
    a_fortnight(rt)
    assert JOBS["weekly"] is weekly and TIMETABLE["weekly"].every <= 600
    assert run(rt, local(2026, 11, 15, 10, 0))["skipped"] == "not the review day"  # Sunday
    assert run(rt, local(2026, 11, 16, 9, 29))["skipped"] == "before the review time"  # Monday 09:29
    assert cards(rt) == []
    first = run(rt, local(2026, 11, 16, 9, 30))
    assert first["queued"] == 1 and first["week"] == "2026-W47" and first["period"] == "2026-W46"
    t = local(2026, 11, 16, 9, 35)
    while t < local(2026, 11, 16, 12, 0):  # the scheduler runs it every 5 minutes
        assert run(rt, t)["queued"] == 0
        t += timedelta(minutes=5)
    assert run(rt, local(2026, 11, 17, 9, 30))["skipped"] == "not the review day"
    with rt.database.connection_context():
        team = Team.get(Team.name == "东区")
    (key, to, payload), = cards(rt)
    assert key == f"weekly:{team.id}:2026-W47" and to == "mgr" and payload["template"] == "weekly_review"

    # the next Monday: the next week's card
    assert run(rt, local(2026, 11, 23, 9, 45))["queued"] == 1
    assert [k for k, _, _ in cards(rt)] == [f"weekly:{team.id}:2026-W47", f"weekly:{team.id}:2026-W48"]


def test_the_card_has_the_week_against_the_week_before(rt):
    a_fortnight(rt)
    run(rt, local(2026, 11, 16, 9, 30))
    (_, _, payload), = cards(rt)
    data = payload["data"]
    assert (data["period_key"], data["baseline_key"]) == ("2026-W46", "2026-W45")
    metrics = {m["label"]: m for m in data["metrics"]}
    # 华联超市: visits 1 day apart this week, 3 days apart the week before
    assert (metrics["跟进间隔"]["now"], metrics["跟进间隔"]["before"], metrics["跟进间隔"]["trend"]) == \
        ("1.0天", "3.0天", "↓✅")
    assert metrics["成交率"]["now"] == "0%" and data["lost"] == [1, 50000]
    assert [(r["name"], r["days"]) for r in data["reps"]] == [("王磊", "1.0天"), ("张敏", "—")]
    # the three stages where deals stall most: only stage 1 has deals (华联便利店 silent since 11-02: red)
    assert [(s["stage"], s["stalled"]) for s in data["stalls"]] == [("初步接触", 1)]
    assert data["funnel"][0] == {"key": "initial_contact", "stage": "初步接触", "count": 2, "amount": 110000}
    assert data["health"] == [["0-49", 0], ["50-74", 0], ["75-100", 0], ["-", 3]]
    text = render_text(Reply.from_dict(payload), "wecom")
    assert text.startswith("📊 东区 每周漏斗复盘 · 11月9日-11月15日（对比上周 11月2日-11月8日）")
    assert "跟进间隔：1.0天（上周 3.0天）↓✅" in text and "1. 初步接触 · 停滞1个" in text
    assert f"📈 漏斗与客户健康度图：{data['chart_url']}" in text
    assert len(text.encode()) <= 2048  # a WeCom text message


def test_the_chart_is_a_png_served_under_the_public_url(rt, charts):
    a_fortnight(rt)
    result = run(rt, local(2026, 11, 16, 9, 30))
    (_, _, payload), = cards(rt)
    data = payload["data"]
    name = data["chart_file"]
    assert result["charts"] == [name] and data["chart_inline"] is False
    assert data["chart_url"] == f"https://bot.example.com/charts/{name}"
    png = (charts / name).read_bytes()
    assert png[:8] == b"\x89PNG\r\n\x1a\n" and len(png) > 5000
    assert list(charts.glob("*.tmp")) == []

    from bot import create_app
    app = create_app({"database_url": rt.config.database_url, "use_dotenv": False, "bot_charts_dir": str(charts)})
    client = app.test_client()
    r = client.get(f"/charts/{name}")
    assert r.status_code == 200 and r.mimetype == "image/png" and r.data == png
    assert client.get("/charts/nope.png").status_code == 404
    assert client.get("/charts/..%2Fbot.db").status_code == 404
    assert client.get("/charts/x.txt").status_code == 404


def test_a_team_without_a_manager_group_gets_no_card_and_the_others_do(rt):
    from storage import people
    with rt.database.connection_context():
        west = people.ensure_team("西区")
        people.upsert_rep(west, "wboss", "周杰", "manager")
    assert run(rt, local(2026, 11, 9, 9, 30))["queued"] == 1
    assert [to for _, to, _ in cards(rt)] == ["mgr"]


def test_dingtalk_shows_the_image_in_the_card(sqlite_url, charts):
    rt = make_runtime(sqlite_url, FixedClock(local(2026, 11, 2, 10, 0)), bot_charts_dir=str(charts),
                      dingtalk_app_key="k", dingtalk_app_secret="s", dingtalk_robot_code="r")
    assert rt.config.primary_channel == "dingtalk"
    small_team(rt)
    run(rt, local(2026, 11, 9, 10, 0))
    (_, _, payload), = cards(rt)
    assert payload["data"]["chart_inline"] is True
    from bot.channels.dingtalk.wire import robot_message
    body = robot_message(Reply.from_dict(payload), [], at=["boss"])
    assert f"![漏斗与客户健康度]({payload['data']['chart_url']})" in body["markdown"]["text"]


def test_review_time_comes_from_the_rules_file(sqlite_url, charts, tmp_path):
    from rules.funnel import DEFAULT_RULES
    rules = tmp_path / "funnel.toml"
    rules.write_text(DEFAULT_RULES.read_text(encoding="utf-8").replace(
        'weekly_review_at = "Mon 09:30"', 'weekly_review_at = "Fri 17:00"'), encoding="utf-8")
    rt = make_runtime(sqlite_url, FixedClock(local(2026, 11, 2, 10, 0)), bot_charts_dir=str(charts),
                      bot_rules=str(rules))
    small_team(rt)
    assert run(rt, local(2026, 11, 9, 10, 0))["skipped"] == "not the review day"
    assert run(rt, local(2026, 11, 13, 16, 59))["skipped"] == "before the review time"
    result = run(rt, local(2026, 11, 13, 17, 0))
    assert result["queued"] == 1 and result["period"] == "2026-W46"  # Friday: the week so far


def test_a_chart_that_cannot_be_drawn_does_not_stop_the_card(rt, monkeypatch):
    import bot.charts as charts

    def broken(*a, **kw):
        raise OSError("disk full")
    monkeypatch.setattr(charts, "render_chart", broken)
    assert run(rt, local(2026, 11, 9, 9, 30))["queued"] == 1
    (_, _, payload), = cards(rt)
    assert payload["data"]["chart_url"] is None
    assert "图" not in render_text(Reply.from_dict(payload), "local").splitlines()[1]


def test_run_weekly_from_the_command_line(tmp_path):
    url = f"sqlite:///{tmp_path}/cli.db"
    env = {k: v for k, v in os.environ.items() if not k.startswith(("WECOM_", "DINGTALK_"))}
    env.update(DATABASE_URL=url, PYTHONPATH=str(ROOT), BOT_CHARTS_DIR=str(tmp_path / "charts"))

    def bot(*args):
        p = subprocess.run([sys.executable, "-m", "bot", *args], cwd=ROOT, env=env, capture_output=True, text=True,
                           timeout=120)
        assert p.returncode == 0, p.stderr
        return p.stdout
    bot("demo", "--now", "2026-11-27T10:00")
    assert "目标 300万" in bot("target", "华东饮料团队", "2026-Q4", "300万")
    assert json.loads(bot("run", "weekly", "--now", "2026-11-29T10:00"))["skipped"] == "not the review day"
    first = json.loads(bot("run", "weekly", "--now", "2026-11-30T09:30"))
    assert first["queued"] == 1 and (tmp_path / "charts" / first["charts"][0]).exists()
    assert json.loads(bot("run", "weekly", "--now", "2026-11-30T09:35"))["queued"] == 0
    rows = json.loads(bot("outbox", "--json", "--to", "managers"))
    (card,) = [r for r in rows if r["key"].startswith("weekly:")]
    target = {m["label"]: m for m in card["payload"]["data"]["metrics"]}["目标达成"]
    assert "2026-Q4 目标 300万" in target["detail"]
