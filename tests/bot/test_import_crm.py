"""`python -m bot import` of a CRM export: mapping file, Chinese headers, GBK, .xlsx, dry-run, the rejected
rows, idempotent re-import, updates, and the stage history back-filled from the file's dates.

Storage tests run on SQLite, PostgreSQL and MariaDB (the db_url fixture) and call bot.importer directly;
one test drives the CLI in a subprocess.
"""
from __future__ import annotations

import csv
import hashlib
import os
import subprocess
import sys
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from bot.importer import import_file
from bot.importer.mapping import MappingError, load_mapping
from bot.importer.read import decode
from rules.funnel import load_funnel
from storage.models import Contact, Customer, Deal, DealScan, StageChange
from tests.conftest import make_runtime

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = ROOT / "examples"
EXPORT, MAPPING = EXAMPLES / "crm_export.csv", str(EXAMPLES / "crm_mapping.toml")
SHANGHAI = ZoneInfo("Asia/Shanghai")

ROSTER = ("team,local_id,name,role\n"
          "华东一组,zhao,赵经理,manager\n"
          "华东一组,wanglei,王磊,rep\n"
          "华东一组,zhangmin,张敏,rep\n"
          "华东一组,1023,孙丽,rep\n")


def utc(text: str) -> datetime:
    """A Shanghai wall-clock time as the naive UTC the database holds."""
    return datetime.fromisoformat(text).replace(tzinfo=SHANGHAI).astimezone(ZoneInfo("UTC")).replace(tzinfo=None)


@pytest.fixture
def rt(db_url, clock, tmp_path):
    """A runtime on each database (clock: 2026-11-27 10:00 Shanghai) with the roster above imported."""
    rt = make_runtime(db_url, clock)
    roster = tmp_path / "roster.csv"
    roster.write_text(ROSTER, encoding="utf-8")
    report = run(rt, roster)
    assert report.kind == "花名册" and report.created == 4 and not report.errors
    yield rt
    rt.database.close()


def run(rt, path, **kw):
    kw.setdefault("progress", False)
    with rt.database.connection_context():
        return import_file(str(path), rt.funnel, rt.now(), tz=rt.tz, **kw)


def snapshot(rt) -> tuple[dict, str]:
    """Row counts, and a checksum of every column an import writes."""
    tables = {
        Customer: (Customer.id, Customer.team, Customer.owner, Customer.name, Customer.initials, Customer.created_at),
        Deal: (Deal.id, Deal.customer, Deal.owner, Deal.team, Deal.amount, Deal.stage, Deal.status, Deal.lost_reason,
               Deal.created_at, Deal.stage_entered_at, Deal.last_movement_at, Deal.next_check_at, Deal.closed_at),
        StageChange: (StageChange.id, StageChange.deal, StageChange.from_stage, StageChange.to_stage,
                      StageChange.rep, StageChange.at, StageChange.note),
        Contact: (Contact.id, Contact.customer, Contact.name, Contact.title, Contact.is_decision_maker),
    }
    h = hashlib.sha256()
    counts = {}
    with rt.database.connection_context():
        for model, cols in tables.items():
            rows = list(model.select(*cols).order_by(model.id).tuples())
            counts[model.__name__] = len(rows)
            h.update(repr([tuple(str(v) for v in r) for r in rows]).encode())
    return counts, h.hexdigest()


def deal_of(rt, name: str) -> Deal:
    with rt.database.connection_context():
        return Deal.select().join(Customer).where(Customer.name == name).get()


def first_look(rt, deal: Deal):
    """When the stale scan first looks at an imported deal (its row in deal_scan; None: no row)."""
    with rt.database.connection_context():
        return DealScan.select(DealScan.next_check_at).where(DealScan.deal == deal.id).scalar()


def history(rt, name: str) -> list[tuple]:
    with rt.database.connection_context():
        q = (StageChange.select(StageChange.from_stage, StageChange.to_stage, StageChange.at, StageChange.note)
             .join(Deal).join(Customer).where(Customer.name == name).order_by(StageChange.at, StageChange.id))
        return list(q.tuples())


def contacts(rt, name: str) -> dict[str, tuple[str, bool]]:
    with rt.database.connection_context():
        q = Contact.select(Contact.name, Contact.title, Contact.is_decision_maker).join(Customer).where(
            Customer.name == name)
        return {n: (t, bool(dm)) for n, t, dm in q.tuples()}


