"""POST /api/events: signals from other systems into the same activity log as chat.

Authentication: header `X-Bot-Timestamp` (unix seconds) and `X-Bot-Signature` = hex HMAC-SHA256 of
"{timestamp}.{raw body}" with BOT_API_SECRET. Stale (over 5 minutes), forged and replayed requests are
refused. A batch holds up to 1000 events (a body of at most 2 MB) and is checked whole before anything
is recorded (a field of the wrong type: 400, nothing written); each event has an id, so a retried batch is not counted twice,
and each gets its own result (an unknown customer is reported back, not dropped).
"""
from __future__ import annotations

import hashlib
import hmac
import json
import logging
from datetime import datetime, timedelta, timezone

from flask import Blueprint, current_app, jsonify, request
from peewee import IntegrityError

from storage import deals, events, inbound
from storage.database import to_db

log = logging.getLogger(__name__)
blueprint = Blueprint("api", __name__, url_prefix="/api")
MAX_EVENTS = 1000
WINDOW = timedelta(minutes=5)
TYPES = {
    # type: (activity kind, counts as the rep's movement)
    "doc_open": ("doc_open", False),
    "competitor": ("competitor", False),
    "call": ("call", True),
    "meeting": ("meeting", True),
    "visit": ("visit", True),
    "feedback": ("feedback", True),
    "note": ("note", True),
    "ticket_opened": (None, False),
    "ticket_answered": (None, False),
}


def sign(secret: str, timestamp: str, body: bytes) -> str:
    return hmac.new(secret.encode(), timestamp.encode() + b"." + body, hashlib.sha256).hexdigest()


def refuse(status: int, message: str):
    log.warning("api request refused (%s): %s from %s", status, message, request.remote_addr)
    return jsonify(error=message), status


@blueprint.post("/events")
def post_events():
    runtime = current_app.extensions["bot"]
    secret = runtime.config["BOT_API_SECRET"]
    if not secret:
        return refuse(404, "API 未开启: 请设置 BOT_API_SECRET")
    body = request.get_data()
    ts, signature = request.headers.get("X-Bot-Timestamp", ""), request.headers.get("X-Bot-Signature", "")
    now = runtime.clock.now()
    if not (ts.isascii() and ts.isdigit() and len(ts) <= 12):
        return refuse(401, "缺少或无效的 X-Bot-Timestamp")
    sent_at = datetime.fromtimestamp(int(ts), timezone.utc)
    if abs(now - sent_at) > WINDOW:
        return refuse(401, "请求已过期 (时间戳与服务器相差超过 5 分钟)")
    # bytes: compare_digest refuses a str with non-ASCII characters
    if not hmac.compare_digest(sign(secret, ts, body).encode(), signature.encode("utf-8", "replace")):
        return refuse(401, "签名错误")
    try:
        payload = json.loads(body)
    except (ValueError, RecursionError):
        return refuse(400, "请求体不是 JSON")
    items = payload.get("events") if isinstance(payload, dict) else None
    if not isinstance(items, list) or not items:
        return refuse(400, "需要 {\"events\": [...]}")
    if len(items) > MAX_EVENTS:
        return refuse(413, f"一次最多 {MAX_EVENTS} 个事件")
    problem = batch_problem(items)
    if problem:  # the whole batch is checked before anything is recorded: a fixed retry is not a replay
        return refuse(400, problem)
    db_now = runtime.now()
    with runtime.database.connection_context():
        try:
            # the request's record and its events commit together: a failure leaves nothing behind
            with runtime.database.atomic():
                inbound.record("api-request", signature[:128], "api", ts, db_now)
                results = ingest(runtime, items, db_now)
        except IntegrityError:
            return refuse(409, "重复的请求 (重放)")
    return jsonify(results=results, accepted=sum(r["status"] == "ok" for r in results))


TEXT_FIELDS = {"type": 40, "customer": 200, "team": 200, "at": 64, "text": 20000, "contact": 200, "title": 200,
               "ticket_id": 200}


def batch_problem(items: list) -> str | None:
    """What makes the batch unreadable (the first event whose fields have the wrong type), else None.
    What an event means (an unknown customer or type, a time in the future) is answered per event."""
    for i, e in enumerate(items):
        where = f"events[{i}]"
        if not isinstance(e, dict):
            return f"{where} 必须是 JSON 对象"
        eid = e.get("id")
        if not isinstance(eid, str) or not eid or len(eid) > 120:
            return f"{where}.id 必须是不超过 120 字符的字符串"
        for name, limit in TEXT_FIELDS.items():
            value = e.get(name)
            if value is not None and (not isinstance(value, str) or len(value) > limit):
                return f"{where}.{name} 必须是不超过 {limit} 字符的字符串"
    return None


