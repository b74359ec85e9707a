"""Export a trained network to one ONNX graph, quantize it, evaluate, ship.

1. optimum exports the fine-tuned encoder (``feature-extraction``);
2. masked mean pooling, the two sigmoid heads and the normalised embedding are
   appended to that graph with onnx.helper, so one graph maps token ids to
   ``emotion_probs``, ``moral_probs`` and ``embedding``;
3. onnxruntime quantizes it dynamically to int8 (per-channel weights,
   ``MatMulConstBOnly``);
4. both graphs are scored on the dev sets with the run-time ``Classifier``;
   each variant's thresholds are tuned per label on its own dev probabilities,
   and ``meta.json`` records the int8 thresholds and every metric.

    python -m models.training.export --trained build/finetuned --out models/artifacts
"""

from __future__ import annotations

import argparse
import json
import shutil
import tempfile
from pathlib import Path

import numpy as np
import onnx
import torch
from onnx import TensorProto, helper, numpy_helper
from onnxruntime.quantization import QuantType, quantize_dynamic
from optimum.exporters.onnx import main_export

from models.baselines import lexicon_predict, load_mfd, majority_predict
from models.datasets import read_moral, read_semeval_ec
from models.evaluation import summary, tune_thresholds
from models.labels import EMOTIONS
from models.labels import MORALS_AFFECT1 as MORALS

OPSET = 17


def append_heads(encoder_onnx: Path, heads: dict, out: Path) -> None:
    model = onnx.load(str(encoder_onnx))
    graph = model.graph
    hidden = next(o.name for o in graph.output if o.name == "last_hidden_state")
    inits = [
        numpy_helper.from_array(np.array([1], dtype=np.int64), "aw_axis1"),
        numpy_helper.from_array(np.array([2], dtype=np.int64), "aw_axis2"),
        numpy_helper.from_array(np.array(1e-9, dtype=np.float32), "aw_eps"),
        numpy_helper.from_array(np.array(1e-12, dtype=np.float32), "aw_eps_norm"),
    ]
    for name in ("emotion_head", "moral_head"):
        sd = heads[name]
        inits.append(numpy_helper.from_array(sd["weight"].numpy().T.copy(), f"aw_{name}_w"))
        inits.append(numpy_helper.from_array(sd["bias"].numpy().copy(), f"aw_{name}_b"))
    nodes = [
        helper.make_node("Cast", ["attention_mask"], ["aw_mask_f"], to=TensorProto.FLOAT),
        helper.make_node("Unsqueeze", ["aw_mask_f", "aw_axis2"], ["aw_mask_e"]),
        helper.make_node("Mul", [hidden, "aw_mask_e"], ["aw_masked"]),
        helper.make_node("ReduceSum", ["aw_masked", "aw_axis1"], ["aw_sum"], keepdims=0),
        helper.make_node("ReduceSum", ["aw_mask_e", "aw_axis1"], ["aw_count"], keepdims=0),
        helper.make_node("Max", ["aw_count", "aw_eps"], ["aw_count_c"]),
        helper.make_node("Div", ["aw_sum", "aw_count_c"], ["aw_pooled"]),
        helper.make_node("Mul", ["aw_pooled", "aw_pooled"], ["aw_sq"]),
        helper.make_node("ReduceSum", ["aw_sq", "aw_axis1"], ["aw_sqsum"], keepdims=1),
        helper.make_node("Sqrt", ["aw_sqsum"], ["aw_norm"]),
        helper.make_node("Max", ["aw_norm", "aw_eps_norm"], ["aw_norm_c"]),
        helper.make_node("Div", ["aw_pooled", "aw_norm_c"], ["embedding"]),
    ]
    for name, output in (("emotion_head", "emotion_probs"), ("moral_head", "moral_probs")):
        nodes += [
            helper.make_node("MatMul", ["aw_pooled", f"aw_{name}_w"], [f"aw_{name}_mm"]),
            helper.make_node("Add", [f"aw_{name}_mm", f"aw_{name}_b"], [f"aw_{name}_logits"]),
            helper.make_node("Sigmoid", [f"aw_{name}_logits"], [output]),
        ]
    graph.node.extend(nodes)
    graph.initializer.extend(inits)
    del graph.output[:]
    graph.output.extend(
        [
            helper.make_tensor_value_info("emotion_probs", TensorProto.FLOAT, ["batch", len(EMOTIONS)]),
            helper.make_tensor_value_info("moral_probs", TensorProto.FLOAT, ["batch", len(MORALS)]),
            helper.make_tensor_value_info("embedding", TensorProto.FLOAT, ["batch", 384]),
        ]
    )
    onnx.checker.check_model(model)
    onnx.save(model, str(out))


