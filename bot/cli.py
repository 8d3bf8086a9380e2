"""`python -m bot VERB`: serve, initdb, demo, say, run, outbox, import, scheduler, doctor."""
from __future__ import annotations

import argparse
import json
import sys
import uuid

from .clock import FixedClock, parse_now
from .config import ConfigError, load_config


def runtime_for(args, migrate: bool = True):
    from .runtime import Runtime
    cfg = load_config()
    from .logs import install
    install(cfg)
    clock = FixedClock(parse_now(args.now, cfg.tz)) if getattr(args, "now", None) else None
    return Runtime(cfg, clock=clock, migrate=migrate)


def cmd_initdb(args) -> int:
    rt = runtime_for(args)
    from storage.database import latest_version
    print(f"数据库已就绪: {rt.config.database_url} (schema v{latest_version()})")
    return 0


def cmd_demo(args) -> int:
    rt = runtime_for(args)
    from .demo import is_empty, load_demo
    with rt.database.connection_context():
        if args.if_empty and not is_empty():
            print("数据库已有数据, 跳过演示团队")
            return 0
        result = load_demo(rt.funnel, rt.now())
        from .jobs.health import health
        health(rt, rt.now(), force=True)
    print(f"已载入演示团队「{result['team']}」: 主管 liyan, {result['reps']} 名销售 (rep1..rep6), "
          f"{result['customers']} 个客户")
    return 0


def cmd_say(args) -> int:
    from handlers.messages import Incoming
    from .render import render_text
    rt = runtime_for(args)
    text = " ".join(args.text)
    handled = rt.handle(Incoming("local", args.id or f"cli-{uuid.uuid4().hex}", args.user,
                                 text=text if not args.action else "", action=args.action))
    if args.json:
        print(json.dumps({"replies": [render_text(r, "local") for r in handled.replies],
                          "understood": handled.understood, "duplicate": handled.duplicate},
                         ensure_ascii=False, indent=2))
    else:
        for r in handled.replies:
            print(render_text(r, "local"))
    return 0


def cmd_outbox(args) -> int:
    from storage import outbox
    from storage.redact import redact
    rt = runtime_for(args)
    with rt.database.connection_context():
        if args.retry:
            ok = outbox.retry(args.retry, rt.now())
            print(f"#{args.retry} 已重新排队" if ok else f"#{args.retry} 不是失败状态的消息, 未改动")
            return 0 if ok else 1
        rows = outbox.rows(status=args.status, recipient=args.to, limit=args.limit)
        if args.json:
            print(json.dumps([{"id": r.id, "key": r.key, "channel": r.channel, "to": r.recipient,
                               "status": r.status, "attempts": r.attempts,
                               "last_error": None if outbox.merged_into(r) else redact(r.last_error),
                               "merged_into": outbox.merged_into(r),
                               "created_at": r.created_at.isoformat() + "Z",
                               "sent_at": r.sent_at.isoformat() + "Z" if r.sent_at else None,
                               "payload": outbox.payload_of(r)} for r in rows], ensure_ascii=False, indent=2))
            return 0
        counts = outbox.counts()
        print("待发送 {} · 发送中 {} · 已发送 {} · 失败 {}".format(*(counts.get(s, 0) for s in
                                                            ("pending", "sending", "sent", "failed"))))
        for r in rows:
            merged = outbox.merged_into(r)
            err = f"  随 #{merged} 合并发出" if merged else f"  错误: {redact(r.last_error)}" if r.last_error else ""
            print(f"#{r.id} [{r.status}] {r.channel}->{r.recipient} {r.key} (尝试 {r.attempts}){err}")
    return 0


def cmd_import(args) -> int:
    from peewee import IntegrityError

    from .importer import import_file
    from .importer.mapping import MappingError
    rt = runtime_for(args)
    try:
        with rt.database.connection_context():
            report = import_file(args.file, rt.funnel, rt.now(), dry_run=args.dry_run, mapping=args.mapping,
                                 tz=rt.tz, report_path=args.report)
    except MappingError as e:
        print(f"映射文件错误: {e}", file=sys.stderr)
        return 2
    except FileNotFoundError as e:
        print(f"找不到文件: {e.filename or args.file}", file=sys.stderr)
        return 2
    except IntegrityError as e:  # e.g. a customer of the same name added in chat meanwhile
        print(f"导入中断, 数据库拒绝写入: {e}\n已写入的部分保留; 再次运行同一命令即可继续 (重复导入不会重复写入)",
              file=sys.stderr)
        return 1
    print(report.summary())
    if report.rows > 2000:
        print(f"{report.rows} 行, 用时 {report.seconds:.1f} 秒")
    return 1 if report.errors else 0  # any rejected row: a script notices


