"""Declarative registry of chat commands and card actions, and the dispatch of one message.

A handler is a plain function `handler(ctx, args)`; it answers with `ctx.say(...)` and raises
`Refusal` to stop with nothing written. Handlers never know which chat tool the message came from.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

from .context import Context, Refusal
from .parse import normalize, split_command

MAX_TEXT = 2000  # characters a command may have


@dataclass
class Route:
    words: tuple[str, ...]
    fn: Callable
    name: str


class Router:
    def __init__(self):
        self.commands: dict[str, Route] = {}
        self.actions: dict[str, Callable] = {}
        self.fallbacks: list[Callable] = []  # fn(ctx, verb, rest) -> bool, tried for unknown verbs

    def command(self, *words: str):
        def deco(fn):
            route = Route(tuple(words), fn, fn.__name__)
            for w in words:
                self.commands[w.lower()] = route
            return fn
        return deco

    def action(self, name: str):
        def deco(fn):
            self.actions[name] = fn
            return fn
        return deco

    def fallback(self, fn):
        self.fallbacks.append(fn)
        return fn

    def verbs(self, ctx: Context) -> list[str]:
        words = list(self.commands)
        for kind in ctx.funnel.activities.values():
            words += [w.lower() for w in kind.words]
        return sorted(words, key=len, reverse=True)


router = Router()


def dispatch(ctx: Context) -> None:
    """Run one incoming text or action; the outcome is in ctx.replies / ctx.outgoing."""
    from . import choices

    if ctx.incoming.action:
        name, _, arg = ctx.incoming.action.partition(":")
        fn = router.actions.get(name)
        if fn is None:
            raise Refusal("unknown_action", action=ctx.incoming.action[:80])
        ctx.understood["intent"] = f"action:{name}"
        fn(ctx, arg)
        return
    raw = ctx.incoming.text or ""
    if len(raw) > MAX_TEXT:
        raise Refusal("too_long", limit=MAX_TEXT, length=len(raw))
    text = normalize(raw)
    if not text:
        raise Refusal("empty")
    if text.isdigit() and choices.answer(ctx, int(text)):
        return
    run_text(ctx, text)


# Command words that are also everyday words starting a sentence: "今天去了华联超市…" is a visit, not
# 今日任务; "客户说下周签" is news about a customer, not the customer card.
EVERYDAY_WORDS = frozenset({"今天", "任务", "客户", "查看", "列表", "阶段", "成交", "改", "修改", "下一步"})


def run_text(ctx: Context, text: str) -> None:
    verb, rest = split_command(text)
    lower = verb.lower()
    route = router.commands.get(lower)
    if route is None and ctx.funnel.activity_for_word(lower) is None:
        from .actions import fill_note
        if fill_note(ctx, text):  # the one line asked for after "已跟进"
            return
        # a verb glued to its argument: "拜访华联超市 ..."
        for w in router.verbs(ctx):
            if text.lower().startswith(w) and len(text) > len(w):
                lower, rest = w, text[len(w):].strip()
                route = router.commands.get(w)
                break
    ctx.understood.setdefault("text", text)
    from .activities import log_activity, log_free, reading_of, says_something
    if route is not None:
        if lower in EVERYDAY_WORDS and rest:
            reading = reading_of(ctx, rest)
            if reading.customer.kind != "none" and says_something(reading):
                ctx.understood["intent"] = reading.kind
                log_free(ctx, rest, reading)
                return
        ctx.understood.setdefault("intent", route.name)
        route.fn(ctx, rest)
        return
    kind = ctx.funnel.activity_for_word(lower)
    if kind is not None:
        ctx.understood.setdefault("intent", kind.key)
        log_activity(ctx, kind.key, rest)
        return
    # no command word: a sentence about a customer ("今天去了华联超市,见了王总…", "华联超市 明天再去一趟")
    log_free(ctx, text)
