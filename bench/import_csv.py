"""Benchmark: `python -m bot import` of a 100k-row CRM export (CSV) with a mapping file.

Issue: "Import of a 100k-row CSV: under 60 s."

What it does:
  1. writes bench/out/import-100k.csv (GBK, as Chinese Excel saves CSV): Chinese headers, one deal per
     customer, owners given by local id or by name (a roster of 50 reps in 2 teams), amounts as 8万 /
     80000 / "80,000", CRM stage names mapped through bench/out/import-mapping.toml, creation and
     stage dates (so every new deal gets its stage history back-filled), 90% open, 6% won, 4% lost,
     one contact per row; and the roster bench/out/import-roster.csv;
  2. per database (SQLite file bench/out/import.db, PostgreSQL database `bench`, created when missing,
     the bot's tables dropped first): a fresh schema, the roster imported, then, timed, through
     bot.importer.import_file (what the CLI calls):
       dry-run   --dry-run of the whole file on the empty database (reads and checks, writes nothing)
       import    the real import: customers, deals, stage history, contacts
       again     the same file once more: must report 0 created, 0 updated (nothing written)
  3. prints rows/s and seconds, and the row counts written.

Run from the repo root:  .venv/bin/python bench/import_csv.py [--db sqlite|postgres|both] [--quick] [--rows N]
"""
from __future__ import annotations

import random
from datetime import datetime, timedelta

import _common as C
from _common import log, table

NOW = datetime(2026, 11, 27, 2, 0)  # naive UTC: Friday 10:00 in Asia/Shanghai
REPS = 50
CRM_STAGES = ["初步沟通", "需求分析", "关键人确认", "内部评估", "方案报价", "商务谈判"]
WORDS = ["超市", "百货", "便利店", "商贸", "科技", "食品", "酒业", "餐饮", "物流", "药房", "家居", "电器"]
CITIES = ["北京", "上海", "广州", "深圳", "杭州", "南京", "成都", "武汉", "西安", "重庆", "苏州", "天津"]
BRAND = "金银福鑫盛源泰丰和兴隆达祥瑞康宁佳乐美新宏鼎恒润嘉益永顺昌荣德华联辉"
SURNAMES = "王李张刘陈杨赵黄周吴徐孙胡朱高林何郭马罗"
TITLES = ["采购总监", "采购经理", "店长", "总经理", "采购专员", "财务", "运营主管", "老板", "IT负责人", "行政"]
HEADER = ["客户名称", "负责人", "预计金额", "销售阶段", "联系人", "职位", "创建时间", "需求确认日期",
          "方案提交日期", "阶段更新时间", "商机状态", "输单原因", "关闭日期"]
MAPPING = """[columns]
customer = "客户名称"
owner = "负责人"
amount = "预计金额"
stage = "销售阶段"
contact = "联系人"
title = "职位"
created = "创建时间"
stage_entered = "阶段更新时间"
status = "商机状态"
lost_reason = "输单原因"
closed = "关闭日期"

[stages]
"初步沟通" = "initial_contact"
"需求分析" = "needs_confirmed"
"关键人确认" = "decision_chain"
"内部评估" = "evaluation"
"方案报价" = "proposal"
"商务谈判" = "negotiation"

[stage_dates]
needs_confirmed = "需求确认日期"
proposal = "方案提交日期"
"""


