"""Due dates in chat text: 周五前, 下周一, 3天后, 11月30日, 月底, tomorrow, next monday, 2026-11-30 ..."""
from __future__ import annotations

import calendar
import re
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Callable

from .normalize import normalize
from .numbers import cn_int

_WEEKDAY_NAMES = ("周一", "周二", "周三", "周四", "周五", "周六", "周日")
_CN_WEEKDAY = {"一": 1, "二": 2, "三": 3, "四": 4, "五": 5, "六": 6, "日": 7, "天": 7}
_EN_WEEKDAY = {name: i + 1 for i, name in enumerate(calendar.day_name)}  # Monday=1 .. Sunday=7
_EN_MONTH = {name.lower(): i for i, name in enumerate(calendar.month_name) if name}
_EN_MONTH.update({name.lower(): i for i, name in enumerate(calendar.month_abbr) if name})
_EN_MONTH["sept"] = 9
_EN_COUNT = {"a": 1, "an": 1, "one": 1, "two": 2, "three": 3, "four": 4, "five": 5,
             "six": 6, "seven": 7, "eight": 8, "nine": 9, "ten": 10}


class DateError(ValueError):
    """A date that does not exist on the calendar, e.g. 2月30日; str() is a message for the user."""

    def __init__(self, text: str, hint: str = ""):
        self.text = text
        super().__init__(f"日期不存在: {text}" + (f" ({hint})" if hint else ""))


def weekday_name(d: date) -> str:
    """周一 .. 周日."""
    return _WEEKDAY_NAMES[d.weekday()]


# ---- calendar arithmetic --------------------------------------------------------------------

def _monday(d: date) -> date:
    return d - timedelta(days=d.weekday())


def _coming(today: date, weekday: int) -> date:
    """The next `weekday` (1=Monday .. 7=Sunday) on or after today."""
    return today + timedelta(days=(weekday - 1 - today.weekday()) % 7)


def _this_week(today: date, weekday: int) -> date:
    """This Monday-based week's day; one already past means the coming one instead."""
    d = _monday(today) + timedelta(days=weekday - 1)
    return d if d >= today else _coming(today, weekday)


def _week_offset(today: date, weekday: int, weeks: int) -> date:
    return _monday(today) + timedelta(weeks=weeks, days=weekday - 1)


def _month_end(year: int, month: int) -> date:
    return date(year, month, calendar.monthrange(year, month)[1])


def _shift_month(year: int, month: int, months: int) -> tuple[int, int]:
    index = year * 12 + month - 1 + months
    return index // 12, index % 12 + 1


def _add_months(d: date, months: int) -> date:
    year, month = _shift_month(d.year, d.month, months)
    return date(year, month, min(d.day, calendar.monthrange(year, month)[1]))


def _exact(year: int, month: int, day: int, text: str) -> date:
    try:
        return date(year, month, day)
    except ValueError:
        hint = f"{year}年不是闰年" if (month, day) == (2, 29) else ""
        raise DateError(text, hint) from None


def _next_month_day(month: int, day: int, today: date, text: str) -> date:
    """A month/day without a year: its next occurrence on or after today."""
    if not (1 <= month <= 12 and 1 <= day <= 31):
        raise DateError(text)
    year = today.year if (month, day) >= (today.month, today.day) else today.year + 1
    return _exact(year, month, day, text)


def _next_day_of_month(day: int, today: date) -> date | None:
    """"30号": this month's, or the first following month that has it if already past."""
    if not 1 <= day <= 31:
        return None
    year, month = today.year, today.month
    for _ in range(3):
        if day <= calendar.monthrange(year, month)[1] and date(year, month, day) >= today:
            return date(year, month, day)
        year, month = _shift_month(year, month, 1)
    return None


# ---- rules ----------------------------------------------------------------------------------

@dataclass(frozen=True)
class _Rule:
    pattern: re.Pattern
    resolve: Callable[[re.Match, date], date | None]


_RULES: list[_Rule] = []


def _rule(pattern: str, flags: int = 0):
    def register(fn):
        _RULES.append(_Rule(re.compile(pattern, flags), fn))
        return fn
    return register


_WEEK = r"(?:周|星期|礼拜)"
_WD = r"(?P<wd>[一二三四五六日天1-7])"
_N = r"(?P<n>\d{1,3}|[零一二两三四五六七八九十百]{1,4})"
_WITHIN = r"(?:之?后|以后|之?内|以内)"
_CN_DAY = r"[一二三四五六七八九十]{1,3}"


def _wd(m: re.Match) -> int:
    raw = m["wd"]
    return int(raw) if raw.isdigit() else _CN_WEEKDAY[raw]


def _n(m: re.Match) -> int | None:
    return cn_int(m["n"])


@_rule(r"今(?:天|日|晚)")
def _today(m, today):
    return today


@_rule(r"昨(?:天|日|晚)")
def _yesterday(m, today):
    return today - timedelta(days=1)


@_rule(r"(?<![之以])前(?:天|日)")
def _day_before_yesterday(m, today):
    return today - timedelta(days=2)


