"""DIKE's Γ on SemEval-2018 V-oc (7 human valence classes, -3..+3), against
the majority class and a direct ordinal fit on the emotion probabilities.

    python bench/dike_voc.py            # report on dev
    python bench/dike_voc.py --write    # also (re)write the letter spectrum's shipped Γ from train

The letter spectrum's seven levels (despair .. joyful affection) take the seven
valence classes in order. Prints accuracy, accuracy within one level, mean
absolute level error and the entropy of the predicted levels beside the human
labels' entropy.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from models.classifier import Classifier  # noqa: E402
from models.datasets import shared_data_dir  # noqa: E402
from streams.dike.behavior import BehaviorSpectrum, Gamma, ordinal_baseline  # noqa: E402
from streams.dike.fitting import evaluate, level_entropy, read_voc  # noqa: E402
from streams.dike.guardrails import gamma_path  # noqa: E402
from streams.settings import BUNDLED  # noqa: E402

LETTER = BUNDLED / "behavior" / "letter.yaml"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--write", action="store_true", help="write the shipped letter Γ (top-M 3, uniform prior)")
    args = ap.parse_args()
    voc = shared_data_dir() / "emotion" / "semeval2018_voc"
    tr_text, tr_y = read_voc(voc / "train.tsv")
    dv_text, dv_y = read_voc(voc / "dev.tsv")
    spectrum = BehaviorSpectrum.load(LETTER)
    clf = Classifier()
    tr_p, dv_p = clf.predict(tr_text)[0], clf.predict(dv_text)[0]
    n = len(spectrum.levels)
    rows = []
    majority = np.full_like(dv_y, np.bincount(tr_y, minlength=n).argmax())
    rows.append(("majority class (train)", evaluate(majority, dv_y, n)))
    rows.append(("ordinal fit on probabilities", evaluate(ordinal_baseline(tr_p, tr_y)(dv_p), dv_y, n)))
    for top in (1, 2, 3, 4):
        for prior in ("uniform", "empirical"):
            g = Gamma.fit(spectrum, tr_p, tr_y, top=top, prior=prior, classifier_version=clf.version)
            rows.append((f"Γ top-{top}, {prior} prior", evaluate(g.classify(dv_p)[0], dv_y, n)))
    print(f"SemEval-2018 V-oc: train {len(tr_y)}, dev {len(dv_y)} tweets; classifier {clf.version}")
    print(f"human dev labels: entropy {level_entropy(dv_y, n):.3f} bits over {n} levels")
    print(f"{'method':34s} {'acc':>6s} {'±1':>6s} {'MAE':>6s} {'H bits':>7s}")
    for name, m in rows:
        print(f"{name:34s} {m['accuracy']:6.3f} {m['within_one']:6.3f} {m['mae_levels']:6.3f} "
              f"{m['entropy_bits']:7.3f}")
    if args.write:
        g = Gamma.fit(spectrum, tr_p, tr_y, top=3, prior="uniform", classifier_version=clf.version)
        print(f"wrote {g.save(gamma_path(LETTER, spectrum.name))} (version {g.version})")


if __name__ == "__main__":
    main()
