import pytest

from handlers.parse import cn_int, find_amount, parse_amount


@pytest.mark.parametrize("text, yuan", [
    ("8万", 80_000),
    ("8.5万", 85_000),
    ("八万", 80_000),
    ("十二万", 120_000),
    ("12万5", 125_000),          # spoken shorthand: the digit after 万 means 千
    ("3千5", 3_500),
    ("一百五", 150),
    ("12万500", 120_500),        # a longer tail is taken as written
    ("一万零五", 10_005),        # 零 marks a gap, so no shorthand
    ("一百二十万", 1_200_000),
    ("两万五千", 25_000),
    ("80000", 80_000),
    ("80,000", 80_000),
    ("8w", 80_000),
    ("8W", 80_000),
    ("3千", 3_000),
    ("1.2亿", 120_000_000),
    ("一亿二千万", 120_000_000),
    ("8千万", 80_000_000),
    ("5k", 5_000),
    ("1kw", 10_000_000),
    ("金额8万", 80_000),
    ("金额:8万", 80_000),
    ("金额：8万", 80_000),
    ("amount 80000", 80_000),
    ("Amount: 8w", 80_000),
    ("8万元", 80_000),
    ("8万块钱", 80_000),
    ("¥80000", 80_000),
    ("￥8万", 80_000),
    ("80000元", 80_000),
    ("８万", 80_000),            # full-width digit
    ("0", 0),
])
def test_parse_amount(text, yuan):
    assert parse_amount(text) == yuan


@pytest.mark.parametrize("text", [
    "", "abc", "万", "百联", "金额", "2026-11-30", "11月30日", "8万8万", "五八", "3天", "¥", "8万 华联",
])
def test_parse_amount_rejects(text):
    assert parse_amount(text) is None


@pytest.mark.parametrize("text, value", [
    ("三", 3), ("十一", 11), ("二十", 20), ("两", 2), ("12", 12), ("十", 10), ("一百零五", 105),
    ("零", 0), ("二〇二六", 2026), ("十二万", 120_000),
])
def test_cn_int(text, value):
    assert cn_int(text) == value


@pytest.mark.parametrize("text", ["", "3.5", "abc", "三天", "百"])
def test_cn_int_rejects(text):
    assert cn_int(text) is None


@pytest.mark.parametrize("text, expected", [
    ("华联超市 金额8万", (80_000, "华联超市")),
    ("华联超市 8万 下周签", (80_000, "华联超市 下周签")),
    ("华联超市,8.5万,周五签", (85_000, "华联超市,周五签")),
    ("华联超市 ¥80000", (80_000, "华联超市")),
    ("百联超市80000", (80_000, "百联超市")),           # 百 in a name is not a number
    ("华联超市 十二万", (120_000, "华联超市")),
    ("周五8万", (80_000, "周五")),                      # 五 of 周五 does not swallow the amount
    ("8万3天后", (80_000, "3天后")),                    # 3 belongs to the date, not 12万5-style shorthand
    ("Q4陈列 5k", (5_000, "Q4陈列")),
    ("7-11便利店 10万", (100_000, "7-11便利店")),
    ("5kg样品 2万", (20_000, "5kg样品")),
    ("360超市 5万", (50_000, "360超市")),             # digits inside a name stay in the name
    ("58同城 2万", (20_000, "58同城")),
    ("三只松鼠 5万", (50_000, "三只松鼠")),
    ("三千院 5万", (50_000, "三千院")),
    ("一千零一夜 3万", (30_000, "一千零一夜")),
    ("华联 八万左右", (80_000, "华联 左右")),
    ("华联 80000 下周", (80_000, "华联 下周")),
    ("50", (50, "")),                                   # a cell holding just a number
    ("80000.00", (80_000, "")),
])
def test_find_amount(text, expected):
    assert find_amount(text) == expected


@pytest.mark.parametrize("text", [
    "下一步周五前发方案",
    "2026-11-30 华联",
    "买了300箱",              # a count of goods
    "电话13800138000",        # a phone number
    "万达广场",
    "Q4陈列",
    "11/30 交付",
    "百联超市80000下周签",    # digits glued to more text on both sides: rather not guess
])
def test_find_amount_finds_nothing(text):
    amount, rest = find_amount(text)
    assert amount is None
    assert rest == text
