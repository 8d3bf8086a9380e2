"""The dashboard: the same numbers as the chat, scoped by role (filters never widen it), set-based."""
from __future__ import annotations

import html
import re
from datetime import timedelta

import peewee
import pytest

from handlers.messages import Incoming
from bot.render import render_text
from handlers.queries import task_card_data
from handlers.views import deal_row
from storage import deals as deals_q
from storage import people
from storage.models import Customer, Deal, Rep, Team
from tests.web.conftest import login, make_app

LEVEL_WORDS = {"red": "🔴 红色", "orange": "🟠 橙色", "yellow": "🟡 黄色"}


def page(client, path: str) -> str:
    r = client.get(path)
    assert r.status_code == 200, (path, r.status_code, r.get_data(as_text=True)[:300])
    return r.get_data(as_text=True)


def level_counts(text: str) -> dict[str, int]:
    return {lv: int(n) for lv, n in re.findall(r'data-level-count="(\w+)">(\d+)<', text)}


def stage_counts(text: str) -> dict[str, int]:
    return {k: int(n) for k, n in re.findall(r'data-count="(\w+)">(\d+)<', text)}


def warning_rows(text: str) -> list[tuple[str, str, str]]:
    """(level, owner, the level cell's text) of the warning board's rows."""
    return [(lv, owner, html.unescape(cell)) for lv, owner, cell in
            re.findall(r'<tr data-level="(\w+)" data-owner="([^"]+)">\s*<td><span class="badge \w+">([^<]+)<', text)]


def chat(rt, user: str, text: str) -> str:
    handled = rt.handle(Incoming("local", f"t-{user}-{text}-{rt.now().isoformat()}", user, text=text))
    return "\n".join(render_text(r) for r in handled.replies)


def expected_levels(rt, viewer_local_id: str, owner_local_id: str | None = None) -> dict[str, int]:
    """The chat's count of warned deals (handlers.views.deal_row, as 今日任务 and 我的客户 count them)."""
    with rt.database.connection_context():
        viewer = people.rep_by_local_id(viewer_local_id)
        ctx = rt.context_for(viewer, rt.now())
        rows = [deal_row(ctx, d) for d in deals_q.open_deals_for(viewer, limit=100000)]
        if owner_local_id:
            owner = people.rep_by_local_id(owner_local_id)
            rows = [r for r in rows if r["owner"] == owner.name]
    return {lv: sum(1 for r in rows if r["level"] == lv) for lv in ("red", "orange", "yellow")}


def add_paused_and_overdue_deals(rt):
    """Edge cases of the stale rule: a booked next step pauses the silence; an overdue one restarts it."""
    now = rt.now()
    with rt.database.connection_context():
        d1, d2 = Deal.select().where(Deal.status == "open").order_by(Deal.id).limit(2)
        Deal.update(last_movement_at=now - timedelta(days=9), next_step_due=now + timedelta(days=2)) \
            .where(Deal.id == d1.id).execute()  # paused: no level
        Deal.update(last_movement_at=now - timedelta(days=9), next_step_due=now - timedelta(hours=80)) \
            .where(Deal.id == d2.id).execute()  # silent since the due time: 80 h, orange
        return d1.id, d2.id


