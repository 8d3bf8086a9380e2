"""The funnel definition: load and validate the rules file, answer questions about stages.

Pure: the only I/O is reading the TOML file in `load_funnel`.
"""
from __future__ import annotations

import tomllib
from dataclasses import dataclass, field
from functools import cached_property

from .calendar import CALENDAR, SendWindow, workday_clock
from datetime import date, time
from pathlib import Path

DEFAULT_RULES = Path(__file__).with_name("funnel.toml")
LEVELS = ("yellow", "orange", "red")


class RulesError(ValueError):
    """A rules file that cannot be used; the message names the file, the place and the fix."""


@dataclass(frozen=True)
class Thresholds:
    yellow_hours: float
    orange_hours: float
    red_hours: float

    def hours(self, level: str) -> float:
        return getattr(self, f"{level}_hours")


@dataclass(frozen=True)
class ActivityKind:
    key: str
    name: str
    words: tuple[str, ...]
    in_help: bool = True  # false for kinds that come from other systems (/api/events)


@dataclass(frozen=True)
class Criterion:
    key: str
    label: str
    activity: tuple[str, ...] = ()
    since_stage: bool = False
    decision_maker: bool = False


@dataclass(frozen=True)
class Stage:
    key: str
    name: str
    order: int
    aliases: tuple[str, ...]
    exit: tuple[str, ...]
    stale: Thresholds
    escalate_to: str = "manager"
    suggestion: str = ""
    closing: bool = False
    clock: str | None = None  # "workday" or "calendar"; None: the team's or [schedule]'s


@dataclass(frozen=True)
class DealFacts:
    """What the exit criteria look at, gathered by storage for one deal."""
    stage_entered_at: object  # datetime
    activities: tuple[tuple[str, object], ...]  # (kind, at)
    has_decision_maker: bool


@dataclass(frozen=True)
class Schedule:
    task_card_at: time = time(9, 0)
    task_card_until: time = time(12, 0)  # a card missed while the bot was down is sent until then
    days_off: frozenset[date] = frozenset()
    extra_workdays: frozenset[date] = frozenset()
    # the weekly funnel review to the manager group: (weekday, 0 = Monday, local time)
    weekly_review_at: tuple[int, time] = (0, time(9, 30))
    clock: str = "workday"  # how silence is counted: only working days, or every hour ("calendar")
    send_window: tuple[time, time] = (time(9, 0), time(20, 0))  # when the bot may send on its own
    daily_budget: int = 6  # messages the bot sends a person on its own in a day; beyond them, one digest
    team_clocks: dict = field(default_factory=dict)  # {team name: "workday" | "calendar"}


