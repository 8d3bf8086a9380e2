"""Facts in a free-text visit or call note: who was met, whether they decide, the next step and its due date."""
from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from .message import next_step_of
from .normalize import normalize
from .people import find_person, is_decision_maker


@dataclass
class NoteFacts:
    contact_name: str | None
    contact_title: str | None
    decision_maker: bool
    next_step: str | None
    due: date | None
    due_text: str | None


def extract_note(text: str, today: date, decision_titles: list[str]) -> NoteFacts:
    """Contact, decision-maker flag, next step and its due date. Raises DateError for an impossible date.

    The next step is what follows 下一步 / 计划 / next step, else the clause with a future date or time
    (明天寄样品, 下周一再跟进) or a vague one (年后再约: no date).
    """
    text = normalize(text)
    person = find_person(text)
    step = next_step_of(text, today)
    return NoteFacts(
        contact_name=person.name if person else None,
        contact_title=person.title if person else None,
        decision_maker=is_decision_maker(person, decision_titles),
        next_step=step.text if step else None,
        due=step.due if step else None,
        due_text=step.due_text if step else None,
    )
