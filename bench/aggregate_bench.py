"""The aggregate stage alone: how many observations a second the ``all`` key absorbs.

Score envelopes for the topic key ``all`` are produced straight to the scores
topic (no input records, no classifier), in envelopes of ``--rows`` records,
as the score stage sends them; then a real worker is started on that topic
and timed from its first commit to its last, when it has taken every
envelope. Envelopes of version 1 (one observation a record) and version 2
(counts per series and bucket, with the records' columns) carry the same
records and alternate round by round, so both are measured in one run on the
same machine. Prints observations/s (wall) and the worker's CPU per
observation for each.

    python bench/aggregate_bench.py [--records 300000] [--rounds 2] [--scale 10]

``--scale``: version 2 takes this many times the records, so that both runs
last about as long (a commit every few seconds bounds the resolution).
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from kafka import KafkaConsumer, KafkaProducer, TopicPartition  # noqa: E402

from bench.kafka_bench import cpu_seconds  # noqa: E402
from models.labels import EMOTIONS, MORALS  # noqa: E402
from streams.core.counts import CountsBuilder, quantized  # noqa: E402
from streams.core.subjects import ALL  # noqa: E402
from streams.core.windows import Observation, Series  # noqa: E402
from streams.kafka.io import create_topics  # noqa: E402
from streams.kafka.localkafka import LocalKafka  # noqa: E402
from streams.kafka.messages import encode_counts  # noqa: E402
from streams.kafka.messages_v1 import encode_observation, envelopes  # noqa: E402
from streams.kafka.security import client_kwargs  # noqa: E402
from tests.kafka_support import Worker, isolated_settings  # noqa: E402

SERIES = (Series("human", group="liberal"), Series("human", group="conservative"),
          Series("lm", model="m1", steering="default"), Series("lm", model="m1", steering="liberal"))
T0 = 1_764_000_000_000
# The product's defaults, not the test suite's (tests/kafka_support.TEST_ENV): with its 6 s session,
# one batch of a large gap of version 1 envelopes held the loop past the session and the worker left.
PRODUCTION = {"AFFECTWATCH_KAFKA_SESSION_TIMEOUT_SECONDS": "60", "AFFECTWATCH_KAFKA_HEARTBEAT_SECONDS": "3",
              "AFFECTWATCH_FIGURES_INTERVAL_SECONDS": "5", "AFFECTWATCH_FIGURES_PERMUTATIONS": "300",
              "AFFECTWATCH_FIGURES_MIN_SAMPLES": "30"}


def chunks(n: int, size: int, seed: int = 7) -> Iterator[list[tuple[Observation, tuple[str, int]]]]:
    """A live stream's records, ``size`` at a time: four series, four source
    partitions, ten records an event millisecond (the same records for any ``size``)."""
    rng = np.random.default_rng(seed)
    emotion_sets = [tuple(sorted(rng.choice(EMOTIONS, size=k, replace=False))) for k in rng.integers(0, 4, 40)]
    moral_sets = [tuple(sorted(rng.choice(MORALS, size=k, replace=False))) for k in rng.integers(0, 3, 12)]
    for start in range(0, n, size):
        m = min(size, n - start)
        emotion, moral = rng.random((m, len(EMOTIONS))), rng.random((m, len(MORALS)))
        picks = rng.integers(0, 40, m), rng.integers(0, 12, m)
        out = []
        for j in range(m):
            i = start + j
            obs = Observation(SERIES[i % 4], ALL, T0 + i // 10,
                              {"emotion": emotion_sets[picks[0][j]], "moral": moral_sets[picks[1][j]]},
                              {"emotion": quantized(emotion[j]), "moral": quantized(moral[j])})
            out.append((obs, (f"posts/{i % 4}", i // 4)))
        yield out


def version_1(n: int, size: int) -> list[bytes]:
    out = []
    for chunk in chunks(n, size):
        batch = [encode_observation(ALL, {"series": o.series.id, "event_ms": o.event_ms,
                                          "labels": {d: list(v) for d, v in o.labels.items()},
                                          "probs": {d: list(v) for d, v in o.probs.items()}, "origin": list(origin)},
                                    None) for o, origin in chunk]
        out += [payload for _, payload in envelopes(batch)]
    return out


def version_2(n: int, size: int, bucket_ms: int) -> list[bytes]:
    out = []
    for chunk in chunks(n, size):
        builder = CountsBuilder(ALL)
        for obs, origin in chunk:
            builder.add(obs, origin)
        out.append(encode_counts(builder.build(bucket_ms), []))
    return out


def committed(reader: KafkaConsumer, topic: str) -> int:
    """Envelopes of ``topic`` the worker's group has committed (a consumer of the
    group that never joins it reads the group's offsets)."""
    tps = [TopicPartition(topic, p) for p in reader.partitions_for_topic(topic) or ()]
    return sum(reader.committed(tp) or 0 for tp in tps)


