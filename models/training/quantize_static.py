"""Batch-independent int8: static activation scales (QDQ), per-channel weights.

Dynamic quantization computes each activation's scale from the tensor of the
call, so in a padded batch a text's scores depend on its neighbours (the
shipped graph therefore runs one text per call). Here onnxruntime calibrates
one fixed scale per activation on sample texts; every text is then quantized
alike whatever batch it is in, and the runner may batch for real.

    python -m models.training.quantize_static --fp32 models/artifacts/affect-fp32.onnx --out build/static-int8.onnx
"""

from __future__ import annotations

import argparse
import json
import random
from pathlib import Path

import numpy as np
from onnxruntime.quantization import CalibrationDataReader, CalibrationMethod, QuantFormat, QuantType, quantize_static
from onnxruntime.quantization.shape_inference import quant_pre_process

from models.datasets import read_goemotions, read_moral6, read_semeval_ec


def calibration_texts(n: int, seed: int) -> list[str]:
    """A seeded mix of the training sets: tweets, Reddit comments, short and long."""
    rng = random.Random(seed)
    pools = [[e.text for e in read_semeval_ec("train")], [e.text for e in read_moral6("train")],
             [e.text for e in read_goemotions("train")[0]]]
    return [t for pool in pools for t in rng.sample(pool, min(len(pool), n // len(pools)))]


class Reader(CalibrationDataReader):
    """Feeds the calibration texts one at a time (no padding in the statistics)."""

    def __init__(self, texts: list[str], encode, needs_types: bool, width: int | None = None) -> None:
        self.items = [ids for ids, _ in encode(texts)]
        self.needs_types = needs_types
        self.width = width  # pad every text to this many tokens (histogram methods need one shape)
        self.i = 0

    def get_next(self) -> dict[str, np.ndarray] | None:
        if self.i >= len(self.items):
            return None
        row = self.items[self.i][: self.width] if self.width else self.items[self.i]
        self.i += 1
        width = self.width or len(row)
        ids = np.zeros((1, width), dtype=np.int64)
        mask = np.zeros((1, width), dtype=np.int64)
        ids[0, : len(row)], mask[0, : len(row)] = row, 1
        feed = {"input_ids": ids, "attention_mask": mask}
        if self.needs_types:
            feed["token_type_ids"] = np.zeros_like(ids)
        return feed


def quantize(fp32: Path, out: Path, n: int = 300, seed: int = 13, method: str = "minmax",
             exclude_heads: bool = True, fmt: str = "qdq", per_channel: bool = True) -> None:
    from models.classifier import Classifier

    clf = Classifier(variant="fp32", artifacts=fp32.parent)
    pre = out.with_suffix(".pre.onnx")
    quant_pre_process(str(fp32), str(pre), skip_symbolic_shape=True)
    reader = Reader(calibration_texts(n, seed), clf.encode, "token_type_ids" in clf._inputs,
                    None if method == "minmax" else 64)
    exclude = ["aw_emotion_head_mm_node", "aw_moral_head_mm_node"] if exclude_heads else []
    quantize_static(
        str(pre), str(out), reader,
        quant_format=QuantFormat.QDQ if fmt == "qdq" else QuantFormat.QOperator,
        op_types_to_quantize=["MatMul", "Gather"],
        per_channel=per_channel,
        weight_type=QuantType.QInt8,
        activation_type=QuantType.QUInt8,
        nodes_to_exclude=exclude,
        calibrate_method={"minmax": CalibrationMethod.MinMax, "percentile": CalibrationMethod.Percentile,
                          "entropy": CalibrationMethod.Entropy}[method],
        extra_options={"CalibPercentile": 99.99, "MatMulConstBOnly": True},
    )
    pre.unlink(missing_ok=True)


def max_batch_difference(artifacts: Path, variant: str, texts: list[str]) -> float:
    """The largest change of any probability or embedding value between each
    text run alone and the same text in padded, length-sorted batches of 16:
    what meta.json's ``batch_independent`` (below 1e-6) is decided on."""
    from models.classifier import Classifier

    alone = Classifier(variant=variant, artifacts=artifacts, exact=False, batch_size=1)  # one text a call
    batched = Classifier(variant=variant, artifacts=artifacts, exact=False, batch_size=16)
    a, b = alone.predict(texts), batched.predict(texts)
    return max(float(np.abs(x - y).max()) for x, y in zip(a[:3], b[:3], strict=True))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--fp32", type=Path, required=True)
    ap.add_argument("--out", type=Path, required=True)
    ap.add_argument("--texts", type=int, default=300)
    ap.add_argument("--method", choices=["minmax", "percentile", "entropy"], default="minmax",
                    help="minmax measured best on E-c dev (percentile needs one padded shape)")
    ap.add_argument("--seed", type=int, default=13)
    ap.add_argument("--format", choices=["qdq", "qoperator"], default="qdq")
    ap.add_argument("--per-tensor", action="store_true", help="one weight scale per matrix, not per output channel")
    args = ap.parse_args()
    args.out.parent.mkdir(parents=True, exist_ok=True)
    quantize(args.fp32, args.out, args.texts, args.seed, args.method, fmt=args.format,
             per_channel=not args.per_tensor)
    print(f"wrote {args.out} ({args.out.stat().st_size / 1e6:.1f} MB)")
    if (args.out.parent / "meta.json").is_file() and args.out.name == "affect-int8.onnx":
        texts = [e.text for e in read_semeval_ec("dev")][:200]
        texts += ["word " * 300, "ok", "A middling sentence of a dozen words or so, to vary lengths."]
        diff = max_batch_difference(args.out.parent, "int8", texts)
        print(f"largest change between one text a call and batches of 16: {diff:.2e}")
        meta_path = args.out.parent / "meta.json"
        meta = json.loads(meta_path.read_text())
        meta.setdefault("batch_independent", {})["int8"] = diff < 1e-6
        meta.setdefault("batch_difference", {})["int8"] = diff
        meta_path.write_text(json.dumps(meta, indent=2))


if __name__ == "__main__":
    main()
