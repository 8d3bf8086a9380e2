"""Find the person a visit note is about: 采购总监王总, 李经理, 财务经理刘敏, CEO张三, 见了老王."""
from __future__ import annotations

import re
from dataclasses import dataclass

# About the 120 most common single-character surnames. A few that are also everyday words
# in sales notes (和, 时, 商, 应, 成) are left out on purpose: "和李经理" must not read as 和经理.
_SINGLE_SURNAMES = (
    "王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗郑梁谢宋唐许韩冯邓曹彭曾肖田董袁潘于蒋蔡余杜叶程"
    "苏魏吕丁任沈姚卢姜崔钟谭陆汪范金石廖贾夏韦付傅方白邹孟熊秦邱江尹薛闫严段雷侯龙史陶黎贺顾"
    "毛郝龚邵万钱覃武戴莫孔向汤常温康施文牛樊葛邢安齐易乔伍庞颜倪庄聂章鲁岳翟殷詹申欧耿关兰"
    "焦俞左柳甘祝包宁尚符舒阮柯纪梅童凌毕单季裴霍涂苗谷盛曲翁冉骆蓝路游辛靳管柴蒙鲍华喻祁蒲"
    "房滕屈饶解艾尤阳穆农卓古吉缪简车项连麦褚娄窦戚岑景党宫费卜冷晏席卫米柏宗瞿桂佟臧闵邬"
)
_COMPOUND_SURNAMES = (
    "欧阳", "司马", "诸葛", "上官", "东方", "皇甫", "尉迟", "公孙", "慕容", "长孙", "宇文",
    "司徒", "夏侯", "令狐", "澹台", "轩辕", "独孤", "南宫", "西门", "端木", "百里", "呼延",
)
_SURNAME = "(?:" + "|".join(_COMPOUND_SURNAMES) + f"|[{_SINGLE_SURNAMES}])"

# Polite forms "王总", "李经理"; 总 is not a title in 总部/总结/总共/总价 ...
_SUFFIXES = (
    "总经理", "董事长", "工程师", "总监", "经理", "主任", "老板", "先生", "女士", "小姐", "老师",
    "部长", "主管", "处长", "科长", "局长", "厂长", "店长", "院长", "校长", "所长", "书记", "总", "工", "董",
)
_SUFFIX = (
    "(?:" + "|".join(s for s in _SUFFIXES if s not in ("总", "工"))
    + "|总(?![部结共体是算额价量计数公店仓包代裁])|工(?![作厂资期艺具人业地序商会程钱])" + ")"
)
_NOT_A_PERSON = {"施工", "童工", "车工", "包工", "金工", "石工", "华工"}

# Job titles written right before a name: optional department + role.
_DEPARTMENTS = (
    "供应链", "采购", "财务", "销售", "市场", "运营", "技术", "行政", "人事", "品类", "商务", "营销",
    "产品", "项目", "区域", "大区", "门店", "物流", "法务", "品牌", "渠道", "客户", "信息", "生产",
    "质量", "研发", "仓储", "电商", "IT", "HR",
)
_ROLES = (
    "副总经理", "总经理", "副总裁", "副总监", "副经理", "董事长", "负责人", "总裁", "总监", "经理",
    "主管", "专员", "助理", "董事", "部长", "主任", "处长", "科长", "局长", "厂长", "店长", "老板",
    "副总", "CEO", "CTO", "CFO", "COO", "CMO", "CIO", "VP", "GM",
)
_DEPARTMENT = "(?:" + "|".join(_DEPARTMENTS) + ")"
_TITLE = f"(?:{_DEPARTMENT}部?)?(?:" + "|".join(_ROLES) + ")"
_GIVEN = r"[\u4e00-\u9fff]{1,2}"
# Characters that end a given name: verbs and particles that follow a name in a note.
_NAME_STOP = set("的了说聊谈在和跟与要想对把被让给是也都还就很见约通打发看提问讲表同认觉希需会能可已正刚将不没再又来去到们等开")

