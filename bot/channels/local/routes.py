"""The local chat channel: JSON over HTTP, for trying the bot, the CLI, the simulator and tests.

POST /local/messages {"user": ..., "text": ...} or {"user": ..., "action": ...} (optional "id": the
message id used for dedup) -> {"replies": [...], "understood": {...}}
GET  /local/outbox?to=USER_OR_GROUP -> what the bot sent (or has queued) for them
"""
from __future__ import annotations

from flask import Blueprint, current_app, jsonify, request

from storage import outbox

from handlers.messages import Reply
from .. import channel_for
from ..base import Rejected
from ...render import render_text

blueprint = Blueprint("local", __name__, url_prefix="/local")
MAX_LIST = 500


def reply_json(reply: Reply) -> dict:
    return {"template": reply.template, "text": render_text(reply, "local"),
            "buttons": [{"label": b.label, "action": b.action} for b in reply.buttons],
            "urgent": reply.urgent}


def bad(message: str, status: int = 400):
    current_app.logger.info("local channel rejected a request: %s", message)
    return jsonify(error=message), status


@blueprint.post("/messages")
def messages():
    runtime = current_app.extensions["bot"]
    try:
        msg = channel_for("local", runtime).parse(request.get_json(silent=True))
    except Rejected as e:
        return bad(e.why, e.status)
    handled = runtime.handle(msg)
    return jsonify(replies=[reply_json(r) for r in handled.replies], understood=handled.understood,
                   duplicate=handled.duplicate)


@blueprint.get("/outbox")
def local_outbox():
    to = request.args.get("to", "")
    if not to:
        return bad("缺少参数 to")
    raw = request.args.get("limit", "50")
    limit = int(raw) if raw.isascii() and raw.isdigit() and len(raw) <= 6 else 0
    if not 1 <= limit <= MAX_LIST:
        return bad(f"limit 必须是 1 到 {MAX_LIST} 之间的整数")
    rows = outbox.rows(recipient=to[:128], channel="local", limit=limit)
    return jsonify(messages=[outbox_json(r) for r in rows])


def outbox_json(row) -> dict:
    reply = Reply.from_dict(outbox.payload_of(row))
    return {"id": row.id, "key": row.key, "status": row.status, "to": row.recipient,
            "created_at": row.created_at.isoformat() + "Z",
            "sent_at": row.sent_at.isoformat() + "Z" if row.sent_at else None, **reply_json(reply)}
