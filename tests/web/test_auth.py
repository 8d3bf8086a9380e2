"""Login: the local demo login (off unless enabled), WeCom OAuth and DingTalk login against loopback
fakes, signed expiring sessions, CSRF on every POST."""
from __future__ import annotations

import time
from urllib.parse import parse_qs, urlparse

import pytest

from storage.models import Rep
from tests.web.conftest import csrf_of, login, make_app
from tests.web.fake_auth import FakeAuth

WECOM = {"wecom_corp_id": "corp1", "wecom_agent_id": "1000002", "wecom_secret": "s3cret", "wecom_token": "tok",
         "wecom_aes_key": "a" * 43}
DINGTALK = {"dingtalk_app_key": "dtkey", "dingtalk_app_secret": "dtsecret", "dingtalk_robot_code": "dtkey"}


@pytest.fixture
def fake():
    f = FakeAuth().start()
    yield f
    f.stop()


def test_demo_login_is_off_unless_enabled(sqlite_url):
    app = make_app(sqlite_url, bot_demo_login="0", bot_simulator="0")
    c = app.test_client()
    page = c.get("/login").get_data(as_text=True)
    assert "一键登录" not in page and "还没有可用的登录方式" in page
    assert c.post("/login/demo", data={"csrf_token": csrf_of(c), "user": "liyan"}).status_code == 404
    assert c.get("/dashboard").status_code == 302
    # and never outside local mode, even when asked for
    app = make_app(sqlite_url.replace("bot.db", "b2.db"), bot_local_channel="0")
    c = app.test_client()
    assert c.post("/login/demo", data={"csrf_token": csrf_of(c), "user": "liyan"}).status_code == 404


def test_demo_login_needs_the_csrf_token_and_gives_a_signed_expiring_session(app):
    c = app.test_client()
    r = c.get("/dashboard")
    assert r.status_code == 302 and r.headers["Location"].startswith("/login?next=/dashboard")
    page = c.get("/login").get_data(as_text=True)
    assert "李岩" in page and "王磊" in page  # one button per demo user
    assert c.post("/login/demo", data={"user": "liyan"}).status_code == 400  # no token
    assert c.post("/login/demo", data={"user": "liyan", "csrf_token": "forged"}).status_code == 400
    r = c.post("/login/demo", data={"user": "liyan", "csrf_token": csrf_of(c), "next": "/dashboard/warnings"})
    assert r.status_code == 302 and r.headers["Location"] == "/dashboard/warnings"
    cookie = next(h for h in r.headers.getlist("Set-Cookie") if h.startswith("funnel_session="))
    assert "HttpOnly" in cookie and "SameSite=Lax" in cookie and "Expires=" in cookie
    assert c.get("/dashboard").status_code == 200
    with c.session_transaction() as s:
        assert s["uid"] == Rep.get(Rep.local_id == "liyan").id and s["via"] == "demo"
        assert s["exp"] > time.time() + 11 * 3600


def test_an_expired_or_forged_session_is_not_a_login(app):
    c = app.test_client()
    login(c, "liyan")
    with c.session_transaction() as s:
        s["exp"] = time.time() - 1
    assert c.get("/dashboard").status_code == 302
    c2 = app.test_client()
    c2.set_cookie("funnel_session", "eyJ1aWQiOjF9.forged.signature")
    assert c2.get("/dashboard").status_code == 302


def test_a_deactivated_person_is_logged_out_at_once(app, rt):
    c = app.test_client()
    login(c, "rep1")
    assert c.get("/dashboard").status_code == 200
    with rt.database.connection_context():
        Rep.update(active=False).where(Rep.local_id == "rep1").execute()
    assert c.get("/dashboard").status_code == 302


def test_logout_is_a_protected_post(app):
    c = app.test_client()
    login(c, "liyan")
    assert c.post("/logout").status_code == 400  # no CSRF token: still logged in
    assert c.get("/dashboard").status_code == 200
    token = csrf_of(c, "/dashboard")
    assert c.post("/logout", data={"csrf_token": token}).status_code == 302
    assert c.get("/dashboard").status_code == 302


def test_the_page_after_login_stays_on_this_site(app):
    for target in ("//evil.example/x", "https://evil.example/", "/\\evil.example"):
        c = app.test_client()
        r = c.post("/login/demo", data={"user": "liyan", "csrf_token": csrf_of(c), "next": target})
        assert r.headers["Location"] == "/dashboard", target


# -- WeCom OAuth ---------------------------------------------------------------------------------------

@pytest.fixture
def wecom_app(sqlite_url, fake):
    return make_app(sqlite_url, bot_local_channel="0", bot_demo_login="0", bot_simulator="0",
                    wecom_api_base=fake.base + "/cgi-bin/",
                    bot_public_url="https://funnel.example.com", **WECOM)


