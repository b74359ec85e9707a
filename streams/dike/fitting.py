"""Fitting Γ from example texts labeled with levels (``affectwatch dike fit``),
and the SemEval-2018 V-oc reader used to fit and evaluate the letter spectrum."""

from __future__ import annotations

import csv
import json
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from streams.dike.behavior import BehaviorSpectrum, Gamma


def read_examples(path: Path, spectrum: BehaviorSpectrum) -> tuple[list[str], np.ndarray]:
    """JSONL of {"text": ..., "level": name or index}; bad lines are refused with their number."""
    texts, levels = [], []
    for n, line in enumerate(Path(path).read_text(encoding="utf-8").splitlines(), 1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
            level = row["level"]
            idx = spectrum.names.index(level) if isinstance(level, str) else int(level)
            if not 0 <= idx < len(spectrum.levels) or not str(row["text"]).strip():
                raise ValueError(level)
        except (json.JSONDecodeError, KeyError, ValueError, TypeError) as exc:
            raise ValueError(f"{path}:{n}: need {{'text', 'level'}} with a level of {spectrum.names}: {exc}") from exc
        texts.append(str(row["text"]))
        levels.append(idx)
    if not texts:
        raise ValueError(f"{path}: no examples")
    return texts, np.asarray(levels)


def fit(spectrum: BehaviorSpectrum, texts: Sequence[str], levels: np.ndarray, classifier, top: int = 3,
        prior: str = "uniform", features: str = "top_m") -> Gamma:
    emo = classifier.predict(list(texts))[0]
    return Gamma.fit(spectrum, emo, levels, top=top, prior=prior, classifier_version=classifier.version,
                     features=features)


def read_voc(path: Path) -> tuple[list[str], np.ndarray]:
    """SemEval-2018 V-oc: tweets and their valence class -3..+3 as level indices 0..6."""
    texts, levels = [], []
    with Path(path).open(encoding="utf-8", newline="") as fh:
        for row in csv.DictReader(fh, delimiter="\t"):
            texts.append(row["Tweet"])
            levels.append(int(row["Intensity Class"].split(":", 1)[0]) + 3)
    return texts, np.asarray(levels)


def level_entropy(levels: np.ndarray, n_levels: int) -> float:
    p = np.bincount(levels, minlength=n_levels) / max(len(levels), 1)
    p = p[p > 0]
    return max(0.0, float(-(p * np.log2(p)).sum()))  # max: no "-0.0" for a single level


def evaluate(pred: np.ndarray, gold: np.ndarray, n_levels: int) -> dict[str, float]:
    return {
        "accuracy": float(np.mean(pred == gold)),
        "within_one": float(np.mean(np.abs(pred - gold) <= 1)),
        "mae_levels": float(np.mean(np.abs(pred - gold))),
        "entropy_bits": level_entropy(pred, n_levels),
    }
