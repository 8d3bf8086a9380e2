"""The fault suite's short version (bench/faults.py runs the long one, with a PostgreSQL restart and
2-minute outages): gunicorn with 3 workers and `python -m bot scheduler` on PostgreSQL, the loopback
WeCom and DingTalk fakes, signed callbacks retried until accepted; a web worker and the scheduler are
killed -9 mid-work, the APIs go away for 5 s, two schedulers run at once. Counted at the fakes."""
from __future__ import annotations

import os

import pytest

from tests.conftest import PG_URL, _admin, _server_url

pytestmark = pytest.mark.timeout(600)


def test_nothing_is_lost_or_duplicated_under_faults():
    if _server_url("postgres") is None:
        pytest.fail("the fault suite needs PostgreSQL")
    from bench.faults import duplicated, explained, lost, report, run
    name = f"bot_faults_{os.getpid()}"
    try:
        result = run("postgres", short=True, restart_db=False, url=PG_URL, lease=15, rate=6.0, database_name=name)
    finally:
        _admin(PG_URL, f"DROP DATABASE IF EXISTS {name}")
    report("postgres", result)
    assert result["attempts_cut"] >= 1  # the kill -9 did cut requests: they were retried, not lost
    assert result["wecom_answered"] == result["wecom_sent"] > 0
    assert result["ding_accepted"] == result["ding_sent"] > 0
    assert result["activities"] == result["wecom_sent"] + result["ding_sent"]  # each message recorded once
    assert result["outbox_rows_queued"] > 0 and result["dropped_by_outage"] > 0
    assert lost(result) == 0
    # a DingTalk answer in flight when its sender (scheduler or web worker) was killed may arrive twice
    # (DingTalk takes no idempotency key), at most one per sender killed; nothing else may
    assert duplicated(result) <= explained(result) <= result["sender_kills"]
