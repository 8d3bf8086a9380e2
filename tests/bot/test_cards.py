"""Button labels on cards: the customer names the deal, the action stays readable."""
from bot.cards import BUTTON_TEXT, rep_buttons


def test_a_long_customer_name_is_shortened_not_the_action():
    long_name = "上海浦东新区华联超市连锁经营管理有限公司"
    labels = [b.label for b in rep_buttons(7, 3, long_name, prefix=True)]
    assert [lbl.split(":")[1] for lbl in labels] == ["已跟进", "推迟24小时", "请主管支援"]
    assert all(len(lbl) <= BUTTON_TEXT and lbl.startswith("上海浦东新区") and "…" in lbl for lbl in labels)
    assert len(set(labels)) == 3


def test_a_short_name_is_kept_whole_and_a_single_deal_needs_none():
    assert [b.label for b in rep_buttons(7, 3, "华联超市", prefix=True)] == [
        "华联超市:已跟进", "华联超市:推迟24小时", "华联超市:请主管支援"]
    assert [b.label for b in rep_buttons(7, 3, "华联超市", prefix=False)] == ["已跟进", "推迟24小时", "请主管支援"]
    assert [b.action for b in rep_buttons(7, 3, "华联超市", prefix=False)] == ["followup:7:3", "snooze:7:3", "askhelp:7:3"]
