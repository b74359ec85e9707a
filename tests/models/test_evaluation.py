"""Multi-label metrics, threshold tuning and the moral baselines."""

from __future__ import annotations

import numpy as np
import pytest

from models.baselines import lexicon_predict, load_mfd, majority_predict
from models.evaluation import jaccard_accuracy, micro_f1, summary, tune_thresholds
from models.labels import MORALS


def test_metrics_on_a_small_case():
    gold = np.array([[1, 0], [0, 0], [1, 1]], dtype=bool)
    pred = np.array([[1, 0], [0, 0], [0, 1]], dtype=bool)
    assert jaccard_accuracy(gold, pred) == pytest.approx((1 + 1 + 0.5) / 3)  # empty vs empty counts 1
    assert micro_f1(gold, pred) == pytest.approx(2 * 2 / (2 * 2 + 0 + 1))
    assert summary(gold, pred, ("a", "b"))["f1"] == {"a": 0.6667, "b": 1.0}  # rounded to 4 places


def test_threshold_tuning_improves_its_objective():
    rng = np.random.default_rng(0)
    gold = rng.random((400, 4)) < [0.5, 0.2, 0.1, 0.3]
    probs = np.clip(gold * 0.35 + rng.random((400, 4)) * 0.6, 0, 1)  # informative but shifted
    flat = probs >= 0.5
    tuned_j = probs >= tune_thresholds(gold, probs, "jaccard")
    tuned_f = probs >= tune_thresholds(gold, probs, "label_f1")
    assert jaccard_accuracy(gold, tuned_j) > jaccard_accuracy(gold, flat)
    assert summary(gold, tuned_f, tuple("abcd"))["macro_f1"] >= summary(gold, flat, tuple("abcd"))["macro_f1"]
    with pytest.raises(ValueError):
        tune_thresholds(gold, probs, "accuracy")


def test_baselines():
    words = load_mfd()
    pred = lexicon_predict(["We must protect and care for the vulnerable", "nice weather today"], words)
    assert pred[0, MORALS.index("care")] and not pred[0, -1]
    assert pred[1, -1] and not pred[1, :-1].any()
    assert majority_predict(3)[:, -1].all()
