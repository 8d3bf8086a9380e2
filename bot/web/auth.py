"""Who is looking at the dashboard: WeCom OAuth, DingTalk login, or (local mode) a one-click demo login.

The identity always ends as a Rep (storage.people.rep_for_sender), and the role of that Rep decides
what the pages show. The session holds the rep's id and an expiry; the rep is read again on every
request, so a deactivated person or a changed role takes effect at once.

WeCom (web login inside WeCom): /login/wecom redirects to open.weixin.qq.com's oauth2/authorize with
scope snsapi_base; WeCom sends the browser back to /login/wecom/callback?code=..&state=.., and
`auth/getuserinfo` (with the app's access token) turns the code into the member's userid.

DingTalk: /login/dingtalk redirects to login.dingtalk.com/oauth2/auth; the callback's authCode becomes
a user access token (POST /v1.0/oauth2/userAccessToken), that token gives the user's unionId
(GET /v1.0/contact/users/me), and the app's access token turns the unionId into the staff userid
(POST oapi /topapi/user/getbyunionid) that the roster's dingtalk_staffid holds.
"""
from __future__ import annotations

import hmac
import logging
import re
import secrets
import time
from datetime import timedelta
from functools import wraps
from urllib.parse import urlencode

import requests
from flask import abort, g, jsonify, redirect, render_template, request, session, url_for

from storage import dashboard_queries, kv, people

from . import blueprint, demo_login_on, runtime

log = logging.getLogger(__name__)
TIMEOUT = 5
WECOM_AUTHORIZE = "https://open.weixin.qq.com/connect/oauth2/authorize"
# WeCom web login for desktop browsers (a QR code the member scans with WeCom; the successor of
# open.work.weixin.qq.com/wwopen/sso/qrConnect, same parameters plus login_type)
WECOM_WEB_LOGIN = "https://login.work.weixin.qq.com/wwlogin/sso/login"
DINGTALK_AUTHORIZE = "https://login.dingtalk.com/oauth2/auth"
TOKEN_ERRORS = {40014, 42001}  # the app's access token was rejected: refresh once
DINGTALK_ENVELOPE = 88  # DingTalk topapi wraps errors: errcode 88 with the real one in sub_code


def token_rejected(body: dict) -> bool:
    """WeCom: errcode 40014/42001; DingTalk topapi: the same, or errcode 88 with sub_code 40014/42001."""
    code = body.get("errcode")
    if code == DINGTALK_ENVELOPE:
        code = int(body["sub_code"]) if str(body.get("sub_code", "")).isdigit() else code
    return code in TOKEN_ERRORS
ROLE_NAMES = {"rep": "销售", "manager": "主管", "admin": "管理员"}


class LoginError(Exception):
    def __init__(self, status: int, message: str):
        super().__init__(message)
        self.status, self.message = status, message


# -- the session ----------------------------------------------------------------------------------------

SESSION_PREFIX = "session:"


def _session_key(uid, sid) -> str:
    return f"{SESSION_PREFIX}{int(uid)}:{sid}"


def current_user():
    """The logged-in, active Rep, or None. A session is a signed cookie naming a server-side record
    (the key/value store): logging out deletes the record, so a copy of the cookie is worth nothing
    after it; a session of someone deactivated is deleted at its next use, so reactivating them does
    not bring it back."""
    if "user" in g:
        return g.user
    user = None
    uid, exp, sid = session.get("uid"), session.get("exp"), session.get("sid")
    if isinstance(uid, int) and isinstance(sid, str):
        if isinstance(exp, (int, float)) and exp > time.time() \
                and kv.get(_session_key(uid, sid), runtime().now()) is not None:
            user = dashboard_queries.rep(uid)
            if user is None:  # deactivated (or removed): the session ends for good
                kv.delete(_session_key(uid, sid))
    if user is None:
        for name in ("uid", "exp", "sid"):
            session.pop(name, None)
    g.user = user
    return user


def login_user(rep, via: str) -> None:
    """A fresh session for `rep` (a new CSRF token too: nothing from before the login carries over)."""
    rt = runtime()
    hours = float(rt.config.get("BOT_SESSION_HOURS", "12") or 12)
    now = rt.now()
    sid = secrets.token_urlsafe(16)
    kv.purge_expired(SESSION_PREFIX, now)
    kv.put(_session_key(rep.id, sid), via, now, timedelta(hours=hours))
    session.clear()
    session.permanent = True
    session["uid"] = rep.id
    session["sid"] = sid
    session["via"] = via
    session["exp"] = time.time() + hours * 3600
    g.user = dashboard_queries.rep(rep.id)
    log.info("login: %s (%s, %s) via %s", rep.local_id, rep.name, rep.role, via)


def logout_user() -> None:
    uid, sid = session.get("uid"), session.get("sid")
    if isinstance(uid, int) and isinstance(sid, str):
        kv.delete(_session_key(uid, sid))
    session.clear()


def login_required(view):
    @wraps(view)
    def wrapped(*args, **kwargs):
        if current_user() is None:
            if request.accept_mimetypes.best == "application/json" or request.is_json:
                return jsonify(error="请先登录"), 401
            return redirect(url_for("web.login", next=request.full_path.rstrip("?")))
        return view(*args, **kwargs)
    return wrapped


