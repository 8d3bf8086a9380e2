"""WeCom (企业微信) callback: GET URL check, POST encrypted messages and card clicks.

Verify (constant-time signature), decrypt (wechatpy, CorpID checked), parse, run through the one
inbound path, answer with an encrypted passive reply. The request path makes no network call: what
cannot go in the passive reply goes out through the outbox.
"""
from __future__ import annotations

import hashlib
import hmac
import logging
import uuid

import xmltodict
from flask import Blueprint, Response, current_app, g, request
from wechatpy.enterprise.crypto import PrpCrypto, WeChatCrypto
from wechatpy.enterprise.exceptions import InvalidCorpIdException
from wechatpy.utils import to_text

from ..messages import Incoming, Reply, refusal_codes
from ..render import render_text

log = logging.getLogger(__name__)
blueprint = Blueprint("wecom", __name__)
PASSIVE_LIMIT = 2048  # bytes of a passive text reply


class Rejected(Exception):
    def __init__(self, status: int, why: str):
        super().__init__(why)
        self.status, self.why = status, why


def crypto_of(cfg) -> WeChatCrypto:
    return WeChatCrypto(cfg["WECOM_TOKEN"], cfg["WECOM_AES_KEY"], cfg["WECOM_CORP_ID"])


def signature(token: str, timestamp: str, nonce: str, encrypted: str) -> str:
    return hashlib.sha1("".join(sorted([token, timestamp, nonce, encrypted])).encode()).hexdigest()


def verify(cfg, encrypted: str) -> None:
    args = request.args
    expected = signature(cfg["WECOM_TOKEN"], args.get("timestamp", ""), args.get("nonce", ""), encrypted)
    if not hmac.compare_digest(expected, args.get("msg_signature", "")):
        raise Rejected(403, "wrong signature")


def decrypt(cfg, encrypted: str) -> str:
    try:
        return to_text(PrpCrypto(crypto_of(cfg).key).decrypt(encrypted, cfg["WECOM_CORP_ID"]))
    except InvalidCorpIdException:
        raise Rejected(403, "wrong CorpID inside the ciphertext") from None
    except Exception as e:  # noqa: BLE001  bad base64 / padding
        raise Rejected(400, f"cannot decrypt: {type(e).__name__}") from None


def parse_xml(text: str) -> dict:
    """Parse XML we did not write: no DTDs or entities (XML bombs), must be <xml>…</xml>."""
    if "<!DOCTYPE" in text.upper() or "<!ENTITY" in text.upper():
        raise Rejected(400, "XML with a DTD or entities")
    try:
        doc = xmltodict.parse(text, disable_entities=True)
    except Exception as e:  # noqa: BLE001
        raise Rejected(400, f"not XML: {type(e).__name__}") from None
    if not isinstance(doc, dict) or not isinstance(doc.get("xml"), dict):
        raise Rejected(400, "XML without an <xml> root")
    return doc["xml"]


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
        verify(cfg, echostr)
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
        verify(cfg, encrypted)
        inner_text = decrypt(cfg, encrypted)
        fields = parse_xml(inner_text)
    except Rejected as e:
        return reject(e)
    incoming, card_click = to_incoming(fields)
    g.bot_now = int(runtime.clock.now().timestamp())
    if incoming is None:
        if str(fields.get("MsgType") or "").lower() == "event":
            return Response("", mimetype="text/plain")  # a location report, a menu view...: nothing to say
        return passive(cfg, fields, Reply("text_only", {}))
    handled = runtime.handle(incoming)
    if card_click:
        # the outcome went to the outbox as a message; the passive reply updates the clicked button
        # when the click did its job (or had been done before), and leaves it as it was when refused
        if refusal_codes(handled.replies) - {"action_spent"}:
            return Response("", mimetype="text/plain")
        return encrypted_reply(cfg, update_button_xml(fields))
    fits = incoming.extra["reply_via_outbox"]
    if fits(handled.replies):  # queued in the message's own transaction (a repeat finds them there)
        return Response("", mimetype="text/plain")
    if not fits.text:
        return Response("", mimetype="text/plain")
    return encrypted_reply(cfg, text_xml(fields, fits.text))


class PassiveFit:
    """Whether a message's replies go out as messages rather than in the passive reply (a card with
    buttons, or text over WeCom's 2048 bytes). The runtime asks inside the message's transaction, so
    the replies are queued with the message's record; the text rendered for the answer is kept."""

    def __init__(self):
        self.replies, self.via_outbox, self.text = None, False, ""

    def __call__(self, replies) -> bool:
        if replies is not self.replies:
            self.replies = replies
            self.text = "\n\n".join(render_text(r, "wecom") for r in replies if not r.buttons)
            self.via_outbox = bool(replies) and (any(r.buttons for r in replies)
                                                 or len(self.text.encode()) > PASSIVE_LIMIT)
        return self.via_outbox


def to_incoming(fields: dict) -> tuple[Incoming | None, bool]:
    """(the Incoming, whether it is a card click); None for what the bot does not act on."""
    sender = str(fields.get("FromUserName") or "")
    msg_type = str(fields.get("MsgType") or "").lower()
    created = str(fields.get("CreateTime") or "")
    if msg_type == "text":
        msg_id = str(fields.get("MsgId") or "").strip()
        # no MsgId (WeCom always sends one): the sender and second still name one delivery
        key = f"msg:{msg_id}" if msg_id else f"msg:{sender}:{created}"
        return Incoming("wecom", key, sender, text=str(fields.get("Content") or ""),
                        extra={"reply_via_outbox": PassiveFit()}), False
    if msg_type == "event":
        event = str(fields.get("Event") or "").lower()
        if event == "template_card_event":
            task_id, key = str(fields.get("TaskId") or ""), str(fields.get("EventKey") or "")
            return Incoming("wecom", f"card:{sender}:{task_id}:{key}", sender, action=key,
                            extra={"response_code": fields.get("ResponseCode"), "task_id": task_id,
                                   "reply_via_outbox": True}), True
        if event in ("enter_agent", "subscribe"):
            return Incoming("wecom", f"evt:{sender}:{created}:{event}", sender, text="帮助",
                            extra={"reply_via_outbox": PassiveFit()}), False
    return None, False


def _now() -> int:
    """The runtime clock's time for reply timestamps (set per request), never read deep in logic."""
    return getattr(g, "bot_now", None) or int(current_app.extensions["bot"].clock.now().timestamp())


def _envelope(fields: dict, msg_type: str, body: str) -> str:
    return (f"<xml><ToUserName><![CDATA[{fields.get('FromUserName', '')}]]></ToUserName>"
            f"<FromUserName><![CDATA[{fields.get('ToUserName', '')}]]></FromUserName>"
            f"<CreateTime>{_now()}</CreateTime><MsgType><![CDATA[{msg_type}]]></MsgType>{body}</xml>")


def text_xml(fields: dict, text: str) -> str:
    return _envelope(fields, "text", f"<Content><![CDATA[{text.replace(']]>', ']] >')}]]></Content>")


def update_button_xml(fields: dict, label: str = "已处理") -> str:
    return _envelope(fields, "update_button", f"<Button><ReplaceName><![CDATA[{label}]]></ReplaceName></Button>")


def encrypted_reply(cfg, xml: str) -> Response:
    body = crypto_of(cfg).encrypt_message(xml, uuid.uuid4().hex[:10], str(_now()))
    return Response(body, mimetype="application/xml")


def passive(cfg, fields: dict, reply: Reply) -> Response:
    return encrypted_reply(cfg, text_xml(fields, render_text(reply, "wecom")))
