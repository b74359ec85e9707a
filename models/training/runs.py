"""What every resumable training run here shares (needs the `train` extra: torch).

A run is a fixed, seeded list of steps. Its optimizer (AdamW, layer-wise
learning-rate decay over the encoder, the heads at their own rate), its
schedule (6% warm-up, then linear decay to zero), its position and log are
written to one checkpoint every few minutes and when its time is up; a
resumed run continues bit for bit. A finished run leaves what the export and
evaluation steps read: ``encoder/`` (weights and tokenizer), ``heads.pt`` and
``train_info.json``.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path
from typing import Any

import torch
from torch import nn

CHECKPOINT = "checkpoint.pt"
EXPORTED_HEADS = ("emotion_head", "moral_head", "topic_head")


def layer_groups(encoder: nn.Module, lr: float, decay: float) -> list[dict]:
    """Encoder parameters in groups with layer-wise learning-rate decay: the top layer at ``lr``, each
    layer below at ``decay`` times the one above, the embeddings lowest (decay 1.0: one rate for all)."""
    layers = encoder.config.num_hidden_layers
    groups: dict[int, list[nn.Parameter]] = {}
    for name, param in encoder.named_parameters():
        parts = name.split(".")
        if name.startswith("embeddings."):
            depth = 0
        elif parts[:2] == ["encoder", "layer"]:
            depth = int(parts[2]) + 1
        else:  # pooler, MPNet's shared relative attention bias
            depth = layers
        groups.setdefault(depth, []).append(param)
    return [{"params": ps, "lr": lr * decay ** (layers - d)} for d, ps in sorted(groups.items())]


def add_run_arguments(ap: argparse.ArgumentParser) -> None:
    """The options every run takes: where it goes, resuming, rates, seed, threads and time."""
    ap.add_argument("--out", required=True)
    ap.add_argument("--resume", action="store_true")
    ap.add_argument("--lr", type=float, default=5e-5)
    ap.add_argument("--layer-decay", type=float, default=1.0,
                    help="layer-wise learning-rate decay (1.0: one rate for the whole encoder)")
    ap.add_argument("--head-lr", type=float, default=1e-3)
    ap.add_argument("--seed", type=int, default=13)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--save-every", type=float, default=10.0, help="minutes between checkpoints")
    ap.add_argument("--max-minutes", type=float, default=85.0, help="stop (with a checkpoint) after this long")


class Run:
    """A model's optimizer, schedule and position over ``total`` steps, checkpointed in ``out``."""

    def __init__(self, out: Path, model: nn.Module, total: int, lr: float, layer_decay: float, head_lr: float,
                 extra: dict[str, Any]) -> None:
        self.out, self.model, self.total, self.extra = out, model, total, extra
        head_params = [p for n, p in model.named_parameters() if not n.startswith("encoder.")]
        self.opt = torch.optim.AdamW(
            [*layer_groups(model.encoder, lr, layer_decay), {"params": head_params, "lr": head_lr}],
            weight_decay=0.01,
        )
        self.sched = torch.optim.lr_scheduler.LambdaLR(
            self.opt, lambda s: min(1.0, s / max(1, 0.06 * total)) * max(0.0, (total - s) / total)
        )
        self.position = 0
        self.log: list[dict] = []
        self.started = self.saved = time.time()
        self.running: dict[str, list[float]] = {}

    @property
    def checkpoint(self) -> Path:
        return self.out / CHECKPOINT

    def start(self, resume: bool, init: str | None = None) -> None:
        """Continues a checkpoint (``resume``), or takes another run's weights only (``init``: a warm start)."""
        if init and not (resume and self.checkpoint.exists()):
            state = torch.load(Path(init).expanduser() / CHECKPOINT, map_location="cpu", weights_only=False)
            self.model.load_state_dict(state["model"])
            print(f"warm start from {init}", flush=True)
        if resume and self.checkpoint.exists():
            state = torch.load(self.checkpoint, map_location="cpu", weights_only=False)
            self.model.load_state_dict(state["model"])
            self.opt.load_state_dict(state["opt"])
            self.sched.load_state_dict(state["sched"])
            self.position, self.log = state["position"], state["log"]
            torch.set_rng_state(state["torch_rng"])
            print(f"resumed at step {self.position}/{self.total}", flush=True)
        self.started = self.saved = time.time()

    def save(self) -> None:
        state = {"model": self.model.state_dict(), "opt": self.opt.state_dict(), "sched": self.sched.state_dict(),
                 "position": self.position, "log": self.log, "torch_rng": torch.get_rng_state(),
                 "total": self.total, **self.extra}
        tmp = self.out / (CHECKPOINT + ".tmp")
        torch.save(state, tmp)
        tmp.replace(self.checkpoint)  # a kill mid-write keeps the last checkpoint

    def step(self, task: str, loss: torch.Tensor) -> None:
        """One optimizer step on ``loss``; logs every 100 steps."""
        self.opt.zero_grad()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(self.model.parameters(), 1.0)
        self.opt.step()
        self.sched.step()
        self.position += 1
        self.running.setdefault(task, []).append(loss.item())
        if self.position % 100 == 0:
            means = {k: round(sum(v) / len(v), 4) for k, v in self.running.items()}
            seconds = time.time() - self.started
            self.log.append({"step": self.position, "loss": means, "seconds": round(seconds, 1)})
            print(f"step {self.position}/{self.total} {means} {seconds:.0f}s", flush=True)
            self.running = {}

    def time_up(self, save_every_minutes: float, max_minutes: float) -> bool:
        """Checkpoints every ``save_every_minutes``; whether ``max_minutes`` have passed."""
        if time.time() - self.saved > save_every_minutes * 60:
            self.save()
            self.saved = time.time()
        return time.time() - self.started > max_minutes * 60

    @property
    def done(self) -> bool:
        return self.position >= self.total

    def finish(self, tok: Any, info: dict[str, Any]) -> dict[str, Any]:
        """Checkpoints; a finished run also writes its encoder, heads and ``train_info.json``."""
        self.save()
        if self.done:
            self.model.encoder.save_pretrained(self.out / "encoder")
            tok.save_pretrained(self.out / "encoder")
            torch.save({n: getattr(self.model, n).state_dict() for n in EXPORTED_HEADS}, self.out / "heads.pt")
            (self.out / "train_info.json").write_text(json.dumps({**info, "log": self.log}, indent=2))
        return {"position": self.position, "total": self.total, "done": self.done,
                "minutes": round((time.time() - self.started) / 60, 1)}