SAFE_PATH = re.compile(r"/(?![/\\])[A-Za-z0-9\-._~!$&'()*+,;=:@/?%]*")


def safe_next(target: str | None) -> str:
    """Only a path on this site may be the page after login: one slash, then URL characters only (no
    whitespace or control characters, which browsers drop: `/\t/evil.com` would become `//evil.com`)."""
    if isinstance(target, str) and len(target) <= 2000 and SAFE_PATH.fullmatch(target):
        return target
    return url_for("web.dashboard")


def public_url(endpoint: str) -> str:
    return runtime().config["BOT_PUBLIC_URL"].rstrip("/") + url_for(endpoint)


def _new_state() -> str:
    state = secrets.token_urlsafe(24)
    session["oauth_state"] = state
    session["oauth_next"] = safe_next(request.args.get("next"))
    return state


def _check_state() -> str:
    expected = session.pop("oauth_state", None)
    sent = request.args.get("state", "")
    if not expected or not hmac.compare_digest(expected.encode(), sent.encode("utf-8", "replace")):
        raise LoginError(400, "登录请求已过期或来源不明，请重新登录。")
    return session.pop("oauth_next", None) or url_for("web.dashboard")


def _finish(channel: str, user_id: str | None, next_url: str):
    if not user_id:
        raise LoginError(403, "没有取得你的身份信息：请在企业内部账号下登录。")
    rep = people.rep_for_sender(channel, user_id)
    if rep is None:
        log.info("login refused: %s user %r is not in the roster", channel, user_id)
        raise LoginError(403, "你不在销售团队的名单中，请联系管理员把你加入花名册。")
    login_user(rep, channel)
    return redirect(safe_next(next_url))


def login_page(error: str | None = None, status: int = 200):
    rt = runtime()
    demo = dashboard_queries.demo_people() if demo_login_on(rt) else []
    return render_template("pages/login.html", error=error, demo=demo, role_names=ROLE_NAMES,
                           wecom=rt.config.channel_on("wecom"), dingtalk=rt.config.channel_on("dingtalk"),
                           next=safe_next(request.args.get("next"))), status


# -- pages ---------------------------------------------------------------------------------------------

@blueprint.get("/login")
def login():
    rt = runtime()
    if current_user() is not None:
        return redirect(safe_next(request.args.get("next")))
    agent = request.headers.get("User-Agent", "").lower()
    if "wxwork" in agent and rt.config.channel_on("wecom"):  # opened inside WeCom: log in silently
        return redirect(url_for("web.wecom_login", next=request.args.get("next")))
    if "dingtalk" in agent and rt.config.channel_on("dingtalk"):
        return redirect(url_for("web.dingtalk_login", next=request.args.get("next")))
    return login_page()


@blueprint.post("/login/demo")
def demo_login():
    if not demo_login_on():
        abort(404)
    rep = people.rep_by_local_id(request.form.get("user", ""))
    if rep is None or not rep.active:
        return login_page("没有这个演示用户。", 404)
    login_user(rep, "demo")
    return redirect(safe_next(request.form.get("next")))


@blueprint.post("/logout")
def logout():
    logout_user()
    return redirect(url_for("web.login"))


@blueprint.errorhandler(LoginError)
def _login_failed(e: LoginError):
    return login_page(e.message, e.status)


# -- WeCom ---------------------------------------------------------------------------------------------

@blueprint.get("/login/wecom")
def wecom_login():
    cfg = runtime().config
    if not cfg.channel_on("wecom"):
        abort(404)
    params = {"appid": cfg["WECOM_CORP_ID"], "redirect_uri": public_url("web.wecom_callback"),
              "response_type": "code", "scope": "snsapi_base", "state": _new_state(),
              "agentid": cfg["WECOM_AGENT_ID"]}
    return redirect(f"{WECOM_AUTHORIZE}?{urlencode(params)}#wechat_redirect")


@blueprint.get("/login/wecom/web")
def wecom_web_login():
    """From a desktop browser: WeCom's web login (the member scans a QR code with WeCom); the callback is
    the in-client OAuth's (the code is read with the same auth/getuserinfo)."""
    cfg = runtime().config
    if not cfg.channel_on("wecom"):
        abort(404)
    params = {"login_type": "CorpApp", "appid": cfg["WECOM_CORP_ID"], "agentid": cfg["WECOM_AGENT_ID"],
              "redirect_uri": public_url("web.wecom_callback"), "state": _new_state()}
    return redirect(f"{WECOM_WEB_LOGIN}?{urlencode(params)}")


@blueprint.get("/login/wecom/callback")
def wecom_callback():
    rt = runtime()
    if not rt.config.channel_on("wecom"):
        abort(404)
    next_url = _check_state()
    code = request.args.get("code", "")
    if not code:
        raise LoginError(400, "企业微信没有返回授权码，请重新登录。")
    return _finish("wecom", wecom_userid(rt, code), next_url)


