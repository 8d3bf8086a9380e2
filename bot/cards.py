"""Build the neutral warning and intervention messages (their wording is in bot/templates/)."""
from __future__ import annotations

from handlers.views import card_row, deal_row
from rules.stale import Silence

from handlers.messages import Button, Reply

MAX_BUTTON_DEALS = 2  # a WeCom button card holds at most 6 buttons: 3 actions for 2 deals
MAX_ROWS = 15  # a chat message lists this many deals; the rest are counted (and on the task card)
MAX_LINK_ROWS = 3  # rows of a chat list that carry their deal's link; the list ends with a link to all


BUTTON_TEXT = 20  # characters a chat tool's button shows (WeCom cuts the rest)


def rep_buttons(deal_id: int, period: int, customer: str, prefix: bool) -> list[Button]:
    actions = [("已跟进", "followup"), ("推迟24小时", "snooze"), ("请主管支援", "askhelp")]
    return [Button(_tagged(customer, label) if prefix else label, f"{name}:{deal_id}:{period}")
            for label, name in actions]


def _tagged(customer: str, label: str) -> str:
    """"客户:动作" within BUTTON_TEXT characters: a long customer name is shortened, never the action."""
    room = BUTTON_TEXT - len(label) - 1
    return f"{customer if len(customer) <= room else customer[:room - 1] + '…'}:{label}"


WARN_ORDER = {"red": 0, "orange": 1, "yellow": 2}  # a warning message lists the most severe first, then the larger


def warning_reply(ctx, items, deal_ids: list[int] | None = None) -> Reply:
    """One message for all of a rep's new warnings in a scan, most severe first. `items` are the
    (deal, level, since, hours) it shows, as the scan evaluated them (the level that fired, its silence
    period's start and length); `deal_ids`, when given, every deal it covers (the rest are counted)."""
    items = sorted(items, key=lambda it: (WARN_ORDER[it[1]], -it[0].amount))
    deal_ids = deal_ids if deal_ids is not None else [it[0].id for it in items]
    items = items[:MAX_ROWS]
    rows = []
    for deal, level, since, hours in items:
        row = card_row(ctx, deal, Silence(since, hours, level))
        row.update(suggestion=ctx.funnel.stage(deal.stage).suggestion if level == "red" else "",
                   url=ctx.deal_url(deal.id) if len(rows) < MAX_LINK_ROWS else "")
        rows.append(row)
    buttons = []
    for row in rows[:MAX_BUTTON_DEALS]:
        buttons += rep_buttons(row["deal_id"], row["period"], row["customer"], prefix=len(rows) > 1)
    urgent = any(r["level"] in ("orange", "red") for r in rows)
    return Reply("warnings", {"rep": ctx.rep.name, "rows": rows, "more": max(0, len(deal_ids) - len(rows)),
                              "deal_ids": list(deal_ids),
                              "list_url": ctx.page_url("/dashboard/warnings") if len(deal_ids) > MAX_LINK_ROWS else ""},
                 buttons, urgent=urgent)


def red_card_reply(ctx, deal, stage, since, period: int, last=None) -> Reply:
    """The intervention card for the manager group: who, what, how long, and what to do.
    `last` is the deal's latest activity (the scan loads them for all red deals at once)."""
    row = deal_row(ctx, deal)
    data = {**row, "suggestion": stage.suggestion or "主管与销售沟通, 明确下一步", "url": ctx.deal_url(deal.id),
            "last_activity": ({"at": ctx.to_local(last.at).strftime("%m-%d"), "text": last.text[:60],
                               "kind": ctx.funnel.activities[last.kind].name
                               if last.kind in ctx.funnel.activities else last.kind} if last else None)}
    return Reply("red_card", data, [Button("我来介入", f"take:{deal.id}:{period}"),
                                    Button("请销售跟进", f"nudge:{deal.id}:{period}")], urgent=True)
