"""The chat simulator (local mode, BOT_SIMULATOR=1): be any demo user, chat with the bot, press card
buttons, watch the manager group, move a "simulated now" forward to see the warnings and the 09:00
card arrive, or follow the guided tour (🟡 → 🟠 → 🔴 → the manager's card → an intervention → the
numbers moving, in five minutes).

Its own database: the simulation runs on a second copy of the app (bot.create_app with
BOT_SIMULATOR_DATABASE_URL, by default `simulator.db` beside a SQLite database), loaded with the demo
team, and keeps its simulated now in that database. The real dashboard and the real chat never see the
simulated future. While a simulator request runs, this thread's models use that database
(storage.sandbox.routed); every other thread keeps the real one.

No separate code path: a message or a button press is a POST to that app's local channel
(`/local/messages`), the feeds are its `/local/outbox`, and moving time runs the scheduler's jobs
(bot.jobs.JOBS, delivery last) at each hour of the simulated span, exactly as
`python -m bot run JOB --now ...` would. A reset loads the demo team afresh at the real now, with the
warnings it already had counted as sent, so the panes start empty.
"""
from __future__ import annotations

import logging
import math
import os
import threading
import uuid
from contextlib import contextmanager
from datetime import datetime, timedelta, timezone

from flask import abort, current_app, jsonify, render_template, request

from rules.calendar import is_workday
from storage import dashboard_queries, kv, people, sandbox
from storage.database import connected, to_db
from storage.redact import redact

from ..clock import FixedClock, aware
from . import blueprint, simulator_on
from .auth import ROLE_NAMES, current_user

log = logging.getLogger(__name__)
SIM_LOCK = threading.RLock()
MAX_ADVANCE = timedelta(days=14)
STEP = timedelta(hours=1)  # the jobs run at every hour of a simulated span
WEEKDAYS = "一二三四五六日"
FEED_LIMIT = 30
NOW_KEY = "simulator:now"


def require_simulator():
    if not simulator_on():
        abort(404)


def simulator_url(config) -> str:
    """BOT_SIMULATOR_DATABASE_URL, else `simulator.db` beside a SQLite database (data/ otherwise)."""
    if config["BOT_SIMULATOR_DATABASE_URL"]:
        return config["BOT_SIMULATOR_DATABASE_URL"]
    url = config.database_url
    if url.startswith("sqlite:///") and ":memory:" not in url:
        return "sqlite:///" + os.path.join(os.path.dirname(url[len("sqlite:///"):]) or ".", "simulator.db")
    return "sqlite:///data/simulator.db"


class _NoLinks:
    """The simulation's messages carry no dashboard links (its deals are not the real dashboard's)."""

    def deal(self, deal_id) -> str:
        return ""

    def page(self, path, **query) -> str:
        return ""

    def read_deal(self, token):
        return None


class Simulation:
    """The simulator's own app, runtime and database, and its simulated now (kept in that database)."""

    def __init__(self, real_app):
        from .. import create_app
        real = real_app.extensions["bot"]
        cfg = {k.lower(): v for k, v in real.config.values.items()}
        cfg.update(database_url=simulator_url(real.config), use_dotenv=False, bot_simulator="0")
        self.real = real
        with sandbox.routed():  # the database opened here is this simulation's, for this thread only
            self.app = create_app(cfg, clock=FixedClock(aware(real.clock.now())))
        self.rt = self.app.extensions["bot"]
        self.rt.__dict__["_web_links"] = _NoLinks()
        with self.using():
            if not people.rep_by_local_id("liyan") and not dashboard_queries.demo_people(1):
                self.reset()
            else:
                self.rt.clock = FixedClock(self.now())

    @contextmanager
    def using(self):
        """The block runs on the simulation's database (this thread), one simulator request at a time."""
        with SIM_LOCK, sandbox.routed(self.rt.database), connected(self.rt.database):
            yield self

    def now(self) -> datetime:
        """The simulated now (aware UTC); the real clock's when not set."""
        text = kv.get(NOW_KEY, to_db(self.real.clock.now()))
        if text:
            try:
                return aware(datetime.fromisoformat(text))
            except ValueError:
                pass
        return aware(self.real.clock.now()).replace(microsecond=0)

    def set_now(self, at: datetime) -> None:
        kv.put(NOW_KEY, at.astimezone(timezone.utc).isoformat(), to_db(self.real.clock.now()))
        self.rt.clock = FixedClock(at)

    def reset(self) -> None:
        """The demo team afresh at the real now; the warnings it already has count as sent (no flood)."""
        from ..demo import load_demo
        from ..jobs.health import health
        from ..jobs import JOBS
        at = aware(self.real.clock.now()).replace(microsecond=0)
        self.rt.clock = FixedClock(at)
        now = to_db(at)
        sandbox.clear_all()
        with self.rt.database.atomic():
            load_demo(self.rt.funnel, now)
        health(self.rt, now, force=True)
        JOBS["scan"](self.rt, now)
        sandbox.clear_outbox()  # what the first scan and the health job would have sent: before the tour
        self.set_now(at)

    def local(self, method: str, path: str, **kw):
        """A request to the simulation's local channel, through its app (routes, checks and hooks)."""
        resp = self.app.test_client().open(path, method=method, **kw)
        return resp.status_code, resp.get_json(silent=True) or {}


