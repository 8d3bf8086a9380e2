"""The manager dashboard: the team's funnel, the warning board, high-intent customers, the health
distribution, each rep's follow-up interval and open warnings, and a page per deal.

Scope by role, always: a rep sees their own deals, a manager the team's, an admin every team's. The
team / rep / period filters narrow that scope and never widen it (a filter asking for more is ignored
and the page says so). Stale levels follow rules/stale.py, the KPIs rules/kpi.py (through the same
functions as the chat's 周报), and every count is a GROUP BY query (storage/dashboard_queries.py).
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta, timezone

from flask import abort, jsonify, redirect, render_template, request, url_for

from handlers import report
from handlers.views import deal_row, format_yuan, stage_change_text
from rules.access import is_manager, visible_to
from rules.advice import suggested_action
from rules.health_score import Part, Score
from rules.kpi import HEALTH_BUCKETS, HIGH_HEALTH, local_midnight, week_of
from rules.stale import LEVEL_ICONS, LEVEL_NAMES
from storage import dashboard_queries, people
from storage.deals import deal_facts

from . import blueprint, kpi_numbers, runtime
from .auth import ROLE_NAMES, current_user, login_required
from .deals import ACTION_NAMES, action_row, actions_context

WARN_LIMIT = 12  # warning-board rows on the main page
PAGE_SIZE = 50  # rows per page of the full warning list
REP_LIMIT = 100  # rows of the reps table
HIGH_INTENT_LIMIT = 10
ACTIVITY_NAMES = {"stage": "阶段变更", "warning": "预警"}
STATUS_NAMES = {"open": "进行中", "won": "赢单", "lost": "输单"}


# -- scope ---------------------------------------------------------------------------------------------

@dataclass
class Scope:
    user: object  # the logged-in Rep
    team_id: int | None  # None: every team (admin only)
    owner_id: int | None  # None: the whole team
    team_name: str
    owner_name: str | None
    notice: str | None = None  # a filter asked for more than the user may see

    @property
    def label(self) -> str:
        return self.owner_name or self.team_name


MAX_ID = 2 ** 31 - 1  # a row id fits a 32-bit integer column on every database
MAX_PAGE = 100_000


def id_arg(args, name: str) -> int | None:
    """A row id from the query string; anything else (a word, 0, 99999999999999999999) counts as absent."""
    value = args.get(name, type=int)
    return value if value is not None and 0 < value <= MAX_ID else None


def resolve_scope(user, args) -> Scope:
    """The scope of the page: the role's, narrowed by the team and rep filters where they fit in it."""
    max_team, max_owner = visible_to(user)
    notice = None
    team_arg, rep_arg = id_arg(args, "team"), id_arg(args, "rep")
    team_id = max_team
    teams = dict(dashboard_queries.teams()) if max_team is None else {user.team_id: user.team.name}
    if team_arg is not None:
        if max_team is None and team_arg in teams:
            team_id = team_arg
        elif team_arg != max_team:
            notice = "你只能查看自己权限内的数据，已显示你的范围。"
    owner_id, owner_name = max_owner, (user.name if max_owner else None)
    if rep_arg is not None and rep_arg != max_owner:
        person = dashboard_queries.rep(rep_arg) if max_owner is None else None
        if person is not None and (team_id is None or person.team_id == team_id):
            owner_id, owner_name, team_id = person.id, person.name, person.team_id
        else:
            notice = "你只能查看自己权限内的数据，已显示你的范围。"
    team_name = teams.get(team_id, "全部团队") if team_id is not None else "全部团队"
    return Scope(user, team_id, owner_id, team_name, owner_name, notice)


def level_rule(funnel, now, tz, team_id=None) -> dashboard_queries.LevelRule:
    """The stale thresholds of rules/funnel.toml as instants: a silence started at or before them is at the level
    (by each stage's clock: working days only, unless the stage or the team counts every hour)."""
    team = scope_team(funnel, team_id)

    def cut(th, clock) -> dashboard_queries.Cutoffs:
        return dashboard_queries.Cutoffs(yellow=clock.latest_start(now, th.yellow_hours),
                                         orange=clock.latest_start(now, th.orange_hours),
                                         red=clock.latest_start(now, th.red_hours))
    return dashboard_queries.LevelRule({s.key: cut(s.stale, funnel.clock(tz, s.key, team)) for s in funnel.stages},
                                       cut(funnel.default_stale, funnel.clock(tz, None, team)),
                                       funnel.pause_while_next_step_ahead)


