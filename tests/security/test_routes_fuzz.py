"""Property tests: no request to any route, signed or not, gets a 5xx (tests/security/routes.py builds
them; bench/fuzz.py sends many more)."""
from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tests.security.fuzzing import SUITE
from tests.security.routes import DEMO_ROUTES, PRODUCTION_ROUTES, Session, demo_app, production_app


@pytest.fixture(scope="module")
def demo(tmp_path_factory):
    app = demo_app(f"sqlite:///{tmp_path_factory.mktemp('demo')}/bot.db")
    return {"anonymous": Session(app), "rep": Session(app, "rep1"), "manager": Session(app, "liyan")}


@pytest.fixture(scope="module")
def production(tmp_path_factory):
    return Session(production_app(f"sqlite:///{tmp_path_factory.mktemp('prod')}/bot.db"))


@pytest.mark.parametrize("route", sorted(DEMO_ROUTES))
@SUITE
@given(rnd=st.randoms(use_true_random=False), who=st.sampled_from(["anonymous", "rep", "manager"]))
def test_demo_routes_never_answer_5xx(demo, route, rnd, who):
    session = demo[who]
    method, path, kwargs = DEMO_ROUTES[route](rnd, session)
    r = session.client.open(path, method=method, **kwargs)
    assert r.status_code < 500, (method, path, kwargs, r.get_data(as_text=True)[:300])


@pytest.mark.parametrize("route", sorted(PRODUCTION_ROUTES))
@SUITE
@given(rnd=st.randoms(use_true_random=False))
def test_production_routes_never_answer_5xx(production, route, rnd):
    method, path, kwargs = PRODUCTION_ROUTES[route](rnd, production)
    r = production.client.open(path, method=method, **kwargs)
    assert r.status_code < 500, (method, path, kwargs, r.get_data(as_text=True)[:300])
