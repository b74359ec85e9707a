"""End-to-end benchmark through a real Kafka broker and a real worker process.

Prints, in one run:
- the maximum end-to-end rate: N records produced at once, timed until the
  worker has counted them all in its windows (and, apart, until it scored them);
- the classifier alone on the same texts in this process, timed before the
  worker starts and after it stops, and the ratio to the mean of the two;
- p50/p99 latency from a record's timestamp to the first published figures
  that include it (and, apart, to when the worker had counted it), at 50% and
  90% of that maximum rate (records are produced at a fixed rate with their
  timestamp = now; figures are published every ``--figures-interval``
  seconds, 5 by default, which bounds the resolution);
- the worker's peak memory (VmHWM).

    python bench/kafka_bench.py [--records 9600] [--seconds 30] [--rounds 3]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from aiokafka import AIOKafkaProducer  # noqa: E402
from aiokafka.partitioner import DefaultPartitioner  # noqa: E402
from kafka import KafkaConsumer, KafkaProducer, TopicPartition  # noqa: E402

from models.classifier import Classifier  # noqa: E402
from streams.kafka.io import TABLES, create_topics  # noqa: E402
from streams.kafka.localkafka import LocalKafka  # noqa: E402
from streams.kafka.security import client_kwargs  # noqa: E402
from streams.settings import BUNDLED, Settings  # noqa: E402
from tests.kafka_support import Worker, isolated_settings  # noqa: E402


def texts() -> list[tuple[str, dict]]:
    out = []
    for kind, name in (("post", "posts.jsonl"), ("lm", "responses.jsonl")):
        for line in (BUNDLED / "demo" / name).read_text().splitlines():
            out.append((kind, json.loads(line)))
    return out


def cpu_seconds(pid: int) -> float:
    """User + system CPU of one process so far."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def process_tree(pid: int) -> list[int]:
    kids = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
    return [pid] + [q for k in kids for q in process_tree(int(k))]


def processes(broker: int, worker: int) -> dict[str, int]:
    """The processes on the two cores, by role: broker, worker, and the worker's
    classifier and figures processes (the classifier's have onnxruntime loaded)."""
    out = {"broker": broker, "worker": worker}
    for child in process_tree(worker)[1:]:
        if b"spawn_main" in Path(f"/proc/{child}/cmdline").read_bytes():  # not the resource tracker
            kind = "classifier" if "onnxruntime" in Path(f"/proc/{child}/maps").read_text() else "figures"
            out[f"{kind} {child}"] = child
    return out


def peak_mb(pid: int) -> float:
    return next(int(x.split()[1]) for x in Path(f"/proc/{pid}/status").read_text().splitlines()
                if x.startswith("VmHWM")) / 1024


COUNTED, SCORED, LATE = ("affectwatch_counted_records_total", "affectwatch_records_total",
                         "affectwatch_late_records_total")
REFRESH = ("affectwatch_figures_refresh_seconds_sum", "affectwatch_figures_refresh_seconds_count")


def totals(worker: Worker, *metrics: str) -> dict[str, float]:
    """Sums of the named counter families, in one request for only those
    families (a full scrape would cost the worker far more)."""
    body = worker.get("/metrics?" + "&".join(f"name[]={m}" for m in metrics))[1]
    out = dict.fromkeys(metrics, 0.0)
    for line in body.splitlines():
        name = line.split("{", 1)[0]
        if name in out:
            out[name] += float(line.rsplit(" ", 1)[1])
    return out


def destination(settings, kind: str, rec: dict) -> tuple[str, bytes]:
    """The input topic and key of one bench record (posts by author, as the product keys them)."""
    topic = settings.kafka.topic_posts if kind == "post" else settings.kafka.topic_responses
    return topic, (rec.get("author_id") or rec["id"]).encode()


def produce(settings, records, rate: float) -> list[float]:
    """Sends records at a fixed rate, each stamped with its send time; returns
    each send's wall time.

    The bench shares the cores with the worker, and a real stream's producers
    do not, so this one costs as little as it can: every message is encoded
    and its partition chosen (the default murmur2 partitioner, as every
    client's) before the clock starts, only the timestamp's digits are
    spliced in, and each 10 ms tick's messages go as one batch per partition
    through aiokafka's compiled batch builder. (Sent one by one through
    kafka-python it took 0.22 of a core at 500 records/s; sent in ticks,
    still 0.15.)"""
    return asyncio.run(_paced(settings, records, rate))


