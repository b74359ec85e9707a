"""Multi-label metrics and per-label threshold tuning (numpy only)."""

from __future__ import annotations

import numpy as np


def jaccard_accuracy(gold: np.ndarray, pred: np.ndarray) -> float:
    """SemEval-2018 E-c's official score: mean |G∩P| / |G∪P|, 1 when both are empty."""
    inter = (gold & pred).sum(1)
    union = (gold | pred).sum(1)
    return float(np.where(union == 0, 1.0, inter / np.maximum(union, 1)).mean())


def f1_per_label(gold: np.ndarray, pred: np.ndarray) -> np.ndarray:
    tp = (gold & pred).sum(0)
    fp = (~gold & pred).sum(0)
    fn = (gold & ~pred).sum(0)
    denom = 2 * tp + fp + fn
    return np.where(denom == 0, 0.0, 2 * tp / np.maximum(denom, 1))


def micro_f1(gold: np.ndarray, pred: np.ndarray) -> float:
    tp = int((gold & pred).sum())
    denom = 2 * tp + int((~gold & pred).sum()) + int((gold & ~pred).sum())
    return 0.0 if denom == 0 else 2 * tp / denom


def summary(gold: np.ndarray, pred: np.ndarray, labels: tuple[str, ...]) -> dict:
    gold, pred = gold.astype(bool), pred.astype(bool)
    per = f1_per_label(gold, pred)
    return {
        "jaccard": round(jaccard_accuracy(gold, pred), 4),
        "micro_f1": round(micro_f1(gold, pred), 4),
        "macro_f1": round(float(per.mean()), 4),
        "f1": {name: round(float(v), 4) for name, v in zip(labels, per, strict=True)},
        "n": len(gold),
    }


def tune_thresholds(gold: np.ndarray, probs: np.ndarray, objective: str = "label_f1") -> np.ndarray:
    """One threshold per label on a grid of 0.05 steps.

    ``label_f1``: each label's own F1 (what macro-F1 rewards). ``jaccard``:
    coordinate ascent on the set-level Jaccard score (SemEval E-c's official
    metric, ties broken by micro-F1), starting from 0.5, three sweeps.
    """
    grid = np.round(np.arange(0.05, 0.96, 0.05), 2)
    gold = gold.astype(bool)
    best = np.full(gold.shape[1], 0.5)
    if objective == "label_f1":
        for j in range(gold.shape[1]):
            scores = [f1_per_label(gold[:, j : j + 1], probs[:, j : j + 1] >= t)[0] for t in grid]
            best[j] = float(grid[int(np.argmax(scores))])
        return best
    if objective != "jaccard":
        raise ValueError(f"unknown objective {objective!r}")
    for _ in range(3):
        for j in range(gold.shape[1]):
            scores = []
            for t in grid:
                trial = best.copy()
                trial[j] = t
                pred = probs >= trial
                scores.append((round(jaccard_accuracy(gold, pred), 6), micro_f1(gold, pred)))
            best[j] = float(grid[max(range(len(grid)), key=lambda i: scores[i])])
    return best
