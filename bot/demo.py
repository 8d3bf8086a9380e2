"""The reference team of PRODUCT.md: manager 李岩 (liyan), reps rep1..rep6, 127 open deals.

Deterministic (seeded), spread over the stages with realistic silence ages: some deals past 48 h,
72 h and 5 days. Every demo user's WeCom userid and DingTalk staffId equal their local id.
"""
from __future__ import annotations

import random
from datetime import datetime, timedelta

from handlers.parse import initials_of
from rules.funnel import Funnel
from storage import deals, demo_rows, people
from storage.database import transaction

TEAM = "华东饮料团队"
MANAGER = ("liyan", "李岩")
REPS = [("rep1", "王磊"), ("rep2", "张敏"), ("rep3", "刘洋"), ("rep4", "陈静"), ("rep5", "杨帆"), ("rep6", "赵强")]
MANAGER_GROUP = "managers"
# an East-China beverage team's customers: supermarket and convenience chains' stores, restaurants, hotels
# and the distributors that supply small shops
CHAINS = {
    "超市": ["永辉超市", "物美超市", "联华超市", "华润万家", "大润发", "家乐福", "盒马鲜生", "世纪联华", "欧尚超市",
             "麦德龙", "苏果超市", "步步高超市", "家家悦超市", "利群超市", "百联超市", "银座超市"],
    "便利店": ["全家便利店", "罗森便利店", "好德便利店", "可的便利店", "快客便利店", "喜士多便利店", "便利蜂",
               "美宜佳便利店"],
    "餐饮": ["外婆家", "绿茶餐厅", "小南国", "西贝莜面村", "新白鹿餐厅", "望湘园", "南京大牌档", "避风塘"],
    "酒店": ["锦江之星", "汉庭酒店", "全季酒店", "亚朵酒店", "桔子酒店", "如家酒店"],
}
BRANCHES = ["五角场店", "徐家汇店", "陆家嘴店", "静安寺店", "人民广场店", "虹桥店", "莘庄店", "松江万达店", "杭州西湖店",
            "杭州滨江店", "苏州观前店", "苏州园区店", "南京新街口店", "宁波天一店", "无锡中山路店", "嘉兴南湖店"]
DISTRIBUTORS = ["上海鼎丰食品商贸", "杭州联鑫副食品批发", "苏州百润商贸", "南京金盛食品", "宁波甬丰酒水",
                "无锡惠泉饮品经销", "嘉兴禾源商贸", "常州龙城食品批发", "绍兴越丰副食品", "上海沪新饮料经销"]
SURNAMES = "王李张刘陈杨赵黄周吴徐孙马朱胡郭何林罗高"
TITLES = [("采购总监", True), ("采购经理", True), ("总经理", True), ("采购专员", False), ("店长", True),
          ("品类主管", False)]
TOPICS = ["春节堆头陈列", "冰柜投放", "新品无糖茶进场", "夏季促销档期", "端架陈列", "年度返利政策", "整箱价格",
          "门店试饮活动", "铺货SKU清单", "账期和结算"]
NOTES = {  # what a rep writes for each kind of activity ({c}: the contact, {t}: a topic)
    "visit": "拜访{c}，聊了{t}，对方有兴趣",
    "call": "电话{c}，确认了{t}的时间",
    "meeting": "和{c}开会，过了{t}的方案",
    "need": "{c}明确需求：{t}，先在3家门店试点",
    "evaluation": "{c}说内部已开始评估{t}，采购和财务都在看",
    "proposal": "给{c}发了{t}的方案和报价",
    "feedback": "{c}书面回复：{t}方案原则同意，价格还要再谈",
    "terms": "和{c}谈定{t}的条款：账期60天，返利3%",
    "note": "{c}这周在外地，{t}下周再约",
}
NEXT_STEPS = ["发{t}方案", "约{c}面谈{t}", "确认{t}报价", "带样品给{c}试饮", "和{c}确认试点门店", "催{c}回复{t}",
              "约{c}和财务一起过合同", "给{c}送补充协议"]
# share of open deals per stage (initial contact .. negotiation) and silence ages in hours
STAGE_WEIGHTS = [30, 26, 22, 18, 17, 14]
AGE_BUCKETS = [((2, 40), 45), ((50, 70), 20), ((74, 118), 15), ((122, 400), 20)]


def customer_names(n: int, rnd: random.Random) -> list[str]:
    """Store names as a sales team writes them (chain + branch), a few distributors; 华联超市 and 华联便利店
    first (the README's examples)."""
    names = ["华联超市", "华联便利店"]
    stores = [chain + branch for chains in CHAINS.values() for chain in chains for branch in BRANCHES]
    rnd.shuffle(stores)
    for i, name in enumerate(DISTRIBUTORS):  # one distributor among every dozen customers
        stores.insert(12 * i + 5, name)
    return (names + stores)[:n]