@dataclass
class Funnel:
    path: str
    stages: list[Stage]
    criteria: dict[str, Criterion]
    activities: dict[str, ActivityKind]
    default_stale: Thresholds
    pause_while_next_step_ahead: bool
    decision_titles: tuple[str, ...]
    schedule: Schedule = field(default_factory=Schedule)
    _by_name: dict[str, Stage] = field(default_factory=dict, repr=False)
    _clocks: dict = field(default_factory=dict, repr=False, compare=False)

    def clock(self, tz, stage: str | None = None, team: str | None = None):
        """How silence is counted for a deal in `stage` of `team` (a team name): the stage's `clock`,
        else the team's ([teams.NAME] clock), else [schedule] clock; a working-day clock by default.
        Kept per (tz, stage, team): the daily cards ask for 500k deals."""
        key = (tz, stage, team)
        got = self._clocks.get(key)
        if got is None:
            got = self._clocks[key] = self._clock(tz, stage, team)
        return got

    def _clock(self, tz, stage: str | None, team: str | None):
        kind = None
        if stage is not None:
            st = self.stage_or_none(stage)
            kind = st.clock if st is not None else None
        if kind is None and team is not None:
            kind = self.schedule.team_clocks.get(team)
        if (kind or self.schedule.clock) == "calendar":
            return CALENDAR
        return self.workdays(tz)

    def workdays(self, tz):
        """The team's working days (China's calendar with 调休, plus [schedule]'s own days)."""
        return workday_clock(tz, self.schedule.days_off, self.schedule.extra_workdays)

    @cached_property
    def send_window(self) -> SendWindow:
        return SendWindow(*self.schedule.send_window)

    def stage_or_none(self, key: str) -> Stage | None:
        try:
            return self.stage(key)
        except KeyError:
            return None

    def stale_for(self, key: str) -> Thresholds:
        st = self.stage_or_none(key)
        return st.stale if st is not None else self.default_stale

    @cached_property
    def _stages_by_key(self) -> dict[str, Stage]:
        return {s.key: s for s in self.stages}

    def stage(self, key: str) -> Stage:
        return self._stages_by_key[key]

    @property
    def first(self) -> Stage:
        return self.stages[0]

    @property
    def closing(self) -> Stage:
        return next(s for s in self.stages if s.closing)

    @property
    def open_stages(self) -> list[Stage]:
        return [s for s in self.stages if not s.closing]

    def find_stage(self, text: str) -> Stage | None:
        """A stage by key, Chinese name, alias or number (1-based), case-insensitive."""
        t = text.strip().lower()
        if t.isdigit() and 1 <= int(t) <= len(self.stages):
            return self.stages[int(t) - 1]
        return self._by_name.get(t)

    def activity_for_word(self, word: str) -> ActivityKind | None:
        w = word.strip().lower()
        for kind in self.activities.values():
            if w in (x.lower() for x in kind.words):
                return kind
        return None

    def missing_criteria(self, facts: DealFacts, from_key: str, to_key: str) -> list[tuple[Stage, Criterion]]:
        """Exit criteria not met for every stage a move from `from_key` to `to_key` leaves.

        Moving forward (also skipping stages) must satisfy the exit criteria of the current stage and
        of every stage skipped. Moving backward needs nothing.
        """
        a, b = self.stage(from_key), self.stage(to_key)
        missing = []
        for s in self.stages[a.order - 1:b.order - 1]:
            for ckey in s.exit:
                c = self.criteria[ckey]
                if not criterion_met(c, facts, is_current=(s.key == from_key)):
                    missing.append((s, c))
        return missing


def criterion_met(c: Criterion, facts: DealFacts, is_current: bool) -> bool:
    if c.decision_maker and not facts.has_decision_maker:
        return False
    if c.activity:
        found = False
        for kind, at in facts.activities:
            if kind in c.activity:
                if c.since_stage and is_current and at < facts.stage_entered_at:
                    continue
                found = True
                break
        if not found:
            return False
    return True


def _thresholds(raw: dict, where: str, path: str, base: Thresholds | None) -> Thresholds:
    vals = {}
    for level in LEVELS:
        k = f"{level}_hours"
        v = raw.get(k, base.hours(level) if base else None)
        if not isinstance(v, (int, float)) or isinstance(v, bool) or v <= 0:
            raise RulesError(f"{path}: {where}: '{k}' must be a positive number of hours, got {v!r}. "
                             f"Fix: set e.g. {k} = 48")
        vals[k] = float(v)
    unknown = set(raw) - {f"{lv}_hours" for lv in LEVELS}
    if unknown:
        raise RulesError(f"{path}: {where}: unknown threshold key(s) {sorted(unknown)}. "
                         f"Fix: use yellow_hours, orange_hours, red_hours")
    t = Thresholds(**vals)
    if not (t.yellow_hours < t.orange_hours < t.red_hours):
        raise RulesError(f"{path}: {where}: thresholds out of order (yellow {t.yellow_hours:g} h, "
                         f"orange {t.orange_hours:g} h, red {t.red_hours:g} h). "
                         f"Fix: make yellow_hours < orange_hours < red_hours")
    return t


def read_rules_file(path: Path, error: type[ValueError], key: str) -> dict:
    """A rules file's TOML; a missing or malformed file is `error` naming the file and the fix."""
    try:
        return tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise error(f"{path}: file not found. Fix: set {key} to an existing rules file") from None
    except tomllib.TOMLDecodeError as e:
        raise error(f"{path}: not valid TOML ({e}). Fix: correct the syntax at that line") from None


