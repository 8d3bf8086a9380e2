from datetime import date

import pytest

from handlers.parse import DateError, parse_due, weekday_name

FRI = date(2026, 11, 27)  # a Friday
SAT = date(2026, 11, 28)


def test_fixture_days():
    assert weekday_name(FRI) == "周五"
    assert weekday_name(SAT) == "周六"


@pytest.mark.parametrize("d, name", [
    (date(2026, 11, 23), "周一"), (date(2026, 11, 24), "周二"), (date(2026, 11, 25), "周三"),
    (date(2026, 11, 26), "周四"), (date(2026, 11, 29), "周日"),
])
def test_weekday_name(d, name):
    assert weekday_name(d) == name


@pytest.mark.parametrize("text, on_friday, on_saturday", [
    ("今天", FRI, SAT),
    ("今日", FRI, SAT),
    ("明天", date(2026, 11, 28), date(2026, 11, 29)),
    ("明日", date(2026, 11, 28), date(2026, 11, 29)),
    ("后天", date(2026, 11, 29), date(2026, 11, 30)),
    ("大后天", date(2026, 11, 30), date(2026, 12, 1)),
    # plain weekday: the next one, today included
    ("周五", FRI, date(2026, 12, 4)),
    ("星期五", FRI, date(2026, 12, 4)),
    ("礼拜五", FRI, date(2026, 12, 4)),
    ("周日", date(2026, 11, 29), date(2026, 11, 29)),
    ("星期天", date(2026, 11, 29), date(2026, 11, 29)),
    ("周一", date(2026, 11, 30), date(2026, 11, 30)),
    # this week's; one already past means the coming one
    ("本周五", FRI, date(2026, 12, 4)),
    ("这周五", FRI, date(2026, 12, 4)),
    ("这周三", date(2026, 12, 2), date(2026, 12, 2)),
    ("本周六", date(2026, 11, 28), date(2026, 11, 28)),
    # next Monday-based week
    ("下周一", date(2026, 11, 30), date(2026, 11, 30)),
    ("下星期三", date(2026, 12, 2), date(2026, 12, 2)),
    ("下周五", date(2026, 12, 4), date(2026, 12, 4)),
    ("下下周二", date(2026, 12, 8), date(2026, 12, 8)),
    # offsets
    ("3天后", date(2026, 11, 30), date(2026, 12, 1)),
    ("三天后", date(2026, 11, 30), date(2026, 12, 1)),
    ("3天内", date(2026, 11, 30), date(2026, 12, 1)),
    ("一周后", date(2026, 12, 4), date(2026, 12, 5)),
    ("1周后", date(2026, 12, 4), date(2026, 12, 5)),
    ("两周后", date(2026, 12, 11), date(2026, 12, 12)),
    # calendar dates
    ("11月30日", date(2026, 11, 30), date(2026, 11, 30)),
    ("11月30号", date(2026, 11, 30), date(2026, 11, 30)),
    ("十一月三十日", date(2026, 11, 30), date(2026, 11, 30)),
    ("11/30", date(2026, 11, 30), date(2026, 11, 30)),
    ("2026-11-30", date(2026, 11, 30), date(2026, 11, 30)),
    ("2026/11/30", date(2026, 11, 30), date(2026, 11, 30)),
    ("2026年11月30日", date(2026, 11, 30), date(2026, 11, 30)),
    ("30号", date(2026, 11, 30), date(2026, 11, 30)),
    ("30日", date(2026, 11, 30), date(2026, 11, 30)),
    ("27号", FRI, date(2026, 12, 27)),                     # already past on Saturday: next month's
    ("5号", date(2026, 12, 5), date(2026, 12, 5)),
    ("31号", date(2026, 12, 31), date(2026, 12, 31)),      # November has no 31st
    ("月底", date(2026, 11, 30), date(2026, 11, 30)),
    ("下个月", date(2026, 12, 1), date(2026, 12, 1)),
    ("下月初", date(2026, 12, 1), date(2026, 12, 1)),
    ("下个月5号", date(2026, 12, 5), date(2026, 12, 5)),
    # English
    ("today", FRI, SAT),
    ("tomorrow", date(2026, 11, 28), date(2026, 11, 29)),
    ("next monday", date(2026, 11, 30), date(2026, 11, 30)),
    ("Next Monday", date(2026, 11, 30), date(2026, 11, 30)),
    ("friday", FRI, date(2026, 12, 4)),
    ("in 3 days", date(2026, 11, 30), date(2026, 12, 1)),
    ("in two weeks", date(2026, 12, 11), date(2026, 12, 12)),
    ("end of month", date(2026, 11, 30), date(2026, 11, 30)),
])
def test_parse_due_alone(text, on_friday, on_saturday):
    assert parse_due(text, FRI) == (on_friday, text)
    assert parse_due(text, SAT) == (on_saturday, text)


