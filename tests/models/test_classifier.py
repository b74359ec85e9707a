"""The shipped classifier: shapes, order, determinism, edge cases and its dev bars."""

from __future__ import annotations

import ast
import sys

import numpy as np
import pytest

from models.classifier import Classifier, InvalidText, clean_text
from models.datasets import read_semeval_ec
from models.evaluation import jaccard_accuracy, micro_f1
from models.labels import EMOTIONS, MORALS, MORALS_AFFECT1
from tests.paths import ROOT


@pytest.fixture(scope="module")
def clf() -> Classifier:
    return Classifier()


def test_shapes_label_order_and_ranges(clf: Classifier):
    emo, mor, emb, lengths, truncated = clf.predict(["a happy day", "so angry right now", ""])
    assert emo.shape == (3, len(EMOTIONS)) and mor.shape == (3, len(MORALS)) and emb.shape == (3, 384)
    assert clf.meta["labels"] == {"emotion": list(EMOTIONS), "moral": list(MORALS_AFFECT1)}
    assert clf.moral_labels == MORALS_AFFECT1
    for arr in (emo, mor):
        assert np.all((arr >= 0) & (arr <= 1))
    assert np.allclose(np.linalg.norm(emb, axis=1), 1, atol=1e-4)
    assert lengths[2] == 2 and truncated == [False, False, False]


def test_a_moral_label_the_graph_does_not_measure_reads_zero_and_is_never_set(clf: Classifier):
    """affect-1 has no purity head: its purity column is 0 and its threshold unreachable,
    while the other columns are the graph's own outputs in the dimension's order."""
    texts = ["Keep your body pure and holy, avoid what is disgusting and degrading", "ok"]
    mor = clf.predict(texts)[1]
    purity = MORALS.index("purity")
    assert np.all(mor[:, purity] == 0)
    assert np.isinf(clf.thresholds["moral"][purity])
    assert all("purity" not in s for s in (clf.labels(x)["moral"] for x in clf.score(texts)))
    raw = clf._run([clf.encode(texts[:1])[0][0]])[1][0]  # the graph's own five outputs
    assert np.allclose(mor[0, [MORALS.index(m) for m in MORALS_AFFECT1]], raw, atol=1e-6)


def test_deterministic_and_independent_of_neighbours(clf: Classifier):
    texts = ["I can't believe they did this to us", "What a lovely surprise!", "ok"] * 5
    a = clf.predict(texts)[0]
    b = clf.predict(list(reversed(texts)))[0][::-1]
    alone = np.stack([clf.predict([t])[0][0] for t in texts[:3]])
    assert np.array_equal(a, b)
    assert np.array_equal(a[:3], alone)


@pytest.mark.parametrize(
    ("text", "dim", "label"),
    [
        ("I am so furious, this is outrageous and I hate them for it", "emotion", "anger"),
        ("I'm terrified, I can't stop shaking, something awful is going to happen", "emotion", "fear"),
        ("I'm heartbroken and can't stop crying since she died", "emotion", "sadness"),
        ("Best day ever!! So happy and grateful, everything went perfectly", "emotion", "joy"),
        ("We must protect vulnerable children from harm and suffering", "moral", "care"),
        ("Everyone deserves equal rights and fair treatment under the law", "moral", "fairness"),
        ("Be loyal to your family and your team, never betray them", "moral", "loyalty"),
        ("Respect the police and obey the law and tradition", "moral", "authority"),
    ],
)
def test_clearly_affective_sentences_get_the_expected_top_label(clf: Classifier, text, dim, label):
    emo, mor = clf.predict([text])[:2]
    names, probs = (EMOTIONS, emo[0]) if dim == "emotion" else (MORALS[:-1], mor[0][:-1])
    assert names[int(np.argmax(probs))] == label


def test_edge_inputs_give_results(clf: Classifier):
    texts = [
        "",
        "😂😂😂🔥",
        "x " * 50_000,
        "Je suis très heureux aujourd'hui",
        "这是一个测试",
        "\udcff broken surrogate",
    ]
    emo, mor, emb, lengths, truncated = clf.predict(texts)
    assert np.isfinite(emo).all() and np.isfinite(mor).all() and np.isfinite(emb).all()
    assert truncated[2] and lengths[2] == clf.max_tokens
    assert not truncated[0]


