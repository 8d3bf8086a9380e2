"""One rep message read as a human would: which customer, what happened, who was met, the next step.

Pure: no I/O and no clock (the caller passes `today` and the rep's customers as a CustomerIndex).
Works on messages as reps type them on a phone or dictate them: no spaces, commas, fillers (嗯, 那个),
Chinese numerals, no command word, the next step without 下一步.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date

from .dates import DateFound, find_dates
from .names import CustomerIndex, Found
from .normalize import normalize
from .people import Person, find_person, is_decision_maker

# Markers of the next step, strongest first; the step runs to the end of its clause.
MARKERS = (
    re.compile(r"下一步|下步|next\s*steps?|next\s*:|todo\s*:", re.IGNORECASE),
    re.compile(r"计划|待办"),
)
_CLAUSE_END = re.compile(r"[,;!?]|(?<!\d)\.|\.(?!\d)")
_LEAD = re.compile(r"^[\s:]*(?:是|为|就是)?[\s:]*")


def find_next_step(text: str) -> str | None:
    """What follows 下一步 / next step / 计划 / 待办 up to the end of its clause; None without a marker."""
    for marker in MARKERS:
        for m in marker.finditer(text):
            rest = _LEAD.sub("", text[m.end():], count=1)
            end = _CLAUSE_END.search(rest)
            step = (rest[:end.start()] if end else rest).strip()
            if step:
                return step
    return None


# ---- voice-style text ------------------------------------------------------------------------

_FILLERS = re.compile(r"嗯+|呃+|那个(?=[^\u4e00-\u9fff]|[\u4e00-\u9fff])(?!些|时候|月|周|人|店|方案|价)|就是说|这个这个")
_CONNECTORS = re.compile(r"然后|接着|另外|并且|同时|还有就是|完了以后|之后呢")


def clean(text: str) -> str:
    """Normalized text with spoken fillers dropped and spoken connectors turned into commas."""
    text = normalize(text)
    text = _FILLERS.sub("", text)
    text = _CONNECTORS.sub(",", text)
    return normalize(text).strip(" ,")


# ---- what kind of activity -----------------------------------------------------------------

# In order of precedence: the more specific fact first (a visit where a competitor was seen is
# the competitor's; a visit where terms were agreed is the terms').
_KIND_CUES: tuple[tuple[str, re.Pattern], ...] = tuple((k, re.compile(p, re.IGNORECASE)) for k, p in (
    ("terms", r"谈妥|条款(?:定了|谈好|谈妥|确认|同意)|定了条款|(?:同意|接受|认可)了?(?:条款|合同条款|商务条款)|(?:价格|账期|折扣|返点|付款方式)(?:谈好|谈妥|定了|敲定)|敲定了|"
              r"商务条款|agreed (?:on )?(?:the )?terms"),
    ("feedback", r"回复说|回复了|书面反馈|反馈说|反馈了|给了反馈|回了邮件|邮件回复|回邮件|书面回复|答复|feedback|replied"),
    ("evaluation", r"在评估|评估中|内部评估|开始评估|启动评估|在试用|试用|在测试|测试中|(?:测试|试用|评估)(?:通过|结果)|"
                   r"evaluat|trial|pilot"),
    ("competitor", r"(?:竞品|竞争对手|对手|友商)(?:在|也|进|来|抢|做|降|搞|已经|又)|在抢|抢(?:陈列|位置|货架|端架|单)|也在(?:谈|接触|报价)|被[^,]{1,6}(?:占|抢)|"
                   r"(?:农夫山泉|娃哈哈|康师傅|统一|元气森林|可口可乐|百事)(?:也|在|来|进)|competitor"),
    ("proposal", r"(?:发了|发过去了?|提交了|给了|递了|交了|报了)(?:个|份|一版|新的|最新的)?(?:方案|报价|价格|报价单|标书)|"
                 r"(?:方案|报价|报价单)(?:已经|已)?(?:发了|发过去了|提交了|给了|发给)|报了价|报价了|把方案发|把报价发|"
                 r"(?<![要再问等催看])报价(?!单?还)|(?:方案|报价单?)[^,\s]{0,6}?(?:发过去|发出去|发出|已提交|提交了|已发|已给)|"
                 r"sent (?:the |a )?(?:proposal|quote)"),
    ("meeting", r"开了(?:个|一个|场)?会|开会|视频会|线上会|会议|腾讯会议|钉钉会议|电话会|碰了个头|碰头|开了个碰头会|"
                r"大会|订货会|招商会|开了[^,\s]{0,6}会|沟通会|座谈会|碰头会|例会|"
                r"meeting|video call"),
    ("call", r"打了(?:个|一个|通)?电话|打电话|通了(?:个)?电话|电话(?:沟通|聊|里|说|确认|联系)|来电|回电|微信语音|语音(?:聊|沟通)|"
             r"视频通话|通话|打给|电联|\bcall(?:ed)?\b|phoned|rang|电话"),
    ("visit", r"(?<![寄发出送传递])去了|跑了一趟|跑了趟|跑了|见了|见到|拜访|上门|到店|去店里|去了趟|去了一趟|见面|当面|面谈|碰面|"
              r"转了一圈|转了转|逛了|在店里|店里见|"
              r"碰到|遇到|碰见|送了样|送样了|送了样品|从[^,]{0,12}?出来|"
              r"走访|巡店|(?<![发寄送传递])过去了|来了一趟|约见|\bvisit(?:ed)?\b|\bmet\b|dropped by|went to"),
    ("need", r"需求是|提了需求|需求:|要求是|想要|需要(?!我们)"),
))


def kind_of(text: str) -> str | None:
    for kind, cue in _KIND_CUES:
        if cue.search(text):
            return kind
    return None


# ---- stage signals ---------------------------------------------------------------------------

_NOT = r"(?<!没)(?<!没有)(?<!未)(?<!不)(?<!还没)(?<!没能)(?<!可以)(?<!能)(?<!就)(?<!才)"
_SIGNALS: tuple[tuple[str, re.Pattern], ...] = tuple((k, re.compile(p, re.IGNORECASE)) for k, p in (
    ("lost", r"不做了|不合作了|不考虑了|不买了|不要了|不采购了|黄了|没戏了|选了别家|选了别的|用了竞品|选了竞品|放弃了|"
             r"丢了|没谈成|取消了合作|终止合作|不跟我们做|(?:用|选|换)了?(?:别家|别人家|竞品|其他家|别的牌子)|"
             r"选了(?:农夫山泉|娃哈哈|康师傅|统一|元气森林|可口可乐|百事)|lost the deal|went with"),
    ("won", _NOT + r"(?:签了|签约了|签下来了|签下了|签完了|签好了|签字了|盖章了|拿下了|成交了|下单了|打款了|中标了|"
                   r"回款了|付款了|合同(?:定了|签了|签好了|已签|签完))|合同定下来了|deal (?:is )?(?:signed|closed|won)"),
    ("advance:negotiation", r"进入谈判|开始谈判|谈判阶段|进入商务谈判|开始谈价|开始谈合同|开始砍价|negotiat"),
))


def signal_of(text: str) -> str | None:
    for key, pattern in _SIGNALS:
        if pattern.search(text):
            return key
    return None


# ---- clauses and the next step -------------------------------------------------------------

# Clauses end at punctuation, and at a space next to Chinese (English keeps its spaces inside a clause).
_CLAUSE = re.compile(r"\s*[,.;!?]+\s*|(?<=[^\x00-\x7f])\s+|\s+(?=[^\x00-\x7f])|(?<=\.\.)")
_REPORTED = re.compile(r"(?:说|表示|答应|同意|承诺|告诉我|反馈|回复|提到|讲)$")
_PAST_AFTER = re.compile(r"了(?!解)|过(?!去|来|几天|两天|段|一|阵)|完(?!成|再)|\bdid\b|\bwent\b|\bmet\b|\bsent\b|\bcalled\b")
_STILL_FUTURE = re.compile(r"(?:约了|定了|安排了|说好了|约好了|答应了)")
_FUTURE_TODAY = re.compile(r"再|要|准备|打算|计划|之前|前(?!天)|争取|晚点|晚些|回头|待会|等会|一会|下班前|\bwill\b|\bby\b")
_VAGUE = re.compile(
    r"年后|节后|过年后|春节后|国庆后|元旦后|过完年|过几天|过两天|改天|回头|过段时间|近期|下次|下回|以后再|"
    r"下周(?![一二三四五六日天1-7末])|下个?礼拜(?![一二三四五六日天1-7])|下个?星期(?![一二三四五六日天1-7])|"
    r"这周(?![一二三四五六日天1-7末])|本周(?![一二三四五六日天1-7末])|月初|月中|下半月|年前|节前|\bsoon\b|\blater\b")
# the customer's possibility, not the rep's plan: 下礼拜二可以签合同, 下周应该能定
_MAYBE = re.compile(r"可以|能|应该|估计|大概|可能|也许|有望|\bmay\b|\bmight\b|\bcould\b")
_SAID = re.compile(r"说|表示|答应|承诺|请我们|让我们|叫我们|要我们|要求我们")
_AROUND = re.compile(r"^(?:左右|前后|上下)")
_STEP_LEAD = re.compile(r"^(?:[,.;:\s]|然后|再说|说|就|那就|那|我们|我|咱们|并|还|并且|另外)+")
_STEP_TAIL = re.compile(r"(?:吧|啊|哈|呢|的|了吧)+$")


@dataclass
class Piece:
    text: str
    dates: list[DateFound]
    future: bool = False
    vague: bool = False
    reported: bool = False  # the customer said it (王总说下周签): weaker than the rep's own plan
    due: date | None = None


def _pieces(text: str, today: date) -> list[Piece]:
    """Clauses, cut again before a date that follows a report (见了王总他说下礼拜二...): each with its tense."""
    out: list[Piece] = []
    for clause in _CLAUSE.split(text):
        if not clause:
            continue
        dates = find_dates(clause, today)
        marks = sorted(dates + [DateFound(m.start(), m.end(), today, m[0]) for m in _VAGUE.finditer(clause)
                                if not any(d.start <= m.start() < d.end for d in dates)
                                and _REPORTED.search(clause[:m.start()])],
                       key=lambda d: d.start)
        cuts, last_end = [0], -1
        for d in marks:
            before = clause[cuts[-1]:d.start]
            adjacent = last_end >= 0 and not clause[last_end:d.start].strip()
            if d.start > cuts[-1] and not adjacent and (
                    _PAST_AFTER.search(before) or re.search(r"说|表示|后$", before)
                    or any(x.end <= d.start and x.start >= cuts[-1] for x in dates)):
                cuts.append(d.start)
            last_end = d.end
        cuts.append(len(clause))
        for a, b in zip(cuts, cuts[1:]):
            part = clause[a:b]
            if part:
                out.append(Piece(part, [DateFound(d.start - a, d.end - a, d.day, d.text) for d in dates
                                        if a <= d.start < b]))
    for i, p in enumerate(out):
        prev = out[i - 1].text if i else ""
        _tense(p, today)
        said = _SAID.search(p.text)
        p.reported = bool(_REPORTED.search(prev) or _MAYBE.search(p.text) or said and p.future and (
            not p.dates or said.start() < p.dates[0].start))
    # 明天十点 线上会: a short clause right after a plan, with nothing done in it, belongs to the plan
    merged: list[Piece] = []
    for p in out:
        if (merged and merged[-1].future and not p.future and not p.dates and len(p.text) <= 6
                and not _PAST_AFTER.search(p.text)):
            prev = merged[-1]
            prev.text = f"{prev.text} {p.text}"
            continue
        merged.append(p)
    return merged


_LATER_TODAY = re.compile(r"(?:下午|晚上|傍晚|晚点|待会|一会)")
_RELATIVE_TODAY = re.compile(r"^(?:今|today|tonight)", re.IGNORECASE)


def _tense(p: Piece, today: date) -> None:
    if p.dates:
        d = p.dates[0]
        after = p.text[d.end:]
        past_after = _PAST_AFTER.search(after) and not _STILL_FUTURE.search(after)
        if _AROUND.match(after):
            p.future, p.vague = not past_after, True
            return
        if d.day > today:
            p.future = not past_after
        elif d.day == today:
            said = p.text.split("说", 1)[0]  # 今天打电话过来说要加货: the 要 is theirs
            p.future = not past_after and bool(
                not _RELATIVE_TODAY.match(d.text) or _FUTURE_TODAY.search(said)
                or re.search(r"[上下]午|晚上|点", d.text) or _LATER_TODAY.match(after))
        if p.future:
            p.due = d.day
        return
    m = _VAGUE.search(p.text)
    if m and not _PAST_AFTER.search(p.text[m.end():]):
        before = p.text[:m.start()]
        if _PAST_AFTER.search(before) and not re.search(r"(?:约了|约好了|说好了|说)$", before):
            return  # 定了年前的促销档期: decided, not planned
        p.future = p.vague = True


def _step_text(text: str) -> str:
    text = _STEP_LEAD.sub("", text)
    text = _STEP_TAIL.sub("", text)
    return text.strip()


@dataclass
class NextStep:
    text: str
    due: date | None
    due_text: str | None
    marked: bool  # written with 下一步 / 计划 / next step


def next_step_of(text: str, today: date, pieces: list[Piece] | None = None) -> NextStep | None:
    """The rep's next action: after 下一步 (as before), else the first clause with a future date or a
    vague future time (a customer's own promise only when the rep wrote no plan)."""
    marked = find_next_step(text)
    if marked:
        dates = find_dates(marked, today)
        d = dates[0] if dates else None
        vague = d is not None and _AROUND.match(marked[d.end:])
        return NextStep(marked, None if vague or d is None else d.day, None if vague or d is None else d.text, True)
    pieces = _pieces(text, today) if pieces is None else pieces
    future = [p for p in pieces if p.future and _step_text(p.text)]
    if not future:
        return None
    own = [p for p in future if not p.reported]
    p = (own or future)[0]
    d = p.dates[0] if p.dates and not p.vague else None
    return NextStep(_step_text(p.text), d.day if d else None, d.text if d else None, False)


# ---- the whole message ---------------------------------------------------------------------

@dataclass
class Reading:
    text: str                     # the cleaned message
    customer: Found
    kind: str | None              # an activity key, "plan" (only a next step), or None (nothing reported)
    person: Person | None
    decision_maker: bool
    step: NextStep | None
    signal: str | None            # "won" | "lost" | "advance:<stage>"
    note: str                     # what is kept as the activity's text
    reported: bool                # something happened (not only a plan)


def read(text: str, today: date, index: CustomerIndex, decision_titles: list[str],
         verb_kind: str | None = None, name_hint: str | None = None) -> Reading:
    """Read one message. `verb_kind` is the activity a leading command word named (拜访 -> visit);
    `name_hint` the word in the customer's place after it (matched by part, typo or initials too).
    Raises DateError for a date that does not exist (2月30日)."""
    cleaned = clean(text)
    found = _customer(cleaned, index, name_hint)
    rest = f"{cleaned[:found.start]}{cleaned[found.end:]}" if found.start >= 0 else cleaned
    pieces = _pieces(rest, today)
    step = next_step_of(rest, today, pieces)
    report, reported = _what_happened(rest, pieces, step, verb_kind)
    person = find_person(rest)
    if person is not None and step is not None and not step.marked and _in_future(rest, person, pieces):
        person = None  # 约了明天见王总: the person belongs to the plan, nobody was met yet
    if verb_kind and (reported or step is None):
        kind = verb_kind
    elif not reported and step is not None:
        kind = "plan"
    else:
        kind = kind_of(report) or (verb_kind if verb_kind else ("note" if reported or _content(report) else None))
    if kind == "plan":
        person = None
    signal = signal_of(report or rest) if reported else None
    note = cleaned[found.end:] if found.start == 0 else cleaned
    return Reading(cleaned, found, kind, person, is_decision_maker(person, decision_titles), step, signal,
                   note=note.strip(" ,:"), reported=reported)


def _customer(cleaned: str, index: CustomerIndex, name_hint: str | None) -> Found:
    """The customer named anywhere; the word after a command word, matched loosely, beats a name found
    only without its generic ending."""
    found = index.find(cleaned)
    if (found.kind == "none" or found.by_alias) and name_hint:
        hinted = index.matcher.match(name_hint)
        pos = cleaned.casefold().find(name_hint.casefold())
        end = pos + len(name_hint) if pos >= 0 else -1
        if hinted.kind in ("exact", "unique"):
            return Found("hint", hinted.candidates, pos, end)
        if hinted.kind == "ambiguous":
            return Found("ambiguous", hinted.candidates, pos, end)
    return found


def _what_happened(rest: str, pieces: list[Piece], step: NextStep | None, verb_kind: str | None) -> tuple[str, bool]:
    """The text of the clauses that report something done, and whether there are any (else: a plan)."""
    # 约了 right before the plan is part of the plan ("海底捞的采购总监约了明天见")
    past = [p for i, p in enumerate(pieces) if not p.future and not (
        verb_kind is None and _APPOINTMENT.search(p.text) and i + 1 < len(pieces) and pieces[i + 1].future)]
    report = " ".join(p.text for p in past)
    if step is not None and step.marked:
        report = _before_marker(rest)
        past = [Piece(report, [])]
    if verb_kind is not None:  # 电话 X 王经理出差 ...: with a command word, anything besides the plan reports
        reported = any(_PUNCT.sub("", p.text) for p in past) or (step is not None and step.marked)
    else:
        reported = any(_content(p.text) or _DONE.search(p.text) for p in past)
    if step is not None and not step.marked and any(
            p.reported and p.future for p in pieces if _step_text(p.text) == step.text):
        reported = True  # 王总说下周签合同: what the customer said is news, not only a plan
    if step is not None and not step.marked and any(
            p.future and p.reported and _step_text(p.text) != step.text
            and (_SAID.search(p.text) or i and _REPORTED.search(pieces[i - 1].text)) for i, p in enumerate(pieces)):
        reported = True  # 老板娘说下个月再订，明天送样: someone was spoken to, beside the rep's own plan
    return report, reported


_NOISE = re.compile(r"[\s,.;:!?\-]|今天|刚才|刚刚|刚|拜访|去|了|和|跟|给|的|客户|那边|这边|一下|一趟|我们|我|"
                    r"约好|约|出差|不在|没在|休假|任务|他们|他")
# something was done: 去了, 聊了, 跑了一趟, 黄了 (a clause too short to count as content still reports)
_PUNCT = re.compile(r"[\s,.;:!?\-~]+")
_DONE = re.compile(r"了(?!解)|过(?!去|来)|在$")
_APPOINTMENT = re.compile(r"(?:约了|约好了|约好|说好了)$")


def _content(text: str) -> bool:
    """Whether a clause says something beyond fillers and the people in it (店长 alone says nothing)."""
    left = _NOISE.sub("", text)
    if len(left) < 2:
        return False
    if len(left) > 8:
        return True
    for person in reversed(_people_spans(text)):
        text = text[:person[0]] + text[person[1]:]
    return len(_NOISE.sub("", text)) >= 2


def _people_spans(text: str) -> list[tuple[int, int]]:
    from .people import _people
    return [(p.start, p.end) for p in _people(text)]


def _before_marker(text: str) -> str:
    starts = [m.start() for marker in MARKERS for m in [marker.search(text)] if m]
    return text[:min(starts)] if starts else text


def _in_future(text: str, person: Person, pieces: list[Piece]) -> bool:
    pos = 0
    for p in pieces:
        at = text.find(p.text, pos)
        if at < 0:
            continue
        pos = at + len(p.text)
        if at <= person.start < at + len(p.text):
            return p.future and not p.reported
    return False


_NAME_END = re.compile(r"[\s,.;:!?]")


def name_hint(args: str) -> str:
    """The word in the customer's place after a command word: up to the first space or punctuation."""
    return _NAME_END.split((args or "").strip(), maxsplit=1)[0]


def says_something(reading: Reading) -> bool:
    """Whether the message reports or plans something (not only names a customer): a kind of activity,
    a next step, a person met or a stage signal."""
    return bool(reading.step or reading.person or reading.signal or reading.kind not in (None, "note"))
