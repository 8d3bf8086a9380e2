"""Reference routes for the benchmarks (only with BOT_BENCH_ROUTES=1): the floor every request pays."""
from __future__ import annotations

from flask import Blueprint, Response, current_app, request

blueprint = Blueprint("bench", __name__, url_prefix="/bench")


@blueprint.get("/bare")
@blueprint.post("/bare")
def bare():
    return Response("ok", mimetype="text/plain")


@blueprint.post("/wecom-crypto")
def wecom_crypto():
    """What every WeCom bot pays: verify, decrypt, parse, encrypt a passive reply; no command, no database."""
    from .channels.wecom.crypto import decrypt, verify
    from .channels.wecom.routes import encrypted_reply
    from .channels.wecom.wire import parse_xml, text_xml
    runtime = current_app.extensions["bot"]
    cfg = runtime.config
    outer = parse_xml(request.get_data(as_text=True))
    verify(cfg, request.args, outer["Encrypt"])
    fields = parse_xml(decrypt(cfg, outer["Encrypt"]))
    now = int(runtime.clock.now().timestamp())
    return encrypted_reply(cfg, text_xml(fields, "ok", now), now)