def same(a, b) -> bool:
    """Two reports say the same thing (the dry-run flag aside)."""
    return (a.created, a.updated, a.unchanged, a.rejected, a.changes) == \
           (b.created, b.updated, b.unchanged, b.rejected, b.changes)


# ---- the example mapping: back-filled history, closed deals, contacts, re-import -------------------------

def test_mapping_file_backfills_stage_history_and_reimport_changes_nothing(rt):
    assert not run(rt, EXAMPLES / "crm_roster.csv").errors
    report = run(rt, EXPORT, mapping=MAPPING)
    assert (report.created, report.updated, report.unchanged) == (6, 1, 0)
    assert [n for n, _ in report.rejected] == [9, 10]
    assert "李雷" in report.errors[0] and "不在花名册" in report.errors[0]
    assert "立项" in report.errors[1] and "初步接触" in report.errors[1] and "方案报价" in report.errors[1]
    assert any("电话" in n for n in report.notes)  # the phone column is named, not silently dropped

    # 华联超市: created 2026-09-01, 需求确认 2026-09-10, 方案提交 (current) 2026-10-08 15:30, Shanghai time
    assert history(rt, "华联超市") == [
        (None, "initial_contact", utc("2026-09-01"), "import"),
        ("initial_contact", "needs_confirmed", utc("2026-09-10"), "import"),
        ("needs_confirmed", "proposal", utc("2026-10-08 15:30"), "import"),
    ]
    d = deal_of(rt, "华联超市")
    assert (d.stage, d.status, d.amount) == ("proposal", "open", 80000)
    assert d.created_at == utc("2026-09-01")
    # the stale scan looks at it first from its last movement (a row of its own; the deal row is not asked)
    assert d.stage_entered_at == d.last_movement_at == first_look(rt, d) == utc("2026-10-08 15:30")
    assert d.next_check_at is None
    assert contacts(rt, "华联超市") == {"王建国": ("采购总监", True), "刘芳": ("门店经理", True)}
    assert contacts(rt, "永辉超市") == {"陈静": ("采购专员", False)}
    with rt.database.connection_context():
        c = Customer.get(Customer.name == "华联超市")
        assert c.created_at == utc("2026-09-01") and c.initials == "hlcs" and c.owner.local_id == "wanglei"
    # a stage skipped over without a date is simply not in the history
    assert [t for _, t, _, _ in history(rt, "百联集团")] == ["initial_contact", "needs_confirmed", "proposal",
                                                          "negotiation"]
    # a won deal: its path, then the closing stage at the close date
    won = deal_of(rt, "大润发")
    assert (won.status, won.stage, won.closed_at, won.next_check_at) == ("won", "closed", utc("2026-10-28"), None)
    assert first_look(rt, won) is None
    assert history(rt, "大润发")[-2:] == [("proposal", "negotiation", utc("2026-09-15"), "import"),
                                        ("negotiation", "closed", utc("2026-10-28"), "won")]
    lost = deal_of(rt, "物美超市")
    assert (lost.status, lost.lost_reason) == ("lost", "价格高于竞品")
    assert history(rt, "物美超市")[-1] == ("proposal", "closed", utc("2026-10-15"), "lost: 价格高于竞品")
    # a deal in its first stage: one change, at its creation
    assert history(rt, "银座百货") == [(None, "initial_contact", utc("2026-11-02"), "import")]

    before = snapshot(rt)
    assert before[0] == {"Customer": 6, "Deal": 6, "StageChange": 19, "Contact": 6}
    again = run(rt, EXPORT, mapping=MAPPING)
    assert (again.created, again.updated, again.unchanged) == (0, 0, 7)
    assert [n for n, _ in again.rejected] == [9, 10] and not again.changes
    assert snapshot(rt) == before


# ---- dry-run -----------------------------------------------------------------------------------------

