"""The clock is a parameter: logic receives `now`, it never reads the system time itself."""
from __future__ import annotations

from datetime import datetime, timedelta, timezone
from typing import Protocol


class Clock(Protocol):
    def now(self) -> datetime: ...  # aware


class SystemClock:
    def now(self) -> datetime:
        return datetime.now(timezone.utc)


class FixedClock:
    """A clock that stands still until told otherwise (tests, `--now`, the simulator)."""

    def __init__(self, at: datetime):
        self.at = aware(at)

    def now(self) -> datetime:
        return self.at

    def set(self, at: datetime) -> None:
        self.at = aware(at)

    def advance(self, **delta) -> datetime:
        self.at = self.at + timedelta(**delta)
        return self.at


def aware(dt: datetime, tz=timezone.utc) -> datetime:
    """A naive datetime is read in `tz`; an aware one is kept."""
    return dt if dt.tzinfo else dt.replace(tzinfo=tz)


def parse_now(text: str, tz) -> datetime:
    """ISO-8601 for `--now`; without an offset it is local time in the bot's timezone."""
    dt = datetime.fromisoformat(text)
    return aware(dt, tz).astimezone(timezone.utc)