def is_empty() -> bool:
    return demo_rows.no_teams()


def load_demo(funnel: Funnel, now: datetime, customers: int = 127, seed: int = 7) -> dict:
    """Create the demo team as of `now` (naive UTC). Returns counts."""
    rnd = random.Random(seed)
    with transaction():
        team = people.ensure_team(TEAM)
        manager, _ = people.upsert_rep(team, MANAGER[0], MANAGER[1], "manager", MANAGER[0], MANAGER[0])
        reps = [people.upsert_rep(team, lid, name, "rep", lid, lid)[0] for lid, name in REPS]
        people.upsert_group(team, "manager", MANAGER_GROUP, "华东销售主管群")
        stages = funnel.open_stages
        created = 0
        for i, name in enumerate(customer_names(customers, rnd)):
            if deals.customer_by_name(team.id, name):
                continue
            owner = reps[i % len(reps)]
            stage_idx = rnd.choices(range(len(stages)), weights=STAGE_WEIGHTS[:len(stages)])[0]
            (lo, hi), = rnd.choices([b for b, _ in AGE_BUCKETS], weights=[w for _, w in AGE_BUCKETS])
            silent = timedelta(hours=rnd.uniform(lo, hi))
            last = now - silent
            created_at = last - timedelta(days=rnd.randint(3, 12) * (stage_idx + 1))
            customer = demo_rows.customer(team=team, owner=owner, name=name, initials=initials_of(name),
                                          tier=rnd.choice("ABCC"), created_at=created_at)
            _history(funnel, customer, owner, stages, stage_idx, created_at, last, rnd, now)
            created += 1
        closed = _closed_history(funnel, team, now, random.Random(seed + 1)) if created else 0
    return {"team": TEAM, "reps": len(reps), "customers": created, "closed": closed}


LOST_REASONS = ["价格", "预算取消", "选了竞品", "决策人变动", "需求变化"]


def _closed_history(funnel, team, now, rnd, share: float = 0.35) -> int:
    """Earlier deals of some customers, won or lost in the last ~80 days, with their stage history and
    the warnings they got, so the manager's numbers (cycle, conversion, intervention rate) have data."""
    stages = funnel.open_stages
    managers = {}

    def manager_of(team):
        if team.id not in managers:
            managers[team.id] = demo_rows.manager_of(team)
        return managers[team.id]
    closing = funnel.closing.key
    n = 0
    for customer in demo_rows.customers_of(team):
        if rnd.random() > share:
            continue
        won = rnd.random() < 0.45
        closed_at = now - timedelta(days=rnd.uniform(2, 80))
        created_at = closed_at - timedelta(days=rnd.uniform(12, 40))
        reach = len(stages) - 1 if won else rnd.randrange(len(stages))
        deal = demo_rows.deal(customer=customer, owner=customer.owner_id, team=team, status="won" if won else "lost",
                              amount=rnd.choice([3, 5, 8, 12, 20, 30]) * 10000, stage=closing, created_at=created_at,
                              stage_entered_at=closed_at, last_movement_at=closed_at, closed_at=closed_at,
                              lost_reason=None if won else rnd.choice(LOST_REASONS))
        step = (closed_at - created_at) / (reach + 2)
        t = created_at
        demo_rows.stage_change(deal=deal, from_stage=None, to_stage=stages[0].key, rep=customer.owner_id, at=t)
        for k in range(reach):
            t += step
            demo_rows.stage_change(deal=deal, from_stage=stages[k].key, to_stage=stages[k + 1].key,
                                   rep=customer.owner_id, at=t)
            demo_rows.activity(deal=deal, customer=customer, rep=customer.owner_id, kind="visit",
                               text=note("visit", None, rnd), at=t - step / 2)
        demo_rows.stage_change(deal=deal, from_stage=stages[reach].key, to_stage=closing, rep=customer.owner_id,
                               at=closed_at, note="won" if won else f"lost: {deal.lost_reason}")
        flagged = rnd.random() < (0.3 if won else 0.7)
        if flagged:
            since = closed_at - timedelta(days=rnd.uniform(6, 10))
            for level, hours in (("orange", 72), ("red", 120)):
                if level == "red" and won:
                    break
                demo_rows.warning(deal=deal, level=level, since=since, at=since + timedelta(hours=hours), scan="demo")
            if not won and rnd.random() < 0.5:  # the manager stepped in after the red card, before the loss
                demo_rows.manager_action(deal=deal, manager=manager_of(team), kind=rnd.choice(["take", "nudge"]),
                                         at=since + timedelta(hours=rnd.uniform(121, 140)))
        if created_at < customer.created_at:
            customer.created_at = created_at
            demo_rows.save(customer)
        n += 1
    return n