async def _paced(settings, records, rate: float) -> list[float]:
    p = AIOKafkaProducer(bootstrap_servers=settings.kafka.bootstrap, acks="all", linger_ms=5,
                         **client_kwargs(settings.kafka))
    await p.start()
    try:
        stamp = b'"@created_at@"'
        inputs = (settings.kafka.topic_posts, settings.kafka.topic_responses)
        parts = {t: sorted(await p.partitions_for(t)) for t in inputs}
        ready = []
        for kind, rec in records:
            topic, key = destination(settings, kind, rec)
            head, tail = json.dumps(dict(rec, created_at="@created_at@")).encode().split(stamp)
            ready.append((topic, DefaultPartitioner.__call__(key, parts[topic], parts[topic]), key, head, tail))
        sent: list[float] = []
        acks = []
        start = time.time()
        while len(sent) < len(ready):
            now = time.time()
            ms = int(now * 1000)
            batches: dict[tuple[str, int], Any] = {}
            for topic, partition, key, head, tail in ready[len(sent):min(len(ready), int((now - start) * rate) + 1)]:
                value = head + str(ms).encode() + tail
                batch = batches.get((topic, partition))
                if batch is None or batch.append(key=key, value=value, timestamp=ms) is None:
                    if batch is not None:  # full: send it, start another
                        acks.append(await p.send_batch(batch, topic, partition=partition))
                    batch = batches[(topic, partition)] = p.create_batch()
                    batch.append(key=key, value=value, timestamp=ms)
                sent.append(now)
            for (topic, partition), batch in batches.items():
                acks.append(await p.send_batch(batch, topic, partition=partition))
            await asyncio.sleep(0.01)  # a record waits at most a tick; its latency counts from its real send
        await asyncio.gather(*acks)
        return sent
    finally:
        await p.stop()


def burst_producer(settings, records) -> tuple[KafkaProducer, list[tuple[str, bytes, bytes, int]]]:
    """A connected producer and the burst's encoded messages, made before the
    clock starts: the bench shares the cores with the worker, and a real
    stream's producers do not."""
    k = settings.kafka
    p = KafkaProducer(bootstrap_servers=k.bootstrap, linger_ms=5, acks="all", **client_kwargs(k))
    p.partitions_for(k.topic_posts), p.partitions_for(k.topic_responses)  # metadata now, not in the burst
    out = []
    for kind, rec in records:
        out.append((*destination(settings, kind, rec), json.dumps(rec).encode(), rec["created_at"]))
    return p, out


def send_burst(p: KafkaProducer, messages: list[tuple[str, bytes, bytes, int]]) -> None:
    for topic, key, value, ts in messages:
        p.send(topic, key=key, value=value, timestamp_ms=ts)
    p.flush()
    p.close()


def wait_counted(worker: Worker, target: float, timeout: float) -> tuple[float, float, float, list]:
    """When the worker had scored, and when it had counted (in a window, or as
    late), ``target`` records; how many of them were late; and the polls
    (time, counted) on the way.

    Records come late when a partition's first records arrive after another
    partition has moved the topic key's horizon past them (a burst of more than
    one pass of the demo, each a day later): they went the whole way all the same."""
    deadline = time.time() + timeout
    scored_at = None
    polls: list[tuple[float, float]] = []
    while time.time() < deadline:
        now = totals(worker, COUNTED, SCORED, LATE)
        polls.append((time.time(), now[COUNTED] + now[LATE]))
        if scored_at is None and now[SCORED] >= target:
            scored_at = time.time()
        if now[COUNTED] + now[LATE] >= target:
            return scored_at or time.time(), time.time(), now[LATE], polls
        time.sleep(0.1)  # a burst lasts a few seconds: a coarser poll (it was 0.5 s) blurred its rate
    now = totals(worker, COUNTED, LATE)
    raise TimeoutError(f"worker counted {now[COUNTED]} and {now[LATE]} late of {target}")


