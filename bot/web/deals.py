"""The deals behind every number: a filtered, searchable, sortable list (`/dashboard/deals`), its Excel
export (`/dashboard/deals.xlsx`), the manager's actions from the page (介入 / 催办 / 改派, POST
`/dashboard/deal/<id>/act`) and the signed deal links of chat messages (`/d/<token>`).

The scope is the role's (resolve_scope in dashboard.py); the filters only narrow it. Every parameter is
checked: a value that cannot be read answers 400 and the list is not shown, never a 500.
A manager action runs through the one inbound path (`runtime.handle`, channel "link" as a signed
action link does) with an id the page's form carries, so a double submit acts once.
"""
from __future__ import annotations

import io
import re
import secrets
from datetime import timedelta, timezone

from flask import Response, abort, flash, redirect, render_template, request, url_for

from rules.access import is_manager, visible_to
from rules.advice import suggested_action
from rules.stale import LEVEL_ICONS, LEVEL_NAMES, silence
from storage import dashboard_queries

from handlers.messages import Incoming
from ..render import render_text
from . import blueprint, kpi_numbers, runtime
from .auth import ROLE_NAMES, current_user, login_required

LIST_PAGE = 50
EXPORT_MAX = 50000  # rows of one Excel export
STATUS_NAMES = {"open": "进行中", "won": "赢单", "lost": "输单", "all": "全部"}
ACTION_NAMES = {"take": "介入", "nudge": "催办", "reassign": "改派"}
MAX_INT = 2 ** 53
_NONCE = re.compile(r"^[A-Za-z0-9_-]{8,64}$")


# -- rows -------------------------------------------------------------------------------------------------

def action_row(rt, now, *, deal_id, customer, owner, owner_id, stage_key, amount, last_movement_at,
               next_step, next_step_due, snoozed_until, intervention_by, status="open", team=None) -> dict:
    """A deal as a row of the board or the list: level and silence (rules/stale), the next step and its
    due date, the suggested action (rules/advice) and what the manager's buttons need. `team`: the team
    whose [teams.NAME] clock counts the silence (dashboard.scope_team)."""
    from handlers.views import period_of
    funnel = rt.funnel
    try:
        stage = funnel.stage(stage_key)
        th, name, suggestion = stage.stale, stage.name, stage.suggestion
    except KeyError:
        th, name, suggestion = funnel.default_stale, stage_key, ""
    row = {"deal_id": deal_id, "customer": customer, "owner": owner, "owner_id": owner_id, "stage": name,
           "amount": amount, "status": status, "next_step": next_step or "",
           "due": local(next_step_due, rt.tz, "%m-%d") if next_step_due else "",
           "snoozed": bool(snoozed_until and snoozed_until > now), "intervention": intervention_by is not None,
           "level": None, "level_name": "", "icon": "", "days_silent": None, "hours_silent": None, "since": "",
           "period": None, "advice": "", "advice_who": "", "overdue_days": 0}
    if status != "open":
        return row
    s = silence(last_movement_at, next_step_due, th, now, funnel.pause_while_next_step_ahead,
                funnel.clock(rt.tz, stage_key, team))
    a = suggested_action(s.level, suggestion, next_step, next_step_due, now, intervention_by is not None)
    row.update(level=s.level, level_name=LEVEL_NAMES.get(s.level, ""), icon=LEVEL_ICONS.get(s.level, "⚪"),
               days_silent=s.days, hours_silent=round(s.hours), since=local(s.since, rt.tz),
               period=period_of(s.since), advice=a.text, advice_who=a.who, overdue_days=a.overdue_days)
    return row


def end_of_today(rt, today):
    from rules.kpi import local_midnight
    return local_midnight(today, rt.tz) + timedelta(days=1)


def local(dt, tz, fmt: str = "%m-%d %H:%M") -> str:
    if dt is None:
        return ""
    return dt.replace(tzinfo=timezone.utc).astimezone(tz).strftime(fmt)


def nonce() -> str:
    return secrets.token_urlsafe(12)


def actions_context(user, team_id) -> dict:
    """What the action forms need: may this user act, and the reps a deal can be given to."""
    can = is_manager(user)
    reps = []
    if can and team_id is not None:
        reps = [(pid, name) for pid, _, name, role, _ in dashboard_queries.people(team_id) if role == "rep"]
    return {"can_act": can, "reassign_to": reps, "nonce": nonce, "action_names": ACTION_NAMES}


# -- parameters -------------------------------------------------------------------------------------------

def int_arg(args, name: str, lo: int = 0, hi: int = MAX_INT) -> int | None:
    raw = (args.get(name) or "").strip()
    if not raw:
        return None
    if not re.fullmatch(r"\d{1,16}", raw) or not lo <= int(raw) <= hi:
        abort(400, description=f"参数 {name} 应为 {lo} 到 {hi} 之间的整数。")
    return int(raw)