def test_dry_run_writes_nothing_and_reports_exactly_what_a_real_run_does(rt, tmp_path):
    assert not run(rt, EXAMPLES / "crm_roster.csv").errors
    empty = snapshot(rt)
    dry = run(rt, EXPORT, mapping=MAPPING, dry_run=True)
    assert dry.dry_run and "试运行" in dry.summary() and "将新建" in dry.summary()
    assert snapshot(rt) == empty and empty[0]["Customer"] == 0
    real = run(rt, EXPORT, mapping=MAPPING)
    assert same(dry, real) and real.created == 6

    # on a database with data: a changed amount and stage, a new contact, a deal that would close
    text = EXPORT.read_text(encoding="utf-8")
    text = text.replace("永辉超市,wanglei,12万,需求分析", "永辉超市,wanglei,15万,方案报价")
    text = text.replace("银座百货,zhangmin,50000,初步沟通,,", "银座百货,zhangmin,50000,初步沟通,钱总,")
    text = text.replace("2026-10-30,进行中,,", "2026-10-30,已输单,预算取消,2026-11-20")
    changed = tmp_path / "changed.csv"
    changed.write_text(text, encoding="utf-8")
    before = snapshot(rt)
    dry = run(rt, changed, mapping=MAPPING, dry_run=True)
    assert snapshot(rt) == before
    assert (dry.created, dry.updated) == (0, 3)
    what = {n: w for n, _, w in dry.changes}
    assert "金额 120,000→150,000" in what[4] and "阶段 需求确认→方案提交" in what[4]
    assert "谈判→输单" in what[5] and "联系人 钱总" in what[6]
    real = run(rt, changed, mapping=MAPPING)
    assert same(dry, real) and snapshot(rt) != before


# ---- updates -----------------------------------------------------------------------------------------

def test_a_changed_amount_or_stage_updates_the_deal_and_the_move_is_recorded_once(rt, tmp_path):
    f = tmp_path / "crm.csv"
    head = "客户名称,负责人,金额,阶段,联系人,职位,创建时间,阶段更新时间\n"
    f.write_text(head + "华联超市,王磊,8万,需求确认,王建国,采购员,2026-10-01,2026-10-10\n"
                        "永辉超市,zhangmin,50000,初步接触,,,2026-10-02,2026-10-02\n", encoding="utf-8")
    assert run(rt, f).created == 2
    changes_before = snapshot(rt)[0]["StageChange"]
    f.write_text(head + "华联超市,王磊,12万,方案提交,王建国,采购总监,2026-10-01,2026-11-20 09:30\n"
                        "永辉超市,zhangmin,60000,初步接触,,,2026-10-02,2026-10-02\n", encoding="utf-8")
    report = run(rt, f)
    assert (report.created, report.updated, report.unchanged) == (0, 2, 0)
    d = deal_of(rt, "华联超市")
    assert (d.amount, d.stage) == (120000, "proposal")
    assert d.stage_entered_at == d.last_movement_at == d.next_check_at == utc("2026-11-20 09:30")
    assert history(rt, "华联超市")[-1] == ("needs_confirmed", "proposal", utc("2026-11-20 09:30"), "import")
    assert contacts(rt, "华联超市") == {"王建国": ("采购总监", True)}  # the new title makes him a decision-maker
    assert deal_of(rt, "永辉超市").amount == 60000
    after = snapshot(rt)
    assert after[0]["StageChange"] == changes_before + 1
    again = run(rt, f)
    assert (again.created, again.updated, again.unchanged) == (0, 0, 2)
    assert snapshot(rt) == after

    # won / lost in the file closes the open deal once; a closed deal is not reopened by a stale export
    f.write_text(head.replace("\n", ",状态,输单原因,关闭时间\n")
                 + "华联超市,王磊,12万,方案提交,,,2026-10-01,2026-11-20 09:30,输单,价格,2026-11-25\n",
                 encoding="utf-8")
    assert run(rt, f).updated == 1
    d = deal_of(rt, "华联超市")
    assert (d.status, d.stage, d.lost_reason, d.closed_at, d.next_check_at) == (
        "lost", "closed", "价格", utc("2026-11-25"), None)
    assert history(rt, "华联超市")[-1] == ("proposal", "closed", utc("2026-11-25"), "lost: 价格")
    closed = snapshot(rt)
    assert run(rt, f).unchanged == 1 and snapshot(rt) == closed
    f.write_text(head + "华联超市,王磊,12万,方案提交,,,2026-10-01,2026-11-20 09:30\n", encoding="utf-8")
    report = run(rt, f)
    assert report.rejected and "已输单" in report.errors[0] and snapshot(rt) == closed


# ---- rejected rows -----------------------------------------------------------------------------------