def messages_per_record(settings, records: int) -> dict[str, float]:
    """Messages the worker wrote to each topic so far, per input record (from the topics' end offsets)."""
    topics = {"score envelopes": settings.kafka.topic_scores, "violations": settings.kafka.topic_violations,
              "dead letters": settings.kafka.topic_dead_letters,
              **{f"{t} changelog": f"{settings.kafka.app_id}-{t}-changelog" for t in TABLES}}
    c = KafkaConsumer(bootstrap_servers=settings.kafka.bootstrap, **client_kwargs(settings.kafka))
    try:
        out = {}
        for label, topic in topics.items():
            tps = [TopicPartition(topic, p) for p in c.partitions_for_topic(topic) or ()]
            out[label] = sum(c.end_offsets(tps).values()) / records if tps else 0.0
        return out
    finally:
        c.close()


def changelog_keys(settings) -> int:
    """Distinct keys the windows changelog holds so far: each key written once is the fewest
    messages any write-back could send for them."""
    topic = f"{settings.kafka.app_id}-windows-changelog"
    c = KafkaConsumer(bootstrap_servers=settings.kafka.bootstrap, enable_auto_commit=False,
                      **client_kwargs(settings.kafka))
    try:
        tps = [TopicPartition(topic, p) for p in c.partitions_for_topic(topic) or ()]
        ends = c.end_offsets(tps)
        c.assign(tps)
        c.seek_to_beginning(*tps)
        keys = set()
        while any(c.position(tp) < ends[tp] for tp in tps):
            for batch in c.poll(timeout_ms=1000).values():
                keys.update((m.partition, m.key) for m in batch)
        return len(keys)
    finally:
        c.close()


def latency_run(settings, worker: Worker, records, rate: float, base: float, procs: dict[str, int]) -> dict:
    snaps = KafkaConsumer(settings.kafka.topic_snapshots, bootstrap_servers=settings.kafka.bootstrap,
                          auto_offset_reset="latest", group_id=None, **client_kwargs(settings.kafka))
    snaps.poll(timeout_ms=1000)
    # When records were counted (the counters, polled beside the run), to tell
    # the pipeline's delay from the wait for the next figures refresh.
    counted_at: list[tuple[float, float]] = []
    done = threading.Event()

    def poll_counted() -> None:
        while not done.is_set():
            now = totals(worker, COUNTED, LATE)
            counted_at.append((time.time(), now[COUNTED] + now[LATE]))
            time.sleep(0.1)

    counted0 = sum(totals(worker, COUNTED, LATE).values())
    refresh0 = totals(worker, *REFRESH)
    poller = threading.Thread(target=poll_counted, daemon=True)
    poller.start()
    start_ms = int(time.time() * 1000)
    changelog0 = messages_per_record(settings, 1)["windows changelog"]  # end offsets: messages so far
    cpu0, t0 = {name: cpu_seconds(pid) for name, pid in procs.items()}, time.time()
    sent = produce(settings, records, rate)
    cores = {name: (cpu_seconds(pid) - cpu0[name]) / (time.time() - t0) for name, pid in procs.items()}
    # Each snapshot: when it was published (its Kafka timestamp, not when this
    # loop read it: the producer above blocks until the run ends) and how many
    # records its 'all' series hold.
    seen: list[tuple[float, int]] = []
    target = base + len(records)
    deadline = time.time() + 120
    while time.time() < deadline and (not seen or seen[-1][1] < target):
        for batch in snaps.poll(timeout_ms=200).values():
            for m in batch:
                snap = json.loads(m.value)
                if (snap.get("end_ms") or 0) < start_ms:
                    # Before a live record moved the windows to today, the 24h
                    # span still held the burst's (historic) records.
                    continue
                n = sum(r["n"] for r in snap["series"] if r["topic"] == "all" and r["dimension"] == "emotion"
                        and r["window"] == "24h")
                seen.append((m.timestamp / 1000, n))
    snaps.close()
    done.set()
    poller.join()
    changelog = (messages_per_record(settings, 1)["windows changelog"] - changelog0) / len(records)
    refresh = {k: v - refresh0[k] for k, v in totals(worker, *REFRESH).items()}
    refreshes = refresh[REFRESH[1]]
    lat = _delays(sent, seen, base)
    counted = _delays(sent, counted_at, counted0)
    return {"rate": rate, "records": len(records), "included": len(lat),
            "p50_s": _quantile(lat, 0.5), "p99_s": _quantile(lat, 0.99),
            "counted_p50_s": _quantile(counted, 0.5), "counted_p99_s": _quantile(counted, 0.99), "cores": cores,
            "changelog": changelog,
            "refresh_s": refresh[REFRESH[0]] / refreshes if refreshes else float("nan"), "refreshes": refreshes}


