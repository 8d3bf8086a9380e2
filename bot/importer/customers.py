"""Customers, contacts and deals from another CRM's export: the rows planned in memory against the teams'
current state (loaded once), written in chunks, one transaction per chunk (storage/imports.py).

A customer is found by its name within its owner's team. A new deal gets its stage history back-filled
from the file's dates (creation into the first stage, one change per known stage date, the current stage
at the date it was entered), so cycle times work from the first day. Importing the same file twice
changes nothing; a changed amount, stage, owner or status updates the deal (a stage move recorded once).
A crash part-way leaves whole chunks, and importing the file again finishes the job.
"""
from __future__ import annotations

import re
import sys
import unicodedata
from dataclasses import dataclass
from datetime import date, datetime, timezone
from decimal import Decimal, InvalidOperation

from handlers.parse import find_amount, initials_of, parse_amount
from rules.funnel import Funnel, Stage
from storage import imports
from storage.database import transaction

from .mapping import STATUS_WORDS, Mapping, pick_columns
from .read import Table, cell_text, label
from .report import Report

DM_TITLES_FALLBACK = ("总", "经理", "总监", "董事长", "CEO")
CHUNK_ROWS = 2000  # customer rows planned, then written in one transaction
DATE_FIELDS = {"created": "创建时间", "stage_entered": "阶段进入时间", "closed": "关闭时间"}
STATUS_NAMES = {"open": "进行中", "won": "赢单", "lost": "输单"}
MAX_LEN = {"customer": 100, "contact": 64, "title": 64}
MAX_AMOUNT = 10**13


class _Reject(Exception):
    """A row that cannot be imported; str() is the reason shown with its row number."""


class _Rep:
    __slots__ = ("id", "local_id", "name", "team_id")

    def __init__(self, id, local_id, name, team_id):
        self.id, self.local_id, self.name, self.team_id = id, local_id, name, team_id


class _Cust:
    __slots__ = ("id", "team_id", "owner_id", "name", "deal", "contacts", "first_row", "signature", "new")

    def __init__(self, id, team_id, owner_id, name, new=False):
        self.id, self.team_id, self.owner_id, self.name, self.new = id, team_id, owner_id, name, new
        self.deal: _Deal | None = None
        self.contacts: dict[str, _Contact] = {}
        self.first_row: int | None = None  # the row of this file that first named the customer
        self.signature: tuple | None = None


class _Deal:
    __slots__ = ("id", "cust", "owner_id", "amount", "stage", "status", "lost_reason", "created_at",
                 "stage_entered_at", "last_activity_at", "last_movement_at", "next_check_at", "closed_at")

    def __init__(self, **kw):
        for k in self.__slots__:
            setattr(self, k, kw.get(k))


class _Contact:
    __slots__ = ("cust", "name", "title", "dm", "created_at", "saved", "file_row", "file_title")

    def __init__(self, cust, name, title, dm, created_at=None, saved=False):
        self.cust, self.name, self.title, self.dm, self.created_at, self.saved = cust, name, title, dm, created_at, saved
        self.file_row: int | None = None  # the row of this file that first named the contact, and its title
        self.file_title = ""


def _better_deal(d: _Deal, old: _Deal) -> bool:
    """The deal an import compares with: the newest open one (as storage.deals.open_deal), else the latest."""
    if (d.status == "open") != (old.status == "open"):
        return d.status == "open"
    if d.status == "open":
        return (d.created_at, d.id) >= (old.created_at, old.id)
    return d.id > old.id


@dataclass
class _Row:
    customer: str
    owner: _Rep
    amount: int | None
    stage: Stage | None
    status: str | None
    lost_reason: str | None
    contact: str
    title: str
    created: datetime | None
    stage_entered: datetime | None
    closed: datetime | None
    stage_dates: list[tuple[Stage, datetime]]


_DATE = re.compile(
    r"(\d{4})\s*[-/.年]\s*(\d{1,2})\s*[-/.月]\s*(\d{1,2})\s*日?"
    r"(?:(?:\s+|T|\s*日\s*)(\d{1,2})\s*[:：时]\s*(\d{1,2})(?:\s*[:：分]\s*(\d{1,2})(?:\.\d+)?\s*秒?)?\s*分?)?"
    r"\s*(Z|[+-]\d{2}:?\d{2})?")
