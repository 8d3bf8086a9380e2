"""Signed, expiring, single-use action links: buttons for chat tools whose buttons can only open a URL.

A DingTalk actionCard button (or a link in a WeCom markdown message) points to `/a/<token>`. The
token carries the rep's local id, the button's action ("followup:12:1794894448"), its label and an
expiry, signed with BOT_SECRET_KEY (itsdangerous).

Opening the link (GET) changes nothing: a link preview, a mail or security scanner or a prefetch fetches
it too. The page it gets submits itself (POST to the same address) in a browser that runs scripts, so a
rep's tap still acts at once; without scripts it shows the button's label and a "确认" button. The POST
runs the action for that rep through the one inbound path,
`runtime.handle(Incoming("link", "link:<token hash>", rep_local_id, action=...))`, so the action is
recorded once: a second click gets the recorded answer and the page says "已处理过" (a GET of a link
already pressed says so without a POST). A forged or expired token gets a 4xx page and writes nothing.

The link is a bearer token: whoever opens it acts as the rep it names. Send it only where that rep
(or, for the manager group, the managers) can see it.
"""
from __future__ import annotations

import hashlib
import logging
import os
import re
import secrets
from datetime import timedelta

from flask import Blueprint, Response, current_app, request
from itsdangerous import BadData, BadSignature, TimestampSigner, URLSafeTimedSerializer
from itsdangerous.encoding import base64_decode, base64_encode

from storage import inbound

from handlers.messages import Incoming, Reply, refusal_codes
from .render import html_env, render_text

log = logging.getLogger(__name__)
blueprint = Blueprint("links", __name__)

LINK_TTL = timedelta(days=7)
SALT = "bot.links.v1"
KEY_FILE = "secret_key"  # the generated key, when BOT_SECRET_KEY is not set: a 0600 file beside the database
MAX_TOKEN = 1024


class LinkError(Exception):
    def __init__(self, status: int, why: str, title: str, message: str):
        super().__init__(why)
        self.status, self.why, self.title, self.message = status, why, title, message


def _clock_signer(clock):
    """A TimestampSigner whose timestamps come from the runtime clock, not the system time."""

    class ClockSigner(TimestampSigner):
        def get_timestamp(self) -> int:
            return int(clock.now().timestamp())

    return ClockSigner


def secret_key(runtime, create: bool = True) -> str | None:
    """BOT_SECRET_KEY, else a random key generated once into a file only the bot's user can read
    (BOT_SECRET_KEY_FILE, default `secret_key` beside the SQLite file or in data/), shared by every
    process on the machine. Never in the database: whoever reads a backup or a row could forge
    sessions and links with it. With create=False a missing key is not generated (nothing can have
    been signed with it): None.
    """
    configured = runtime.config["BOT_SECRET_KEY"]
    if configured:
        return configured
    cached = runtime.__dict__.get("_link_key")
    if cached:
        return cached
    path = key_file(runtime.config)
    key = _read_key(path)
    if key is None and create:
        os.makedirs(os.path.dirname(path) or ".", mode=0o700, exist_ok=True)
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:  # another process made it first: use theirs
            key = _wait_for_key(path)
        else:
            key = secrets.token_urlsafe(32)
            with os.fdopen(fd, "w") as f:
                f.write(key)
            log.info("generated the signing key into %s (set BOT_SECRET_KEY to choose one)", path)
    if key:
        runtime.__dict__["_link_key"] = key
    return key


def key_file(cfg) -> str:
    if cfg["BOT_SECRET_KEY_FILE"]:
        return cfg["BOT_SECRET_KEY_FILE"]
    url = cfg.database_url
    if url.startswith("sqlite:///") and ":memory:" not in url:
        return os.path.join(os.path.dirname(os.path.abspath(url[len("sqlite:///"):])), KEY_FILE)
    return os.path.join("data", KEY_FILE)


def _read_key(path: str) -> str | None:
    try:
        with open(path) as f:
            return f.read().strip() or None
    except FileNotFoundError:
        return None


