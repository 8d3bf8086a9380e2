"""The one-tap questions the bot asks instead of guessing: a stage move heard in a note (签了 -> 赢单?),
and "记为华联超市的拜访?" when the customer was only guessed. Pressing does what the typed command would."""
from __future__ import annotations

from rules.access import may_act_on
from storage import deals

from .choices import answer
from .context import Context, Refusal
from .router import Router
from .stages import lost, move_stage, won


def choose(ctx: Context, arg: str) -> None:
    """A button standing for a numbered answer ("1")."""
    if not arg.isdigit() or not answer(ctx, int(arg)):
        raise Refusal("action_expired")


def offer(ctx: Context, arg: str) -> None:
    """offer:<deal>:won:<activity> / offer:<deal>:lost:<activity> / offer:<deal>:advance:<stage>."""
    parts = arg.split(":")
    if len(parts) != 3 or not parts[0].isdigit():
        raise Refusal("unknown_action", action=arg[:40])
    deal = deals.deal_by_id(int(parts[0]))
    if deal is None:
        raise Refusal("action_expired")
    if not may_act_on(ctx.rep, deal.team_id, deal.owner_id):
        raise Refusal("not_allowed")
    if deal.status != "open":
        raise Refusal("action_spent", detail="商机已关闭")
    ctx.chosen_customer_id = deal.customer_id
    what, extra = parts[1], parts[2]
    if what == "won":
        won(ctx, "")
    elif what == "lost":
        reason = deals.activity_text(int(extra)) if extra.isdigit() else ""
        lost(ctx, f"_ {reason or '客户不做了'}")
    elif what == "advance":
        move_stage(ctx, f"_ {extra}")
    else:
        raise Refusal("unknown_action", action=arg[:40])


def register(router: Router) -> None:
    router.action("choose", choose)
    router.action("offer", offer)