def scope_team(funnel, team_id):
    """The team name whose [teams.NAME] clock applies (none for a view over every team)."""
    return people.team_name(team_id) if funnel.schedule.team_clocks and team_id is not None else None


def local(dt, tz, fmt: str = "%m-%d %H:%M") -> str:
    if dt is None:
        return ""
    return dt.replace(tzinfo=timezone.utc).astimezone(tz).strftime(fmt)


def warning_rows(rt, rows: list[dashboard_queries.WarnedDeal], now, team_id=None) -> list[dict]:
    """The board's rows, each level and silence worked out by rules/stale.silence itself (by the team's
    clock), with the next step, its due date and the suggested action (rules/advice)."""
    team = scope_team(rt.funnel, team_id)
    out = []
    for d in rows:
        row = action_row(rt, now, deal_id=d.id, customer=d.customer, owner=d.owner, owner_id=d.owner_id,
                         stage_key=d.stage, amount=d.amount, last_movement_at=d.last_movement_at,
                         next_step=d.next_step, next_step_due=d.next_step_due, snoozed_until=d.snoozed_until,
                         intervention_by=d.intervention_by, team=team)
        if row["level"] is not None:
            out.append(row)
    return out


def drill_scope(scope: Scope) -> dict:
    """The deal-list parameters that keep a drill-down link inside the page's scope."""
    out = {}
    if scope.user.role == "admin" and scope.team_id is not None:
        out["team"] = scope.team_id
    if is_manager(scope.user) and scope.owner_id is not None:
        out["rep"] = scope.owner_id
    return out


def filters_context(scope: Scope, period_key: str):
    user = scope.user
    teams = dashboard_queries.teams() if user.role == "admin" else []
    people = []
    if is_manager(user) and scope.team_id is not None:
        people = [(pid, name, role) for pid, _, name, role, _ in dashboard_queries.people(scope.team_id)]
    return {"teams": teams, "people": people, "periods": kpi_numbers.PERIODS, "period_key": period_key,
            "team_id": scope.team_id, "owner_id": scope.owner_id}


# -- pages ---------------------------------------------------------------------------------------------

@blueprint.get("/")
def home():
    return redirect(url_for("web.dashboard"))


def kpi_view(rt, scope: Scope, period, now, compute: bool) -> dict | None:
    """The manager's numbers of the scope and period, shaped for the page (JSON-safe): from the cache,
    or computed (rules/kpi through handlers.report, as the chat's 周报) when `compute`."""
    # the database is part of the key: the simulator's own database lives in the same process
    key = kpi_numbers.cache_key(scope.team_id, scope.owner_id, period, now, dashboard_queries.data_version()) + \
        (not is_manager(scope.user), rt.config.database_url)
    hit = kpi_numbers.cached(key)
    if hit is None and compute:
        reps = kpi_numbers.reps_of(scope.team_id)
        k, numbers = kpi_numbers.page_numbers(rt.funnel, rt.tz, scope.team_id, scope.owner_id, period, now, reps,
                                              scope.team_name, for_rep=not is_manager(scope.user))
        hit = {"numbers": numbers,
               "stages": {f.key: {"conversion": report.pct(f.conversion) if f.present else "—",
                                  "title": f"{f.advanced}/{f.present}，平均停留 {report.in_days(f.avg_days)}"
                                           + (f"，{f.stalled} 个停滞" if f.stalled else ""),
                                  "stalled": f.stalled} for f in k.stages},
               "followup": {str(rid): {"days": report.in_days(d), "customers": n}
                            for rid, (d, n) in k.followup.by_rep.items()},
               "computed_at": local(now, rt.tz, "%H:%M"),
               "trend": kpi_numbers.trend_view(rt.tz, scope.team_id, scope.owner_id,
                                               now.replace(tzinfo=timezone.utc).astimezone(rt.tz).date(), now),
               "reps": rep_view(rt, scope, period, now, k, reps)}
        kpi_numbers.remember(key, hit)
    return hit