def _wait_for_key(path: str) -> str:
    import time
    for _ in range(100):  # the creator writes 43 bytes right after creating the file
        key = _read_key(path)
        if key:
            return key
        time.sleep(0.01)
    raise RuntimeError(f"the signing key file {path} stays empty: delete it or set BOT_SECRET_KEY")


def _serializer(runtime, key: str) -> URLSafeTimedSerializer:
    return URLSafeTimedSerializer(key, salt=SALT, signer=_clock_signer(runtime.clock))


def make_token(runtime, rep_local_id: str, action: str, ttl: timedelta = LINK_TTL, label: str = "") -> str:
    expires = int((runtime.clock.now() + ttl).timestamp())
    data = {"u": rep_local_id, "a": action, "e": expires, **({"l": label[:40]} if label else {})}
    return _serializer(runtime, secret_key(runtime)).dumps(data)


def read_token(runtime, token: str) -> tuple[str, str]:
    """(rep local id, action) of a valid token; LinkError (4xx) for a forged, broken or expired one."""
    data = _payload(runtime, token)
    return data["u"], data["a"]


def _payload(runtime, token: str) -> dict:
    """The checked contents of a token: u (rep local id), a (action), e (expiry), l (label, optional)."""
    forged = LinkError(403, "bad signature", "链接无效", "这个链接无效或已被篡改，请在聊天中重新打开最新的消息。")
    key = secret_key(runtime, create=False)
    if not key or len(token) > MAX_TOKEN:
        raise forged
    if not canonical(token):  # `<token>=` or another spelling of the same bytes: not a new token
        raise LinkError(400, "token not in its canonical encoding", "链接无效", "这个链接无法识别。")
    try:
        data = _serializer(runtime, key).loads(token)
    except BadSignature:
        raise forged from None
    except BadData:
        raise LinkError(400, "unreadable token", "链接无效", "这个链接无法识别。") from None
    if not (isinstance(data, dict) and isinstance(data.get("u"), str) and isinstance(data.get("a"), str)
            and isinstance(data.get("e"), int)):
        raise LinkError(400, "token without user/action/expiry", "链接无效", "这个链接无法识别。")
    if runtime.clock.now().timestamp() >= data["e"]:
        raise LinkError(410, "expired", "链接已过期", "这个按钮已过期，请在聊天中查看最新的消息或直接发消息给机器人。")
    if not isinstance(data.get("l", ""), str):
        raise LinkError(400, "token with a bad label", "链接无效", "这个链接无法识别。")
    return data


TOKEN_CHARS = re.compile(r"[A-Za-z0-9_\-.]+")


def canonical(token: str) -> bool:
    """Whether `token` is spelled as the serializer spells it: base64url without padding, segment by
    segment. base64 decoders accept padding and ignore a last character's unused bits, so one signed
    token has other spellings; one token must be one click (its inbound id is its hash)."""
    if not TOKEN_CHARS.fullmatch(token):
        return False
    for part in token.split("."):
        if part:
            try:
                if base64_encode(base64_decode(part)).decode() != part:
                    return False
            except BadData:
                return False
    return True


def token_id(token: str) -> str:
    """The inbound message id of a click on `token`: one token, one recorded action."""
    return "link:" + hashlib.sha256(token.encode()).hexdigest()[:40]


def link_url(runtime, token: str) -> str:
    return f"{runtime.config['BOT_PUBLIC_URL'].rstrip('/')}/a/{token}"


def action_links(reply: Reply, rep_local_id: str, runtime, ttl: timedelta = LINK_TTL) -> list[tuple[str, str]]:
    """[(button label, signed URL)] for the reply's buttons, each acting as `rep_local_id` when opened."""
    return [(b.label, link_url(runtime, make_token(runtime, rep_local_id, b.action, ttl, b.label)))
            for b in reply.buttons]


def managers_links(reply: Reply, managers, runtime) -> list[tuple[str, str]]:
    """The reply's buttons for a manager group: each manager gets links that act as them (a link names
    the rep who acts), labelled with the manager's name when there are several."""
    return [(f"{label}（{m.name}）" if len(managers) > 1 else label, url)
            for m in managers for label, url in action_links(reply, m.local_id, runtime)]


