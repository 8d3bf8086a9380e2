"""Which of a rep's customers a typed name means: exact, part of it, pinyin initials, or a near miss."""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from functools import cached_property, lru_cache
from typing import Sequence

from pypinyin import Style, lazy_pinyin
from rapidfuzz import fuzz, process

from .normalize import normalize

MAX_OPTIONS = 5
THRESHOLD = 70.0  # fuzzy score (0-100) a near miss needs
LEAD = 10.0       # points the best near miss needs over the second to count as unique
# How much a similarity counts, by what it compares (the products must still reach THRESHOLD):
PINYIN_WEIGHT = 0.9    # spelled out: a same-sound typo (华连 for 华联) is strong evidence, not quite a match
PREFIX_WEIGHT = 0.95   # against the start of a longer name ("华连超市" ~ "华联超市朝阳店")
PARTIAL_WEIGHT = 0.85  # against any part of a longer name; weakest, so whole-name near misses win


@lru_cache(maxsize=200_000)
def _key(text: str) -> str:
    """Comparable form (cached: a rep's customer names come back with every message): normalized, case-folded, letters and digits only (Han characters count as letters)."""
    return "".join(ch for ch in normalize(text).casefold() if ch.isalnum())


def initials_of(name: str) -> str:
    """Lowercase pinyin first letters, Latin letters and digits kept: 华联超市 -> hlcs, 7-11便利店 -> 711bld."""
    parts = lazy_pinyin(normalize(name), style=Style.FIRST_LETTER, errors="default")
    return "".join(ch for ch in "".join(parts).lower() if ch.isascii() and ch.isalnum())


@lru_cache(maxsize=50_000)
def _spelling(name: str) -> str:
    """Full toneless pinyin, Latin kept: 华联超市 -> hualianchaoshi. Cached: the same names come back often."""
    return "".join(ch for ch in "".join(lazy_pinyin(normalize(name))).lower() if ch.isascii() and ch.isalnum())


def _is_ascii_word(text: str) -> bool:
    return bool(text) and text.isascii() and text.isalnum()


@dataclass(frozen=True)
class Candidate:
    id: int
    name: str
    initials: str

    @classmethod
    def of(cls, id: int, name: str) -> "Candidate":
        return cls(id, name, initials_of(name))


@dataclass
class Match:
    kind: str  # "exact" | "unique" | "ambiguous" | "none"
    candidates: list[Candidate] = field(default_factory=list)


