"""The Flask application factory. No side effects at import time; `serve` starts the scheduler."""
from __future__ import annotations

import logging
from datetime import timedelta

from flask import Flask, jsonify, request
from flask.json.provider import DefaultJSONProvider

from . import channels, logs
from .clock import FixedClock
from .config import load_config
from storage.database import connected, ping

from .runtime import Runtime

MAX_BODY = 64 * 1024
SCHEDULER_SILENT = timedelta(minutes=15)
MAX_API_BODY = 2 * 1024 * 1024  # POST /api/events: 1000 events of the documented shape, with room


class JSONProvider(DefaultJSONProvider):
    """Flask's JSON, with non-ASCII kept, and a body nested too deeply to read being a bad request (a
    ValueError, as any unreadable JSON) rather than a RecursionError (a 500)."""
    ensure_ascii = False

    def loads(self, s, **kwargs):
        try:
            return super().loads(s, **kwargs)
        except RecursionError:
            raise ValueError("JSON nested too deeply") from None


def create_app(config: dict | None = None, clock=None) -> Flask:
    """Build the web app. `config` takes the environment's keys in lower case (e.g. database_url)."""
    cfg = load_config(config)
    if clock is None and config and config.get("now"):
        clock = FixedClock(config["now"])
    runtime = Runtime(cfg, clock=clock)
    app = Flask(__name__)
    app.config["MAX_CONTENT_LENGTH"] = MAX_BODY
    app.config["SECRET_KEY"] = cfg["BOT_SECRET_KEY"] or None
    app.json = JSONProvider(app)
    app.extensions["bot"] = runtime
    logs.install(cfg)  # secrets redacted from every log line
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    logging.getLogger("apscheduler.executors").setLevel(logging.WARNING)

    @app.before_request
    def _connect():
        if request.path == "/api/events":  # a batch of up to 1000 events; every other body stays small
            request.max_content_length = MAX_API_BODY
        runtime.database.connect(reuse_if_open=True)

    @app.teardown_request
    def _close(exc):
        # the thread keeps its connection for the next request; after an error it starts afresh
        if exc is not None and not runtime.database.is_closed() and not runtime.database.in_transaction():
            runtime.database.close()

    started = runtime.now()

    @app.get("/healthz")
    def healthz():
        """200 when the database answers and the scheduler ran in the last 15 minutes (its delivery job
        runs every 3 s); 503 when it has not (or never did, 15 minutes after this process started)."""
        ping(runtime.database)
        from .jobs import JOBS
        from .metrics import last_success
        now = runtime.now()
        with connected(runtime.database):
            runs = [t for t in (last_success(name, now) for name in JOBS) if t is not None]
        last = max(runs) if runs else None
        late = now - (last or started) > SCHEDULER_SILENT
        body = {"ok": not late, "channels": [c for c in channels.CHANNELS if cfg.channel_on(c)],
                "scheduler_last_run": last.isoformat() + "Z" if last else None}
        if late:
            body["error"] = "调度器超过 15 分钟没有运行 (python -m bot scheduler)"
        return jsonify(body), 503 if late else 200

    @app.errorhandler(413)
    def too_large(e):
        limit = "2 MB" if request.path == "/api/events" else "64 KB"
        app.logger.warning("request refused (413): body over %s on %s from %s", limit, request.path,
                           request.remote_addr)
        return jsonify(error=f"请求太大(最多 {limit})"), 413

    for name in channels.CHANNELS:  # each configured chat tool's routes (bot/channels/<name>/routes.py)
        if cfg.channel_on(name):
            app.register_blueprint(channels.blueprint_of(name))
    from . import api, charts, links, metrics, web
    app.register_blueprint(api.blueprint)  # POST /api/events
    if cfg["BOT_BENCH_ROUTES"] == "1":
        from . import bench_routes
        app.register_blueprint(bench_routes.blueprint)
    app.register_blueprint(metrics.blueprint)  # GET /metrics (Prometheus)
    app.register_blueprint(links.blueprint)
    app.register_blueprint(web.blueprint)  # dashboard, login, chat simulator (bot/web/)
    app.register_blueprint(charts.blueprint)  # GET /charts/*.png
    return app