_sims_lock = threading.Lock()


def simulation(app=None) -> Simulation:
    """The app's simulation (made, and its database loaded, on first use)."""
    app = app or current_app._get_current_object()
    sim = app.extensions.get("simulation")
    if sim is None:
        with _sims_lock:
            sim = app.extensions.get("simulation")
            if sim is None:
                sim = app.extensions["simulation"] = Simulation(app)
    return sim


def describe(rt, at: datetime) -> dict:
    local = at.astimezone(rt.tz)
    sched = rt.funnel.schedule
    workday = is_workday(local.date(), sched.days_off, sched.extra_workdays)
    return {"iso": at.astimezone(timezone.utc).isoformat(), "local": local.strftime("%Y-%m-%d %H:%M"),
            "weekday": "周" + WEEKDAYS[local.weekday()], "workday": workday,
            "label": f"{local:%Y-%m-%d} 周{WEEKDAYS[local.weekday()]} {local:%H:%M}" + ("" if workday else "（休息日）")}


def outbox_for(sim: Simulation, to: str) -> list[dict]:
    """The simulation's local-channel outbox for `to`, oldest first, each with its local time: when it was
    sent (a message held for the send window shows the morning it went out), else when it was queued."""
    rt = sim.rt
    status, body = sim.local("GET", "/local/outbox", query_string={"to": to, "limit": FEED_LIMIT})
    messages = list(reversed(body.get("messages", []))) if status == 200 else []
    for m in messages:
        try:
            at = datetime.fromisoformat((m.get("sent_at") or m["created_at"]).replace("Z", "+00:00"))
            m["local"] = at.astimezone(rt.tz).strftime("%m-%d %H:%M")
        except (KeyError, ValueError, AttributeError):
            m["local"] = ""
    return messages


@blueprint.get("/simulator")
def simulator():
    require_simulator()
    sim = simulation()
    with sim.using():
        users = dashboard_queries.demo_people()
        now = describe(sim.rt, sim.now())
    me = current_user()
    default = me.local_id if me else next((u[1] for u in users if u[3] == "rep"), users[0][1] if users else "")
    return render_template("pages/simulator.html", users=users, default_user=request.args.get("user") or default,
                           role_names=ROLE_NAMES, now=now, max_days=MAX_ADVANCE.days, tour=TOUR)


@blueprint.get("/simulator/feed")
def simulator_feed():
    """What the bot sent the user, and their team's group chats, as the simulation's outbox shows them."""
    require_simulator()
    sim = simulation()
    user = request.args.get("user", "")[:64]
    with sim.using():
        rep = people.rep_by_local_id(user) if user else None
        groups = dashboard_queries.team_groups(rep.team_id) if rep is not None else []
        return jsonify(now=describe(sim.rt, sim.now()), user=user,
                       who={"name": rep.name, "role": ROLE_NAMES.get(rep.role, rep.role)} if rep else None,
                       messages=outbox_for(sim, user) if user else [],
                       groups=[{"id": gid, "name": name, "messages": outbox_for(sim, gid)} for gid, name in groups])


def send_as(sim: Simulation, user, text=None, action=None) -> tuple[int, dict]:
    payload = {"user": user, "id": f"sim-{uuid.uuid4().hex}"}
    if action:
        payload["action"] = action
    else:
        payload["text"] = text
    sim.rt.clock = FixedClock(sim.now())
    return sim.local("POST", "/local/messages", json=payload)


@blueprint.post("/simulator/send")
def simulator_send():
    """One message or button press as `user`, at the simulated now, through the simulation's
    POST /local/messages."""
    require_simulator()
    body = request.get_json(silent=True)
    if not isinstance(body, dict):
        return jsonify(error="请求体必须是 JSON 对象"), 400
    sim = simulation()
    with sim.using():
        status, answer = send_as(sim, body.get("user"), body.get("text"), body.get("action"))
        return jsonify(now=describe(sim.rt, sim.now()), **answer), status