def wecom_userid(rt, code: str) -> str | None:
    """The WeCom member behind an OAuth code (None: not a member of the corp, e.g. an outside WeChat user)."""
    from ..channels.wecom.client import WeComClient
    client = WeComClient(rt)
    url = rt.config["WECOM_API_BASE"].rstrip("/") + "/auth/getuserinfo"
    try:
        token = client.access_token
        body = _get_json(url, {"access_token": token, "code": code})
        if token_rejected(body):
            body = _get_json(url, {"access_token": client.refresh_token(stale=token), "code": code})
    except (requests.RequestException, ValueError) as e:
        log.warning("wecom getuserinfo failed: %s", e)
        raise LoginError(502, "暂时连不上企业微信，请稍后再试。") from None
    except Exception as e:  # noqa: BLE001  token fetch errors from wechatpy
        log.warning("wecom token for login failed: %s", e)
        raise LoginError(502, "暂时连不上企业微信，请稍后再试。") from None
    if body.get("errcode", 0) != 0:
        log.info("wecom getuserinfo refused the code: %s %s", body.get("errcode"), body.get("errmsg"))
        raise LoginError(403, "企业微信授权码无效或已使用，请重新登录。")
    return body.get("userid") or body.get("UserId") or None


def _get_json(url: str, params: dict) -> dict:
    r = requests.get(url, params=params, timeout=TIMEOUT, allow_redirects=False)
    body = r.json()
    if not isinstance(body, dict):
        raise ValueError("not a JSON object")
    return body


# -- DingTalk ------------------------------------------------------------------------------------------

@blueprint.get("/login/dingtalk")
def dingtalk_login():
    cfg = runtime().config
    if not cfg.channel_on("dingtalk"):
        abort(404)
    params = {"redirect_uri": public_url("web.dingtalk_callback"), "response_type": "code",
              "client_id": cfg["DINGTALK_APP_KEY"], "scope": "openid", "state": _new_state(), "prompt": "consent"}
    return redirect(f"{DINGTALK_AUTHORIZE}?{urlencode(params)}")


@blueprint.get("/login/dingtalk/callback")
def dingtalk_callback():
    rt = runtime()
    if not rt.config.channel_on("dingtalk"):
        abort(404)
    next_url = _check_state()
    code = request.args.get("authCode") or request.args.get("code") or ""
    if not code:
        raise LoginError(400, "钉钉没有返回授权码，请重新登录。")
    return _finish("dingtalk", dingtalk_userid(rt, code), next_url)


def dingtalk_userid(rt, code: str) -> str | None:
    """authCode -> user access token -> unionId -> staff userid (None: not an employee of the org)."""
    from ..channels.dingtalk.client import DingTalkClient
    cfg = rt.config
    base, oapi = cfg["DINGTALK_API_BASE"].rstrip("/"), cfg["DINGTALK_OAPI_BASE"].rstrip("/")
    try:
        r = requests.post(f"{base}/v1.0/oauth2/userAccessToken", timeout=TIMEOUT, allow_redirects=False,
                          json={"clientId": cfg["DINGTALK_APP_KEY"], "clientSecret": cfg["DINGTALK_APP_SECRET"],
                                "code": code, "grantType": "authorization_code"})
        user_token = (r.json() or {}).get("accessToken") if r.status_code == 200 else None
        if not user_token:
            log.info("dingtalk userAccessToken refused: HTTP %s %s", r.status_code, r.text[:200])
            raise LoginError(403, "钉钉授权码无效或已使用，请重新登录。")
        r = requests.get(f"{base}/v1.0/contact/users/me", headers={"x-acs-dingtalk-access-token": user_token},
                         timeout=TIMEOUT, allow_redirects=False)
        union_id = (r.json() or {}).get("unionId") if r.status_code == 200 else None
        if not union_id:
            log.info("dingtalk users/me failed: HTTP %s %s", r.status_code, r.text[:200])
            raise LoginError(403, "没有取得你的钉钉身份，请重新登录。")
        client = DingTalkClient(rt)
        token = client.access_token
        url = f"{oapi}/topapi/user/getbyunionid"
        body = _post_json(url, token, union_id)
        if token_rejected(body):
            body = _post_json(url, client.refresh_token(stale=token), union_id)
    except LoginError:
        raise
    except Exception as e:  # noqa: BLE001  network errors, a token fetch that failed
        log.warning("dingtalk login failed: %s", e)
        raise LoginError(502, "暂时连不上钉钉，请稍后再试。") from None
    if body.get("errcode", 0) != 0:
        # 60121: not a member of this organisation
        log.info("dingtalk getbyunionid: %s %s", body.get("errcode"), body.get("errmsg"))
        return None
    result = body.get("result") or {}
    if result.get("contact_type", 0) != 0:  # 1: an external contact, not an employee
        return None
    return result.get("userid") or None


def _post_json(url: str, token: str, union_id: str) -> dict:
    r = requests.post(url, params={"access_token": token}, json={"unionid": union_id}, timeout=TIMEOUT,
                      allow_redirects=False)
    body = r.json()
    if not isinstance(body, dict):
        raise ValueError("not a JSON object")
    return body
