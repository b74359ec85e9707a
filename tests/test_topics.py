"""Topic assignment: explicit, rules, centroid, other."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from streams.settings import BUNDLED
from streams.topics import OTHER, Topic, Topics


def topics() -> Topics:
    return Topics(
        [
            Topic("guns", keywords=("gun", "second amendment"), hashtags=("2a",)),
            Topic("climate", keywords=("climate",), examples=("warming",)),
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
    t = Topics.load(BUNDLED / "topics.yaml")
    assert "immigration" in t.names and len(t.names) <= 20
    with pytest.raises(ValueError, match="max_topics"):
        Topics.load(BUNDLED / "topics.yaml", max_topics=2)
    bad = tmp_path / "t.yaml"
    bad.write_text("topics:\n  - name: other\n")
    with pytest.raises(ValueError, match="unique"):
        Topics.load(bad)
