"""Distillation for `affect-3` (issue 30; needs the `train` extra: torch), resumable across sessions.

Teachers are finished runs of ``train_affect2`` (``encoder/`` and ``heads.pt``)
or shipped releases (a folder with ``meta.json`` and its graphs): one or more
for emotions and one or more for morals (several are averaged: an ensemble).
Each labels every text of the distillation corpus with its probabilities, once
(cached in the run's folder). The corpus is the labelled
training texts (SemEval-2018 E-c train, MFTC + MFRC train) and further
in-domain texts without labels (P-Stance's training tweets, GoEmotions'
training comments, the persona statements), with every E-c dev and moral dev
text left out (by text), so dev figures do not lie.

The student (MiniLM-L6 by default, the run-time cost of `affect-1`) learns
both heads on every text: binary cross-entropy against the teachers'
probabilities, and on a labelled text also its gold loss (as ``train_affect2``:
E-c with SpanEmo's label-correlation term, morals from vote shares with purity
weighed up and masked where the source has none), mixed by ``--soft``.

    python -m models.training.distil --out ~/.cache/affectwatch/affect3/student \\
        --emotion-teacher RUN [--emotion-teacher RUN2] --moral-teacher RUN --max-minutes 85
"""

from __future__ import annotations

import argparse
import csv
import hashlib
import json
import random
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch import nn
from transformers import AutoTokenizer

from models.datasets import MORALS6, read_goemotions, read_moral6, read_semeval_ec, shared_data_dir
from models.labels import EMOTIONS
from models.training.encoders import encoder_path
from models.training.evaluate_affect2 import heads_probs
from models.training.runs import Run, add_run_arguments
from models.training.train_affect2 import Affect2Net, label_correlation_loss, teacher_embeddings, tokenize


@dataclass(frozen=True)
class Text:
    """A text of the distillation corpus, with its gold labels where a labelled set has them."""

    text: str
    source: str
    emotion: tuple[int, ...] | None = None  # E-c gold
    moral: tuple[float, ...] | None = None  # vote shares
    moral_known: tuple[int, ...] | None = None  # 0 where the source has no such label


def _unlabelled(limit: int, seed: int) -> list[Text]:
    """P-Stance training tweets, GoEmotions training comments and the persona statements, ``limit`` at most."""
    base = shared_data_dir()
    out = []
    with (base / "streams" / "pstance" / "train.csv").open(encoding="utf-8", newline="") as fh:
        out += [Text(r["Tweet"].strip(), "pstance") for r in csv.DictReader(fh)]
    go, _ = read_goemotions("train")
    out += [Text(e.text, "goemotions") for e in go]
    for path in sorted((base / "streams" / "anthropic_persona").glob("*.jsonl")):
        for line in path.read_text(encoding="utf-8").splitlines():
            out.append(Text(json.loads(line)["statement"].strip(), "persona"))
    random.Random(seed).shuffle(out)
    return out[:limit]


def corpus(extra: int, seed: int) -> list[Text]:
    """The labelled training texts and ``extra`` unlabelled ones, each text once, none of dev."""
    dev = {e.text for e in read_semeval_ec("dev")} | {e.text for e in read_moral6("dev")}
    texts: dict[str, Text] = {}
    for e in read_semeval_ec("train"):
        texts.setdefault(e.text, Text(e.text, "semeval_ec", emotion=tuple(e.labels)))
    for m in read_moral6("train"):
        was = texts.get(m.text)
        texts[m.text] = Text(m.text, m.source, was.emotion if was else None, m.targets, m.known)
    for t in _unlabelled(extra, seed):
        if t.text:
            texts.setdefault(t.text, t)
    return [t for text, t in texts.items() if text not in dev]


def teacher_targets(runs: list[str], texts: list[str], out: Path) -> tuple[np.ndarray, np.ndarray]:
    """The mean of the teachers' (emotion, moral) probabilities of ``texts``, each teacher's cached in ``out``."""
    emo, mor = [], []
    for run in runs:
        path = Path(run).expanduser()
        cache = out / f"targets-{hashlib.sha1(str(path.resolve()).encode()).hexdigest()[:12]}.npz"
        if cache.exists() and (data := np.load(cache, allow_pickle=False))["texts"].tolist() == texts:
            e, m = data["emotion"], data["moral"]
        else:
            e, m = heads_probs(path, texts) if (path / "heads.pt").exists() else graph_probs(path, texts)
            np.savez(cache, texts=np.array(texts), emotion=e, moral=m, teacher=str(path))
        emo.append(e)
        mor.append(m)
    return np.mean(emo, axis=0), moral_mean(mor)


