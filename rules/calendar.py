"""Working days in mainland China: statutory holidays and make-up working days (调休), plus the
team's own days off and extra working days from the rules file."""
from __future__ import annotations

from datetime import date

import chinese_calendar


def is_workday(day: date, days_off: frozenset[date] = frozenset(),
               extra_workdays: frozenset[date] = frozenset()) -> bool:
    if day in days_off:
        return False
    if day in extra_workdays:
        return True
    try:
        return chinese_calendar.is_workday(day)
    except NotImplementedError:  # a year the calendar package does not know yet: Monday to Friday
        return day.weekday() < 5
