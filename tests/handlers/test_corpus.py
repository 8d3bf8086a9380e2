"""The labelled corpus of reps' messages (tests/corpus/messages.txt): the score must not fall.

bench/parse.py prints the same figures in full (per field, per kind, the misses)."""
from __future__ import annotations

from collections import defaultdict

import pytest

from rules.funnel import load_funnel
from tests.corpus import FIELDS, index_of, load, padding, score

FLOOR = 0.97        # the target on the development corpus
KIND_FLOOR = 0.90   # no kind of message may be left far behind


@pytest.fixture(scope="module")
def results():
    funnel = load_funnel()
    corpus = load()
    own = index_of(corpus.customers + padding(500 - len(corpus.customers)))
    team = index_of(corpus.colleague, start=10_000)
    return corpus, score(corpus, funnel, own, team)


def test_corpus_is_big_and_well_formed(results):
    corpus, rows = results
    assert len(rows) >= 400
    assert len({c.today for c in corpus.cases}) >= 5  # several "now"s: month and year ends, holidays
    for case in corpus.cases:
        assert case.labels["dm"] in ("y", "n"), case.line
        assert case.labels["due"] == "-" or case.labels["due"][:2] == "20", case.line


def test_fields_right_overall(results):
    _, rows = results
    right = sum(sum(ok.values()) for *_, ok in rows)
    assert right / (len(rows) * len(FIELDS)) >= FLOOR


def test_fields_right_per_kind(results):
    _, rows = results
    by_kind = defaultdict(list)
    for case, _got, ok in rows:
        by_kind[case.kind].append(ok)
    for kind, oks in by_kind.items():
        share = sum(sum(ok.values()) for ok in oks) / (len(oks) * len(FIELDS))
        assert share >= KIND_FLOOR, kind