def cmd_target(args) -> int:
    """`target TEAM PERIOD AMOUNT [--rep NAME]`: set (or change) a team's sales target for a quarter or a
    month, or one rep's own (as a manager's `目标 张伟 50万` in chat)."""
    from handlers.parse import find_amount
    from rules.kpi import parse_period
    from storage import kpi_queries, people
    rt = runtime_for(args)
    amount, rest = find_amount(" ".join(args.amount))
    if not amount or rest:
        print(f"金额看不懂: {' '.join(args.amount)!r} (例如 80万, 1.2亿, 800000)", file=sys.stderr)
        return 2
    local_today = rt.clock.now().astimezone(rt.tz).date()
    period = parse_period(args.period, local_today)
    if period is None or period.kind not in ("quarter", "month"):
        print(f"周期看不懂: {args.period!r} (季度如 2026-Q4, 月份如 2026-11)", file=sys.stderr)
        return 2
    from handlers.views import format_yuan
    with rt.database.connection_context():
        if not args.rep:
            result = kpi_queries.set_target(args.team, period.key, amount)
            if result is None:
                print(f"没有团队「{args.team}」(先导入花名册)", file=sys.stderr)
                return 1
            print(f"{'已设置' if result[1] else '已更新'}「{args.team}」{period.key} 目标 {format_yuan(amount)}")
            return 0
        team = [p for p in people.active_people(None) if p[4] == args.team]
        found = [p for p in team if p[1] == args.rep]
        if len(found) != 1:
            known = "、".join(p[1] for p in team) or "(没有这个团队)"
            print(f"团队「{args.team}」里没有「{args.rep}」, 没有改动. 团队成员: {known}", file=sys.stderr)
            return 1
        before = kpi_queries.set_rep_target(found[0][0], period.key, amount, None, rt.now())
    print(f"{'已设置' if before is None else '已更新'}「{args.team}」{args.rep} 的个人 {period.key} 目标 "
          f"{format_yuan(amount)}" + (f" (原 {format_yuan(before)})" if before is not None else ""))
    return 0


def cmd_run(args) -> int:
    from .jobs import JOBS
    rt = runtime_for(args)
    job = JOBS.get(args.job)
    if job is None:
        print(f"未知任务 {args.job}; 可用: {', '.join(sorted(JOBS))}", file=sys.stderr)
        return 2
    import inspect
    kwargs = {"force": True} if args.force and "force" in inspect.signature(job).parameters else {}
    with rt.database.connection_context():
        result = job(rt, rt.now(), **kwargs)
    print(json.dumps(result, ensure_ascii=False))
    return 0


def cmd_serve(args) -> int:
    from .app import create_app
    app = create_app()
    if not args.no_scheduler:
        from .jobs.scheduler import start_scheduler
        start_scheduler(app.extensions["bot"])
    cfg = app.extensions["bot"].config
    if cfg.channel_on("dingtalk") and cfg["DINGTALK_MODE"] == "stream":
        from .channels.dingtalk.stream import start_stream_thread
        start_stream_thread(app.extensions["bot"])
    app.run(host=args.host, port=args.port, threaded=True, use_reloader=False)
    return 0


def cmd_dingtalk_stream(args) -> int:
    rt = runtime_for(args)
    if not rt.config.channel_on("dingtalk"):
        print("钉钉未配置: 需要 DINGTALK_APP_KEY, DINGTALK_APP_SECRET, DINGTALK_ROBOT_CODE", file=sys.stderr)
        return 2
    if args.with_scheduler:
        from .jobs.scheduler import start_scheduler
        start_scheduler(rt)
    else:
        print("钉钉 Stream 模式已启动; 回复由调度器发送 (另行运行 `python -m bot scheduler`, "
              "或加 --with-scheduler)", file=sys.stderr)
    from .channels.dingtalk.stream import run_stream
    run_stream(rt)
    return 0


def cmd_doctor(args) -> int:
    from .doctor import run
    return run(runtime_for(args))


