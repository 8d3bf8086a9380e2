"""Canonical form of chat text: half-width, ASCII punctuation, single spaces."""
from __future__ import annotations

import re
import unicodedata

# Chinese punctuation that NFKC leaves alone (the full-width forms like ， are already mapped by NFKC).
_PUNCT = str.maketrans({
    "，": ",", "。": ".", "：": ":", "；": ";", "（": "(", "）": ")", "、": ",",
    "“": '"', "”": '"', "‘": "'", "’": "'", "！": "!", "？": "?",
    "【": "[", "】": "]", "「": '"', "」": '"', "｡": ".", "､": ",",
})
_INVISIBLE = dict.fromkeys(map(ord, "\u200b\u200c\u200d\u2060\ufeff"))
_SPACES = re.compile(r"\s+")


def normalize(text: str) -> str:
    """NFKC, Chinese punctuation to ASCII, zero-width characters dropped, whitespace collapsed, stripped."""
    if not text:
        return ""
    text = unicodedata.normalize("NFKC", text).translate(_PUNCT).translate(_INVISIBLE)
    return _SPACES.sub(" ", text).strip()


def split_command(text: str) -> tuple[str, str]:
    """(verb, rest) of a normalized message: the first space-separated token and what follows it."""
    text = normalize(text)
    verb, _, rest = text.partition(" ")
    return verb, rest.strip()
