"""The chat simulator drives the local channel and the scheduler's jobs at a simulated now, on its own
database: the real one never sees the simulated future."""
from __future__ import annotations

from datetime import timedelta

import pytest

from bot.web.simulator import simulation
from storage.models import Activity, InboundMessage, Outbox
from tests.conftest import T0
from tests.web.conftest import csrf_of, make_app


def on_sim(app):
    """The block reads the simulation's database."""
    return simulation(app).using()


@pytest.fixture
def sim(app):
    c = app.test_client()
    token = csrf_of(c, "/simulator")

    def post(path, **body):
        return c.post(path, json=body, headers={"X-CSRF-Token": token})

    c.post_json = post
    c.send = lambda user, **body: post("/simulator/send", user=user, **body)
    c.advance = lambda **body: post("/simulator/advance", **body)
    c.feed = lambda user: c.get(f"/simulator/feed?user={user}").get_json()
    return c


def test_the_simulator_is_off_unless_enabled(sqlite_url):
    app = make_app(sqlite_url, bot_simulator="0")
    c = app.test_client()
    assert c.get("/simulator").status_code == 404
    token = csrf_of(c)
    assert c.post("/simulator/send", json={"user": "rep1", "text": "帮助"}, headers={"X-CSRF-Token": token}).status_code == 404
    assert "聊天模拟器" not in c.get("/login").get_data(as_text=True)
    app = make_app(sqlite_url.replace("bot.db", "b2.db"), bot_local_channel="0")  # needs the local channel
    assert app.test_client().get("/simulator").status_code == 404


def test_posts_need_the_csrf_token(app):
    c = app.test_client()
    c.get("/simulator")
    assert c.post("/simulator/send", json={"user": "rep1", "text": "帮助"}).status_code == 400
    assert c.post("/simulator/advance", json={"hours": 1}).status_code == 400
    with app.app_context():
        assert InboundMessage.select().count() == 0


def test_a_message_goes_through_the_local_channel(app, rt, sim):
    calls = []
    sim_app = simulation(app).app
    view = sim_app.view_functions["local.messages"]
    sim_app.view_functions["local.messages"] = lambda: calls.append(1) or view()
    r = sim.send("rep1", text="今日任务")
    assert r.status_code == 200 and calls == [1]
    body = r.get_json()
    assert "今日任务" in body["replies"][0]["text"] and "🔴红色" in body["replies"][0]["text"]
    with on_sim(app):
        row = InboundMessage.get()
        assert (row.channel, row.sender, row.text) == ("local", "rep1", "今日任务")
        assert row.message_id.startswith("sim-")
    with rt.database.connection_context():  # the real database saw nothing
        assert InboundMessage.select().count() == 0
    # the local channel's checks apply: no user, no text
    assert sim.send("", text="帮助").status_code == 400
    # someone the bot does not know is told so
    assert "还没有登记" in sim.send("nobody", text="帮助").get_json()["replies"][0]["text"]


def test_card_buttons_work(app, rt, sim):
    sim.advance(to="next-card")  # Monday 09:00: the task card arrives, with buttons
    card = [m for m in sim.feed("rep1")["messages"] if "11月30日 今日任务" in m["text"]][-1]
    button = next(b for b in card["buttons"] if b["label"].endswith("已跟进"))
    r = sim.send("rep1", action=button["action"])
    assert r.status_code == 200 and "已记录" in r.get_json()["replies"][0]["text"]
    deal_id = int(button["action"].split(":")[1])
    with on_sim(app):
        assert Activity.select().where((Activity.deal == deal_id) & (Activity.kind == "note")).count() == 1
    with rt.database.connection_context():
        assert Activity.select().where(Activity.kind == "note").count() == 0
    # pressed again: the deal moved on, the button is spent
    again = sim.send("rep1", action=button["action"]).get_json()["replies"][0]["text"]
    assert "已经处理过了" in again


