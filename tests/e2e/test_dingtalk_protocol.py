"""DingTalk as its real servers behave (tests/fakes/dingtalk_server.py is as strict): a sender without a
senderStaffId, the 15,000 bytes of a robot's markdown (custom robot, session webhook and OpenAPI alike),
msgKey/msgParam validation, HTTP 400
staffId.notExisted. On SQLite, PostgreSQL and MariaDB."""
from __future__ import annotations

import json

from bot.jobs.deliver import deliver
from storage import outbox
from storage.models import Activity, Outbox
from tests.conftest import T0
from tests.e2e.test_dingtalk import GROUP_TOKEN, VISIT, app, client, count, ding_post, fake, robot_msg, rt, run  # noqa: F401


def test_a_sender_without_a_staff_id_is_answered(client, rt, fake):
    """Someone from outside the organisation has no senderStaffId: told they are not registered (in the
    conversation), nothing recorded for them, instead of a 400 and silence."""
    body = robot_msg(rt, fake, "alice", VISIT, "msgOut1")
    del body["senderStaffId"]
    assert ding_post(client, rt, body).status_code == 200
    run(rt, deliver, T0)
    (msg,) = fake.session_msgs
    assert "还没有登记" in msg["markdown"]["text"]
    assert count(rt, Activity) == 0


def group_text(rt, fake, parts: list[str]) -> str:
    with rt.database.connection_context():
        outbox.enqueue("big:1", "dingtalk", "mgr", {"template": "merged", "data": {"parts": parts,
                                                                                  "count": len(parts)}}, rt.now())
    assert run(rt, deliver, T0)["sent"] == 1, [r.last_error for r in Outbox.select()]
    (msg,) = [m for m in fake.robot if m["token"] == GROUP_TOKEN]
    return msg["markdown"]["text"]


def test_a_group_message_of_8000_characters_goes_whole(rt, fake):
    """The robot takes 15,000 bytes of markdown: 8,000 plain characters are not cut at 5,000."""
    parts = [f"deal-{i:03d} " + "x" * 70 for i in range(100)]
    text = group_text(rt, fake, parts)
    assert all(f"deal-{i:03d}" in text for i in range(100))


def test_a_group_message_over_15000_bytes_is_cut_between_lines_not_refused(rt, fake):
    parts = [f"客户{i:03d}" + "拜" * 60 for i in range(100)]  # about 19,000 bytes
    text = group_text(rt, fake, parts)
    assert len(text.encode()) <= 15000 and "客户000" in text
    assert all(line.endswith("拜") or not line.startswith("客户") for line in text.split("  \n"))  # whole lines


def openapi_text(rt, fake, parts: list[str], buttons: list | None = None) -> str:
    """A long message to alice with no session to answer in: the robot OpenAPI (oToMessages/batchSend)."""
    reply = {"template": "merged", "data": {"parts": parts, "count": len(parts)}, "buttons": buttons or []}
    with rt.database.connection_context():
        outbox.enqueue("big:oto", "dingtalk", "alice", reply, rt.now())
    assert run(rt, deliver, T0)["sent"] == 1, [r.last_error for r in Outbox.select()]
    (msg,) = fake.oto
    return msg["msgParam"]["text"]


def test_an_openapi_message_of_8000_characters_goes_whole(rt, fake):
    """sampleMarkdown takes the robot's 15,000 bytes too: 8,000 plain characters were cut at 5,000, mid-line."""
    text = openapi_text(rt, fake, [f"deal-{i:03d} " + "x" * 70 for i in range(100)])
    assert all(f"deal-{i:03d} " + "x" * 70 in text for i in range(100))


def test_an_openapi_message_over_15000_bytes_is_cut_between_lines_and_keeps_its_buttons(rt, fake):
    parts = [f"客户{i:03d}" + "拜" * 60 for i in range(100)]  # about 19,000 bytes
    buttons = [{"label": f"按钮{i}", "action": f"followup:{i}:1"} for i in range(7)]  # 5 on the card, 2 as links
    text = openapi_text(rt, fake, parts, buttons)
    assert len(text.encode()) <= 15000 and "客户000" in text and text.count("](") == 2
    assert all(line.endswith("拜") or not line.startswith("客户") for line in text.split("  \n"))  # whole lines


def test_a_staff_id_dingtalk_does_not_know_fails_visibly(rt, fake):
    """Every staff id unknown: DingTalk answers HTTP 400 staffId.notExisted; the row fails naming the person."""
    fake.invalid_staff.add("bob")
    with rt.database.connection_context():
        outbox.enqueue("n1", "dingtalk", "bob", {"template": "nudge", "data": {"manager": "李岩", "customer": "c"}},
                       rt.now())
    assert run(rt, deliver, T0)["failed"] == 1
    with rt.database.connection_context():
        row = Outbox.get()
    assert "staffId.notExisted" in row.last_error and "bob" in row.last_error


def test_every_openapi_message_the_bot_sends_has_a_valid_msg_key(rt, fake):
    """The fake refuses unknown msgKeys and missing parameters: cards with 1 to 7 buttons all pass."""
    from handlers.messages import Button, Reply
    for n in range(0, 8):
        reply = Reply("nudge", {"manager": "李岩", "customer": "c"},
                      [Button(f"按钮{i}", f"followup:{i}:1") for i in range(n)])
        with rt.database.connection_context():
            outbox.enqueue(f"card:{n}", "dingtalk", "alice", reply.to_dict(), rt.now())
    tally = run(rt, deliver, T0)
    assert tally["sent"] == 8, tally
    keys = [m["msgKey"] for m in fake.oto]
    assert keys[0] == "sampleMarkdown" and keys[1] == "sampleActionCard" and "sampleActionCard5" in keys
    assert all(json.dumps(m["msgParam"]) for m in fake.oto)
