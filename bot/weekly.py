"""The weekly funnel review: one card per team to its manager group, with a chart image.

`python -m bot run weekly [--now ...]`; the scheduler runs it every few minutes. It acts only on the
review day at or after the review time (rules file, [schedule] weekly_review_at = "Mon 09:30", local
time), and the outbox key weekly:{team}:{ISO week} makes it send once per team and week however often
it runs. The card covers the week before the review day (on Monday: last Monday to Sunday) against
the week before that: the manager's numbers, the three stages where deals stall most, the reps'
follow-up intervals, and a chart (open deals by stage, customers by health) rendered here with
matplotlib into the charts folder and served by bot/charts.py. DingTalk shows the image in the card
(markdown); WeCom group robots and the local channel get its link.
"""
from __future__ import annotations

import logging
import os
import secrets
import warnings
from datetime import datetime, timedelta, timezone
from functools import lru_cache
from pathlib import Path

from handlers.report import numbers_data, team_numbers_vs
from rules.kpi import Period, health_buckets, week_of
from storage import deals, kpi_queries, outbox, people
from handlers.messages import Reply

from . import pushes
from .charts import chart_url, charts_dir

log = logging.getLogger(__name__)

INLINE_IMAGE_CHANNELS = {"dingtalk"}  # their group messages are markdown: the image shows in the card
CJK_FONTS = ("WenQuanYi Micro Hei", "WenQuanYi Zen Hei", "Noto Sans CJK SC", "Noto Sans CJK JP",
             "Noto Sans SC", "Source Han Sans SC", "Source Han Sans CN", "SimHei", "Microsoft YaHei",
             "PingFang SC")
CJK_FILES = ("wqy", "notosanscjk", "notosanssc", "sourcehansans", "simhei", "msyh")
HEALTH_COLORS = ("#e4572e", "#f3a712", "#29a745", "#b0b0b0")


def iso_week(d) -> str:
    y, w, _ = d.isocalendar()
    return f"{y}-W{w:02d}"


def weekly(rt, now: datetime) -> dict:
    """Queue the weekly review card for every team with a manager group, once per ISO week."""
    weekday, at = rt.funnel.schedule.weekly_review_at
    local = now.replace(tzinfo=timezone.utc).astimezone(rt.tz)
    day = local.date()
    week = iso_week(day)
    if day.weekday() != weekday:
        return {"job": "weekly", "date": day.isoformat(), "skipped": "not the review day"}
    if local.time() < at:
        return {"job": "weekly", "date": day.isoformat(), "skipped": "before the review time"}
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
            name = write_chart(rt, team_id, team_name, week, data)
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


# -- the chart ------------------------------------------------------------------------------------

@lru_cache(maxsize=1)
def cjk_font() -> str | None:
    """The family name of an installed CJK font, or None (the chart then uses English labels)."""
    from matplotlib import font_manager

    def known():
        names = {f.name for f in font_manager.fontManager.ttflist}
        return next((n for n in CJK_FONTS if n in names), None)
    found = known()
    if found:
        return found
    # a font installed after matplotlib cached its font list: add the files themselves
    for path in font_manager.findSystemFonts():
        if any(k in os.path.basename(path).lower().replace("-", "").replace("_", "") for k in CJK_FILES):
            try:
                font_manager.fontManager.addfont(path)
            except Exception:  # noqa: BLE001  an unreadable font file: try the next
                continue
    found = known()
    if found is None:
        log.warning("no CJK font installed (e.g. Debian fonts-wqy-microhei): chart labels in English")
    return found


def write_chart(rt, team_id: int, team_name: str, week: str, data: dict) -> str:
    """Draw the review chart as a PNG in the charts folder; returns its file name."""
    name = f"weekly-{team_id}-{week}-{secrets.token_hex(8)}.png"
    render_chart(charts_dir(rt.config) / name, team_name, data["period"], data["period_key"], data["funnel"],
                 data["health"])
    return name


def render_chart(path: Path, team_name: str, period_label: str, period_key: str, funnel: list[dict],
                 health: list) -> Path:
    """Open deals by stage (a funnel of horizontal bars) beside customers by health score."""
    import matplotlib
    from matplotlib.figure import Figure

    font = cjk_font()
    rc = {"font.family": [font, "DejaVu Sans"] if font else ["DejaVu Sans"], "axes.unicode_minus": False}
    with matplotlib.rc_context(rc), warnings.catch_warnings():
        warnings.simplefilter("ignore")  # a missing glyph must not fail the job
        fig = Figure(figsize=(10, 4.6), dpi=100)
        left, right = fig.subplots(1, 2, gridspec_kw={"width_ratios": [3, 2]})
        labels = [f["stage"] if font else f["key"] for f in funnel]
        counts = [f["count"] for f in funnel]
        ys = list(range(len(funnel)))[::-1]
        bars = left.barh(ys, counts, color="#3a7bd5", height=0.7)
        left.set_yticks(ys, labels)
        top = max(counts + [1])
        for bar, f in zip(bars, funnel):
            left.text(bar.get_width() + top * 0.02, bar.get_y() + bar.get_height() / 2,
                      f"{f['count']} · {_wan(f['amount'], font)}", va="center", fontsize=9)
        left.set_xlim(0, top * 1.35)
        left.set_title("漏斗: 各阶段进行中商机" if font else "Open deals by stage")
        left.spines[["top", "right"]].set_visible(False)

        h_labels = [(lbl if lbl != "-" else ("未评分" if font else "none")) for lbl, _ in health]
        h_counts = [n for _, n in health]
        hb = right.bar(range(len(health)), h_counts, color=HEALTH_COLORS[:len(health)])
        right.set_xticks(range(len(health)), h_labels)
        for bar, n in zip(hb, h_counts):
            right.text(bar.get_x() + bar.get_width() / 2, bar.get_height(), str(n), ha="center", va="bottom",
                       fontsize=9)
        right.set_ylim(0, max(h_counts + [1]) * 1.2)
        right.set_title("客户健康度分布" if font else "Customers by health score")
        right.spines[["top", "right"]].set_visible(False)

        fig.suptitle(f"{team_name} · {period_label}" if font else f"Weekly funnel review · {period_key}")
        fig.tight_layout()
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(".tmp")
        fig.savefig(tmp, format="png")
        os.replace(tmp, path)  # never serve a half-written file
    return path


def _wan(amount: int, cjk: bool) -> str:
    if cjk:
        from handlers.views import format_yuan
        return format_yuan(amount)
    return f"¥{amount:,}"