def test_rejected_rows_are_reported_with_row_number_and_reason(rt, tmp_path):
    f = tmp_path / "customers.csv"
    f.write_text("customer,owner,amount,stage,contact,title,created,stage_entered\n"
                 "百联超市,wanglei,8万,需求确认,孙总,采购总监,2026-10-01,\n"   # 2 ok
                 "无主客户,nobody,1万,,,,,\n"                                 # 3 unknown owner
                 "火星超市,wanglei,1万,火星阶段,,,,\n"                        # 4 unknown stage
                 "坏金额,wanglei,很多钱,,,,,\n"                                # 5 bad amount
                 "坏日期,wanglei,1万,,,,2026-13-45,\n"                         # 6 bad date
                 ",wanglei,1万,,,,,\n"                                         # 7 empty customer
                 "未来客户,wanglei,1万,,,,2027-01-01,\n"                       # 8 a date after now
                 "成交客户,wanglei,1万,成交,,,,\n"                             # 9 won, per 成交
                 "关闭客户,wanglei,1万,关闭,,,,\n"                             # 10 closing stage, no status
                 "百联超市,wanglei,9万,需求确认,李四,经理,2026-10-01,\n"       # 11 disagrees with row 2
                 "百联超市,wanglei,,,王五,财务,,\n"                             # 12 another contact, ok
                 "\n"                                                           # 13 blank: skipped
                 "同名销售,孙丽,1万,,,,,\n"                                     # 14 owner by name, ok
                 "倒序客户,wanglei,1万,需求确认,,,2026-10-05,2026-10-01\n",     # 15 entered before created
                 encoding="utf-8")
    report = run(rt, f)
    reasons = dict(report.rejected)
    assert sorted(reasons) == [3, 4, 5, 6, 7, 8, 10, 11, 15]
    assert "nobody" in reasons[3] and "不在花名册" in reasons[3]
    assert "火星阶段" in reasons[4] and "已知阶段: 初步接触, 需求确认" in reasons[4]
    assert "很多钱" in reasons[5] and "金额" in reasons[5]
    assert "2026-13-45" in reasons[6] and "日期" in reasons[6]
    assert "客户名称为空" in reasons[7]
    assert "晚于现在" in reasons[8]
    assert "结束阶段" in reasons[10] and "won" in reasons[10]
    assert "第 2 行" in reasons[11] and "金额" in reasons[11]
    assert "日期顺序不对" in reasons[15] and "2026-10-05" in reasons[15]
    assert (report.created, report.updated) == (3, 1)  # 百联超市, 成交客户 (won), 同名销售; row 12 a contact
    assert "第 3 行: 负责人 'nobody'" in report.summary()
    assert deal_of(rt, "成交客户").status == "won"
    assert deal_of(rt, "同名销售").owner.local_id == "1023"
    assert set(contacts(rt, "百联超市")) == {"孙总", "王五"}
    report_csv = tmp_path / "report.csv"
    before = snapshot(rt)
    again = run(rt, f, report_path=str(report_csv))
    assert (again.created, again.updated, again.unchanged) == (0, 0, 4) and snapshot(rt) == before
    with open(report_csv, encoding="utf-8-sig") as fh:
        rows = list(csv.reader(fh))
    assert rows[0] == ["行号", "结果", "说明"] and [r[0] for r in rows[1:]] == ["3", "4", "5", "6", "7", "8", "10", "11", "15"]
    assert all(r[1] == "拒绝" for r in rows[1:])


# ---- encodings, Chinese headers, Excel -----------------------------------------------------------------

CHINESE = ("客户名称,负责人,预计金额,销售阶段,联系人,职位,创建时间,阶段更新时间\n"
           "华联超市,王磊,8万,方案提交,王建国,采购总监,2026/10/01,2026/10/20 14:30\n"
           "永辉超市,张敏,\"120,000\",需求确认,陈静,店长,2026-10-05,2026-10-12\n")


@pytest.mark.parametrize("encoding", ["utf-8", "utf-8-sig", "gbk", "gb18030"])
def test_the_encoding_of_a_csv_is_detected(encoding):
    text, used = decode(CHINESE.encode(encoding), None)
    assert text == CHINESE
    assert used == {"gbk": "gb18030"}.get(encoding, encoding)