_PLAIN_NUMBER = re.compile(r"[+]?(\d{1,3}(,\d{3})+|\d+)(\.\d+)?")


class CustomerImport:
    def __init__(self, funnel: Funnel, now: datetime, tz, table: Table, labels: list[str], mapping: Mapping | None,
                 report: Report, dry_run: bool, show_progress: bool):
        self.funnel, self.now, self.tz, self.table, self.report = funnel, now, tz, table, report
        self.dry_run, self.show_progress = dry_run, show_progress
        self.mapping = mapping or Mapping()
        index: dict[str, int] = {}
        for i, lab in enumerate(labels):
            index.setdefault(lab, i)
        if mapping is not None:
            self.col = {f: index[label(c)] for f, c in mapping.columns.items()}
            dates = mapping.stage_dates
        else:
            self.col = pick_columns(labels)
            dates = {}
        self.date_cols = [(s, index[label(dates[s.key])]) for s in funnel.stages if s.key in dates]
        self.titles = tuple(t.lower() for t in (funnel.decision_titles or DM_TITLES_FALLBACK))
        self.fold = imports.names_fold_case()  # MySQL/MariaDB compare names case-insensitively
        self._owner_cache: dict[str, _Rep | str] = {}
        self._stage_cache: dict[str, tuple[Stage, str | None] | str] = {}
        self._date_cache: dict[object, datetime | str] = {}
        self._dm_cache: dict[str, bool] = {}
        self.customers: dict[tuple[int, str], _Cust] = {}
        self._pending_clear()
        if "phone" in self.col:
            header = table.header[self.col["phone"]]
            report.notes.append(f"电话列「{header}」未导入: 联系人暂无电话字段")

    # -- normalising and lookups -----------------------------------------------------------------

    def _key(self, name: str) -> str:
        if not self.fold:
            return name
        decomposed = unicodedata.normalize("NFKD", name)
        return "".join(c for c in decomposed if not unicodedata.combining(c)).casefold()

    def _load(self) -> None:
        """Reps, and the customers, deals and contacts of the teams the file's owners belong to."""
        self.reps = [_Rep(*r) for r in imports.reps()]
        self.by_local = {r.local_id: r for r in self.reps}
        self.by_local_ci: dict[str, list[_Rep]] = {}
        self.by_name: dict[str, list[_Rep]] = {}
        for r in self.reps:
            self.by_local_ci.setdefault(r.local_id.casefold(), []).append(r)
            self.by_name.setdefault(label(r.name), []).append(r)
        oc = self.col.get("owner")
        teams = set()
        for _, cells in self.table.rows:
            rep = self._owner(cell_text(cells[oc]) if oc < len(cells) else "")
            if isinstance(rep, _Rep):
                teams.add(rep.team_id)
        if not teams:
            return
        teams = sorted(teams)
        by_id: dict[int, _Cust] = {}
        for cid, team_id, name, owner_id in imports.customers(teams):
            c = _Cust(cid, team_id, owner_id, name)
            self.customers[(team_id, self._key(name))] = c
            by_id[cid] = c
        # a customer's deal: its newest open deal, else its latest one
        for row in imports.deals(teams):
            c = by_id.get(row[1])
            if c is None:
                continue
            d = _Deal(id=row[0], cust=c, owner_id=row[2], amount=row[3], stage=row[4], status=row[5],
                      lost_reason=row[6], created_at=row[7], stage_entered_at=row[8], last_activity_at=row[9],
                      last_movement_at=row[10], next_check_at=row[11], closed_at=row[12])
            if c.deal is None or _better_deal(d, c.deal):
                c.deal = d
        for cid, name, title, dm in imports.contacts(teams):
            c = by_id.get(cid)
            if c is not None:
                c.contacts.setdefault(self._key(name), _Contact(c, name, title or "", bool(dm), saved=True))

    def _owner(self, text: str) -> _Rep | str:
        hit = self._owner_cache.get(text)
        if hit is not None:
            return hit
        if not text:
            out: _Rep | str = "负责人为空"
        elif text in self.by_local:
            out = self.by_local[text]
        else:
            reps = self.by_local_ci.get(text.casefold()) or self.by_name.get(label(text)) or []
            if len(reps) == 1:
                out = reps[0]
            elif reps:
                out = (f"负责人 {text!r} 对应多名销售 ({', '.join(r.local_id for r in reps)}), "
                       f"请改用 local_id")
            else:
                out = f"负责人 {text!r} 不在花名册中, 请先导入花名册 (按 local_id 或姓名查找)"
        self._owner_cache[text] = out
        return out

    def _stage(self, text: str) -> tuple[Stage, str | None]:
        hit = self._stage_cache.get(text)
        if hit is None:
            lab = label(text)
            hit = self.mapping.stages.get(lab)
            if hit is None:
                s = self.funnel.find_stage(text)
                if (s is None or s.closing) and (lab in STATUS_WORDS["won"] or lab in STATUS_WORDS["lost"]):
                    hit = (self.funnel.closing, "won" if lab in STATUS_WORDS["won"] else "lost")
                elif s is not None:
                    hit = (s, None)
                else:
                    known = ", ".join(s.name for s in self.funnel.stages)
                    extra = ", ".join(self.mapping.stages)
                    hit = (f"阶段 {text!r} 不存在; 已知阶段: {known}"
                           + (f"; 映射文件 [stages] 中有: {extra}" if extra else "; 可在映射文件 [stages] 中对应"))
            self._stage_cache[text] = hit
        if isinstance(hit, str):
            raise _Reject(hit)
        return hit

    def _status(self, text: str) -> str | None:
        if not text:
            return None
        lab = label(text)
        if lab in self.mapping.status:
            return self.mapping.status[lab]
        for status, words in STATUS_WORDS.items():
            if lab in words:
                return status
        raise _Reject(f"状态 {text!r} 无法识别: 进行中 / 赢单 / 输单 (或在映射文件 [status] 中对应)")

    def _date(self, value, what: str) -> datetime | None:
        if value is None or value == "":
            return None
        hit = self._date_cache.get(value)
        if hit is None:
            hit = self._parse_date(value)
            self._date_cache[value] = hit
        if isinstance(hit, str):
            raise _Reject(f"{what} {hit}")
        return hit

    def _parse_date(self, value) -> datetime | str:
        """Naive UTC from a local date: 2026-10-01, 2026/10/01, 2026-10-01 14:30, 2026年10月1日, an Excel date
        cell, or an Excel serial number; an explicit offset (Z, +08:00) is honoured. A str is the error."""
        local = None
        if isinstance(value, datetime):
            local = value
        elif isinstance(value, date):
            local = datetime(value.year, value.month, value.day)
        elif isinstance(value, (int, float)) and not isinstance(value, bool):
            if 1 <= value < 2958466:
                from openpyxl.utils.datetime import from_excel
                local = from_excel(value)
        else:
            text = unicodedata.normalize("NFKC", str(value)).strip()
            m = _DATE.fullmatch(text)
            if m is None and re.fullmatch(r"(19|20)\d{6}", text):  # 20261001
                m = _DATE.fullmatch(f"{text[:4]}-{text[4:6]}-{text[6:]}")
            if m is None:
                if _PLAIN_NUMBER.fullmatch(text) and 20000 <= float(text.replace(",", "")) < 2958466:
                    from openpyxl.utils.datetime import from_excel
                    local = from_excel(float(text.replace(",", "")))
                else:
                    return f"{value!r} 不是日期 (例: 2026-10-01, 2026/10/01, 2026-10-01 14:30)"
            else:
                y, mo, d, hh, mi, ss, off = m.groups()
                try:
                    local = datetime(int(y), int(mo), int(d), int(hh or 0), int(mi or 0), int(ss or 0))
                except ValueError:
                    return f"{value!r} 不是有效日期"
                if off:
                    off = "+00:00" if off == "Z" else off
                    if ":" not in off:
                        off = off[:3] + ":" + off[3:]
                    aware = datetime.fromisoformat(local.isoformat() + off)
                    utc = aware.astimezone(timezone.utc).replace(tzinfo=None)
                    return utc if utc <= self.now else f"{value!r} 晚于现在"
        if local is None:
            return f"{value!r} 不是日期"
        utc = local.replace(tzinfo=self.tz).astimezone(timezone.utc).replace(tzinfo=None, microsecond=0)
        if utc > self.now:
            return f"{value!r} 晚于现在"
        return utc

    def _amount(self, value) -> int | None:
        if value is None or value == "":
            return None
        unit = self.mapping.amount_unit
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            amount = Decimal(str(value)) * unit
        else:
            text = cell_text(value)
            plain = text.replace("¥", "").replace("￥", "").replace("元", "").strip()
            if _PLAIN_NUMBER.fullmatch(plain):
                try:
                    amount = Decimal(plain.replace(",", "")) * unit
                except InvalidOperation:
                    raise _Reject(f"金额 {text!r} 无法识别") from None
            else:
                parsed = parse_amount(text)
                if parsed is None:
                    parsed, _ = find_amount(text)
                if parsed is None:
                    raise _Reject(f"金额 {text!r} 无法识别")
                amount = Decimal(parsed)
        if amount < 0 or amount >= MAX_AMOUNT:
            raise _Reject(f"金额 {cell_text(value)!r} 超出范围")
        return int(amount.to_integral_value())

    def _is_dm(self, title: str) -> bool:
        hit = self._dm_cache.get(title)
        if hit is None:
            t = title.lower()
            hit = self._dm_cache[title] = bool(title) and any(x in t for x in self.titles)
        return hit

    # -- one row ---------------------------------------------------------------------------------

    def _parse(self, cells: list) -> _Row:
        col = self.col

        def raw(f):
            i = col.get(f)
            return cells[i] if i is not None and i < len(cells) else None

        def text(f):
            return cell_text(raw(f))

        name = text("customer")
        if not name:
            raise _Reject("客户名称为空")
        for f, limit in MAX_LEN.items():
            v = name if f == "customer" else text(f)
            if len(v) > limit:
                raise _Reject(f"{'客户名称' if f == 'customer' else '联系人' if f == 'contact' else '职位'}"
                              f"超过 {limit} 个字符: {v[:20]}…")
        owner = self._owner(text("owner"))
        if isinstance(owner, str):
            raise _Reject(owner)
        amount = self._amount(raw("amount"))
        stage, status = None, None
        if text("stage"):
            stage, status = self._stage(text("stage"))
        given = self._status(text("status"))
        if given is not None:
            status = given
        if stage is not None and stage.closing and status not in ("won", "lost"):
            raise _Reject(f"阶段 {text('stage')!r} 是结束阶段 ({stage.name}): 需要状态列写明 赢单/输单, "
                          f"或在映射文件 [stages] 中对应为 \"won\" / \"lost\"")
        reason = text("lost_reason") or None
        created = self._date(raw("created"), DATE_FIELDS["created"])
        entered = self._date(raw("stage_entered"), DATE_FIELDS["stage_entered"])
        closed = self._date(raw("closed"), DATE_FIELDS["closed"])
        stage_dates = []
        for s, i in self.date_cols:
            at = self._date(cells[i] if i < len(cells) else None, f"{s.name}日期")
            if at is not None:
                if s.closing:
                    closed = closed or at
                else:
                    stage_dates.append((s, at))
        return _Row(name, owner, amount, stage, status, reason, text("contact"), text("title"),
                    created, entered, closed, stage_dates)

    def _local(self, at: datetime) -> str:
        t = at.replace(tzinfo=timezone.utc).astimezone(self.tz)
        return t.strftime("%Y-%m-%d") if (t.hour, t.minute) == (0, 0) else t.strftime("%Y-%m-%d %H:%M")

    def _history(self, r: _Row) -> list[tuple[str, datetime]]:
        """The stage changes of a new deal: into the first stage at its creation, into each stage with a
        known date in funnel order, into the current stage when it was entered (and closed, if closed)."""
        first, closing = self.funnel.first, self.funnel.closing
        closed = r.status in ("won", "lost")
        current = r.stage if r.stage is not None and not r.stage.closing else (None if closed else first)
        events: list[tuple[Stage, datetime, str]] = []
        created = r.created or next((at for s, at in r.stage_dates if s is first), None)
        if created:
            events.append((first, created, DATE_FIELDS["created"]))
        limit = current.order if current is not None else closing.order
        for s, at in r.stage_dates:
            if first.order < s.order < limit:
                events.append((s, at, f"{s.name}日期"))
        if current is not None and (current is not first or not events):
            at = r.stage_entered or next((t for s, t in r.stage_dates if s is current), None) or (
                None if closed else self.now)
            if current is first and not events:
                at = at or r.closed or self.now
            if at is not None:
                events.append((current, at, DATE_FIELDS["stage_entered"]))
        if closed:
            events.append((closing, r.closed or r.stage_entered or self.now,
                           DATE_FIELDS["closed"] if r.closed else DATE_FIELDS["stage_entered"]))
        for i in range(1, len(events)):
            (_, a, la), (s, b, lb) = events[i - 1], events[i]
            if b < a:
                if self._local(a)[:10] != self._local(b)[:10]:
                    raise _Reject(f"日期顺序不对: {la} {self._local(a)} 晚于 {lb} {self._local(b)}")
                events[i] = (s, a, lb)  # the same day, one with a time and one without: keep the order
        return [(s.key, at) for s, at, _ in events]

    def _row(self, n: int, r: _Row) -> tuple[str, str]:
        """Plan one valid row against the in-memory state: (outcome, what changes). Raises _Reject."""
        key = (r.owner.team_id, self._key(r.customer))
        cust = self.customers.get(key)
        sig = (r.owner.id, r.amount, r.stage.key if r.stage else None, r.status, r.lost_reason)
        if cust is not None and cust.first_row is not None:
            names = ("负责人", "金额", "阶段", "状态", "输单原因")
            diff = [names[i] for i, (a, b) in enumerate(zip(sig, cust.signature))
                    if a is not None and b is not None and a != b]
            if diff:
                raise _Reject(f"客户 {r.customer} 在第 {cust.first_row} 行已出现, 两行的{'/'.join(diff)}不一致")
        if r.contact and r.title and cust is not None:
            c = cust.contacts.get(self._key(r.contact))
            if c is not None and c.file_title and c.file_title != r.title:
                raise _Reject(f"联系人 {r.contact} 在第 {c.file_row} 行的职位是 {c.file_title!r}, 此行是 {r.title!r}")
        changes: list[str] = []
        outcome = "unchanged"
        deal = cust.deal if cust is not None else None
        if deal is None:
            events = self._history(r)  # may reject: before anything is changed
            if cust is None:
                cust = _Cust(None, r.owner.team_id, r.owner.id, r.customer, new=True)
                self.customers[key] = cust
                self.new_customers.append((cust, events[0][1]))
            self._new_deal(cust, r, events)
            outcome = "created"
            d = cust.deal
            amount = f", {d.amount:,} 元" if d.amount else ""
            status = f", {STATUS_NAMES[d.status]}" if d.status != "open" else ""
            changes.append(f"{r.customer} ({self.funnel.stage(d.stage).name}{status}{amount}, "
                           f"负责人 {r.owner.local_id}, 阶段记录 {len(events)} 条)")
        else:
            changes += self._update_deal(cust, deal, r)
        if cust.first_row is None:
            cust.first_row, cust.signature = n, sig
        if r.contact:
            changes += self._contact(n, cust, r)
        if outcome == "unchanged" and changes:
            outcome = "updated"
            changes.insert(0, r.customer + ":")
        return outcome, " ".join(changes) if outcome == "updated" else "; ".join(changes)

    def _new_deal(self, cust: _Cust, r: _Row, events: list[tuple[str, datetime]]) -> None:
        closed = r.status in ("won", "lost")
        last = events[-1][1]
        d = _Deal(id=None, cust=cust, owner_id=r.owner.id, amount=r.amount or 0, stage=events[-1][0],
                  status=r.status if closed else "open", lost_reason=r.lost_reason if r.status == "lost" else None,
                  created_at=events[0][1], stage_entered_at=last, last_activity_at=None, last_movement_at=last,
                  next_check_at=None if closed else last, closed_at=last if closed else None)
        cust.deal = d
        self.new_deals.append(d)
        prev = None
        for i, (key, at) in enumerate(events):
            note = "import"
            if closed and i == len(events) - 1:
                note = f"{d.status}: {d.lost_reason}" if d.lost_reason else d.status
            self.new_changes.append((d, prev, key, r.owner.id, at, note))
            prev = key

    def _update_deal(self, cust: _Cust, d: _Deal, r: _Row) -> list[str]:
        changes: list[str] = []
        fields: set[str] = set()
        closing = self.funnel.closing
        wants_closed = r.status in ("won", "lost")
        wants_open_stage = r.stage is not None and not r.stage.closing and r.status in (None, "open")
        if d.status != "open" and (r.status == "open" or (wants_open_stage and r.status is None)):
            raise _Reject(f"客户 {r.customer} 的商机已{STATUS_NAMES[d.status]}, 文件中仍为进行中; 未改动 "
                          f"(如需重新跟进, 请在聊天中新建商机)")
        # decide everything first, then change the state
        move_to = r.stage if (d.status == "open" and wants_open_stage and r.stage.key != d.stage) else None
        close = d.status == "open" and wants_closed
        if move_to is not None:
            at = r.stage_entered if r.stage_entered and r.stage_entered >= d.stage_entered_at else self.now
            old = self.funnel.stage(d.stage) if any(s.key == d.stage for s in self.funnel.stages) else None
            steps = [(s.key, t) for s, t in r.stage_dates
                     if old is not None and old.order < s.order < move_to.order and d.stage_entered_at <= t <= at]
            prev = d.stage
            for key, t in steps + [(move_to.key, at)]:
                self.new_changes.append((d, prev, key, r.owner.id, t, "import"))
                prev = key
            changes.append(f"阶段 {self._stage_name(d.stage)}→{move_to.name};")
            self._moved(d, move_to.key, at)
            fields |= {"stage", "stage_entered_at", "last_movement_at", "next_check_at"}
        if close:
            at = r.closed or r.stage_entered
            at = at if at and at >= d.stage_entered_at else self.now
            reason = r.lost_reason if r.status == "lost" else None
            note = f"{r.status}: {reason}" if reason else r.status
            self.new_changes.append((d, d.stage, closing.key, r.owner.id, at, note))
            changes.append(f"{self._stage_name(d.stage)}→{STATUS_NAMES[r.status]};")
            d.stage, d.status, d.lost_reason = closing.key, r.status, reason
            d.stage_entered_at = d.last_movement_at = d.closed_at = at
            d.next_check_at = None
            fields |= {"stage", "status", "lost_reason", "stage_entered_at", "last_movement_at", "closed_at",
                       "next_check_at"}
        elif d.status != "open" and wants_closed:
            if r.status != d.status:
                changes.append(f"状态 {STATUS_NAMES[d.status]}→{STATUS_NAMES[r.status]};")
                d.status = r.status
                fields.add("status")
            reason = r.lost_reason if r.status == "lost" else None
            if reason is not None and reason != d.lost_reason or r.status == "won" and d.lost_reason:
                changes.append(f"输单原因 → {reason or '无'};")
                d.lost_reason = reason
                fields.add("lost_reason")
        if r.amount is not None and r.amount != d.amount:
            changes.append(f"金额 {d.amount:,}→{r.amount:,};")
            d.amount = r.amount
            fields.add("amount")
        if r.owner.id != d.owner_id:
            changes.append(f"负责人 → {r.owner.local_id};")
            d.owner_id = r.owner.id
            fields.add("owner_id")
        if r.owner.id != cust.owner_id:
            cust.owner_id = r.owner.id
            if not cust.new:
                self.customer_updates[cust] = True
        if fields and d.id is not None:  # a deal not yet inserted is inserted as it now is
            self.deal_updates.setdefault(d, set()).update(fields)
        return changes

    def _stage_name(self, key: str) -> str:
        try:
            return self.funnel.stage(key).name
        except KeyError:
            return key

    def _moved(self, d: _Deal, key: str, at: datetime) -> None:
        d.stage, d.stage_entered_at = key, at
        d.last_movement_at = max(at, d.last_activity_at) if d.last_activity_at else at
        d.next_check_at = d.last_movement_at

    def _contact(self, n: int, cust: _Cust, r: _Row) -> list[str]:
        """Add the row's contact, or give a known one the row's title (a decision-maker stays one)."""
        dm = self._is_dm(r.title)
        ck = self._key(r.contact)
        c = cust.contacts.get(ck)
        if c is None:
            c = _Contact(cust, r.contact, r.title, dm, self.now)
            c.file_row, c.file_title = n, r.title
            cust.contacts[ck] = c
            self.new_contacts.append(c)
            return [f"联系人 {r.contact}{' (' + r.title + ')' if r.title else ''}{' 决策人' if dm else ''};"]
        if c.file_row is None:
            c.file_row = n
        if r.title and not c.file_title:
            c.file_title = r.title  # later rows of this file must agree with it (see _row)
        out = []
        if r.title and r.title != c.title:
            out.append(f"联系人 {c.name} 职位 {c.title or '无'}→{r.title};")
            c.title = r.title
        if dm and not c.dm:
            c.dm = True
            out.append(f"联系人 {c.name} 为决策人;")
        if out and c.saved:
            self.contact_updates[c] = True
        return out

    # -- writing ---------------------------------------------------------------------------------

    def _pending_clear(self) -> None:
        self.new_customers: list[tuple[_Cust, datetime]] = []  # initials are computed when written
        self.new_deals: list[_Deal] = []
        self.new_changes: list[tuple[_Deal, str | None, str, int, datetime, str]] = []
        self.new_contacts: list[_Contact] = []
        self.deal_updates: dict[_Deal, set[str]] = {}
        self.contact_updates: dict[_Contact, bool] = {}
        self.customer_updates: dict[_Cust, bool] = {}

    def _flush(self) -> None:
        if self.dry_run:
            self._pending_clear()
            return
        with transaction():
            if self.new_customers:
                imports.insert_customers([(c.team_id, c.owner_id, c.name, initials_of(c.name)[:100], "C", at, False)
                                          for c, at in self.new_customers])
                by_team: dict[int, list[_Cust]] = {}
                for c, _ in self.new_customers:
                    by_team.setdefault(c.team_id, []).append(c)
                for team_id, custs in by_team.items():
                    wanted = {self._key(c.name): c for c in custs}
                    for cid, name in imports.customer_ids(team_id, [c.name for c in custs]):
                        c = wanted.get(self._key(name))
                        if c is not None:
                            c.id = cid
                for c, _ in self.new_customers:
                    c.new = False
            if self.new_deals:
                imports.insert_deals([(d.cust.id, d.owner_id, d.cust.team_id, d.amount, d.stage, d.status,
                                       d.lost_reason, d.created_at, d.stage_entered_at, d.last_movement_at,
                                       d.closed_at) for d in self.new_deals])
                wanted = {d.cust.id: d for d in self.new_deals}
                for did, cid in imports.deal_ids(list(wanted)):
                    wanted[cid].id = did  # the customer's newest deal is the one just inserted
                imports.insert_first_looks([(d.id, d.next_check_at) for d in self.new_deals
                                            if d.next_check_at is not None])
            if self.new_changes:
                imports.insert_stage_changes([(d.id, a, b, rep, at, note)
                                              for d, a, b, rep, at, note in self.new_changes])
            if self.new_contacts:
                imports.insert_contacts([(c.cust.id, c.name, c.title, c.dm, c.created_at) for c in self.new_contacts])
                for c in self.new_contacts:
                    c.saved = True
            for d, fields in self.deal_updates.items():
                if d.id is None or not fields:
                    continue
                imports.update_deal(d.id, {f: getattr(d, f) for f in fields})
            for c in self.contact_updates:
                imports.update_contact(c.cust.id, c.name, c.title, c.dm)
            for c in self.customer_updates:
                imports.set_customer_owner(c.id, c.owner_id)
        self._pending_clear()

    def run(self) -> None:
        self._load()
        rows, report = self.table.rows, self.report
        bar = None
        if self.show_progress:
            from tqdm import tqdm
            bar = tqdm(total=len(rows), desc="试运行" if self.dry_run else "导入", unit="行", file=sys.stderr,
                       mininterval=0.5)
        try:
            for start in range(0, len(rows), CHUNK_ROWS):
                chunk = rows[start:start + CHUNK_ROWS]
                for n, cells in chunk:
                    try:
                        outcome, what = self._row(n, self._parse(cells))
                    except _Reject as e:
                        report.reject(n, str(e))
                        continue
                    setattr(report, outcome, getattr(report, outcome) + 1)
                    if outcome != "unchanged":
                        report.changes.append((n, outcome, what))
                self._flush()
                if bar is not None:
                    bar.update(len(chunk))
        finally:
            if bar is not None:
                bar.close()
