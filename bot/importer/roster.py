"""A roster file: team,local_id,name,role[,wecom_userid,dingtalk_staffid,purpose,wecom_robot_key,
dingtalk_webhook,dingtalk_secret] (role: rep | manager | admin | group), one transaction for the file."""
from __future__ import annotations

from datetime import datetime

from rules.funnel import Funnel
from storage import people
from storage.database import transaction

from .read import Table, cell_text
from .report import Report

ROLES = {"rep", "manager", "admin", "group"}


class _Rollback(Exception):
    pass


def import_roster(table: Table, labels: list[str], funnel: Funnel, now: datetime, report: Report,
                  dry_run: bool) -> None:
    try:
        with transaction():
            for n, cells in table.rows:
                row = {lab: cell_text(cells[i]) if i < len(cells) else "" for i, lab in enumerate(labels) if lab}
                try:
                    outcome = _roster_row(row, funnel, now)
                except ValueError as e:
                    report.reject(n, str(e))
                    continue
                setattr(report, outcome, getattr(report, outcome) + 1)
            if dry_run:
                raise _Rollback
    except _Rollback:
        pass


def _roster_row(row: dict, funnel: Funnel, now: datetime) -> str:
    role = (row.get("role") or "rep").lower()
    if role not in ROLES:
        raise ValueError(f"role 必须是 rep/manager/admin/group, 而不是 {row.get('role')!r}")
    if not row.get("team") or not row.get("local_id") or not row.get("name"):
        raise ValueError("team, local_id, name 都不能为空")
    team = people.ensure_team(row["team"])
    if role == "group":
        ids = {k: row.get(k) for k in ("wecom_robot_key", "dingtalk_webhook", "dingtalk_secret")}
        people.upsert_group(team, row.get("purpose") or "manager", row["local_id"], row["name"], **ids)
        return "updated"
    before = people.rep_by_local_id(row["local_id"])
    snapshot = None if before is None else (before.team_id, before.name, before.role, before.wecom_userid,
                                            before.dingtalk_staffid, before.active)
    rep, created = people.upsert_rep(team, row["local_id"], row["name"], role,
                                     row.get("wecom_userid") or None, row.get("dingtalk_staffid") or None)
    if created:
        return "created"
    after = (rep.team_id, rep.name, rep.role, rep.wecom_userid, rep.dingtalk_staffid, rep.active)
    return "unchanged" if after == snapshot else "updated"
