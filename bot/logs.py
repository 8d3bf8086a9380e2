"""Logging set-up: every log record of the process (ours, requests', werkzeug's and gunicorn's access
log) leaves with its secrets cut (storage/redact.py): no URL query string, credential, action-link token
or configured secret reaches a log line."""
from __future__ import annotations

import logging

from storage.redact import redact, register

SECRET_KEYS = ("WECOM_SECRET", "WECOM_AES_KEY", "DINGTALK_APP_SECRET", "BOT_API_SECRET", "BOT_SECRET_KEY")
_installed = False


def redacting_factory(base):
    def factory(*args, **kwargs):
        record = base(*args, **kwargs)
        try:
            message = record.getMessage()
        except Exception:  # noqa: BLE001  a bad format string: logging reports it as it would
            return record
        record.msg, record.args = redact(message), None
        if record.exc_info and not record.exc_text:
            record.exc_text = redact(logging.Formatter().formatException(record.exc_info))
        return record
    factory.redacting = True
    return factory


def install(cfg=None) -> None:
    """Cut secrets from every log record of this process; register the configured secrets (idempotent)."""
    global _installed
    if cfg is not None:
        register(*(cfg[k] for k in SECRET_KEYS))
    # peewee's DEBUG lines are every statement with its parameters: access tokens and people's data
    logging.getLogger("peewee").setLevel(logging.INFO)
    if not _installed and not getattr(logging.getLogRecordFactory(), "redacting", False):
        logging.setLogRecordFactory(redacting_factory(logging.getLogRecordFactory()))
    _installed = True
