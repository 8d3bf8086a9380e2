"""The manager's numbers (PRODUCT.md, "What the manager measures"), from the stored history.

Pure: plain data in (rows that storage/kpi_queries.py fetches with a few set-based queries), numbers out.
No I/O, no clock: the caller passes the period and `until` (the period end, or now when earlier).

Definitions
- follow-up interval: per customer with >= 2 activities in the period, the mean gap in days between
  consecutive activities; the team figure is the mean over those customers, a rep's over their own.
  The mean of consecutive gaps telescopes to (last - first) / (n - 1), so storage hands over
  (count, first, last) per customer instead of every activity.
- high-health conversion: of the deals closed (won or lost) in the period, the share won, split by
  whether the customer's health score on the (local) day the deal closed was >= 75; with no score
  that day the customer's high-intent flag decides.
- intervention ahead of time (提前干预率, the reference case's figure): of the deals lost in the period
  plus the deals stalled at its end (open and at red: no movement for the stage's red threshold, per
  rules/stale.silence), the share where a manager acted before the loss (at <= closed_at, or before the
  period end for a stalled deal): took it over (介入), nudged the rep (催办), gave it to another rep
  (改派), or answered the rep's call for help by logging on the deal themselves.
- warning coverage (预警覆盖率, what 提前干预率 used to measure): of the same deals, the share that had
  an orange or red warning before.
- follow-up interval: counts days with activity, not activities (five logs in a day are one day), so
  the mean gap is at least a day.
- sales cycle: mean days from created to won over the deals won in the period; compression against a
  baseline period = (before - after) / before, as a percentage with one decimal.
- stage flow: for each open stage, the deals in it during the period, how many moved on (to a later
  stage, or won from it), were lost or went back, the mean days of the stays that ended in the period,
  the mean age of the stays still running at its end, and the deals stalled there. Conversion = moved
  on / in the stage. "Where deals stall" ranks stages by stalled deals, then by that waiting age.
- target attainment: won amount in the target's period / the target amount. A team without a target
  of its own is measured against the sum of its reps' own targets (when any is set); each rep with a
  target of their own: the amount won on the deals they own in the target's period / that target.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from statistics import fmean

from .funnel import Funnel
from .localtime import to_local, to_utc
from .stale import silence

HIGH_HEALTH = 75
DAY = 86400.0


# -- periods -------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Period:
    kind: str  # "quarter" | "month" | "week" | "days"
    start: date  # local, inclusive
    end: date  # local, exclusive

    @property
    def key(self) -> str:
        if self.kind == "quarter":
            return f"{self.start.year}-Q{(self.start.month - 1) // 3 + 1}"
        if self.kind == "month":
            return f"{self.start.year}-{self.start.month:02d}"
        if self.kind == "week":
            y, w, _ = self.start.isocalendar()
            return f"{y}-W{w:02d}"
        return f"{self.start.isoformat()}..{(self.end - timedelta(days=1)).isoformat()}"

    @property
    def label(self) -> str:
        last = self.end - timedelta(days=1)
        if self.kind == "quarter":
            return f"{self.start.year}年第{(self.start.month - 1) // 3 + 1}季度"
        if self.kind == "month":
            return f"{self.start.year}年{self.start.month}月"
        return f"{self.start.month}月{self.start.day}日-{last.month}月{last.day}日"

    @property
    def days(self) -> int:
        return (self.end - self.start).days

    def previous(self) -> "Period":
        """The period of the same kind just before this one (a quarter before a quarter, ...)."""
        if self.kind == "quarter":
            return quarter_of(self.start - timedelta(days=1))
        if self.kind == "month":
            return month_of(self.start - timedelta(days=1))
        return Period(self.kind, self.start - timedelta(days=self.days), self.start)

    @property
    def target_key(self) -> str:
        """The target a period is measured against: its own for a quarter or month, else its quarter's."""
        return self.key if self.kind in ("quarter", "month") else quarter_of(self.start).key

    def bounds(self, tz) -> tuple[datetime, datetime]:
        """[start, end) as naive UTC, the way times are stored."""
        return local_midnight(self.start, tz), local_midnight(self.end, tz)


