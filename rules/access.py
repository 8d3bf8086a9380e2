"""Who may act on what, by role: an admin on every team's deals and customers, a manager on their own
team's, a rep on their own. Chat commands, card buttons, the dashboard and the queries that scope a
list all ask here. `person` is anything with `role`, `team_id` and `id` (a storage.models.Rep)."""
from __future__ import annotations

MANAGER_ROLES = ("manager", "admin")


def is_manager(person) -> bool:
    """A manager or an admin: sees a team's numbers, takes deals over, nudges and reassigns."""
    return person.role in MANAGER_ROLES


def may_act_on(person, team_id: int | None, owner_id: int | None = None) -> bool:
    """Whether `person` may act on a deal or customer of team `team_id` owned by `owner_id`: an admin on
    any, a manager on their team's, anyone on their own (`owner_id` None: only a manager of the team)."""
    if person.role == "admin" or (person.role == "manager" and team_id == person.team_id):
        return True
    return owner_id is not None and owner_id == person.id


def visible_to(person) -> tuple[int | None, int | None]:
    """What `person` sees at most, as (team id, owner id), None for any: an admin (None, None), a
    manager (their team, None), a rep (their team, themselves)."""
    if person.role == "admin":
        return None, None
    if person.role == "manager":
        return person.team_id, None
    return person.team_id, person.id