class Matcher:
    """Precomputed keys for one candidate list, so each query costs well under a millisecond.

    Pinyin spellings are only needed for near misses, so they are computed on first use.
    """

    def __init__(self, candidates: Sequence[Candidate]):
        self.candidates = list(candidates)
        self.keys = [_key(c.name) for c in self.candidates]
        self.initials = [(c.initials or initials_of(c.name)).lower() for c in self.candidates]
        self.by_key: dict[str, list[int]] = {}
        for i, key in enumerate(self.keys):
            self.by_key.setdefault(key, []).append(i)

    @cached_property
    def spellings(self) -> list[str]:
        return [_spelling(c.name) for c in self.candidates]

    def match(self, query: str) -> Match:
        q = _key(query or "")
        if not q:
            return Match("none")
        exact = self.by_key.get(q)
        if exact:
            return self._result("exact", exact)
        if len(q) < 2:
            return Match("none")
        ascii_query = _is_ascii_word(normalize(query).replace(" ", ""))
        for level in (self._contains, self._by_initials):
            found = level(q, ascii_query)
            if found:
                return self._result("unique", found)
        return self._fuzzy(q, ascii_query)

    # -- levels ---------------------------------------------------------------------------------

    def _contains(self, q: str, _ascii: bool) -> list[int]:
        hits = [i for i, key in enumerate(self.keys) if q in key]
        return sorted(hits, key=lambda i: (not self.keys[i].startswith(q), len(self.keys[i]), i))

    def _by_initials(self, q: str, ascii_query: bool) -> list[int]:
        if not ascii_query:
            return []
        hits = [i for i, ini in enumerate(self.initials) if ini.startswith(q)]
        return sorted(hits, key=lambda i: (self.initials[i] != q, len(self.initials[i]), i))

    def _fuzzy(self, q: str, ascii_query: bool) -> Match:
        scores: dict[int, float] = {}

        def take(query: str, choices: list[str], scorer, weight: float) -> None:
            for _choice, score, i in process.extract(
                query, choices, scorer=scorer, limit=None, score_cutoff=THRESHOLD / weight
            ):
                scores[i] = max(scores.get(i, 0.0), score * weight)

        def shapes(query: str, texts: list[str], weight: float) -> None:
            take(query, texts, fuzz.ratio, weight)                                     # the whole name
            take(query, [t[:len(query)] for t in texts], fuzz.ratio, weight * PREFIX_WEIGHT)  # its start
            if len(query) >= 3:
                longer = [t if len(t) > len(query) else "" for t in texts]
                take(query, longer, fuzz.partial_ratio, weight * PARTIAL_WEIGHT)         # anywhere inside

        shapes(q, self.keys, 1.0)
        spelled = q if ascii_query else _spelling(q)
        if len(spelled) >= 4 and (ascii_query or spelled != q):
            shapes(spelled, self.spellings, PINYIN_WEIGHT)
        if not scores:
            return Match("none")
        ranked = sorted(scores, key=lambda i: (-scores[i], len(self.keys[i]), i))
        if len(ranked) == 1 or scores[ranked[0]] - scores[ranked[1]] >= LEAD:
            return Match("unique", [self.candidates[ranked[0]]])
        return Match("ambiguous", [self.candidates[i] for i in ranked[:MAX_OPTIONS]])

    def _result(self, kind: str, indexes: list[int]) -> Match:
        if len(indexes) == 1:
            return Match(kind, [self.candidates[indexes[0]]])
        return Match("ambiguous", [self.candidates[i] for i in indexes[:MAX_OPTIONS]])


def match_name(query: str, candidates: Sequence[Candidate]) -> Match:
    """One-off match; build a Matcher once to match many queries against the same list."""
    return Matcher(candidates).match(query)


# Generic endings a rep leaves off when naming a customer in a sentence: 去了永辉 for 永辉超市.
_GENERIC_ENDINGS = (
    "有限责任公司", "股份有限公司", "有限公司", "连锁超市", "连锁", "集团", "公司", "超市", "便利店", "便利",
    "餐饮", "酒店", "商贸", "食品", "百货", "茶饮", "饮品", "咖啡", "鲜果行", "果行", "商行", "商店", "门店",
    "贸易", "科技", "商场", "生鲜", "烘焙", "药房", "大药房", "书店", "会员店", "店", "行",
)
MIN_ALIAS = 2


def _alias(key: str) -> str | None:
    """The name without its generic ending (永辉超市 -> 永辉), or None when nothing distinctive is left."""
    for ending in _GENERIC_ENDINGS:
        if key.endswith(ending) and len(key) - len(ending) >= MIN_ALIAS:
            return key[:-len(ending)]
    return None


# The kind of shop in the middle of a branch's name: 全家便利店莘庄店 is said 全家莘庄店, or 莘庄店.
_MIDDLE_KIND = re.compile(r"便利店|超市|酒店|餐厅|餐饮|百货|商贸|食品|茶饮|咖啡|连锁|集团")


def _aliases(key: str) -> list[str]:
    """Shorter ways a rep names the customer: without the generic ending; a branch without the kind of
    shop in the middle (全家莘庄店, 全家莘庄) and the branch alone (莘庄店)."""
    out = []
    alias = _alias(key)
    if alias:
        out.append(alias)
    m = _MIDDLE_KIND.search(key)
    if m and m.start() >= MIN_ALIAS and len(key) - m.end() >= 3 and key.endswith("店"):
        brand, branch = key[:m.start()], key[m.end():]
        out += [brand + branch, brand + branch[:-1], branch, brand]
    return [a for a in out if len(a) >= MIN_ALIAS and a != key]


