"""Numbered answers: "1" after the bot asked which of several customers was meant."""
from __future__ import annotations

from datetime import timedelta

from storage import choices

from .context import Context, Refusal
from .router import Router, run_text

CHOICE_TTL = timedelta(minutes=30)


def ask(ctx: Context, options: list[tuple[int, str]]) -> None:
    """Remember the question; the pipeline saves it even though the command itself stops."""
    ctx.pending_choice = (ctx.understood.get("text", ""), options, ctx.now + CHOICE_TTL)


def answer(ctx: Context, number: int) -> bool:
    """Finish the pending command with option `number`; False when no question is open."""
    pending = choices.peek(ctx.rep.id, ctx.now)
    if pending is None or pending[0].startswith("__note__:"):
        return False
    choices.take(ctx.rep.id, ctx.now)
    text, options = pending
    if not 1 <= number <= len(options):
        # ask again, so the rep can still answer
        ctx.pending_choice = (text, [tuple(o) for o in options], ctx.now + CHOICE_TTL)
        raise Refusal("bad_choice", number=number, count=len(options))
    ctx.chosen_customer_id = options[number - 1][0]
    run_text(ctx, text)
    return True


def register(router: Router) -> None:
    router.on_number(answer)