def test_simulated_time_lives_in_its_own_database_and_the_real_one_never_sees_it(app, rt, sim, manager):
    from storage.models import Warning
    with rt.database.connection_context():
        real = {m: m.select().count() for m in (Activity, Warning, Outbox, InboundMessage)}
    board = manager.get("/dashboard").get_data(as_text=True)
    r = sim.advance(days=2)
    assert r.status_code == 200
    assert r.get_json()["now"]["iso"] == (T0 + timedelta(days=2)).isoformat()
    assert rt.clock.now() == T0  # the real runtime's clock is untouched
    other = app.test_client()  # the simulated now belongs to the simulation, for every simulator user
    assert other.get("/simulator/feed?user=rep1").get_json()["now"]["iso"] == (T0 + timedelta(days=2)).isoformat()
    # a message at the simulated now is stored at that time, in the simulation's database
    sim.send("rep1", text="拜访 华联超市 见了采购总监王总,下一步下周一前发方案")
    with on_sim(app):
        act = Activity.select().where(Activity.kind == "visit").order_by(Activity.id.desc()).get()
        assert act.at == (T0 + timedelta(days=2)).replace(tzinfo=None)
        assert Warning.select().where(Warning.at > T0.replace(tzinfo=None)).count() > 0
    assert rt.clock.now() == T0
    # the real database and dashboard saw none of it
    with rt.database.connection_context():
        assert {m: m.select().count() for m in real} == real
    assert manager.get("/dashboard").get_data(as_text=True).count("data-level=") == board.count("data-level=")
    # a reset: the demo team afresh at the real now
    assert sim.advance(reset=True).get_json()["now"]["iso"] == T0.isoformat()
    with on_sim(app):
        assert Activity.select().where(Activity.at > T0.replace(tzinfo=None)).count() == 0


def test_time_only_moves_forward_and_not_too_far(sim):
    assert sim.advance(hours=-1).status_code == 400
    assert sim.advance(days=15).status_code == 400
    assert sim.advance(at="2026-11-20T09:00").status_code == 400
    assert sim.advance(at="not a time").status_code == 400
    assert sim.advance(at="2026-11-28T09:00").status_code == 200


def test_watch_a_new_deal_go_yellow_orange_red_and_the_0900_card_arrive(app, rt, sim):
    """Friday 10:00: a new customer; the jobs run at every simulated hour."""
    reply = sim.send("rep1", text="新客户 模拟测试超市 金额8万").get_json()["replies"][0]["text"]
    assert "模拟测试超市" in reply

    def mine(user, name="模拟测试超市"):
        return [m for m in sim.feed(user)["messages"] if name in m["text"]]

    def group():
        return [m for m in sim.feed("rep1")["groups"][0]["messages"] if "模拟测试超市" in m["text"]]

    # the working-day clock (issue 14): the weekend does not count. Before, this read "Sunday 11:00: 49 h:
    # yellow", "Monday 11:00: orange" and "Wednesday 11:00: red".
    r = sim.advance(days=2, hours=1)  # Sunday 11:00: Friday's 14 working hours
    assert r.status_code == 200
    assert not [m for m in mine("rep1") if "黄色" in m["text"]] and not group()
    r = sim.advance(days=2)  # Tuesday 11:00: 49 working hours
    assert r.status_code == 200 and "🟡黄色" in r.get_json()["summary"]
    assert [m for m in mine("rep1") if "黄色" in m["text"]] and not group()
    sim.advance(days=1)  # Wednesday 11:00: 73 h
    assert [m for m in mine("rep1") if "橙色" in m["text"]] and not group()
    # Monday's 09:00 card came on the way (the jobs ran at every hour), to each rep and the manager
    with on_sim(app):
        keys = {k for (k,) in Outbox.select(Outbox.key).where(Outbox.key.startswith("task:")).tuples()}
    assert "task:rep1:2026-11-30" in keys and "task:liyan:2026-11-30" in keys
    cards = [m for m in sim.feed("rep1")["messages"] if "今日任务" in m["text"]]
    assert cards and cards[-1]["status"] == "sent" and cards[-1]["buttons"]
    sim.advance(days=2)  # Friday 11:00: 121 working hours: red, escalated to the manager group
    feed = sim.feed("rep1")
    assert feed["groups"][0]["id"] == "managers"
    red = group()
    assert red and "红色" in red[-1]["text"] and red[-1]["buttons"]
    # quiet hours: a week of hourly jobs, and every message the bot sent on its own (the manager group's
    # red cards among them, the demo's too) went out between 09:00 and 20:00 on a working day
    for pane in [sim.feed("rep1")["messages"], *[g["messages"] for g in sim.feed("rep1")["groups"]],
                 sim.feed("liyan")["messages"]]:
        sent = [m for m in pane if m["status"] == "sent" and m["sent_at"]]
        assert sent and all(9 <= int(m["local"][6:8]) < 20 for m in sent), [m["local"] for m in sent]
        assert not [m for m in sent if m["local"][:5] in ("11-28", "11-29")]  # the weekend
    # the manager presses the red card's button from the group feed
    action = red[-1]["buttons"][0]["action"]
    r = sim.send("liyan", action=action)
    assert r.status_code == 200 and r.get_json()["replies"]
    assert rt.clock.now() == T0