@dataclass
class Found:
    kind: str          # "exact" (the whole name is in the text), "alias" (without its ending), "none"
    candidates: list[Candidate]
    start: int = -1    # where the name is in the (normalized, case-folded) text
    end: int = -1
    by_alias: bool = False  # found only without its generic ending (weaker than a typed name)


class CustomerIndex:
    """A rep's customers, looked up anywhere inside a message (longest name wins).

    Built once per candidate list (see `index_for`); a lookup is a substring test per name.
    """

    def __init__(self, candidates: Sequence[Candidate]):
        self.matcher = Matcher(candidates)
        # by their first two characters, so a message is scanned once, not once per name
        self.names: dict[str, list[tuple[str, int]]] = {}
        self.aliases: dict[str, list[int]] = {}
        alias_heads: dict[str, set[str]] = {}
        for i, c in enumerate(self.matcher.candidates):
            folded = normalize(c.name).casefold().replace(" ", "")
            if len(folded) < 2:
                continue
            self.names.setdefault(folded[:2], []).append((folded, i))
            for alias in _aliases(folded):
                if i not in self.aliases.get(alias, ()):
                    self.aliases.setdefault(alias, []).append(i)
                    alias_heads.setdefault(alias[:2], set()).add(alias)
        for group in self.names.values():
            group.sort(key=lambda item: -len(item[0]))
        self.alias_heads = {k: sorted(v, key=len, reverse=True) for k, v in alias_heads.items()}

    @property
    def candidates(self) -> list[Candidate]:
        return self.matcher.candidates

    def _scan(self, folded: str):
        """(start, end, candidate) of every whole name in the text, longest first at each place."""
        names = self.names
        for pos in range(len(folded) - 1):
            group = names.get(folded[pos:pos + 2])
            if group:
                for name, i in group:
                    if folded.startswith(name, pos):
                        yield pos, pos + len(name), i

    def find(self, text: str) -> Found:
        """The customer named anywhere in normalized `text`: the whole name (longest first), else the
        name without its generic ending; two different customers equally good -> "ambiguous"."""
        folded = text.casefold()
        hits: list[tuple[int, int, int]] = []  # (start, end, candidate)
        for pos, end, i in sorted(self._scan(folded), key=lambda h: (h[0] - h[1], h[0])):
            if any(s <= pos and end <= e for s, e, _ in hits):
                continue  # inside a longer name already found: 华联超市 within 华联超市朝阳店
            if any(h[2] == i for h in hits):
                continue  # the same customer named twice
            hits.append((pos, end, i))
        if hits:
            best = max(e - s for s, e, _ in hits)
            top = [h for h in hits if h[1] - h[0] == best]
            if len({i for _, _, i in top}) == 1:
                s, e, i = top[0]
                return Found("exact", [self.candidates[i]], s, e)
            s, e, _ = min(top)
            return Found("ambiguous", [self.candidates[i] for _, _, i in top][:MAX_OPTIONS], s, e)
        heads = self.alias_heads
        for pos in range(len(folded) - 1):
            for alias in heads.get(folded[pos:pos + 2], ()):
                if folded.startswith(alias, pos):
                    found = self.aliases[alias]
                    kind = "alias" if len(found) == 1 else "ambiguous"
                    return Found(kind, [self.candidates[i] for i in found][:MAX_OPTIONS], pos, pos + len(alias), True)
        return Found("none", [])


@lru_cache(maxsize=256)
def _index(candidates: tuple[Candidate, ...]) -> CustomerIndex:
    return CustomerIndex(candidates)


def index_for(candidates: Sequence[Candidate]) -> CustomerIndex:
    """The index of a candidate list, cached: a rep's customers come back with every message."""
    return _index(tuple(candidates))
