"""Property tests: whatever text a person types, the parsers answer or refuse, never raise; a whole
chat message always gets a reply (through WeCom a 500 means WeCom retries and the rep gets nothing)."""
from __future__ import annotations

from datetime import date

import pytest
from hypothesis import given
from hypothesis import strategies as st

from handlers.parse import DateError, cn_int, extract_note, find_amount, normalize, parse_amount, parse_due, \
    split_command
from rules.kpi import parse_period
from tests.helpers import Chat, counts, small_team
from tests.security.fuzzing import SUITE, chat_text

TODAY = date(2026, 11, 27)


@SUITE
@given(chat_text)
def test_the_text_parsers_never_raise(text):
    normalize(text)
    split_command(text)
    amount, _ = find_amount(text)
    assert amount is None or isinstance(amount, int)
    parse_amount(text)
    cn_int(text)
    try:
        parse_due(text, TODAY)
    except DateError as e:  # a clear refusal (e.g. 2月30日), worded for the person
        assert str(e)
    extract_note(text, TODAY, ["总监", "经理"])
    parse_period(text, TODAY)


@SUITE
@given(st.integers(min_value=0, max_value=99999), st.integers(min_value=-5, max_value=20))
def test_any_period_text_parses_to_a_period_or_none(year, month):
    for text in (f"{year}-{month}", f"{year}-Q{month}", f"{year}-W{month}", f"{year}年{month}月"):
        period = parse_period(text, TODAY)
        assert period is None or period.start < period.end and period.previous().start < period.start


@pytest.fixture(scope="module")
def chat(tmp_path_factory):
    from bot.clock import FixedClock
    from tests.conftest import T0, make_runtime
    rt = make_runtime(f"sqlite:///{tmp_path_factory.mktemp('chat')}/bot.db", FixedClock(T0))
    small_team(rt)
    return Chat(rt)


@SUITE
@given(st.sampled_from(["alice", "boss", "nobody"]), chat_text)
def test_any_chat_message_gets_a_reply(chat, user, text):
    handled = chat.send(user, text)
    assert handled.replies, text


@pytest.mark.parametrize("text", ["周报 9999-12", "周报 0001-01", "周报 9999-Q4", "周报 2026-11 对比 9999-09",
                                  "推迟 华联超市 99999999999999999999天 原因:出差", "推迟 华联超市 999999999小时 原因:x",
                                  "新客户 巨额客户 金额100000000000000000000000", "新客户 巨额客户 金额99999999999999999999万"])
def test_overflowing_numbers_in_chat_are_refused_and_change_nothing(chat, text):
    user = "boss" if text.startswith("周报") else "alice"
    before = counts(chat.rt)
    answer = chat.say(user, text)
    assert answer and ("超出范围" in answer or "没看懂" in answer or "不超过" in answer), answer
    after = counts(chat.rt)
    assert {k: v for k, v in after.items() if k != "Outbox"} == {k: v for k, v in before.items() if k != "Outbox"}
