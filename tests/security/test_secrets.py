"""No secret in a log line, an error string, a page or an outbox row: the chat APIs carry secrets in
their URLs (`gettoken?corpsecret=…`, `?access_token=…`), and HTTP libraries quote the URL in errors."""
from __future__ import annotations

import json
import logging
import socket
from datetime import timedelta

import pytest

from bot import create_app
from bot.clock import FixedClock
from bot.jobs.deliver import deliver
from storage import kv, outbox
from storage.models import Outbox
from tests.conftest import T0
from tests.helpers import small_team

SECRET = "corp-secret-4f9a1b"
TOKEN = "ACCESS-TOKEN-77aa1c3e"


def closed_port() -> int:
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


@pytest.fixture
def app(db_url):
    base = f"http://127.0.0.1:{closed_port()}/cgi-bin/"  # WeCom unreachable
    cfg = {"database_url": db_url, "use_dotenv": False, "wecom_corp_id": "wx49f0ab532d5d035a",
           "wecom_agent_id": "1000002", "wecom_secret": SECRET, "wecom_token": "123456",
           "wecom_aes_key": "kWxPEV2UEDyxWpmPdKC3F4dgPDmOvfKX1HGnEUDS1aR", "wecom_api_base": base}
    app = create_app(cfg, clock=FixedClock(T0))
    small_team(app.extensions["bot"])
    return app


def queue_and_deliver(rt):
    with rt.database.connection_context():
        outbox.enqueue("n1", "wecom", "alice", {"template": "text_only", "data": {}}, rt.now())
        deliver(rt, rt.now())
        return Outbox.get(Outbox.key == "n1")


def logged(caplog) -> str:
    return "\n".join(r.getMessage() + (r.exc_text or "") for r in caplog.records)


def test_a_failed_gettoken_keeps_the_corp_secret_out_of_the_outbox_and_the_logs(app, caplog, capsys, monkeypatch):
    caplog.set_level(logging.DEBUG)
    rt = app.extensions["bot"]
    row = queue_and_deliver(rt)
    assert row.status == "pending" and row.last_error  # a passing failure, and it says why
    assert "gettoken" in row.last_error and SECRET not in row.last_error and "corpsecret=" not in row.last_error
    assert SECRET not in logged(caplog) and "corpsecret=c" not in logged(caplog)
    from bot.cli import main
    monkeypatch.setenv("DATABASE_URL", rt.config.database_url)
    for k in ("WECOM_CORP_ID", "WECOM_AGENT_ID", "WECOM_SECRET", "WECOM_TOKEN", "WECOM_AES_KEY", "WECOM_API_BASE"):
        monkeypatch.setenv(k, rt.config[k])
    assert main(["outbox"]) == 0 and main(["outbox", "--json"]) == 0
    printed = capsys.readouterr().out
    assert "gettoken" in printed and SECRET not in printed


def test_an_api_call_keeps_the_access_token_out_of_the_outbox_and_the_logs(app, caplog):
    caplog.set_level(logging.DEBUG)
    rt = app.extensions["bot"]
    with rt.database.connection_context():  # a token cached by another process; the API then goes away
        kv.put("wx49f0ab532d5d035a_access_token", TOKEN, rt.now(), timedelta(hours=2))
    row = queue_and_deliver(rt)
    assert row.last_error and TOKEN not in row.last_error and "access_token=" + TOKEN[:3] not in row.last_error
    assert TOKEN not in logged(caplog)


def test_action_link_tokens_are_cut_from_access_log_lines(app, caplog):
    caplog.set_level(logging.INFO)
    token = "eyJ1IjoiYWxpY2UiLCJhIjoiZm9sbG93dXA6MToxIn0.aBcDeF.Zm9vYmFyYmF6cXV4"
    logging.getLogger("werkzeug").info('%s - - [02/Dec/2026 10:00:00] "%s" %s -', "127.0.0.1",
                                       f"POST /a/{token} HTTP/1.1", 200)
    logging.getLogger("gunicorn.access").info('%(h)s "%(r)s" %(s)s', {"h": "10.0.0.1", "r": f"GET /a/{token} HTTP/1.1",
                                                                      "s": "200"})
    text = logged(caplog)
    assert token not in text and "/a/***" in text and "zm9vYmFy" not in text.lower()


def test_redaction_keeps_what_an_operator_needs():
    from storage.redact import redact
    assert redact("群机器人 errcode 310000: sign not match") == "群机器人 errcode 310000: sign not match"
    assert redact("Error code: 40001, message: invalid credential") == "Error code: 40001, message: invalid credential"
    assert (redact("POST https://oapi.dingtalk.com/robot/send?access_token=abc&sign=x%3D failed: 500")
            == "POST https://oapi.dingtalk.com/robot/send?*** failed: 500")
    assert json.loads(redact('{"appKey": "k", "appSecret": "zzz"}')) == {"appKey": "k", "appSecret": "***"}


def test_gunicorns_access_log_file_holds_no_link_token(tmp_path):
    """gunicorn writes its access log through logging in the worker, where create_app installed this."""
    from datetime import timedelta as td
    from types import SimpleNamespace

    from gunicorn.config import Config
    from gunicorn.glogging import Logger

    from bot.logs import install
    install()
    cfg = Config()
    cfg.set("accesslog", str(tmp_path / "access.log"))
    logger = Logger(cfg)
    token = "eyJ1IjoiYWxpY2UifQ.aBcDeF.Zm9vYmFyYmF6cXV4c2VjcmV0"
    environ = {"REQUEST_METHOD": "GET", "RAW_URI": f"/a/{token}", "PATH_INFO": f"/a/{token}", "QUERY_STRING": "",
               "SERVER_PROTOCOL": "HTTP/1.1", "REMOTE_ADDR": "10.0.0.1"}
    logger.access(SimpleNamespace(status="200 OK", sent=100, headers=[]), SimpleNamespace(headers=[]), environ,
                  td(milliseconds=3))
    for h in logger.access_log.handlers:
        h.flush()
    line = (tmp_path / "access.log").read_text()
    assert "GET /a/***" in line and token not in line and "aBcDeF" not in line
