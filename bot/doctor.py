"""`python -m bot doctor`: check the configuration against the chat tools' APIs and say what to fix.

Each check prints ✓ or ✗ with the fix; the exit status is 1 when something needs fixing. It calls only
what changes nothing: WeCom gettoken and agent/get, DingTalk's accessToken; it sends no message.
"""
from __future__ import annotations

import base64
from urllib.parse import urlsplit
from typing import TYPE_CHECKING

import requests

from rules.calendar import KNOWN_YEARS, unknown_years
from storage.database import connected, latest_version, schema_version

if TYPE_CHECKING:
    from .runtime import Runtime

TIMEOUT = 5


def checks(rt: Runtime) -> list[tuple[bool, str]]:
    out: list[tuple[bool, str]] = []
    cfg = rt.config
    try:
        with connected(rt.database):
            version = schema_version()
        out.append((version == latest_version(), f"数据库 {urlsplit(cfg.database_url).scheme}: schema v{version}"
                    + ("" if version == latest_version() else f" (需要 v{latest_version()}: python -m bot initdb)")))
    except Exception as e:  # noqa: BLE001
        out.append((False, f"数据库连不上: {type(e).__name__}: {e} (检查 DATABASE_URL)"))
        return out
    out.append(calendar_check(rt))
    public = cfg["BOT_PUBLIC_URL"]
    local = urlsplit(public).hostname in ("127.0.0.1", "localhost")
    if cfg.channel_on("wecom") or cfg.channel_on("dingtalk"):
        out.append((public.startswith("https://") and not local,
                    f"BOT_PUBLIC_URL={public}" + ("" if public.startswith("https://") and not local else
                                                  " (手机要能打开的 https 地址, 例如 https://funnel.example.com)")))
    if cfg.channel_on("wecom"):
        out += wecom_checks(cfg)
    if cfg.channel_on("dingtalk"):
        out += dingtalk_checks(cfg)
    if not (cfg.channel_on("wecom") or cfg.channel_on("dingtalk")):
        out.append((True, "没有配置企业微信或钉钉: 只有本地通道"))
    return out


def calendar_check(rt: Runtime) -> tuple[bool, str]:
    """The holiday calendar must know this year and, from November on, the next one."""
    today = rt.clock.now().astimezone(rt.tz).date()
    missing = unknown_years(today, rt.funnel.schedule.days_off)
    if not missing:
        return True, f"节假日日历已知 {KNOWN_YEARS.start}–{KNOWN_YEARS.stop - 1} 年"
    years = "、".join(f"{y}年" for y in missing)
    return False, (f"节假日日历还没有{years}的法定假日与调休 (chinesecalendar 只到 {KNOWN_YEARS.stop - 1} 年): "
                   f"升级 chinesecalendar, 或在规则文件 [schedule] 里写上 days_off 与 extra_workdays "
                   f"(例如 days_off = [\"{missing[0]}-02-06\", ...]), 否则除元旦、劳动节 (5月1–2日)、"
                   f"国庆 (10月1–3日) 的法定日期外, 放假的日子 (春节、清明、端午、中秋与连休) 会被当作工作日"
                   f"计算沉默、照常推送, 调休上班的周末则当作休息日")


def wecom_checks(cfg) -> list[tuple[bool, str]]:
    from .channels.wecom.send import SETUP_CODES
    out = []
    key = cfg["WECOM_AES_KEY"]
    try:
        ok = len(key) == 43 and len(base64.b64decode(key + "=")) == 32
    except ValueError:
        ok = False
    out.append((ok, "WECOM_AES_KEY" + (" 格式正确" if ok else " 不对: 应为 43 个字符 (接收消息 → EncodingAESKey)")))
    base = cfg["WECOM_API_BASE"].rstrip("/")
    try:
        body = requests.get(f"{base}/gettoken", params={"corpid": cfg["WECOM_CORP_ID"],
                                                         "corpsecret": cfg["WECOM_SECRET"]}, timeout=TIMEOUT).json()
    except (requests.RequestException, ValueError) as e:
        return out + [(False, f"企业微信 API 连不上 ({type(e).__name__}): 检查网络与 WECOM_API_BASE")]
    code = body.get("errcode", 0)
    if code != 0 or not body.get("access_token"):
        fix = SETUP_CODES.get(code, body.get("errmsg", ""))
        return out + [(False, f"企业微信 gettoken: errcode {code}: {fix}")]
    out.append((True, "企业微信 WECOM_CORP_ID / WECOM_SECRET 正确, 服务器 IP 可信"))
    agent = requests.get(f"{base}/agent/get", params={"access_token": body["access_token"],
                                                       "agentid": cfg["WECOM_AGENT_ID"]}, timeout=TIMEOUT).json()
    if agent.get("errcode", 0) != 0:
        code = agent.get("errcode")
        fix = SETUP_CODES.get(code, "WECOM_AGENT_ID 不对, 或 Secret 不是这个应用的 (应用管理 → 应用 → AgentId)")
        out.append((False, f"企业微信应用 {cfg['WECOM_AGENT_ID']}: errcode {code}: {fix}"))
    else:
        out.append((True, f"企业微信应用 {cfg['WECOM_AGENT_ID']}「{agent.get('name', '')}」"))
    return out


def dingtalk_checks(cfg) -> list[tuple[bool, str]]:
    base = cfg["DINGTALK_API_BASE"].rstrip("/")
    try:
        r = requests.post(f"{base}/v1.0/oauth2/accessToken", json={"appKey": cfg["DINGTALK_APP_KEY"],
                                                                   "appSecret": cfg["DINGTALK_APP_SECRET"]},
                          timeout=TIMEOUT)
        body = r.json() if r.content else {}
    except (requests.RequestException, ValueError) as e:
        return [(False, f"钉钉 API 连不上 ({type(e).__name__}): 检查网络与 DINGTALK_API_BASE")]
    if r.status_code != 200 or not body.get("accessToken"):
        return [(False, f"钉钉 accessToken: HTTP {r.status_code} {body.get('code', '')}: DINGTALK_APP_KEY / "
                        f"DINGTALK_APP_SECRET 不对 (开发者后台 → 应用 → 凭证与基础信息)")]
    out = [(True, "钉钉 DINGTALK_APP_KEY / DINGTALK_APP_SECRET 正确")]
    mode = cfg["DINGTALK_MODE"] or "http"
    out.append((True, f"钉钉接收方式 {mode}" + (": 机器人消息地址设为 BOT_PUBLIC_URL/dingtalk/callback"
                                           if mode == "http" else ": 机器人设置里选 Stream 模式")))
    return out


def run(rt: Runtime) -> int:
    results = checks(rt)
    for ok, line in results:
        print(("✓ " if ok else "✗ ") + line)
    bad = sum(1 for ok, _ in results if not ok)
    print("一切正常" if not bad else f"{bad} 项需要处理")
    return 1 if bad else 0
