"""The web pages: the manager dashboard, login (WeCom / DingTalk / local demo) and the chat simulator.

One blueprint, registered by `bot.create_app`. Sessions are Flask's signed cookies with an expiry
(BOT_SESSION_HOURS); the signing key is BOT_SECRET_KEY, or the key generated once into a 0600 file beside
the database and shared by every process on the machine (bot/links.secret_key). Every POST of these pages carries the session's
CSRF token (form field `csrf_token` or header `X-CSRF-Token`).

- `GET /dashboard`, `GET /dashboard/deal/<id>`: bot/web/dashboard.py (scoped by role: a rep sees their
  own deals, a manager the team's, an admin everything)
- `GET /login`, `POST /login/demo`, `GET /login/wecom[/callback]`, `GET /login/dingtalk[/callback]`,
  `POST /logout`: bot/web/auth.py
- `GET /simulator`, `POST /simulator/send`, `POST /simulator/advance`, `GET /simulator/feed`:
  bot/web/simulator.py (BOT_SIMULATOR=1 and the local channel on)
"""
from __future__ import annotations

import hmac
import logging
import secrets
from datetime import timedelta

from flask import Blueprint, abort, current_app, request, session
from flask.sessions import SecureCookieSessionInterface

log = logging.getLogger(__name__)
blueprint = Blueprint("web", __name__)

CSRF_KEY = "csrf"
ON = ("1", "true", "yes", "on")


def flag(value) -> bool:
    return str(value).strip().lower() in ON


def runtime():
    return current_app.extensions["bot"]


def demo_login_on(rt=None) -> bool:
    """The one-click demo login: only when asked for (BOT_DEMO_LOGIN=1) and in local mode."""
    rt = rt or runtime()
    return flag(rt.config["BOT_DEMO_LOGIN"]) and rt.config.channel_on("local")


def simulator_on(rt=None) -> bool:
    rt = rt or runtime()
    return flag(rt.config["BOT_SIMULATOR"]) and rt.config.channel_on("local")


class SessionInterface(SecureCookieSessionInterface):
    """Flask's signed-cookie session, keyed by BOT_SECRET_KEY or else the database-shared generated key."""

    def open_session(self, app, request):
        # no cookie yet: an empty session, and no key needed until something is stored in it
        # (the chat callbacks and /healthz never touch the key)
        if not app.secret_key and not request.cookies.get(self.get_cookie_name(app)):
            return self.session_class()
        return super().open_session(app, request)

    def get_signing_serializer(self, app):
        if not app.secret_key:
            from ..links import secret_key
            app.secret_key = secret_key(app.extensions["bot"])
        return super().get_signing_serializer(app)


def csrf_token() -> str:
    token = session.get(CSRF_KEY)
    if not token:
        token = session[CSRF_KEY] = secrets.token_urlsafe(32)
    return token


def check_csrf() -> None:
    sent = request.headers.get("X-CSRF-Token") or request.form.get("csrf_token") or ""
    expected = session.get(CSRF_KEY) or ""
    # bytes: compare_digest refuses a str with non-ASCII characters (a 500 instead of a refusal)
    if not expected or not hmac.compare_digest(str(sent).encode("utf-8", "replace"), str(expected).encode()):
        log.warning("CSRF check failed for %s %s from %s", request.method, request.path, request.remote_addr)
        abort(400, description="页面已过期或请求来源不明(CSRF 校验失败)，请刷新页面后重试。")


@blueprint.before_request
def _protect():
    if request.method not in ("GET", "HEAD", "OPTIONS"):
        check_csrf()


@blueprint.after_request
def _headers(resp):
    resp.headers.setdefault("X-Content-Type-Options", "nosniff")
    resp.headers.setdefault("X-Frame-Options", "SAMEORIGIN")
    resp.headers.setdefault("Referrer-Policy", "same-origin")
    if resp.mimetype == "text/html":
        resp.headers.setdefault("Cache-Control", "no-store")
    return resp


@blueprint.app_context_processor
def _template_helpers():
    from .auth import current_user
    return {"csrf_token": csrf_token, "current_user": current_user, "simulator_on": simulator_on,
            "demo_login_on": demo_login_on}


@blueprint.errorhandler(400)
@blueprint.errorhandler(403)
@blueprint.errorhandler(404)
def _error(e):
    from flask import jsonify, render_template
    message = getattr(e, "description", "") or ""
    if request.path.startswith("/simulator/") or request.is_json:
        return jsonify(error=message), e.code
    titles = {400: "请求无效", 403: "无权访问", 404: "找不到页面"}
    if e.code == 404 and "商机" not in message:
        message = "页面不存在或未开启。"
    return render_template("pages/error.html", title=titles.get(e.code, "出错了"), message=message), e.code


@blueprint.record_once
def _setup(state) -> None:
    from handlers.views import format_yuan
    app = state.app
    rt = app.extensions["bot"]
    app.jinja_env.filters.setdefault("yuan", format_yuan)
    hours = float(rt.config.get("BOT_SESSION_HOURS", "12") or 12)
    app.session_interface = SessionInterface()
    app.config.update(
        PERMANENT_SESSION_LIFETIME=timedelta(hours=hours),
        SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SAMESITE="Lax",
        SESSION_COOKIE_SECURE=rt.config["BOT_PUBLIC_URL"].startswith("https://"),
        SESSION_COOKIE_NAME="funnel_session",
    )


from . import auth, dashboard, deals, simulator  # noqa: E402,F401  (routes on the blueprint)