def rep_view(rt, scope: Scope, period, now, k, reps: dict) -> dict:
    """Per rep, JSON-safe: this week's follow-ups and deals moved, the period's won deals, and the amount
    won against their own target (handlers.report.rep_target, as 周报 and the weekly card say it)."""
    today = now.replace(tzinfo=timezone.utc).astimezone(rt.tz).date()
    week_start = week_of(today).bounds(rt.tz)[0]
    p_start, p_end = period.bounds(rt.tz)
    stats = dashboard_queries.rep_stats(scope.team_id, scope.owner_id, week_start, now, p_start,
                                        min(p_end, now + timedelta(seconds=1)))
    out = {}
    for rid, (name, _, _) in reps.items():
        if scope.owner_id is not None and rid != scope.owner_id:
            continue
        s = stats.get(rid) or {"visits": 0, "moved": 0, "won": 0, "won_amount": 0}
        t = report.rep_target(k, rid, name, period)
        out[str(rid)] = {**s, "won_text": f"{s['won']}个 {format_yuan(s['won_amount'])}" if s["won"] else "0",
                         "target": t["now"], "target_detail": t["detail"], "target_set": t["set"]}
    return out


def page_scope(rt, user):
    now = rt.now()
    scope = resolve_scope(user, request.args)
    today = now.replace(tzinfo=timezone.utc).astimezone(rt.tz).date()
    period_key, period = kpi_numbers.parse(request.args.get("period"), today)
    return now, scope, period_key, period


@blueprint.get("/dashboard")
@login_required
def dashboard():
    rt, user = runtime(), current_user()
    now, scope, period_key, period = page_scope(rt, user)
    team_id, owner_id = scope.team_id, scope.owner_id
    rule = level_rule(rt.funnel, now, rt.tz, team_id)
    kpi = kpi_view(rt, scope, period, now, compute=request.args.get("wait") == "1")

    # the funnel now (open deals); the period's conversion between stages comes with the KPIs
    totals = dashboard_queries.stage_totals(team_id, owner_id)
    stages = []
    for s in rt.funnel.open_stages:
        n, amount = totals.get(s.key, (0, 0))
        stages.append({"no": s.order, "key": s.key, "name": s.name, "count": n, "amount": amount})
    top = max([s["count"] for s in stages] + [1])
    for s in stages:
        s["width"] = round(100 * s["count"] / top, 1)

    # the warning board
    by_owner = dashboard_queries.level_counts(team_id, owner_id, rule)
    level_totals = {lv: [0, 0] for lv in dashboard_queries.LEVELS}
    for levels in by_owner.values():
        for lv, (n, amount) in levels.items():
            level_totals[lv][0] += n
            level_totals[lv][1] += amount
    warned = warning_rows(rt, dashboard_queries.warned_deals(team_id, owner_id, rule, limit=WARN_LIMIT), now, team_id)
    warned_total = sum(n for n, _ in level_totals.values())
    today = now.replace(tzinfo=timezone.utc).astimezone(rt.tz).date()
    due_today = dashboard_queries.DealFilter(due_before=local_midnight(today, rt.tz) + timedelta(days=1))
    due_count, _ = dashboard_queries.deal_list_totals(team_id, owner_id, due_today, rule, now)

    # customers
    hi_count, hi_rows = dashboard_queries.high_intent(team_id, owner_id, limit=HIGH_INTENT_LIMIT)
    for c in hi_rows:
        c["stage_name"] = stage_name(rt.funnel, c["stage"])
    scores, tiers = dashboard_queries.health_counts(team_id, owner_id)
    health = health_rows(scores)
    scored = sum(n for h, n in scores.items() if h is not None)

    # reps: open deals and warnings (the follow-up interval comes with the KPIs)
    open_by = dashboard_queries.open_by_owner(team_id, owner_id)
    people = dashboard_queries.people(team_id, owner_id, limit=REP_LIMIT + 1)
    rep_rows = []
    for pid, _, name, role, _ in people[:REP_LIMIT]:
        if role != "rep" and pid not in open_by:
            continue
        levels = by_owner.get(pid, {})
        rep_rows.append({"id": pid, "name": name, "role": ROLE_NAMES.get(role, role),
                         "open": open_by.get(pid, (0, 0))[0], "amount": open_by.get(pid, (0, 0))[1],
                         "red": levels.get("red", (0, 0))[0], "orange": levels.get("orange", (0, 0))[0],
                         "yellow": levels.get("yellow", (0, 0))[0]})
    rep_rows.sort(key=lambda r: (-r["red"], -r["orange"], -r["yellow"], r["name"]))

    args = {k: v for k, v in request.args.items() if k in ("team", "rep", "period")}
    return render_template(
        "pages/dashboard.html", scope=scope, role_name=ROLE_NAMES.get(user.role, user.role),
        now_local=local(now, rt.tz, "%Y-%m-%d %H:%M"), period=period, baseline=period.previous(), kpi=kpi,
        numbers_url=url_for("web.dashboard_numbers", **args), wait_url=url_for("web.dashboard", wait="1", **args),
        stages=stages, total_count=sum(s["count"] for s in stages), total_amount=sum(s["amount"] for s in stages),
        level_totals=level_totals, warned=warned, warned_total=warned_total, warned_more=max(0, warned_total - len(warned)),
        icons=LEVEL_ICONS, level_names=LEVEL_NAMES, hi_count=hi_count, hi_rows=hi_rows, health=health,
        tiers=tiers, scored=scored, rep_rows=rep_rows, reps_more=max(0, len(people) - REP_LIMIT), due_count=due_count,
        next_url=request.full_path.rstrip("?"), drill_scope=drill_scope(scope), **actions_context(user, scope.team_id),
        **filters_context(scope, period_key))


