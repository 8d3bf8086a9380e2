import pytest

from handlers.parse import normalize, split_command


@pytest.mark.parametrize("raw, expected", [
    ("ＡＢＣ１２３", "ABC123"),                       # full-width letters and digits
    ("华联\u3000超市", "华联 超市"),                  # full-width space
    ("你好，世界。", "你好,世界."),
    ("时间：周五；地点：门店", "时间:周五;地点:门店"),
    ("（备注）", "(备注)"),
    ("苹果、香蕉", "苹果,香蕉"),
    ("“双引号”‘单引号’", "\"双引号\"'单引号'"),
    ("好！行吗？", "好!行吗?"),
    ("  a \t\n  b  ", "a b"),                          # runs of whitespace collapse, ends stripped
    ("华联\u200b超市", "华联超市"),                  # zero-width space dropped
    ("", ""),
])
def test_normalize(raw, expected):
    assert normalize(raw) == expected


def test_normalize_is_idempotent():
    once = normalize("  见了采购总监王总，聊了Ｑ４陈列；下一步：周五前发方案！ ")
    assert once == "见了采购总监王总,聊了Q4陈列;下一步:周五前发方案!"
    assert normalize(once) == once


@pytest.mark.parametrize("raw, expected", [
    ("跟进 华联超市 金额8万", ("跟进", "华联超市 金额8万")),
    ("拜访   华联超市  ", ("拜访", "华联超市")),
    ("帮助", ("帮助", "")),                            # a verb with nothing after it
    ("\u3000拜访\u3000华联", ("拜访", "华联")),        # full-width spaces count as separators
    ("", ("", "")),
    ("   ", ("", "")),
])
def test_split_command(raw, expected):
    assert split_command(raw) == expected
