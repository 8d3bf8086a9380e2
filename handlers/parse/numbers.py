"""Read integers and CNY amounts written with Arabic digits, Chinese numerals, 万/亿 or k/w."""
from __future__ import annotations

import re
from decimal import ROUND_HALF_UP, Decimal

from .normalize import normalize

_DIGITS = {
    "零": 0, "〇": 0, "一": 1, "壹": 1, "二": 2, "贰": 2, "两": 2, "三": 3, "叁": 3,
    "四": 4, "肆": 4, "五": 5, "伍": 5, "六": 6, "陆": 6, "七": 7, "柒": 7,
    "八": 8, "捌": 8, "九": 9, "玖": 9,
}
_SMALL_UNITS = {"十": 10, "拾": 10, "百": 100, "佰": 100, "千": 1000, "仟": 1000, "k": 1000}
_WAN, _YI = 10**4, 10**8
_BIG_UNITS = {"万": _WAN, "萬": _WAN, "w": _WAN, "亿": _YI, "億": _YI}

_CN_CHARS = "".join(_DIGITS) + "十拾百佰千仟万萬亿億"
# Characters after a number that make it a date, a time, a count or a ratio rather than money.
_NOT_MONEY_AFTER = "天日号號月年周个個点點时時分秒%/:\\-"
_CLASSIFIERS = set("箱个件台套张瓶包盒袋吨斤米人家次条份只支辆位间层栋期季")
_AFTER_AMOUNT = set("的左上以多到至余")  # "八万左右", "十万以上", "八万到十万"

_NUMBER = r"(?:\d{1,3}(?:,\d{3})+|\d+)(?:\.\d+)?"
_ITEM = (
    rf"(?:{_NUMBER}(?![\d{_NOT_MONEY_AFTER}])"
    rf"|[{''.join(_DIGITS)}](?![{_NOT_MONEY_AFTER}])"
    rf"|[十拾百佰千仟万萬亿億kw])"
)
_TOKEN = re.compile(
    r"(?P<prefix>(?:金额|amount)\s*(?:[:=]|是|为)?\s*)?"
    r"(?P<cur>(?:¥|rmb|cny)\s*)?"
    rf"(?P<body>(?:{_ITEM})+)"
    r"(?P<suffix>\s*(?:块钱|元|块|圆|rmb|cny|yuan))?",
    re.IGNORECASE,
)
_LEX = re.compile(rf"({_NUMBER})|(.)", re.S)
_SEPARATORS = re.compile(r"\s*([,;:])(?:\s*[,;:])*")


def _read(body: str) -> Decimal | None:
    """Value of a run of digits, numerals and units ("12万5", "两万五千", "1.2亿"), None if malformed."""
    result = wan = section = Decimal(0)
    number: Decimal | None = None
    single_digit = False     # the pending number is one digit ("12万5" -> 5 means 5千)
    zero_gap = False         # a 零 since the last unit ("一万零五" -> 5 means 5)
    last_unit = 0            # multiplier of the last unit seen
    smallest = 10**5         # small units inside a section must decrease: 千 > 百 > 十
    wan_done = False         # one 万 per 亿-group
    yi_done = False          # and one 亿 in all
    seen_any = False
    for arabic, ch in _LEX.findall(body.lower()):
        if arabic or ch in _DIGITS:
            if ch == "零" or ch == "〇":
                if number is not None:
                    return None
                zero_gap = True
                seen_any = True
                continue
            if number is not None:
                return None
            number = Decimal(arabic.replace(",", "")) if arabic else Decimal(_DIGITS[ch])
            single_digit = (len(arabic) == 1) if arabic else True
        elif ch in _SMALL_UNITS:
            unit = _SMALL_UNITS[ch]
            if number is None:
                if unit != 10 or section or zero_gap:
                    return None
                number = Decimal(1)  # a section may start with a bare 十: "十二" = 12
            if unit >= smallest:
                return None
            section += number * unit
            smallest, last_unit, number, zero_gap = unit, unit, None, False
        elif ch in _BIG_UNITS:
            unit = _BIG_UNITS[ch]
            if number is None and not section:
                return None
            section += number or 0
            if unit == _WAN:
                if wan_done:
                    return None
                wan, wan_done = section * _WAN, True
            else:
                if yi_done:
                    return None
                result = (result + wan + section) * _YI
                wan, wan_done, yi_done = Decimal(0), False, True
            section, number, smallest, last_unit, zero_gap = Decimal(0), None, 10**5, unit, False
        else:
            return None
        seen_any = True
    if not seen_any:
        return None
    if number is not None:
        if single_digit and not zero_gap and last_unit > 10 and number == number.to_integral_value():
            number *= last_unit // 10  # spoken shorthand: 12万5 = 12.5万, 3千5 = 3500
        section += number
    return result + wan + section


