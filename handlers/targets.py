"""Sales targets in chat, for managers: `目标 张伟 50万` sets a rep's own target for this quarter,
`目标 张伟 2026-11 30万` for a month (or 下季度 / 下月), `目标 团队 300万` the team's; `目标` (or
`目标 2026-Q4`) lists them. English: `target Zhang Wei 500k`, `target team 3m`.

The command line does the same (`python -m bot target TEAM PERIOD AMOUNT [--rep NAME]`). An admin names
the team (`目标 华东饮料团队 300万`; `目标 华东饮料团队 张伟 50万` for a name found in two teams).
Anything not understood (no such person, no amount, a week instead of a quarter) is answered and changes
nothing.
"""
from __future__ import annotations

from rules.access import is_manager, visible_to
from rules.kpi import Period, month_of, parse_period, quarter_of
from storage import kpi_queries, people

from .context import Context
from .customers import MAX_AMOUNT
from .parse import find_amount
from .router import Router

TEAM_WORDS = {"团队", "全队", "全团队", "整个团队", "team", "the team"}
_NEXT = {"下季度": "quarter", "下个季度": "quarter", "next quarter": "quarter", "next-quarter": "quarter",
         "下月": "month", "下个月": "month", "next month": "month", "next-month": "month"}
NAMES_SHOWN = 20  # names listed in an answer


def parse_target_period(words: list[str], today) -> tuple[Period | None, list[str], str | None]:
    """(the period named among `words`, else this quarter; the other words; the text of a period that
    cannot carry a target, e.g. a week)."""
    for size in (2, 1):
        for i in range(len(words) - size + 1):
            text = " ".join(words[i:i + size])
            kind = _NEXT.get(text.lower())
            if kind == "quarter":
                period = quarter_of(quarter_of(today).end)
            elif kind == "month":
                period = month_of(month_of(today).end)
            else:
                period = parse_period(text, today)
            if period is not None:
                rest = words[:i] + words[i + size:]
                return (period, rest, None) if period.kind in ("quarter", "month") else (None, rest, text)
    return quarter_of(today), words, None


def notice(ctx: Context, code: str, **data) -> None:
    ctx.understood["refused"] = code
    ctx.say("target_notice", code=code, **data)


def target(ctx: Context, args: str) -> None:
    if not is_manager(ctx.rep):
        return notice(ctx, "manager_only")
    amount, rest = find_amount(args)
    period, words, bad = parse_target_period(rest.split(), ctx.today)
    admin = visible_to(ctx.rep)[0] is None  # an admin sets any team's targets
    everyone = people.active_people(None if admin else ctx.rep.team_id)
    if bad is not None:
        return notice(ctx, "bad_period", text=bad[:30], example=example_name(everyone))
    ctx.understood["period"] = period.key
    teams = {tid: tname for *_, tid, tname in everyone} if admin else {ctx.rep.team_id: ctx.rep.team.name}
    team_id = None if admin else ctx.rep.team_id
    # the team may be named first (an admin must, for the team's own target)
    named = {name.lower(): tid for tid, name in teams.items()}.get(words[0].lower()) if words else None
    if named is not None:
        team_id, words = named, words[1:]
    in_scope = [p for p in everyone if team_id is None or p[3] == team_id]
    who = " ".join(words)
    if not who and amount is None:
        return list_targets(ctx, team_id, teams.get(team_id, "全部团队"), in_scope, period)
    if not who and named is None:
        return notice(ctx, "no_who", example=example_name(in_scope))
    who = who or "团队"
    if amount is None:
        return notice(ctx, "no_amount", who=who[:30], key=period.key)
    if amount >= MAX_AMOUNT:
        return notice(ctx, "bad_amount", max="10万亿")
    if who.lower() in TEAM_WORDS:
        if team_id is None:
            return notice(ctx, "team_needed", teams=sorted(teams.values())[:NAMES_SHOWN])
        before = kpi_queries.set_team_target(team_id, period.key, amount)
        ctx.understood.update({"target": "team", "amount": amount})
        return ctx.say("target_set", who=teams[team_id], team=True, key=period.key, period=period.label,
                       amount=amount, before=before)
    found = [p for p in in_scope if p[1].lower() == who.lower()]
    if not found:
        names = [p[1] for p in in_scope]
        return notice(ctx, "unknown_rep", who=who[:30], names=names[:NAMES_SHOWN], example=example_name(in_scope),
                      more=max(0, len(names) - NAMES_SHOWN), scope=teams.get(team_id, "各团队"))
    if len(found) > 1:
        return notice(ctx, "ambiguous_rep", who=who[:30], teams=[p[4] for p in found])
    rep_id, name, *_ = found[0]
    before = kpi_queries.set_rep_target(rep_id, period.key, amount, ctx.rep.id, ctx.now)
    ctx.understood.update({"target": "rep", "rep": rep_id, "amount": amount})
    ctx.say("target_set", who=name, team=False, key=period.key, period=period.label, amount=amount, before=before)


def example_name(in_scope: list) -> str:
    return next((p[1] for p in in_scope if p[2] == "rep"), "张伟")


def list_targets(ctx: Context, team_id: int | None, scope: str, in_scope: list, period: Period) -> None:
    """The targets set for the period: the team's (when one team is in view) and each person's."""
    team_amount, by_rep = kpi_queries.targets_set(team_id, period.key)
    rows = [{"name": p[1], "amount": by_rep[p[0]]} for p in in_scope if p[0] in by_rep]
    unset = [p[1] for p in in_scope if p[0] not in by_rep and p[2] == "rep"]
    ctx.say("targets", scope=scope, team=team_id is not None, team_amount=team_amount, key=period.key,
            period=period.label, rows=rows[:NAMES_SHOWN * 2], unset=unset[:NAMES_SHOWN],
            unset_more=max(0, len(unset) - NAMES_SHOWN), example=example_name(in_scope))


def register(router: Router) -> None:
    router.command(("目标", "设目标", "设置目标", "target", "targets"), target)