def load_funnel(path: str | Path | None = None) -> Funnel:
    path = Path(path or DEFAULT_RULES)
    return parse_funnel(read_rules_file(path, RulesError, "BOT_RULES"), str(path))


def parse_funnel(raw: dict, p: str = "<rules>") -> Funnel:
    stale_raw = {k: v for k, v in raw.get("stale", {}).items() if k != "pause_while_next_step_ahead"}
    default = _thresholds(stale_raw, "[stale]", p, Thresholds(48, 72, 120))
    pause = bool(raw.get("stale", {}).get("pause_while_next_step_ahead", True))
    titles = tuple(raw.get("people", {}).get("decision_titles", ["总", "总监", "经理", "董事长", "CEO"]))

    activities: dict[str, ActivityKind] = {}
    seen_words: dict[str, str] = {}
    for key, a in raw.get("activities", {}).items():
        words = tuple(a.get("words", [])) or (key,)
        for w in words:
            if w.lower() in seen_words:
                raise RulesError(f"{p}: activity '{key}': word '{w}' is already used by activity "
                                 f"'{seen_words[w.lower()]}'. Fix: remove it from one of them")
            seen_words[w.lower()] = key
        activities[key] = ActivityKind(key, a.get("name", key), words, bool(a.get("in_help", True)))
    if not activities:
        raise RulesError(f"{p}: no [activities.*] defined. Fix: define at least one, e.g. [activities.visit]")

    criteria: dict[str, Criterion] = {}
    for key, c in raw.get("criteria", {}).items():
        kinds = tuple(c.get("activity", []))
        for k in kinds:
            if k not in activities:
                raise RulesError(f"{p}: criterion '{key}': unknown activity '{k}'. "
                                 f"Fix: use one of {sorted(activities)} or add [activities.{k}]")
        if not kinds and not c.get("decision_maker"):
            raise RulesError(f"{p}: criterion '{key}' checks nothing. "
                             f"Fix: give it activity = [...] or decision_maker = true")
        criteria[key] = Criterion(key, c.get("label", key), kinds, bool(c.get("since_stage")),
                                  bool(c.get("decision_maker")))

    stages: list[Stage] = []
    by_name: dict[str, Stage] = {}
    raw_stages = raw.get("stages", [])
    if len(raw_stages) < 2:
        raise RulesError(f"{p}: at least two [[stages]] are needed. Fix: add the funnel's stages in order")
    for i, s in enumerate(raw_stages, start=1):
        key = s.get("key")
        name = s.get("name")
        if not key or not name:
            raise RulesError(f"{p}: stage #{i} needs both 'key' and 'name'. Fix: add key = \"...\" and name = \"...\"")
        where = f"stage '{key}'"
        for ckey in s.get("exit", []):
            if ckey not in criteria:
                raise RulesError(f"{p}: {where}: unknown criterion '{ckey}'. "
                                 f"Fix: use one of {sorted(criteria)} or define [criteria.{ckey}]")
        stale = _thresholds(s.get("stale", {}), where, p, default)
        clock = _clock_kind(s.get("clock"), where, p)
        stage = Stage(key=key, name=name, order=i, aliases=tuple(s.get("aliases", [])),
                      exit=tuple(s.get("exit", [])), stale=stale,
                      escalate_to=s.get("escalate_to", "manager"), suggestion=s.get("suggestion", ""),
                      closing=bool(s.get("closing", False)), clock=clock)
        for alias in (key, name, *stage.aliases):
            a = alias.strip().lower()
            if a in by_name and by_name[a].key != key:
                raise RulesError(f"{p}: {where}: alias '{alias}' is also used by stage "
                                 f"'{by_name[a].key}'. Fix: remove the duplicate alias from one stage")
            by_name[a] = stage
        stages.append(stage)
    closing = [s for s in stages if s.closing]
    if len(closing) != 1 or closing[0] is not stages[-1]:
        raise RulesError(f"{p}: exactly one stage, the last, must have closing = true. "
                         f"Fix: mark the final (won/lost) stage with closing = true")
    return Funnel(path=p, stages=stages, criteria=criteria, activities=activities, default_stale=default,
                  pause_while_next_step_ahead=pause, decision_titles=titles,
                  schedule=_schedule(raw.get("schedule", {}), p, raw.get("teams", {})), _by_name=by_name)


