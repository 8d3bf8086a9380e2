"""Logging out and deactivation end a session (a copied cookie is worth nothing after them); one
action-link token has one spelling, so a pressed link cannot be pressed again under another."""
from __future__ import annotations

import pytest

from bot.links import make_token, token_id
from storage.models import Activity, Deal, InboundMessage, Rep
from tests.web.conftest import app, csrf_of, login, rt  # noqa: F401  (fixtures)


def cookie_of(client) -> str:
    return client.get_cookie("funnel_session").value


def test_logout_revokes_the_session_cookie(app):
    c = app.test_client()
    login(c, "liyan")
    stolen = cookie_of(c)
    assert c.get("/dashboard").status_code == 200
    token = csrf_of(c, "/dashboard")
    assert c.post("/logout", data={"csrf_token": token}).status_code == 302
    thief = app.test_client()
    thief.set_cookie("funnel_session", stolen)
    assert thief.get("/dashboard").status_code == 302  # to the login page


def test_deactivation_ends_the_session_for_good(app, rt):
    c = app.test_client()
    login(c, "rep1")
    kept = cookie_of(c)
    with rt.database.connection_context():
        Rep.update(active=False).where(Rep.local_id == "rep1").execute()
    assert c.get("/dashboard").status_code == 302
    with rt.database.connection_context():  # back in the roster: the old cookie stays dead
        Rep.update(active=True).where(Rep.local_id == "rep1").execute()
    again = app.test_client()
    again.set_cookie("funnel_session", kept)
    assert again.get("/dashboard").status_code == 302


def _respellings(token: str) -> list[str]:
    """Other spellings of the same bytes: padding, and a last character whose unused bits differ."""
    from itsdangerous.encoding import base64_decode
    out = [token + "=", token + "==", token.replace(".", "=.", 1)]
    head, _, sig = token.rpartition(".")
    alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
    for ch in alphabet:
        other = sig[:-1] + ch
        if other != sig and base64_decode(other) == base64_decode(sig):
            out.append(f"{head}.{other}")
            break
    return out


def test_a_link_token_has_one_spelling(app, rt):
    with rt.database.connection_context():
        deal_id = Deal.select(Deal.id).join(Rep, on=(Deal.owner == Rep.id)).where(Rep.local_id == "rep1").first().id
    token = make_token(rt, "rep1", f"snooze:{deal_id}:24", label="推迟24小时")
    c = app.test_client()
    first = c.post(f"/a/{token}")
    assert first.status_code == 200
    with rt.database.connection_context():
        activities = Activity.select().count()
    respelled = _respellings(token)
    assert len(respelled) >= 4
    for other in respelled:
        for press in (c.get, c.post):
            r = press(f"/a/{other}")
            assert r.status_code == 400 and "链接无效" in r.get_data(as_text=True), other
    with rt.database.connection_context():
        assert Activity.select().count() == activities
        assert InboundMessage.select().where(InboundMessage.message_id.startswith("link:")).count() == 1
        assert InboundMessage.select().where(InboundMessage.message_id == token_id(token)).exists()
