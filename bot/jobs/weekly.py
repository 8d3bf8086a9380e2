"""The weekly funnel review: one card per team to its manager group, with a chart image.

`python -m bot run weekly [--now ...]`; the scheduler calls it every few minutes. It acts only on the
review day at or after the review time (rules file, [schedule] weekly_review_at = "Mon 09:30", local
time), and the outbox key weekly:{team}:{ISO week} makes it send once per team and week however often
it runs. The card covers the week before the review day (on Monday: last Monday to Sunday) against
the week before that: the manager's numbers, the three stages where deals stall most, the reps'
follow-up intervals, and a chart (open deals by stage, customers by health) drawn and served by
bot/charts.py. DingTalk shows the image in the card (markdown); WeCom group robots and the local
channel get its link. When it works is the timetable's (timetable.py).
"""
from __future__ import annotations

import logging
from datetime import datetime, timedelta, timezone

from handlers.report import numbers_data, team_numbers_vs
from rules.kpi import Period, health_buckets, week_of
from storage import deals, kpi_queries, outbox, people

from ..charts import chart_url, write_chart
from handlers.messages import Reply
from . import pushes
from .timetable import not_due

log = logging.getLogger(__name__)

INLINE_IMAGE_CHANNELS = {"dingtalk"}  # their group messages are markdown: the image shows in the card


def iso_week(d) -> str:
    y, w, _ = d.isocalendar()
    return f"{y}-W{w:02d}"


def weekly(rt, now: datetime) -> dict:
    """Queue the weekly review card for every team with a manager group, once per ISO week."""
    day = now.replace(tzinfo=timezone.utc).astimezone(rt.tz).date()
    week = iso_week(day)
    skipped = not_due("weekly", rt, now)
    if skipped:
        return {"job": "weekly", "date": day.isoformat(), "skipped": skipped}
    period = week_of(day - timedelta(days=1))
    baseline = period.previous()
    queued, charts, failed = 0, [], []
    for team_id, team_name in kpi_queries.team_ids():
        group = people.team_group(team_id, "manager")
        if group is None:
            log.warning("team %s has no manager group: no weekly review", team_id)
            continue
        key = f"weekly:{team_id}:{week}"
        if outbox.exists(key):
            continue
        try:
            data = review_data(rt, team_id, team_name, period, baseline, now)
        except Exception:  # noqa: BLE001  one team's failure must not keep the other teams' cards back
            log.exception("weekly review for team %s failed", team_id)
            failed.append(team_id)
            continue
        try:
            name = write_chart(rt.config, team_id, team_name, week, data)
            data.update(chart_url=chart_url(rt.config, name), chart_file=name,
                        chart_inline=rt.config.primary_channel in INLINE_IMAGE_CHANNELS)
            charts.append(name)
        except Exception:  # noqa: BLE001  the numbers go out even when the chart cannot be drawn
            log.exception("weekly review chart for team %s failed", team_id)
        queued += pushes.queue(rt, [(key, rt.config.primary_channel, group.local_id,
                                     Reply("weekly_review", data).to_dict())], now)
    result = {"job": "weekly", "date": day.isoformat(), "week": week, "period": period.key, "queued": queued,
              "charts": charts}
    if failed:
        result["failed"] = failed  # tried again on the next run
    return result


def review_data(rt, team_id: int, team_name: str, period: Period, baseline: Period, now: datetime) -> dict:
    k, before = team_numbers_vs(rt.funnel, rt.tz, team_id, [period, baseline], now)
    data = numbers_data(k, before, kpi_queries.reps_of(team_id), period, baseline, team_name)
    totals = deals.funnel_totals(team_id)
    data.update(scope=team_name, chart_url=None, chart_file=None, chart_inline=False,
                funnel=[{"key": s.key, "stage": s.name, "count": totals.get(s.key, (0, 0))[0],
                         "amount": totals.get(s.key, (0, 0))[1]} for s in rt.funnel.open_stages],
                health=[list(b) for b in health_buckets(kpi_queries.health_values(team_id))])
    return data