def local_midnight(d: date, tz) -> datetime:
    return to_utc(datetime.combine(d, time(0)), tz)


def week_of(d: date) -> Period:
    start = d - timedelta(days=d.weekday())
    return Period("week", start, start + timedelta(days=7))


def month_of(d: date) -> Period:
    start = d.replace(day=1)
    end = date(d.year + (d.month == 12), d.month % 12 + 1, 1)
    return Period("month", start, end)


def quarter_of(d: date) -> Period:
    q = (d.month - 1) // 3
    start = date(d.year, 3 * q + 1, 1)
    end = date(d.year + (q == 3), (3 * q + 3) % 12 + 1, 1)
    return Period("quarter", start, end)


def last_days(today: date, n: int) -> Period:
    """The `n` days up to and including today."""
    return Period("days", today - timedelta(days=n - 1), today + timedelta(days=1))


_QUARTER = re.compile(r"^(\d{4})\s*-?\s*q([1-4])$|^(\d{4})年第?([1-4一二三四])季度?$")
_MONTH = re.compile(r"^(\d{4})\s*[-/.年]\s*(\d{1,2})月?$")
_WEEK = re.compile(r"^(\d{4})\s*-?\s*w(\d{1,2})$")
MIN_YEAR, MAX_YEAR = 1970, 2999  # a period, its baseline and its end all stay well inside `date`
_CN_DIGIT = {"一": 1, "二": 2, "三": 3, "四": 4}
_RELATIVE = {
    "this week": ("week", 0), "本周": ("week", 0), "这周": ("week", 0),
    "last week": ("week", -1), "上周": ("week", -1),
    "this month": ("month", 0), "本月": ("month", 0), "这个月": ("month", 0),
    "last month": ("month", -1), "上月": ("month", -1), "上个月": ("month", -1),
    "this quarter": ("quarter", 0), "本季度": ("quarter", 0), "这个季度": ("quarter", 0),
    "last quarter": ("quarter", -1), "上季度": ("quarter", -1), "上个季度": ("quarter", -1),
}
_RELATIVE.update({k.replace(" ", "-"): v for k, v in list(_RELATIVE.items()) if " " in k})


def parse_period(text: str, today: date) -> Period | None:
    """"2026-Q4", "2026-11", "2026-W48", "this week", "last week" (and 本周/上周/本月/上月/本季度/上季度)
    relative to `today` (local). None when the text is not a period."""
    t = " ".join((text or "").strip().lower().split())
    if t in _RELATIVE:
        kind, back = _RELATIVE[t]
        p = {"week": week_of, "month": month_of, "quarter": quarter_of}[kind](today)
        return p.previous() if back else p
    if m := _QUARTER.match(t):
        year = int(m[1] or m[3])
        q = int(m[2]) if m[2] else (_CN_DIGIT.get(m[4]) or int(m[4]))
        return quarter_of(date(year, 3 * q - 2, 1)) if MIN_YEAR <= year <= MAX_YEAR else None
    if m := _MONTH.match(t):
        year, month = int(m[1]), int(m[2])
        return month_of(date(year, month, 1)) if 1 <= month <= 12 and MIN_YEAR <= year <= MAX_YEAR else None
    if m := _WEEK.match(t):
        if not MIN_YEAR <= int(m[1]) <= MAX_YEAR:
            return None
        try:
            return week_of(date.fromisocalendar(int(m[1]), int(m[2]), 1))
        except ValueError:
            return None
    return None


# -- the rows storage hands over -------------------------------------------------------------------

@dataclass(frozen=True)
class DealRow:
    id: int
    customer_id: int
    owner_id: int
    amount: int
    status: str  # open | won | lost
    stage: str  # the current stage
    created_at: datetime
    closed_at: datetime | None
    last_movement_at: datetime
    next_step_due: datetime | None = None
    high_intent: bool = False  # the customer's current flag: the fallback when no score that day
    lost_reason: str | None = None


