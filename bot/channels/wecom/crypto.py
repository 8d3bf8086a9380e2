"""WeCom callback verification and encryption: the msg_signature check (constant time), AES decryption
with the CorpID checked (wechatpy), and the encrypted passive reply."""
from __future__ import annotations

import hashlib
import hmac
import uuid

from wechatpy.enterprise.crypto import PrpCrypto, WeChatCrypto
from wechatpy.enterprise.exceptions import InvalidCorpIdException
from wechatpy.utils import to_text

from ..base import Rejected


def crypto_of(cfg) -> WeChatCrypto:
    return WeChatCrypto(cfg["WECOM_TOKEN"], cfg["WECOM_AES_KEY"], cfg["WECOM_CORP_ID"])


def signature(token: str, timestamp: str, nonce: str, encrypted: str) -> str:
    return hashlib.sha1("".join(sorted([token, timestamp, nonce, encrypted])).encode()).hexdigest()


def verify(cfg, args, encrypted: str) -> None:
    """Raise Rejected unless the query's msg_signature signs `encrypted` with the callback token."""
    expected = signature(cfg["WECOM_TOKEN"], args.get("timestamp", ""), args.get("nonce", ""), encrypted)
    # bytes: compare_digest refuses a str with non-ASCII characters (a 500, and WeCom would retry)
    if not hmac.compare_digest(expected.encode(), args.get("msg_signature", "").encode("utf-8", "replace")):
        raise Rejected(403, "wrong signature")


def decrypt(cfg, encrypted: str) -> str:
    try:
        return to_text(PrpCrypto(crypto_of(cfg).key).decrypt(encrypted, cfg["WECOM_CORP_ID"]))
    except InvalidCorpIdException:
        raise Rejected(403, "wrong CorpID inside the ciphertext") from None
    except Exception as e:  # noqa: BLE001  bad base64 / padding
        raise Rejected(400, f"cannot decrypt: {type(e).__name__}") from None


def encrypt(cfg, xml: str, timestamp: int) -> str:
    """The encrypted, signed envelope of a passive reply."""
    return crypto_of(cfg).encrypt_message(xml, uuid.uuid4().hex[:10], str(timestamp))
