"""`python -m bot import FILE [--mapping MAPPING.toml] [--dry-run]`: a roster, or customers, contacts and
deals from another CRM's export, as CSV (UTF-8, UTF-8 with BOM, GBK/GB18030: detected) or .xlsx (first sheet).

Roster header:    team,local_id,name,role[,wecom_userid,dingtalk_staffid,purpose,wecom_robot_key,
                  dingtalk_webhook,dingtalk_secret]   (role: rep | manager | admin | group)
Customers:        the columns named by a mapping file (see examples/crm_mapping.toml), or, without one, a
                  header with customer,owner[,amount,stage,contact,title,...] or the common Chinese
                  headers (客户名称, 负责人, 金额, 阶段, 联系人, 职位, 创建时间, 阶段更新时间 ...).

A customer is found by its name within its owner's team. A new deal gets its stage history back-filled
from the file's dates (creation into the first stage, one change per known stage date, the current stage
at the date it was entered), so cycle times work from the first day. Importing the same file twice
changes nothing; a changed amount, stage, owner or status updates the deal (a stage move recorded once).
--dry-run reads and checks everything the same way and writes nothing. Dates in the file are local time
(BOT_TIMEZONE); storage is naive UTC.

    read.py       the file's header and rows (CSV in any of those encodings, or Excel)
    mapping.py    the mapping file, and the headers recognised without one
    roster.py     a roster: teams, reps, chat groups
    customers.py  customers, contacts and deals, planned in memory and written in chunks
    report.py     what the import did (summary, --report FILE)
Their reads and writes are storage/people.py (the roster) and storage/imports.py (customers).
"""
from __future__ import annotations

import os
import sys
import time
from datetime import datetime
from zoneinfo import ZoneInfo

from rules.funnel import Funnel

from .customers import CustomerImport
from .mapping import Mapping, load_mapping, pick_columns
from .read import PROGRESS_MIN_ROWS, label, read_table
from .report import Report
from .roster import import_roster


def kind_of(labels: list[str]) -> str | None:
    s = set(labels)
    if {"team", "local_id", "name", "role"} <= s:
        return "roster"
    if pick_columns(labels).keys() >= {"customer", "owner"}:
        return "customer"
    return None


def import_file(path: str, funnel: Funnel, now: datetime, dry_run: bool = False, mapping: str | None = None,
                tz=None, progress: bool | None = None, report_path: str | None = None) -> Report:
    """Import a roster or a customer file; `now` is naive UTC; `tz` reads the file's dates (default:
    BOT_TIMEZONE). progress: a bar on stderr (None: for long files on a terminal)."""
    t0 = time.perf_counter()
    tz = tz or ZoneInfo(os.environ.get("BOT_TIMEZONE") or "Asia/Shanghai")
    m = load_mapping(mapping, funnel) if mapping else None
    report = Report(dry_run=dry_run)
    _import(path, funnel, now, dry_run, m, tz, progress, report)
    report.seconds = time.perf_counter() - t0
    if report_path:
        report.write_csv(report_path)
    return report


def _import(path: str, funnel: Funnel, now: datetime, dry_run: bool, m: Mapping | None, tz, progress: bool | None,
            report: Report) -> None:
    if m is not None:
        wanted = {label(m.columns["customer"]), label(m.columns["owner"])}
        find = lambda labels: wanted <= set(labels)  # noqa: E731
    else:
        find = lambda labels: kind_of(labels) is not None  # noqa: E731
    show = bool(progress) if progress is not None else sys.stderr.isatty()
    try:
        table = read_table(path, find, m.encoding if m else None, show_progress=show)
    except ValueError as e:
        report.kind = "未知文件"
        report.reject(None, str(e))
        return
    labels = [label(h) for h in table.header]
    report.rows = len(table.rows)
    show = show and (progress is True or len(table.rows) > PROGRESS_MIN_ROWS)
    if m is not None:
        missing = [f"{f} = \"{col}\"" for f, col in m.columns.items() if label(col) not in labels]
        missing += [f"[stage_dates] {k} = \"{col}\"" for k, col in m.stage_dates.items() if label(col) not in labels]
        if missing:
            report.kind = "客户"
            report.reject(None, f"文件表头 (第 {table.header_row} 行) 中找不到映射文件 {m.path} 指定的列: "
                                f"{'; '.join(missing)}. 文件表头有: {', '.join(h for h in table.header if h)}")
            return
        kind = "customer"
    else:
        kind = kind_of(labels)
    if kind == "roster":
        report.kind = "花名册"
        import_roster(table, labels, funnel, now, report, dry_run)
    elif kind == "customer":
        report.kind = "客户"
        CustomerImport(funnel, now, tz, table, labels, m, report, dry_run, show).run()
    else:
        report.kind = "未知文件"
        report.reject(None, "无法识别表头: 花名册需要 team,local_id,name,role; 客户表需要 customer,owner "
                            "(或 客户名称,负责人), 或用 --mapping 指定各列")
