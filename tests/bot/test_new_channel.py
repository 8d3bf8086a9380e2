"""A new chat tool touches only its own package (and templates): a channel package written here, in a
temporary folder, is served, runs commands and gets its replies delivered with no change to the
runtime, the handlers or delivery. The only other things it names are its keys and, for its users' ids,
the roster column (the test uses the local id, as the action links do)."""
from __future__ import annotations

import textwrap

import pytest

import bot.channels
from bot import config as bot_config
from bot.jobs.deliver import deliver
from storage import inbound, people
from tests.conftest import T0
from tests.helpers import small_team

PACKAGE = {
    "__init__.py": '''
        """Echo: a chat tool that posts JSON and is answered by message."""
        from bot.channels.base import ChannelBase, RateLimit, Rejected, SendResult
        from handlers.messages import Incoming
        from bot.render import render_text

        SENT = []

        class Channel(ChannelBase):
            name = "echo"

            def __init__(self, runtime):
                self.runtime = runtime

            def parse(self, data):
                if not isinstance(data, dict) or not data.get("from") or not data.get("id"):
                    raise Rejected(400, "from and id are required")
                return Incoming("echo", data["id"], data["from"], text=data.get("text", ""))

            def limits(self, recipient):
                return [RateLimit(10, 60)]

            def send(self, recipient, reply, key=""):
                SENT.append((recipient, render_text(reply, "echo")))
                return SendResult(True)
    ''',
    "routes.py": '''
        from flask import Blueprint, current_app, jsonify, request
        from bot.channels import channel_for
        from bot.channels.base import Rejected

        blueprint = Blueprint("echo", __name__)

        @blueprint.post("/echo/messages")
        def messages():
            runtime = current_app.extensions["bot"]
            try:
                msg = channel_for("echo", runtime).parse(request.get_json(silent=True))
            except Rejected as e:
                return jsonify(error=e.why), e.status
            runtime.handle(msg)
            return jsonify(ok=True)
    ''',
}


@pytest.fixture
def echo(tmp_path, monkeypatch):
    folder = tmp_path / "echo"
    folder.mkdir()
    for name, text in PACKAGE.items():
        (folder / name).write_text(textwrap.dedent(text), encoding="utf-8")
    monkeypatch.setattr(bot.channels, "__path__", [*bot.channels.__path__, str(tmp_path)])
    monkeypatch.setattr(bot.channels, "CHANNELS", (*bot.channels.CHANNELS, "echo"))
    monkeypatch.setitem(bot_config.CHANNEL_KEYS, "echo", ["ECHO_TOKEN"])
    monkeypatch.setitem(people._by_channel_id, "echo", people._by_channel_id["local"])  # users by local id
    monkeypatch.setitem(inbound._arrivals, "echo", inbound._arrivals["local"])
    yield
    import sys
    for mod in ("bot.channels.echo.routes", "bot.channels.echo"):
        sys.modules.pop(mod, None)


def test_a_new_chat_tool_is_a_package(echo, sqlite_url):
    from bot import create_app
    from bot.clock import FixedClock
    app = create_app({"database_url": sqlite_url, "use_dotenv": False, "echo_token": "t"}, clock=FixedClock(T0))
    rt = app.extensions["bot"]
    small_team(rt)
    client = app.test_client()
    assert "echo" in client.get("/healthz").get_json()["channels"]
    assert client.post("/echo/messages", json={"id": "e1", "from": "alice", "text": "我的客户"}).status_code == 200
    assert client.post("/echo/messages", json={"id": "e1", "from": "alice", "text": "我的客户"}).status_code == 200
    assert client.post("/echo/messages", json={"from": "alice"}).status_code == 400
    with rt.database.connection_context():
        assert deliver(rt, rt.now())["sent"] == 1  # answered by message, once for the repeated delivery
    from bot.channels.echo import SENT
    ((to, text),) = SENT
    assert to == "alice" and "华联超市" in text and "华联便利店" in text
