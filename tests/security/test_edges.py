"""Inputs checked at the edge: a clear 400/404, never a 500, and nothing recorded."""
from __future__ import annotations

import json
from urllib.parse import unquote

import pytest

from bot import create_app
from bot.api import sign
from bot.clock import FixedClock
from storage.models import Activity, InboundMessage
from tests.conftest import T0
from tests.helpers import small_team
from tests.web.conftest import app, csrf_of, login, manager  # noqa: F401  (fixtures)

API_SECRET = "api-s3cret-edges"


# -- /api/events -----------------------------------------------------------------------------------------

@pytest.fixture
def api(db_url):
    app = create_app({"database_url": db_url, "use_dotenv": False, "bot_api_secret": API_SECRET},
                     clock=FixedClock(T0))
    small_team(app.extensions["bot"])
    return app


def post_events(client, events=None, body=None, ts=None, signature=None):
    ts = str(int(T0.timestamp())) if ts is None else ts
    body = body if body is not None else json.dumps({"events": events}, ensure_ascii=False).encode()
    return client.post("/api/events", data=body, content_type="application/json",
                       headers={"X-Bot-Timestamp": ts,
                                "X-Bot-Signature": signature if signature is not None else sign(API_SECRET, ts, body)})


def counts(app):
    rt = app.extensions["bot"]
    with rt.database.connection_context():
        return Activity.select().count(), InboundMessage.select().count()


@pytest.mark.parametrize("bad", [{"customer": ["华联超市"]}, {"customer": {"a": 1}}, {"at": 12}, {"text": {"x": 1}},
                                 {"team": ["东区"]}, {"contact": 7}, {"ticket_id": ["OA"]}, {"id": 5}])
def test_a_batch_with_one_malformed_event_records_nothing_and_its_fix_is_accepted(api, bad):
    c = api.test_client()
    good = {"id": "e1", "type": "doc_open", "customer": "华联超市"}
    batch = [good, {"id": "e2", "type": "call", "customer": "华联超市", **bad}]
    r = post_events(c, batch)
    assert r.status_code == 400 and "events[1]" in r.get_json()["error"]
    assert counts(api) == (0, 0)
    fixed = post_events(c, [good, {"id": "e2", "type": "call", "customer": "华联超市"}],
                        ts=str(int(T0.timestamp()) + 1))  # the corrected retry: a new request, not a replay
    assert fixed.status_code == 200 and fixed.get_json()["accepted"] == 2


@pytest.mark.parametrize("at", ["0001-01-01T00:00:00+14:00", "9999-12-31T23:59:59-12:00"])
def test_an_event_time_out_of_range_is_that_events_error(api, at):
    r = post_events(api.test_client(), [{"id": "e1", "type": "doc_open", "customer": "华联超市", "at": at}])
    assert r.status_code == 200 and r.get_json()["results"][0]["status"] == "error"


def test_1000_events_of_the_documented_shape_fit_the_body_limit(api):
    events = [{"id": f"doc-{i:06d}", "type": "call", "customer": "华联超市", "at": "2026-11-27T09:30:00+08:00",
               "contact": "王总", "title": "采购总监", "text": "电话沟通报价, 客户关心冷柜陈列和账期" * 5}
              for i in range(1000)]
    body = json.dumps({"events": events}, ensure_ascii=False).encode()
    assert len(body) > 64 * 1024
    r = post_events(api.test_client(), body=body)
    assert r.status_code == 200 and r.get_json()["accepted"] == 1000


@pytest.mark.parametrize("case", ["signature", "timestamp", "deep"])
def test_unreadable_api_requests_are_4xx(api, case):
    c = api.test_client()
    one = [{"id": "e1", "type": "doc_open", "customer": "华联超市"}]
    if case == "signature":
        r = post_events(c, one, signature="签名" * 32)
    elif case == "timestamp":
        r = post_events(c, one, ts="１７６４２０８８００")  # full-width digits
    else:
        r = post_events(c, body=b"[" * 20000 + b"]" * 20000)
    assert 400 <= r.status_code < 500 and r.get_json()["error"]
    assert counts(api) == (0, 0)


# -- login, CSRF, dashboard --------------------------------------------------------------------------------

@pytest.mark.parametrize("target", ["/%09/evil.com", "/%0a/evil.com", "/%0d/evil.com", "/\\evil.com",
                                    "/%20/evil.com", "//evil.com", "https://evil.com", "/%09%09/evil.com"])
def test_no_redirect_off_the_site_after_login(app, target):
    c = app.test_client()
    r = c.get(f"/login?next={target}")
    page = r.get_data(as_text=True)
    assert "evil.com" not in page
    r = c.post("/login/demo", data={"csrf_token": csrf_of(c), "user": "liyan", "next": unquote(target)})
    assert r.status_code == 302 and r.headers["Location"] == "/dashboard"
    r = c.get(f"/login?next={target}")  # logged in already
    assert r.headers["Location"] == "/dashboard"


def test_a_non_ascii_csrf_token_is_refused_not_a_500(app):
    c = app.test_client()
    csrf_of(c)
    r = c.post("/login/demo", data={"csrf_token": "令牌", "user": "liyan"})
    assert r.status_code == 400


@pytest.mark.parametrize("query", ["rep=99999999999999999999", "team=99999999999999999999", "period=9999-12",
                                   "period=0001-01", "period=9999-Q4", "rep=abc", "page=99999999999999999999"])
def test_dashboard_filters_out_of_range_are_not_a_500(manager, query):
    for path in ("/dashboard", "/dashboard/warnings"):
        r = manager.get(f"{path}?{query}")
        assert r.status_code == 200, (path, query)


def test_a_deal_id_past_the_integer_columns_is_404(manager):
    for deal_id in (2 ** 31, 2 ** 63, 10 ** 30):
        assert manager.get(f"/dashboard/deal/{deal_id}").status_code == 404


@pytest.mark.parametrize("limit", ["abc", "-1", "0", "100000", "1e3"])
def test_local_outbox_limit_is_checked(app, limit):
    r = app.test_client().get(f"/local/outbox?to=rep1&limit={limit}")
    assert r.status_code == 400 and "limit" in r.get_json()["error"]


# -- the simulator ----------------------------------------------------------------------------------------

@pytest.mark.parametrize("body", [{"hours": 1e308}, {"days": 1e308}, {"hours": "inf"}, {"hours": "nan"},
                                  {"hours": [1]}, {"hours": {"a": 1}}, {"hours": True}, {"at": "0001-01-01T00:00"},
                                  {"at": "9999-12-31T23:59"}, [1, 2], "x"])
def test_simulator_advance_out_of_bounds_is_400(app, body):
    c = app.test_client()
    login(c, "rep1")
    token = csrf_of(c, "/simulator")
    r = c.post("/simulator/advance", json=body, headers={"X-CSRF-Token": token})
    assert r.status_code == 400 and r.get_json()["error"]


@pytest.mark.parametrize("path", ["/local/messages", "/simulator/send", "/simulator/advance"])
def test_json_nested_20000_deep_is_400(app, path):
    c = app.test_client()
    login(c, "rep1")
    token = csrf_of(c, "/simulator")
    r = c.post(path, data="[" * 20000 + "]" * 20000, content_type="application/json",
               headers={"X-CSRF-Token": token})
    assert r.status_code == 400