CLOCKS = ("workday", "calendar")


def _clock_kind(value, where: str, p: str) -> str | None:
    if value is None or value in CLOCKS:
        return value
    raise RulesError(f"{p}: {where}: clock = {value!r} is not a clock. "
                     f"Fix: write clock = \"workday\" (working days only) or clock = \"calendar\" (every hour)")


def _schedule(raw: dict, p: str, teams: dict | None = None) -> Schedule:
    def clock(key, default):
        v = raw.get(key, default)
        try:
            return time.fromisoformat(v) if isinstance(v, str) else v
        except ValueError:
            raise RulesError(f"{p}: [schedule]: {key} = {v!r} is not a time. Fix: write it as \"09:00\"") from None

    def days(key):
        out = set()
        for v in raw.get(key, []):
            try:
                out.add(v if isinstance(v, date) else date.fromisoformat(str(v)))
            except ValueError:
                raise RulesError(f"{p}: [schedule]: {key} has {v!r}, not a date. "
                                 f"Fix: write dates as 2026-12-24") from None
        return frozenset(out)
    window = raw.get("send_window", "09:00-20:00")
    try:
        opens, closes = (time.fromisoformat(x.strip()) for x in str(window).replace("–", "-").split("-"))
    except ValueError:
        raise RulesError(f"{p}: [schedule]: send_window = {window!r} is not a time range. "
                         f"Fix: write it as \"09:00-20:00\"") from None
    if closes <= opens:
        raise RulesError(f"{p}: [schedule]: send_window = {window!r} closes before it opens. "
                         f"Fix: e.g. send_window = \"09:00-20:00\"")
    budget = raw.get("daily_budget", 6)
    if not isinstance(budget, int) or isinstance(budget, bool) or budget < 1:
        raise RulesError(f"{p}: [schedule]: daily_budget = {budget!r} must be a whole number of messages, "
                         f"at least 1. Fix: e.g. daily_budget = 6")
    team_clocks = {}
    for name, t in (teams or {}).items():
        kind = _clock_kind(t.get("clock") if isinstance(t, dict) else t, f"[teams.{name}]", p)
        if kind:
            team_clocks[name] = kind
    sched = Schedule(clock("task_card_at", "09:00"), clock("task_card_until", "12:00"), days("days_off"),
                     days("extra_workdays"), weekly_review_at=_weekly_at(raw.get("weekly_review_at", "Mon 09:30"), p),
                     clock=_clock_kind(raw.get("clock", "workday"), "[schedule]", p), send_window=(opens, closes),
                     daily_budget=budget, team_clocks=team_clocks)
    if sched.task_card_until <= sched.task_card_at:
        raise RulesError(f"{p}: [schedule]: task_card_until must be later than task_card_at. "
                         f"Fix: e.g. task_card_at = \"09:00\", task_card_until = \"12:00\"")
    return sched


WEEKDAYS = {"mon": 0, "monday": 0, "周一": 0, "星期一": 0, "tue": 1, "tuesday": 1, "周二": 1, "星期二": 1,
            "wed": 2, "wednesday": 2, "周三": 2, "星期三": 2, "thu": 3, "thursday": 3, "周四": 3, "星期四": 3,
            "fri": 4, "friday": 4, "周五": 4, "星期五": 4, "sat": 5, "saturday": 5, "周六": 5, "星期六": 5,
            "sun": 6, "sunday": 6, "周日": 6, "星期日": 6, "周天": 6, "星期天": 6}


def _weekly_at(value, p: str) -> tuple[int, time]:
    """"Mon 09:30" (or "周一 09:30") -> (0, 09:30)."""
    day, _, clock = str(value).strip().partition(" ")
    try:
        return WEEKDAYS[day.strip().lower()], time.fromisoformat(clock.strip())
    except (KeyError, ValueError):
        raise RulesError(f"{p}: [schedule]: weekly_review_at = {value!r} is not a weekday and a time. "
                         f"Fix: write it as \"Mon 09:30\" (Mon..Sun or 周一..周日)") from None
