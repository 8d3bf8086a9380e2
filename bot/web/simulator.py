"""The chat simulator (local mode, BOT_SIMULATOR=1): be any demo user, chat with the bot, press card
buttons, watch the manager group, and move a "simulated now" forward to see the warnings and the 09:00
card arrive.

No separate code path: a message or a button press is a POST to the local channel's
`/local/messages` (made inside this process through the app itself), the feeds are its
`/local/outbox`, and moving time runs the scheduler's jobs (bot/jobs.JOBS, delivery last) at each
hour of the simulated span, exactly as `python -m bot run JOB --now ...` would.

The simulated now belongs to the browser session. The runtime's clock is shared by the process, so
each simulated request swaps in a fixed clock under a lock and puts the real one back afterwards.
"""
from __future__ import annotations

import logging
import math
import threading
import uuid
from contextlib import contextmanager
from datetime import datetime, timedelta, timezone

from flask import abort, current_app, jsonify, render_template, request, session

from rules.calendar import is_workday
from storage import dashboard as q
from storage import people
from storage.database import to_db
from storage.redact import redact

from ..clock import FixedClock, aware
from . import blueprint, runtime, simulator_on
from .auth import ROLE_NAMES, current_user

log = logging.getLogger(__name__)
SIM_LOCK = threading.Lock()
MAX_ADVANCE = timedelta(days=14)
STEP = timedelta(hours=1)  # the jobs run at every hour of a simulated span
WEEKDAYS = "一二三四五六日"
FEED_LIMIT = 30


def require_simulator():
    if not simulator_on():
        abort(404)


def sim_now(rt) -> datetime:
    """The session's simulated now (aware UTC); the runtime's clock when not set yet."""
    text = session.get("sim_now")
    if text:
        try:
            return aware(datetime.fromisoformat(text))
        except ValueError:
            pass
    return aware(rt.clock.now()).replace(microsecond=0)


@contextmanager
def simulated(rt, at: datetime):
    """The runtime clock stands at `at` for the duration (one simulated request at a time)."""
    with SIM_LOCK:
        saved = rt.clock
        rt.clock = FixedClock(at)
        try:
            yield rt.clock
        finally:
            rt.clock = saved


def describe(rt, at: datetime) -> dict:
    local = at.astimezone(rt.tz)
    sched = rt.funnel.schedule
    workday = is_workday(local.date(), sched.days_off, sched.extra_workdays)
    return {"iso": at.astimezone(timezone.utc).isoformat(), "local": local.strftime("%Y-%m-%d %H:%M"),
            "weekday": "周" + WEEKDAYS[local.weekday()], "workday": workday,
            "label": f"{local:%Y-%m-%d} 周{WEEKDAYS[local.weekday()]} {local:%H:%M}" + ("" if workday else "（休息日）")}


def _local_channel(method: str, path: str, **kw):
    """A request to the local channel, through the app (its routes, checks and hooks)."""
    client = current_app.test_client()
    resp = client.open(path, method=method, **kw)
    return resp.status_code, resp.get_json(silent=True) or {}


def outbox_for(rt, to: str) -> list[dict]:
    """The local channel's outbox for `to`, oldest first, each with its local time: when it was sent
    (a message held for the send window shows the morning it went out), else when it was queued."""
    status, body = _local_channel("GET", "/local/outbox", query_string={"to": to, "limit": FEED_LIMIT})
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
    rt = runtime()
    users = q.demo_people()
    me = current_user()
    default = me.local_id if me else next((u[1] for u in users if u[3] == "rep"), users[0][1] if users else "")
    return render_template("pages/simulator.html", users=users, default_user=request.args.get("user") or default,
                           role_names=ROLE_NAMES, now=describe(rt, sim_now(rt)), max_days=MAX_ADVANCE.days)


@blueprint.get("/simulator/feed")
def simulator_feed():
    """What the bot sent the user, and their team's group chats, as the local channel's outbox shows them."""
    require_simulator()
    rt = runtime()
    user = request.args.get("user", "")
    rep = people.rep_by_local_id(user) if user else None
    groups = q.team_groups(rep.team_id) if rep is not None else []
    return jsonify(now=describe(rt, sim_now(rt)), user=user,
                   who={"name": rep.name, "role": ROLE_NAMES.get(rep.role, rep.role)} if rep else None,
                   messages=outbox_for(rt, user) if user else [],
                   groups=[{"id": gid, "name": name, "messages": outbox_for(rt, gid)} for gid, name in groups])


@blueprint.post("/simulator/send")
def simulator_send():
    """One message or button press as `user`, at the simulated now, through POST /local/messages."""
    require_simulator()
    rt = runtime()
    body = request.get_json(silent=True)
    if not isinstance(body, dict):
        return jsonify(error="请求体必须是 JSON 对象"), 400
    payload = {"user": body.get("user"), "id": f"sim-{uuid.uuid4().hex}"}
    if body.get("action"):
        payload["action"] = body["action"]
    else:
        payload["text"] = body.get("text")
    at = sim_now(rt)
    with simulated(rt, at):
        status, answer = _local_channel("POST", "/local/messages", json=payload)
    return jsonify(now=describe(rt, at), **answer), status


@blueprint.post("/simulator/advance")
def simulator_advance():
    """Move the simulated now: {"hours": n} | {"days": n} | {"to": "next-card"} | {"at": "ISO local"} |
    {"reset": true}; the scheduler's jobs run at every hour passed, delivery last."""
    require_simulator()
    rt = runtime()
    body = request.get_json(silent=True)
    if not isinstance(body, dict):
        return jsonify(error="请求体必须是 JSON 对象"), 400
    old = sim_now(rt)
    if body.get("reset"):
        session.pop("sim_now", None)
        return jsonify(now=describe(rt, sim_now(rt)), ran=[], summary="已回到真实时间")
    try:
        new = target_time(rt, old, body)
    except ValueError as e:
        return jsonify(error=str(e)), 400
    if new <= old:
        return jsonify(error="模拟时间只能向前拨"), 400
    if new - old > MAX_ADVANCE:
        return jsonify(error=f"一次最多前进 {MAX_ADVANCE.days} 天"), 400
    ran = run_jobs(rt, old, new)
    session["sim_now"] = new.isoformat()
    return jsonify(now=describe(rt, new), ran=ran, summary=summarize(ran))


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


def run_jobs(rt, old: datetime, new: datetime) -> list[dict]:
    """The scheduler's jobs at each simulated instant (as `python -m bot run JOB --now ...`), delivery last."""
    from ..jobs import JOBS
    jobs = [(n, j) for n, j in JOBS.items() if n != "deliver"] + [("deliver", JOBS["deliver"])]
    ran = []
    with simulated(rt, old) as clock:
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
