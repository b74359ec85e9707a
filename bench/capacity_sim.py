"""Simulated capacity figures that 2 cores cannot measure directly.

How the figure computation and the /metrics series count grow with
models x prompt profiles x topics x windows: synthetic windows state of a
target size (every series with texts in every bucket of the longest span) is
built through the real ``Windows.add``, then the real ``FigureMaker.compute``
and the real metrics exporter are timed and counted. Nothing here touches
Kafka; the per-record costs of the Kafka path come from bench/kafka_bench.py.

    python bench/capacity_sim.py [--per-bucket 3]
"""

from __future__ import annotations

import argparse
import random
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from prometheus_client import generate_latest  # noqa: E402

from models.labels import EMOTIONS, MORALS  # noqa: E402
from streams.core.pipeline import Aggregator  # noqa: E402
from streams.core.windows import Observation, Series  # noqa: E402
from streams.observe.metrics import Metrics  # noqa: E402
from streams.settings import Settings  # noqa: E402

T0 = 1_709_294_400_000


def build(models: int, profiles: int, topics: int, per_bucket: int, settings: Settings) -> tuple[Aggregator, int]:
    rng = random.Random(7)
    agg = Aggregator(settings, {})
    series = [Series("human", group=g) for g in ("liberal", "conservative")]
    series += [Series("lm", model=f"model-{m}", steering=f"profile-{p}")
               for m in range(models) for p in range(profiles)]
    buckets = settings.longest_span // settings.windows.bucket_seconds
    n = 0
    for b in range(buckets):
        for t in range(topics):
            for s in series:
                for _ in range(per_bucket):
                    emo = tuple(sorted(rng.sample(EMOTIONS, rng.randint(0, 3))))
                    mor = tuple(sorted(rng.sample(MORALS, rng.randint(1, 2))))
                    bucket_ms = settings.windows.bucket_seconds * 1000
                    obs = Observation(s, f"topic-{t}", T0 + b * bucket_ms + rng.randint(0, 9999),
                                      {"emotion": emo, "moral": mor},
                                      {"emotion": tuple(rng.random() for _ in EMOTIONS),
                                       "moral": tuple(rng.random() for _ in MORALS)})
                    agg.add(obs)
                    agg.add(Observation(s, "all", obs.event_ms, obs.labels, obs.probs))
                    n += 1
    return agg, n


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--per-bucket", type=int, default=3, help="texts per series, topic and 5-minute bucket")
    args = ap.parse_args()
    settings = Settings(outputs__http_port=-1)  # production defaults: 300 permutations, 1h and 24h spans
    w = settings.windows
    print(f"spans {w.spans}, buckets of {w.bucket_seconds}s, {settings.figures.permutations} permutations, "
          f"{args.per_bucket} texts per series, topic and bucket")
    print("models x profiles x topics | records in 24h | state keys | figures: first / refresh (s) | "
          "metric series | scrape body")
    for models, profiles, topics in ((1, 3, 1), (2, 3, 5), (4, 3, 10), (8, 3, 20)):
        agg, n = build(models, profiles, topics, args.per_bucket, settings)
        t = time.perf_counter()
        figs = agg.figures()
        first = time.perf_counter() - t
        refresh = []
        for _ in range(2):  # memoized significance tests: an unchanged state costs less
            t = time.perf_counter()
            figs = agg.figures()
            refresh.append(time.perf_counter() - t)
        m = Metrics("live")
        m.figures.figures = figs
        body = generate_latest(m.registry).decode()
        series = sum(1 for line in body.splitlines() if line and not line.startswith("#"))
        print(f"{models} x {profiles} x {topics:<3d}              | {n:>12,d} | {len(agg.windows.table):>10,d} | "
              f"{first:7.2f} / {statistics.median(refresh):5.2f}            | {series:>13,d} | "
              f"{len(body) / 1024:8.0f} KB", flush=True)


if __name__ == "__main__":
    main()
