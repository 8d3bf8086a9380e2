"""What the property tests share: hypothesis settings that keep the suite fast and reproducible, and
text strategies that reach the parsers' corners (commands, numbers, dates, names, markup)."""
from __future__ import annotations

from hypothesis import HealthCheck, settings
from hypothesis import strategies as st

# derandomized: the suite tries the same examples every run (bench/fuzz.py runs long, seeded ones)
SUITE = settings(max_examples=60, deadline=None, derandomize=True, database=None,
                 suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow,
                                        HealthCheck.data_too_large])

WORDS = ["新客户", "拜访", "电话", "会议", "推进", "赢单", "输单", "推迟", "我的客户", "客户", "今日任务", "漏斗", "周报",
         "介入", "催办", "帮助", "new", "stage", "list", "华联超市", "hlcs", "金额", "原因:", "下一步", "对比", "天", "小时",
         "万", "亿", "99999999999999999999", "1e308", "-1", "0", "9999-12", "0001-01", "2026-Q4", "12月31日", "周五",
         "]]>", "<![CDATA[", "&amp;", "\x00", "\u202e", "@销售助手", "１２３", "一二三四五六七八九十百千", "  ", "\n"]

chat_text = st.one_of(
    st.text(max_size=200),
    st.lists(st.one_of(st.sampled_from(WORDS), st.text(max_size=12),
                       st.integers(min_value=-10 ** 30, max_value=10 ** 30).map(str)),
             max_size=8).map(" ".join),
)

# any JSON value, nested a little (the routes' bodies)
json_values = st.recursive(
    st.none() | st.booleans() | st.integers(min_value=-2 ** 70, max_value=2 ** 70) | st.floats() | chat_text,
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=10), children, max_size=4),
    max_leaves=12)
