"""Teams, reps and their chat ids, chat groups."""
from __future__ import annotations

from .models import ChatGroup, Rep, Team
from .prepared import instance, prepared

CHANNEL_ID_FIELD = {"local": Rep.local_id, "wecom": Rep.wecom_userid, "dingtalk": Rep.dingtalk_staffid,
                    "link": Rep.local_id}  # "link": signed action links (bot/links.py) carry the local id

REP_COLUMNS = tuple(Rep._meta.sorted_fields)


def active_sender(field, sender):
    """The condition for the active rep behind a channel's user id."""
    return (field == sender) & (Rep.active == True)  # noqa: E712


def rep_of_row(row) -> Rep:
    """A Rep (with its team) from a row that starts with REP_COLUMNS and the team's name."""
    rep = instance(Rep, REP_COLUMNS, row)
    rep.__rel__["team"] = Team(id=rep.team_id, name=row[len(REP_COLUMNS)])
    return rep


_by_channel_id = {channel: prepared(lambda sender, field=field: Rep.select(*REP_COLUMNS, Team.name).join(Team)
                                    .where(active_sender(field, sender)).limit(1))
                  for channel, field in CHANNEL_ID_FIELD.items()}


def rep_for_sender(channel: str, sender: str) -> Rep | None:
    """The active rep behind a channel's user id (with its team loaded), or None when unknown."""
    query = _by_channel_id.get(channel)
    if query is None or not sender:
        return None
    row = query.first(sender)
    return None if row is None else rep_of_row(row)


def active_rep(rep_id: int) -> Rep | None:
    if not 0 < rep_id < 2 ** 63:
        return None
    return Rep.get_or_none((Rep.id == rep_id) & (Rep.active == True))  # noqa: E712


def rep_by_local_id(local_id: str) -> Rep | None:
    return Rep.get_or_none(Rep.local_id == local_id)


def group_by_local_id(local_id: str) -> ChatGroup | None:
    return ChatGroup.get_or_none(ChatGroup.local_id == local_id)


def ensure_team(name: str) -> Team:
    team, _ = Team.get_or_create(name=name)
    return team


def upsert_rep(team: Team, local_id: str, name: str, role: str = "rep", wecom_userid: str | None = None,
               dingtalk_staffid: str | None = None) -> tuple[Rep, bool]:
    """Create or update a rep by local id; returns (rep, created)."""
    rep = Rep.get_or_none(Rep.local_id == local_id)
    created = rep is None
    if created:
        rep = Rep(local_id=local_id)
    rep.team, rep.name, rep.role = team, name, role
    rep.wecom_userid = wecom_userid or None
    rep.dingtalk_staffid = dingtalk_staffid or None
    rep.active = True
    rep.save()
    return rep, created


def upsert_group(team: Team, purpose: str, local_id: str, name: str, **ids) -> ChatGroup:
    group = ChatGroup.get_or_none((ChatGroup.team == team) & (ChatGroup.purpose == purpose))
    if group is None:
        group = ChatGroup(team=team, purpose=purpose)
    group.local_id, group.name = local_id, name
    for k, v in ids.items():
        setattr(group, k, v or None)
    group.save()
    return group


def team_group(team_id: int, purpose: str) -> ChatGroup | None:
    """The team's group for `purpose`, falling back to its manager group."""
    group = ChatGroup.get_or_none((ChatGroup.team == team_id) & (ChatGroup.purpose == purpose))
    if group is None and purpose != "manager":
        group = ChatGroup.get_or_none((ChatGroup.team == team_id) & (ChatGroup.purpose == "manager"))
    return group


def is_group(local_id: str) -> bool:
    """Whether an outbox recipient is a chat group (a group robot) rather than a rep."""
    return ChatGroup.select().where(ChatGroup.local_id == local_id).exists()


def team_managers(team_id: int) -> list[Rep]:
    """The team's active managers, in a stable order."""
    return list(Rep.select().where((Rep.team == team_id) & (Rep.role == "manager")
                                   & (Rep.active == True)).order_by(Rep.id))  # noqa: E712


_team_names: dict[int, str] = {}


def team_name(team_id: int | None) -> str | None:
    """A team's name (kept per process: the rules file's [teams.NAME] settings are looked up by it)."""
    if team_id is None:
        return None
    if team_id not in _team_names:
        _team_names.update(Team.select(Team.id, Team.name).tuples())
    return _team_names.get(team_id)


def team_of(local_id: str) -> int | None:
    """The team of a rep or a chat group, by local id."""
    rep = Rep.get_or_none(Rep.local_id == local_id)
    if rep is not None:
        return rep.team_id
    group = ChatGroup.get_or_none(ChatGroup.local_id == local_id)
    return group.team_id if group is not None else None


def team_admins(team_id: int) -> list[Rep]:
    """The team's active admins, or its managers when it has none."""
    admins = list(Rep.select().where((Rep.team == team_id) & (Rep.role == "admin")
                                     & (Rep.active == True)).order_by(Rep.id))  # noqa: E712
    return admins or team_managers(team_id)


def active_people(team_id: int | None) -> list[tuple[int, str, str, int, str]]:
    """(id, name, role, team id, team name) of the active people of a team (None: every team), by team and id."""
    q = (Rep.select(Rep.id, Rep.name, Rep.role, Rep.team, Team.name).join(Team, on=(Rep.team == Team.id))
         .where(Rep.active == True).order_by(Rep.team, Rep.id))  # noqa: E712
    if team_id is not None:
        q = q.where(Rep.team == team_id)
    return list(q.tuples())
