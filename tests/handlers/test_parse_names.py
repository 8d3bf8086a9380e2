import itertools
import time

import pytest

from handlers.parse import Candidate, Match, Matcher, initials_of, match_name


def cands(*names):
    return [Candidate.of(i, n) for i, n in enumerate(names, start=1)]


SHOPS = cands("华联超市", "华润万家", "永辉超市", "沃尔玛", "7-11便利店", "ABC超市", "联华超市", "北京华联商厦")


def names_of(match: Match) -> list[str]:
    return [c.name for c in match.candidates]


@pytest.mark.parametrize("name, initials", [
    ("华联超市", "hlcs"),
    ("7-11便利店", "711bld"),
    ("ABC超市", "abccs"),
    ("华联 超市(东城店)", "hlcsdcd"),
    ("", ""),
])
def test_initials_of(name, initials):
    assert initials_of(name) == initials


def test_candidate_of_fills_initials():
    assert Candidate.of(3, "永辉超市") == Candidate(3, "永辉超市", "yhcs")


@pytest.mark.parametrize("query, name", [
    ("华联超市", "华联超市"),
    ("abc超市", "ABC超市"),            # case-insensitive
    ("ＡＢＣ超市", "ABC超市"),          # full-width, after normalize
    (" 沃尔玛 ", "沃尔玛"),
])
def test_exact(query, name):
    m = match_name(query, SHOPS)
    assert (m.kind, names_of(m)) == ("exact", [name])


def test_exact_beats_substring():
    m = match_name("华联", cands("华联", "华联超市"))
    assert (m.kind, names_of(m)) == ("exact", ["华联"])


def test_duplicate_names_are_ambiguous():
    m = match_name("华联超市", cands("华联超市", "华联超市"))
    assert m.kind == "ambiguous" and [c.id for c in m.candidates] == [1, 2]


@pytest.mark.parametrize("query, kind, names", [
    ("永辉", "unique", ["永辉超市"]),
    ("沃尔", "unique", ["沃尔玛"]),
    ("华联超", "unique", ["华联超市"]),
    ("华联", "ambiguous", ["华联超市", "北京华联商厦"]),   # names starting with the query first
    ("超市", "ambiguous", ["华联超市", "永辉超市", "联华超市", "ABC超市"]),  # then shorter names first
    ("7-11", "unique", ["7-11便利店"]),
    ("711", "unique", ["7-11便利店"]),
])
def test_substring(query, kind, names):
    m = match_name(query, SHOPS)
    assert (m.kind, names_of(m)) == (kind, names)


@pytest.mark.parametrize("query, name", [
    ("hlcs", "华联超市"),
    ("HLCS", "华联超市"),
    ("hl", "华联超市"),        # a prefix of the initials; bjhlss does not start with hl
    ("yh", "永辉超市"),
    ("711bld", "7-11便利店"),
    ("hr", "华润万家"),
])
def test_initials(query, name):
    m = match_name(query, SHOPS)
    assert (m.kind, names_of(m)) == ("unique", [name])


def test_shared_initials_are_ambiguous_exact_initials_first():
    m = match_name("hl", cands("华联超市", "好来", "华润"))
    assert (m.kind, names_of(m)) == ("ambiguous", ["好来", "华联超市"])


@pytest.mark.parametrize("query", [
    "华连超市",      # one wrong character (a same-sound typo)
    "华联超是",
    "华超市",        # one missing character
    "华联市超",      # two swapped
    "华联大超市",    # one extra character
    "hualian",       # full pinyin, partly
    "hualianchaoshi",
    "hualain",       # pinyin with a typo
])
def test_typos_find_the_customer(query):
    m = match_name(query, cands("华联超市", "华润万家", "永辉超市", "沃尔玛"))
    assert (m.kind, names_of(m)) == ("unique", ["华联超市"])


