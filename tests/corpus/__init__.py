"""The labelled development corpus (messages.txt) and how the bot's reading of a message is scored."""
from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import date
from pathlib import Path

from handlers.activities import name_hint, says_something
from handlers.parse import DateError, normalize
from handlers.parse.message import read
from handlers.parse.names import Candidate, CustomerIndex
from handlers.router import decide

FILE = Path(__file__).with_name("messages.txt")
FIELDS = ("intent", "customer", "contact", "title", "dm", "next", "due", "signal")


@dataclass
class Case:
    line: int
    kind: str
    today: date
    text: str
    labels: dict


@dataclass
class Corpus:
    customers: list[str]
    colleague: list[str]
    cases: list[Case]


def load(path: Path = FILE) -> Corpus:
    customers, colleague, cases = [], [], []
    kind, today = "?", date(2026, 11, 27)
    for n, raw in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        line = raw.rstrip("\n")
        if not line.strip():
            continue
        if line.startswith("@customers"):
            customers = [c.strip() for c in line.split(" ", 1)[1].split(",")]
        elif line.startswith("@colleague"):
            colleague = [c.strip() for c in line.split(" ", 1)[1].split(",")]
        elif line.startswith("@now"):
            today = date.fromisoformat(line.split()[1])
        elif line.startswith("## "):
            kind = line[3:].strip()
        else:
            parts = [p.strip() for p in line.split("|")]
            if len(parts) != 1 + len(FIELDS):
                raise ValueError(f"{path.name}:{n}: {len(parts)} columns, want {1 + len(FIELDS)}")
            cases.append(Case(n, kind, today, parts[0], dict(zip(FIELDS, parts[1:]))))
    return Corpus(customers, colleague, cases)


def padding(n: int, seed: int = 13) -> list[str]:
    """`n` more customer names, as a rep with many customers has (none of them named in the corpus)."""
    cities = "杭州 宁波 温州 绍兴 嘉兴 湖州 金华 台州 丽水 衢州 舟山 苏州 无锡 常州 南通 扬州 镇江 泰州 徐州 盐城 淮安 宿迁 合肥 芜湖 蚌埠".split()
    shops = ("鲜丰水果 便民超市 好邻居 惠民商行 副食品店 粮油店 批发部 烟酒店 小卖部 生活超市 购物中心 百货商场 连锁药房 "
             "水果店 母婴店 烘焙坊 茶叶店 奶茶店 咖啡馆 酒水商行").split()
    names = [c + s for c in cities for s in shops]
    random.Random(seed).shuffle(names)
    return names[:n]


def index_of(names: list[str], start: int = 1) -> CustomerIndex:
    return CustomerIndex([Candidate.of(start + i, name) for i, name in enumerate(names)])


def outputs(text: str, today: date, funnel, own: CustomerIndex, team: CustomerIndex) -> dict:
    """What the bot makes of `text`, in the corpus's columns."""
    out = {"intent": "unknown", "customer": None, "contact": None, "title": None, "dm": False, "next": None,
           "due": None, "signal": None}
    text = normalize(text)
    if not text:
        return out
    titles = list(funnel.decision_titles)

    def reader(t, verb_kind=None, hint=None):
        return read(t, today, own, titles, verb_kind, hint)
    try:
        decision = decide(text, funnel, reader)
    except DateError:
        return {**out, "intent": "bad_date"}
    if decision.route is not None:
        hint = name_hint(decision.rest)
        m = own.matcher.match(hint) if hint else None
        return {**out, "intent": decision.route.name.rstrip("_"),
                "customer": m.candidates[0].name if m is not None and m.kind in ("exact", "unique") else None}
    r = decision.reading
    found = r.customer
    if found.kind == "none":
        hint = name_hint(decision.rest) if not decision.free else ""
        other = team.find(r.text)
        if other.kind in ("exact", "alias"):
            return {**out, "intent": "not_yours", "customer": other.candidates[0].name}
        if hint:
            m = team.matcher.match(hint)
            if m.kind in ("exact", "unique"):
                return {**out, "intent": "not_yours", "customer": m.candidates[0].name}
        if decision.free and not says_something(r):
            return out
        return {**out, "intent": "unknown_customer"}
    if found.kind in ("hint", "alias") and team.find(r.text).kind == "exact":  # as handlers.lookup.customer_in_text
        return {**out, "intent": "not_yours", "customer": team.find(r.text).candidates[0].name}
    customer = "?" if found.kind == "ambiguous" else found.candidates[0].name
    if decision.free and r.kind is None:
        return {**out, "customer": customer}  # a customer named, nothing said: the bot asks what to log
    p = r.person
    return {
        "intent": r.kind or "note", "customer": customer,
        "contact": p.name if p else None, "title": p.title if p else None, "dm": r.decision_maker,
        "next": r.step.text if r.step else None, "due": r.step.due.isoformat() if r.step and r.step.due else None,
        "signal": r.signal,
    }


def right(field: str, label: str, got) -> bool:
    """Whether the bot's value for `field` agrees with the label."""
    if field == "dm":
        return (label == "y") == bool(got)
    if label == "-":
        return got in (None, "")
    if got is None:
        return False
    if field == "next":
        return label.casefold() in str(got).casefold()
    return label.casefold() == str(got).casefold()


def score(corpus: Corpus, funnel, own: CustomerIndex, team: CustomerIndex):
    """[(case, outputs, {field: right})] for every case."""
    results = []
    for case in corpus.cases:
        got = outputs(case.text, case.today, funnel, own, team)
        results.append((case, got, {f: right(f, case.labels[f], got[f]) for f in FIELDS}))
    return results