def _history(funnel, customer, owner, stages, stage_idx, created_at, last, rnd, now=None) -> None:
    """A deal that walked through the stages before `stage_idx`, meeting each exit criterion on the way."""
    amount = rnd.choice([2, 3, 5, 8, 12, 15, 20, 30, 50]) * 10000
    deal = demo_rows.deal(customer=customer, owner=owner, team=customer.team_id, amount=amount,
                          stage=stages[0].key, created_at=created_at, stage_entered_at=created_at,
                          last_movement_at=created_at, next_check_at=created_at)
    demo_rows.stage_change(deal=deal, from_stage=None, to_stage=stages[0].key, rep=owner, at=created_at)
    span = (last - created_at) / (stage_idx + 1)
    t = created_at
    for k in range(stage_idx):
        stage = stages[k]
        for ckey in stage.exit:
            crit = funnel.criteria[ckey]
            contact = None
            if crit.decision_maker:
                title, _ = rnd.choice([x for x in TITLES if x[1]])
                contact = demo_rows.contact(customer=customer, name=rnd.choice(SURNAMES) + "总", title=title,
                                            is_decision_maker=True, created_at=t + span / 3)
            kind = crit.activity[0] if crit.activity else "visit"
            demo_rows.activity(deal=deal, customer=customer, rep=owner, contact=contact, kind=kind,
                               text=note(kind, contact, rnd), at=t + span / 2)
        t = t + span
        demo_rows.stage_change(deal=deal, from_stage=stage.key, to_stage=stages[k + 1].key, rep=owner, at=t)
    if stage_idx == 0 or rnd.random() < 0.6:
        title, dm = rnd.choice(TITLES)
        contact = demo_rows.first_contact(customer) or demo_rows.contact(
            customer=customer, name=rnd.choice(SURNAMES) + ("总" if dm else "经理"), title=title,
            is_decision_maker=dm, created_at=last)
        step = next_step(contact, rnd)
        if now is not None and now - last < timedelta(hours=48):  # a fresh deal: its next step is ahead
            at, due = last, now + timedelta(days=rnd.randint(1, 6))
        else:  # a silent one: the next step it booked fell due when the silence began (`last`)
            at, due = max(created_at, last - timedelta(days=rnd.choice([1, 2, 3]))), last
        demo_rows.activity(deal=deal, customer=customer, rep=owner, contact=contact, kind="visit",
                           text=note("visit", contact, rnd) + f"，下一步{due_words(due)}{step}", at=at)
        deal.last_activity_at = at
        deal.next_step, deal.next_step_due = step, due
        stage_entered = min(t, at)
        last = at
    else:
        stage_entered = last
    deal.stage, deal.stage_entered_at = stages[stage_idx].key, stage_entered
    deal.last_movement_at = deal.next_check_at = max(last, stage_entered)
    demo_rows.save(deal)
    _signals(customer, deal, owner, stage_idx, last, rnd)


def _who(contact) -> str:
    return f"{contact.name}（{contact.title}）" if contact is not None and contact.title else \
        (contact.name if contact is not None else "采购")


def note(kind: str, contact, rnd) -> str:
    return NOTES.get(kind, NOTES["visit"]).format(c=_who(contact), t=rnd.choice(TOPICS))


def next_step(contact, rnd) -> str:
    return rnd.choice(NEXT_STEPS).format(c=contact.name if contact is not None else "采购", t=rnd.choice(TOPICS))


def due_words(due: datetime) -> str:
    local = due + timedelta(hours=8)  # the demo team's Asia/Shanghai
    return f"{local.month}月{local.day}日前"


def _signals(customer, deal, owner, stage_idx, last, rnd) -> None:
    """What other systems would have sent: proposal opens, competitor news, internal tickets."""
    if stage_idx >= 4:  # a proposal went out: the customer opens it now and then
        for k in range(rnd.randint(0, 4)):
            demo_rows.activity(deal=deal, customer=customer, rep=owner, kind="doc_open", text="方案文档被打开",
                               at=last - timedelta(days=rnd.uniform(0, 10)))
    if rnd.random() < 0.2:
        demo_rows.activity(deal=deal, customer=customer, rep=owner, kind="competitor",
                           text=rnd.choice(["竞品在报价", "竞品做了促销陈列", "竞品请客户吃饭"]),
                           at=last - timedelta(days=rnd.uniform(0, 20)))
    for k in range(rnd.choice([0, 0, 1, 2])):
        opened = last - timedelta(days=rnd.uniform(1, 25))
        demo_rows.ticket(customer=customer, deal=deal, external_id=f"demo-{customer.id}-{k}", opened_at=opened,
                         answered_at=opened + timedelta(hours=rnd.choice([1, 3, 6, 12, 30, 60])))