def test_gbk_file_with_chinese_headers_and_no_mapping(rt, tmp_path):
    f = tmp_path / "export.csv"
    f.write_bytes(CHINESE.encode("gbk"))  # what Chinese Excel saves as "CSV"
    report = run(rt, f)
    assert (report.kind, report.created, report.rejected) == ("客户", 2, [])
    assert history(rt, "华联超市") == [(None, "initial_contact", utc("2026-10-01"), "import"),
                                     ("initial_contact", "proposal", utc("2026-10-20 14:30"), "import")]
    assert deal_of(rt, "永辉超市").amount == 120000
    assert contacts(rt, "永辉超市") == {"陈静": ("店长", False)}
    before = snapshot(rt)
    assert run(rt, f).unchanged == 2 and snapshot(rt) == before


def test_xlsx_with_date_cells_numbers_and_a_title_row(rt, tmp_path):
    from openpyxl import Workbook
    wb = Workbook()
    ws = wb.active
    ws.append(["商机导出 2026-11-27"])  # a title line above the header
    ws.append(["客户", "销售", "金额", "阶段", "联系人", "职务", "创建日期", "阶段变更时间"])
    ws.append(["华联超市", "wanglei", 80000.0, "proposal", "王建国", "总经理", datetime(2026, 10, 1),
               datetime(2026, 10, 20, 14, 30)])
    ws.append(["永辉超市", 1023, 125000, 2, None, None, "2026-10-05", 46300])  # owner id as a number, a serial
    ws.append([None] * 8)
    ws.append(["坏日期", "wanglei", 1, "需求确认", None, None, "昨天", None])
    path = tmp_path / "export.xlsx"
    wb.save(path)
    report = run(rt, path)
    assert (report.created, [n for n, _ in report.rejected]) == (2, [6])
    assert "昨天" in report.errors[0]
    d = deal_of(rt, "华联超市")
    assert (d.amount, d.stage, d.created_at, d.stage_entered_at) == (
        80000, "proposal", utc("2026-10-01"), utc("2026-10-20 14:30"))
    assert contacts(rt, "华联超市") == {"王建国": ("总经理", True)}
    y = deal_of(rt, "永辉超市")  # stage "2": the second stage; 46300 is 2026-10-05 as an Excel serial date
    assert (y.owner.local_id, y.amount, y.stage, y.stage_entered_at) == (
        "1023", 125000, "needs_confirmed", utc("2026-10-05"))
    before = snapshot(rt)
    assert run(rt, path).unchanged == 2 and snapshot(rt) == before


# ---- long files: chunks, a progress bar ----------------------------------------------------------------

def test_a_long_file_in_several_chunks_with_a_progress_bar(rt, tmp_path, capsys):
    f = tmp_path / "long.csv"
    lines = ["customer,owner,amount,stage,contact,title,created,stage_entered"]
    for i in range(2100):  # rows 2..2101
        title = "" if i == 5 else "总监" if i % 3 == 0 else "专员"
        lines.append(f"客户{i:05d},{'wanglei' if i % 2 else '张敏'},{i + 1}万,{1 + i % 6},联系人{i},{title},"
                     f"2026-09-01,2026-10-{1 + i % 28:02d}")
    # customers of the first chunk again, after it was written: a title for a contact that had none, a
    # title that disagrees with the customer's earlier row (rejected: a re-import could not be stable), and
    # a new contact
    lines.append("客户00005,wanglei,6万,,联系人5,采购总监,,")
    lines.append("客户00007,wanglei,8万,,联系人7,采购总监,,")
    lines.append("客户00008,张敏,,,小王,总经理,,")
    f.write_text("\n".join(lines) + "\n", encoding="utf-8")
    dry = run(rt, f, dry_run=True, progress=True)
    assert "试运行" in capsys.readouterr().err
    report = run(rt, f, progress=True)
    assert "2103/2103" in capsys.readouterr().err
    assert same(dry, report) and (report.created, report.updated) == (2100, 2)
    assert [n for n, _ in report.rejected] == [2103] and "第 9 行" in report.errors[0]
    assert contacts(rt, "客户00005") == {"联系人5": ("采购总监", True)}
    assert contacts(rt, "客户00007") == {"联系人7": ("专员", False)}
    assert contacts(rt, "客户00008") == {"联系人8": ("专员", False), "小王": ("总经理", True)}
    counts, _ = snapshot(rt)
    assert counts == {"Customer": 2100, "Deal": 2100, "StageChange": 2100 + 2100 - 350, "Contact": 2101}
    before = snapshot(rt)
    again = run(rt, f)
    assert (again.created, again.updated, again.unchanged) == (0, 0, 2102) and snapshot(rt) == before