def choice_arg(args, name: str, allowed, default=None):
    raw = (args.get(name) or "").strip()
    if not raw:
        return default
    if raw not in allowed:
        abort(400, description=f"参数 {name} 的值「{raw[:20]}」无法识别。")
    return raw


def amount_arg(args, name: str) -> int | None:
    """An amount as in chat (8万, 80000, 1.2亿); 400 when it cannot be read."""
    raw = (args.get(name) or "").strip()
    if not raw:
        return None
    from handlers.parse.numbers import parse_amount
    try:
        value = parse_amount(raw[:20])
    except Exception:  # noqa: BLE001  whatever the parser refuses is a bad parameter
        value = None
    if value is None or not 0 <= value <= MAX_INT:
        abort(400, description=f"参数 {name} 应为金额，例如 8万 或 80000。")
    return int(value)


def list_filter(rt, args, today) -> tuple[dashboard_queries.DealFilter, dict]:
    """The filter of the request's parameters, and the parameters as read (for the form and links)."""
    stages = [s.key for s in rt.funnel.stages]
    status = choice_arg(args, "status", STATUS_NAMES, "open")
    period_key, period = None, None
    if (args.get("period") or "").strip():
        raw = args["period"].strip()[:30]
        try:
            period_key, period = kpi_numbers.parse(raw, today)
            period.bounds(rt.tz)
        except (ValueError, OverflowError):
            period_key = None
        if period_key != raw:
            abort(400, description=f"统计周期「{raw}」无法识别，例如 this-month、2026-11、2026-Q4。")
    created = (args.get("created") or "") == "1"
    bounds = period.bounds(rt.tz) if period else (None, None)
    f = dashboard_queries.DealFilter(
        status=status, stage=choice_arg(args, "stage", stages),
        level=choice_arg(args, "level", dashboard_queries.LEVELS),
        tier=choice_arg(args, "tier", ("A", "B", "C")), min_amount=amount_arg(args, "min"),
        max_amount=amount_arg(args, "max"), overdue=(args.get("overdue") or "") == "1",
        search=(args.get("q") or "").strip()[:50],
        closed_from=bounds[0] if period and not created else None, closed_until=bounds[1] if period and not created else None,
        created_from=bounds[0] if period and created else None, created_until=bounds[1] if period and created else None,
        acted=(args.get("acted") or "") == "1", high_intent=(args.get("hi") or "") == "1",
        due_before=end_of_today(rt, today) if (args.get("due") or "") == "today" else None)
    choice_arg(args, "due", ("today",))
    keep = {k: v for k, v in args.items() if k in ("status", "stage", "level", "tier", "min", "max", "overdue", "q",
                                                    "period", "created", "acted", "sort", "team", "rep", "due", "hi") and v}
    return f, {"period_key": period_key, "period": period, "keep": keep}


# -- pages ------------------------------------------------------------------------------------------------

def _list_request():
    from .dashboard import level_rule, resolve_scope, scope_team
    rt, user = runtime(), current_user()
    now = rt.now()
    int_arg(request.args, "rep", 1, 2 ** 63 - 1)
    int_arg(request.args, "team", 1, 2 ** 63 - 1)
    scope = resolve_scope(user, request.args)
    today = now.replace(tzinfo=timezone.utc).astimezone(rt.tz).date()
    f, read = list_filter(rt, request.args, today)
    sort = choice_arg(request.args, "sort", dashboard_queries.SORTS,
                      "closed" if f.status in ("won", "lost") else "silence")
    rule = level_rule(rt.funnel, now, rt.tz, scope.team_id)
    return rt, user, now, scope, f, read, sort, rule, scope_team(rt.funnel, scope.team_id)


def _row_of(rt, now, d: dashboard_queries.ListedDeal, team=None) -> dict:
    row = action_row(rt, now, deal_id=d.id, customer=d.customer, owner=d.owner, owner_id=d.owner_id,
                     stage_key=d.stage, amount=d.amount, last_movement_at=d.last_movement_at,
                     next_step=d.next_step, next_step_due=d.next_step_due, snoozed_until=d.snoozed_until,
                     intervention_by=d.intervention_by, status=d.status, team=team)
    row.update(tier=d.tier, health=d.health, created=local(d.created_at, rt.tz, "%Y-%m-%d"),
               closed=local(d.closed_at, rt.tz, "%Y-%m-%d"), lost_reason=d.lost_reason or "",
               status_name=STATUS_NAMES.get(d.status, d.status))
    return row


