"""WeCom (企业微信) callback: GET URL check, POST encrypted messages and card clicks.

Verify (constant-time signature), decrypt (wechatpy, CorpID checked), parse, run through the one
inbound path, answer with an encrypted passive reply. The request path makes no network call: what
cannot go in the passive reply goes out through the outbox.
"""
from __future__ import annotations

import logging

from flask import Blueprint, Response, current_app, request
from handlers.messages import refusal_codes

from ...channels import channel_for
from ..base import Rejected
from . import cards
from .crypto import decrypt, encrypt, verify
from .wire import parse_xml, text_xml, update_button_xml

log = logging.getLogger(__name__)
blueprint = Blueprint("wecom", __name__)
EMPTY = ""


def reject(e: Rejected):
    log.warning("wecom callback rejected (%s): %s from %s", e.status, e.why, request.remote_addr)
    return Response(e.why, status=e.status, mimetype="text/plain")


@blueprint.get("/wecom/callback")
def url_check():
    """The admin's "save URL" check: answer the decrypted echostr exactly."""
    cfg = current_app.extensions["bot"].config
    try:
        echostr = request.args.get("echostr", "")
        if not echostr:
            raise Rejected(400, "no echostr")
        verify(cfg, request.args, echostr)
        return Response(decrypt(cfg, echostr), mimetype="text/plain")
    except Rejected as e:
        return reject(e)


@blueprint.post("/wecom/callback")
def callback():
    runtime = current_app.extensions["bot"]
    cfg = runtime.config
    try:
        outer = parse_xml(request.get_data(as_text=True))
        encrypted = outer.get("Encrypt")
        if not isinstance(encrypted, str) or not encrypted:
            raise Rejected(400, "no <Encrypt> element")
        verify(cfg, request.args, encrypted)
        fields = parse_xml(decrypt(cfg, encrypted))
    except Rejected as e:
        return reject(e)
    msg = channel_for("wecom", runtime).parse(fields)
    if msg is None:
        return Response(EMPTY, mimetype="text/plain")
    now = int(runtime.clock.now().timestamp())
    handled = runtime.handle(msg)
    if msg.action is not None:
        # the outcome went to the outbox as a message. A refused click leaves the card as it was; one
        # that did its job (or had been done before) marks its deal handled on the card, updated whole
        # through the outbox (cards.py), the other deal's buttons live. A card the bot does not know
        # (over 72 hours old) has its buttons greyed by the passive reply, saying how to get the rest
        if refusal_codes(handled.replies) - {"action_spent"}:
            return Response(EMPTY, mimetype="text/plain")
        if cards.clicked(runtime, msg, handled.replies) is not None:
            return Response(EMPTY, mimetype="text/plain")
        log.info("wecom card %r is not known (older than 72 h, or sent before the card map): its buttons "
                 "are greyed as a whole", str(msg.extra.get("task_id"))[:140])
        return encrypted_reply(cfg, update_button_xml(fields, now, cards.label(expired=True)), now)
    if handled.answer is None or not handled.answer.text:  # by message (queued with the message's record)
        return Response(EMPTY, mimetype="text/plain")
    return encrypted_reply(cfg, text_xml(fields, handled.answer.text, now), now)


def encrypted_reply(cfg, xml: str, now: int) -> Response:
    return Response(encrypt(cfg, xml, now), mimetype="application/xml")
