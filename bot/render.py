"""Render neutral replies through Jinja2 templates. All user-facing wording lives in bot/templates/."""
from __future__ import annotations

from functools import lru_cache
from pathlib import Path

from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape

from handlers.messages import Reply
from handlers.views import format_yuan

TEMPLATES = Path(__file__).with_name("templates")


class TextEnvironment(Environment):
    """Jinja2 for the chat texts, whose data are plain dicts (handlers/views.py): `row.customer` reads
    the key first. Jinja's default tries the attribute first and pays a raised AttributeError for every
    field of every row (a 30-row list costs 0.1 ms more); a key never shadows a dict method here."""

    def getattr(self, obj, attribute):
        if type(obj) is dict and attribute in obj:
            return obj[attribute]
        return super().getattr(obj, attribute)


@lru_cache(maxsize=1)
def text_env() -> Environment:
    env = TextEnvironment(loader=FileSystemLoader(str(TEMPLATES)), autoescape=False,
                      undefined=StrictUndefined, trim_blocks=True, lstrip_blocks=True,
                      keep_trailing_newline=False)
    env.filters["yuan"] = format_yuan
    return env


@lru_cache(maxsize=1)
def html_env() -> Environment:
    env = Environment(loader=FileSystemLoader(str(TEMPLATES)), autoescape=select_autoescape(["html"]))
    env.filters["yuan"] = format_yuan
    return env


@lru_cache(maxsize=512)
def text_template(channel: str, template: str):
    """The channel's own template when it has one, else the common text one (looked up once: the
    templates ship with the code)."""
    return text_env().select_template([f"{channel}/{template}.j2", f"text/{template}.j2"])


def render_text(reply: Reply, channel: str = "local") -> str:
    """The reply as plain text (markdown-light), using a channel-specific template when one exists."""
    return text_template(channel, reply.template).render(**reply.data, buttons=reply.buttons,
                                                         urgent=reply.urgent).strip()
