"""The health score: weights, curves, breakdown, hysteresis, tiers, validation."""
from __future__ import annotations

import pytest

from rules.health_score import DEFAULT_HEALTH_RULES, HealthRulesError, Signals, load_health_rules, score

RULES = load_health_rules()


def test_a_perfect_customer_scores_100_and_a_silent_one_little():
    best = score(Signals(days_since_contact=0, doc_opens=3, decision_maker_interactions=2, competitor_events=0,
                         avg_ticket_response_hours=2), RULES)
    assert best.total == 100 and best.best_action is None
    silent = score(Signals(days_since_contact=None, avg_ticket_response_hours=60), RULES)
    assert silent.total == 10  # only the competitor points are left


def test_recency_is_full_today_and_zero_after_seven_days():
    pts = {d: score(Signals(days_since_contact=d), RULES).parts[0].points for d in (0, 3.5, 7, 10)}
    assert pts == {0: 20, 3.5: 10, 7: 0, 10: 0}


def test_competitor_activity_deducts():
    parts = {n: dict((p.key, p.points) for p in score(Signals(competitor_events=n), RULES).parts)["competitor"]
             for n in (0, 1, 2, 5)}
    assert parts == {0: 10, 1: 5, 2: 0, 5: 0}


def test_internal_collaboration_speed():
    pts = lambda h: dict((p.key, p.points) for p in score(Signals(avg_ticket_response_hours=h), RULES).parts)
    assert pts(4)["collaboration"] == 30 and pts(26)["collaboration"] == 15 and pts(48)["collaboration"] == 0
    assert pts(None)["collaboration"] == 15  # no ticket needed: neutral


def test_the_score_explains_itself_and_names_the_best_action():
    s = score(Signals(days_since_contact=1, doc_opens=3, decision_maker_interactions=0, competitor_events=0,
                      avg_ticket_response_hours=4), RULES)
    assert [round(p.points) for p in s.parts] == [17, 15, 0, 10, 30] and s.total == 72
    assert s.best_action.key == "decision_maker" and "决策人" in s.best_action.action


def test_high_intent_hysteresis_and_tiers():
    assert RULES.high_intent(75, False) and not RULES.high_intent(74, False)
    assert RULES.high_intent(71, True) and RULES.high_intent(70, True) and not RULES.high_intent(69, True)
    assert [RULES.tier(s) for s in (100, 75, 74, 50, 49, 0)] == ["A", "A", "B", "B", "C", "C"]


@pytest.mark.parametrize("change, words", [
    (("weight = 30", "weight = 31"), ["sum to 101", "Fix"]),
    (("[signals.competitor]", "[signals.rivals]"), ["unknown signal", "rivals"]),
    (("leave_below = 70", "leave_below = 80"), ["leave_below", "Fix"]),
])
def test_bad_health_rules(tmp_path, change, words):
    p = tmp_path / "health.toml"
    p.write_text(DEFAULT_HEALTH_RULES.read_text(encoding="utf-8").replace(*change), encoding="utf-8")
    with pytest.raises(HealthRulesError) as err:
        load_health_rules(p)
    assert str(p) in str(err.value)
    for w in words:
        assert w in str(err.value)