@dataclass(frozen=True)
class StageMove:
    deal_id: int
    from_stage: str | None
    to_stage: str
    at: datetime


@dataclass(frozen=True)
class CustomerActivity:
    """A customer's activities in the period: how many, the first and the last."""
    customer_id: int
    owner_id: int
    count: int
    first_at: datetime
    last_at: datetime


@dataclass
class KpiInput:
    start: datetime  # naive UTC, inclusive
    until: datetime  # naive UTC, exclusive: the period end, or now when that is earlier
    deals: list[DealRow] = field(default_factory=list)  # every deal alive at some point in [start, until)
    moves: list[StageMove] = field(default_factory=list)  # their stage changes before `until`
    activity: list[CustomerActivity] = field(default_factory=list)
    last_activity: dict[int, datetime] = field(default_factory=dict)  # deal -> last activity before until
    first_flag: dict[int, datetime] = field(default_factory=dict)  # deal -> first orange/red warning
    first_action: dict[int, datetime] = field(default_factory=dict)  # deal -> first manager action
    scores: dict[tuple[int, date], int] = field(default_factory=dict)  # (customer, local day) -> score
    target_key: str | None = None  # e.g. "2026-Q4": the team target measured against, when one is set
    target_amount: int | None = None
    target_won: int = 0  # won amount in the target's period up to `until`
    target_reps: int = 0  # reps whose own targets make up target_amount (a team without its own target)
    rep_targets: dict[int, int] = field(default_factory=dict)  # rep -> their own target for target_key
    rep_won: dict[int, int] = field(default_factory=dict)  # rep -> amount won on their deals, same window


# -- the numbers -----------------------------------------------------------------------------------

@dataclass(frozen=True)
class FollowUp:
    mean_days: float | None
    customers: int
    by_rep: dict[int, tuple[float, int]]  # rep -> (mean days, customers)


@dataclass(frozen=True)
class HealthConversion:
    high_won: int
    high_closed: int
    rest_won: int
    rest_closed: int

    @property
    def high_rate(self) -> float | None:
        return ratio(self.high_won, self.high_closed)

    @property
    def rest_rate(self) -> float | None:
        return ratio(self.rest_won, self.rest_closed)


@dataclass(frozen=True)
class Intervention:
    lost: int
    stalled: int
    flagged_lost: int
    flagged_stalled: int
    acted_lost: int = 0
    acted_stalled: int = 0

    @property
    def risky(self) -> int:
        return self.lost + self.stalled

    @property
    def flagged(self) -> int:
        return self.flagged_lost + self.flagged_stalled

    @property
    def acted(self) -> int:
        return self.acted_lost + self.acted_stalled

    @property
    def rate(self) -> float | None:
        """提前干预率: the share of lost or stalled deals where a manager acted before the loss."""
        return ratio(self.acted, self.risky)

    @property
    def warned_rate(self) -> float | None:
        """预警覆盖率: the share of lost or stalled deals that had an orange or red warning before."""
        return ratio(self.flagged, self.risky)


@dataclass(frozen=True)
class Cycle:
    mean_days: float | None
    deals: int


@dataclass(frozen=True)
class StageFlow:
    key: str
    name: str
    order: int
    present: int  # deals in the stage at some point of the period
    entered: int
    advanced: int  # moved on to a later stage, or won from it
    lost: int
    back: int  # moved to an earlier stage
    avg_days: float | None  # mean length of the stays that ended in the period
    waiting: int  # deals still in the stage at the end
    waiting_days: float | None  # their mean age in the stage at the end
    stalled: int  # of those, at red

    @property
    def conversion(self) -> float | None:
        return ratio(self.advanced, self.present)


@dataclass(frozen=True)
class Attainment:
    key: str
    target: int
    won: int
    summed_reps: int = 0  # > 0: no team target; the target is the sum of this many reps' own targets

    @property
    def rate(self) -> float | None:
        return ratio(self.won, self.target)