def one_run(kafka: LocalKafka, payloads: list[bytes], rows_per: float, tmp: Path, tag: str) -> dict:
    s = isolated_settings(kafka.bootstrap, tmp / tag)
    create_topics(s)
    producer = KafkaProducer(bootstrap_servers=kafka.bootstrap, linger_ms=20, max_request_size=2 << 20,
                             **client_kwargs(s.kafka))
    for payload in payloads:
        producer.send(s.kafka.topic_scores, key=ALL.encode(), value=payload)
    producer.flush()
    producer.close()
    reader = KafkaConsumer(bootstrap_servers=kafka.bootstrap, group_id=s.kafka.app_id, enable_auto_commit=False,
                           **client_kwargs(s.kafka))
    worker = Worker(s, tmp / f"{tag}.log", tmp / f"state-{tag}",
                    extra_env=PRODUCTION).start()
    try:
        polls = []
        deadline = time.monotonic() + 900
        while time.monotonic() < deadline:
            polls.append((time.perf_counter(), committed(reader, s.kafka.topic_scores),
                          cpu_seconds(worker.proc.pid)))
            if polls[-1][1] >= len(payloads):
                break
            time.sleep(0.25)
        else:
            raise TimeoutError(f"{tag}: the worker took {polls[-1][1]} of {len(payloads)} envelopes; see its log")
        first = next(p for p in polls if p[1] > 0)
        last = polls[-1]
        messages = last[1] - first[1]
        return {"obs_per_s": messages * rows_per / (last[0] - first[0]),
                "cpu_us_per_obs": (last[2] - first[2]) / (messages * rows_per) * 1e6,
                "seconds": last[0] - first[0], "envelopes": len(payloads),
                "kb_per_envelope": sum(map(len, payloads)) / len(payloads) / 1024}
    finally:
        worker.stop()
        reader.close()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--records", type=int, default=300_000, help="records through version 1 envelopes")
    ap.add_argument("--scale", type=int, default=10, help="version 2 takes this many times the records")
    ap.add_argument("--rows", type=int, default=256, help="records an envelope (a score batch)")
    ap.add_argument("--rounds", type=int, default=2)
    args = ap.parse_args()
    bucket_ms = isolated_settings("127.0.0.1:1", Path(tempfile.gettempdir())).windows.bucket_seconds * 1000
    payloads = {"version 1": version_1(args.records, args.rows),
                "version 2": version_2(args.records * args.scale, args.rows, bucket_ms)}
    tmp = Path(tempfile.mkdtemp(prefix="affectwatch-aggregate-bench-"))
    print(f"worker logs in {tmp}", flush=True)
    results: dict[str, list[dict]] = {name: [] for name in payloads}
    with LocalKafka() as kafka:
        for k in range(args.rounds):
            order = list(payloads) if k % 2 == 0 else list(reversed(payloads))
            for name in order:
                n = len(payloads[name])
                rows_per = (args.records if name == "version 1" else args.records * args.scale) / n
                r = one_run(kafka, payloads[name], rows_per, tmp, f"{name.replace(' ', '')}-{k}")
                results[name].append(r)
                print(f"round {k + 1}, {name}: {r['obs_per_s']:,.0f} observations/s into `all` "
                      f"({r['seconds']:.1f} s), worker CPU {r['cpu_us_per_obs']:.1f} us an observation, "
                      f"{r['envelopes']} envelopes of {r['kb_per_envelope']:.1f} KB", flush=True)
    old = statistics.median(r["obs_per_s"] for r in results["version 1"])
    new = statistics.median(r["obs_per_s"] for r in results["version 2"])
    print(f"\nmedian: version 1 {old:,.0f}/s, version 2 {new:,.0f}/s, ratio {new / old:.1f}x "
          f"({args.rows} records an envelope, {os.cpu_count()} cores, broker on the same cores)")


if __name__ == "__main__":
    main()
