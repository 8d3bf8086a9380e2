"""The dispatcher: what the handler modules register (commands, card actions, hooks) and the dispatch of
one message. It imports no handler module: each registers itself (handlers/__init__.py HANDLERS).

A handler is a plain function `handler(ctx, args)`; it answers with `ctx.say(...)` and raises
`Refusal` to stop with nothing written. Handlers never know which chat tool the message came from.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

from .context import Context, Refusal
from .parse import normalize, split_command
from .parse.message import name_hint, says_something

MAX_TEXT = 2000  # characters a command may have


@dataclass
class Route:
    words: tuple[str, ...]
    fn: Callable
    name: str


NumberHook = Callable[[Context, int], bool]  # True: the number answered something
TextHook = Callable[[Context, str], bool]  # True: the text was taken


@dataclass(frozen=True)
class ActivityWords:
    """How a message about a customer is read and logged (handlers/activities.py registers it)."""
    read: Callable  # (ctx, text, verb_kind=None, hint=None) -> handlers.parse.message.Reading
    log: Callable  # (ctx, decision: Decision) -> None: record what was read


class Router:
    """What each handler module registers (its `register(router)`, called in the order of
    handlers/__init__.py HANDLERS). A text message is offered to, in this order:

    1. `numbered` hooks, for a message that is only a number ("2" after a numbered question);
    2. `pending` hooks, for a message whose first word is no command or activity word (the one line
       asked for after 已跟进);
    3. the command words (`command`), also glued to their argument (推迟华联超市 3天);
    4. the activity words (`activity_words`): 拜访 华联超市 …, or a sentence about a customer without one.

    A card button's action goes to the function its name was registered with (`action`).
    """

    def __init__(self):
        self.commands: dict[str, Route] = {}
        self.actions: dict[str, Callable] = {}
        self.numbered: list[NumberHook] = []
        self.pending: list[TextHook] = []
        self.activity_words: ActivityWords | None = None
        self._verbs: dict = {}

    def command(self, words: tuple[str, ...], fn: Callable) -> None:
        route = Route(tuple(words), fn, fn.__name__)
        for w in words:
            if w.lower() in self.commands:
                raise ValueError(f"command word {w!r} registered twice")
            self.commands[w.lower()] = route

    def action(self, name: str, fn: Callable) -> None:
        if name in self.actions:
            raise ValueError(f"action {name!r} registered twice")
        self.actions[name] = fn

    def on_number(self, fn: NumberHook) -> None:
        self.numbered.append(fn)

    def on_pending(self, fn: TextHook) -> None:
        self.pending.append(fn)

    def on_activity(self, words: ActivityWords) -> None:
        if self.activity_words is not None:
            raise ValueError("the activity words are registered twice")
        self.activity_words = words

    def is_verb(self, funnel, word: str) -> bool:
        """A command word or one of the funnel's activity words."""
        return word.lower() in self.commands or funnel.activity_for_word(word.lower()) is not None

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
    if text.isdigit() and any(hook(ctx, int(text)) for hook in router.numbered):
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
    """A text message after numbered answers: a pending note, a command, or an activity."""
    verb, _ = split_command(text)
    if not router.is_verb(ctx.funnel, verb) and any(hook(ctx, text) for hook in router.pending):
        return
    ctx.understood.setdefault("text", text)
    words = router.activity_words
    decision = decide(text, ctx.funnel, lambda t, verb_kind=None, hint=None: words.read(ctx, t, verb_kind, hint))
    if decision.route is not None:
        ctx.understood.setdefault("intent", decision.route.name)
        decision.route.fn(ctx, decision.rest)
        return
    ctx.understood.setdefault("intent", decision.reading.kind or "unknown")
    words.log(ctx, decision)