def quantize(fp32: Path, int8: Path, exclude_heads: bool) -> None:
    exclude = ["aw_emotion_head_mm_node", "aw_moral_head_mm_node"] if exclude_heads else []
    quantize_dynamic(
        str(fp32),
        str(int8),
        weight_type=QuantType.QInt8,
        per_channel=True,
        nodes_to_exclude=exclude,
        extra_options={"MatMulConstBOnly": True},
    )


def evaluate(artifacts: Path, variant: str) -> dict:
    from models.classifier import Classifier

    clf = Classifier(variant=variant, artifacts=artifacts)
    emo_dev, mor_dev = read_semeval_ec("dev"), read_moral("dev")
    emo_p = clf.predict([e.text for e in emo_dev])[0]
    mor_p = clf.predict([e.text for e in mor_dev])[1]
    emo_g = np.array([e.labels for e in emo_dev])
    mor_g = np.array([e.labels for e in mor_dev])
    # Emotion: the set-level Jaccard (the E-c metric); moral: each label's F1 (macro-F1).
    th_e, th_m = tune_thresholds(emo_g, emo_p, "jaccard"), tune_thresholds(mor_g, mor_p, "label_f1")
    return {
        "thresholds": {"emotion": th_e.tolist(), "moral": th_m.tolist()},
        "emotion": summary(emo_g, emo_p >= th_e, EMOTIONS),
        "moral": summary(mor_g, mor_p >= th_m, MORALS),
        "emotion_at_0.5": summary(emo_g, emo_p >= 0.5, EMOTIONS),
        "probs": {"emotion": emo_p, "moral": mor_p},
    }


def export(trained: Path, out: Path, release: str, exclude_heads: bool) -> dict:
    out.mkdir(parents=True, exist_ok=True)
    heads = torch.load(trained / "heads.pt", map_location="cpu")
    with tempfile.TemporaryDirectory() as tmp:
        main_export(
            str(trained / "encoder"),
            output=tmp,
            task="feature-extraction",
            library_name="transformers",
            opset=OPSET,
            do_validation=False,
        )
        append_heads(Path(tmp) / "model.onnx", heads, out / "affect-fp32.onnx")
    shutil.copy(trained / "encoder" / "tokenizer.json", out / "tokenizer.json")
    quantize(out / "affect-fp32.onnx", out / "affect-int8.onnx", exclude_heads)
    # meta.json must exist before the run-time Classifier can load a variant.
    meta = {"release": release, "labels": {"emotion": list(EMOTIONS), "moral": list(MORALS)}}
    (out / "meta.json").write_text(json.dumps(meta))
    results = {v: evaluate(out, v) for v in ("fp32", "int8")}
    fp, q = results["fp32"]["probs"], results["int8"]["probs"]
    agree = {dim: float(((fp[dim] >= 0.5) == (q[dim] >= 0.5)).mean()) for dim in ("emotion", "moral")}
    train_info = json.loads((trained / "train_info.json").read_text())
    mor_dev = read_moral("dev")
    mor_gold = np.array([e.labels for e in mor_dev])
    baselines = {
        "majority": summary(mor_gold, majority_predict(len(mor_dev)), MORALS),
        "mfd2_lexicon": summary(mor_gold, lexicon_predict([e.text for e in mor_dev], load_mfd()), MORALS),
    }
    meta.update(
        {
            "thresholds": results["int8"]["thresholds"],
            "mode": train_info["mode"],
            "int8_heads_fp32": exclude_heads,
            "dev": {
                v: {k: r[k] for k in ("emotion", "moral", "emotion_at_0.5", "thresholds")} for v, r in results.items()
            },
            "int8_fp32_label_agreement_at_0.5": agree,
            "moral_baselines": baselines,
            "train": {k: train_info[k] for k in ("mode", "seconds", "args")},
        }
    )
    (out / "meta.json").write_text(json.dumps(meta, indent=2))
    return meta


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--trained", required=True, type=Path)
    ap.add_argument("--out", required=True, type=Path)
    ap.add_argument("--release", default="affect-1")
    ap.add_argument("--heads-fp32", action="store_true", help="keep the two head MatMuls in fp32")
    args = ap.parse_args()
    meta = export(args.trained, args.out, args.release, args.heads_fp32)
    print(json.dumps({k: meta[k] for k in ("mode", "dev", "int8_fp32_label_agreement_at_0.5")}, indent=2))


if __name__ == "__main__":
    main()