_CONTACT_VERBS = re.compile(r"见了|见到|拜访了|拜访|约了|约见|会见|联系了|联系|找了|和|跟|与|给")

_WITH_TITLE = re.compile(
    rf"(?P<title>{_TITLE})\s?(?P<name>(?P<sn>{_SURNAME})(?P<suffix>{_SUFFIX})|[小老]{_SURNAME}|{_SURNAME}{_GIVEN})",
    re.IGNORECASE,
)
# A department alone before a polite or familiar name: 采购部李经理, 采购小王 (never a full name: 市场方案).
_WITH_DEPARTMENT = re.compile(
    rf"(?P<dept>{_DEPARTMENT})部?(?P<name>(?P<sn>{_SURNAME})(?P<suffix>{_SUFFIX})|[小老]{_SURNAME})",
    re.IGNORECASE,
)
_POLITE = re.compile(rf"(?P<name>(?P<sn>{_SURNAME})(?P<suffix>{_SUFFIX}))")
_FAMILIAR = re.compile(rf"(?:{_CONTACT_VERBS.pattern})(?P<name>[小老]{_SURNAME})|(?P<name2>[小老]{_SURNAME}|{_SURNAME}[姐哥])(?=说|表示|答应|讲)")
# A full name with no title, where only a person fits: 见了王强, 王强打电话说 ...
_NOT_GIVEN = set("末案价品式面便后期法向场前里边家店货子些个次位总经理工董老板部门单会")
_WEEKDAY_AFTER_ZHOU = set("一二三四五六日天末")  # 周六 is a day, 张三 a name
_FULL_NAME = re.compile(
    rf"(?:见了|见到|约了|碰到|找了|和|跟|与|^)(?P<name>{_SURNAME}[\u4e00-\u9fff]{{1,2}})(?=聊|打|说|通|谈|沟通|见|[,.;!? ]|$)")


# A title alone, no name: 见了店长, 财务经理说, 老板娘在, 见了助理
_ALONE_ROLES = (
    "老板娘", "老板", "店长", "店主", "副店长", "助理", "前台", "负责人", "总经理", "副总经理",
    "董事长", "总监", "经理", "主管", "厂长", "主任", "老总", "一把手", "大老板", "副总", "店员", "营业员",
    "收银员", "导购", "采购", "财务", "会计", "运营", "督导", "业务员",
)
_ALONE = re.compile(
    rf"(?P<title>(?:{_DEPARTMENT}部?)(?:" + "|".join(r for r in _ROLES if r not in ("VP", "GM"))
    + ")|" + "|".join(sorted(_ALONE_ROLES, key=len, reverse=True)) + ")",
    re.IGNORECASE,
)
# Words right after a title that make it no person: 采购量, 财务部, 经理级 ...
_NOT_ALONE_AFTER = set("量额价部处科室级层费款单额计划流程系统了订合季周渠政成预数申审模中方需清渠")
# Our own side: 我们经理, 我司总监, 咱们老板 are not the customer's people
_OURS = re.compile(r"(?:我们|我司|咱们|我方|我们公司|公司|我|我的|和我)(?:的)?$")
# A person who was not there: 陈总不在, 王总出差了
_ABSENT = re.compile(r"^\s?(?:今天|刚好|正好)?(?:都|也|又|还)?(?:不在|没在|出差|休假|请假|没来|外出|在外地|在外面|在总部开会|"
                     r"没接|没回|没人接|不接|电话不通)")