@dataclass(frozen=True)
class Kpis:
    followup: FollowUp
    health: HealthConversion
    intervention: Intervention
    cycle: Cycle
    stages: list[StageFlow]
    won: tuple[int, int]  # (deals, amount) won in the period
    lost: tuple[int, int]
    created: int  # deals created in the period
    open_at_end: int
    attainment: Attainment | None
    rep_attainment: dict[int, Attainment]  # rep -> against their own target (only reps with one)
    lost_reasons: tuple = ()  # ((reason, deals, amount), ...) of the deals lost in the period, most first

    @property
    def close_rate(self) -> float | None:
        return ratio(self.won[0], self.won[0] + self.lost[0])

    def stalls(self, n: int = 3) -> list[StageFlow]:
        return stall_ranking(self.stages, n)


def ratio(a: float, b: float) -> float | None:
    return a / b if b else None


def compression(before: float | None, after: float | None) -> float | None:
    """Sales-cycle compression in percent, one decimal: (before - after) / before. 28 -> 19 days: 32.1."""
    if not before or after is None:
        return None
    return round((before - after) / before * 100, 1)


def days(delta: timedelta) -> float:
    return delta.total_seconds() / DAY


def followup_intervals(rows: list[CustomerActivity]) -> FollowUp:
    per_customer = [(r.owner_id, days(r.last_at - r.first_at) / (r.count - 1)) for r in rows if r.count >= 2]
    by_rep: dict[int, list[float]] = {}
    for owner, gap in per_customer:
        by_rep.setdefault(owner, []).append(gap)
    return FollowUp(fmean(g for _, g in per_customer) if per_customer else None, len(per_customer),
                    {rep: (fmean(gaps), len(gaps)) for rep, gaps in by_rep.items()})


def close_day(closed_at: datetime, tz) -> date:
    return to_local(closed_at, tz).date()


def is_high_health(deal: DealRow, scores: dict[tuple[int, date], int], tz) -> bool:
    score = scores.get((deal.customer_id, close_day(deal.closed_at, tz)))
    return deal.high_intent if score is None else score >= HIGH_HEALTH


def closed_in(deal: DealRow, start: datetime, until: datetime) -> bool:
    return deal.status != "open" and deal.closed_at is not None and start <= deal.closed_at < until


def open_at(deal: DealRow, t: datetime) -> bool:
    return deal.created_at < t and (deal.status == "open" or deal.closed_at is None or deal.closed_at >= t)


def health_conversion(data: KpiInput, tz) -> HealthConversion:
    c = {"hw": 0, "hc": 0, "rw": 0, "rc": 0}
    for d in data.deals:
        if closed_in(d, data.start, data.until):
            g = "h" if is_high_health(d, data.scores, tz) else "r"
            c[g + "c"] += 1
            c[g + "w"] += d.status == "won"
    return HealthConversion(c["hw"], c["hc"], c["rw"], c["rc"])


def sales_cycle(deals: list[DealRow], start: datetime, until: datetime) -> Cycle:
    lengths = [days(d.closed_at - d.created_at) for d in deals if d.status == "won" and closed_in(d, start, until)]
    return Cycle(fmean(lengths) if lengths else None, len(lengths))


@dataclass(frozen=True)
class Visit:
    deal_id: int
    stage: str
    entered: datetime
    left: datetime | None  # None: still there at `until`
    to: str | None  # where it went


def visits(data: KpiInput) -> list[Visit]:
    """Each deal's stays in stages, from its stage changes (a deal without any: one stay since creation)."""
    by_deal: dict[int, list[StageMove]] = {}
    for m in data.moves:
        if m.at < data.until:
            by_deal.setdefault(m.deal_id, []).append(m)
    out = []
    for d in data.deals:
        moves = sorted(by_deal.get(d.id, []), key=lambda m: m.at)
        if not moves:
            out.append(Visit(d.id, d.stage, d.created_at, None, None))
            continue
        for a, b in zip(moves, moves[1:] + [None]):
            out.append(Visit(d.id, a.to_stage, a.at, b.at if b else None, b.to_stage if b else None))
    return out


