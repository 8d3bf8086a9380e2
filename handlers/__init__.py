"""Chat commands: text (Chinese or English) -> a command -> its effect -> a channel-neutral reply.

Each module in HANDLERS says what it answers in its `register(router)`; they register in this order,
which is the order the router offers a message to their hooks (handlers/router.py Router).
"""
from . import activities, actions, choices, corrections, customers, offers, queries, report, stages, targets
from .context import Context, Refusal
from .router import dispatch, router

HANDLERS = (
    choices,      # numbered answers: "2" after "which customer? 1. … 2. …"
    actions,      # the note after 已跟进 (pending), the card buttons, 推迟 / 介入 / 催办
    customers,    # 新客户, 客户, 我的客户
    stages,       # 推进, 赢单, 输单
    corrections,  # 撤销, 改, 下一步
    queries,      # 今日任务, 漏斗, 帮助
    report,       # 周报
    targets,      # 目标 (a manager sets the team's and each rep's targets)
    offers,       # the one-tap questions' buttons (choose, offer)
    activities,   # activity words and sentences about a customer: 拜访 华联超市 …, 今天去了华联超市 …
)

for module in HANDLERS:
    module.register(router)

__all__ = ["Context", "HANDLERS", "Refusal", "dispatch", "router"]
