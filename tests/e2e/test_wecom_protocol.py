"""WeCom as its real server behaves (tests/fakes/wecom_server.py is as strict): the card schema and the
160 characters a card shows, task_id reuse (42014), the set-up errors (40001, 60020), invisible members
(81013). On SQLite, PostgreSQL and MariaDB."""
from __future__ import annotations

from bot.cards import rep_buttons
from bot.channels.wecom.wire import SUB_TITLE, task_id_for
from bot.jobs.deliver import deliver
from storage import outbox
from storage.models import Outbox
from tests.conftest import T0
from tests.e2e.test_wecom import app, card_event, client, fake, rt, run, wecom_post  # noqa: F401  (fixtures)


def warning_rows(n: int) -> list[dict]:
    return [{"deal_id": i, "customer": f"客户{i:02d}", "days_silent": 3 + i, "stage": "方案提交", "amount": 80000,
             "level": "orange", "level_name": "橙色", "icon": "🟠", "suggestion": ""} for i in range(n)]


def test_a_warning_card_for_16_deals_keeps_every_row_and_the_more_count(rt, fake):
    """A card shows 160 characters of text: the whole list goes first as a text message, the card after
    it with the lines that fit, a count of the rest, and its buttons."""
    buttons = rep_buttons(1, 1, "客户00", prefix=True) + rep_buttons(2, 1, "客户01", prefix=True)
    payload = {"template": "warnings", "data": {"rows": warning_rows(16), "more": 5},
               "buttons": [{"label": b.label, "action": b.action} for b in buttons], "urgent": False}
    with rt.database.connection_context():
        outbox.enqueue("warn:alice:scan1:1", "wecom", "alice", payload, rt.now())
    assert run(rt, deliver, T0)["sent"] == 1
    text, card = fake.sent
    assert text["msgtype"] == "text" and card["msgtype"] == "template_card"
    assert all(f"客户{i:02d}" in text["text"]["content"] for i in range(16)) and "还有 5 个" in text["text"]["content"]
    sub = card["template_card"]["sub_title_text"]
    assert len(sub) <= SUB_TITLE and "另有" in sub and "见上一条消息" in sub
    assert len(card["template_card"]["button_list"]) == 6


def test_a_short_card_is_one_message(rt, fake):
    payload = {"template": "warnings", "data": {"rows": warning_rows(1), "more": 0},
               "buttons": [{"label": "已跟进", "action": "followup:1:1"}], "urgent": False}
    with rt.database.connection_context():
        outbox.enqueue("warn:alice:scan2:1", "wecom", "alice", payload, rt.now())
    assert run(rt, deliver, T0)["sent"] == 1
    (card,) = fake.sent
    assert card["msgtype"] == "template_card" and "客户00" in card["template_card"]["main_title"]["title"]


def test_a_card_whose_task_id_wecom_has_seen_goes_with_a_new_one(client, rt, fake):
    """A restored database or a staging copy sends a card WeCom has had before: 42014 is not the end."""
    key = "task:alice:2026-11-27"
    fake.task_ids.add(task_id_for(key))
    payload = {"template": "warnings", "data": {"rows": warning_rows(1), "more": 0},
               "buttons": [{"label": "已跟进", "action": "followup:1:1"}], "urgent": False}
    with rt.database.connection_context():
        outbox.enqueue(key, "wecom", "alice", payload, rt.now())
    assert run(rt, deliver, T0)["sent"] == 1
    (card,) = fake.sent
    task_id = card["template_card"]["task_id"]
    assert task_id != task_id_for(key) and task_id.startswith(task_id_for(key))
    # the card is known under the task_id it went with: a click updates it, its one deal handled (the
    # card was about an earlier silence period: the button says so)
    event = card_event("alice", task_id, "followup:1:1", fake.click("alice", task_id, "followup:1:1"))
    assert wecom_post(client, event).get_data() == b""
    run(rt, deliver, T0)
    assert fake.cards[task_id]["card"]["replace_text"] == "✅ 已处理：该商机之后已有新进展"


def test_a_server_outside_the_trusted_ips_keeps_the_messages_and_says_why(rt, fake):
    """60020: the admin has to add the server's IP; the messages wait for that instead of failing, and
    the error says what to fix."""
    fake.trusted_ip = False
    with rt.database.connection_context():
        outbox.enqueue("n1", "wecom", "alice", {"template": "nudge", "data": {"manager": "李岩", "customer": "c"}},
                       rt.now())
    tally = run(rt, deliver, T0)
    assert tally["sent"] == 0 and tally["failed"] == 0
    with rt.database.connection_context():
        row = Outbox.get()
    assert row.status == "pending" and "60020" in row.last_error and "可信IP" in row.last_error


def test_a_wrong_secret_is_not_refreshed_as_a_token_error(rt, fake):
    """40001 from gettoken: the secret is wrong; the error names WECOM_SECRET, and no token refresh loop."""
    fake.secret = "rotated"
    with rt.database.connection_context():
        outbox.enqueue("n2", "wecom", "alice", {"template": "nudge", "data": {"manager": "李岩", "customer": "c"}},
                       rt.now())
    run(rt, deliver, T0)
    with rt.database.connection_context():
        row = Outbox.get()
    assert row.status == "pending" and "WECOM_SECRET" in row.last_error and fake.token_calls == 1


def test_a_text_in_parts_takes_a_slot_per_part_so_nothing_is_dropped(rt, fake):
    """WeCom drops a member's messages past 30 a minute without an error: a list sent as two messages
    counts twice, so the 30th message waits for the next minute instead of vanishing."""
    rows = [{"deal_id": i, "customer": f"客户{i:02d}", "owner": "王磊", "stage": "方案提交", "days_silent": 4,
             "level": "orange", "level_name": "橙色", "icon": "🟠"} for i in range(40)]
    with rt.database.connection_context():
        outbox.enqueue("reply:wecom:msg:1:0", "wecom", "alice", {"template": "my_deals", "data": {
            "rows": rows, "manager": False, "total": 40, "more": 0}}, rt.now())
        for i in range(29):
            outbox.enqueue(f"n{i}", "wecom", "alice", {"template": "nudge", "data": {"manager": "李岩",
                                                                                   "customer": f"c{i}"}}, rt.now())
    tally = run(rt, deliver, T0)
    assert tally["sent"] == 29 and tally["deferred"] == 1
    assert fake.dropped == [] and len(fake.sent) == 30
    from datetime import timedelta
    fake._windows.clear()  # the fake counts its minute in real time: the minute has passed
    assert run(rt, deliver, T0 + timedelta(seconds=61))["sent"] == 1
    assert fake.dropped == [] and len(fake.sent) == 31