def _delays(sent: list[float], seen: list[tuple[float, float]], base: float) -> list[float]:
    """Record i's delay: from its send to the first observation counting base + i + 1 records."""
    out, j = [], 0
    for i, t in enumerate(sent):
        while j < len(seen) and seen[j][1] < base + i + 1:
            j += 1
        if j < len(seen):
            out.append(seen[j][0] - t)
    return sorted(out)


def classifier_alone(clf: Classifier, texts: list[str]) -> float:
    """Texts a second for the classifier alone, in this process, on the demo's texts
    (the burst's records cycle through them), in batches of 16."""
    c0 = time.perf_counter()
    for i in range(0, len(texts), 16):
        clf.predict(texts[i : i + 16])
    return len(texts) / (time.perf_counter() - c0)


def _quantile(values: list[float], q: float) -> float:
    return values[min(len(values) - 1, round(q * (len(values) - 1)))] if values else float("nan")


def one_round(kafka: LocalKafka, args: argparse.Namespace, recs: list, clf: Classifier, tmp: Path, k: int) -> dict:
    """One full measurement: the classifier alone, burst, latency runs, scrape,
    then the classifier alone again."""
    # The classifier alone is timed before the worker starts and after it
    # stops, and the ratio takes their mean: timed once, minutes from the
    # burst, the machine's drift alone moved the ratio from 0.65 to 1.07
    # between rounds of one run (2026-12-06).
    alone_texts = [r["text"] for _, r in recs]
    alone_before = classifier_alone(clf, alone_texts)
    s = isolated_settings(kafka.bootstrap, tmp / f"round-{k}")
    create_topics(s)
    # Production values, not the test suite's (tests/kafka_support.TEST_ENV).
    prod = {"AFFECTWATCH_FIGURES_INTERVAL_SECONDS": str(args.figures_interval),
            "AFFECTWATCH_FIGURES_PERMUTATIONS": "300", "AFFECTWATCH_FIGURES_MIN_SAMPLES": "30",
            "AFFECTWATCH_CLASSIFIER_BATCH_SIZE": str(args.batch_size),
            "AFFECTWATCH_DIKE_BEHAVIOR_SPECTRA": json.dumps(args.spectra)}
    worker = Worker(s, tmp / f"worker-{k}.log", tmp / f"state-{k}", extra_env=prod).start()
    try:  # a worker left running would skew every later measurement on these cores
        worker.wait_ready()
        # Beyond the demo's records, each further pass through them is moved a day
        # later, so that the windows grow (a partition read early can still make
        # a later pass's records late elsewhere: those count as through, see wait_counted).
        day = 86_400_000
        batch = [(recs[i % len(recs)], i // len(recs)) for i in range(args.records)]
        batch = [(kind, dict(r, id=f"{r['id']}-{i}", created_at=r["created_at"] + lap * day))
                 for i, ((kind, r), lap) in enumerate(batch)]
        # Who uses the two cores during the burst.
        procs = processes(kafka.proc.pid, worker.proc.pid)
        procs["bench producer"] = os.getpid()  # on the same cores: its CPU is shown apart
        producer, messages = burst_producer(s, batch)
        cpu0 = {name: cpu_seconds(pid) for name, pid in procs.items()}
        t0 = time.time()
        send_burst(producer, messages)
        t_scored, t1, late, polls = wait_counted(worker, len(batch), 600)
        # The rate while the pipeline is full: from 10% to 90% counted (the
        # whole burst's rate also pays for filling and draining the stages).
        lo = next(p for p in polls if p[1] >= 0.1 * len(batch))
        hi = next(p for p in polls if p[1] >= 0.9 * len(batch))
        middle = (hi[1] - lo[1]) / (hi[0] - lo[0]) if hi[0] > lo[0] else float("nan")
        first_counted = next(p[0] for p in polls if p[1] > 0) - t0
        used = {name: cpu_seconds(pid) - cpu0[name] for name, pid in procs.items()}
        messages = messages_per_record(s, len(batch))
        keys = changelog_keys(s) / len(batch)
        per_record_ms = {
            "broker": used["broker"] / len(batch) * 1000,
            "worker loop": used["worker"] / len(batch) * 1000,
            "figures process": sum(v for name, v in used.items() if name.startswith("figures")) / len(batch) * 1000,
            "classifier": sum(v for name, v in used.items() if name.startswith("classifier")) / len(batch) * 1000,
            "bench producer": used["bench producer"] / len(batch) * 1000,
        }
        cores = {name: v / (t1 - t0) for name, v in used.items()}
        e2e = len(batch) / (t1 - t0)
        scoring = len(batch) / (t_scored - t0)
        runs = []
        base = 0  # live records carry today's time: the 24h window holds only earlier live runs
        for share in () if args.burst_only else (0.5, 0.9):
            rate = share * e2e
            n = int(rate * args.seconds)  # may exceed the burst's records: cycle through them
            live = [(batch[i % len(batch)][0], dict(batch[i % len(batch)][1], id=f"live{share}-{i}")) for i in range(n)]
            runs.append({"share": share, **latency_run(s, worker, live, rate, base, procs)})
            base += len(live)
        scrapes = []
        for _ in range(20):
            c = time.perf_counter()
            body = worker.get("/metrics")[1]
            scrapes.append(time.perf_counter() - c)
        scrape = {"ms": statistics.median(scrapes) * 1000, "max_ms": max(scrapes) * 1000,
                  "kb": len(body.encode()) / 1024, "series": sum(1 for x in body.splitlines() if x[:1] not in "#")}
        hwm = {name: peak_mb(pid) for name, pid in procs.items() if name not in ("broker", "bench producer")}
        worker.stop()
        alone_after = classifier_alone(clf, alone_texts)
        alone = (alone_before + alone_after) / 2
        return {"e2e": e2e, "scoring": scoring, "alone": alone, "alone_before": alone_before,
                "alone_after": alone_after, "ratio": e2e / alone, "cores": cores,
                "middle": middle, "first_counted_s": first_counted,
                "per_record_ms": per_record_ms, "runs": runs, "scrape": scrape, "hwm": hwm, "records": len(batch),
                "late": late, "messages": messages, "keys": keys}

    finally:
        worker.stop()

def _spread(values: list[float], fmt: str = "{:.2f}") -> str:
    return f"median {fmt.format(statistics.median(values))} (" + ", ".join(fmt.format(v) for v in values) + ")"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    # 9,600: about 14 s of burst, so that filling and draining the stages (the
    # first count comes about 1 s after the first send) weigh little in the rate.
    ap.add_argument("--records", type=int, default=9600)
    ap.add_argument("--seconds", type=float, default=30, help="length of each fixed-rate run")
    ap.add_argument("--rounds", type=int, default=3, help="full measurements; the summary gives median and spread")
    ap.add_argument("--batch-size", type=int, default=Settings().classifier.batch_size,
                    help="AFFECTWATCH_CLASSIFIER_BATCH_SIZE of the worker (default: the product's)")
    ap.add_argument("--spectra", type=lambda v: [str(BUNDLED / "behavior" / f"{n}.yaml") for n in v.split(",") if n],
                    default=[str(p) for p in Settings().dike.behavior_spectra],
                    help="enforced behavior spectra, comma-separated names (default: the product's default, "
                    "hostility; the test suite enforces letter,hostility)")
    ap.add_argument("--burst-only", action="store_true",
                    help="only the burst (rate, CPU shares); skip the fixed-rate latency runs")
    ap.add_argument("--figures-interval", type=float, default=5.0,
                    help="worker figure refresh (production default 5 s; it bounds the latency resolution)")
    args = ap.parse_args()
    recs = texts()
    clf = Classifier()
    clf.predict(["warm up"] * 16)
    tmp = Path(tempfile.mkdtemp(prefix="affectwatch-bench-"))
    print(f"worker logs in {tmp}", flush=True)
    results = []
    with LocalKafka() as kafka:
        for k in range(args.rounds):
            r = one_round(kafka, args, recs, clf, tmp, k)
            results.append(r)
            print(f"round {k + 1}: {r['e2e']:.1f} records/s counted ({r['scoring']:.1f}/s scored, {r['late']:.0f} of "
                  f"them late; {r['middle']:.1f}/s from 10% to 90% counted, first counted after "
                  f"{r['first_counted_s']:.2f} s), classifier alone "
                  f"{r['alone']:.1f} texts/s (before {r['alone_before']:.1f}, after {r['alone_after']:.1f}), "
                  f"ratio {r['ratio']:.2f}; CPU ms per record: "
                  + ", ".join(f"{name} {v:.2f}" for name, v in r["per_record_ms"].items())
                  + "; cores: " + ", ".join(f"{name} {v:.2f}" for name, v in r["cores"].items()), flush=True)
            for run in r["runs"]:
                print(f"  at {run['share']:.0%} of max ({run['rate']:.0f}/s, {run['records']} records): "
                      f"timestamp -> figures p50 {run['p50_s']:.2f}s, p99 {run['p99_s']:.2f}s "
                      f"({run['included']} seen); timestamp -> counted p50 {run['counted_p50_s']:.2f}s, "
                      f"p99 {run['counted_p99_s']:.2f}s; figures refresh mean {run['refresh_s']:.2f}s "
                      f"({run['refreshes']:.0f}); windows changelog {run['changelog']:.3f} messages a record; "
                      "cores while producing: "
                      + ", ".join(f"{name} {v:.2f}" for name, v in run["cores"].items()), flush=True)
            print("  messages written per input record: "
                  + ", ".join(f"{name} {v:.2f}" for name, v in r["messages"].items())
                  + f" (distinct windows keys written: {r['keys']:.2f} a record, the fewest messages any "
                  "write-back could send for the burst)", flush=True)
            print("  peak memory (VmHWM): " + ", ".join(f"{n} {v:.0f} MB" for n, v in r["hwm"].items())
                  + f"; /metrics scrape median {r['scrape']['ms']:.1f} ms, {r['scrape']['kb']:.0f} KB, "
                  f"{r['scrape']['series']} series", flush=True)
    print(f"\n{args.records} records (demo sample), {os.cpu_count()} cores, one worker, 4 partitions, "
          f"broker on the same cores, figures every {args.figures_interval:g} s, batch {args.batch_size}, "
          f"spectra {[Path(p).stem for p in args.spectra]}, {args.rounds} rounds")
    print("ratio end to end / classifier alone: " + _spread([r["ratio"] for r in results]))
    print("end to end records/s:                " + _spread([r["e2e"] for r in results], "{:.1f}"))
    print("  of which from 10% to 90% counted:  " + _spread([r["middle"] for r in results], "{:.1f}"))
    for name in ("broker", "worker loop", "figures process", "classifier"):
        print(f"CPU ms per record, {name + ':':12s}      " + _spread([r["per_record_ms"][name] for r in results]))
    for name in ("broker", "worker loop"):
        shares = [r["per_record_ms"][name] / r["per_record_ms"]["classifier"] for r in results]
        print(f"{name} CPU / classifier CPU:         " + _spread(shares))
    print("windows changelog a record, burst:   " + _spread([r["messages"]["windows changelog"] for r in results],
                                                              "{:.3f}")
          + "; its distinct keys a record " + _spread([r["keys"] for r in results], "{:.3f}"))
    if not args.burst_only:
        print("windows changelog a record, at 90%:  " + _spread([r["runs"][1]["changelog"] for r in results],
                                                              "{:.3f}"))
        print("p99 timestamp -> figures at 90%:     " + _spread([r["runs"][1]["p99_s"] for r in results], "{:.2f}s"))
        print("p99 timestamp -> counted at 90%:     "
              + _spread([r["runs"][1]["counted_p99_s"] for r in results], "{:.2f}s"))


if __name__ == "__main__":
    main()