def page(title: str, message: str, status: int = 200, done: bool = False, confirm: str = "") -> Response:
    """The link's page; with `confirm` (the button's label) a form that POSTs the link, sent by itself."""
    html = html_env().get_template("pages/link.html").render(title=title, message=message, done=done,
                                                             confirm=confirm)
    resp = Response(html, status=status, mimetype="text/html")
    resp.headers["Cache-Control"] = "no-store"
    resp.headers["Referrer-Policy"] = "no-referrer"  # the token is in the URL
    resp.headers["X-Robots-Tag"] = "noindex"
    return resp


def _checked(runtime, token: str) -> dict | Response:
    try:
        return _payload(runtime, token)
    except LinkError as e:
        log.warning("action link rejected (%s): %s from %s", e.status, e.why, request.remote_addr)
        return page(e.title, e.message, e.status)


def _answer_page(replies, duplicate: bool) -> Response:
    text = "\n".join(render_text(r, "link") for r in replies) or "已完成"
    codes = refusal_codes(replies)
    if codes - {"action_spent"}:  # refused (now, or when it was pressed before)
        return page("未能执行", text)
    if duplicate or codes:  # pressed before, or the card's deal moved on since
        return page("已处理过", text, done=True)
    return page("已完成", text, done=True)


@blueprint.get("/a/<token>")
def open_link(token: str):
    """Opening a link presses nothing (HEAD and GET are safe): the page asks the browser to POST it."""
    if request.method == "HEAD":
        return Response(status=200, headers={"Cache-Control": "no-store"})
    runtime = current_app.extensions["bot"]
    data = _checked(runtime, token)
    if isinstance(data, Response):
        return data
    earlier = inbound.answered("link", token_id(token))
    if earlier is not None:
        return _answer_page([Reply.from_dict(r) for r in earlier], duplicate=True)
    label = data.get("l") or "执行此操作"
    return page("确认操作", f"「{label}」", confirm=label)


@blueprint.post("/a/<token>")
def press_link(token: str):
    runtime = current_app.extensions["bot"]
    data = _checked(runtime, token)
    if isinstance(data, Response):
        return data
    handled = runtime.handle(Incoming("link", token_id(token), data["u"], action=data["a"]))
    return _answer_page(handled.replies, handled.duplicate)


# -- links to the dashboard's pages ---------------------------------------------------------------------

DEAL_SALT = "bot.deal-link.v1"


class WebLinks:
    """The dashboard addresses a chat message links to: a deal's page through a signed link
    (`/d/<token>`: the deal id, signed, so a link cannot be made up by counting ids; opening it still
    needs a login, by the chat tool as for every page) and the full lists (`/dashboard/...`)."""

    def __init__(self, runtime):
        self.runtime = runtime
        self._serializers: dict[str, object] = {}  # by key: a first scan signs tens of thousands of links

    @property
    def base(self) -> str:
        return self.runtime.config["BOT_PUBLIC_URL"].rstrip("/")

    def _key(self) -> str | None:
        return secret_key(self.runtime)

    def _serializer(self, key: str):
        serializer = self._serializers.get(key)
        if serializer is None:
            from itsdangerous import URLSafeSerializer
            serializer = self._serializers[key] = URLSafeSerializer(key, salt=DEAL_SALT)
        return serializer

    def deal(self, deal_id: int) -> str:
        """The signed link to a deal's page ("" in the rare case no signing key exists yet)."""
        key = self._key()
        return f"{self.base}/d/{self._serializer(key).dumps(int(deal_id))}" if key else ""

    def read_deal(self, token: str) -> int | None:
        """The deal id of a signed deal link, or None when the token is forged or unreadable."""
        key = self._key()
        if len(token) > 200 or not key:
            return None
        try:
            value = self._serializer(key).loads(token)
        except BadData:
            return None
        return value if isinstance(value, int) and 0 < value < 2 ** 63 else None

    def page(self, path: str, **query) -> str:
        from urllib.parse import urlencode
        args = {k: v for k, v in query.items() if v not in (None, "")}
        return f"{self.base}{path}" + (f"?{urlencode(args)}" if args else "")
