"""The opt-in `affect-2` release: six moral labels, a subject-faithful embedding,
its own topic threshold, selected by one setting."""

from __future__ import annotations

import json

import numpy as np
import pytest

from models.classifier import Classifier
from models.labels import MORALS
from streams.settings import Settings
from streams.wiring import build_core
from tests.paths import ROOT

RELEASE = ROOT / "models" / "affect-2"


@pytest.fixture(scope="module")
def clf() -> Classifier:
    return Classifier(artifacts=RELEASE)


def test_it_measures_all_six_moral_labels(clf: Classifier):
    assert clf.moral_labels == MORALS
    assert clf.version.startswith("affect-2-int8-")
    texts = ["Keep your body pure and holy; this filth is degrading and disgusting to God",
             "We must protect vulnerable children from harm and suffering"]
    mor = clf.predict(texts)[1]
    foundations = list(MORALS[:-1])
    assert foundations[int(np.argmax(mor[0][:-1]))] == "purity"
    assert foundations[int(np.argmax(mor[1][:-1]))] == "care"
    assert "purity" in clf.labels(clf.score(texts[:1])[0])["moral"]


def test_its_embedding_groups_by_subject_more_than_by_tone(clf: Classifier):
    """Two texts on one subject in opposite tones are closer than two texts in
    one tone on different subjects (the layer topic head); affect-1's embedding
    was measured to do the opposite (model card, topic benchmark)."""
    texts = ["I love Biden's new student loan plan, finally some relief",
             "Biden's student loan plan is a disgrace and a giveaway",
             "I love my new puppy, finally some joy in this house"]
    emb = clf.predict(texts)[2]
    assert emb[0] @ emb[1] > emb[0] @ emb[2]


def test_one_setting_selects_it_with_its_own_topic_threshold():
    meta = json.loads((RELEASE / "meta.json").read_text())
    core = build_core(Settings(classifier_artifacts=RELEASE, classifier_processes=0))
    assert core.scorer.subjects.min_similarity == meta["topic_min_similarity"] < 0.9
    record = {"id": "r1", "model": "m", "steering": "default", "created_at": 1_700_000_000_000,
              "text": "Keep your body pure and holy; this filth is degrading to God"}
    parsed = core.scorer.parse(json.dumps(record).encode(), "lm", {"file": "t"})
    scored = core.scorer.score([parsed])[0]
    assert scored.model_version.startswith("affect-2-")
    assert "purity" in scored.labels["moral"]
    assert set(scored.to_record()["moral"]) == set(MORALS)
