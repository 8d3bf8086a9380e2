"""The weekly review's chart images (bot/jobs/weekly.py): drawn with matplotlib into the charts folder,
and served from there by `GET /charts/<file>.png`.

The folder is BOT_CHARTS_DIR (default data/charts). File names carry a random part, so a chart's
address is not guessable from the team and the week; only .png files of that folder are served.
"""
from __future__ import annotations

import logging
import os
import re
import secrets
import warnings
from functools import lru_cache
from pathlib import Path

from flask import Blueprint, abort, current_app, send_from_directory

log = logging.getLogger(__name__)
blueprint = Blueprint("charts", __name__)
NAME = re.compile(r"^[A-Za-z0-9_-]{1,120}\.png$")
DEFAULT_DIR = "data/charts"
CJK_FONTS = ("WenQuanYi Micro Hei", "WenQuanYi Zen Hei", "Noto Sans CJK SC", "Noto Sans CJK JP",
             "Noto Sans SC", "Source Han Sans SC", "Source Han Sans CN", "SimHei", "Microsoft YaHei",
             "PingFang SC")
CJK_FILES = ("wqy", "notosanscjk", "notosanssc", "sourcehansans", "simhei", "msyh")
HEALTH_COLORS = ("#e4572e", "#f3a712", "#29a745", "#b0b0b0")


def charts_dir(config) -> Path:
    """The folder charts are written to and served from (created when missing)."""
    path = Path(config.get("BOT_CHARTS_DIR") or os.environ.get("BOT_CHARTS_DIR") or DEFAULT_DIR).resolve()
    path.mkdir(parents=True, exist_ok=True)
    return path


def chart_url(config, name: str) -> str:
    return f"{config['BOT_PUBLIC_URL'].rstrip('/')}/charts/{name}"


@blueprint.get("/charts/<name>")
def chart(name: str):
    if not NAME.match(name):
        abort(404)
    folder = charts_dir(current_app.extensions["bot"].config)
    return send_from_directory(folder, name, mimetype="image/png", max_age=3600)


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


def write_chart(config, team_id: int, team_name: str, week: str, data: dict) -> str:
    """Draw the weekly review's chart as a PNG in the charts folder; returns its file name."""
    name = f"weekly-{team_id}-{week}-{secrets.token_hex(8)}.png"
    render_chart(charts_dir(config) / name, team_name, data["period"], data["period_key"], data["funnel"],
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
