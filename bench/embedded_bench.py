"""Embedded-runner benchmark: records/s and peak memory of the whole pipeline
(parse, group, classify, topic, windows, figures) against the classifier alone
on the same texts, each in its own process so peak memory is its own.

    python bench/embedded_bench.py [--repeat 2]

Input: the bundled demo sample (MFRC posts and persona statements), repeated
with shifted times.
"""

from __future__ import annotations

import argparse
import json
import resource
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


def child(mode: str, repeat: int) -> None:
    from models.classifier import Classifier
    from streams.app import build_core
    from streams.embedded import EmbeddedRunner
    from streams.inputs import RawInput
    from streams.settings import Settings

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
        core = build_core(Settings(metrics_port=-1), clf)
        start, cpu0 = time.perf_counter(), cpu()  # topic centroids are start-up, not per record
        inputs = [RawInput(json.dumps(r).encode(), k, {"n": i}) for i, (k, r) in enumerate(recs)]
        EmbeddedRunner(core.scorer, core.aggregator, core.metrics).run(inputs)
    seconds, cpu_s = time.perf_counter() - start, cpu() - cpu0
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(json.dumps({"mode": mode, "records": len(recs), "seconds": seconds, "cpu_s": cpu_s, "peak_mb": peak_mb}))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--repeat", type=int, default=2)
    ap.add_argument("--rounds", type=int, default=3, help="alternating runs of each mode; the fastest counts")
    ap.add_argument("--child", choices=["classifier", "pipeline"])
    args = ap.parse_args()
    if args.child:
        child(args.child, args.repeat)
        return
    # Alternating rounds, best of each: this VM's speed drifts by 20% between
    # minutes, and the fastest run is the one least disturbed. CPU time (user +
    # system, both threads) is the steadier measure of the work added.
    res: dict[str, dict] = {}
    cpu: dict[str, float] = {}
    for _ in range(args.rounds):
        for mode in ("classifier", "pipeline"):
            out = subprocess.run(
                [sys.executable, __file__, "--child", mode, "--repeat", str(args.repeat)],
                check=True,
                capture_output=True,
                text=True,
            ).stdout
            run = json.loads(out.strip().splitlines()[-1])
            if mode not in res or run["seconds"] < res[mode]["seconds"]:
                res[mode] = run
            cpu[mode] = min(cpu.get(mode, float("inf")), run["cpu_s"])
    c, p = res["classifier"], res["pipeline"]
    print(f"{c['records']} records (demo sample x{args.repeat}), fastest of {args.rounds} alternating rounds")
    for r in (c, p):
        print(f"  {r['mode']:10s} {r['records'] / r['seconds']:7.1f} records/s  peak {r['peak_mb']:6.0f} MB")
    print(
        f"  pipeline overhead over the classifier alone: {p['seconds'] / c['seconds'] - 1:+.1%} wall time, "
        f"{cpu['pipeline'] / cpu['classifier'] - 1:+.1%} CPU time ({cpu['classifier']:.1f} s vs "
        f"{cpu['pipeline']:.1f} s, least of each), {p['peak_mb'] - c['peak_mb']:+.0f} MB peak memory"
    )


if __name__ == "__main__":
    main()