@blueprint.post("/simulator/advance")
def simulator_advance():
    """Move the simulated now: {"hours": n} | {"days": n} | {"to": "next-card"} | {"at": "ISO local"};
    the scheduler's jobs run at every hour passed, delivery last. {"reset": true}: the demo team afresh
    at the real now."""
    require_simulator()
    body = request.get_json(silent=True)
    if not isinstance(body, dict):
        return jsonify(error="请求体必须是 JSON 对象"), 400
    sim = simulation()
    with sim.using():
        if body.get("reset"):
            sim.reset()
            return jsonify(now=describe(sim.rt, sim.now()), ran=[], summary="已重置：演示团队回到现在，消息清空")
        old = sim.now()
        try:
            new = target_time(sim.rt, old, body)
        except (ValueError, OverflowError) as e:
            return jsonify(error=str(e) or "时间无法识别"), 400
        if new <= old:
            return jsonify(error="模拟时间只能向前拨"), 400
        if new - old > MAX_ADVANCE:
            return jsonify(error=f"一次最多前进 {MAX_ADVANCE.days} 天"), 400
        ran = run_jobs(sim, old, new)
        return jsonify(now=describe(sim.rt, new), ran=ran, summary=summarize(ran))


def target_time(rt, old: datetime, body: dict) -> datetime:
    if body.get("to") == "next-card":
        return next_card_time(rt, old)
    if body.get("at"):
        try:
            at = aware(datetime.fromisoformat(str(body["at"])[:40]), rt.tz).astimezone(timezone.utc)
        except (ValueError, OverflowError):
            raise ValueError("时间格式应为 2026-11-30T09:00") from None
        return at
    hours = _number(body, "hours") + 24 * _number(body, "days")
    if hours <= 0:
        raise ValueError("需要 hours 或 days (大于 0)")
    return old + timedelta(hours=hours)


def _number(body: dict, name: str) -> float:
    value = body.get(name) or 0
    if isinstance(value, bool) or not isinstance(value, (int, float, str)):
        raise ValueError(f"{name} 必须是数字")
    try:
        number = float(value)
    except (ValueError, OverflowError):
        raise ValueError(f"{name} 必须是数字") from None
    if not math.isfinite(number) or abs(number) > 10 ** 6:  # (a timedelta of 1e308 hours overflows)
        raise ValueError(f"{name} 超出范围 (一次最多前进 {MAX_ADVANCE.days} 天)")
    return number


def next_card_time(rt, after: datetime) -> datetime:
    """The next working day's task-card time (09:00 by default) after `after`."""
    sched = rt.funnel.schedule
    local = after.astimezone(rt.tz)
    day = local.date()
    for _ in range(40):
        candidate = datetime.combine(day, sched.task_card_at, tzinfo=rt.tz)
        if candidate > local and is_workday(day, sched.days_off, sched.extra_workdays):
            return candidate.astimezone(timezone.utc)
        day += timedelta(days=1)
    raise ValueError("40 天内没有工作日")


def instants(old: datetime, new: datetime) -> list[datetime]:
    """Every whole hour in (old, new], and `new` itself."""
    out = []
    t = old.replace(minute=0, second=0, microsecond=0) + STEP
    while t < new:
        out.append(t)
        t += STEP
    out.append(new)
    return out


def run_jobs(sim: Simulation, old: datetime, new: datetime) -> list[dict]:
    """The scheduler's jobs at each simulated instant (as `python -m bot run JOB --now ...`), delivery
    last, on the simulation's database; the simulated now moves with them."""
    from ..jobs import JOBS
    rt = sim.rt
    jobs = [(n, j) for n, j in JOBS.items() if n != "deliver"] + [("deliver", JOBS["deliver"])]
    ran = []
    clock = rt.clock = FixedClock(old)
    try:
        for t in instants(old, new):
            clock.set(t)
            now = to_db(t)
            for name, job in jobs:
                try:
                    result = job(rt, now)
                except Exception as e:  # noqa: BLE001  as the scheduler: a failing job does not stop the others
                    log.exception("simulator: job %s at %s failed", name, t)
                    result = {"error": redact(f"{type(e).__name__}: {e}")}
                if _worth_showing(name, result):
                    ran.append({"job": name, "at": now.isoformat(), "local": describe(rt, t)["label"],
                                "result": result})
    finally:
        sim.set_now(clock.now())
    return ran