def state_at_end(deal: DealRow, last_visit: Visit | None, last_activity: datetime | None,
                 until: datetime) -> tuple[str, datetime, datetime | None]:
    """(stage, last movement, next step due) of an open deal at `until`.

    When nothing happened to the deal since `until` its stored state is exact; for an earlier period
    it is rebuilt from the history (a next step booked back then is not kept, so it does not pause)."""
    if deal.status == "open" and deal.last_movement_at <= until:
        return deal.stage, deal.last_movement_at, deal.next_step_due
    stage = last_visit.stage if last_visit else deal.stage
    moved = max(t for t in (deal.created_at, last_visit.entered if last_visit else None, last_activity) if t)
    return stage, moved, None


def compute(data: KpiInput, funnel: Funnel, tz) -> Kpis:
    start, until = data.start, data.until
    stages = {s.key: s for s in funnel.stages}
    closing = funnel.closing.key
    deals = {d.id: d for d in data.deals}
    all_visits = visits(data)
    last_visit: dict[int, Visit] = {}
    for v in all_visits:
        if v.left is None:
            last_visit[v.deal_id] = v

    # stalled deals at the end: open then, and at red by the thresholds of the stage they were in
    stalled: dict[int, str] = {}
    for d in data.deals:
        if not open_at(d, until):
            continue
        stage, moved, due = state_at_end(d, last_visit.get(d.id), data.last_activity.get(d.id), until)
        th = stages[stage].stale if stage in stages else funnel.default_stale
        if silence(moved, due, th, until, funnel.pause_while_next_step_ahead, funnel.clock(tz, stage)).level == "red":
            stalled[d.id] = stage

    lost = [d for d in data.deals if d.status == "lost" and closed_in(d, start, until)]
    won = [d for d in data.deals if d.status == "won" and closed_in(d, start, until)]
    flag, acted = data.first_flag, data.first_action
    intervention = Intervention(
        lost=len(lost), stalled=len(stalled),
        flagged_lost=sum(1 for d in lost if d.id in flag and flag[d.id] <= d.closed_at),
        flagged_stalled=sum(1 for i in stalled if i in flag and flag[i] < until),
        acted_lost=sum(1 for d in lost if d.id in acted and acted[d.id] <= d.closed_at),
        acted_stalled=sum(1 for i in stalled if i in acted and acted[i] < until))

    by_stage: dict[str, list[Visit]] = {}
    for v in all_visits:
        if v.entered < until and (v.left is None or v.left >= start):
            by_stage.setdefault(v.stage, []).append(v)
    flows = []
    for s in funnel.open_stages:
        present, entered, advanced, lost_ids, back = set(), set(), set(), set(), set()
        stays, waiting = [], []
        for v in by_stage.get(s.key, ()):
            present.add(v.deal_id)
            if v.entered >= start:
                entered.add(v.deal_id)
            if v.left is None or v.left >= until:
                waiting.append(days(until - v.entered))
                continue
            stays.append(days(v.left - v.entered))
            if v.to == closing:
                (advanced if deals[v.deal_id].status == "won" else lost_ids).add(v.deal_id)
            elif v.to in stages and stages[v.to].order > s.order:
                advanced.add(v.deal_id)
            else:
                back.add(v.deal_id)
        flows.append(StageFlow(
            key=s.key, name=s.name, order=s.order, present=len(present), entered=len(entered),
            advanced=len(advanced), lost=len(lost_ids), back=len(back),
            avg_days=fmean(stays) if stays else None, waiting=len(waiting),
            waiting_days=fmean(waiting) if waiting else None,
            stalled=sum(1 for st in stalled.values() if st == s.key)))

    attainment = None
    if data.target_amount:
        attainment = Attainment(data.target_key or "", data.target_amount, data.target_won, data.target_reps)
    return Kpis(
        followup=followup_intervals(data.activity),
        health=health_conversion(data, tz),
        intervention=intervention,
        cycle=sales_cycle(data.deals, start, until),
        stages=flows,
        won=(len(won), sum(d.amount for d in won)),
        lost=(len(lost), sum(d.amount for d in lost)),
        created=sum(1 for d in data.deals if start <= d.created_at < until),
        open_at_end=sum(1 for d in data.deals if open_at(d, until)),
        attainment=attainment,
        rep_attainment=rep_attainment(data),
        lost_reasons=lost_reasons(lost),
    )