@dataclass(frozen=True)
class Person:
    name: str          # "王总", "刘敏", "小李", "店长" (a title alone)
    title: str | None  # "采购总监", "总", "财务经理", "采购经理" (采购部李经理); None for a bare 老王
    suffix: str        # the title part of the name itself ("总" in 王总), "" for full names
    start: int         # where the mention (title included) starts in the text
    end: int           # where the name ends
    alone: bool = False  # a title with no name (店长)

    @property
    def explicit_title(self) -> bool:
        """Whether the title was said as a title (采购总监王总, 店长), not only as the polite form of a name (王总)."""
        return bool(self.title) and self.title != self.suffix


def _trim_given(name: str) -> str | None:
    """"陈伟聊" -> "陈伟": cut a full name where a verb or particle starts."""
    for surname in _COMPOUND_SURNAMES:
        if name.startswith(surname):
            head, given = surname, name[len(surname):]
            break
    else:
        head, given = name[0], name[1:]
    for i, ch in enumerate(given):
        if ch in _NAME_STOP:
            given = given[:i]
            break
    return head + given if given else None


def _from_match(m: re.Match) -> Person | None:
    groups = m.groupdict()
    if groups.get("name2"):
        name = groups["name2"]
        return Person(name, None, "", m.start("name2"), m.end("name2"))
    name = groups["name"]
    if m.re is _FULL_NAME:
        given = name[1:] if name[:2] not in _COMPOUND_SURNAMES else name[2:]
        name = _trim_given(name)
        if (name is None or not given or given[0] in _NOT_GIVEN or given[0] in _NAME_STOP or _ALONE.match(name)
                or (name[0] == "周" and given[0] in _WEEKDAY_AFTER_ZHOU)):
            return None
        return Person(name, None, "", m.start("name"), m.start("name") + len(name))
    suffix = groups.get("suffix") or ""
    if suffix:
        if name in _NOT_A_PERSON:
            return None
        if groups["sn"] == "周" and m.start("name") > 0 and m.string[m.start("name") - 1] in "上下本这每":
            return None  # 下周主管会议: a week, not Mr. Zhou
    elif not name.startswith(("小", "老")):
        given = name[2:] if name[:2] in _COMPOUND_SURNAMES else name[1:]
        if given[:1] in _NOT_GIVEN or (name[0] == "周" and given[:1] in _WEEKDAY_AFTER_ZHOU):
            return None  # 店长 周六: a weekday, not Mr. Zhou
        name = _trim_given(name)
        if name is None:
            return None
    title = groups.get("title")
    if not title and groups.get("dept"):
        # 采购部李经理 -> 采购经理; a polite form that is no role stays with the department: 采购王总 -> 采购
        title = groups["dept"] + (suffix if suffix in _ROLES else "")
    title = title or suffix or None
    if title and title.isascii():
        title = title.upper()  # ceo -> CEO
    return Person(name, title, suffix, m.start(), m.start("name") + len(name))


def _people(text: str) -> list[Person]:
    found: dict[int, Person] = {}
    for pattern in (_WITH_TITLE, _WITH_DEPARTMENT, _POLITE, _FAMILIAR, _FULL_NAME):
        for m in pattern.finditer(text):
            person = _from_match(m)
            if person is None:
                continue
            # keep one reading per name: the one that also carries a title prefix wins
            if person.end not in found or person.start < found[person.end].start:
                found[person.end] = person
    named = sorted(found.values(), key=lambda p: p.start)
    covered = [(p.start, p.end) for p in named]
    for m in _ALONE.finditer(text):
        if any(a < m.end() and m.start() < b for a, b in covered):
            continue  # part of a named mention: 采购总监王总
        after = text[m.end():m.end() + 1]
        if after and after in _NOT_ALONE_AFTER:
            continue
        title = m["title"]
        if title.isascii():
            title = title.upper()
        named.append(Person(title, title, "", m.start(), m.end(), alone=True))
    people = []
    for p in sorted(named, key=lambda p: p.start):
        if _OURS.search(text[max(0, p.start - 4):p.start]):
            continue  # 我们经理: our side
        people.append(p)
    return people


