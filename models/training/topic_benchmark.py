"""Topic benchmark: does an embedding group texts by subject?

Four subjects from the shared streams: SemEval-2016 abortion tweets and the
three P-Stance targets (Trump, Biden, Sanders). Per seed, ``--shots`` texts of
each subject make its centroid (their mean unit embedding, as topic
centroids are made from a topics file's examples) and up to ``--per-topic``
others are assigned to the nearest centroid; the score is the accuracy,
averaged over seeds (mean and spread printed).

Encoders: ``affect-1`` (the shipped int8 graph, or fp32), ``--artifacts DIR``
for another exported graph (affect-2), and ``original``: all-MiniLM-L6-v2 as
published (needs the training extra: torch and transformers).

    python -m models.training.topic_benchmark --encoder affect-1 --encoder original
"""

from __future__ import annotations

import argparse
import csv
import json
import statistics
from collections.abc import Callable
from pathlib import Path

import numpy as np

from models.datasets import shared_data_dir

Embed = Callable[[list[str]], np.ndarray]


def subjects() -> dict[str, list[str]]:
    root = shared_data_dir() / "streams"
    out: dict[str, list[str]] = {"abortion": [t.strip() for t in
                                              (root / "stance_abortion" / "train_text.txt").read_text().splitlines()
                                              if t.strip()]}
    with (root / "pstance" / "val.csv").open(newline="", encoding="utf-8") as fh:
        for row in csv.DictReader(fh):
            name = row["Target"].split()[-1].lower()  # Donald Trump -> trump
            out.setdefault(name, []).append(row["Tweet"])
    return out


def sample(max_texts: int) -> dict[str, list[str]]:
    """Up to ``max_texts`` texts a subject, a seeded sample (the benchmark's data)."""
    rng = np.random.default_rng(0)
    return {name: [texts[i] for i in sorted(rng.permutation(len(texts))[:max_texts])]
            for name, texts in subjects().items()}


def accuracy(data: dict[str, list[str]], vectors: dict[str, np.ndarray], shots: int, per_topic: int,
             seed: int) -> float:
    rng = np.random.default_rng(seed)
    names = sorted(data)
    centroids, tests = [], []
    for j, name in enumerate(names):
        order = rng.permutation(len(data[name]))
        vec = vectors[name]
        c = vec[order[:shots]].mean(0)
        centroids.append(c / np.linalg.norm(c))
        tests += [(vec[i], j) for i in order[shots : shots + per_topic]]
    cm = np.stack(centroids)
    hits = sum(int(np.argmax(cm @ v)) == j for v, j in tests)
    return hits / len(tests)


def onnx_embed(variant: str, artifacts: Path | None) -> Embed:
    from models.classifier import ARTIFACTS, Classifier

    clf = Classifier(variant=variant, artifacts=artifacts or ARTIFACTS)
    return lambda texts: np.asarray(clf.predict(texts)[2])


def original_embed(trained: Path | None = None) -> Embed:
    """The published encoder; or, with ``trained``, a finished affect-2 training
    run's encoder and topic head (``train_affect2``'s output folder)."""
    import torch
    from transformers import AutoModel, AutoTokenizer

    from models.training.train_affect2 import encoder_path, unit_embeddings

    path = str(trained / "encoder") if trained else encoder_path()
    tok, model = AutoTokenizer.from_pretrained(path), AutoModel.from_pretrained(path).eval()
    head = None
    if trained:
        state = torch.load(trained / "heads.pt", map_location="cpu")["topic_head"]
        head = torch.nn.Linear(state["weight"].shape[1], state["weight"].shape[0])
        head.load_state_dict(state)
    return lambda texts: unit_embeddings(model, tok, texts, 128, head)


def layers_embed(trained: Path) -> Embed:
    """A finished training run's encoder read through its layer topic head
    (``models.training.topic_head``)."""
    import torch
    from transformers import AutoModel, AutoTokenizer

    from models.training.topic_head import layer_features, load_head

    tok = AutoTokenizer.from_pretrained(str(trained / "encoder"))
    model = AutoModel.from_pretrained(str(trained / "encoder")).eval()
    head = load_head(trained, model.config.hidden_size)

    def embed(texts: list[str]) -> np.ndarray:
        with torch.no_grad():
            return head(torch.from_numpy(layer_features(model, tok, texts, head.layers, 128))).numpy()

    return embed


def off_topic_texts(n: int) -> list[str]:
    """Tweets about none of the four subjects, as far as a filter can tell: E-c dev
    tweets without a word of the subjects."""
    from models.datasets import read_semeval_ec

    words = ("abortion", "pro-life", "prolife", "pro-choice", "trump", "biden", "sanders", "bernie", "election",
             "president", "democrat", "republican", "vote")
    texts = [e.text for e in read_semeval_ec("dev") if not any(w in e.text.lower() for w in words)]
    return texts[:n]