def test_head_and_tail_truncation_keeps_both_ends(clf: Classifier):
    text = "alpha " + "filler " * 2000 + "omega"
    ((ids, truncated),) = clf.encode([text])
    assert truncated and len(ids) == clf.max_tokens
    tok = clf._tokenizer
    assert ids[1] == tok.token_to_id("alpha") and ids[-2] == tok.token_to_id("omega")


def test_invalid_input_gives_clear_errors(clf: Classifier):
    with pytest.raises(InvalidText, match="string"):
        clf.predict([None])
    with pytest.raises(InvalidText, match="UTF-8"):
        clf.predict([b"\xff\xfe"])
    assert clean_text(b"caf\xc3\xa9") == "café"
    with pytest.raises(ValueError, match="max_tokens"):
        Classifier(max_tokens=4)


def test_version_carries_variant_and_hash(clf: Classifier):
    assert clf.version.startswith(clf.meta["release"] + "-int8-")
    assert len(clf.version.rsplit("-", 1)[1]) == 12


def test_the_child_process_gives_the_same_scores(clf: Classifier):
    from models.classifier_process import ClassifierProcess

    texts = ["I am furious about this.", "What a lovely, hopeful day!", "", "x" * 3000]
    child = ClassifierProcess()
    try:
        assert (child.version, child.sha256) == (clf.version, clf.sha256)
        assert all(np.array_equal(child.thresholds[d], clf.thresholds[d]) for d in ("emotion", "moral"))
        for mine, theirs in zip(child.predict(texts), clf.predict(texts), strict=True):
            assert np.array_equal(np.asarray(mine), np.asarray(theirs))
    finally:
        child.close()


@pytest.mark.slow
def test_int8_meets_the_emotion_bars_and_agrees_with_fp32(clf: Classifier):
    dev = read_semeval_ec("dev")
    gold = np.array([e.labels for e in dev], dtype=bool)
    texts = [e.text for e in dev]
    q = clf.predict(texts)[0] >= clf.thresholds["emotion"]
    fp32 = Classifier(variant="fp32")
    f = fp32.predict(texts)[0] >= np.asarray(clf.meta["dev"]["fp32"]["thresholds"]["emotion"])
    jq, jf = jaccard_accuracy(gold, q), jaccard_accuracy(gold, f)
    mq, mf = micro_f1(gold, q), micro_f1(gold, f)
    assert jq >= 0.55 and mq >= 0.68, (jq, mq)
    assert jf - jq <= 0.01 and mf - mq <= 0.01, (jf, jq, mf, mq)
    # Agreement on individual labels at the shipped int8 thresholds.
    f_at_q = fp32.predict(texts)[0] >= clf.thresholds["emotion"]
    assert (q == f_at_q).mean() >= 0.97


def test_runtime_never_imports_torch():
    for path in [*(ROOT / "streams").rglob("*.py"), *(ROOT / "models").glob("*.py")]:
        tree = ast.parse(path.read_text())
        for node in ast.walk(tree):
            names = (
                [a.name for a in node.names]
                if isinstance(node, ast.Import)
                else ([node.module or ""] if isinstance(node, ast.ImportFrom) else [])
            )
            assert not any(n.split(".")[0] in {"torch", "transformers", "optimum"} for n in names), path
    assert "torch" not in sys.modules


def test_predicted_labels_are_those_at_or_above_their_thresholds_in_label_order():
    from streams.core.scoring import predicted_many

    names = ("a", "b", "c")
    probs = np.array([[0.5, 0.2, 0.9], [0.1, 0.1, 0.1], [0.3, 0.6, 0.29]], dtype=np.float32)
    th = np.array([0.5, 0.6, 0.3], dtype=np.float32)
    assert predicted_many(probs, th, names) == [("a", "c"), (), ("b",)]
    assert predicted_many(np.zeros((0, 3), dtype=np.float32), th, names) == []