def _worth_showing(name: str, result) -> bool:
    if not isinstance(result, dict):
        return False
    if "error" in result:
        return True
    if name == "scan":
        return any((result.get("fired") or {}).values())
    if name == "deliver":
        return bool(result.get("claimed"))
    return "skipped" not in result


def summarize(ran: list[dict]) -> str:
    fired = {"red": 0, "orange": 0, "yellow": 0}
    cards = sent = 0
    other = []
    for r in ran:
        res = r["result"]
        if r["job"] == "scan":
            for lv, n in (res.get("fired") or {}).items():
                fired[lv] = fired.get(lv, 0) + n
        elif r["job"] == "daily":
            cards += res.get("queued", 0)
        elif r["job"] == "deliver":
            sent += res.get("sent", 0)
        elif "error" not in res:
            other.append(r["job"])
    parts = [f"新预警 🔴红色{fired['red']} 🟠橙色{fired['orange']} 🟡黄色{fired['yellow']}"]
    if cards:
        parts.append(f"任务卡 {cards} 张")
    parts.append(f"已投递 {sent} 条消息")
    if other:
        parts.append("运行了 " + "、".join(sorted(set(other))))
    errors = [r["job"] for r in ran if "error" in r["result"]]
    if errors:
        parts.append("出错的任务: " + "、".join(errors))
    return "，".join(parts)


# -- the guided tour ---------------------------------------------------------------------------------------

TOUR_CUSTOMER = "全家便利店导览示范店"
TOUR_REP, TOUR_MANAGER = "rep1", "liyan"
TOUR = [  # (key, button, what the step shows)
    ("start", "① 重置并开始", "演示团队回到现在，之前的预警都算已发过，消息面板是空的（导览期间其余商机暂停提醒）。"
                            "销售王磊新建客户「全家便利店导览示范店」（20万）并记录第一次拜访，没有约定下一步。"),
    ("yellow", "② 两天没跟进 → 🟡", "48 小时没有任何跟进：王磊收到 🟡 黄色提醒，带「已跟进 / 推迟 / 请主管支援」按钮。"),
    ("orange", "③ 第三天 → 🟠", "72 小时：🟠 橙色，紧急提醒王磊，并进入主管的日报。"),
    ("red", "④ 第五天 → 🔴 主管卡片", "5 天：🔴 红色，主管群收到介入卡片：谁的客户、停了多久、建议动作，和「我来介入 / 请销售跟进」。"),
    ("take", "⑤ 主管介入", "李岩在主管群点「我来介入」：王磊收到通知；这个停滞商机算作主管提前干预（提前干预率上升）。"),
    ("followup", "⑥ 销售跟进 → 数字变化", "王磊拜访客户并约定下一步：预警解除，红色预警数减少，商机回到正常。"),
]
TOUR_KEYS = [k for k, _, _ in TOUR]
LEVEL_RANK = {None: 0, "yellow": 1, "orange": 2, "red": 3}


def tour_deal(sim: Simulation):
    from storage.deals import open_deal
    customer = sandbox.customer_named(TOUR_CUSTOMER)
    return open_deal(customer.id) if customer is not None else None


def tour_level(sim: Simulation, deal) -> str | None:
    from handlers.views import deal_clock
    from rules.stale import silence
    rt = sim.rt
    stage = rt.funnel.stage(deal.stage)
    return silence(deal.last_movement_at, deal.next_step_due, stage.stale, to_db(sim.now()),
                   rt.funnel.pause_while_next_step_ahead, deal_clock(rt.funnel, rt.tz, stage.key, deal.team_id)).level


def advance_until(sim: Simulation, level: str) -> list[dict]:
    """Move the simulated now (running the jobs every hour) until the tour's deal is at `level`."""
    ran: list[dict] = []
    for _ in range(60):  # 6 hours at a time, at most 15 days
        deal = tour_deal(sim)
        if deal is None or LEVEL_RANK[tour_level(sim, deal)] >= LEVEL_RANK[level]:
            break
        old = sim.now()
        ran += run_jobs(sim, old, old + timedelta(hours=6))
    old = sim.now()
    return ran + run_jobs(sim, old, old + timedelta(hours=1))  # the scan and delivery of that hour


