"""Stale levels as a pure function of times: each level once per silence period."""
from __future__ import annotations

from datetime import datetime, timedelta

from rules.funnel import Thresholds
from rules.stale import evaluate, silence

T = Thresholds(48, 72, 120)
MOVED = datetime(2026, 11, 2, 2, 0)


def at(hours: float) -> datetime:
    return MOVED + timedelta(hours=hours)


def test_levels_by_hours_of_silence():
    assert silence(MOVED, None, T, at(47.9)).level is None
    assert silence(MOVED, None, T, at(48)).level == "yellow"
    assert silence(MOVED, None, T, at(72)).level == "orange"
    assert silence(MOVED, None, T, at(120)).level == "red"
    assert silence(MOVED, None, T, at(121)).days == 5


def test_each_level_fires_once_and_the_next_check_is_the_next_crossing():
    state = (None, None)
    fired = []
    now = at(0)
    while now <= at(300):
        ev = evaluate(MOVED, None, None, *state, T, now)
        if ev.fire:
            fired.append((ev.fire, now))
        state = (ev.level, ev.since)
        if ev.next_check is None:
            break
        now = ev.next_check
    assert fired == [("yellow", at(48)), ("orange", at(72)), ("red", at(120))]


def test_a_late_scan_fires_only_the_highest_level():
    ev = evaluate(MOVED, None, None, None, None, T, at(200))
    assert ev.fire == "red" and ev.next_check is None
    again = evaluate(MOVED, None, None, ev.level, ev.since, T, at(300))
    assert again.fire is None


def test_movement_starts_a_new_period():
    ev = evaluate(MOVED, None, None, None, None, T, at(130))
    moved = at(130)
    ev2 = evaluate(moved, None, None, ev.level, ev.since, T, at(131))
    assert ev2.fire is None and ev2.level is None and ev2.next_check == moved + timedelta(hours=48)
    ev3 = evaluate(moved, None, None, ev2.level, ev2.since, T, moved + timedelta(hours=49))
    assert ev3.fire == "yellow"


def test_a_booked_next_step_ahead_pauses_the_clock():
    due = at(96)
    ev = evaluate(MOVED, due, None, None, None, T, at(90))
    assert ev.fire is None and ev.next_check == due + timedelta(hours=48)
    assert evaluate(MOVED, due, None, None, None, T, at(90), pause=False).fire == "orange"


def test_snooze_keeps_quiet_until_it_ends():
    ev = evaluate(MOVED, None, at(100), None, None, T, at(80))
    assert ev.fire is None and ev.next_check == at(100)
    assert evaluate(MOVED, None, at(100), None, None, T, at(100)).fire == "orange"