@blueprint.get("/dashboard/numbers")
@login_required
def dashboard_numbers():
    """The manager's numbers of the dashboard's scope and period (the page fetches them when they were
    not ready): the KPI cards and the stalls as HTML, stage conversions and follow-up intervals as data."""
    rt, user = runtime(), current_user()
    now, scope, period_key, period = page_scope(rt, user)
    kpi = kpi_view(rt, scope, period, now, compute=True)
    drill = drill_scope(scope)
    return jsonify(metrics_html=render_template("pages/_kpi.html", kpi=kpi, part="metrics", drill_scope=drill),
                   stalls_html=render_template("pages/_kpi.html", kpi=kpi, part="stalls", drill_scope=drill),
                   lost_html=render_template("pages/_kpi.html", kpi=kpi, part="lost", drill_scope=drill),
                   trend_html=render_template("pages/_kpi.html", kpi=kpi, part="trend", drill_scope=drill),
                   stages=kpi["stages"], followup=kpi["followup"], reps=kpi["reps"], period=period.label,
                   baseline=kpi["numbers"]["baseline"], computed_at=kpi["computed_at"])


@blueprint.get("/dashboard/warnings")
@login_required
def warnings():
    """Every deal at a stale level (or at one level), the longest silence first, a page at a time."""
    rt, user = runtime(), current_user()
    now = rt.now()
    scope = resolve_scope(user, request.args)
    level = request.args.get("level")
    level = level if level in dashboard_queries.LEVELS else None
    page = min(MAX_PAGE, max(1, request.args.get("page", 1, type=int) or 1))
    rule = level_rule(rt.funnel, now, rt.tz, scope.team_id)
    rows = dashboard_queries.warned_deals(scope.team_id, scope.owner_id, rule, level=level, limit=PAGE_SIZE + 1,
                                          offset=(page - 1) * PAGE_SIZE)
    period_key = request.args.get("period", kpi_numbers.DEFAULT_PERIOD)
    return render_template("pages/warnings.html", scope=scope, level=level, page=page,
                           rows=warning_rows(rt, rows[:PAGE_SIZE], now, scope.team_id), has_next=len(rows) > PAGE_SIZE,
                           icons=LEVEL_ICONS, level_names=LEVEL_NAMES, role_name=ROLE_NAMES.get(user.role, user.role),
                           now_local=local(now, rt.tz, "%Y-%m-%d %H:%M"), next_url=request.full_path.rstrip("?"),
                           **actions_context(user, scope.team_id), **filters_context(scope, period_key))