def test_funnel_and_warning_levels_are_the_chats_numbers(db_url):
    app = make_app(db_url)
    rt = app.extensions["bot"]
    paused, overdue = add_paused_and_overdue_deals(rt)
    c = app.test_client()
    login(c, "liyan")
    text = page(c, "/dashboard")

    # the warning board counts as the chat counts (deal_row), and as the manager's 09:00 digest does
    assert level_counts(text) == expected_levels(rt, "liyan")
    with rt.database.connection_context():
        ctx = rt.context_for(people.rep_by_local_id("liyan"), rt.now())
        assert level_counts(text) == task_card_data(ctx)["counts"]
        levels = {d: deal_row(ctx, Deal.get_by_id(d))["level"] for d in (paused, overdue)}
        team_id = people.rep_by_local_id("liyan").team_id
        totals = deals_q.funnel_totals(team_id)  # what the chat's 漏斗 lists
    assert levels == {paused: None, overdue: "orange"}
    assert stage_counts(text) == {s.key: totals.get(s.key, (0, 0))[0] for s in rt.funnel.open_stages}

    # each row carries the word and the icon, not only a colour; the longest silence comes first
    rows = warning_rows(text)
    assert rows and all(cell.strip() == LEVEL_WORDS[lv] for lv, _, cell in rows)
    with rt.database.connection_context():
        board = re.findall(r'<tr data-level="\w+" data-owner="[^"]+">.*?/dashboard/deal/(\d+)"', text, re.S)
        shown = [deal_row(ctx, Deal.get_by_id(int(i))) for i in board]
    assert [r["level"] for r in shown] == [lv for lv, _, _ in rows]
    silences = [r["hours_silent"] for r in shown]
    assert silences == sorted(silences, reverse=True)
    assert f"/dashboard/deal/{paused}\"" not in text

    # per rep: the reps table's counts are that rep's chat counts
    for local_id, name in (("rep1", "王磊"), ("rep4", "陈静")):
        want = expected_levels(rt, "liyan", local_id)
        with rt.database.connection_context():
            rid = people.rep_by_local_id(local_id).id
        row = re.search(rf'<tr data-rep="{rid}">(.*?)</tr>', text, re.S).group(1)
        got = {lv: int(re.search(rf'data-label="{re.escape(LEVEL_WORDS[lv])}">(\d+)<', row).group(1))
               for lv in ("red", "orange", "yellow")}
        assert got == want, name


def test_every_page_renders_for_every_role(db_url):
    app = make_app(db_url)
    rt = app.extensions["bot"]
    with rt.database.connection_context():
        team = Team.get(Team.name == "华东饮料团队")
        people.upsert_rep(team, "boss", "王总", "admin")
        deal_id = Deal.select().where(Deal.status == "open").first().id
    for who in ("rep1", "liyan", "boss"):
        c = app.test_client()
        login(c, who)
        for path in ("/dashboard", "/dashboard?wait=1", "/dashboard?period=this-quarter", "/dashboard/numbers",
                     "/dashboard/warnings?level=red", "/dashboard/warnings?page=2"):
            assert c.get(path).status_code == 200, (who, path)
        assert c.get(f"/dashboard/deal/{deal_id}").status_code in (200, 404)


def test_the_kpis_are_the_numbers_of_the_chats_weekly_report(app, rt, manager):
    with rt.database.connection_context():
        won = Deal.select().where(Deal.stage == "negotiation").first()
        deals_q.close_deal(won, "won", None, won.owner, rt.funnel.closing.key, rt.now())
    chat(rt, "rep2", "输单 华联便利店 原因:价格")
    rt.clock.advance(minutes=1)  # a period counts the deals closed before its end (now)
    report = chat(rt, "liyan", "周报")
    text = page(manager, "/dashboard?period=this-week&wait=1")
    metrics = dict(re.findall(r'data-metric="([^"]+)">\s*<span class="m-label">[^<]*</span>\s*'
                              r'<span class="m-now">([^<]*)</span>', text))
    assert set(metrics) >= {"跟进间隔", "高健康度客户转化", "提前干预率", "销售周期", "成交率"}
    for label, value in metrics.items():
        assert f"· {label}：{html.unescape(value)}" in report, (label, value, report)
    assert "50%" in metrics["成交率"]  # one won, one lost this week
    # the rep table's follow-up intervals are the report's too
    for name, days in re.findall(r"([\u4e00-\u9fa5]{2}) (\d+\.\d天|—)", report.split("销售跟进间隔")[1].split("\n")[0]):
        with rt.database.connection_context():
            rid = Rep.get(Rep.name == name).id
        cell = re.search(rf'data-followup="{rid}">([^<]*)<', text).group(1).strip()
        assert cell == days, (name, cell, days)


def test_the_funnel_conversion_is_the_chats_funnel(rt, manager):
    reply = chat(rt, "liyan", "漏斗")  # the last 30 days, as the dashboard's default period
    numbers = manager.get("/dashboard/numbers").get_json()
    text = page(manager, "/dashboard")
    for s in rt.funnel.open_stages:
        line = next(x for x in reply.splitlines() if x.startswith(f"{s.order}.{s.name} "))
        count = re.search(r" (\d+)个 ", line).group(1)
        assert stage_counts(text)[s.key] == int(count)
        conv = re.search(r"转化(\S+?) ·", line)
        assert numbers["stages"][s.key]["conversion"] == (conv.group(1) if conv else "—"), line
    # once computed, the page shows them inline (no second request needed)
    text = page(manager, "/dashboard")
    assert 'data-pending' not in text
    for key, s in numbers["stages"].items():
        assert re.search(rf'data-conv="{key}"[^>]*>{re.escape(s["conversion"])}', text)