def ingest(runtime, items: list, now: datetime) -> list[dict]:
    names = {e["customer"] for e in items if e.get("customer")}
    by_name = events.customers_named(names) if names else {}
    return [one(runtime, e, by_name, now) for e in items]


def event_time(e: dict, now: datetime) -> datetime:
    """The event's `at` as stored; ValueError for one that is not an ISO-8601 time or is in the future."""
    if not e.get("at"):
        return now
    try:
        at = to_db(datetime.fromisoformat(e["at"]).astimezone(timezone.utc))
    except (ValueError, OverflowError):
        raise ValueError("at 必须是 ISO-8601 时间 (带时区)") from None
    if at > now + timedelta(minutes=5):
        raise ValueError("at 不能在将来")
    return at


def one(runtime, e: dict, by_name: dict, now: datetime) -> dict:
    eid = e["id"]
    kind = e.get("type")
    if kind not in TYPES:
        return {"id": eid, "status": "error", "error": f"未知类型 {kind!r}; 可用: {sorted(TYPES)}"}
    found = by_name.get(e.get("customer"), [])
    if e.get("team"):
        found = [c for c in found if c.team.name == e["team"]]
    if not found:
        return {"id": eid, "status": "error", "error": f"未知客户 {e.get('customer')!r}"}
    if len(found) > 1:
        return {"id": eid, "status": "error", "error": "多个团队有同名客户, 请给出 team"}
    customer = found[0]
    try:
        at = event_time(e, now)
        with runtime.database.atomic():  # a savepoint: a duplicate event leaves the rest of the batch
            inbound.record("api", eid, "api", kind, now)
            deal = deals.open_deal(customer.id)
            activity, movement = TYPES[kind]
            if activity is None:
                ticket = e.get("ticket_id")
                if not ticket:
                    raise ValueError("工单事件需要 ticket_id")
                (events.ticket_opened if kind == "ticket_opened" else events.ticket_answered)(
                    customer, deal, ticket[:128], at)
            else:
                contact = None
                if e.get("contact"):
                    title = e.get("title") or ""
                    dm = any(t.lower() in title.lower() for t in runtime.funnel.decision_titles)
                    contact = deals.upsert_contact(customer, e["contact"][:64], title[:64], dm, now)
                deals.add_activity(deal, customer, customer.owner, activity, (e.get("text") or "")[:2000], at,
                                   contact=contact, movement=movement)
    except IntegrityError:
        return {"id": eid, "status": "duplicate"}
    except ValueError as err:
        return {"id": eid, "status": "error", "error": str(err)}
    return {"id": eid, "status": "ok"}


@blueprint.get("/openapi.json")
def openapi():
    return jsonify(OPENAPI)


EVENT_SCHEMA = {
    "type": "object", "required": ["id", "type", "customer"],
    "properties": {
        "id": {"type": "string", "maxLength": 120, "description": "unique per event; a retried batch is not counted twice"},
        "type": {"type": "string", "enum": sorted(TYPES)},
        "customer": {"type": "string", "description": "the customer's name as in the bot"},
        "team": {"type": "string", "description": "the team's name, when several teams share a customer name"},
        "at": {"type": "string", "format": "date-time", "description": "when it happened (default: now)"},
        "text": {"type": "string"},
        "contact": {"type": "string"}, "title": {"type": "string"},
        "ticket_id": {"type": "string", "description": "for ticket_opened / ticket_answered"},
    },
}
OPENAPI = {
    "openapi": "3.0.3",
    "info": {"title": "Sales-funnel bot events API", "version": "1"},
    "paths": {"/api/events": {"post": {
        "summary": "Send up to 1000 events (a body of at most 2 MB) (document opened, internal ticket opened/answered, call records, ...)",
        "parameters": [
            {"name": "X-Bot-Timestamp", "in": "header", "required": True, "schema": {"type": "string"},
             "description": "unix seconds; within 5 minutes of the server's clock"},
            {"name": "X-Bot-Signature", "in": "header", "required": True, "schema": {"type": "string"},
             "description": "hex HMAC-SHA256 of '{timestamp}.{raw body}' with BOT_API_SECRET"}],
        "requestBody": {"required": True, "content": {"application/json": {"schema": {
            "type": "object", "required": ["events"],
            "properties": {"events": {"type": "array", "maxItems": MAX_EVENTS, "items": EVENT_SCHEMA}}}}}},
        "responses": {
            "200": {"description": "one result per event: ok, duplicate or error (with the reason)"},
            "400": {"description": "not JSON / no events / an event whose fields have the wrong type (nothing "
                                   "recorded)"},
            "401": {"description": "stale or forged"},
            "409": {"description": "the same request replayed"}, "413": {"description": "too many events"}},
    }}},
}