def test_typo_close_to_two_names_is_ambiguous_best_first():
    m = match_name("华联超", cands("华联超市", "华联超人"))
    assert (m.kind, names_of(m)) == ("ambiguous", ["华联超市", "华联超人"])
    m = match_name("永联超市", cands("华联超市", "永辉超市"))
    assert m.kind == "ambiguous" and set(names_of(m)) == {"华联超市", "永辉超市"}


def test_same_sound_typo_prefers_the_homophone():
    m = match_name("华连超市", cands("华润超市", "华联超市"))
    assert (m.kind, names_of(m)) == ("unique", ["华联超市"])


def test_ambiguous_lists_at_most_five():
    many = cands(*(f"华联超市{i}号店" for i in range(1, 10)))
    m = match_name("华联超市", many)
    assert m.kind == "ambiguous" and len(m.candidates) == 5


@pytest.mark.parametrize("query", [
    "'; DROP TABLE deals; --", "😀", "😀😀😀", "", "   ", "华", "x", "zzzz", "数据库", "!!!",
])
def test_nonsense_gives_none(query):
    m = match_name(query, SHOPS)
    assert (m.kind, m.candidates) == ("none", [])


def test_empty_candidate_list():
    assert match_name("华联超市", []).kind == "none"


def test_matcher_is_reusable():
    matcher = Matcher(SHOPS)
    assert names_of(matcher.match("永辉")) == ["永辉超市"]
    assert names_of(matcher.match("hlcs")) == ["华联超市"]
    assert matcher.match("华联超市").kind == "exact"


BRANDS = ["华联", "华润", "永辉", "联华", "物美", "大润发", "家乐福", "沃尔玛", "世纪联华", "盒马",
          "美宜佳", "罗森", "全家", "便利蜂", "7-11", "苏果", "步步高", "新华都", "人人乐", "天虹",
          "银泰", "百联", "王府井", "麦德龙", "山姆", "欧尚", "红旗", "中百", "武商", "家家悦",
          "利群", "北国", "胖东来", "丹尼斯", "雅斯", "国美", "苏宁", "罗森", "易捷", "唐久"]
CITIES = ["", "北京", "上海", "广州", "深圳", "杭州", "南京", "成都", "武汉", "西安", "长沙", "郑州", "重庆"]
KINDS = ["超市", "便利店", "商贸", "百货", "购物中心", "生鲜", "仓储店", "食品", "连锁", "商场"]


def five_hundred():
    names = list(dict.fromkeys(c + b + k for c, b, k in itertools.product(CITIES, BRANDS, KINDS)))
    return cands(*names[::7][:500])


def test_realistic_list_of_500():
    shops = five_hundred()
    names = {c.name for c in shops}
    assert len(shops) == 500
    assert {"华联超市", "广州永辉超市"} <= names and "永辉超市" not in names
    matcher = Matcher(shops)
    assert matcher.match("华联超市").kind == "exact"
    assert names_of(matcher.match("华连超市")) == ["华联超市"]
    assert names_of(matcher.match("广州永灰超市")) == ["广州永辉超市"]
    assert matcher.match("'; DROP TABLE deals; --").kind == "none"


def test_timing_of_500_names_is_reported(capsys):
    shops = five_hundred()
    start = time.perf_counter()
    matcher = Matcher(shops)
    build_ms = (time.perf_counter() - start) * 1000
    queries = ["华联超市", "华连超市", "超市", "hlcs", "hualain", "永灰超市", "北京华连超市", "zzzz",
               "'; DROP TABLE deals; --", "家乐副"]
    rounds = 20
    start = time.perf_counter()
    for _ in range(rounds):
        for q in queries:
            matcher.match(q)
    per_query_ms = (time.perf_counter() - start) / (rounds * len(queries)) * 1000
    worst = 0.0
    for q in queries:
        t = time.perf_counter()
        matcher.match(q)
        worst = max(worst, (time.perf_counter() - t) * 1000)
    with capsys.disabled():
        print(f"\n[names] 500 candidates: Matcher built in {build_ms:.2f} ms; "
              f"{per_query_ms:.3f} ms per query on average, worst {worst:.3f} ms")
