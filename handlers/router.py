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
        self._verbs: dict = {}

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
        return self.verbs_of(ctx.funnel)

    def verbs_of(self, funnel) -> list[str]:
        key = (id(funnel), len(self.commands))
        cached = self._verbs.get(key)
        if cached is None:
            words = list(self.commands)
            for kind in funnel.activities.values():
                words += [w.lower() for w in kind.words]
            cached = self._verbs[key] = sorted(set(words), key=len, reverse=True)
        return cached


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
# 今日任务; "客户说下周签" is news about a customer, not the customer card; "目标 华联超市下周签约" is not 目标.
EVERYDAY_WORDS = frozenset({"今天", "任务", "客户", "查看", "列表", "阶段", "成交", "改", "修改", "下一步", "目标"})


@dataclass
class Decision:
    """What a text message is: a command (route + its arguments) or an activity read from it."""
    route: Route | None = None
    rest: str = ""
    verb_kind: str | None = None   # an activity's command word named its kind (拜访 -> visit)
    reading: object | None = None  # handlers.parse.message.Reading, for an activity
    free: bool = False             # no command word: a sentence about a customer


def decide(text: str, funnel, read: Callable) -> Decision:
    """Pure: which command or activity `text` is. `read(text, verb_kind=None, hint=None)` reads an
    activity (it knows the sender's customers and today's date)."""
    from .activities import name_hint, says_something
    verb, rest = split_command(text)
    lower = verb.lower()
    route = router.commands.get(lower)
    kind = funnel.activity_for_word(lower)
    glued = False
    if route is None and kind is None:
        # a verb glued to its argument: "拜访华联超市 ..."
        for w in router.verbs_of(funnel):
            if text.lower().startswith(w) and len(text) > len(w):
                lower, rest, glued = w, text[len(w):].strip(), True
                route, kind = router.commands.get(w), funnel.activity_for_word(w)
                break
    if route is not None:
        if lower in EVERYDAY_WORDS and rest:
            # the word may be part of the sentence: 今天去了…, 改天再去…
            said = text if glued or lower == "今天" else rest
            reading = read(said)
            if says_something(reading) and (reading.customer.kind != "none"
                                            or reading.kind not in (None, "note", "plan")):
                return Decision(rest=said, reading=reading, free=True)
        return Decision(route=route, rest=rest)
    if kind is not None:
        hint = name_hint(rest)
        return Decision(rest=rest, verb_kind=kind.key, reading=read(rest, verb_kind=kind.key, hint=hint))
    return Decision(rest=text, reading=read(text), free=True)


def run_text(ctx: Context, text: str) -> None:
    verb, _ = split_command(text)
    if router.commands.get(verb.lower()) is None and ctx.funnel.activity_for_word(verb.lower()) is None:
        from .actions import fill_note
        if fill_note(ctx, text):  # the one line asked for after "已跟进"
            return
    ctx.understood.setdefault("text", text)
    from .activities import log_free, reading_of, record_reading
    decision = decide(text, ctx.funnel, lambda t, verb_kind=None, hint=None: reading_of(ctx, t, verb_kind, hint))
    if decision.route is not None:
        ctx.understood.setdefault("intent", decision.route.name)
        decision.route.fn(ctx, decision.rest)
        return
    ctx.understood.setdefault("intent", decision.reading.kind or "unknown")
    if decision.free:
        log_free(ctx, decision.rest, decision.reading)
    else:
        record_reading(ctx, decision.reading, decision.rest)
