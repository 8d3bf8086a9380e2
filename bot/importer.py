"""`python -m bot import FILE`: a roster (teams, reps, their chat ids, groups) or a customer list, as CSV.

Roster header:    team,local_id,name,role[,wecom_userid,dingtalk_staffid,purpose,wecom_robot_key,
                  dingtalk_webhook,dingtalk_secret]   (role: rep | manager | admin | group)
Customers header: customer,owner,amount[,stage,contact,title]   (owner: the rep's local id)

Importing the same file twice changes nothing. --dry-run reports without writing.
"""
from __future__ import annotations

import csv
from dataclasses import dataclass, field
from datetime import datetime

from handlers.parse import find_amount, initials_of
from rules.funnel import Funnel
from storage import deals, people
from storage.models import Rep, db

ROLES = {"rep", "manager", "admin", "group"}
DM_TITLES_FALLBACK = ("总", "经理", "总监", "董事长", "CEO")


@dataclass
class Report:
    kind: str = ""
    created: int = 0
    updated: int = 0
    unchanged: int = 0
    errors: list[str] = field(default_factory=list)
    dry_run: bool = False

    def summary(self) -> str:
        head = "(试运行, 未写入) " if self.dry_run else ""
        lines = [f"{head}{self.kind}: 新建 {self.created}, 更新 {self.updated}, 未变 {self.unchanged}, "
                 f"拒绝 {len(self.errors)}"]
        lines += [f"  {e}" for e in self.errors[:50]]
        if len(self.errors) > 50:
            lines.append(f"  … 还有 {len(self.errors) - 50} 条")
        return "\n".join(lines)


class _Rollback(Exception):
    pass


def import_file(path: str, funnel: Funnel, now: datetime, dry_run: bool = False) -> Report:
    with open(path, newline="", encoding="utf-8-sig") as f:
        rows = list(csv.DictReader(f))
        header = set(rows[0].keys()) if rows else set()
    report = Report(dry_run=dry_run)
    if {"team", "local_id", "name", "role"} <= header:
        report.kind, fn = "花名册", _roster_row
    elif {"customer", "owner"} <= header:
        report.kind, fn = "客户", _customer_row
    else:
        report.kind = "未知文件"
        report.errors.append("无法识别表头: 花名册需要 team,local_id,name,role; 客户表需要 customer,owner")
        return report
    try:
        with db.atomic():
            for i, row in enumerate(rows, start=2):  # row 1 is the header
                row = {k: (v or "").strip() for k, v in row.items() if k}
                try:
                    outcome = fn(row, funnel, now)
                except ValueError as e:
                    report.errors.append(f"第 {i} 行: {e}")
                    continue
                setattr(report, outcome, getattr(report, outcome) + 1)
            if dry_run:
                raise _Rollback
    except _Rollback:
        pass
    return report


def _roster_row(row: dict, funnel: Funnel, now: datetime) -> str:
    role = row.get("role", "rep").lower()
    if role not in ROLES:
        raise ValueError(f"role 必须是 rep/manager/admin/group, 而不是 {row.get('role')!r}")
    if not row.get("team") or not row.get("local_id") or not row.get("name"):
        raise ValueError("team, local_id, name 都不能为空")
    team = people.ensure_team(row["team"])
    if role == "group":
        ids = {k: row.get(k) for k in ("wecom_robot_key", "dingtalk_webhook", "dingtalk_secret")}
        people.upsert_group(team, row.get("purpose") or "manager", row["local_id"], row["name"], **ids)
        return "updated"
    before = Rep.get_or_none(Rep.local_id == row["local_id"])
    snapshot = None if before is None else (before.team_id, before.name, before.role, before.wecom_userid,
                                            before.dingtalk_staffid, before.active)
    rep, created = people.upsert_rep(team, row["local_id"], row["name"], role,
                                     row.get("wecom_userid") or None, row.get("dingtalk_staffid") or None)
    if created:
        return "created"
    after = (rep.team_id, rep.name, rep.role, rep.wecom_userid, rep.dingtalk_staffid, rep.active)
    return "unchanged" if after == snapshot else "updated"


def _customer_row(row: dict, funnel: Funnel, now: datetime) -> str:
    name, owner_id = row.get("customer", ""), row.get("owner", "")
    if not name:
        raise ValueError("customer 不能为空")
    owner = people.rep_by_local_id(owner_id)
    if owner is None:
        raise ValueError(f"负责人 {owner_id!r} 不在花名册中, 请先导入花名册")
    amount = 0
    if row.get("amount"):
        amount, _ = find_amount(row["amount"])
        if amount is None:
            raise ValueError(f"金额 {row['amount']!r} 无法识别")
    stage = funnel.first
    if row.get("stage"):
        stage = funnel.find_stage(row["stage"])
        if stage is None or stage.closing:
            raise ValueError(f"阶段 {row['stage']!r} 不存在")
    customer = deals.customer_by_name(owner.team_id, name)
    outcome = "unchanged"
    if customer is None:
        deal = deals.create_customer_and_deal(owner, name, initials_of(name), amount, stage.key, now)
        customer, outcome = deal.customer, "created"
    else:
        deal = deals.open_deal(customer.id)
        if deal is not None and (deal.amount != amount or deal.stage != stage.key):
            deal.amount = amount
            if deal.stage != stage.key:
                deals.change_stage(deal, stage.key, owner, now, note="import")
            deal.save()
            outcome = "updated"
    if row.get("contact"):
        title = row.get("title", "")
        dm = any(t.lower() in title.lower() for t in (funnel.decision_titles or DM_TITLES_FALLBACK))
        existing = [c.name for c in deals.contacts_of(customer)]
        deals.upsert_contact(customer, row["contact"], title, dm, now)
        if row["contact"] not in existing and outcome == "unchanged":
            outcome = "updated"
    return outcome