def write_files(rows: int) -> tuple[str, str, str]:
    import csv
    C.OUT.mkdir(parents=True, exist_ok=True)
    roster = C.OUT / "import-roster.csv"
    reps = []
    with open(roster, "w", newline="", encoding="utf-8") as f:
        w = csv.writer(f)
        w.writerow(["team", "local_id", "name", "role"])
        for t in (1, 2):
            w.writerow([f"导入团队{t}", f"imgr{t}", f"主管{t}", "manager"])
        for i in range(REPS):
            local_id, name = f"irep{i + 1:02d}", f"{SURNAMES[i % 20]}{BRAND[i % len(BRAND)]}{BRAND[(i * 7) % len(BRAND)]}"
            reps.append((local_id, name))
            w.writerow([f"导入团队{1 + i % 2}", local_id, name, "rep"])
    assert len({n for _, n in reps}) == REPS, "rep names must be unique"
    mapping = C.OUT / "import-mapping.toml"
    mapping.write_text(MAPPING, encoding="utf-8")
    path = C.OUT / f"import-{rows // 1000}k.csv" if rows >= 1000 else C.OUT / f"import-{rows}.csv"
    rnd = random.Random(7)

    def day(d: datetime) -> str:
        local = d + timedelta(hours=8)
        return local.strftime("%Y-%m-%d") if rnd.random() < 0.6 else local.strftime("%Y/%m/%d %H:%M")

    with open(path, "w", newline="", encoding="gb18030") as f:
        w = csv.writer(f)
        w.writerow(HEADER)
        for i in range(rows):
            local_id, name = reps[rnd.randrange(REPS)]
            owner = local_id if rnd.random() < 0.7 else name
            customer = f"{rnd.choice(CITIES)}{BRAND[i % len(BRAND)]}{BRAND[(i // 37) % len(BRAND)]}{rnd.choice(WORDS)}{i + 1:06d}"
            wan = rnd.randint(1, 200)
            amount = rnd.choice([f"{wan}万", str(wan * 10000), f"{wan * 10000:,}"])
            k = rnd.choices(range(6), weights=[30, 26, 22, 18, 17, 14])[0]
            created = NOW - timedelta(days=rnd.randint(30, 400), hours=rnd.randint(0, 23))
            t = created
            needs = proposal = ""
            if k >= 1:
                t = t + timedelta(days=rnd.randint(1, 10))
                needs = day(t)
            if k >= 2:
                t = t + timedelta(days=rnd.randint(1, 5))
            if k >= 4:
                t = t + timedelta(days=rnd.randint(1, 10))
                proposal = day(t)
            entered = t
            r = rnd.random()
            status, reason, closed = "进行中", "", ""
            if r < 0.06:
                status, closed = "赢单", day(t + timedelta(days=rnd.randint(1, 10)))
            elif r < 0.10:
                status, reason, closed = "输单", rnd.choice(["价格", "选了竞品", "预算取消"]), day(t + timedelta(days=3))
            contact = f"{SURNAMES[rnd.randrange(20)]}{'总' if rnd.random() < 0.3 else BRAND[rnd.randrange(len(BRAND))]}"
            w.writerow([customer, owner, amount, CRM_STAGES[k], contact, rnd.choice(TITLES), day(created), needs,
                        proposal, day(entered), status, reason, closed])
    return str(roster), str(mapping), str(path)


def counts() -> dict:
    from storage.models import Contact, Customer, Deal, StageChange
    return {m.__name__: m.select().count() for m in (Customer, Deal, StageChange, Contact)}


def main() -> None:
    p = C.parser(__doc__.splitlines()[0])
    p.add_argument("--rows", type=int, help="rows in the generated file (default 100,000; --quick 3,000)")
    args = p.parse_args()
    rows = args.rows or (3000 if args.quick else 100_000)
    log(f"writing a {rows:,}-row CSV")
    roster, mapping, path = write_files(rows)
    from bot.importer import import_file
    results, written = [], []
    for label, url in C.db_targets(args.db, "import"):
        C.fresh_database(url)
        rt = C.make_runtime(url, NOW)
        with rt.database.connection_context():
            r = import_file(roster, rt.funnel, rt.now(), tz=rt.tz, progress=False)
            assert not r.errors, r.summary()
            for run, dry in (("dry-run", True), ("import", False), ("again", False)):
                log(f"{label}: {run}")
                sw = C.Stopwatch()
                report = import_file(path, rt.funnel, rt.now(), dry_run=dry, mapping=mapping, tz=rt.tz,
                                     progress=False)
                s = sw.s
                assert not report.errors, report.summary()[:2000]
                if run == "again":
                    assert report.created == report.updated == 0, report.summary()[:2000]
                results.append([label, run, rows, s, rows / s, report.created, report.updated, report.unchanged])
            written.append([label, *counts().values()])
        rt.database.close()
    out = table(f"import of a {rows:,}-row CSV (GBK, mapping file, stage history back-filled)",
                ["database", "run", "rows", "seconds", "rows/s", "created", "updated", "unchanged"], results)
    out += table("rows in the database afterwards", ["database", "customers", "deals", "stage changes", "contacts"],
                 written)
    (C.OUT / f"import-csv-{rows}.txt").write_text(out + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
