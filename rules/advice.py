"""What to do about a deal now: one suggested action, the same on the dashboard's rows, the deal page
and the chat cards. Pure: the deal's level, its stage's suggestion (rules/funnel.toml), its next step
and `now`."""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

DEFAULT_RED = "主管与销售沟通，明确下一步"


@dataclass(frozen=True)
class Advice:
    text: str  # the suggested action
    who: str  # "manager" (the manager acts) | "rep"
    overdue_days: int  # days the booked next step is past due (0: not overdue / none)


def suggested_action(level: str | None, stage_suggestion: str, next_step: str | None,
                     next_step_due: datetime | None, now: datetime, intervened: bool = False) -> Advice:
    """Red: the stage's suggested intervention (the manager's, unless a manager already took it over);
    orange/yellow: the rep follows up today; an overdue or missing next step says so first."""
    overdue = 0
    if next_step_due is not None and next_step_due < now:
        overdue = max(1, int((now - next_step_due).total_seconds() // 86400))
    if level == "red":
        text = stage_suggestion or DEFAULT_RED
        if intervened:
            return Advice(f"主管已介入：{text}", "rep", overdue)
        return Advice(text, "manager", overdue)
    if overdue:
        return Advice(f"下一步已逾期{overdue}天：今天完成「{(next_step or '下一步')[:30]}」或改约日期", "rep", overdue)
    if not next_step:
        return Advice("约定下一步和日期（例如：下一步周五前发方案）", "rep", 0)
    if level == "orange":
        return Advice("今天必须联系客户，确认下一步", "rep", 0)
    if level == "yellow":
        return Advice("今天联系一次客户", "rep", 0)
    return Advice("按计划推进下一步", "rep", 0)
