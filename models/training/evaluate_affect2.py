"""Dev figures of a trained `affect-2` checkpoint in PyTorch fp32 (before export):
emotion Jaccard / micro / macro on SemEval-2018 E-c dev with per-label
thresholds, moral F1 per label on the held-out MFTC + MFRC part (purity on the
comments that carry a purity judgement), and the MFD 2.0 lexicon beside it.

    python -m models.training.evaluate_affect2 --trained ~/.cache/affectwatch/affect2
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
import torch
from transformers import AutoModel, AutoTokenizer

from models.datasets import MORALS6, read_moral6, read_semeval_ec
from models.evaluation import f1_per_label, summary, tune_thresholds
from models.labels import EMOTIONS


@torch.no_grad()
def heads_probs(path: Path, texts: list[str], max_tokens: int = 128) -> tuple[np.ndarray, np.ndarray]:
    tok = AutoTokenizer.from_pretrained(path / "encoder")
    enc = AutoModel.from_pretrained(path / "encoder").eval()
    heads = torch.load(path / "heads.pt", map_location="cpu")
    emo_w, mor_w = heads["emotion_head"], heads["moral_head"]
    order = sorted(range(len(texts)), key=lambda i: len(texts[i]))
    emo = np.zeros((len(texts), len(EMOTIONS)), dtype=np.float32)
    mor = np.zeros((len(texts), len(MORALS6)), dtype=np.float32)
    for i in range(0, len(order), 64):
        idx = order[i : i + 64]
        b = tok([texts[j] for j in idx], padding=True, truncation=True, max_length=max_tokens, return_tensors="pt")
        h = enc(**b).last_hidden_state
        m = b["attention_mask"].unsqueeze(-1).float()
        pooled = (h * m).sum(1) / m.sum(1).clamp(min=1e-9)
        emo[idx] = torch.sigmoid(pooled @ emo_w["weight"].T + emo_w["bias"]).numpy()
        mor[idx] = torch.sigmoid(pooled @ mor_w["weight"].T + mor_w["bias"]).numpy()
    return emo, mor


def dev_texts() -> tuple[list[str], list[str]]:
    """E-c dev and moral dev texts, in the order ``dev_figures`` expects."""
    return [e.text for e in read_semeval_ec("dev")], [e.text for e in read_moral6("dev")]


def dev_figures(emo_p: np.ndarray, mor_p: np.ndarray) -> dict:
    """Dev figures from the probabilities of ``dev_texts()`` (any runner: PyTorch or a graph)."""
    emo_dev, mor_dev = read_semeval_ec("dev"), read_moral6("dev")
    emo_g = np.array([e.labels for e in emo_dev], dtype=bool)
    th_e = tune_thresholds(emo_g, emo_p, "jaccard")
    out = {"emotion": summary(emo_g, emo_p >= th_e, EMOTIONS), "emotion_thresholds": th_e.tolist()}
    mor_g = np.array([e.gold for e in mor_dev], dtype=bool)
    known = np.array([e.known for e in mor_dev], dtype=bool)
    th_m = np.full(len(MORALS6), 0.5)
    f1 = {}
    for j, name in enumerate(MORALS6):
        rows = known[:, j]
        th_m[j] = tune_thresholds(mor_g[rows][:, j : j + 1], mor_p[rows][:, j : j + 1], "label_f1")[0]
        f1[name] = round(float(f1_per_label(mor_g[rows][:, j : j + 1], mor_p[rows][:, j : j + 1] >= th_m[j])[0]), 4)
    out["moral"] = {"f1": f1, "macro_f1": round(float(np.mean(list(f1.values()))), 4), "n": len(mor_dev),
                    "purity_n": int(known[:, MORALS6.index("purity")].sum()),
                    "purity_positives": int(mor_g[known[:, 4], 4].sum()), "thresholds": th_m.tolist()}
    return out


def graph_figures(artifacts: Path, variant: str) -> dict:
    """``dev_figures`` of an exported graph, through the run-time Classifier."""
    from models.classifier import Classifier

    clf = Classifier(variant=variant, artifacts=artifacts)
    emo_texts, mor_texts = dev_texts()
    return dev_figures(clf.predict(emo_texts)[0], clf.predict(mor_texts)[1])


def lexicon_figures() -> dict[str, float]:
    """MFD 2.0 lexicon F1 per label on the same moral dev rows (purity: sanctity words)."""
    from models.baselines import lexicon_predict, load_mfd

    mor_dev = read_moral6("dev")
    pred = lexicon_predict([e.text for e in mor_dev], load_mfd(), MORALS6)
    gold = np.array([e.gold for e in mor_dev], dtype=bool)
    known = np.array([e.known for e in mor_dev], dtype=bool)
    return {name: round(float(f1_per_label(gold[known[:, j]][:, j : j + 1], pred[known[:, j]][:, j : j + 1])[0]), 4)
            for j, name in enumerate(MORALS6)}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--trained", required=True, type=Path)
    args = ap.parse_args()
    path = args.trained.expanduser()
    emo_texts, mor_texts = dev_texts()
    out = dev_figures(heads_probs(path, emo_texts)[0], heads_probs(path, mor_texts)[1])
    print(json.dumps(out, indent=1))
    (path / "dev_eval.json").write_text(json.dumps(out, indent=1))


if __name__ == "__main__":
    main()