@blueprint.get("/dashboard/deals")
@login_required
def deal_list():
    rt, user, now, scope, f, read, sort, rule, team = _list_request()
    page = int_arg(request.args, "page", 1, 100000) or 1
    rows = dashboard_queries.deal_list(scope.team_id, scope.owner_id, f, rule, now, sort, limit=LIST_PAGE + 1,
                                       offset=(page - 1) * LIST_PAGE)
    count, amount = dashboard_queries.deal_list_totals(scope.team_id, scope.owner_id, f, rule, now)
    shown = [_row_of(rt, now, d, team) for d in rows[:LIST_PAGE]]
    acted = dashboard_queries.actions_of([r["deal_id"] for r in shown])
    for r in shown:
        r["actions"] = [f"{ACTION_NAMES.get(k, k)} {local(at, rt.tz)} {name}" for k, at, name in acted.get(r["deal_id"], [])]
    from .dashboard import filters_context
    people = filters_context(scope, read["period_key"] or kpi_numbers.DEFAULT_PERIOD)
    return render_template(
        "pages/deals.html", scope=scope, rows=shown, count=count, amount=amount, page=page,
        has_next=len(rows) > LIST_PAGE, f=f, keep=read["keep"], period=read["period"], sort=sort,
        sorts=dashboard_queries.SORTS,
        stages=rt.funnel.stages, statuses=STATUS_NAMES, level_names=LEVEL_NAMES, icons=LEVEL_ICONS,
        role_name=ROLE_NAMES.get(user.role, user.role), now_local=local(now, rt.tz, "%Y-%m-%d %H:%M"),
        export_max=EXPORT_MAX, next_url=request.full_path.rstrip("?"), periods=kpi_numbers.PERIODS,
        people=people["people"], teams=people["teams"], owner_id=scope.owner_id, team_id=scope.team_id,
        **actions_context(user, scope.team_id))


@blueprint.get("/dashboard/deals.xlsx")
@login_required
def deal_export():
    """The same list as an Excel workbook (openpyxl, write-only: rows stream into the file)."""
    from openpyxl import Workbook
    rt, user, now, scope, f, read, sort, rule, team = _list_request()
    rows = dashboard_queries.deal_list(scope.team_id, scope.owner_id, f, rule, now, sort, limit=EXPORT_MAX)
    wb = Workbook(write_only=True)
    ws = wb.create_sheet("商机")
    ws.append(["商机ID", "客户", "负责销售", "阶段", "金额(元)", "状态", "预警", "无进展(天)", "下一步", "下一步到期",
               "建议动作", "客户分级", "健康分", "创建日期", "成交/输单日期", "输单原因"])
    for d in rows:
        r = _row_of(rt, now, d, team)
        ws.append([r["deal_id"], r["customer"], r["owner"], r["stage"], r["amount"], r["status_name"],
                   r["level_name"], r["days_silent"], r["next_step"], local(d.next_step_due, rt.tz, "%Y-%m-%d"),
                   r["advice"], r["tier"], r["health"], r["created"], r["closed"], r["lost_reason"]])
    out = io.BytesIO()
    wb.save(out)
    name = f"deals-{local(now, rt.tz, '%Y%m%d-%H%M')}.xlsx"
    return Response(out.getvalue(), mimetype="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
                    headers={"Content-Disposition": f"attachment; filename={name}", "Cache-Control": "no-store"})


@blueprint.post("/dashboard/deal/<int:deal_id>/act")
@login_required
def deal_act(deal_id: int):
    """介入 / 催办 / 改派 from the page: the card button's action, run as the logged-in manager."""
    from .auth import safe_next
    rt, user = runtime(), current_user()
    back = safe_next(request.form.get("next") or url_for("web.deal_page", deal_id=deal_id))
    if not is_manager(user):
        abort(403, description="介入、催办和改派由团队主管来做。")
    if not 0 < deal_id < 2 ** 63:
        abort(404, description="没有这个商机，或你无权查看。")
    team_id, owner_id = visible_to(user)
    if dashboard_queries.deal(deal_id, team_id, owner_id) is None:
        abort(404, description="没有这个商机，或你无权查看。")
    kind = choice_arg(request.form, "action", ACTION_NAMES)
    period = int_arg(request.form, "period", 0, 2 ** 40)
    if kind is None or period is None:
        abort(400, description="缺少操作或预警期。")
    action = f"{kind}:{deal_id}:{period}"
    if kind == "reassign":
        to = int_arg(request.form, "to", 1, 2 ** 63 - 1)
        if to is None:
            abort(400, description="请选择改派给哪位销售。")
        action += f":{to}"
    token = request.form.get("nonce") or ""
    if not _NONCE.match(token):
        abort(400, description="页面已过期，请刷新后重试。")
    handled = rt.handle(Incoming("link", f"web:{user.id}:{token}", user.local_id, action=action))
    for r in handled.replies:
        flash(render_text(r, "link"), "done" if r.template != "refusal" else "refused")
    return redirect(back)


@blueprint.get("/d/<token>")
@login_required
def deal_link(token: str):
    """A chat message's signed link to a deal's page (opened after a login by the chat tool)."""
    deal_id = runtime().links.read_deal(token)
    if deal_id is None:
        abort(404, description="这个商机链接无效，请在聊天中打开最新的消息。")
    return redirect(url_for("web.deal_page", deal_id=deal_id))
