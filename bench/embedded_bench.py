"""Embedded-runner benchmark: records/s and peak memory of the whole pipeline
(parse, group, classify, topic, windows, figures) against the classifier alone
on the same texts, each run in its own process so peak memory is its own.

    python bench/embedded_bench.py [--repeat 2] [--rounds 5]

This VM's speed drifts by 20% from minute to minute, so the two modes run in
pairs, back to back, in alternating order, and the overhead reported is the
median over the pairs (with the spread). A third mode, ``core``, replays the
classifier's outputs computed beforehand and times only the pipeline's own
work, which is the overhead the pipeline adds, free of that noise.

Input: the bundled demo sample (MFRC posts and persona statements), repeated
with shifted times.
"""

from __future__ import annotations

import argparse
import json
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from streams.settings import BUNDLED  # noqa: E402

SAMPLE = BUNDLED / "demo"
HOURS6_MS = 6 * 3600 * 1000


def records(repeat: int) -> list[tuple[str, dict]]:
    out = []
    for r in range(repeat):
        for kind, name in (("post", "posts.jsonl"), ("lm", "responses.jsonl")):
            for line in (SAMPLE / name).read_text(encoding="utf-8").splitlines():
                rec = json.loads(line)
                rec["id"] = f"{rec['id']}-{r}"
                rec["created_at"] += r * HOURS6_MS
                out.append((kind, rec))
    return out


class Replayed:
    """The classifier's outputs, computed before the clock starts (``core`` mode)."""

    def __init__(self, clf, batches: list[list[str]]) -> None:
        self.version, self.thresholds = clf.version, clf.thresholds
        self.clf = clf
        self.outputs = {tuple(b): clf.predict(b) for b in batches}

    def predict(self, texts):
        key = tuple(str(t) for t in texts)
        return self.outputs[key] if key in self.outputs else self.clf.predict(texts)


def child(mode: str, repeat: int) -> None:
    from models.classifier import Classifier
    from streams.core.inputs import RawInput
    from streams.embedded import EmbeddedRunner
    from streams.settings import Settings
    from streams.wiring import build_core

    recs = records(repeat)
    clf = Classifier()
    clf.predict(["warm up"] * 8)

    def cpu() -> float:
        r = resource.getrusage(resource.RUSAGE_SELF)
        return r.ru_utime + r.ru_stime

    start, cpu0 = time.perf_counter(), cpu()
    if mode == "classifier":
        texts = [r["text"] for _, r in recs]
        for i in range(0, len(texts), 16):
            clf.predict(texts[i : i + 16])
    else:
        settings = Settings(metrics_port=-1)
        inputs = [RawInput(json.dumps(r).encode(), k, {"n": i}) for i, (k, r) in enumerate(recs)]
        model = clf
        if mode == "core":
            # The runner's own batches: run it once to learn them, then replay.
            seen: list[list[str]] = []
            probe = build_core(settings, clf)
            probe.scorer.classify = lambda batch: seen.append([p.record.text for p in batch]) or clf.predict(
                [p.record.text for p in batch])
            EmbeddedRunner(probe.scorer, probe.aggregator, probe.metrics).run(inputs)
            model = Replayed(clf, seen)
        core = build_core(settings, model)
        start, cpu0 = time.perf_counter(), cpu()  # topic centroids are start-up, not per record
        EmbeddedRunner(core.scorer, core.aggregator, core.metrics).run(inputs)
    seconds, cpu_s = time.perf_counter() - start, cpu() - cpu0
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(json.dumps({"mode": mode, "records": len(recs), "seconds": seconds, "cpu_s": cpu_s, "peak_mb": peak_mb}))


def run_child(mode: str, repeat: int) -> dict:
    out = subprocess.run([sys.executable, __file__, "--child", mode, "--repeat", str(repeat)],
                         check=True, capture_output=True, text=True).stdout
    return json.loads(out.strip().splitlines()[-1])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--repeat", type=int, default=2)
    ap.add_argument("--rounds", type=int, default=5, help="pairs of runs (classifier, pipeline), order alternating")
    ap.add_argument("--child", choices=["classifier", "pipeline", "core"])
    args = ap.parse_args()
    if args.child:
        child(args.child, args.repeat)
        return
    pairs: list[dict[str, dict]] = []
    for k in range(args.rounds):
        modes = ("classifier", "pipeline") if k % 2 == 0 else ("pipeline", "classifier")
        pairs.append({mode: run_child(mode, args.repeat) for mode in modes})
    core = run_child("core", args.repeat)
    wall = sorted(p["pipeline"]["seconds"] / p["classifier"]["seconds"] - 1 for p in pairs)
    cpu = sorted(p["pipeline"]["cpu_s"] / p["classifier"]["cpu_s"] - 1 for p in pairs)
    n = pairs[0]["classifier"]["records"]
    best = {m: min(p[m]["seconds"] for p in pairs) for m in ("classifier", "pipeline")}
    cpu_clf = statistics.median(p["classifier"]["cpu_s"] for p in pairs)
    print(f"{n} records (demo sample x{args.repeat}), {args.rounds} pairs of runs in alternating order")
    for m in ("classifier", "pipeline"):
        runs = [p[m] for p in pairs]
        print(f"  {m:10s} median {n / statistics.median(r['seconds'] for r in runs):6.1f} records/s, "
              f"fastest {n / best[m]:6.1f}, peak {max(r['peak_mb'] for r in runs):5.0f} MB")
    print(f"  pipeline over classifier, per pair: wall {' '.join(f'{x:+.1%}' for x in wall)}")
    print(f"    median {statistics.median(wall):+.1%} wall time, {statistics.median(cpu):+.1%} CPU time; "
          f"fastest against fastest {best['pipeline'] / best['classifier'] - 1:+.1%}")
    print(f"  the pipeline's own work (classifier outputs replayed): {core['seconds']:.2f} s wall, "
          f"{core['cpu_s']:.2f} s CPU = {core['cpu_s'] / cpu_clf:.1%} of the classifier's median CPU "
          f"({cpu_clf:.1f} s), {1000 * core['cpu_s'] / n:.2f} ms per record")


if __name__ == "__main__":
    main()
