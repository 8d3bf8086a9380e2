"""New customers, one customer's card, and a rep's list of customers."""
from __future__ import annotations

import json
import re

from rules.access import is_manager
from storage import deals

from .context import Context, Refusal
from .lookup import MAX_NAME, resolve_customer
from .parse import find_amount, initials_of
from .router import Router
from .views import deal_row, deal_silence, list_row, ranked_silences, stage_change_text

NAME_OK = re.compile(r"^[\w\u4e00-\u9fff·&().\-]+$")
LIST_LIMIT = 30


def valid_name(name: str) -> bool:
    return (0 < len(name) <= MAX_NAME and NAME_OK.match(name) is not None
            and any(ch.isalnum() for ch in name) and not name.isdigit())


MAX_AMOUNT = 10 ** 13  # yuan, as the importer's limit: a deal's amount fits its column everywhere


def new_customer(ctx: Context, args: str) -> None:
    amount, rest = find_amount(args)
    name = rest.split(" ")[0] if rest else ""
    ctx.understood.update({"customer": name, "amount": amount})
    if not name:
        raise Refusal("new_needs_name")
    if amount is not None and amount >= MAX_AMOUNT:
        raise Refusal("bad_amount", max="10万亿")
    if not valid_name(name):
        raise Refusal("bad_name", name=name[:MAX_NAME])
    existing = deals.customer_by_name(ctx.rep.team_id, name)
    if existing is not None:
        raise Refusal("customer_exists", customer=name, owner=existing.owner.name)
    stage = ctx.funnel.first
    deals.create_customer_and_deal(ctx.rep, name, initials_of(name), amount or 0, stage.key, ctx.now)
    ctx.say("customer_created", customer=name, amount=amount or 0, stage=stage.name)


def show_customer(ctx: Context, args: str) -> None:
    customer = resolve_customer(ctx, args.split(" ")[0] if args else "")
    deal = deals.open_deal(customer.id) or deals.latest_deal(customer.id)
    if deal is not None:
        deal.customer = customer  # loaded already, with its owner: the row needs both names
        if deal.owner_id == customer.owner_id:
            deal.owner = customer.owner
    row = deal_row(ctx, deal) if deal else None
    events = [{"at": ctx.to_local(at).strftime("%m-%d %H:%M"), "kind": kind_name(ctx, kind), "who": who,
               "text": text_of(ctx, kind, text)} for at, kind, who, text in deals.timeline(customer, 6)]
    contacts = [{"name": c.name, "title": c.title, "dm": c.is_decision_maker}
                for c in deals.contacts_of(customer)]
    ctx.say("customer_info", customer=customer.name, owner=customer.owner.name, tier=customer.tier,
            deal=row, contacts=contacts, events=events, health=health_view(ctx, customer))


def health_view(ctx: Context, customer) -> dict | None:
    """The latest score, each signal's points out of its weight, the trend and the best action."""
    from datetime import timedelta

    from storage import health_queries
    latest = health_queries.latest(customer.id)
    if latest is None or ctx.health_rules is None:
        return None
    points = json.loads(latest.parts)
    signals = ctx.health_rules.signals
    parts = [{"name": signals[k].get("name", k), "points": round(points.get(k, 0)), "weight": int(signals[k]["weight"]),
              "lost": float(signals[k]["weight"]) - points.get(k, 0), "action": signals[k].get("action", "")}
             for k in signals]
    best = max(parts, key=lambda p: p["lost"])
    week_ago = health_queries.score_on(customer.id, latest.day - timedelta(days=7))
    return {"score": latest.score, "parts": parts, "high_intent": customer.high_intent,
            "trend": None if week_ago is None else latest.score - week_ago,
            "best": best if best["lost"] >= 1 else None, "day": latest.day.strftime("%m-%d")}


def kind_name(ctx: Context, kind: str) -> str:
    if kind == "stage":
        return "阶段"
    k = ctx.funnel.activities.get(kind)
    return k.name if k else kind


def text_of(ctx: Context, kind: str, text: str) -> str:
    if kind != "stage":
        return text
    a, _, rest = text.partition(">")
    b, _, note = rest.partition(">")
    return stage_change_text(ctx.funnel, a, b, note)


def my_customers(ctx: Context, args: str) -> None:
    # a line per deal, for the first LIST_LIMIT only (the reply is kept with the message: no more than it shows)
    pairs = ranked_silences(ctx, deals.open_deals_for(ctx.rep, limit=1000))
    ctx.say("my_deals", rows=[list_row(ctx, d, s) for d, s in pairs[:LIST_LIMIT]],
            more=max(0, len(pairs) - LIST_LIMIT), total=len(pairs), manager=is_manager(ctx.rep),
            list_url=ctx.page_url("/dashboard/deals") if len(pairs) > LIST_LIMIT else "")


__all__ = ["new_customer", "show_customer", "my_customers", "deal_silence"]


def register(router: Router) -> None:
    router.command(("新客户", "新建客户", "新商机", "new", "newcustomer", "add"), new_customer)
    router.command(("客户", "customer", "查看", "show"), show_customer)
    router.command(("我的客户", "客户列表", "列表", "list", "ls", "mine"), my_customers)