def _to_int(value: Decimal) -> int:
    return int(value.to_integral_value(rounding=ROUND_HALF_UP))  # (quantize fails past 28 digits)


def cn_int(s: str) -> int | None:
    """Integer written in Arabic digits or Chinese numerals: "三" -> 3, "十一" -> 11, "两" -> 2, "12" -> 12."""
    s = normalize(s or "").replace(" ", "")
    if not s:
        return None
    if len(s) > 1 and all(ch in _DIGITS for ch in s):
        return int("".join(str(_DIGITS[ch]) for ch in s))  # digit by digit: 二〇二六 -> 2026
    if not all(ch.isdigit() or ch in _CN_CHARS for ch in s):
        return None
    value = _read(s)
    if value is None or value != value.to_integral_value():
        return None
    return int(value)


def parse_amount(s: str) -> int | None:
    """Whole string as an amount in yuan: "8万", "12万5", "两万五千", "80,000", "5k", "金额8万", "¥80000"."""
    text = normalize(s or "").replace(" ", "")
    m = _TOKEN.fullmatch(text)
    if m is None:
        return None
    value = _read(m["body"])
    return None if value is None else _to_int(value)


def _is_han(ch: str) -> bool:
    return "\u4e00" <= ch <= "\u9fff"


def _looks_like_money(m: re.Match, text: str) -> bool:
    """Whether a number found in free text is an amount rather than a date, a count, a code or part of a name."""
    body = m["body"].lower()
    before = text[m.start() - 1] if m.start() > 0 else ""
    after = text[m.end()] if m.end() < len(text) else ""
    marked = bool(m["prefix"] or m["cur"] or m["suffix"])
    has_arabic = any(ch.isdigit() for ch in body)
    has_unit = any(ch in "十拾百佰千仟万萬亿億kw" for ch in body)
    if not marked and body[0].isdigit() and before and before.isascii() and (before.isalnum() or before in ".-/:"):
        return False  # part of a code or date: "Q4", "v2", "11-30"
    if after.isascii() and after.isalpha() and not m["suffix"]:
        return False  # "5kg", "3days"
    if not m["suffix"] and after in _CLASSIFIERS:
        return False  # a count, not money: "300箱"
    if marked or m.span() == (0, len(text)):
        return True
    if _is_han(after) and (not has_unit or not has_arabic and after not in _AFTER_AMOUNT):
        return False  # part of a name: "360超市", "58同城", "三千院"
    if has_arabic:
        if has_unit:
            return True
        digits = len(body.split(".")[0].replace(",", ""))
        return 3 <= digits <= 10  # a bare 80000; longer runs are phone or order numbers
    return any(ch in "千仟万萬亿億" for ch in body)


def find_amount(text: str) -> tuple[int | None, str]:
    """First amount in free text and the (normalized) text without it: "华联超市 金额8万" -> (80000, "华联超市")."""
    text = normalize(text or "")
    pos = 0
    while (m := _TOKEN.search(text, pos)) is not None:
        value = _read(m["body"])
        if value is not None and _looks_like_money(m, text):
            rest = f"{text[:m.start()]} {text[m.end():]}"
            rest = _SEPARATORS.sub(r"\1", normalize(rest)).strip(" ,;:")  # "a, ,b" -> "a,b"
            return _to_int(value), rest
        pos = m.start() + 1
    return None, text
