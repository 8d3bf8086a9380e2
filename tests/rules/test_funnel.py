"""The rules file: defaults, validation messages that name the file, the stage and the fix."""
from __future__ import annotations

from pathlib import Path

import pytest

from rules.funnel import DEFAULT_RULES, RulesError, load_funnel

DEFAULT_TEXT = DEFAULT_RULES.read_text(encoding="utf-8")

CONTRACT_STAGE = '''
[activities.approval]
name = "审批"
words = ["审批", "approval"]

[criteria.contract_approved]
label = "法务审批通过(审批 客户名 ...)"
activity = ["approval"]
'''

CONTRACT_STAGE_BLOCK = '''
[[stages]]
key = "contract_approval"
name = "合同审批"
aliases = ["审批阶段", "contract"]
exit = ["contract_approved"]
escalate_to = "legal"
stale = { yellow_hours = 24, orange_hours = 36, red_hours = 48 }
suggestion = "升级法务,当天给出审批意见"
'''


def with_contract_stage(text: str = DEFAULT_TEXT) -> str:
    """Insert the legal hand-off stage between negotiation and closed: a rules-file change only."""
    head, closed = text.split('[[stages]]\nkey = "closed"')
    return head + CONTRACT_STAGE + CONTRACT_STAGE_BLOCK + '\n[[stages]]\nkey = "closed"' + closed


def write(tmp_path: Path, text: str) -> Path:
    p = tmp_path / "funnel.toml"
    p.write_text(text, encoding="utf-8")
    return p


def test_default_funnel_has_the_seven_stages_of_the_product():
    f = load_funnel()
    assert [s.name for s in f.stages] == ["初步接触", "需求确认", "决策链识别", "内部评估启动", "方案提交", "谈判", "成交"]
    assert (f.default_stale.yellow_hours, f.default_stale.orange_hours, f.default_stale.red_hours) == (48, 72, 120)
    assert f.find_stage("proposal").name == "方案提交" and f.find_stage("5").key == "proposal"
    assert f.find_stage("谈判").key == "negotiation" and f.find_stage("火星") is None


def test_contract_approval_stage_is_a_rules_change_only(tmp_path):
    f = load_funnel(write(tmp_path, with_contract_stage()))
    stage = f.find_stage("合同审批")
    assert stage.order == 7 and stage.escalate_to == "legal"
    assert stage.stale.red_hours == 48 and stage.suggestion.startswith("升级法务")
    assert f.activity_for_word("审批").key == "approval"
    assert f.closing.order == 8


@pytest.mark.parametrize("mutate, words", [
    (lambda t: t.replace('exit = ["need_written"]', 'exit = ["need_writen"]'),
     ["needs_confirmed", "unknown criterion 'need_writen'", "Fix"]),
    (lambda t: t.replace('aliases = ["决策链", "decision", "chain"]', 'aliases = ["决策链", "proposal"]'),
     ["alias 'proposal'", "Fix: remove the duplicate alias"]),
    (lambda t: t.replace("orange_hours = 72", "orange_hours = 30"),
     ["[stale]", "out of order", "Fix: make yellow_hours < orange_hours < red_hours"]),
    (lambda t: with_contract_stage(t).replace("orange_hours = 36", "orange_hours = 12"),
     ["stage 'contract_approval'", "out of order"]),
    (lambda t: t.replace('activity = ["need"]', 'activity = ["needz"]'),
     ["criterion 'need_written'", "unknown activity 'needz'"]),
    (lambda t: t.replace("closing = true", ""), ["closing = true"]),
    (lambda t: t + "\n[[stages\n", ["not valid TOML"]),
])
def test_bad_rules_name_the_file_the_place_and_the_fix(tmp_path, mutate, words):
    path = write(tmp_path, mutate(DEFAULT_TEXT))
    with pytest.raises(RulesError) as err:
        load_funnel(path)
    message = str(err.value)
    assert str(path) in message
    for w in words:
        assert w in message


def test_missing_rules_file(tmp_path):
    with pytest.raises(RulesError, match="file not found"):
        load_funnel(tmp_path / "nope.toml")


def test_bad_rules_stop_the_app_at_start_up(tmp_path):
    from bot import create_app
    path = write(tmp_path, DEFAULT_TEXT.replace('exit = ["terms_agreed"]', 'exit = ["nonsense"]'))
    with pytest.raises(RulesError, match="nonsense"):
        create_app({"database_url": f"sqlite:///{tmp_path}/x.db", "bot_rules": str(path), "use_dotenv": False})
