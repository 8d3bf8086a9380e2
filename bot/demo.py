"""The reference team of PRODUCT.md: manager 李岩 (liyan), reps rep1..rep6, 127 open deals.

Deterministic (seeded), spread over the stages with realistic silence ages: some deals past 48 h,
72 h and 5 days. Every demo user's WeCom userid and DingTalk staffId equal their local id.
"""
from __future__ import annotations

import random
from datetime import datetime, timedelta

from handlers.parse import initials_of
from rules.funnel import Funnel
from storage import people
from storage.models import Activity, Contact, Customer, Deal, StageChange, Team, db

TEAM = "华东饮料团队"
MANAGER = ("liyan", "李岩")
REPS = [("rep1", "王磊"), ("rep2", "张敏"), ("rep3", "刘洋"), ("rep4", "陈静"), ("rep5", "杨帆"), ("rep6", "赵强")]
MANAGER_GROUP = "managers"
PREFIXES = ["华联", "永辉", "物美", "家乐", "联华", "世纪", "百佳", "苏果", "大润", "红旗", "美宜", "全家",
            "罗森", "喜士多", "好德", "可的", "快客", "良友", "农工商", "华润", "欧尚", "麦德龙", "盒马", "叮咚",
            "便利蜂", "天福", "易捷", "昆仑", "百联", "新华都", "步步高", "中百", "家家悦", "利群", "银座", "大张"]
SUFFIXES = ["超市", "便利店", "餐饮", "酒店", "商贸", "食品", "百货"]
SURNAMES = "王李张刘陈杨赵黄周吴徐孙马朱胡郭何林罗高"
TITLES = [("采购总监", True), ("采购经理", True), ("总经理", True), ("采购专员", False), ("店长", True),
          ("品类主管", False)]
# share of open deals per stage (initial contact .. negotiation) and silence ages in hours
STAGE_WEIGHTS = [30, 26, 22, 18, 17, 14]
AGE_BUCKETS = [((2, 40), 45), ((50, 70), 20), ((74, 118), 15), ((122, 400), 20)]


def customer_names(n: int, rnd: random.Random) -> list[str]:
    names = ["华联超市", "华联便利店"]
    pool = [p + s for p in PREFIXES for s in SUFFIXES if p + s not in names]
    rnd.shuffle(pool)
    return (names + pool)[:n]


def is_empty() -> bool:
    return not Team.select().exists()


def load_demo(funnel: Funnel, now: datetime, customers: int = 127, seed: int = 7) -> dict:
    """Create the demo team as of `now` (naive UTC). Returns counts."""
    rnd = random.Random(seed)
    with db.atomic():
        team = people.ensure_team(TEAM)
        manager, _ = people.upsert_rep(team, MANAGER[0], MANAGER[1], "manager", MANAGER[0], MANAGER[0])
        reps = [people.upsert_rep(team, lid, name, "rep", lid, lid)[0] for lid, name in REPS]
        people.upsert_group(team, "manager", MANAGER_GROUP, "华东销售主管群")
        stages = funnel.open_stages
        created = 0
        for i, name in enumerate(customer_names(customers, rnd)):
            if Customer.get_or_none((Customer.team == team) & (Customer.name == name)):
                continue
            owner = reps[i % len(reps)]
            stage_idx = rnd.choices(range(len(stages)), weights=STAGE_WEIGHTS[:len(stages)])[0]
            (lo, hi), = rnd.choices([b for b, _ in AGE_BUCKETS], weights=[w for _, w in AGE_BUCKETS])
            silent = timedelta(hours=rnd.uniform(lo, hi))
            last = now - silent
            created_at = last - timedelta(days=rnd.randint(3, 12) * (stage_idx + 1))
            customer = Customer.create(team=team, owner=owner, name=name, initials=initials_of(name),
                                       tier=rnd.choice("ABCC"), created_at=created_at)
            _history(funnel, customer, owner, stages, stage_idx, created_at, last, rnd)
            created += 1
        closed = _closed_history(funnel, team, now, random.Random(seed + 1)) if created else 0
    return {"team": TEAM, "reps": len(reps), "customers": created, "closed": closed}


LOST_REASONS = ["价格", "预算取消", "选了竞品", "决策人变动", "需求变化"]


