from datetime import date

import pytest

from handlers.parse import DateError, NoteFacts, extract_note

FRI = date(2026, 11, 27)
SAT = date(2026, 11, 28)
DECIDERS = ["总", "总监", "经理", "董事长", "总经理", "CEO", "CTO", "CFO", "COO", "老板", "负责人",
            "VP", "副总", "厂长", "局长", "处长"]


def note(text, today=FRI):
    return extract_note(text, today, DECIDERS)


def test_full_example():
    facts = note("见了采购总监王总,聊了Q4陈列,下一步周五前发方案")
    assert facts == NoteFacts(
        contact_name="王总", contact_title="采购总监", decision_maker=True,
        next_step="周五前发方案", due=FRI, due_text="周五",
    )


def test_full_example_on_saturday_means_next_friday():
    facts = note("见了采购总监王总,聊了Q4陈列,下一步周五前发方案", SAT)
    assert facts.due == date(2026, 12, 4)


@pytest.mark.parametrize("text, name, title, decides", [
    ("王总", "王总", "总", True),
    ("李经理", "李经理", "经理", True),
    ("张总监", "张总监", "总监", True),
    ("财务经理刘敏", "刘敏", "财务经理", True),
    ("CEO张三", "张三", "CEO", True),
    ("ceo张三说可以", "张三", "CEO", True),
    ("总经理陈伟", "陈伟", "总经理", True),
    ("总经理陈伟聊了合同", "陈伟", "总经理", True),     # the name stops where the verb starts
    ("王老板", "王老板", "老板", True),
    ("赵主任", "赵主任", "主任", False),                 # 主任 is not in the caller's list
    ("孙先生", "孙先生", "先生", False),
    ("钱女士", "钱女士", "女士", False),
    ("见了王总", "王总", "总", True),
    ("和采购部李经理通了电话", "李经理", "采购经理", True),
    ("见了采购王总,周五送样", "王总", "采购", True),            # not 采购总: 总 is polite, not a role
    ("见了技术部张工", "张工", "技术", False),
    ("采购专员小李", "小李", "采购专员", False),
    ("见到欧阳经理", "欧阳经理", "经理", True),          # compound surname
    ("拜访了华联超市,见到老王", "老王", None, False),
    ("见了张工,聊了安装", "张工", "工", False),
    ("跟采购经理王强聊了", "王强", "采购经理", True),
    ("约了老板娘", "老板娘", "老板娘", True),               # a title alone is who was met (issue 13)
    ("见了店长", "店长", "店长", False),
    ("陈总不在,见了助理", "助理", "助理", False),          # the one actually met
    ("王总的助理小吴接待的", "小吴", "助理", False),
    ("和我们经理一起去的,见了老板", "老板", "老板", True),   # 我们经理 is our side
])
def test_contact(text, name, title, decides):
    facts = note(text)
    assert (facts.contact_name, facts.contact_title, facts.decision_maker) == (name, title, decides)


@pytest.mark.parametrize("text", [
    "施工方案还没定",          # 施 is a surname, 施工 is not a person
    "下周总结时再说",          # 周 is a surname, 下周 is not
    "关于总部的政策",          # 于 is a surname, 于总部 is not 于总
    "聊了市场方案",            # 方 is a surname, but 市场 is no title before a full name
    "拜访了华联超市",
    "",
])
def test_no_contact(text):
    facts = note(text)
    assert facts.contact_name is None and facts.contact_title is None and facts.decision_maker is False


def test_person_after_a_contact_verb_is_preferred():
    facts = note("华联王总不在,见了采购李经理")
    assert facts.contact_name == "李经理"


def test_first_of_several_people_otherwise():
    assert note("王总和李经理一起吃饭").contact_name == "王总"


def test_decision_titles_come_from_the_caller():
    assert extract_note("赵主任", FRI, ["主任"]).decision_maker is True
    assert extract_note("王总", FRI, ["董事长"]).decision_maker is False
    assert extract_note("VP李四", FRI, ["vp"]).decision_maker is True   # Latin titles: any case


@pytest.mark.parametrize("text, step, due, due_text", [
    ("下一步周五前发方案", "周五前发方案", FRI, "周五"),
    ("下一步:下周一报价,争取月底签", "下周一报价", date(2026, 11, 30), "下周一"),
    ("下一步是3天后回访", "3天后回访", date(2026, 11, 30), "3天后"),
    ("下步 11月30号前寄样品;其他再议", "11月30号前寄样品", date(2026, 11, 30), "11月30号"),
    ("聊了明年采购计划,下一步:下周一报价", "下周一报价", date(2026, 11, 30), "下周一"),  # 下一步 beats 计划
    ("计划月底签约", "月底签约", date(2026, 11, 30), "月底"),
    ("待办:明天打电话", "明天打电话", date(2026, 11, 28), "明天"),
    ("met Mr Wang. Next step: send quote by friday", "send quote by friday", FRI, "friday"),
    ("next: call back tomorrow", "call back tomorrow", date(2026, 11, 28), "tomorrow"),
    ("下一步报价8.5万.周五前", "报价8.5万", None, None),   # a decimal point does not end the clause
    ("下一步再约", "再约", None, None),
])
def test_next_step(text, step, due, due_text):
    facts = note(text)
    assert (facts.next_step, facts.due, facts.due_text) == (step, due, due_text)


def test_full_width_punctuation_ends_the_clause():
    facts = note("见了王总，下一步：周五前发方案。然后再说")
    assert (facts.next_step, facts.due) == ("周五前发方案", FRI)


def test_next_step_without_a_marker():
    # issue 13: a clause with a future date and an action is the next step, 下一步 or not
    facts = note("见了王总,周五前发方案")
    assert (facts.next_step, facts.due, facts.due_text) == ("周五前发方案", FRI, "周五")
    facts = note("见了王总,聊了陈列")
    assert (facts.next_step, facts.due, facts.due_text) == (None, None, None)


def test_date_outside_the_next_step_is_ignored():
    facts = note("周一见了王总,下一步发方案")
    assert (facts.next_step, facts.due) == ("发方案", None)


def test_impossible_next_step_date_raises():
    with pytest.raises(DateError, match="2月30日"):
        note("见了王总,下一步2月30日前签约")
