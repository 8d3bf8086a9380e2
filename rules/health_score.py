"""Customer health score (0-100): a pure function of a customer's signals and the day.

Weights and curves come from rules/health.toml; the score keeps its breakdown (points per signal)
and names the one action that would raise it most.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from .funnel import read_rules_file

DEFAULT_HEALTH_RULES = Path(__file__).with_name("health.toml")
SIGNALS = ("recency", "doc_opens", "decision_maker", "competitor", "collaboration")


class HealthRulesError(ValueError):
    pass


@dataclass(frozen=True)
class Signals:
    """What the score looks at for one customer on one day (gathered by storage, set-based)."""
    days_since_contact: float | None = None  # None: never contacted
    doc_opens: int = 0
    decision_maker_interactions: int = 0
    competitor_events: int = 0
    avg_ticket_response_hours: float | None = None  # None: no internal ticket in the window


@dataclass(frozen=True)
class Part:
    key: str
    name: str
    points: float
    weight: float
    action: str

    @property
    def lost(self) -> float:
        return self.weight - self.points


@dataclass(frozen=True)
class Score:
    total: int
    parts: tuple[Part, ...]

    @property
    def best_action(self) -> Part | None:
        """The signal with the most points still to win: the one action that would raise the score most."""
        candidates = [p for p in self.parts if p.lost > 0.5]
        return max(candidates, key=lambda p: p.lost) if candidates else None


@dataclass
class HealthRules:
    path: str
    signals: dict[str, dict]
    high: int = 75
    leave_below: int = 70
    tier_a: int = 75
    tier_b: int = 50
    windows: dict[str, int] = field(default_factory=dict)
    weights: tuple[float, ...] = ()
    curve: dict[str, float] = field(default_factory=dict)

    def tier(self, score: int) -> str:
        return "A" if score >= self.tier_a else "B" if score >= self.tier_b else "C"

    def high_intent(self, score: int, was_high: bool) -> bool:
        """Hysteresis: enter at `high`, leave only below `leave_below`."""
        return score >= self.leave_below if was_high else score >= self.high


def load_health_rules(path: str | Path | None = None) -> HealthRules:
    path = Path(path or DEFAULT_HEALTH_RULES)
    p = str(path)
    raw = read_rules_file(path, HealthRulesError, "BOT_HEALTH_RULES")
    signals = raw.get("signals", {})
    unknown = set(signals) - set(SIGNALS)
    if unknown:
        raise HealthRulesError(f"{p}: unknown signal(s) {sorted(unknown)}. Fix: use {list(SIGNALS)}")
    missing = [s for s in SIGNALS if s not in signals]
    if missing:
        raise HealthRulesError(f"{p}: signal(s) {missing} missing. Fix: add [signals.{missing[0]}]")
    total = sum(float(signals[s].get("weight", 0)) for s in SIGNALS)
    if abs(total - 100) > 1e-6:
        raise HealthRulesError(f"{p}: the weights sum to {total:g}, not 100. Fix: adjust the weights")
    intent, tiers = raw.get("intent", {}), raw.get("tiers", {})
    rules = HealthRules(p, signals, int(intent.get("high", 75)), int(intent.get("leave_below", 70)),
                        int(tiers.get("A", 75)), int(tiers.get("B", 50)))
    if rules.leave_below > rules.high:
        raise HealthRulesError(f"{p}: [intent] leave_below ({rules.leave_below}) is above high ({rules.high}). "
                               f"Fix: leave_below <= high")
    rules.windows = {s: int(signals[s].get("window_days", 0)) for s in SIGNALS}
    rules.weights = tuple(float(signals[s]["weight"]) for s in SIGNALS)
    rules.curve = {
        "zero_days": float(signals["recency"].get("zero_after_days", 7)),
        "doc_full": max(1, int(signals["doc_opens"].get("full_at", 3))),
        "dm_full": max(1, int(signals["decision_maker"].get("full_at", 2))),
        "deduct": float(signals["competitor"].get("deduct_per_event", 5)) / float(signals["competitor"]["weight"]),
        "no_tickets": float(signals["collaboration"].get("no_tickets", 0.5)),
        "full_h": float(signals["collaboration"].get("full_within_hours", 4)),
        "zero_h": float(signals["collaboration"].get("zero_after_hours", 48)),
    }
    return rules


def _linear(value: float, full: float, zero: float) -> float:
    """1 at or below `full`, 0 at or above `zero`, linear between."""
    if value <= full:
        return 1.0
    if value >= zero:
        return 0.0
    return (zero - value) / (zero - full)


def points(signals: Signals, rules: HealthRules) -> tuple[float, ...]:
    """Each signal's points, in SIGNALS order (the fast path of the daily job)."""
    return tuple(share * w for share, w in zip(_shares(signals, rules), rules.weights))


def _shares(signals: Signals, rules: HealthRules) -> tuple[float, ...]:
    c = rules.curve
    d = signals.days_since_contact
    h = signals.avg_ticket_response_hours
    return (
        0.0 if d is None else (1.0 if d <= 0 else 0.0 if d >= c["zero_days"] else (c["zero_days"] - d) / c["zero_days"]),
        min(1.0, signals.doc_opens / c["doc_full"]),
        min(1.0, signals.decision_maker_interactions / c["dm_full"]),
        max(0.0, 1 - signals.competitor_events * c["deduct"]),
        c["no_tickets"] if h is None else _linear(h, c["full_h"], c["zero_h"]),
    )


def score(signals: Signals, rules: HealthRules) -> Score:
    s = rules.signals
    parts = tuple(Part(k, s[k].get("name", k), share * w, w, s[k].get("action", ""))
                  for k, share, w in zip(SIGNALS, _shares(signals, rules), rules.weights))
    return Score(int(round(sum(p.points for p in parts))), parts)