def _closed_history(funnel, team, now, rnd, share: float = 0.35) -> int:
    """Earlier deals of some customers, won or lost in the last ~80 days, with their stage history and
    the warnings they got, so the manager's numbers (cycle, conversion, intervention rate) have data."""
    from storage.models import Warning
    stages = funnel.open_stages
    closing = funnel.closing.key
    n = 0
    for customer in Customer.select().where(Customer.team == team).order_by(Customer.id):
        if rnd.random() > share:
            continue
        won = rnd.random() < 0.45
        closed_at = now - timedelta(days=rnd.uniform(2, 80))
        created_at = closed_at - timedelta(days=rnd.uniform(12, 40))
        reach = len(stages) - 1 if won else rnd.randrange(len(stages))
        deal = Deal.create(customer=customer, owner=customer.owner_id, team=team, status="won" if won else "lost",
                           amount=rnd.choice([3, 5, 8, 12, 20, 30]) * 10000, stage=closing, created_at=created_at,
                           stage_entered_at=closed_at, last_movement_at=closed_at, closed_at=closed_at,
                           lost_reason=None if won else rnd.choice(LOST_REASONS))
        step = (closed_at - created_at) / (reach + 2)
        t = created_at
        StageChange.create(deal=deal, from_stage=None, to_stage=stages[0].key, rep=customer.owner_id, at=t)
        for k in range(reach):
            t += step
            StageChange.create(deal=deal, from_stage=stages[k].key, to_stage=stages[k + 1].key,
                               rep=customer.owner_id, at=t)
            Activity.create(deal=deal, customer=customer, rep=customer.owner_id, kind="visit", text="跟进记录",
                            at=t - step / 2)
        StageChange.create(deal=deal, from_stage=stages[reach].key, to_stage=closing, rep=customer.owner_id,
                           at=closed_at, note="won" if won else f"lost: {deal.lost_reason}")
        flagged = rnd.random() < (0.3 if won else 0.7)
        if flagged:
            since = closed_at - timedelta(days=rnd.uniform(6, 10))
            for level, hours in (("orange", 72), ("red", 120)):
                if level == "red" and won:
                    break
                Warning.create(deal=deal, level=level, since=since, at=since + timedelta(hours=hours), scan="demo")
        if created_at < customer.created_at:
            customer.created_at = created_at
            customer.save()
        n += 1
    return n


def _history(funnel, customer, owner, stages, stage_idx, created_at, last, rnd) -> None:
    """A deal that walked through the stages before `stage_idx`, meeting each exit criterion on the way."""
    amount = rnd.choice([2, 3, 5, 8, 12, 15, 20, 30, 50]) * 10000
    deal = Deal.create(customer=customer, owner=owner, team=customer.team_id, amount=amount,
                       stage=stages[0].key, created_at=created_at, stage_entered_at=created_at,
                       last_movement_at=created_at, next_check_at=created_at)
    StageChange.create(deal=deal, from_stage=None, to_stage=stages[0].key, rep=owner, at=created_at)
    span = (last - created_at) / (stage_idx + 1)
    t = created_at
    for k in range(stage_idx):
        stage = stages[k]
        for ckey in stage.exit:
            crit = funnel.criteria[ckey]
            contact = None
            if crit.decision_maker:
                title, _ = rnd.choice([x for x in TITLES if x[1]])
                contact = Contact.create(customer=customer, name=rnd.choice(SURNAMES) + "总", title=title,
                                         is_decision_maker=True, created_at=t + span / 3)
            kind = crit.activity[0] if crit.activity else "visit"
            Activity.create(deal=deal, customer=customer, rep=owner, contact=contact, kind=kind,
                            text=f"{funnel.activities[kind].name}记录", at=t + span / 2)
        t = t + span
        StageChange.create(deal=deal, from_stage=stage.key, to_stage=stages[k + 1].key, rep=owner, at=t)
    if stage_idx == 0 or rnd.random() < 0.6:
        title, dm = rnd.choice(TITLES)
        contact = Contact.get_or_none(Contact.customer == customer) or Contact.create(
            customer=customer, name=rnd.choice(SURNAMES) + ("总" if dm else "经理"), title=title,
            is_decision_maker=dm, created_at=last)
        Activity.create(deal=deal, customer=customer, rep=owner, contact=contact, kind="visit",
                        text="例行拜访，沟通进度", at=last)
        deal.last_activity_at = last
        stage_entered = min(t, last)
    else:
        stage_entered = last
    deal.stage, deal.stage_entered_at = stages[stage_idx].key, stage_entered
    deal.last_movement_at = deal.next_check_at = max(last, stage_entered)
    deal.save()
    _signals(customer, deal, owner, stage_idx, last, rnd)


def _signals(customer, deal, owner, stage_idx, last, rnd) -> None:
    """What other systems would have sent: proposal opens, competitor news, internal tickets."""
    from storage.models import Ticket
    if stage_idx >= 4:  # a proposal went out: the customer opens it now and then
        for k in range(rnd.randint(0, 4)):
            Activity.create(deal=deal, customer=customer, rep=owner, kind="doc_open", text="方案文档被打开",
                            at=last - timedelta(days=rnd.uniform(0, 10)))
    if rnd.random() < 0.2:
        Activity.create(deal=deal, customer=customer, rep=owner, kind="competitor",
                        text=rnd.choice(["竞品在报价", "竞品做了促销陈列", "竞品请客户吃饭"]),
                        at=last - timedelta(days=rnd.uniform(0, 20)))
    for k in range(rnd.choice([0, 0, 1, 2])):
        opened = last - timedelta(days=rnd.uniform(1, 25))
        Ticket.create(customer=customer, deal=deal, external_id=f"demo-{customer.id}-{k}", opened_at=opened,
                      answered_at=opened + timedelta(hours=rnd.choice([1, 3, 6, 12, 30, 60])))