def moral_mean(teachers: list[np.ndarray]) -> np.ndarray:
    """The teachers' mean moral probabilities; purity over the teachers that measure it (a release
    that does not, affect-1, gives it 0 everywhere and would halve it)."""
    out = np.mean(teachers, axis=0)
    j = MORALS6.index("purity")
    if measured := [m[:, j] for m in teachers if m[:, j].any()]:
        out[:, j] = np.mean(measured, axis=0)
    return out


def graph_probs(folder: Path, texts: list[str]) -> tuple[np.ndarray, np.ndarray]:
    """A shipped release as a teacher (``models/artifacts`` is affect-1, ``models/affect-2``): its
    graph's probabilities through the run-time classifier, fp32 where the folder has it. A moral
    label the graph does not measure (affect-1's purity) comes out 0."""
    from models.classifier import Classifier

    variant = "fp32" if (folder / "affect-fp32.onnx").exists() else "int8"
    emo, mor = [], []
    clf = Classifier(variant=variant, artifacts=folder)
    for i in range(0, len(texts), 256):
        e, m, *_ = clf.predict(texts[i : i + 256])
        emo.append(e)
        mor.append(m)
    return np.concatenate(emo), np.concatenate(mor)


def plan(texts: list[Text], epochs: int, batch_size: int, bucket: int, seed: int) -> list[list[int]]:
    """Every step's text indices, fixed by the seed; like lengths batched together."""
    rng, steps = random.Random(seed), []
    for _ in range(epochs):
        idx = list(range(len(texts)))
        rng.shuffle(idx)
        span = bucket * batch_size
        idx = [i for k in range(0, len(idx), span) for i in sorted(idx[k : k + span], key=lambda j: len(texts[j].text))]
        work = [idx[i : i + batch_size] for i in range(0, len(idx), batch_size)]
        rng.shuffle(work)
        steps += work
    return steps


class Losses:
    """The student's loss on a batch: teachers' probabilities everywhere, gold where known."""

    def __init__(self, args: argparse.Namespace, soft_emo: np.ndarray, soft_mor: np.ndarray) -> None:
        self.args, self.soft_emo, self.soft_mor = args, soft_emo, soft_mor
        self.purity = torch.ones(len(MORALS6))
        self.purity[MORALS6.index("purity")] = args.purity_weight

    def emotion(self, logits: torch.Tensor, batch: list[Text], idx: list[int]) -> torch.Tensor:
        a = self.args
        soft = nn.functional.binary_cross_entropy_with_logits(
            logits, torch.from_numpy(self.soft_emo[idx]), reduction="none").mean(1)
        gold_rows = [k for k, t in enumerate(batch) if t.emotion is not None]
        per_text = soft
        if gold_rows:
            y = torch.tensor([batch[k].emotion for k in gold_rows], dtype=torch.float32)
            g = logits[gold_rows]
            gold = ((1 - a.lca) * nn.functional.binary_cross_entropy_with_logits(g, y, reduction="none").mean(1)
                    + a.lca * label_correlation_loss(g, y))
            per_text = per_text.clone()
            per_text[gold_rows] = a.soft * soft[gold_rows] + (1 - a.soft) * gold
        return per_text.mean()

    def moral(self, logits: torch.Tensor, batch: list[Text], idx: list[int]) -> torch.Tensor:
        a = self.args
        soft_raw = nn.functional.binary_cross_entropy_with_logits(
            logits, torch.from_numpy(self.soft_mor[idx]), reduction="none")
        soft = (soft_raw * self.purity).sum(1) / self.purity.sum()
        gold_rows = [k for k, t in enumerate(batch) if t.moral is not None]
        per_text = soft
        if gold_rows:
            y = torch.tensor([batch[k].moral for k in gold_rows], dtype=torch.float32)
            known = torch.tensor([batch[k].moral_known for k in gold_rows], dtype=torch.float32) * self.purity
            raw = nn.functional.binary_cross_entropy_with_logits(logits[gold_rows], y, reduction="none")
            gold = (raw * known).sum(1) / known.sum(1).clamp(min=1e-9)
            per_text = per_text.clone()
            per_text[gold_rows] = a.soft * soft[gold_rows] + (1 - a.soft) * gold
        return per_text.mean()