_WAITING = re.compile(r"(?:等|要等|还要等|还得等|得等|让|请|问问|找找|没见到|没见着|没碰到|没找到|没见)$")


def _absent(text: str, person: Person) -> bool:
    """Someone not met: 陈总不在, 等老板拍板."""
    return (_ABSENT.match(text[person.end:person.end + 6]) is not None
            or _WAITING.search(text[max(0, person.start - 3):person.start]) is not None)


_EN_TITLE = (r"(?:purchasing|procurement|finance|financial|sales|marketing|store|category|regional|general|"
             r"operations|it)?\s*(?:director|manager|head|buyer|owner|boss|ceo|cfo|cto|coo|vp|gm|president|"
             r"assistant)")
_EN_PERSON = re.compile(
    rf"\b(?:met|meet|saw|see|called|call|with|visited|visit|talked to|spoke to|spoke with)\s+(?:the\s+|their\s+)?"
    rf"(?P<title>{_EN_TITLE})?\s*(?P<name>(?:(?:mr|ms|mrs|miss)\.?\s*)?[A-Z][a-z]+)?", re.IGNORECASE)


_EN_TITLES_CN = {"director": "总监", "manager": "经理", "owner": "老板", "boss": "老板", "head": "负责人",
                 "president": "总", "ceo": "CEO", "cfo": "CFO", "vp": "VP", "gm": "总经理", "buyer": "采购"}


def _english_person(text: str) -> Person | None:
    pos = 0
    while (m := _EN_PERSON.search(text, pos)) is not None:
        pos = m.start() + 1  # "call with manager Zhang": try "with ..." too
        title = (m["title"] or "").strip().lower() or None
        name = m["name"]
        if name and not name[0].isupper():
            name = None  # "met the buyer today": no name
        if name and name.lower() in ("the", "at", "today", "tomorrow", "and", "about", "on", "in"):
            name = None
        if name or title:
            return Person(name or title, title, "", m.start(), m.end(), alone=name is None)
    return None


def find_person(text: str) -> Person | None:
    """The person a note is about: the first one after a contact verb (见了/约了/和 ...), else the first one.

    Someone who was not there (陈总不在) is skipped; 王总的助理小吴 is 小吴 (助理).
    """
    people = [p for p in _people(text) if not _absent(text, p)]
    if not people:
        return _english_person(text) if text.isascii() or re.search(r"[A-Za-z]{3}", text) else None
    people = _assistants(text, people)
    name_ends = {p.end for p in people}
    for verb in _CONTACT_VERBS.finditer(text):
        if verb.start() in name_ends:
            continue  # 王总和李经理: here 和 joins two names, it is no verb
        for person in people:
            if person.start >= verb.end():
                return person
        break
    return people[0]


def _assistants(text: str, people: list[Person]) -> list[Person]:
    """王总的助理小吴: the one met is 小吴, titled 助理; the boss is only how he is described."""
    out = []
    skip = set()
    for i, p in enumerate(people):
        nxt = people[i + 1] if i + 1 < len(people) else None
        if nxt is not None and text[p.end:nxt.start] == "的":
            skip.add(i)
            if nxt.alone and i + 2 < len(people) and people[i + 2].start == nxt.end:
                # 的助理小吴: the title, then the name
                third = people[i + 2]
                people[i + 2] = Person(third.name, nxt.title, third.suffix, nxt.start, third.end)
                skip.add(i + 1)
    for i, p in enumerate(people):
        if i not in skip:
            out.append(p)
    return out or people


def is_decision_maker(person: Person | None, decision_titles: list[str]) -> bool:
    """Whether the person's title or polite suffix contains one of `decision_titles` (Latin ones case-insensitively)."""
    if person is None:
        return False
    held = f"{person.title or ''} {person.suffix}".casefold()
    for english, chinese in _EN_TITLES_CN.items():
        if english in held:
            held += " " + chinese
    return any(t and t.casefold() in held for t in decision_titles)
