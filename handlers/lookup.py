"""Find the customer a rep means: in part, with a typo, as pinyin initials; ask when ambiguous."""
from __future__ import annotations

from typing import TYPE_CHECKING

from rules.access import is_manager, may_act_on
from storage import deals

from .choices import ask
from .context import Context, Refusal
from .parse import Candidate, Matcher
from .parse.names import CustomerIndex, index_for

if TYPE_CHECKING:
    from storage.models import Customer

MAX_NAME = 50


def resolve_customer(ctx: Context, query: str) -> Customer:
    """The customer `query` names among those the sender may act on, or a Refusal that says why."""
    if ctx.chosen_customer_id is not None:
        customer = deals.get_customer(ctx.chosen_customer_id)
        ensure_allowed(ctx, customer)
        ctx.understood["customer"] = customer.name
        return customer
    query = (query or "").strip()
    if not query:
        raise Refusal("no_customer")
    ctx.understood["customer_query"] = query
    own = [Candidate(*row) for row in deals.customer_candidates(ctx.rep)]
    match = Matcher(own).match(query[:MAX_NAME])
    if match.kind in ("exact", "unique"):
        customer = deals.get_customer(match.candidates[0].id)
        ctx.understood["customer"] = customer.name
        return customer
    if match.kind == "ambiguous":
        ask(ctx, [(c.id, c.name) for c in match.candidates])
        raise Refusal("ambiguous", query=query, options=[c.name for c in match.candidates])
    # not among the sender's own: is it a colleague's?
    if not is_manager(ctx.rep):
        team = [Candidate(*row) for row in deals.customer_candidates(ctx.rep, whole_team=True)]
        other = Matcher(team).match(query[:MAX_NAME])
        if other.kind in ("exact", "unique"):
            customer = deals.get_customer(other.candidates[0].id)
            raise Refusal("not_yours", customer=customer.name, owner=customer.owner.name)
    raise Refusal("unknown_customer", query=query[:MAX_NAME])


def ensure_allowed(ctx: Context, customer: Customer) -> None:
    if not may_act_on(ctx.rep, customer.team_id, customer.owner_id):
        raise Refusal("not_yours", customer=customer.name, owner=customer.owner.name)


def own_index(ctx: Context) -> CustomerIndex:
    """The sender's customers (a manager's: the team's), for finding one anywhere in a message."""
    if ctx.own_customers is None:
        ctx.own_customers = index_for([Candidate(*row) for row in deals.customer_candidates(ctx.rep)])
    return ctx.own_customers


def customer_in_text(ctx: Context, reading, query: str, refuse: str = "unknown_customer") -> Customer:
    """The customer a read message names (anywhere in it), or a Refusal: ambiguous -> the numbered
    question, a colleague's -> not_yours, none -> `refuse`."""
    if ctx.chosen_customer_id is not None:
        return resolve_customer(ctx, "")
    found = reading.customer
    if found.kind in ("hint", "alias") and not is_manager(ctx.rep):
        # 拜访 联华超市: a colleague's customer by its exact name beats a near miss (or a shortened name)
        # among one's own
        team = index_for([Candidate(*row) for row in deals.customer_candidates(ctx.rep, whole_team=True)])
        other = team.find(reading.text)
        if other.kind == "exact" and other.candidates[0].id not in {c.id for c in own_index(ctx).candidates}:
            customer = deals.get_customer(other.candidates[0].id)
            raise Refusal("not_yours", customer=customer.name, owner=customer.owner.name)
    if found.kind in ("exact", "alias", "hint"):
        customer = deals.get_customer(found.candidates[0].id)
        ctx.understood["customer"] = customer.name
        return customer
    if found.kind == "ambiguous":
        ask(ctx, [(c.id, c.name) for c in found.candidates])
        shown = query or (reading.text[found.start:found.end] if found.start >= 0 else reading.text)
        raise Refusal("ambiguous", query=shown[:MAX_NAME],
                      options=[c.name for c in found.candidates])
    if not is_manager(ctx.rep):
        team = index_for([Candidate(*row) for row in deals.customer_candidates(ctx.rep, whole_team=True)])
        other = team.find(reading.text)
        if other.kind in ("exact", "alias") or (query and team.matcher.match(query[:MAX_NAME]).kind in ("exact", "unique")):
            pick = other.candidates[0] if other.kind in ("exact", "alias") else team.matcher.match(query[:MAX_NAME]).candidates[0]
            customer = deals.get_customer(pick.id)
            raise Refusal("not_yours", customer=customer.name, owner=customer.owner.name)
    if not query and refuse == "unknown_customer":
        raise Refusal("no_customer")
    raise Refusal(refuse, query=(query or reading.text)[:MAX_NAME])
