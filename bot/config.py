"""Configuration from environment variables (and `.env`), or a dict with the same keys in lower case."""
from __future__ import annotations

import os
from dataclasses import dataclass, field
from zoneinfo import ZoneInfo

CHANNEL_KEYS = {
    "wecom": ["WECOM_CORP_ID", "WECOM_AGENT_ID", "WECOM_SECRET", "WECOM_TOKEN", "WECOM_AES_KEY"],
    "dingtalk": ["DINGTALK_APP_KEY", "DINGTALK_APP_SECRET", "DINGTALK_ROBOT_CODE"],
}
DEFAULTS = {
    "DATABASE_URL": "sqlite:///data/bot.db",
    "BOT_TIMEZONE": "Asia/Shanghai",
    "BOT_RULES": "",
    "BOT_HEALTH_RULES": "",
    "BOT_API_SECRET": "",
    "WECOM_API_BASE": "https://qyapi.weixin.qq.com/cgi-bin/",
    "DINGTALK_API_BASE": "https://api.dingtalk.com",
    "DINGTALK_MODE": "http",  # http: POST /dingtalk/callback; stream: outbound WebSocket (dingtalk-stream)
    "BOT_LOCAL_CHANNEL": "0",  # 1: the local JSON channel /local/... (anyone reaching it acts as anyone: demo only)
    "BOT_SECRET_KEY": "",
    "BOT_SECRET_KEY_FILE": "",  # where a generated key is kept when BOT_SECRET_KEY is empty (default: data/secret_key)
    "BOT_PUBLIC_URL": "http://127.0.0.1:8000",
    "BOT_CHARTS_DIR": "",  # where the weekly review's chart images go (default data/charts)
    "BOT_INSTANT_REPLIES": "1",  # 1: answers queued in the outbox are sent at once by the process (bot/courier.py)
    "BOT_BENCH_ROUTES": "0",  # 1: add /bench/bare and /bench/wecom-crypto, reference routes for bench/
    "BOT_DEMO_LOGIN": "0",  # 1: the login page offers a one-click login as any demo user (local mode only)
    "BOT_SIMULATOR": "0",  # 1: the chat simulator at /simulator (needs the local channel)
    "BOT_SIMULATOR_DATABASE_URL": "",  # the simulator's own database (default: simulator.db beside bot.db)
    "BOT_SESSION_HOURS": "12",  # a dashboard login lasts this long
    "BOT_DELIVERY_LEASE_SECONDS": "",  # a claimed outbox row waits this long for a delivery process that died (120)
    "DINGTALK_OAPI_BASE": "https://oapi.dingtalk.com",  # DingTalk's older API (user id by unionId, for login)
}
# what only a demo may turn on: each gives whoever reaches the server the power to act as any user
DEMO_ONLY = ("BOT_LOCAL_CHANNEL", "BOT_DEMO_LOGIN", "BOT_SIMULATOR")
ON = ("1", "true", "yes", "on")
ALL_KEYS = list(DEFAULTS) + [k for keys in CHANNEL_KEYS.values() for k in keys]


class ConfigError(ValueError):
    pass


@dataclass
class Config:
    values: dict = field(default_factory=dict)

    def __getitem__(self, key: str) -> str:
        return self.values.get(key.upper(), "")

    def get(self, key: str, default: str = "") -> str:
        return self.values.get(key.upper()) or default

    @property
    def database_url(self) -> str:
        return self["DATABASE_URL"]

    @property
    def tz(self) -> ZoneInfo:
        return ZoneInfo(self["BOT_TIMEZONE"])

    def flag(self, key: str) -> bool:
        return self[key].strip().lower() in ON

    def channel_on(self, channel: str) -> bool:
        if channel == "local":
            return self.flag("BOT_LOCAL_CHANNEL")
        return all(self[k] for k in CHANNEL_KEYS[channel])

    @property
    def production(self) -> bool:
        """A chat tool is configured: real people's deals and messages are at stake."""
        return self.channel_on("wecom") or self.channel_on("dingtalk")

    @property
    def primary_channel(self) -> str:
        """Where scheduled messages go: the first configured chat tool, else the local channel."""
        for ch in ("wecom", "dingtalk"):
            if self.channel_on(ch):
                return ch
        return "local"


def load_config(overrides: dict | None = None, environ=None) -> Config:
    """Defaults < `.env` < environment < `overrides` (keys in any case)."""
    environ = os.environ if environ is None else environ
    values = dict(DEFAULTS)
    if overrides is None or overrides.get("use_dotenv", True):
        try:
            from dotenv import dotenv_values
            values.update({k: v for k, v in dotenv_values(".env").items() if v is not None})
        except OSError:
            pass
    values.update({k: v for k, v in environ.items() if k in ALL_KEYS})
    for k, v in (overrides or {}).items():
        values[k.upper()] = v
    cfg = Config(values)
    for channel, keys in CHANNEL_KEYS.items():
        present = [k for k in keys if cfg[k]]
        if present and len(present) != len(keys):
            missing = [k for k in keys if not cfg[k]]
            raise ConfigError(f"{channel} is partly configured: missing {', '.join(missing)} "
                              f"(set them all to turn {channel} on, or none to leave it off)")
    if cfg.production:
        tool = "WeCom" if cfg.channel_on("wecom") else "DingTalk"
        for key in DEMO_ONLY:
            if cfg.flag(key):
                raise ConfigError(f"{key}={cfg[key]} is for a local demo only (whoever reaches the server could "
                                  f"act as any user) and {tool} is configured: unset {key} or set it to 0")
    if (cfg["DINGTALK_MODE"] or "http") not in ("http", "stream"):
        raise ConfigError(f"DINGTALK_MODE={cfg['DINGTALK_MODE']!r} must be http or stream")
    try:
        cfg.tz
    except Exception:
        raise ConfigError(f"BOT_TIMEZONE={cfg['BOT_TIMEZONE']!r} is not a known time zone "
                          f"(e.g. Asia/Shanghai)") from None
    return cfg