def test_next_card_goes_to_the_next_working_day_0900(sim):
    now = sim.advance(to="next-card").get_json()["now"]
    assert now["local"] == "2026-11-30 09:00" and now["workday"]  # Friday 10:00 -> Monday 09:00
    assert sim.feed("rep1")["now"]["weekday"] == "周一"


def test_the_page_lists_the_demo_users(app):
    text = app.test_client().get("/simulator").get_data(as_text=True)
    assert "王磊" in text and "李岩" in text and 'id="sim-user"' in text and "/local/messages" in text


def test_a_failing_job_does_not_stop_the_others(app, rt, sim, monkeypatch):
    from bot import jobs

    def broken(rt, now):
        raise RuntimeError("boom")

    monkeypatch.setitem(jobs.JOBS, "health", broken)
    r = sim.advance(hours=2)
    assert r.status_code == 200 and "health" in r.get_json()["summary"]
    assert rt.clock.now() == T0


def test_the_guided_tour_shows_a_deal_go_yellow_orange_red_a_manager_step_in_and_the_numbers_move(app, rt, sim):
    token = csrf_of(sim, "/simulator")

    def step(key):
        r = sim.post("/simulator/tour", json={"step": key}, headers={"X-CSRF-Token": token})
        assert r.status_code == 200, r.get_json()
        return r.get_json()

    assert sim.post("/simulator/tour", json={"step": "take"}, headers={"X-CSRF-Token": token}).status_code in (200, 409)
    assert sim.post("/simulator/tour", json={"step": "nope"}, headers={"X-CSRF-Token": token}).status_code == 400
    start = step("start")
    assert start["next"] == "yellow" and start["numbers"]["deal_level"] is None
    assert sim.feed("rep1")["messages"] == []  # no flood: the panes start empty
    seen = {}
    for key in ("yellow", "orange", "red"):
        seen[key] = step(key)
        assert seen[key]["numbers"]["deal_level"] == key
        mine = [m["text"] for m in sim.feed("rep1")["messages"] if "导览示范店" in m["text"]]
        assert mine and {"yellow": "黄色", "orange": "橙色", "red": "红色"}[key] in mine[-1]
    cards = [m for m in sim.feed("rep1")["groups"][0]["messages"] if "导览示范店" in m["text"]]
    assert cards and "需要主管介入" in cards[-1]["text"] and cards[-1]["buttons"]
    # only the tour's deal talked: the rest of the team's reminders were paused
    others = [m for m in sim.feed("rep1")["messages"] if "预警" not in m["text"] and "导览示范店" not in m["text"]
              and "今日任务" not in m["text"]]
    assert others == []
    before = seen["red"]["numbers"]["intervention"]["提前干预率"]
    took = step("take")
    assert "已认领" in took["replies"][0]
    assert "1个主管事先介入" in took["numbers"]["intervention"]["提前干预率"] and "0个主管事先介入" in before
    assert any("将介入" in m["text"] for m in sim.feed("rep1")["messages"])
    done = step("followup")
    assert done["numbers"]["deal_level"] is None and done["next"] is None
    assert done["numbers"]["levels"]["red"] == took["numbers"]["levels"]["red"] - 1
    # five steps of simulated days, none of them in the real database
    from storage.models import Customer
    with rt.database.connection_context():
        assert not Customer.select().where(Customer.name.contains("导览")).exists()
    assert rt.clock.now() == T0
