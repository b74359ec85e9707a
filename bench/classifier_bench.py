"""Classifier benchmark: texts/s and p50/p99 micro-batch latency, in one run, for

- our int8 graph and our fp32 graph (the run-time Classifier, exact mode),
- PyTorch fp32 of the same network (the fine-tuned encoder + heads),
- the paper's pipeline: two BERT-base-sized encoders (SpanEmo for emotions with its
  label prompt, DAMF for moral foundations) in PyTorch fp32. Random weights of that
  shape: only the cost is measured, not the quality.

on tweet-length texts (P-Stance tweets from ../shared/data/streams) and on texts of
exactly 128 word pieces. Needs PyTorch (the `train` extra): `make bench`.

    python bench/classifier_bench.py [--n 400] [--n128 160] [--batch 16]
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import statistics
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from models.classifier import Classifier  # noqa: E402
from models.datasets import shared_data_dir  # noqa: E402
from models.labels import EMOTIONS  # noqa: E402


def tweets(n: int) -> list[str]:
    """P-Stance political tweets (long for tweets: many hashtags and mentions)."""
    with (shared_data_dir() / "streams" / "pstance" / "train.csv").open(encoding="utf-8", newline="") as fh:
        rows = [r["Tweet"] for r in csv.DictReader(fh)]
    rng = np.random.default_rng(0)
    return [rows[i] for i in rng.choice(len(rows), n, replace=False)]


def stance_tweets(n: int) -> list[str]:
    """SemEval-2016 abortion-stance tweets."""
    path = shared_data_dir() / "streams" / "stance_abortion" / "train_text.txt"
    return [x.strip() for x in path.read_text(encoding="utf-8").splitlines() if x.strip()][:n]


def long_texts(clf: Classifier, pool: list[str], n: int, tokens: int = 128) -> list[str]:
    """Concatenated tweets cut to exactly `tokens` word pieces (with [CLS] and [SEP])."""
    tok = clf._tokenizer
    out, i = [], 0
    while len(out) < n:
        text = ""
        while len(tok.encode(text).ids) < tokens:
            text += " " + pool[i % len(pool)]
            i += 1
        ids = tok.encode(text).ids[1 : tokens - 1]
        out.append(tok.decode(ids))
    return out


def measure(name: str, run_batch, texts: list[str], batch: int, warmup: int = 2) -> dict:
    batches = [texts[i : i + batch] for i in range(0, len(texts), batch)]
    for b in batches[:warmup]:
        run_batch(b)
    lat = []
    start = time.perf_counter()
    for b in batches:
        t0 = time.perf_counter()
        run_batch(b)
        lat.append(time.perf_counter() - t0)
    total = time.perf_counter() - start
    lat_ms = sorted(x * 1000 for x in lat)
    return {
        "name": name,
        "texts_per_s": len(texts) / total,
        "p50_ms": statistics.median(lat_ms),
        "p99_ms": lat_ms[min(len(lat_ms) - 1, round(0.99 * (len(lat_ms) - 1)))],
        "batches": len(batches),
    }


def torch_runners(clf: Classifier, max_tokens: int):
    import torch
    from transformers import AutoTokenizer, BertConfig, BertModel

    torch.set_num_threads(os.cpu_count() or 1)
    trained = ROOT / "build" / "finetuned"
    runners = {}
    if (trained / "encoder").is_dir():
        from models.training.train import AffectNet

        net = AffectNet(str(trained / "encoder"))
        heads = torch.load(trained / "heads.pt", map_location="cpu")
        net.emotion_head.load_state_dict(heads["emotion_head"])
        net.moral_head.load_state_dict(heads["moral_head"])
        net.eval()
        tok = AutoTokenizer.from_pretrained(str(trained / "encoder"))

        @torch.inference_mode()
        def ours(texts: list[str]) -> None:
            texts = sorted(texts, key=len)
            enc = tok(texts, padding=True, truncation=True, max_length=max_tokens, return_tensors="pt")
            pooled = net.pool(enc["input_ids"], enc["attention_mask"])
            e, m = net.heads(pooled)
            torch.sigmoid(e), torch.sigmoid(m)

        runners["pytorch fp32, same network"] = ours
    else:
        print("build/finetuned missing: PyTorch fp32 of our network skipped (run make train)", file=sys.stderr)

    # Paper pipeline: SpanEmo (BERT-base + label prompt) and DAMF (BERT-base), random weights.
    torch.manual_seed(0)
    cfg = BertConfig()  # bert-base: 12 layers, 768 hidden, 12 heads, 3072 intermediate
    spanemo, damf = BertModel(cfg).eval(), BertModel(cfg).eval()
    span_head = torch.nn.Linear(768, 1)
    damf_head = torch.nn.Linear(768, 5)
    from tokenizers import Tokenizer

    wp = Tokenizer.from_file(str(clf.artifacts / "tokenizer.json"))
    wp.no_padding()
    wp.no_truncation()
    prompt = " ".join(EMOTIONS)

    def ids(texts: list[str], pair: bool) -> tuple:
        encs = wp.encode_batch([(prompt, t) for t in texts] if pair else texts)
        limit = max_tokens + (len(EMOTIONS) + 1 if pair else 0)
        rows = [e.ids[:limit] for e in encs]
        width = max(len(r) for r in rows)
        x = torch.zeros(len(rows), width, dtype=torch.long)
        mask = torch.zeros_like(x)
        for i, r in enumerate(rows):
            x[i, : len(r)] = torch.tensor(r)
            mask[i, : len(r)] = 1
        return x, mask

    @torch.inference_mode()
    def paper(texts: list[str]) -> None:
        texts = sorted(texts, key=len)
        x, mask = ids(texts, pair=True)
        h = spanemo(input_ids=x, attention_mask=mask).last_hidden_state
        torch.sigmoid(span_head(h[:, 1 : len(EMOTIONS) + 1]))  # one logit per label token
        x, mask = ids(texts, pair=False)
        h = damf(input_ids=x, attention_mask=mask).last_hidden_state
        torch.sigmoid(damf_head(h[:, 0]))

    runners["paper pipeline (SpanEmo + DAMF, 2x BERT-base, PyTorch fp32)"] = paper
    return runners


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--n", type=int, default=400, help="tweet-length texts")
    ap.add_argument("--n128", type=int, default=160, help="128-token texts")
    ap.add_argument("--batch", type=int, default=16)
    ap.add_argument("--out", type=Path, default=ROOT / "build" / "bench" / "classifier.json")
    ap.add_argument("--compare", type=Path, action="append", default=[],
                    help="another artifacts folder whose int8 graph is measured too (for example a static-scale "
                         "one: it batches in exact mode when its meta.json says it is batch-independent)")
    ap.add_argument("--no-torch", action="store_true", help="skip the PyTorch rows")
    args = ap.parse_args()
    int8 = Classifier("int8", batch_size=args.batch)
    fp32 = Classifier("fp32", batch_size=args.batch)
    others = {f"int8 graph of {d} ({'batched' if c.batch_independent else 'one text a call'})": c
              for d in args.compare for c in [Classifier("int8", artifacts=d, batch_size=args.batch)]}
    short = tweets(args.n)
    stance = stance_tweets(args.n)
    long = long_texts(int8, short, args.n128)

    def median_pieces(texts: list[str]) -> float:
        return statistics.median(len(ids) for ids, _ in int8.encode(texts))

    print(
        f"P-Stance tweets: {len(short)}, median {median_pieces(short):.0f} word pieces; SemEval-2016 stance "
        f"tweets: {len(stance)}, median {median_pieces(stance):.0f}; long texts: {len(long)} x 128; "
        f"batch {args.batch}; {os.cpu_count()} cores"
    )
    sets = {"P-Stance tweets": short, "SemEval-2016 stance tweets": stance, "128 tokens": long}
    results: dict[str, list[dict]] = {name: [] for name in sets}
    try:
        if args.no_torch:
            raise ImportError
        extra = torch_runners(int8, 256)
    except ImportError:
        extra = {}
        print("PyTorch not installed: PyTorch rows skipped (pip install -e '.[train]')", file=sys.stderr)
    for label, texts in sets.items():
        runners = {"our int8 graph (onnxruntime)": int8.predict, "our fp32 graph (onnxruntime)": fp32.predict,
                   **{name: c.predict for name, c in others.items()}, **extra}
        for name, fn in runners.items():
            results[label].append(measure(name, fn, texts, args.batch))
    paper = "paper pipeline (SpanEmo + DAMF, 2x BERT-base, PyTorch fp32)"
    for label, rows in results.items():
        ours = next(r for r in rows if r["name"].startswith("our int8"))
        ref = next((r for r in rows if r["name"] == paper), None)
        print(f"\n{label}:")
        print(f"  {'pipeline':62s} {'texts/s':>8s} {'p50 ms':>8s} {'p99 ms':>8s} {'int8 x':>7s}")
        for r in rows:
            r["int8_speedup"] = ours["texts_per_s"] / r["texts_per_s"]
            print(
                f"  {r['name']:62s} {r['texts_per_s']:8.1f} {r['p50_ms']:8.1f} {r['p99_ms']:8.1f} "
                f"{r['int8_speedup']:7.2f}"
            )
        if ref:
            print(f"  int8 throughput / paper pipeline: {ours['texts_per_s'] / ref['texts_per_s']:.1f}x")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(results, indent=2))
    print(f"\nwritten {args.out}")


if __name__ == "__main__":
    main()