def test_numbers_are_recomputed_when_the_data_changes(rt, manager):
    before = manager.get("/dashboard/numbers?period=this-week").get_json()["metrics_html"]
    assert "输单0个" in before
    chat(rt, "rep2", "输单 华联便利店 原因:价格")
    rt.clock.advance(seconds=10)  # same 5-minute slot: only the data changed
    after = manager.get("/dashboard/numbers?period=this-week").get_json()["metrics_html"]
    assert "输单1个" in after


# -- scope ---------------------------------------------------------------------------------------------

@pytest.fixture
def two_teams(app, rt):
    """A second team (华南: manager south, rep s1 with one deal) and an admin in the demo team."""
    with rt.database.connection_context():
        south = people.ensure_team("华南团队")
        people.upsert_rep(south, "south", "南经理", "manager")
        s1, _ = people.upsert_rep(south, "s1", "南一", "rep")
        deal = deals_q.create_customer_and_deal(s1, "南方超市", "nfcs", 90000, rt.funnel.first.key,
                                                rt.now() - timedelta(days=8))
        Deal.update(last_movement_at=rt.now() - timedelta(days=8)).where(Deal.id == deal.id).execute()
        people.upsert_rep(Team.get(Team.name == "华东饮料团队"), "boss", "王总", "admin")
        ids = {lid: people.rep_by_local_id(lid).id for lid in ("rep1", "rep2", "liyan", "s1", "south", "boss")}
        own = Deal.select().where(Deal.owner == ids["rep1"]).first().id
        other = Deal.select().where(Deal.owner == ids["rep2"]).first().id
    return {"south_team": south.id, "south_deal": deal.id, "rep1_deal": own, "rep2_deal": other, **ids}


def test_a_rep_sees_only_their_own_deals_whatever_the_filters(app, rt, rep1, two_teams):
    t = two_teams
    for path in ("/dashboard", f"/dashboard?rep={t['rep2']}", f"/dashboard?team={t['south_team']}",
                 f"/dashboard?rep={t['s1']}&team={t['south_team']}"):
        text = page(rep1, path)
        assert {owner for _, owner, _ in warning_rows(text)} <= {"王磊"}, path
        assert level_counts(text) == expected_levels(rt, "rep1"), path
        assert re.findall(r'<tr data-rep="(\d+)"', text) == [str(t["rep1"])]
        assert sum(stage_counts(text).values()) == Deal.select().where(
            (Deal.owner == t["rep1"]) & (Deal.status == "open")).count()
        if "?" in path:
            assert "只能查看自己权限内的数据" in text
    assert "南方超市" not in page(rep1, f"/dashboard/warnings?team={t['south_team']}&rep={t['s1']}")
    assert rep1.get(f"/dashboard/deal/{t['rep1_deal']}").status_code == 200
    assert rep1.get(f"/dashboard/deal/{t['rep2_deal']}").status_code == 404
    assert rep1.get(f"/dashboard/deal/{t['south_deal']}").status_code == 404
    followup = rep1.get(f"/dashboard/numbers?rep={t['rep2']}").get_json()["followup"]
    assert set(followup) <= {str(t["rep1"])}


def test_a_manager_sees_the_team_and_can_narrow_to_a_rep_but_not_widen(app, rt, manager, two_teams):
    t = two_teams
    text = page(manager, f"/dashboard?team={t['south_team']}")
    assert "只能查看自己权限内的数据" in text and "南方超市" not in page(manager, "/dashboard/warnings")
    assert level_counts(text) == expected_levels(rt, "liyan")
    text = page(manager, f"/dashboard?rep={t['s1']}")
    assert "只能查看自己权限内的数据" in text and "南一" not in text
    text = page(manager, f"/dashboard?rep={t['rep2']}")
    assert {owner for _, owner, _ in warning_rows(text)} == {"张敏"}
    assert level_counts(text) == expected_levels(rt, "liyan", "rep2")
    assert manager.get(f"/dashboard/deal/{t['rep2_deal']}").status_code == 200
    assert manager.get(f"/dashboard/deal/{t['south_deal']}").status_code == 404