@_rule(r"明(?:天|日|早|晚)")
def _tomorrow(m, today):
    return today + timedelta(days=1)


@_rule(r"大?后天")
def _after_tomorrow(m, today):
    return today + timedelta(days=3 if m[0].startswith("大") else 2)


@_rule(rf"(?P<rel>下下|下个?|上个?|本|这个?)?{_WEEK}{_WD}")
def _weekday(m, today):
    rel = (m["rel"] or "").rstrip("个")
    if rel == "下下":
        return _week_offset(today, _wd(m), 2)
    if rel == "下":
        return _week_offset(today, _wd(m), 1)
    if rel == "上":
        return _week_offset(today, _wd(m), -1)
    if rel in ("本", "这"):
        return _this_week(today, _wd(m))
    return _coming(today, _wd(m))


@_rule(rf"(?P<rel>下个?|本|这个?)?{_WEEK}末")
def _weekend(m, today):
    if (m["rel"] or "").startswith("下"):
        return _week_offset(today, 6, 1)
    return today if today.weekday() == 6 else _coming(today, 6)


@_rule(rf"{_N}个?(?:天|日){_WITHIN}")
def _days_later(m, today):
    n = _n(m)
    return None if n is None else today + timedelta(days=n)


@_rule(rf"{_N}个?{_WEEK}{_WITHIN}")
def _weeks_later(m, today):
    n = _n(m)
    return None if n is None else today + timedelta(weeks=n)


@_rule(rf"(?:{_N}|半)个月{_WITHIN}")
def _months_later(m, today):
    if m["n"] is None:
        return today + timedelta(days=15)
    n = _n(m)
    return None if n is None else _add_months(today, n)


@_rule(r"(?P<rel>下个?|本|这个?)?月(?:底|末)")
def _month_end_rule(m, today):
    year, month = _shift_month(today.year, today.month, 1 if (m["rel"] or "").startswith("下") else 0)
    return _month_end(year, month)


@_rule(r"(?<![\d一二三四五六七八九十])(?P<m>1[0-2]|[1-9]|十[一二]?|[一二三四五六七八九])月(?:底|末|份?底)")
def _named_month_end(m, today):
    month = cn_int(m["m"]) or 0
    if not 1 <= month <= 12:
        return None
    year = today.year if month >= today.month else today.year + 1
    return _month_end(year, month)


@_rule(r"(?:今|本)?年(?:底|末)")
def _year_end(m, today):
    return date(today.year, 12, 31)


@_rule(rf"(?P<rel>下个?|本|这个?)月(?:(?P<d>\d{{1,2}}|{_CN_DAY})(?:号|日)|初)?")
def _relative_month(m, today):
    nxt = m["rel"].startswith("下")
    year, month = _shift_month(today.year, today.month, 1 if nxt else 0)
    if m["d"] is None:
        return date(year, month, 1) if nxt else None  # 本月 alone names no day
    day = cn_int(m["d"])
    return _exact(year, month, day or 0, m[0])


@_rule(r"(?<!\d)(?P<y>\d{4})\s*(?:[-/.]|年)\s*(?P<m>\d{1,2})\s*(?:[-/.]|月)\s*(?P<d>\d{1,2})(?:日|号)?(?!\d)")
def _full_date(m, today):
    return _exact(int(m["y"]), int(m["m"]), int(m["d"]), m[0])


@_rule(rf"(?<!\d)(?P<m>\d{{1,2}}|{_CN_DAY})月"
       rf"(?:(?P<d>\d{{1,2}})(?:日|号|(?![\d.%万千百亿元块个次kKwW]))|(?P<cd>{_CN_DAY})(?:日|号))")
def _month_day(m, today):
    month, day = cn_int(m["m"]), cn_int(m["d"] or m["cd"])
    return _next_month_day(month or 0, day or 0, today, m[0])


@_rule(r"(?<![\d/.\-:])(?P<m>\d{1,2})/(?P<d>\d{1,2})(?![\d/])")
def _slash_date(m, today):
    month, day = int(m["m"]), int(m["d"])
    if not (1 <= month <= 12 and 1 <= day <= 31):
        return None  # a ratio such as 24/7, not a date
    return _next_month_day(month, day, today, m[0])


@_rule(rf"(?<![\d月一二三四五六七八九十])(?P<d>\d{{1,2}}|{_CN_DAY})(?:号|日)(?![\d楼线店门库位柜机房车窗室栋单])")
def _day_only(m, today):
    return _next_day_of_month(cn_int(m["d"]) or 0, today)


# Lunar new year: 初八 / 正月初八 / 正月十五, the next such day on or after today
_SPRING_FESTIVAL = {
    2024: date(2024, 2, 10), 2025: date(2025, 1, 29), 2026: date(2026, 2, 17), 2027: date(2027, 2, 6),
    2028: date(2028, 1, 26), 2029: date(2029, 2, 13), 2030: date(2030, 2, 3), 2031: date(2031, 1, 23),
    2032: date(2032, 2, 11), 2033: date(2033, 1, 31), 2034: date(2034, 2, 19), 2035: date(2035, 2, 8),
}


