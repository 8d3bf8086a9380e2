"""Channels: one package per chat tool (wecom/, dingtalk/, local/), each implementing `base.Channel`.

`channel_for(name, runtime)` is the registry the runtime and the delivery job use; a channel is built
once per runtime. Adding a chat tool (Feishu/Lark, ...) is a package here with a `Channel` class and
`routes.blueprint`, its name in CHANNELS, its keys in bot/config.py CHANNEL_KEYS, and its templates
under bot/templates/<name>/ (README "Channels"; tests/bot/test_new_channel.py builds one).
"""
from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING

from .base import Answer, Channel, ChannelBase, InRequest, RateLimit, Rejected, SendResult

if TYPE_CHECKING:
    from ..runtime import Runtime

__all__ = ["Answer", "Channel", "ChannelBase", "InRequest", "RateLimit", "Rejected", "SendResult", "CHANNELS", "channel_for",
           "inbound_channel", "blueprint_of"]

CHANNELS = ("local", "wecom", "dingtalk")  # packages under bot/channels/, in this order on /healthz


def _cache(runtime: Runtime) -> dict:
    return runtime._adapters  # tests put their own channels here


def channel_for(name: str, runtime: Runtime) -> Channel:
    """The configured channel `name` (LookupError when it is not one, or its keys are unset)."""
    cache = _cache(runtime)
    channel = cache.get(name)
    if channel is None:
        if name not in CHANNELS or not (name == "local" or runtime.config.channel_on(name)):
            raise LookupError(f"no adapter for channel {name!r}")
        channel = cache[name] = import_module(f"{__name__}.{name}").Channel(runtime)
    return channel


def inbound_channel(name: str, runtime: Runtime) -> Channel:
    """The channel a message came in on; one without a sender here answers in the request."""
    try:
        return channel_for(name, runtime)
    except LookupError:
        return _cache(runtime).setdefault(f"in-request:{name}", InRequest(name, runtime))


def blueprint_of(name: str):
    """The Flask blueprint of a channel's routes."""
    return import_module(f"{__name__}.{name}.routes").blueprint
