"""handlers.parse.message.read: one message read as a rep means it (pure: no database, no clock)."""
from __future__ import annotations

import random
from datetime import date

import pytest

from handlers.parse import DateError
from handlers.parse.message import clean, read
from handlers.parse.names import Candidate, CustomerIndex

FRI = date(2026, 11, 27)
TITLES = ["总", "总监", "经理", "董事长", "总经理", "CEO", "老板", "负责人", "副总", "厂长"]
INDEX = CustomerIndex([Candidate.of(i, n) for i, n in enumerate(
    ["华联超市", "华联便利店", "云栖茶饮", "鹭岛鲜果行", "华联超市朝阳店", "山姆会员店"], 1)])


def r(text, today=FRI, verb=None, hint=None):
    return read(text, today, INDEX, TITLES, verb, hint)


@pytest.mark.parametrize("text, customer", [
    ("今天去了华联超市,见了王总", "华联超市"),
    ("给云栖茶饮的陈总打电话", "云栖茶饮"),
    ("华联超市朝阳店去了", "华联超市朝阳店"),      # the longest name wins
    ("鹭岛那边明天送样", "鹭岛鲜果行"),            # without its generic ending
    ("山姆 明天送样", "山姆会员店"),
])
def test_customer_anywhere(text, customer):
    assert [c.name for c in r(text).customer.candidates] == [customer]


def test_a_name_two_customers_share_is_ambiguous():
    found = r("去了华联 见了王总").customer
    assert found.kind == "ambiguous" and {c.name for c in found.candidates} >= {"华联超市", "华联便利店"}


@pytest.mark.parametrize("text, kind", [
    ("今天去了华联超市", "visit"), ("刚从华联超市出来 王总说再让两个点", "visit"), ("华联超市 货卖不出来", "note"),
    ("跑了一趟华联超市", "visit"), ("华联超市打了个电话", "call"),
    ("和华联超市微信语音聊了", "call"), ("华联超市开了个会", "meeting"), ("华联超市视频会", "meeting"),
    ("给华联超市发了方案", "proposal"), ("华联超市回复说可以", "feedback"), ("华联超市在评估", "evaluation"),
    ("华联超市在试用", "evaluation"), ("华联超市价格谈妥了", "terms"), ("去华联超市发现农夫山泉在抢陈列", "competitor"),
    ("华联超市 明天再去一趟", "plan"), ("明天去拜访华联超市", "plan"),
])
def test_kind_without_a_command_word(text, kind):
    assert r(text).kind == kind


@pytest.mark.parametrize("text, step, due", [
    ("明天寄样品", "明天寄样品", date(2026, 11, 28)),
    ("后天再打", "后天再打", date(2026, 11, 29)),
    ("下周一再跟进", "下周一再跟进", date(2026, 11, 30)),
    ("12月3号去店里", "12月3号去店里", date(2026, 12, 3)),
    ("月底前签", "月底前签", date(2026, 11, 30)),
    ("两天后送样", "两天后送样", date(2026, 11, 29)),
    ("一周后复查", "一周后复查", date(2026, 12, 4)),
    ("下周一上午十点再打", "下周一上午十点再打", date(2026, 11, 30)),
    ("上周五报价后今天又去了一次,下周三复盘", "下周三复盘", date(2026, 12, 2)),
    ("年后再约", "年后再约", None),
    ("节后再说", "节后再说", None),
    ("约了10号左右见面", "10号左右见面", None),
    ("十二月三号送货", "十二月三号送货", date(2026, 12, 3)),
    ("下礼拜二再去", "下礼拜二再去", date(2026, 12, 1)),
    ("礼拜五前报价", "礼拜五前报价", FRI),
    ("大后天上门", "大后天上门", date(2026, 11, 30)),
    ("下下周一复盘", "下下周一复盘", date(2026, 12, 7)),
    ("初八再碰", "初八再碰", date(2027, 2, 13)),       # the 8th day of the 2027 lunar new year
])
def test_next_step_without_the_word(text, step, due):
    got = r("拜访 华联超市 见了王总 " + text, verb="visit").step
    assert (got.text, got.due) == (step, due)


def test_a_past_date_is_no_next_step():
    assert r("华联超市 周一见了王总 聊了陈列").step is None
    assert r("华联超市 昨天送了样").step is None


def test_fillers_and_spoken_connectors():
    assert clean("嗯那个今天去了然后见了王总") == "今天去了,见了王总"
    reading = r("嗯那个今天去了华联超市然后见了王总就是说下礼拜二可以签合同然后明天我把方案发过去")
    assert reading.kind == "visit" and reading.person.name == "王总"
    assert reading.step.due == date(2026, 11, 28)  # the rep's own plan over the customer's maybe


@pytest.mark.parametrize("text, signal", [
    ("华联超市合同签了", "won"), ("华联超市王总签了", "won"), ("华联超市客户说不做了", "lost"),
    ("华联超市黄了", "lost"), ("华联超市进入谈判", "advance:negotiation"),
    ("华联超市还没签", None), ("华联超市下周签合同", None),
])
def test_stage_signals(text, signal):
    assert r(text).signal == signal


def test_an_impossible_date_raises():
    with pytest.raises(DateError):
        r("华联超市 2月30日前发方案")


def test_any_unicode_is_read_without_an_error():
    rnd = random.Random(7)
    for _ in range(3000):
        n = rnd.randint(0, 60)
        text = "".join(chr(rnd.choice([rnd.randint(0x20, 0x7e), rnd.randint(0x4e00, 0x9fff), rnd.randint(0x3000, 0x303f),
                                       rnd.randint(0xff00, 0xffef), rnd.randint(0x1f300, 0x1faff), rnd.randint(0, 0x10ffff)]))
                       for _ in range(n))
        try:
            reading = r(text)
        except DateError:
            continue
        assert reading.customer.kind in ("exact", "alias", "ambiguous", "none")


def test_a_branch_is_named_as_reps_say_it():
    index = CustomerIndex([Candidate.of(i, n) for i, n in enumerate(
        ["全家便利店莘庄店", "全家便利店徐家汇店", "绿茶餐厅陆家嘴店", "联华超市宁波天一店"], 1)])

    def named(text):
        found = read(text, FRI, index, TITLES).customer
        return found.kind, [c.name for c in found.candidates]
    assert named("去了全家莘庄店 见了店长") == ("alias", ["全家便利店莘庄店"])
    assert named("绿茶陆家嘴 明天送样") == ("alias", ["绿茶餐厅陆家嘴店"])
    assert named("莘庄店 明天再去") == ("alias", ["全家便利店莘庄店"])
    assert named("全家 明天再去")[0] == "ambiguous"       # two branches: the bot asks which
    assert named("今天去了全家便利店莘庄店")[0] == "exact"


@pytest.mark.parametrize("text, person, step", [
    ("鹭岛鲜果行,老板娘说下个月再订,明天送样", "老板娘", "送样"),   # she was spoken to: a contact, and a plan
    ("华联超市 店长说下周可以谈,周五前发方案", "店长", "发方案"),
])
def test_what_the_customer_said_beside_the_reps_plan_is_a_contact(text, person, step):
    reading = r(text)
    assert reading.reported and reading.kind != "plan"
    assert reading.person is not None and reading.person.name == person
    assert step in reading.step.text and reading.step.due is not None


def test_a_plan_alone_is_still_only_a_plan():
    reading = r("华联超市 明天去一趟,后天报价")
    assert reading.kind == "plan" and not reading.reported
