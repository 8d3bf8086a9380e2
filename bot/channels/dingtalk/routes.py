"""DingTalk HTTP mode: POST /dingtalk/callback.

Verify the `timestamp` + `sign` headers (HMAC-SHA256 with the app secret, constant-time, one hour
against the runtime clock), parse the JSON, run it through the one inbound path (dedup by msgId) and
answer 200 `{}` at once. The replies go out through the outbox: the request never waits on DingTalk.
"""
from __future__ import annotations

import json
import logging

from flask import Blueprint, Response, current_app, jsonify, request
from werkzeug.exceptions import RequestEntityTooLarge

from storage.database import connected

from ..base import Rejected
from . import receive
from .sign import claim_sign, verify_sign

log = logging.getLogger(__name__)
blueprint = Blueprint("dingtalk", __name__)
MAX_BODY = 64 * 1024


def reject(e: Rejected):
    log.warning("dingtalk http callback rejected (%s): %s from %s", e.status, e.why, request.remote_addr)
    return jsonify(error=e.why), e.status


@blueprint.post("/dingtalk/callback")
def callback():
    runtime = current_app.extensions["bot"]
    cfg = runtime.config
    try:
        if request.content_length is not None and request.content_length > MAX_BODY:
            raise Rejected(413, f"body of {request.content_length} bytes (the limit is 64 KB)")
        verify_sign(request.headers.get("timestamp"), request.headers.get("sign"), cfg["DINGTALK_APP_SECRET"],
                    runtime.clock.now())
        try:
            raw = request.get_data(cache=False)
        except RequestEntityTooLarge:
            raise Rejected(413, "body over 64 KB") from None
        if len(raw) > MAX_BODY:
            raise Rejected(413, "body over 64 KB")
        try:
            data = json.loads(raw)
        except (ValueError, UnicodeDecodeError, RecursionError):
            raise Rejected(400, "the body is not JSON") from None
        with connected(runtime.database):
            claim_sign(request.headers["timestamp"], request.headers["sign"], raw, runtime.now())
        receive(runtime, data)
    except Rejected as e:
        return reject(e)
    return Response("{}", mimetype="application/json")
