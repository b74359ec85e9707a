"""Subject assignment: explicit, rules, centroid, other."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from streams.core.subjects import OTHER, Subject, Subjects
from streams.settings import BUNDLED


def topics() -> Subjects:
    return Subjects(
        [
            Subject("guns", keywords=("gun", "second amendment"), hashtags=("2a",)),
            Subject("climate", keywords=("climate",), examples=("warming",)),
        ]
    )


def test_explicit_topic_wins_and_unknown_becomes_other():
    t = topics()
    assert t.assign("climate", "guns guns guns", None) == ("climate", "explicit")
    assert t.assign("sports", "guns", None) == (OTHER, "explicit_unknown")


def test_rules_match_whole_words_and_hashtags():
    t = topics()
    assert t.assign(None, "The Second Amendment protects us", None)[0] == "guns"
    assert t.assign(None, "stand up #2A", None)[0] == "guns"
    assert t.assign(None, "begun and shotgun", None) == (OTHER, "none")
    assert t.assign(None, "climate climate and a gun", None)[0] == "climate"


def test_centroid_assignment_with_threshold():
    t = topics()
    t.fit_centroids(lambda texts: np.array([[1.0, 0.0] for _ in texts]))
    assert t.assign(None, "no keywords", np.array([0.9, 0.1]) / np.linalg.norm([0.9, 0.1])) == ("climate", "centroid")
    assert t.assign(None, "no keywords", np.array([0.0, 1.0])) == (OTHER, "none")


def test_bundled_topics_file_loads_and_bounds_cardinality(tmp_path: Path):
    t = Subjects.load(BUNDLED / "topics.yaml")
    assert "immigration" in t.names and len(t.names) <= 20
    with pytest.raises(ValueError, match="max_topics"):
        Subjects.load(BUNDLED / "topics.yaml", max_topics=2)
    bad = tmp_path / "t.yaml"
    bad.write_text("topics:\n  - name: other\n")
    with pytest.raises(ValueError, match="unique"):
        Subjects.load(bad)


WORDS = ["gun", "guns", "Second Amendment", "#2A", "#2a", "climate", "Climate", "shotgun", "begun", "a", "the",
         "#climate", "gun-control", "_gun", "ſecond", "CLIMATE.", "2a", "GUN", "cLİmate", "\u212aid", "éclimate",
         "tax", "taxes", "Trans", "transgender", "#tax", "carbon tax", "amendment"]


SEPS = [" ", "", ", ", "#", "\n"]


def overlapping() -> Subjects:
    """Keywords shared between topics, prefixes of each other, inside each
    other and equal to a hashtag: every way one substring has several owners."""
    return Subjects(
        [
            Subject("hashes", keywords=("#2a",)),  # owns "#2a" with guns, matches it only after no word or "#"
            Subject("economy", keywords=("tax", "taxes", "gun"), hashtags=("tax",)),
            Subject("climate", keywords=("carbon tax", "climate", "tax"), hashtags=("climate",)),
            Subject("lgbtq", keywords=("trans", "transgender"), hashtags=("trans",)),
            Subject("guns", keywords=("gun", "second amendment", "amendment"), hashtags=("2a",)),
        ]
    )


def by_counting(t: Subjects, text: str) -> str | None:
    """The rule as specified: every topic's matches counted, the most wins."""
    best, hits = None, 0
    for topic, pattern in zip(t.topics, t._patterns, strict=True):
        n = len(pattern.findall(text)) if pattern is not None else 0
        if n > hits:
            best, hits = topic.name, n
    return best


@given(st.lists(st.sampled_from(WORDS), max_size=12), st.lists(st.sampled_from(SEPS), max_size=12),
       st.sampled_from([topics, overlapping]))
@settings(max_examples=400, deadline=None)
def test_the_one_scan_gate_never_changes_a_rule_decision(words, seps, make):
    """``by_rules`` counts only the topics whose keywords one Aho-Corasick pass
    finds (and does not count at all when it finds one): it must decide exactly
    as counting every topic always would."""
    t = make()
    assert overlapping().by_rules("##2a") == "guns"  # a substring first owned by a topic that cannot match it
    text = "".join(w + (seps[i] if i < len(seps) else " ") for i, w in enumerate(words))
    assert t.by_rules(text) == by_counting(t, text)


def test_the_bundled_rules_decide_every_demo_text_as_counting_would():
    import json

    t = Subjects.load(BUNDLED / "topics.yaml")
    texts = [json.loads(line)["text"] for name in ("posts.jsonl", "responses.jsonl")
             for line in (BUNDLED / "demo" / name).read_text().splitlines()]
    decided = [t.by_rules(x) for x in texts]
    assert decided == [by_counting(t, x) for x in texts]
    assert sum(d is not None for d in decided) > len(texts) / 3  # the rules do decide many


def test_an_empty_or_non_ascii_keyword_is_counted_without_the_automaton():
    """The automaton cannot find an empty keyword (which matches everywhere) and
    the fold is exact only for ASCII: such topic files take the regex path."""
    empty = Subjects([Subject("any", keywords=("",)), Subject("guns", keywords=("gun",))])
    assert empty._owners is None and empty.by_rules("gun") == by_counting(empty, "gun") == "guns"
    accented = Subjects([Subject("cafe", keywords=("café",))])
    assert accented._owners is None and accented.by_rules("Un CAFÉ noir") == "cafe"


def test_the_case_folds_of_the_fast_path_are_all_that_unicode_regex_folding_adds():
    import re

    from streams.core.subjects import _FOLDS

    chars = "".join(chr(c) for c in range(0x80, 0x110000) if not 0xD800 <= c <= 0xDFFF)
    found = {}
    for ch in re.findall(r"(?i)[a-z0-9]", chars):
        found[ord(ch)] = next(a for a in "abcdefghijklmnopqrstuvwxyz0123456789" if re.fullmatch("(?i)" + a, ch))
    assert found == {k: v for k, v in _FOLDS.items()}
