"""A weekly word to the admins when the holiday calendar does not know the coming year yet.

The working-day clock (rules/calendar.py) reads China's holidays and 调休 from the chinesecalendar
package, which learns each year's schedule only after the State Council publishes it. For a year it does
not know, the fixed-date holidays still count (元旦, 劳动节, 国庆) but the Spring Festival and the other
lunar holidays would count as working days: silence would be counted and warnings pushed on them. From a
month before such a year, until the rules file lists its days off, each team's admins (its managers when
it has none) hear it with the 09:00 card, once a week. `python -m bot doctor` says the same from 60 days.
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
    by_team: dict[int, list] = {}
    for p in people:
        by_team.setdefault(p.team_id, []).append(p)
    recipients = set()
    for members in by_team.values():
        admins = [p for p in members if p.role == "admin"] or [p for p in members if p.role == "manager"]
        recipients.update(p.local_id for p in admins)
    year, week, _ = day.isocalendar()
    reply = Reply("calendar_gap", {"years": years})
    tag = "-".join(map(str, years))
    return [(f"calendar:{tag}:{to}:{year}-W{week:02d}", rt.config.primary_channel, to, reply.to_dict())
            for to in sorted(recipients)]
