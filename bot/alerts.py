"""One alert to a team's admins when deliveries fail because of the set-up (a wrong secret, the server's
IP not trusted, a group robot removed or disabled), not one per message that failed.

The alert is an outbox row of its own with the key `alert:<cause>:<team>:<day>:<admin>`, so a cause
tells each admin once a day however many rows meet it. When the app API is what fails (the secret, the
IP), the team's manager group hears it too, through its robot (which needs neither); when a group
robot fails, the admins hear it as app messages. An alert that itself fails raises no other.
"""
from __future__ import annotations

import logging
from datetime import datetime, timezone

from storage import outbox, people

from handlers.messages import Reply

log = logging.getLogger(__name__)


def alert(rt, row, cause: str, error: str, now: datetime) -> int:
    """Queue the alert for `cause` met by outbox `row` (a delivery's permanent failure). Returns rows queued."""
    if row.key.startswith("alert:"):
        return 0
    team_id = people.team_of(row.recipient)
    if team_id is None:
        log.warning("delivery failure %s for %s: no team to alert", cause, row.recipient)
        return 0
    day = now.replace(tzinfo=timezone.utc).astimezone(rt.tz).date().isoformat()
    reply = Reply("delivery_alert", {"cause": cause, "error": error[:300], "channel": row.channel})
    recipients = [a.local_id for a in people.team_admins(team_id)]
    if not people.is_group(row.recipient):  # the app API fails: the manager group's robot still works
        group = people.team_group(team_id, "manager")
        if group is not None:
            recipients.append(group.local_id)
    rows = [(f"alert:{cause}:{team_id}:{day}:{to}", row.channel, to, reply.to_dict()) for to in recipients]
    queued = outbox.enqueue_many(rows, now)
    if queued:
        log.warning("delivery failure %s (%s): alerted %s", cause, error[:200], ", ".join(recipients))
    return queued
