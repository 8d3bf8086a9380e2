"""Who may act on what (rules/access.py): the one rule behind chat commands, card buttons, the dashboard
and the scoped queries."""
from __future__ import annotations

from types import SimpleNamespace

from rules.access import is_manager, may_act_on, visible_to

ADMIN = SimpleNamespace(id=1, role="admin", team_id=10)
MANAGER = SimpleNamespace(id=2, role="manager", team_id=10)
REP = SimpleNamespace(id=3, role="rep", team_id=10)


def test_an_admin_acts_on_every_team_a_manager_on_their_own_a_rep_on_their_own_deals():
    assert may_act_on(ADMIN, 20, owner_id=99)
    assert may_act_on(MANAGER, 10, owner_id=99)
    assert not may_act_on(MANAGER, 20, owner_id=99)  # another team's deal
    assert may_act_on(MANAGER, 20, owner_id=MANAGER.id)  # but their own, wherever it is
    assert may_act_on(REP, 10, owner_id=REP.id)
    assert not may_act_on(REP, 10, owner_id=99)  # a colleague's deal


def test_without_an_owner_only_a_manager_of_the_team_may():
    assert may_act_on(ADMIN, 20) and may_act_on(MANAGER, 10)
    assert not may_act_on(MANAGER, 20) and not may_act_on(REP, 10)


def test_what_each_role_sees_and_who_is_a_manager():
    assert visible_to(ADMIN) == (None, None)
    assert visible_to(MANAGER) == (10, None)
    assert visible_to(REP) == (10, REP.id)
    assert is_manager(ADMIN) and is_manager(MANAGER) and not is_manager(REP)