def rep_attainment(data: KpiInput) -> dict[int, Attainment]:
    """Each rep with a target of their own: the amount won on their deals in the target's window / it."""
    return {rep: Attainment(data.target_key or "", amount, data.rep_won.get(rep, 0))
            for rep, amount in data.rep_targets.items() if amount > 0}


UNKNOWN_REASON = "未写原因"


def reason_of(text: str | None) -> str:
    """A lost reason as a group: its first clause ("价格，对方压到8折" -> "价格"), at most 12 characters."""
    head = re.split(r"[，,。;；:：!！?？\s]", (text or "").strip(), maxsplit=1)[0]
    return head[:12] or UNKNOWN_REASON


def lost_reasons(lost: list[DealRow]) -> tuple:
    """((reason, deals, amount), ...) most deals first, then the larger amount."""
    groups: dict[str, list[int]] = {}
    for d in lost:
        g = groups.setdefault(reason_of(d.lost_reason), [0, 0])
        g[0] += 1
        g[1] += d.amount
    return tuple((r, n, a) for r, (n, a) in sorted(groups.items(), key=lambda kv: (-kv[1][0], -kv[1][1], kv[0])))


def stall_ranking(flows: list[StageFlow], n: int = 3) -> list[StageFlow]:
    """The stages where deals stall most: most deals at red, then the longest wait, then the longest stays."""
    candidates = [f for f in flows if f.stalled or f.waiting]
    return sorted(candidates, key=lambda f: (-f.stalled, -(f.waiting_days or 0), -(f.avg_days or 0), f.order))[:n]


HEALTH_BUCKETS = ((0, 49, "0-49"), (50, 74, "50-74"), (75, 100, "75-100"))


def health_buckets(values: list[int | None]) -> list[tuple[str, int]]:
    """Customers by health score: below 50, 50-74, high (75+), and not scored yet."""
    out = [(label, sum(1 for v in values if v is not None and lo <= v <= hi)) for lo, hi, label in HEALTH_BUCKETS]
    return out + [("-", sum(1 for v in values if v is None))]


# -- weekly trends ------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class WeekTrend:
    week: Period
    won: int  # deals won
    won_amount: int
    lost: int
    created: int  # deals created
    activities: int  # follow-ups logged (visits, calls, ...)


def weekly_trend(weeks: list[Period], won: list[tuple[datetime, int]], lost: list[tuple[datetime, int]],
                 created: list[datetime], activity_days: list[tuple[date, int]], tz) -> list[WeekTrend]:
    """Per week: the deals won (and their amount), lost and created, and the activities logged. Times
    are naive UTC and fall in their local week; activity comes counted per local day (storage)."""
    def index(d: date) -> int | None:
        for i, w in enumerate(weeks):
            if w.start <= d < w.end:
                return i
        return None

    def local_day(t: datetime) -> date:
        return close_day(t if isinstance(t, datetime) else datetime.fromisoformat(str(t)), tz)

    rows = [[0, 0, 0, 0, 0] for _ in weeks]
    for t, amount in won:
        i = index(local_day(t))
        if i is not None:
            rows[i][0] += 1
            rows[i][1] += int(amount or 0)
    for t, _ in lost:
        i = index(local_day(t))
        if i is not None:
            rows[i][2] += 1
    for t in created:
        i = index(local_day(t))
        if i is not None:
            rows[i][3] += 1
    for d, n in activity_days:
        i = index(d)
        if i is not None:
            rows[i][4] += n
    return [WeekTrend(w, *r) for w, r in zip(weeks, rows)]


def last_weeks(today: date, n: int = 8) -> list[Period]:
    """The `n` weeks up to and including this one, oldest first."""
    weeks = [week_of(today)]
    while len(weeks) < n:
        weeks.insert(0, weeks[0].previous())
    return weeks