def test_an_admin_sees_every_team_and_filters_by_team(app, rt, two_teams):
    t = two_teams
    c = app.test_client()
    login(c, "boss")
    everyone = level_counts(page(c, "/dashboard"))
    demo = expected_levels(rt, "liyan")
    assert everyone["red"] == demo["red"] + 1  # 南方超市, silent for 8 days
    text = page(c, f"/dashboard?team={t['south_team']}")
    assert level_counts(text) == {"red": 1, "orange": 0, "yellow": 0}
    assert "南方超市" in text and "华南团队" in text
    assert c.get(f"/dashboard/deal/{t['south_deal']}").status_code == 200
    text = page(c, f"/dashboard?rep={t['s1']}")
    assert [owner for _, owner, _ in warning_rows(text)] == ["南一"]


# -- pages ---------------------------------------------------------------------------------------------

def test_the_deal_page_shows_the_timeline_and_what_the_score_is_made_of(app, rt, manager):
    chat(rt, "rep1", "拜访 华联超市 见了采购总监王总,聊了Q4陈列,下一步周五前发方案")
    deal = Deal.select().join(Customer).where(Customer.name == "华联超市").get()
    text = page(manager, f"/dashboard/deal/{deal.id}")
    assert "华联超市" in text and "王磊" in text
    timeline = text.split('id="timeline"')[1]
    assert "拜访" in timeline and "见了采购总监王总" in timeline and "阶段变更" in timeline
    assert "王总（采购总监） · 决策人" in timeline
    for signal in ("最近联系", "方案文档打开", "决策人互动", "竞品动态", "内部协同速度"):
        assert signal in text.split('id="score"')[1].split("</table>")[0]
    assert "最能提分的一步" in text and "离开本阶段需要" in text
    assert re.search(r'class="badge (?:red|orange|yellow|none)">[^<]*(?:红色|橙色|黄色|正常)', text)
    with rt.database.connection_context():
        deals_q.close_deal(Deal.get_by_id(deal.id), "won", None, deal.owner, rt.funnel.closing.key, rt.now())
    assert "🏆 赢单" in page(manager, f"/dashboard/deal/{deal.id}")


def test_the_warning_list_pages_and_filters_by_level(app, rt, manager):
    counts = level_counts(page(manager, "/dashboard"))
    reds = page(manager, "/dashboard/warnings?level=red")
    assert {lv for lv, _, _ in warning_rows(reds)} == {"red"} and len(warning_rows(reds)) == counts["red"]
    first = page(manager, "/dashboard/warnings")
    assert len(warning_rows(first)) == min(50, sum(counts.values()))
    if sum(counts.values()) > 50:
        second = page(manager, "/dashboard/warnings?page=2")
        assert len(warning_rows(second)) == sum(counts.values()) - 50


def test_the_period_filter(manager):
    assert "11月23日-11月29日" in page(manager, "/dashboard?period=this-week")
    assert "11月16日-11月22日" in page(manager, "/dashboard?period=last-week")
    assert "2026年第4季度" in page(manager, "/dashboard?period=this-quarter")
    assert "10月29日-11月27日" in page(manager, "/dashboard?period=bogus")  # the default: the last 30 days


def test_the_page_runs_a_fixed_number_of_queries_whatever_the_data(app, rt, manager, monkeypatch):
    """Set-based: no query per deal, customer or rep."""
    statements = []
    real = peewee.Database.execute_sql

    def counting(self, sql, params=None, *a, **kw):
        statements.append(sql)
        return real(self, sql, params, *a, **kw)

    def count(path):
        from bot.web import kpi_numbers as numbers
        numbers.clear_cache()
        statements.clear()
        monkeypatch.setattr(peewee.Database, "execute_sql", counting)
        try:
            assert manager.get(path).status_code == 200
        finally:
            monkeypatch.setattr(peewee.Database, "execute_sql", real)
        return len(statements)

    before = {p: count(p) for p in ("/dashboard", "/dashboard?wait=1", "/dashboard/warnings")}
    with rt.database.connection_context():
        team = Team.get(Team.name == "华东饮料团队")
        for i in range(6):
            rep, _ = people.upsert_rep(team, f"extra{i}", f"新人{i}", "rep")
            for k in range(40):
                deals_q.create_customer_and_deal(rep, f"扩展客户{i}-{k}", f"kz{i}{k}", 10000 * (k + 1),
                                                 rt.funnel.open_stages[k % 6].key, rt.now() - timedelta(days=k % 9))
    after = {p: count(p) for p in before}
    assert after == before
