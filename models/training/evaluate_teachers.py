"""Dev figures of teachers, alone and averaged (an ensemble), before anything is distilled from them
(issue 30: measure a teacher before you distil it). A teacher is a finished ``train_affect2`` run or a
shipped release's folder (``models/artifacts``, ``models/affect-2``); needs the `train` extra.

    python -m models.training.evaluate_teachers --emotion-teacher models/artifacts \\
        --moral-teacher models/affect-2 --moral-teacher ~/.cache/affectwatch/affect3/minilm-moral-1ep
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np

from models.training.distil import graph_probs, moral_mean
from models.training.evaluate_affect2 import dev_figures, dev_texts, heads_probs


def probs(teacher: Path, emo_texts: list[str], mor_texts: list[str]) -> tuple[np.ndarray, np.ndarray]:
    """A teacher's emotion probabilities of E-c dev and moral probabilities of moral dev."""
    run = heads_probs if (teacher / "heads.pt").exists() else graph_probs
    emo, mor = run(teacher, emo_texts + mor_texts)  # one load of the teacher for both sets
    return emo[: len(emo_texts)], mor[len(emo_texts) :]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--emotion-teacher", action="append", default=[], type=Path)
    ap.add_argument("--moral-teacher", action="append", default=[], type=Path)
    args = ap.parse_args()
    emo_texts, mor_texts = dev_texts()
    seen: dict[Path, tuple[np.ndarray, np.ndarray]] = {}
    for teacher in dict.fromkeys([*args.emotion_teacher, *args.moral_teacher]):
        e, m = seen[teacher] = probs(teacher.expanduser(), emo_texts, mor_texts)
        print(json.dumps({str(teacher): brief(dev_figures(e, m))}), flush=True)
    if args.emotion_teacher and args.moral_teacher:
        emo = np.mean([seen[t][0] for t in args.emotion_teacher], axis=0)
        mor = moral_mean([seen[t][1] for t in args.moral_teacher])
        print(json.dumps({"ensemble": brief(dev_figures(emo, mor)),
                          "emotion": [str(t) for t in args.emotion_teacher],
                          "moral": [str(t) for t in args.moral_teacher]}), flush=True)


def brief(figures: dict) -> dict:
    e, m = figures["emotion"], figures["moral"]
    return {"emotion": {k: e[k] for k in ("jaccard", "micro_f1", "macro_f1")},
            "moral_macro_f1": m["macro_f1"], "purity_f1": m["f1"]["purity"]}


if __name__ == "__main__":
    main()
