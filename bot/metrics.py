"""GET /metrics in Prometheus' text format (prometheus-client).

From the database at each scrape (the same for every process): outbox rows by channel and status, the
age of the oldest row waiting, each scheduled job's last success. Counted in this process (each
gunicorn worker has its own; Prometheus sums them per instance): delivery attempts and failures by
errcode, and a histogram of the time a callback's message takes through the runtime, per channel.
"""
from __future__ import annotations

import re
from datetime import datetime
from typing import TYPE_CHECKING

from flask import Blueprint, Response, current_app
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.core import GaugeMetricFamily

from storage import kv, outbox
from storage.database import connected

if TYPE_CHECKING:
    from .runtime import Runtime

blueprint = Blueprint("metrics", __name__)
REGISTRY = CollectorRegistry()
ATTEMPTS = Counter("bot_delivery_attempts", "Outbox rows handed to a chat tool", ["channel", "result"],
                   registry=REGISTRY)
FAILURES = Counter("bot_delivery_failures", "Failed sends by the chat tool's error code", ["channel", "errcode"],
                   registry=REGISTRY)
HANDLED = Histogram("bot_message_seconds", "Time a chat message takes through the runtime (dedup, command, "
                    "record)", ["channel"], registry=REGISTRY,
                    buckets=(0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0))
_CODE = re.compile(r"errcode (-?\w+)|HTTP \d+ ([\w.]+)|^([\w.]+):")
JOB_KEY = "job:{}:ok"


def errcode_of(error: str) -> str:
    m = _CODE.search(error or "")
    return next((g for g in m.groups() if g), "other") if m else "other"


def count_send(channel: str, result) -> None:
    ATTEMPTS.labels(channel, "sent" if result.ok else "retry" if result.retry else "failed").inc()
    if not result.ok:
        FAILURES.labels(channel, errcode_of(result.error)).inc()


def job_succeeded(name: str, now: datetime) -> None:
    kv.put(JOB_KEY.format(name), now.isoformat(), now)


def last_success(name: str, now: datetime) -> datetime | None:
    value = kv.get(JOB_KEY.format(name), now)
    return datetime.fromisoformat(value) if value else None


class DatabaseCollector:
    def __init__(self, runtime: Runtime):
        self.runtime = runtime

    def collect(self):
        from .jobs import JOBS
        now = self.runtime.now()
        rows = GaugeMetricFamily("bot_outbox_rows", "Outbox rows by channel and status", labels=["channel", "status"])
        oldest = GaugeMetricFamily("bot_outbox_oldest_pending_seconds", "Age of the oldest row waiting to go out")
        jobs = GaugeMetricFamily("bot_job_last_success_timestamp_seconds", "When each scheduled job last ran "
                                 "without an error (Unix time)", labels=["job"])
        with connected(self.runtime.database):
            for (channel, status), n in sorted(outbox.counts_by_channel().items()):
                rows.add_metric([channel, status], n)
            first = outbox.oldest_pending()
            oldest.add_metric([], (now - first).total_seconds() if first else 0)
            for name in JOBS:
                at = last_success(name, now)
                if at is not None:
                    jobs.add_metric([name], at.timestamp() if at.tzinfo else (at - datetime(1970, 1, 1)).total_seconds())
        yield from (rows, oldest, jobs)


@blueprint.get("/metrics")
def metrics():
    runtime = current_app.extensions["bot"]
    registry = CollectorRegistry()
    registry.register(DatabaseCollector(runtime))
    body = generate_latest(REGISTRY) + generate_latest(registry)
    return Response(body, mimetype=CONTENT_TYPE_LATEST.split(";")[0], headers={"Content-Type": CONTENT_TYPE_LATEST})
