"""The CLI as an operator uses it: real processes, one database URL in the environment."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def bot(url: str, *args: str, check: bool = True) -> subprocess.CompletedProcess:
    env = {**os.environ, "DATABASE_URL": url, "PYTHONPATH": str(ROOT)}
    for k in list(env):
        if k.startswith(("WECOM_", "DINGTALK_")):
            env.pop(k)
    p = subprocess.run([sys.executable, "-m", "bot", *args], cwd=ROOT, env=env, capture_output=True, text=True,
                       timeout=120)
    if check and p.returncode != 0:
        raise AssertionError(f"{args} exited {p.returncode}: {p.stderr}")
    return p


@pytest.fixture
def url(tmp_path):
    url = f"sqlite:///{tmp_path}/cli.db"
    bot(url, "initdb")
    return url


def test_demo_say_json_and_outbox(url):
    out = bot(url, "demo", "--now", "2026-11-27T10:00").stdout
    assert "127 个客户" in out and "liyan" in out
    assert "跳过" in bot(url, "demo", "--if-empty").stdout
    p = bot(url, "say", "--as", "rep1", "--json", "--now", "2026-11-27T10:05",
            "拜访 华联超市 见了采购总监王总,聊了Q4陈列,下一步周五前发方案")
    body = json.loads(p.stdout)
    assert body["understood"]["intent"] == "visit"
    assert body["understood"]["customer"] == "华联超市"
    assert body["understood"]["contact"] == "王总" and body["understood"]["decision_maker"] is True
    assert body["understood"]["next_step"] == "周五前发方案" and body["understood"]["due"] == "2026-11-27"
    assert "已记录拜访" in body["replies"][0]
    scan = json.loads(bot(url, "run", "scan", "--now", "2026-11-27T10:10").stdout)
    assert scan["fired"]["red"] > 0 and scan["messages"] > 0
    assert json.loads(bot(url, "run", "scan", "--now", "2026-11-27T10:10").stdout)["messages"] == 0
    rows = json.loads(bot(url, "outbox", "--json", "--to", "managers").stdout)
    assert rows and all(r["status"] == "pending" for r in rows)
    digest = [r["payload"] for r in rows if r["payload"]["template"] == "red_digest"]
    # the first scan meets many red deals at once: one digest for the manager group, not a flood
    assert len(digest) == 1 and digest[0]["data"]["count"] == scan["fired"]["red"]
    deliver = json.loads(bot(url, "run", "deliver", "--now", "2026-11-27T10:11").stdout)
    assert deliver["sent"] == deliver["claimed"] > 0
    assert "已发送" in bot(url, "outbox").stdout
    assert bot(url, "outbox", "--retry", "1", check=False).returncode == 1  # not a failed row


def test_outbox_lists_a_merged_row_as_sent_not_as_an_error(url):
    from datetime import datetime

    from bot.config import load_config
    from bot.runtime import Runtime
    from storage import outbox
    from storage.models import Outbox
    rt = Runtime(load_config({"database_url": url, "use_dotenv": False}, environ={}))
    now = datetime(2026, 11, 27, 2, 0)
    with rt.database.connection_context():
        for key in ("a", "b"):
            outbox.enqueue(key, "local", "managers", {"template": "help"}, now)
        a, b = Outbox.select().order_by(Outbox.id)
        outbox.mark_sent(a, now)
        outbox.mark_sent(b, now, merged_into=a.id)  # b went out inside a's merged message
    text = bot(url, "outbox").stdout
    assert f"随 #{a.id} 合并发出" in text and "错误" not in text
    rows = {r["key"]: r for r in json.loads(bot(url, "outbox", "--json").stdout)}
    assert rows["b"]["merged_into"] == a.id and rows["b"]["last_error"] is None
    assert rows["a"]["merged_into"] is None


def test_demo_team_works_through_every_channel_id(url):
    bot(url, "demo")
    from bot.config import load_config
    from bot.runtime import Runtime
    from storage.models import Rep
    rt = Runtime(load_config({"database_url": url, "use_dotenv": False}, environ={}))
    with rt.database.connection_context():
        reps = list(Rep.select())
        assert {r.local_id for r in reps} == {"liyan", "rep1", "rep2", "rep3", "rep4", "rep5", "rep6"}
        assert all(r.wecom_userid == r.local_id == r.dingtalk_staffid for r in reps)
        assert next(r for r in reps if r.local_id == "liyan").name == "李岩"


def test_import_roster_then_customers_twice(url, tmp_path):
    roster = tmp_path / "roster.csv"
    roster.write_text("team,local_id,name,role,wecom_userid,dingtalk_staffid\n"
                      "华南团队,zhao,赵经理,manager,ZhaoJL,0123\n"
                      "华南团队,qian,钱多多,rep,QianDD,0456\n"
                      "华南团队,south-mgr,华南主管群,group,,\n"
                      "华南团队,bad,坏人,boss,,\n", encoding="utf-8")
    p = bot(url, "import", str(roster), check=False)
    assert p.returncode == 1  # a rejected row makes the exit status say so
    out = p.stdout
    assert "新建 2" in out and "拒绝 1" in out and "第 5 行" in out
    customers = tmp_path / "customers.csv"
    customers.write_text("customer,owner,amount,stage,contact,title\n"
                         "百联超市,qian,8万,需求确认,孙总,采购总监\n"
                         "银座百货,qian,120000,,,\n"
                         "无主客户,nobody,1万,,,\n"
                         "火星超市,qian,1万,火星阶段,,\n", encoding="utf-8")
    dry = bot(url, "import", "--dry-run", str(customers), check=False).stdout
    assert "试运行" in dry and "新建 2" in dry
    first = bot(url, "import", str(customers), check=False).stdout
    assert "新建 2" in first and "拒绝 2" in first and "nobody" in first and "火星阶段" in first
    second = bot(url, "import", str(customers), check=False).stdout
    assert "新建 0" in second and "更新 0" in second and "未变 2" in second
    body = json.loads(bot(url, "say", "--as", "qian", "--json", "客户 百联超市").stdout)
    assert "需求确认" in body["replies"][0] and "孙总" in body["replies"][0]
    body = json.loads(bot(url, "say", "--as", "QianDD", "--json", "我的客户").stdout)
    assert "还没有登记" in body["replies"][0]  # the local channel knows reps by local id only


def test_bad_rules_file_is_a_clear_startup_error(url, tmp_path):
    rules = tmp_path / "bad.toml"
    rules.write_text("[[stages]]\nkey='a'\n", encoding="utf-8")
    env_url = url
    p = subprocess.run([sys.executable, "-m", "bot", "initdb"], cwd=ROOT, capture_output=True, text=True,
                       env={**os.environ, "DATABASE_URL": env_url, "BOT_RULES": str(rules)}, timeout=60)
    assert p.returncode == 2 and "规则文件错误" in p.stderr and str(rules) in p.stderr


def test_partly_configured_channel_names_the_missing_key(url):
    p = subprocess.run([sys.executable, "-m", "bot", "initdb"], cwd=ROOT, capture_output=True, text=True,
                       env={**os.environ, "DATABASE_URL": url, "WECOM_CORP_ID": "ww1"}, timeout=60)
    assert p.returncode == 2 and "WECOM_SECRET" in p.stderr


def test_target_for_a_team_and_for_one_rep(url):
    bot(url, "demo", "--now", "2026-11-27T10:00")
    assert "已设置「华东饮料团队」2026-Q4 目标 300万" in bot(url, "target", "华东饮料团队", "2026-Q4", "300万").stdout
    out = bot(url, "target", "华东饮料团队", "2026-Q4", "50万", "--rep", "王磊").stdout
    assert "已设置「华东饮料团队」王磊 的个人 2026-Q4 目标 50万" in out
    assert "(原 50万)" in bot(url, "target", "华东饮料团队", "2026-Q4", "60万", "--rep", "王磊").stdout
    p = bot(url, "target", "华东饮料团队", "2026-Q4", "50万", "--rep", "张三", check=False)
    assert p.returncode == 1 and "没有「张三」, 没有改动" in p.stderr and "王磊" in p.stderr
    listing = bot(url, "say", "--as", "liyan", "目标 2026-Q4").stdout
    assert "· 团队：300万" in listing and "· 个人：王磊 60万" in listing
