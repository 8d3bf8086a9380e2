"""Times are stored as naive UTC and shown, counted and scheduled in the team's local time (default
Asia/Shanghai): the two conversions, written once."""
from __future__ import annotations

from datetime import datetime, timezone, tzinfo


def to_local(utc: datetime, tz: tzinfo) -> datetime:
    """A stored time (naive UTC) as aware local time in `tz`."""
    return utc.replace(tzinfo=timezone.utc).astimezone(tz)


def to_utc(local: datetime, tz: tzinfo | None = None) -> datetime:
    """A local time as stored (naive UTC): an aware one as it is, a naive one read in `tz`."""
    if local.tzinfo is None:
        local = local.replace(tzinfo=tz)
    return local.astimezone(timezone.utc).replace(tzinfo=None)