# ---- the mapping file ----------------------------------------------------------------------------------

def test_mapping_errors_name_the_file_and_the_fix(tmp_path):
    funnel = load_funnel()
    m = load_mapping(MAPPING, funnel)
    assert m.columns["customer"] == "客户名称" and m.stage_dates == {"needs_confirmed": "需求确认日期",
                                                                   "proposal": "方案提交日期"}
    assert m.stages["方案报价"][0].key == "proposal" and m.stages["输单"] == (funnel.closing, "lost")
    bad = tmp_path / "bad.toml"
    for text, words in [
        ('[columns]\ncustomer = "客户"\n', ["owner", "required"]),
        ('[columns]\ncustomer = "客户"\nowner = "负责人"\n[stages]\n"立项" = "launch"\n', ["立项", "launch", "初步接触"]),
        ('[columns]\ncustomer = "客户"\nowner = "负责人"\nbudget = "预算"\n', ["budget"]),
        ('[columns]\ncustomer = "客户"\nowner = "负责人"\n[stage_dates]\nmars = "火星"\n', ["mars"]),
        ('[columns\n', ["TOML"]),
    ]:
        bad.write_text(text, encoding="utf-8")
        with pytest.raises(MappingError) as e:
            load_mapping(str(bad), funnel)
        assert str(bad) in str(e.value) and all(w in str(e.value) for w in words), e.value


def test_a_mapping_that_names_a_missing_column_is_reported(rt, tmp_path):
    f = tmp_path / "export.csv"
    f.write_text("客户名称,负责人\n华联超市,王磊\n", encoding="utf-8")
    m = tmp_path / "m.toml"
    m.write_text('[columns]\ncustomer = "客户名称"\nowner = "负责人"\namount = "预计金额"\n', encoding="utf-8")
    before = snapshot(rt)
    report = run(rt, f, mapping=str(m))
    assert report.errors and "预计金额" in report.errors[0] and snapshot(rt) == before


# ---- the command line ----------------------------------------------------------------------------------

def test_cli_import_with_mapping_dry_run_and_exit_status(tmp_path):
    url = f"sqlite:///{tmp_path}/cli.db"
    env = {**os.environ, "DATABASE_URL": url, "PYTHONPATH": str(ROOT), "BOT_TIMEZONE": "Asia/Shanghai"}
    env = {k: v for k, v in env.items() if not k.startswith(("WECOM_", "DINGTALK_"))}

    def bot(*args):
        return subprocess.run([sys.executable, "-m", "bot", "import", *args, "--now", "2026-11-27T10:00"],
                              cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)

    assert bot(str(EXAMPLES / "crm_roster.csv")).returncode == 0
    dry = bot(str(EXPORT), "--mapping", MAPPING, "--dry-run")
    assert dry.returncode == 1, dry.stderr  # two rows of the example are rejected on purpose
    assert "试运行" in dry.stdout and "新建 6" in dry.stdout and "第 9 行" in dry.stdout and "第 10 行" in dry.stdout
    assert "将新建: 华联超市" in dry.stdout
    real = bot(str(EXPORT), "--mapping", MAPPING, "--report", str(tmp_path / "r.csv"))
    assert real.returncode == 1 and "新建 6, 更新 1, 未变 0, 拒绝 2" in real.stdout
    assert (tmp_path / "r.csv").exists()
    again = bot(str(EXPORT), "--mapping", MAPPING)
    assert "新建 0, 更新 0, 未变 7, 拒绝 2" in again.stdout
    good = tmp_path / "good.csv"
    good.write_text("customer,owner,amount\n新客户,wanglei,1万\n", encoding="utf-8")
    assert bot(str(good)).returncode == 0
    bad = tmp_path / "bad.toml"
    bad.write_text("[columns]\n", encoding="utf-8")
    p = bot(str(good), "--mapping", str(bad))
    assert p.returncode == 2 and "映射文件错误" in p.stderr and "Traceback" not in p.stderr
    p = bot(str(tmp_path / "missing.csv"))
    assert p.returncode == 2 and "找不到文件" in p.stderr
