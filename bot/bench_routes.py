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
    from .channels import wecom
    cfg = current_app.extensions["bot"].config
    outer = wecom.parse_xml(request.get_data(as_text=True))
    wecom.verify(cfg, outer["Encrypt"])
    fields = wecom.parse_xml(wecom.decrypt(cfg, outer["Encrypt"]))
    return wecom.encrypted_reply(cfg, wecom.text_xml(fields, "ok"))
