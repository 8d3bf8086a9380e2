"""A weekly word to the admins when the holiday calendar does not know the coming year yet.

The working-day clock (rules/calendar.py) reads China's holidays and 调休 from the chinesecalendar
package, which learns each year's schedule only after the State Council publishes it. For a year it does
not know, only the dates the law fixes are days off (元旦, 5月1–2日, 10月1–3日): the Spring Festival, the
other lunar holidays and the rest of the May and October breaks would count as working days (silence
counted, warnings pushed), and a make-up working weekend (调休) as a day off. From a month before such a
year, until the rules file lists its days off, the admins (every team's managers when there is no admin)
hear it with the week's first 09:00 card. `python -m bot doctor` says the same from 60 days.
"""
from __future__ import annotations

from datetime import date
from typing import TYPE_CHECKING

from handlers.messages import Reply
from rules.calendar import unknown_years

if TYPE_CHECKING:
    from ..runtime import Runtime

NOTICE_DAYS = 31  # how far ahead a year the calendar does not know is named: New Year's Day is its first holiday


def calendar_notices(rt: Runtime, day: date, people: list) -> list[tuple[str, str, str, dict]]:
    """Outbox rows (key, channel, recipient, payload) of this week's notice, for `people` (the active reps
    of every team, as the daily job reads them); none when the calendar knows the coming weeks."""
    years = unknown_years(day, rt.funnel.schedule.days_off, ahead_days=NOTICE_DAYS)
    if not years:
        return []
    # the rules file is one for all teams, and an admin acts on every team (rules/access.py)
    admins = [p for p in people if p.role == "admin"] or [p for p in people if p.role == "manager"]
    year, week, _ = day.isocalendar()
    reply = Reply("calendar_gap", {"years": years})
    # once a week whatever the years named (a second unknown year coming into view mid-week waits)
    return [(f"calendar:{to}:{year}-W{week:02d}", rt.config.primary_channel, to, reply.to_dict())
            for to in sorted({p.local_id for p in admins})]