def tour_numbers(sim: Simulation) -> dict:
    """The numbers the tour watches move: the team's warnings now, this week's 提前干预率 and
    预警覆盖率, the tour deal's level (the dashboard's functions, on the simulation's database)."""
    from handlers import report
    from rules.kpi import week_of
    from storage.kpi_queries import reps_of

    from .dashboard import level_rule
    rt = sim.rt
    manager = people.rep_by_local_id(TOUR_MANAGER)
    now = to_db(sim.now())
    counts = {lv: 0 for lv in dashboard_queries.LEVELS}
    rule = level_rule(rt.funnel, now, rt.tz, manager.team_id)
    for levels in dashboard_queries.level_counts(manager.team_id, None, rule).values():
        for lv, (n, _) in levels.items():
            counts[lv] += n
    week = week_of(sim.now().astimezone(rt.tz).date())
    k, before = report.team_numbers_vs(rt.funnel, rt.tz, manager.team_id, [week, week.previous()], now)
    data = report.numbers_data(k, before, reps_of(manager.team_id), week, week.previous(), manager.team.name)
    metrics = {m["label"]: m for m in data["metrics"]}
    deal = tour_deal(sim)
    level = tour_level(sim, deal) if deal is not None else None
    from rules.stale import LEVEL_ICONS, LEVEL_NAMES
    return {"levels": counts, "deal_level": level,
            "deal": f"{LEVEL_ICONS.get(level, '⚪')} {LEVEL_NAMES.get(level, '正常')}" if deal else "—",
            "intervention": {k: metrics[k]["now"] + " · " + metrics[k]["detail"] for k in ("提前干预率", "预警覆盖率")},
            "period": week.label}


def run_step(sim: Simulation, key: str) -> dict:
    ran: list[dict] = []
    said = []
    if key == "start":
        sim.reset()
        for text in (f"新客户 {TOUR_CUSTOMER} 金额20万", f"拜访 {TOUR_CUSTOMER} 见了店长李经理,聊了冰柜投放和春节堆头"):
            said.append(send_as(sim, TOUR_REP, text)[1])
        # the rest of the team's reminders pause for the tour, so the panes show this deal's story
        sandbox.snooze_others(tour_deal(sim).id, to_db(sim.now()) + timedelta(days=10), "导览：其余商机暂停提醒")
    elif key in ("yellow", "orange", "red"):
        if tour_deal(sim) is None:
            raise ValueError("请先点「① 重置并开始」")
        ran = advance_until(sim, key)
    elif key == "take":
        deal = tour_deal(sim)
        if deal is None or tour_level(sim, deal) != "red":
            raise ValueError("导览商机还没到红色：请先完成第 ④ 步")
        group = people.team_group(people.rep_by_local_id(TOUR_MANAGER).team_id, "manager")
        cards = [m for m in outbox_for(sim, group.local_id) if TOUR_CUSTOMER in m.get("text", "")]
        button = next((b for m in reversed(cards) for b in m.get("buttons") or [] if b["action"].startswith("take:")),
                      None)
        action = button["action"] if button else None
        if action is None:  # the card went out inside a merged message: the button's action, typed
            from handlers.views import deal_silence, period_of
            ctx = sim.rt.context_for(people.rep_by_local_id(TOUR_MANAGER), to_db(sim.now()))
            action = f"take:{deal.id}:{period_of(deal_silence(ctx, deal).since)}"
        said.append(send_as(sim, TOUR_MANAGER, action=action)[1])
        old = sim.now()
        ran = run_jobs(sim, old, old + timedelta(minutes=5))  # delivers the rep's notice
    elif key == "followup":
        if tour_deal(sim) is None:
            raise ValueError("请先点「① 重置并开始」")
        said.append(send_as(sim, TOUR_REP, f"拜访 {TOUR_CUSTOMER} 见了店长李经理,确认先在3家门店试点,下一步下周五前发方案")[1])
    title, text = next((b, t) for k, b, t in TOUR if k == key)
    following = TOUR_KEYS.index(key) + 1
    return {"step": key, "title": title, "text": text, "summary": summarize(ran) if ran else "",
            "replies": [r.get("text", "") for s in said for r in s.get("replies", [])],
            "next": TOUR_KEYS[following] if following < len(TOUR_KEYS) else None,
            "now": describe(sim.rt, sim.now()), "numbers": tour_numbers(sim)}


@blueprint.post("/simulator/tour")
def simulator_tour():
    """One step of the guided tour ({"step": "start" | "yellow" | "orange" | "red" | "take" | "followup"})."""
    require_simulator()
    body = request.get_json(silent=True)
    if not isinstance(body, dict) or body.get("step") not in TOUR_KEYS:
        return jsonify(error="step 应为 " + " / ".join(TOUR_KEYS)), 400
    sim = simulation()
    with sim.using():
        try:
            return jsonify(run_step(sim, body["step"]))
        except ValueError as e:
            return jsonify(error=str(e)), 409
