"""Stale-deal levels: a pure function of a deal's movement times, its stage's thresholds, the clock
that counts its silence (rules/calendar: working days only by default) and `now`.

Every view that says "days silent" (我的客户, the 09:00 card, the dashboard, the KPIs) reads `silence`."""
from __future__ import annotations

from datetime import datetime
from typing import NamedTuple

from .calendar import CALENDAR
from .funnel import LEVELS, Thresholds

LEVEL_NAMES = {"yellow": "黄色", "orange": "橙色", "red": "红色"}
LEVEL_ICONS = {"yellow": "🟡", "orange": "🟠", "red": "🔴"}


class Silence(NamedTuple):  # (a tuple: the scan makes 500k of them)
    since: datetime  # when the current silence period started
    hours: float  # how long it has lasted at `now`, by its clock (working-day hours by default)
    level: str | None  # None, "yellow", "orange" or "red"

    @property
    def days(self) -> int:
        return int(self.hours // 24)


def silence_start(last_movement_at: datetime, next_step_due: datetime | None, pause: bool) -> datetime:
    """A booked next step pauses the clock: the silence then counts from its due time."""
    if pause and next_step_due is not None and next_step_due > last_movement_at:
        return next_step_due
    return last_movement_at


def silence(last_movement_at: datetime, next_step_due: datetime | None, thresholds: Thresholds,
            now: datetime, pause: bool = True, clock=CALENDAR) -> Silence:
    since = silence_start(last_movement_at, next_step_due, pause)
    hours = clock.elapsed_hours(since, now)
    level = ("red" if hours >= thresholds.red_hours else "orange" if hours >= thresholds.orange_hours
             else "yellow" if hours >= thresholds.yellow_hours else None)
    return Silence(since=since, hours=hours, level=level)


def silence_counter(thresholds: Thresholds, now: datetime, pause: bool = True, clock=CALENDAR):
    """silence(moved, due, thresholds, now, pause, clock) as a function of (moved, due): the same rule for
    many deals counted at one `now` (the daily cards count 500k), with what depends on `now` worked out once."""
    hours_since = clock.hours_to(now)
    yellow, orange, red = thresholds.yellow_hours, thresholds.orange_hours, thresholds.red_hours

    def count(last_movement_at: datetime, next_step_due: datetime | None) -> Silence:
        since = (next_step_due if pause and next_step_due is not None and next_step_due > last_movement_at
                 else last_movement_at)
        hours = hours_since(since)
        return Silence(since, hours, "red" if hours >= red else "orange" if hours >= orange
                       else "yellow" if hours >= yellow else None)
    return count


def crossing_time(since: datetime, thresholds: Thresholds, level: str, clock=CALENDAR) -> datetime:
    return clock.add_hours(since, thresholds.hours(level))


RANK = {None: 0, "yellow": 1, "orange": 2, "red": 3}
_FOLLOWING = {RANK[None]: LEVELS[0], **{RANK[lv]: nxt for lv, nxt in zip(LEVELS, (*LEVELS[1:], None))}}


class Evaluation(NamedTuple):
    fire: str | None  # the level to warn about now (the highest newly crossed), or None
    level: str | None  # the level warned so far in this silence period, after this evaluation
    since: datetime  # the silence period's start
    next_check: datetime | None  # when the next level would be crossed (None: red reached)
    hours: float = 0.0  # how long the silence has lasted at `now`, by its clock


def evaluate(last_movement_at: datetime, next_step_due: datetime | None, snoozed_until: datetime | None,
             warned_level: str | None, warned_since: datetime | None, thresholds: Thresholds,
             now: datetime, pause: bool = True, clock=CALENDAR) -> Evaluation:
    """What the stale scan does with one deal: each level fires once per silence period.

    A scan that runs late (after downtime) fires only the highest level crossed, not all of them.
    A snoozed deal stays quiet and is looked at again when the snooze ends.
    """
    s = silence(last_movement_at, next_step_due, thresholds, now, pause, clock)
    current = warned_level if warned_since == s.since else None
    if snoozed_until is not None and snoozed_until > now:
        return Evaluation(None, current, s.since, snoozed_until, s.hours)
    fire = s.level if RANK[s.level] > RANK[current] else None
    level = fire or current
    following = _FOLLOWING[max(RANK[level], RANK[s.level])]
    next_check = crossing_time(s.since, thresholds, following, clock) if following else None
    return Evaluation(fire, level, s.since, next_check, s.hours)
