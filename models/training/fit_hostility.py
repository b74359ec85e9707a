"""Γ of the shipped hostility spectrum, fitted on public data (no torch needed).

Levels from intensity-rated tweets and plain comments:

- SemEval-2018 EI-oc **anger** train, intensity class 3/2/1/0 -> hateful,
  hostile, dismissive, neutral;
- EI-oc **joy** train, class 0/1/2/3 -> neutral, polite, friendly, warm;
- GoEmotions train comments labeled only ``neutral`` (a seeded sample) ->
  neutral: texts without emotion, which the tweets lack.

The variant (features top_m or probs, uniform or empirical prior, 0-1,500
neutral comments) is chosen on the training side only: among the variants
that flag at least 70% of held-out anger-3 train tweets (5-fold), the one
that flags the fewest of 600 GoEmotions *dev* neutral comments. The issue's
two bar sets (the demo's persona statements, EI-oc anger dev class 3) are
only reported, after the choice (``bench/hostility_guardrail.py``).

    python -m models.training.fit_hostility [--artifacts DIR] [--out FILE]
"""

from __future__ import annotations

import argparse
import itertools
import random
from pathlib import Path

import numpy as np

from models.classifier import Classifier
from models.datasets import read_eioc, read_goemotions
from streams.dike.behavior import BehaviorSpectrum, Gamma
from streams.dike.guardrails import gamma_path
from streams.settings import BUNDLED

SPECTRUM = BUNDLED / "behavior" / "hostility.yaml"
ANGER = {3: "hateful", 2: "hostile", 1: "dismissive", 0: "neutral"}
JOY = {0: "neutral", 1: "polite", 2: "friendly", 3: "warm"}
NEUTRAL_SIZES = (0, 300, 700, 1500)
MIN_CV_FLAGGED = 0.70  # of held-out anger class-3 train tweets
SEED = 13


def neutral_comments(split: str, n: int) -> list[str]:
    examples, labels = read_goemotions(split)
    only = [e.text for e in examples if sum(e.labels) == 1 and e.labels[labels.index("neutral")]]
    random.Random(SEED).shuffle(only)
    return only[:n]


def flagged(gamma: Gamma, spectrum: BehaviorSpectrum, probs: np.ndarray) -> float:
    levels, _ = gamma.classify(probs)
    return float(np.mean([not spectrum.allowed(int(x)) for x in levels]))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--artifacts", type=Path, default=None, help="classifier release (default: affect-1)")
    ap.add_argument("--out", type=Path, default=gamma_path(SPECTRUM, "hostility"))
    args = ap.parse_args()
    spectrum = BehaviorSpectrum.load(SPECTRUM)
    clf = Classifier(artifacts=args.artifacts) if args.artifacts else Classifier()
    index = {name: i for i, name in enumerate(spectrum.names)}
    anger, joy = read_eioc("anger", "train"), read_eioc("joy", "train")
    texts = [t for t, _ in anger] + [t for t, _ in joy]
    levels = [index[ANGER[c]] for _, c in anger] + [index[JOY[c]] for _, c in joy]
    neutral = neutral_comments("train", max(NEUTRAL_SIZES))
    probs = clf.predict(texts + neutral)[0]
    tweets, comments = probs[: len(texts)], probs[len(texts):]
    held_out_neutral = clf.predict(neutral_comments("dev", 600))[0]
    anger3 = np.array([c == 3 for _, c in anger] + [False] * len(joy))
    folds = np.random.default_rng(SEED).integers(0, 5, len(texts) + max(NEUTRAL_SIZES))

    rows = []
    for size, features, prior in itertools.product(NEUTRAL_SIZES, ("top_m", "probs"), ("uniform", "empirical")):
        x = np.vstack([tweets, comments[:size]])
        y = np.array(levels + [index["neutral"]] * size)
        hot = np.concatenate([anger3, np.zeros(size, bool)])
        fold = folds[: len(y)]
        hits = []
        for f in range(5):
            g = Gamma.fit(spectrum, x[fold != f], y[fold != f], prior=prior, features=features)
            levels_f, _ = g.classify(x[(fold == f) & hot])
            hits += [not spectrum.allowed(int(v)) for v in levels_f]
        g = Gamma.fit(spectrum, x, y, prior=prior, features=features, classifier_version=clf.version)
        rows.append({"neutral": size, "features": features, "prior": prior, "cv_anger3": float(np.mean(hits)),
                     "neutral_dev": flagged(g, spectrum, held_out_neutral), "gamma": g})
    eligible = [r for r in rows if r["cv_anger3"] >= MIN_CV_FLAGGED]
    best = min(eligible, key=lambda r: (r["neutral_dev"], -r["cv_anger3"]))
    print(f"classifier {clf.version}; {len(texts)} EI-oc tweets; chosen on the training side:")
    for r in rows:
        mark = "  <- chosen" if r is best else ""
        print(f"  neutral {r['neutral']:>4}, {r['features']:5s}, {r['prior']:9s}: held-out anger-3 train flagged "
              f"{r['cv_anger3']:.1%}, GoEmotions dev neutral flagged {r['neutral_dev']:.1%}{mark}")
    path = best["gamma"].save(args.out)
    print(f"wrote {path} (version {best['gamma'].version})")


if __name__ == "__main__":
    main()