def wecom_start(c, next_url="/dashboard"):
    r = c.get(f"/login/wecom?next={next_url}")
    assert r.status_code == 302
    url = urlparse(r.headers["Location"])
    q = {k: v[0] for k, v in parse_qs(url.query).items()}
    return url, q


def test_wecom_oauth_logs_in_the_member_as_their_rep(wecom_app, fake):
    c = wecom_app.test_client()
    url, q = wecom_start(c, "/dashboard/warnings")
    assert (url.scheme, url.netloc, url.path, url.fragment) == ("https", "open.weixin.qq.com",
                                                                 "/connect/oauth2/authorize", "wechat_redirect")
    assert q["appid"] == "corp1" and q["scope"] == "snsapi_base" and q["response_type"] == "code"
    assert q["redirect_uri"] == "https://funnel.example.com/login/wecom/callback" and q["agentid"] == "1000002"
    code = fake.wecom_code("rep2")  # the demo users' WeCom userids equal their local ids
    r = c.get(f"/login/wecom/callback?code={code}&state={q['state']}")
    assert r.status_code == 302 and r.headers["Location"] == "/dashboard/warnings"
    page = c.get("/dashboard").get_data(as_text=True)
    assert "张敏" in page and "销售" in page
    calls = fake.calls("/cgi-bin/auth/getuserinfo")
    assert len(calls) == 1 and calls[0]["code"] == code and calls[0]["access_token"].startswith("wt-")


def test_wecom_callback_refuses_a_wrong_state_an_outsider_and_a_spent_code(wecom_app, fake):
    c = wecom_app.test_client()
    _, q = wecom_start(c)
    code = fake.wecom_code("rep2")
    r = c.get(f"/login/wecom/callback?code={code}&state=not-the-state")
    assert r.status_code == 400 and "重新登录" in r.get_data(as_text=True)
    assert fake.calls("/cgi-bin/auth/getuserinfo") == []  # nothing asked with a forged state
    assert c.get("/dashboard").status_code == 302
    _, q = wecom_start(c)
    r = c.get(f"/login/wecom/callback?code={fake.wecom_code('stranger')}&state={q['state']}")
    assert r.status_code == 403 and "名单" in r.get_data(as_text=True)
    _, q = wecom_start(c)
    r = c.get(f"/login/wecom/callback?code={fake.wecom_code(None, openid='o-wechat')}&state={q['state']}")
    assert r.status_code == 403
    _, q = wecom_start(c)
    r = c.get(f"/login/wecom/callback?code=spent&state={q['state']}")
    assert r.status_code == 403 and "授权码" in r.get_data(as_text=True)
    assert c.get("/dashboard").status_code == 302


def test_wecom_login_refreshes_a_rejected_token_once(wecom_app, fake):
    c = wecom_app.test_client()
    _, q = wecom_start(c)
    code = fake.wecom_code("liyan")
    c.get(f"/login/wecom/callback?code={fake.wecom_code('rep1')}&state={q['state']}")  # caches a token
    fake.wecom_tokens.clear()  # it expires at WeCom
    rt = wecom_app.extensions["bot"]
    rt.clock.advance(seconds=30)  # the token refresh guard allows one fetch per 10 s
    c2 = wecom_app.test_client()
    _, q = wecom_start(c2)
    r = c2.get(f"/login/wecom/callback?code={code}&state={q['state']}")
    assert r.status_code == 302, r.get_data(as_text=True)
    assert "李岩" in c2.get("/dashboard").get_data(as_text=True)


def test_wecom_login_is_off_without_wecom(app):
    assert app.test_client().get("/login/wecom").status_code == 404


# -- DingTalk ------------------------------------------------------------------------------------------

@pytest.fixture
def dingtalk_app(sqlite_url, fake):
    return make_app(sqlite_url, bot_local_channel="0", bot_demo_login="0", bot_simulator="0",
                    dingtalk_api_base=fake.base, dingtalk_oapi_base=fake.base,
                    bot_public_url="https://funnel.example.com", **DINGTALK)


def dingtalk_start(c):
    r = c.get("/login/dingtalk")
    assert r.status_code == 302
    url = urlparse(r.headers["Location"])
    return url, {k: v[0] for k, v in parse_qs(url.query).items()}