def train(args: argparse.Namespace) -> dict:
    torch.manual_seed(args.seed)
    torch.set_num_threads(args.threads)
    out = Path(args.out).expanduser()
    out.mkdir(parents=True, exist_ok=True)
    texts = corpus(args.extra, args.seed)
    if args.limit:  # a smoke run: a seeded sample of the corpus
        texts = random.Random(args.seed).sample(texts, min(args.limit, len(texts)))
    plain = [t.text for t in texts]
    soft_emo, _ = teacher_targets(args.emotion_teacher, plain, out)
    _, soft_mor = teacher_targets(args.moral_teacher, plain, out)
    path = encoder_path(args.encoder)
    tok = AutoTokenizer.from_pretrained(path)
    model = Affect2Net(path, n_go=1)  # the GoEmotions head is unused here: its texts come through the teachers
    original = teacher_embeddings(path, tok, plain, out / "teacher.npz", args.max_tokens)  # for the topic head
    steps = plan(texts, args.epochs, args.batch_size, args.bucket, args.seed)
    run = Run(out, model, len(steps), args.lr, args.layer_decay, args.head_lr, {"args": vars(args)})
    run.start(args.resume)
    losses = Losses(args, soft_emo.astype(np.float32), soft_mor.astype(np.float32))
    model.train()
    while not run.done:
        idx = steps[run.position]
        batch = [texts[i] for i in idx]
        pooled = model.pool(**tokenize(tok, [t.text for t in batch], args.max_tokens))
        h = model.dropout(pooled)
        loss = (losses.emotion(model.emotion_head(h), batch, idx)
                + args.moral_weight * losses.moral(model.moral_head(h), batch, idx))
        if args.topic_weight > 0:  # keep the subject geometry of the original encoder
            target = torch.tensor(np.stack([original[t.text] for t in batch]))
            emb = nn.functional.normalize(model.topic_head(pooled), dim=-1)
            loss = loss + args.topic_weight * (1 - (emb * target).sum(-1)).mean()
        run.step("distil", loss)
        if run.time_up(args.save_every, args.max_minutes):
            break
    sources: dict[str, int] = {}
    for t in texts:
        sources[t.source] = sources.get(t.source, 0) + 1
    return run.finish(tok, {"mode": "distil", "steps": run.total, "args": vars(args), "corpus": sources,
                            "labels": {"emotion": list(EMOTIONS), "moral": list(MORALS6)}})


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_run_arguments(ap)
    ap.add_argument("--emotion-teacher", action="append", required=True, help="a finished run; repeat for an ensemble")
    ap.add_argument("--moral-teacher", action="append", required=True, help="a finished run; repeat for an ensemble")
    ap.add_argument("--encoder", choices=("minilm", "mpnet"), default="minilm", help="the student's encoder")
    ap.add_argument("--extra", type=int, default=20_000, help="unlabelled texts beside the labelled ones")
    ap.add_argument("--limit", type=int, default=0, help="a seeded sample of this many texts (a smoke run; 0: all)")
    ap.add_argument("--soft", type=float, default=0.5, help="teachers' share of a labelled text's loss")
    ap.add_argument("--moral-weight", type=float, default=1.0)
    ap.add_argument("--purity-weight", type=float, default=4.0)
    ap.add_argument("--lca", type=float, default=0.2, help="weight of the label-correlation term (SpanEmo: 0.2)")
    ap.add_argument("--topic-weight", type=float, default=0.0)
    ap.add_argument("--epochs", type=int, default=2)
    ap.add_argument("--batch-size", type=int, default=32)
    ap.add_argument("--bucket", type=int, default=50)
    ap.add_argument("--max-tokens", type=int, default=128)
    print(json.dumps(train(ap.parse_args()), indent=2))


if __name__ == "__main__":
    main()
