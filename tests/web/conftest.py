"""Fixtures of the web tests: the app with the demo team (manager liyan, reps rep1..rep6) at T0."""
from __future__ import annotations

import re

import pytest

from bot import create_app
from bot.clock import FixedClock
from tests.conftest import T0

CSRF = re.compile(r'name="csrf(?:_token|-token)" (?:value|content)="([^"]+)"')


def make_app(url: str, clock=None, demo: bool = True, **cfg):
    settings = {"database_url": url, "use_dotenv": False, "bot_local_channel": "1", "bot_demo_login": "1",
                "bot_simulator": "1", **cfg}
    app = create_app(settings, clock=clock or FixedClock(T0))
    if demo:
        load(app)
    return app


def load(app) -> None:
    from bot.demo import load_demo
    from bot.jobs.health import health
    rt = app.extensions["bot"]
    with rt.database.connection_context():
        load_demo(rt.funnel, rt.now())
        health(rt, rt.now(), force=True)


def csrf_of(client, path: str = "/login") -> str:
    return CSRF.search(client.get(path).get_data(as_text=True)).group(1)


def login(client, local_id: str) -> None:
    r = client.post("/login/demo", data={"csrf_token": csrf_of(client), "user": local_id})
    assert r.status_code == 302, r.get_data(as_text=True)[:500]


@pytest.fixture
def app(sqlite_url):
    return make_app(sqlite_url)


@pytest.fixture
def rt(app):
    return app.extensions["bot"]


@pytest.fixture
def manager(app):
    c = app.test_client()
    login(c, "liyan")
    return c


@pytest.fixture
def rep1(app):
    c = app.test_client()
    login(c, "rep1")
    return c
