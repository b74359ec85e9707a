"""An exported fp32 graph back into ``train_affect2``'s network (a warm start).

The shipped ``affect-1`` graph is the best emotion model so far (E-c dev
Jaccard 0.613) and its PyTorch weights were not kept. Its initializers carry
the encoder's names for biases and norms; each weight matrix is found as the
MatMul feeding the Add of its named bias (stored transposed, [in, out]). The
emotion head is taken whole; the five moral rows go to their places among the
six (purity starts at zero); GoEmotions and topic heads start fresh. The
result is checked against the graph on sample texts before it is written.

    python -m models.training.onnx_to_torch --onnx models/artifacts/affect-fp32.onnx \
        --out ~/.cache/affectwatch/affect1-torch
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import onnx
import torch
from onnx import numpy_helper

from models.datasets import MORALS6, read_goemotions
from models.labels import MORALS_AFFECT1 as MORALS
from models.training.runs import CHECKPOINT
from models.training.train_affect2 import Affect2Net, encoder_path


def onnx_weights(path: Path) -> dict[str, np.ndarray]:
    """Encoder parameters by their PyTorch names, plus the two heads (``aw_*``)."""
    model = onnx.load(str(path))
    init = {i.name: numpy_helper.to_array(i) for i in model.graph.initializer}
    consumers: dict[str, list] = {}
    for node in model.graph.node:
        for name in node.input:
            consumers.setdefault(name, []).append(node)
    out = {k: v for k, v in init.items() if not k.startswith("onnx::")}
    for node in model.graph.node:
        if node.op_type != "MatMul" or node.input[1] not in init or not node.input[1].startswith("onnx::"):
            continue
        biases = [x for c in consumers.get(node.output[0], []) if c.op_type == "Add"
                  for x in c.input if x.endswith(".bias") and x in init]
        if len(biases) != 1:
            raise ValueError(f"cannot name the weight of {node.name}")
        out[biases[0][: -len("bias")] + "weight"] = init[node.input[1]].T
    return out


def convert(onnx_path: Path) -> Affect2Net:
    _, go_labels = read_goemotions("train")
    net = Affect2Net(encoder_path(), len(go_labels))
    weights = onnx_weights(onnx_path)
    state = net.encoder.state_dict()
    # The pooler is not used (mean pooling): it stays as published.
    missing = [k for k in state if k not in weights and "position_ids" not in k and not k.startswith("pooler.")]
    if missing:
        raise ValueError(f"parameters not in the graph: {missing[:5]}")
    net.encoder.load_state_dict({k: torch.from_numpy(np.ascontiguousarray(weights[k])) if k in weights else v
                                 for k, v in state.items()})
    with torch.no_grad():
        net.emotion_head.weight.copy_(torch.from_numpy(weights["aw_emotion_head_w"].T.copy()))
        net.emotion_head.bias.copy_(torch.from_numpy(weights["aw_emotion_head_b"].copy()))
        w, b = weights["aw_moral_head_w"].T, weights["aw_moral_head_b"]
        net.moral_head.weight.zero_()
        net.moral_head.bias.zero_()
        for i, name in enumerate(MORALS):
            j = MORALS6.index(name)
            net.moral_head.weight[j] = torch.from_numpy(w[i].copy())
            net.moral_head.bias[j] = float(b[i])
    return net.eval()


def check(net: Affect2Net, onnx_path: Path) -> float:
    """Largest difference of emotion probabilities against the graph itself."""
    from models.classifier import Classifier
    from models.datasets import read_semeval_ec

    texts = [e.text for e in read_semeval_ec("dev")][:64]
    clf = Classifier(variant="fp32", artifacts=onnx_path.parent)
    emo = clf.predict(texts)[0]
    from transformers import AutoTokenizer

    from models.training.train_affect2 import tokenize

    tok = AutoTokenizer.from_pretrained(encoder_path())
    got = []
    with torch.no_grad():
        for t in texts:  # one at a time: no padding
            got.append(torch.sigmoid(net.emotion_head(net.pool(**tokenize(tok, [t], 256)))).numpy()[0])
    return float(np.abs(np.stack(got) - emo).max())


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--onnx", type=Path, required=True)
    ap.add_argument("--out", type=Path, required=True)
    args = ap.parse_args()
    net = convert(args.onnx)
    diff = check(net, args.onnx)
    print(f"largest emotion probability difference against the graph: {diff:.2e}")
    if diff > 1e-3:
        raise SystemExit("the converted network does not reproduce the graph")
    out = args.out.expanduser()
    out.mkdir(parents=True, exist_ok=True)
    torch.save({"model": net.state_dict(), "source": str(args.onnx)}, out / CHECKPOINT)
    print(f"wrote {out / CHECKPOINT}")


if __name__ == "__main__":
    main()