def test_dingtalk_login_turns_the_auth_code_into_the_staff_id(dingtalk_app, fake):
    c = dingtalk_app.test_client()
    url, q = dingtalk_start(c)
    assert (url.scheme, url.netloc, url.path) == ("https", "login.dingtalk.com", "/oauth2/auth")
    assert q["client_id"] == "dtkey" and q["response_type"] == "code" and q["scope"] == "openid"
    assert q["redirect_uri"] == "https://funnel.example.com/login/dingtalk/callback"
    code = fake.dingtalk_code("union-liyan", "liyan")  # the demo users' staff ids equal their local ids
    r = c.get(f"/login/dingtalk/callback?authCode={code}&state={q['state']}")
    assert r.status_code == 302 and r.headers["Location"] == "/dashboard"
    assert "李岩" in c.get("/dashboard").get_data(as_text=True)
    token_call = fake.calls("/v1.0/oauth2/userAccessToken")[0]
    assert token_call == {"clientId": "dtkey", "clientSecret": "dtsecret", "code": code,
                          "grantType": "authorization_code"}
    lookup = fake.calls("/topapi/user/getbyunionid")[0]
    assert lookup["unionid"] == "union-liyan" and lookup["access_token"].startswith("dt-app-")


def test_dingtalk_login_refuses_outsiders_and_bad_codes(dingtalk_app, fake):
    c = dingtalk_app.test_client()
    _, q = dingtalk_start(c)
    r = c.get(f"/login/dingtalk/callback?authCode={fake.dingtalk_code('u-x', None)}&state={q['state']}")
    assert r.status_code == 403  # not in the organisation
    _, q = dingtalk_start(c)
    r = c.get(f"/login/dingtalk/callback?authCode={fake.dingtalk_code('u-ext', 'rep1', 1)}&state={q['state']}")
    assert r.status_code == 403  # an external contact, not an employee
    _, q = dingtalk_start(c)
    r = c.get(f"/login/dingtalk/callback?authCode={fake.dingtalk_code('u-s', 'someone-else')}&state={q['state']}")
    assert r.status_code == 403 and "名单" in r.get_data(as_text=True)
    _, q = dingtalk_start(c)
    assert c.get(f"/login/dingtalk/callback?authCode=bogus&state={q['state']}").status_code == 403
    r = c.get(f"/login/dingtalk/callback?authCode={fake.dingtalk_code('u-l', 'liyan')}&state=stale")
    assert r.status_code == 400
    assert c.get("/dashboard").status_code == 302


def test_inside_the_chat_apps_the_login_page_logs_in_silently(wecom_app):
    r = wecom_app.test_client().get("/login?next=/dashboard", headers={"User-Agent": "Mozilla/5.0 wxwork/4.1"})
    assert r.status_code == 302 and r.headers["Location"].startswith("/login/wecom")


def test_wecom_web_login_from_a_desktop_browser(wecom_app, fake):
    """Outside the WeCom client the login page offers WeCom's web login (a QR code to scan); its callback
    turns the code into the member as the in-client OAuth does."""
    c = wecom_app.test_client()
    page = c.get("/login", headers={"User-Agent": "Mozilla/5.0 (Windows NT 10.0) Chrome/120"}).get_data(as_text=True)
    assert "/login/wecom/web" in page and "扫码" in page
    r = c.get("/login/wecom/web?next=/dashboard/warnings")
    assert r.status_code == 302
    url = urlparse(r.headers["Location"])
    q = {k: v[0] for k, v in parse_qs(url.query).items()}
    assert (url.scheme, url.netloc, url.path) == ("https", "login.work.weixin.qq.com", "/wwlogin/sso/login")
    assert q["login_type"] == "CorpApp" and q["appid"] == "corp1" and q["agentid"] == "1000002"
    assert q["redirect_uri"] == "https://funnel.example.com/login/wecom/callback"
    r = c.get(f"/login/wecom/callback?code={fake.wecom_code('rep2')}&state={q['state']}")
    assert r.status_code == 302 and r.headers["Location"] == "/dashboard/warnings"
    assert "张敏" in c.get("/dashboard").get_data(as_text=True)
    r = c.get(f"/login/wecom/callback?code={fake.wecom_code('rep2')}&state={q['state']}")
    assert r.status_code == 400  # the state is spent: a replayed callback logs nobody in


def test_dingtalk_login_refreshes_a_rejected_token_once(dingtalk_app, fake):
    """DingTalk's topapi reports a rejected token as errcode 88 with sub_code 40014: refreshed, not a failed login."""
    c = dingtalk_app.test_client()
    _, q = dingtalk_start(c)
    c.get(f"/login/dingtalk/callback?authCode={fake.dingtalk_code('union-rep1', 'rep1')}&state={q['state']}")
    fake.dt_app_tokens.clear()  # the cached app token expires at DingTalk
    dingtalk_app.extensions["bot"].clock.advance(seconds=30)  # one token fetch per 10 s
    c2 = dingtalk_app.test_client()
    _, q = dingtalk_start(c2)
    r = c2.get(f"/login/dingtalk/callback?authCode={fake.dingtalk_code('union-liyan', 'liyan')}&state={q['state']}")
    assert r.status_code == 302, r.get_data(as_text=True)
    assert "李岩" in c2.get("/dashboard").get_data(as_text=True)
