"""Which of a rep's customers a typed name means: exact, part of it, pinyin initials, or a near miss."""
from __future__ import annotations

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
