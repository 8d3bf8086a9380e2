"""`GET /charts/<file>.png`: the weekly review's chart images, served from the charts folder.

The folder is BOT_CHARTS_DIR (default data/charts). File names carry a random part (bot/weekly.py), so
a chart's address is not guessable from the team and the week; only .png files of that folder are served.
"""
from __future__ import annotations

import os
import re
from pathlib import Path

from flask import Blueprint, abort, current_app, send_from_directory

blueprint = Blueprint("charts", __name__)
NAME = re.compile(r"^[A-Za-z0-9_-]{1,120}\.png$")
DEFAULT_DIR = "data/charts"


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
