"""A topic head over every layer of a fine-tuned encoder (needs the training extra).

Fine-tuning for affect moves the last layer's pooled vector from subject to
tone; the lower layers move far less. This head reads the mean-pooled hidden
state of every layer of a *finished* affect-2 run (encoder frozen) and is
trained, with a cosine loss, to give back the original encoder's unit
embedding of the same text. The affect heads are untouched, so a training run
may then spend all its capacity on affect (topic weight 0) and still ship a
subject-faithful embedding; at run time the head is one small matrix product.

Training texts are the run's own (cached teacher embeddings in ``teacher.npz``),
never the topic benchmark's streams.

    python -m models.training.topic_head --run ~/.cache/affectwatch/affect2c
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np
import torch
from torch import nn
from transformers import AutoModel, AutoTokenizer

from models.training.train_affect2 import tokenize

HEAD_FILE = "topic_head_layers.pt"


class LayerTopicHead(nn.Module):
    """Unit embedding from the concatenated mean-pooled states of the chosen layers."""

    def __init__(self, layers: list[int], hidden: int, width: int) -> None:
        super().__init__()
        self.layers = layers
        self.net = nn.Sequential(nn.Linear(len(layers) * hidden, width), nn.GELU(), nn.Linear(width, hidden))
        self.skip = nn.Linear(hidden, hidden)  # the last layer's vector, mapped: the head starts near a linear map

    def forward(self, pooled: torch.Tensor) -> torch.Tensor:
        """``pooled``: [batch, len(layers) * hidden], the last chosen layer last."""
        hidden = self.skip.in_features
        return nn.functional.normalize(self.net(pooled) + self.skip(pooled[:, -hidden:]), dim=-1)


def load_head(run: Path, hidden: int) -> LayerTopicHead:
    """A run's trained layer topic head (``HEAD_FILE``), in eval mode."""
    saved = torch.load(run / HEAD_FILE, map_location="cpu")
    head = LayerTopicHead(saved["layers"], hidden, saved["width"])
    head.load_state_dict(saved["state"])
    return head.eval()


@torch.no_grad()
def layer_features(encoder, tok, texts: list[str], layers: list[int], max_tokens: int, size: int = 64) -> np.ndarray:
    """Mean-pooled hidden states of ``layers`` (0 = the embeddings), concatenated."""
    out = []
    for i in range(0, len(texts), size):
        batch = tokenize(tok, texts[i : i + size], max_tokens)
        states = encoder(**batch, output_hidden_states=True).hidden_states
        mask = batch["attention_mask"].unsqueeze(-1).float()
        pooled = [(states[j] * mask).sum(1) / mask.sum(1).clamp(min=1e-9) for j in layers]
        out.append(torch.cat(pooled, dim=-1).numpy())
    return np.concatenate(out)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--run", type=Path, required=True, help="a finished train_affect2 output folder")
    ap.add_argument("--layers", default="1,2,3,4,5,6")
    ap.add_argument("--texts", type=int, default=12000, help="training texts (a seeded sample of the run's)")
    ap.add_argument("--width", type=int, default=768)
    ap.add_argument("--epochs", type=int, default=30)
    ap.add_argument("--max-tokens", type=int, default=128)
    ap.add_argument("--seed", type=int, default=13)
    args = ap.parse_args()
    torch.manual_seed(args.seed)
    run = args.run.expanduser()
    layers = [int(x) for x in args.layers.split(",")]
    teacher = np.load(run / "teacher.npz", allow_pickle=False)
    rng = np.random.default_rng(args.seed)
    pick = np.sort(rng.permutation(len(teacher["texts"]))[: args.texts])
    texts, target = teacher["texts"][pick].tolist(), teacher["emb"][pick].astype(np.float32)
    tok = AutoTokenizer.from_pretrained(str(run / "encoder"))
    encoder = AutoModel.from_pretrained(str(run / "encoder")).eval()
    t0 = time.time()
    cache = run / f"layer_features_{'-'.join(map(str, layers))}_{args.texts}_{args.seed}.npy"
    if cache.exists():
        feats = np.load(cache)
    else:
        order = np.argsort([len(t) for t in texts])  # similar lengths together: little padding
        feats = np.empty((len(texts), len(layers) * encoder.config.hidden_size), dtype=np.float32)
        feats[order] = layer_features(encoder, tok, [texts[i] for i in order], layers, args.max_tokens)
        np.save(cache, feats)
    print(f"features of {len(texts)} texts in {time.time() - t0:.0f} s", flush=True)
    head = LayerTopicHead(layers, encoder.config.hidden_size, args.width)
    x, y = torch.from_numpy(feats), torch.from_numpy(target)
    held = len(x) // 10  # the first tenth (seeded order) checks the fit
    perm = torch.randperm(len(x))
    val, train = perm[:held], perm[held:]
    with torch.no_grad():
        last = nn.functional.normalize(x[val][:, -encoder.config.hidden_size :], dim=-1)
        print(f"held-out cosine of the last layer's own vector: {(last * y[val]).sum(-1).mean().item():.4f}")
    opt = torch.optim.AdamW(head.parameters(), lr=1e-3, weight_decay=0.01)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, args.epochs)
    for epoch in range(args.epochs):
        head.train()
        for idx in train[torch.randperm(len(train))].split(128):
            loss = 1 - (head(x[idx]) * y[idx]).sum(-1).mean()
            opt.zero_grad()
            loss.backward()
            opt.step()
        sched.step()
        head.eval()
        with torch.no_grad():
            cos = (head(x[val]) * y[val]).sum(-1).mean().item()
        if epoch % 5 == 4 or epoch == args.epochs - 1:
            print(f"epoch {epoch + 1}: held-out cosine to the original embedding {cos:.4f}", flush=True)
    torch.save({"layers": layers, "width": args.width, "state": head.state_dict(), "held_out_cosine": cos},
               run / HEAD_FILE)
    print(f"wrote {run / HEAD_FILE}")


if __name__ == "__main__":
    main()
