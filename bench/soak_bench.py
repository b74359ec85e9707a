"""Soak bench: a long run at a fixed share of the maximum rate through a real
broker and a real worker, so that a leak or a slow drift shows as a number.

Measures the maximum rate first (a burst, as ``kafka_bench.py``), then produces
live records (timestamp = now) at ``--share`` of it for ``--minutes``, in
chunks of ``--chunk-seconds``. After each chunk it prints the memory (VmRSS) of
every process (broker, worker, classifier and figures processes), the worker's
consumer lag, and the p99 delay from a record's timestamp to its count and to
the first figures that include it. At the end: each process's memory growth
per hour (least squares over the chunks after the first, and over the last half,
where caches and write buffers are warm and only a leak still grows), and the
first and last thirds' p99 side by side.

    python bench/soak_bench.py [--minutes 20] [--share 0.5] [--chunk-seconds 60]
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path[:0] = [str(Path(__file__).resolve().parent), str(Path(__file__).resolve().parent.parent)]

from kafka_bench import (  # noqa: E402
    burst_producer,
    latency_run,
    processes,
    send_burst,
    texts,
    totals,
    wait_counted,
)

from streams.kafka.io import create_topics  # noqa: E402
from streams.kafka.localkafka import LocalKafka  # noqa: E402
from tests.kafka_support import Worker, isolated_settings  # noqa: E402

LAG = "affectwatch_consumer_lag_records"


def rss_mb(pid: int) -> float:
    return next(int(x.split()[1]) for x in Path(f"/proc/{pid}/status").read_text().splitlines()
                if x.startswith("VmRSS")) / 1024


def growth_per_hour(points: list[tuple[float, float]]) -> float:
    """Least-squares slope of (seconds, MB), in MB per hour."""
    if len(points) < 2:
        return float("nan")
    slope = statistics.linear_regression([t for t, _ in points], [m for _, m in points]).slope
    return slope * 3600


def max_rate(settings, worker: Worker, recs: list, n: int) -> float:
    """Records per second counted from a burst of ``n`` demo records (historic timestamps)."""
    burst = [(kind, dict(r, id=f"{r['id']}-burst{i}")) for i, (kind, r) in
             enumerate(recs[i % len(recs)] for i in range(n))]
    producer, messages = burst_producer(settings, burst)
    t0 = time.time()
    send_burst(producer, messages)
    _, t1, _, _ = wait_counted(worker, n, 600)
    return n / (t1 - t0)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--minutes", type=float, default=20.0)
    ap.add_argument("--share", type=float, default=0.5, help="share of the measured maximum rate")
    ap.add_argument("--chunk-seconds", type=float, default=60.0)
    ap.add_argument("--burst", type=int, default=4800, help="records of the maximum-rate burst")
    args = ap.parse_args()
    recs = texts()
    tmp = Path(tempfile.mkdtemp(prefix="affectwatch-soak-"))
    print(f"worker log in {tmp}", flush=True)
    with LocalKafka() as kafka:
        s = isolated_settings(kafka.bootstrap, tmp)
        create_topics(s)
        prod = {"AFFECTWATCH_FIGURES_INTERVAL_SECONDS": "5", "AFFECTWATCH_FIGURES_PERMUTATIONS": "300",
                "AFFECTWATCH_FIGURES_MIN_SAMPLES": "30"}
        worker = Worker(s, tmp / "worker.log", tmp / "state", extra_env=prod).start()
        try:
            worker.wait_ready()
            top = max_rate(s, worker, recs, args.burst)
            rate = args.share * top
            print(f"maximum {top:.1f} records/s; soaking at {rate:.1f}/s for {args.minutes:g} min", flush=True)
            assert kafka.proc is not None and worker.proc is not None
            procs = processes(kafka.proc.pid, worker.proc.pid)
            base = 0  # the burst's records are historic: today's 24h window holds only the live ones
            began, rows, memory = time.time(), [], {name: [] for name in procs}
            k = 0
            while time.time() - began < args.minutes * 60:
                n = int(rate * args.chunk_seconds)
                live = [(kind, dict(r, id=f"{r['id']}-soak{k}-{i}"))
                        for i, (kind, r) in enumerate(recs[j % len(recs)] for j in range(k * n, (k + 1) * n))]
                run = latency_run(s, worker, live, rate, base, procs)
                base += n
                elapsed = time.time() - began
                lag = totals(worker, LAG)[LAG]
                mem = {name: rss_mb(pid) for name, pid in procs.items()}
                for name, mb in mem.items():
                    memory[name].append((elapsed, mb))
                rows.append({"t": elapsed, "lag": lag, "p99_counted": run["counted_p99_s"], "p99_figures": run["p99_s"],
                             "mem": mem})
                print(f"{elapsed / 60:5.1f} min: {n} records at {run['rate']:.0f}/s, lag {lag:.0f}, "
                      f"timestamp -> counted p99 {run['counted_p99_s']:.2f} s, -> figures p99 {run['p99_s']:.2f} s; "
                      "RSS " + ", ".join(f"{name} {mb:.0f} MB" for name, mb in mem.items()), flush=True)
                k += 1
            # Caches and write buffers fill during the first minutes: a leak is what still grows in the last half.
            for label, start in (("chunks after the first", 1), ("last half", len(rows) // 2)):
                print(f"memory growth per hour ({label}): " + ", ".join(
                    f"{name} {growth_per_hour(points[start:]):+.1f} MB/h" for name, points in memory.items()))
            third = max(1, len(rows) // 3)
            for label, part in (("first third", rows[:third]), ("last third", rows[-third:])):
                print(f"{label}: p99 counted median {statistics.median(r['p99_counted'] for r in part):.2f} s, "
                      f"p99 figures median {statistics.median(r['p99_figures'] for r in part):.2f} s, "
                      f"lag max {max(r['lag'] for r in part):.0f}")
            (tmp / "soak.json").write_text(json.dumps(rows))
            print(f"rows in {tmp / 'soak.json'}")
        finally:
            worker.stop()


if __name__ == "__main__":
    main()