@blueprint.get("/dashboard/deal/<int:deal_id>")
@login_required
def deal_page(deal_id: int):
    rt, user = runtime(), current_user()
    now = rt.now()
    team_id, owner_id = visible_to(user)
    deal = dashboard_queries.deal(deal_id, team_id, owner_id) if 0 < deal_id <= MAX_ID else None
    if deal is None:  # not there, or not yours: the same answer
        abort(404, description="没有这个商机，或你无权查看。")
    funnel = rt.funnel
    try:
        stage = funnel.stage(deal.stage)
    except KeyError:
        stage = None
    row = deal_row(rt.context_for(user, now), deal) if stage is not None and deal.status == "open" else None
    advice = None
    if row is not None:
        advice = suggested_action(row["level"], stage.suggestion, deal.next_step, deal.next_step_due, now,
                                  deal.intervention_by_id is not None)

    # exit criteria of the current stage (what must be logged before the deal may move on)
    criteria = []
    if stage is not None and deal.status == "open":
        following = [s for s in funnel.stages if s.order == stage.order + 1]
        missing = set()
        if following:
            missing = {c.key for _, c in funnel.missing_criteria(deal_facts(deal), stage.key, following[0].key)}
        criteria = [{"label": funnel.criteria[c].label, "met": c not in missing} for c in stage.exit]

    # the health score and what cost it points (rules/health)
    history = dashboard_queries.score_history(deal.customer_id, 30)
    breakdown, best, total = [], None, None
    if history:
        day, total, parts = history[0]
        signals = rt.health_rules.signals
        score = Score(total, tuple(Part(key, conf.get("name", key), float(parts.get(key, 0.0)), float(conf["weight"]),
                                        conf.get("action", "")) for key, conf in signals.items()))
        best = score.best_action
        breakdown = [{"name": p.name, "points": round(p.points, 1), "weight": round(p.weight), "lost": round(p.lost, 1),
                      "width": round(100 * p.points / p.weight, 1) if p.weight else 0, "action": p.action}
                     for p in score.parts]
    spark = sparkline([s for _, s, _ in reversed(history)])

    timeline = []
    for e in dashboard_queries.deal_timeline(deal):
        item = {"at": local(e["at"], rt.tz, "%Y-%m-%d %H:%M"), "who": e["who"], "text": e["text"], "type": e["type"]}
        if e["type"] == "activity":
            kind = funnel.activities.get(e["kind"])
            item["what"] = kind.name if kind else e["kind"]
            if e["contact"]:
                item["contact"] = e["contact"] + (f"（{e['title']}）" if e["title"] else "") + \
                    (" · 决策人" if e["decision_maker"] else "")
        elif e["type"] == "stage":
            item["what"] = ACTIVITY_NAMES["stage"]
            closed = e["text"].startswith(("won", "lost"))  # the close itself says won or lost
            item["text"] = (stage_change_text(funnel, e["from"], e["to"], e["text"]) if e["from"] or closed
                            else stage_name(funnel, e["to"])) + (f"（{e['text']}）" if e["text"] and not closed else "")
        else:
            item["what"] = f"{LEVEL_ICONS.get(e['level'], '')} {LEVEL_NAMES.get(e['level'], e['level'])}预警"
            item["level"] = e["level"]
        timeline.append(item)

    return render_template(
        "pages/deal.html", deal=deal, row=row, stage=stage, stages=funnel.open_stages, criteria=criteria,
        status_name=STATUS_NAMES.get(deal.status, deal.status), breakdown=breakdown, best=best, total=total,
        spark=spark, history_days=len(history), timeline=timeline,
        contacts=dashboard_queries.contacts(deal.customer_id), counts=dashboard_queries.deal_counts(deal),
        others=[(i, stage_name(funnel, s), STATUS_NAMES.get(st, st), a)
                for i, s, st, a in dashboard_queries.other_deals(deal.customer_id, deal.id)],
        role_name=ROLE_NAMES.get(user.role, user.role), advice=advice,
        manager_actions=dashboard_queries.actions_of([deal.id]).get(deal.id, []), action_names=ACTION_NAMES,
        next_url=request.path, **{k: v for k, v in actions_context(user, deal.team_id).items() if k != "action_names"},
        fmt=lambda dt, f="%Y-%m-%d %H:%M": local(dt, rt.tz, f),
        now_local=local(now, rt.tz, "%Y-%m-%d %H:%M"))


def health_rows(scores: dict) -> list[dict]:
    """Customers per health bucket, the buckets of the weekly review (rules.kpi.HEALTH_BUCKETS), and the
    ones not scored yet."""
    rows = [{"label": label, "count": sum(n for h, n in scores.items() if h is not None and lo <= h <= hi),
             "high": lo >= HIGH_HEALTH} for lo, hi, label in HEALTH_BUCKETS]
    rows.append({"label": "未评分", "count": scores.get(None, 0), "high": False})
    top = max([r["count"] for r in rows] + [1])
    for r in rows:
        r["width"] = round(100 * r["count"] / top, 1)
    return rows


def stage_name(funnel, key: str | None) -> str:
    if not key:
        return ""
    try:
        return funnel.stage(key).name
    except KeyError:
        return key


def sparkline(values: list[int], width: int = 240, height: int = 48) -> dict | None:
    """An SVG polyline of daily scores (0-100), oldest first."""
    if len(values) < 2:
        return None
    step = width / (len(values) - 1)
    points = " ".join(f"{i * step:.1f},{height - v / 100 * height:.1f}" for i, v in enumerate(values))
    return {"points": points, "width": width, "height": height, "min": min(values), "max": max(values),
            "first": values[0], "last": values[-1], "days": len(values)}