def cmd_scheduler(args) -> int:
    from .jobs.scheduler import run_forever
    rt = runtime_for(args)
    run_forever(rt)
    return 0


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m bot", description="销售漏斗机器人 / sales-funnel bot")
    sub = p.add_subparsers(dest="verb", required=True)

    s = sub.add_parser("serve", help="run the web app (and the scheduler in-process)")
    s.add_argument("--host", default="127.0.0.1")
    s.add_argument("--port", type=int, default=8000)
    s.add_argument("--no-scheduler", action="store_true")
    s.set_defaults(fn=cmd_serve)

    s = sub.add_parser("scheduler", help="run the scheduler alone (production: beside the web processes)")
    s.set_defaults(fn=cmd_scheduler)

    s = sub.add_parser("dingtalk-stream", help="receive DingTalk robot messages over Stream mode (no public URL)")
    s.add_argument("--with-scheduler", action="store_true", help="also run the scheduler (sends the replies)")
    s.set_defaults(fn=cmd_dingtalk_stream)

    s = sub.add_parser("doctor", help="check the configuration against the chat tools' APIs and say what to fix")
    s.set_defaults(fn=cmd_doctor)

    s = sub.add_parser("initdb", help="create or upgrade the database schema")
    s.set_defaults(fn=cmd_initdb)

    s = sub.add_parser("demo", help="load the reference demo team")
    s.add_argument("--if-empty", action="store_true", help="only when the database has no team yet")
    s.add_argument("--now")
    s.set_defaults(fn=cmd_demo)

    s = sub.add_parser("say", help="send one message through the local channel and print the replies")
    s.add_argument("--as", dest="user", required=True)
    s.add_argument("--now", help="ISO-8601; local time unless it has an offset")
    s.add_argument("--json", action="store_true")
    s.add_argument("--id", help="message id (the dedup key)")
    s.add_argument("--action", help="a card button action instead of text")
    s.add_argument("text", nargs="*")
    s.set_defaults(fn=cmd_say)

    s = sub.add_parser("run", help="run one scheduled job once")
    s.add_argument("job")
    s.add_argument("--now")
    s.add_argument("--force", action="store_true", help="health: recompute even if done today")
    s.set_defaults(fn=cmd_run)

    s = sub.add_parser("target", help="set a team's sales target: TEAM 2026-Q4|2026-11 AMOUNT (e.g. 80万); "
                                      "--rep NAME: that rep's own target")
    s.add_argument("team")
    s.add_argument("period")
    s.add_argument("amount", nargs="+")
    s.add_argument("--rep", help="a rep of the team: set their own target instead of the team's")
    s.set_defaults(fn=cmd_target)

    s = sub.add_parser("outbox", help="pending, sent and failed messages")
    s.add_argument("--json", action="store_true")
    s.add_argument("--status", choices=["pending", "sending", "sent", "failed"])
    s.add_argument("--to")
    s.add_argument("--limit", type=int, default=50)
    s.add_argument("--retry", type=int, metavar="ID", help="re-queue a failed message")
    s.set_defaults(fn=cmd_outbox)

    s = sub.add_parser("import", help="import a roster, or customers/contacts/deals from a CRM export (CSV, .xlsx)")
    s.add_argument("file", help=".csv (UTF-8 or GBK) or .xlsx (first sheet)")
    s.add_argument("--mapping", metavar="MAPPING.toml", help="which column holds each field, and the CRM's stage "
                   "names (see examples/crm_mapping.toml); without it the header is recognised")
    s.add_argument("--dry-run", action="store_true", help="check and report everything, write nothing")
    s.add_argument("--report", metavar="FILE", help="write every created, updated and rejected row to a CSV")
    s.add_argument("--now", help="ISO-8601 (local time unless it has an offset); dates after it are rejected")
    s.set_defaults(fn=cmd_import)
    return p


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    try:
        return args.fn(args) or 0
    except ConfigError as e:
        print(f"配置错误: {e}", file=sys.stderr)
        return 2
    except Exception as e:  # a rules file error and the like: say it plainly
        from rules.funnel import RulesError
        from rules.health_score import HealthRulesError
        if isinstance(e, (RulesError, HealthRulesError)):
            print(f"规则文件错误: {e}", file=sys.stderr)
            return 2
        raise