def threshold(vectors: dict[str, np.ndarray], off: np.ndarray, shots: int, seeds: int,
              max_off: float = 0.05) -> dict:
    """The lowest centroid threshold that assigns at most ``max_off`` of the
    off-topic texts to any subject, and what it keeps of the on-topic ones
    (assigned, and to their own subject), averaged over seeds."""
    names = sorted(vectors)
    cuts, kept, right = [], [], []
    for seed in range(seeds):
        rng = np.random.default_rng(seed)
        cents, tests = [], []
        for j, name in enumerate(names):
            order = rng.permutation(len(vectors[name]))
            c = vectors[name][order[:shots]].mean(0)
            cents.append(c / np.linalg.norm(c))
            tests += [(vectors[name][i], j) for i in order[shots:]]
        cm = np.stack(cents)
        cut = float(np.quantile((off @ cm.T).max(1), 1 - max_off))
        sims = np.stack([cm @ v for v, _ in tests])
        best, gold = sims.argmax(1), np.array([j for _, j in tests])
        passed = sims.max(1) >= cut
        cuts.append(cut)
        kept.append(float(passed.mean()))
        right.append(float((passed & (best == gold)).mean()))
    return {"threshold": round(statistics.mean(cuts), 3), "on_topic_assigned": round(statistics.mean(kept), 3),
            "on_topic_assigned_right": round(statistics.mean(right), 3), "off_topic_assigned": max_off}


def run(embed: Embed, data: dict[str, list[str]], shots: int, per_topic: int, seeds: int,
        off: list[str] | None = None) -> dict:
    vectors = {name: embed(texts) for name, texts in data.items()}
    scores = [accuracy(data, vectors, shots, per_topic, seed) for seed in range(seeds)]
    out = {"accuracy": round(statistics.mean(scores), 4), "min": round(min(scores), 4),
           "max": round(max(scores), 4), "seeds": seeds}
    if off:
        out["threshold"] = threshold(vectors, embed(off), shots, seeds)
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--encoder", action="append", default=[],
                    help="affect-1, affect-1-fp32, original, NAME=ARTIFACTS_DIR (an exported graph) or "
                    "NAME=torch:RUN_DIR (a finished training run), NAME=layers:RUN_DIR (its layer topic head; "
                    "repeatable)")
    ap.add_argument("--shots", type=int, default=5)
    ap.add_argument("--per-topic", type=int, default=150)
    ap.add_argument("--seeds", type=int, default=5)
    ap.add_argument("--max-texts", type=int, default=400, help="texts per subject embedded (a seeded sample)")
    ap.add_argument("--json", type=Path, default=None, help="also write the results here")
    ap.add_argument("--off-topic", type=int, default=400,
                    help="off-topic tweets (E-c dev) used to find the centroid threshold that assigns at most 5%% "
                    "of them (0: skip)")
    args = ap.parse_args()
    data = sample(args.max_texts)
    results = {}
    off = off_topic_texts(args.off_topic) if args.off_topic else None
    for spec in args.encoder or ["affect-1"]:
        if spec == "original":
            embed = original_embed()
        elif spec in ("affect-1", "affect-1-fp32"):
            embed = onnx_embed("fp32" if spec.endswith("fp32") else "int8", None)
        elif "=layers:" in spec:
            spec, _, path = spec.partition("=layers:")
            embed = layers_embed(Path(path).expanduser())
        elif "=torch:" in spec:
            spec, _, path = spec.partition("=torch:")
            embed = original_embed(Path(path).expanduser())
        else:
            name, _, path = spec.partition("=")
            variant = "fp32" if name.endswith("fp32") else "int8"
            embed = onnx_embed(variant, Path(path))
            spec = name
        results[spec] = run(embed, data, args.shots, args.per_topic, args.seeds, off)
        r = results[spec]
        print(f"{spec:16s} nearest-centroid accuracy {r['accuracy']:.3f} (seeds {r['min']:.3f}..{r['max']:.3f}); "
              f"{len(data)} subjects ({', '.join(f'{k} {len(v)}' for k, v in sorted(data.items()))}), "
              f"{args.shots} shots", flush=True)
        if "threshold" in r:
            t = r["threshold"]
            print(f"{'':16s} centroid threshold {t['threshold']:.3f} assigns 5% of {len(off)} off-topic tweets; "
                  f"on-topic texts assigned {t['on_topic_assigned']:.3f}, assigned to their own subject "
                  f"{t['on_topic_assigned_right']:.3f}", flush=True)
    if args.json:
        args.json.write_text(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