@_rule(r"(?:正月|大年)初(?P<d>[一二三四五六七八九十])|(?<![月\d])初(?P<d2>[一二三四五六七八九十])(?![一二三四五六七八九十步期稿版])"
       r"|正月(?P<d3>十[一二三四五六七八九]?|二十)")
def _lunar_new_year(m, today):
    n = cn_int(m["d"] or m["d2"] or m["d3"] or "")
    if not n:
        return None
    for year in (today.year, today.year + 1):
        festival = _SPRING_FESTIVAL.get(year)
        if festival is not None and festival + timedelta(days=n - 1) >= today:
            return festival + timedelta(days=n - 1)
    return None


# A time of day alone (下午三点再打): today
@_rule(r"(?:上午|下午|晚上|傍晚|中午|早上)(?:\d{1,2}|[一二两三四五六七八九十]{1,3})(?:点|:\d\d)")
def _time_of_day(m, today):
    return today


# English
_EN_DAY = "|".join(name.lower() for name in calendar.day_name)
_EN_MONTHS = "|".join(sorted(_EN_MONTH, key=len, reverse=True))
_EN_NUM = "|".join(["\\d{1,3}", *_EN_COUNT])


@_rule(r"\b(?:today|tonight)\b", re.I)
def _en_today(m, today):
    return today


@_rule(r"\b(?:the\s+)?day\s+after\s+tomorrow\b", re.I)
def _en_after_tomorrow(m, today):
    return today + timedelta(days=2)


@_rule(r"\btomorrow\b", re.I)
def _en_tomorrow(m, today):
    return today + timedelta(days=1)


@_rule(rf"\b(?:(?P<rel>next|this)\s+)?(?P<day>{_EN_DAY})\b", re.I)
def _en_weekday(m, today):
    weekday = _EN_WEEKDAY[m["day"].capitalize()]
    rel = (m["rel"] or "").lower()
    if rel == "next":
        return _week_offset(today, weekday, 1)
    if rel == "this":
        return _this_week(today, weekday)
    return _coming(today, weekday)


@_rule(rf"\bin\s+(?P<n>{_EN_NUM})\s+(?P<unit>day|week|month)s?\b"
       rf"|\b(?P<n2>{_EN_NUM})\s+(?P<unit2>day|week|month)s?\s+(?:later|from\s+now)\b", re.I)
def _en_in(m, today):
    raw = (m["n"] or m["n2"]).lower()
    n = int(raw) if raw.isdigit() else _EN_COUNT[raw]
    unit = (m["unit"] or m["unit2"]).lower()
    if unit == "month":
        return _add_months(today, n)
    return today + timedelta(days=n * (7 if unit == "week" else 1))


@_rule(r"\bend\s+of\s+(?:the\s+)?month\b|\beom\b", re.I)
def _en_month_end(m, today):
    return _month_end(today.year, today.month)


@_rule(r"\bnext\s+month\b", re.I)
def _en_next_month(m, today):
    year, month = _shift_month(today.year, today.month, 1)
    return date(year, month, 1)


@_rule(rf"\b(?P<mon>{_EN_MONTHS})\.?\s+(?P<d>\d{{1,2}})(?:st|nd|rd|th)?\b"
       rf"|\b(?P<d2>\d{{1,2}})(?:st|nd|rd|th)?\s+(?P<mon2>{_EN_MONTHS})\b", re.I)
def _en_month_day(m, today):
    month = _EN_MONTH[(m["mon"] or m["mon2"]).lower()]
    return _next_month_day(month, int(m["d"] or m["d2"]), today, m[0])


# ---- entry points ----------------------------------------------------------------------------

def parse_due(text: str, today: date) -> tuple[date, str] | None:
    """The first date expression in `text`: (date, matched text of the normalized input), or None.

    Raises DateError for a date that does not exist (2月30日, 13月1日, 2027-02-29).
    """
    text = normalize(text or "")
    found = []
    for order, rule in enumerate(_RULES):
        for m in rule.pattern.finditer(text):
            found.append((m.start(), m.start() - m.end(), order, m, rule))
    found.sort(key=lambda item: item[:3])  # leftmost first, then longest
    for _start, _neg_len, _order, m, rule in found:
        d = rule.resolve(m, today)
        if d is not None:
            return d, m[0]
    return None


@dataclass(frozen=True)
class DateFound:
    start: int
    end: int
    day: date
    text: str


def find_dates(text: str, today: date) -> list[DateFound]:
    """Every date expression in normalized `text`, left to right, none overlapping (the longest at a place).

    Raises DateError for a date that does not exist.
    """
    found = []
    for order, rule in enumerate(_RULES):
        for m in rule.pattern.finditer(text):
            found.append((m.start(), m.start() - m.end(), order, m, rule))
    found.sort(key=lambda item: item[:3])
    out: list[DateFound] = []
    end = 0
    for start, _neg_len, _order, m, rule in found:
        if start < end:
            continue
        d = rule.resolve(m, today)
        if d is not None:
            out.append(DateFound(start, m.end(), d, m[0]))
            end = m.end()
    return out
