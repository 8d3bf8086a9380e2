"""Moving a deal through the funnel: advance (exit criteria enforced), won, lost."""
from __future__ import annotations

import re

from storage import deals, people

from .context import Context, Refusal
from .lookup import resolve_customer
from .router import Router

REASON = re.compile(r"^(?:原因|理由|reason)\s*[:是]?\s*", re.IGNORECASE)


def open_deal_of(ctx: Context, args: str):
    name, _, rest = (args or "").partition(" ")
    customer = resolve_customer(ctx, name)
    deal = deals.open_deal(customer.id)
    if deal is None:
        raise Refusal("no_open_deal", customer=customer.name)
    return customer, deal, rest.strip()


def missing_for(ctx: Context, deal, to_key: str) -> list[dict]:
    missing = ctx.funnel.missing_criteria(deals.deal_facts(deal), deal.stage, to_key)
    return [{"stage": s.name, "label": c.label} for s, c in missing]


def move_stage(ctx: Context, args: str) -> None:
    customer, deal, target = open_deal_of(ctx, args)
    stage = ctx.funnel.find_stage(target) if target else None
    ctx.understood["stage"] = stage.key if stage else target
    if stage is None:
        raise Refusal("unknown_stage", stage=target[:30],
                      stages=[f"{s.order}.{s.name}" for s in ctx.funnel.stages])
    current = ctx.funnel.stage(deal.stage)
    if stage.closing:
        raise Refusal("use_won_lost", customer=customer.name)
    if stage.key == current.key:
        raise Refusal("same_stage", customer=customer.name, stage=stage.name)
    missing = missing_for(ctx, deal, stage.key)
    if missing:
        raise Refusal("criteria_missing", customer=customer.name, current=current.name, target=stage.name,
                      missing=missing)
    deals.change_stage(deal, stage.key, ctx.rep, ctx.now)
    ctx.say("stage_moved", customer=customer.name, old=current.name, new=stage.name,
            backward=stage.order < current.order, exit=[ctx.funnel.criteria[c].label for c in stage.exit])


SIGNED = re.compile(r"已签约|签约了|已签|签了|\bsigned\b", re.IGNORECASE)


def won(ctx: Context, args: str) -> None:
    """赢单 华联超市; with exit criteria missing it is refused naming them, unless the rep says the
    customer has signed (赢单 华联超市 已签约): then it is won and the missing ones are recorded as skipped."""
    customer, deal, rest = open_deal_of(ctx, args)
    closing = ctx.funnel.closing
    missing = missing_for(ctx, deal, closing.key)
    signed = bool(SIGNED.search(rest))
    if missing and not signed:
        raise Refusal("criteria_missing", customer=customer.name, current=ctx.funnel.stage(deal.stage).name,
                      target="赢单", missing=missing, signed_hint=True)
    skipped = [m["label"] for m in missing]
    deals.close_deal(deal, "won", None, ctx.rep, closing.key, ctx.now, skipped=skipped)
    ctx.understood["skipped"] = skipped
    ctx.say("deal_closed", customer=customer.name, status="won", amount=deal.amount, reason=None, skipped=skipped)
    announce(ctx, deal, customer, "won", None)


def lost(ctx: Context, args: str) -> None:
    customer, deal, rest = open_deal_of(ctx, args)
    reason = REASON.sub("", rest).strip()
    ctx.understood["reason"] = reason
    if not reason:
        raise Refusal("lost_needs_reason", customer=customer.name)
    deals.close_deal(deal, "lost", reason[:500], ctx.rep, ctx.funnel.closing.key, ctx.now)
    ctx.say("deal_closed", customer=customer.name, status="lost", amount=deal.amount, reason=reason)
    announce(ctx, deal, customer, "lost", reason)


def announce(ctx: Context, deal, customer, status: str, reason: str | None) -> None:
    """Tell the team's manager group about a closed deal (once per deal)."""
    group = people.team_group(deal.team_id, "manager")
    if group is not None:
        ctx.notify(f"closed:{deal.id}", group.local_id, "deal_closed_notice", customer=customer.name,
                   status=status, amount=deal.amount, reason=reason, rep=ctx.rep.name)


def register(router: Router) -> None:
    router.command(("推进", "阶段", "stage", "move", "advance"), move_stage)
    router.command(("赢单", "成交", "won", "win"), won)
    router.command(("输单", "丢单", "lost", "lose"), lost)