def test_weekday_in_a_sentence_matches_just_the_date():
    assert parse_due("周五前发方案", FRI) == (FRI, "周五")
    assert parse_due("周五前发方案", SAT) == (date(2026, 12, 4), "周五")


def test_this_weeks_day_already_past_is_the_coming_one():
    # on Sunday 29th, this (Monday-based) week's Friday was the 27th: take the coming one
    assert parse_due("本周五", date(2026, 11, 29))[0] == date(2026, 12, 4)
    assert parse_due("这周一", date(2026, 11, 25))[0] == date(2026, 11, 30)


def test_next_week_from_sunday_is_the_very_next_monday():
    assert parse_due("下周一", date(2026, 11, 29))[0] == date(2026, 11, 30)


def test_month_day_without_year_is_next_occurrence():
    assert parse_due("1月5日", date(2026, 12, 20))[0] == date(2027, 1, 5)
    assert parse_due("11月27日", FRI)[0] == FRI                       # today counts
    assert parse_due("11月26日", FRI)[0] == date(2027, 11, 26)


def test_month_end_in_december_and_next_month_in_december():
    dec = date(2026, 12, 10)
    assert parse_due("月底", dec)[0] == date(2026, 12, 31)
    assert parse_due("下个月", dec)[0] == date(2027, 1, 1)
    assert parse_due("月底", date(2027, 2, 3))[0] == date(2027, 2, 28)


def test_first_date_in_text_wins():
    assert parse_due("下一步下周一报价,30号签约", FRI) == (date(2026, 11, 30), "下周一")
    assert parse_due("send the quote tomorrow, sign friday", FRI) == (date(2026, 11, 28), "tomorrow")


def test_month_without_day_marker():
    assert parse_due("12月8前给答复", FRI) == (date(2026, 12, 8), "12月8")
    assert parse_due("12月8万的单子", FRI) is None       # 8万 is money, not the 8th


def test_last_week_is_in_the_past():
    assert parse_due("上周五", FRI) == (date(2026, 11, 20), "上周五")


def test_text_is_normalized_first():
    assert parse_due("１１月３０日前", FRI) == (date(2026, 11, 30), "11月30日")


@pytest.mark.parametrize("text", [
    "见了王总", "", "11.30", "8.5万", "3号楼", "24/7 在线", "下周", "本月", "Q4陈列",
])
def test_no_date(text):
    assert parse_due(text, FRI) is None


@pytest.mark.parametrize("text, bad", [
    ("2月30日", "2月30日"),
    ("13月1日前交", "13月1日"),
    ("11月31号", "11月31号"),
    ("2026-02-30", "2026-02-30"),
    ("2/30", "2/30"),
    ("2月29日", "2月29日"),   # said in November 2026: the next February, 2027, has no 29th
])
def test_impossible_dates_raise(text, bad):
    with pytest.raises(DateError) as info:
        parse_due(text, FRI)
    assert str(info.value).startswith(f"日期不存在: {bad}")
    assert isinstance(info.value, ValueError)


def test_feb_29_in_a_leap_year_is_fine():
    assert parse_due("2月29日", date(2027, 12, 1))[0] == date(2028, 2, 29)
    assert parse_due("2028-02-29", FRI)[0] == date(2028, 2, 29)
