"""The same chat message delivered several times at once (a retry racing the first delivery) is
executed once on every database: the others get the first one's answer and write nothing."""
from __future__ import annotations

import threading

from handlers.messages import Incoming
from storage.models import Activity, Contact, InboundMessage
from tests.conftest import make_runtime
from tests.helpers import counts, small_team


def deliver_at_once(rt, msg: Incoming, times: int) -> list:
    """Hand the same message to the runtime from `times` threads at the same moment; their Handled."""
    start = threading.Barrier(times)
    results, errors = [], []

    def deliver():
        try:
            start.wait(5)
            with rt.database.connection_context():
                results.append(rt.handle(msg))
        except Exception as e:  # noqa: BLE001
            errors.append(e)

    threads = [threading.Thread(target=deliver) for _ in range(times)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert errors == []
    assert len(results) == times
    return results


def test_concurrent_deliveries_of_one_message_run_it_once(db_url, clock):
    rt = make_runtime(db_url, clock)
    small_team(rt)
    before = counts(rt)
    msg = Incoming("wecom", "msg:7001", "alice", text="拜访 华联超市 见了采购总监王总,下一步周五前发方案")
    results = deliver_at_once(rt, msg, 4)
    assert sum(1 for h in results if not h.duplicate) == 1
    first = next(h for h in results if not h.duplicate)
    assert first.replies[0].template == "activity_logged"
    assert all([r.to_dict() for r in h.replies] == [r.to_dict() for r in first.replies] for h in results)
    after = counts(rt)
    assert after["Activity"] == before["Activity"] + 1
    with rt.database.connection_context():
        assert InboundMessage.select().count() == 1
        assert Contact.select().where(Contact.name == "王总").count() == 1
        assert Activity.select().where(Activity.kind == "visit").count() == 1


def test_concurrent_deliveries_of_a_refused_message_ask_once(db_url, clock):
    """An ambiguous name (a numbered question) delivered at once several times: one question, one record."""
    from storage.models import PendingChoice
    rt = make_runtime(db_url, clock)
    small_team(rt)
    msg = Incoming("wecom", "msg:7002", "alice", text="拜访 华联 聊了陈列")
    results = deliver_at_once(rt, msg, 3)
    assert [h.replies[0].data.get("code") for h in results] == ["ambiguous"] * 3
    assert sum(1 for h in results if not h.duplicate) == 1
    with rt.database.connection_context():
        assert InboundMessage.select().count() == 1 and PendingChoice.select().count() == 1
