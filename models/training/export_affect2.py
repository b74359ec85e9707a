"""Export a finished `affect-2` run to one ONNX graph, quantize it, and score it on dev.

The graph maps token ids to ``emotion_probs`` (11), ``moral_probs`` (6: care,
fairness, loyalty, authority, purity, non-moral) and ``embedding``: the layer
topic head's unit vector (``models.training.topic_head``), which keeps texts
grouped by subject. It is exported straight from PyTorch (the topic head reads
every layer, which optimum's feature-extraction graph does not output), then
quantized dynamically to int8 like ``affect-1`` (per-channel weights, one text
a call at run time) and, with ``--static``, also with static activation scales
(``quantize_static``: batch-independent). Every variant is scored on dev with
the run-time ``Classifier``; thresholds are tuned per label on each variant's
own dev probabilities.

    python -m models.training.export_affect2 --trained ~/.cache/affectwatch/affect2e --out build/affect2
"""

from __future__ import annotations

import argparse
import json
import shutil
from pathlib import Path

import numpy as np
import torch
from torch import nn
from transformers import AutoModel

from models.datasets import MORALS6
from models.labels import EMOTIONS
from models.training.evaluate_affect2 import dev_texts, graph_figures
from models.training.topic_head import load_head

OPSET = 17


class Affect2Graph(nn.Module):
    """What the graph computes, from token ids and mask."""

    def __init__(self, run: Path) -> None:
        super().__init__()
        self.encoder = AutoModel.from_pretrained(str(run / "encoder")).eval()
        heads = torch.load(run / "heads.pt", map_location="cpu")
        hidden = self.encoder.config.hidden_size
        self.emotion_head = nn.Linear(hidden, len(EMOTIONS))
        self.moral_head = nn.Linear(hidden, len(MORALS6))
        self.emotion_head.load_state_dict(heads["emotion_head"])
        self.moral_head.load_state_dict(heads["moral_head"])
        self.topic = load_head(run, hidden)

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> tuple[torch.Tensor, ...]:
        states = self.encoder(input_ids=input_ids, attention_mask=attention_mask,
                              output_hidden_states=True).hidden_states
        mask = attention_mask.unsqueeze(-1).to(states[-1].dtype)
        count = mask.sum(1).clamp(min=1e-9)
        pooled = [(states[j] * mask).sum(1) / count for j in self.topic.layers]
        last = (states[-1] * mask).sum(1) / count
        return (torch.sigmoid(self.emotion_head(last)), torch.sigmoid(self.moral_head(last)),
                self.topic(torch.cat(pooled, dim=-1)))


def export_graph(run: Path, out: Path) -> None:
    net = Affect2Graph(run).eval()
    ids = torch.ones((2, 8), dtype=torch.int64)
    with torch.no_grad():
        torch.onnx.export(
            net, (ids, torch.ones_like(ids)), str(out), opset_version=OPSET, dynamo=False,
            input_names=["input_ids", "attention_mask"], output_names=["emotion_probs", "moral_probs", "embedding"],
            dynamic_axes={"input_ids": {0: "batch", 1: "sequence"}, "attention_mask": {0: "batch", 1: "sequence"},
                          "emotion_probs": {0: "batch"}, "moral_probs": {0: "batch"}, "embedding": {0: "batch"}},
        )


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--trained", required=True, type=Path)
    ap.add_argument("--out", required=True, type=Path)
    ap.add_argument("--release", default="affect-2")
    ap.add_argument("--static", action="store_true", help="also a static-scale int8 graph (in OUT/static)")
    args = ap.parse_args()
    run, out = args.trained.expanduser(), args.out
    out.mkdir(parents=True, exist_ok=True)
    export_graph(run, out / "affect-fp32.onnx")
    shutil.copy(run / "encoder" / "tokenizer.json", out / "tokenizer.json")
    from models.training.export import quantize

    quantize(out / "affect-fp32.onnx", out / "affect-int8.onnx", exclude_heads=False)
    meta = {"release": args.release, "labels": {"emotion": list(EMOTIONS), "moral": list(MORALS6)},
            "batch_independent": {"fp32": True, "int8": False}}
    (out / "meta.json").write_text(json.dumps(meta))
    variants = {"fp32": out, "int8": out}
    if args.static:
        from models.training.quantize_static import max_batch_difference
        from models.training.quantize_static import quantize as quantize_static

        static = out / "static"
        static.mkdir(exist_ok=True)
        for name in ("tokenizer.json", "meta.json"):
            shutil.copy(out / name, static / name)
        quantize_static(out / "affect-fp32.onnx", static / "affect-int8.onnx")
        diff = max_batch_difference(static, "int8", [*dev_texts()[0][:200], "word " * 300, "ok"])
        (static / "meta.json").write_text(json.dumps({**meta, "batch_independent": {"int8": diff < 1e-6},
                                                       "batch_difference": {"int8": diff}}))
        variants["static-int8"] = static
    dev = {}
    for name, folder in variants.items():
        dev[name] = graph_figures(folder, "fp32" if name == "fp32" else "int8")
        e, m = dev[name]["emotion"], dev[name]["moral"]
        print(f"{name:12s} E-c dev J/micro/macro {e['jaccard']:.3f}/{e['micro_f1']:.3f}/{e['macro_f1']:.3f}; "
              f"moral macro-F1 {m['macro_f1']:.3f} (purity {m['f1']['purity']:.3f})", flush=True)
    meta.update({"thresholds": {"emotion": dev["int8"]["emotion_thresholds"],
                                "moral": dev["int8"]["moral"]["thresholds"]},
                 "dev": dev, "train": json.loads((run / "train_info.json").read_text())["args"]})
    (out / "meta.json").write_text(json.dumps(meta, indent=2))
    if args.static:
        smeta = json.loads((out / "static" / "meta.json").read_text())
        smeta.update({"thresholds": {"emotion": dev["static-int8"]["emotion_thresholds"],
                                     "moral": dev["static-int8"]["moral"]["thresholds"]}, "dev": dev})
        (out / "static" / "meta.json").write_text(json.dumps(smeta, indent=2))
    print(f"wrote {out}")


if __name__ == "__main__":
    np.set_printoptions(precision=4)
    main()
