"""Helpers for the tests against the real broker: worker processes started and
killed for real, and the figures they publish read back from Kafka."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import urllib.request
import uuid
from dataclasses import dataclass, field
from pathlib import Path

from kafka import KafkaConsumer

from streams.kafka.localkafka import free_port
from streams.kafka.security import client_kwargs, connected
from streams.settings import Settings
from tests.conftest import GUARDRAILS

ROOT = Path(__file__).resolve().parent.parent

# Test-only group and recovery settings: never the production defaults.
TEST_ENV = {
    "AFFECTWATCH_KAFKA_SESSION_TIMEOUT_SECONDS": "6",
    "AFFECTWATCH_KAFKA_HEARTBEAT_SECONDS": "1",
    "AFFECTWATCH_WORKER_RECOVERY_DELAY_SECONDS": "0",
    "AFFECTWATCH_FIGURES_INTERVAL_SECONDS": "1",
    "AFFECTWATCH_FIGURES_PERMUTATIONS": "99",
    "AFFECTWATCH_FIGURES_MIN_SAMPLES": "5",
    "AFFECTWATCH_OUTPUTS_HTTP_PORT": "-1",
    "AFFECTWATCH_CLASSIFIER_BATCH_SIZE": "16",
}


def isolated_settings(bootstrap: str, tmp: Path, **extra: object) -> Settings:
    """Settings with topics, group and state of their own (one broker, many tests)."""
    tag = uuid.uuid4().hex[:8]
    kafka = {"app_id": f"aw-{tag}", "topic_posts": f"posts-{tag}", "topic_responses": f"responses-{tag}",
             "topic_scores": f"scores-{tag}", "topic_dead_letters": f"dead-{tag}",
             "topic_snapshots": f"snap-{tag}", "topic_violations": f"violations-{tag}",
             "topic_reviews": f"reviews-{tag}"}
    return Settings(kafka__bootstrap=bootstrap, **{f"kafka__{k}": v for k, v in kafka.items()},
                    worker__data_dir=tmp / "state", figures__permutations=99, figures__min_samples=5,
                    outputs__http_port=-1, dike__behavior_spectra=GUARDRAILS, **extra)


# What a worker started by a test inherits of its settings (the rest: TEST_ENV and the defaults).
PASSED_ON = {"kafka": ("bootstrap", "app_id", "topic_posts", "topic_responses", "topic_scores", "topic_dead_letters",
                       "topic_snapshots", "topic_violations", "topic_reviews", "partitions", "producer_compression",
                       "security_protocol", "sasl_mechanism", "sasl_username", "ssl_cafile", "replication_factor",
                       "min_insync_replicas", "request_timeout_seconds"),
             "worker": ("data_dir", "store")}


def env_of(settings: Settings) -> dict[str, str]:
    env = dict(os.environ, **TEST_ENV)
    for group, names in PASSED_ON.items():
        for name in names:
            if (value := getattr(getattr(settings, group), name)) is not None:
                env[f"AFFECTWATCH_{group}_{name}".upper()] = str(value)
    env["AFFECTWATCH_DIKE_BEHAVIOR_SPECTRA"] = json.dumps([str(p) for p in settings.dike.behavior_spectra])
    if settings.kafka.sasl_password is not None:
        env["AFFECTWATCH_KAFKA_SASL_PASSWORD"] = settings.kafka.sasl_password.get_secret_value()
    return env


@dataclass
class Worker:
    settings: Settings
    log: Path
    state: Path | None = None  # each worker its own RocksDB folder, as on its own machine
    args: tuple[str, ...] = ()
    port: int = field(default_factory=free_port)
    extra_env: dict[str, str] = field(default_factory=dict)  # over TEST_ENV (benchmarks: production values)
    proc: subprocess.Popen | None = None

    def start(self) -> Worker:
        env = env_of(self.settings)
        env["AFFECTWATCH_WORKER_HTTP_PORT"] = str(self.port)
        env.update(self.extra_env)
        if self.state is not None:
            env["AFFECTWATCH_WORKER_DATA_DIR"] = str(self.state)
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "streams.cli", "worker", "--loglevel", "info", *self.args],
            cwd=ROOT, env=env, stdout=self.log.open("ab"), stderr=subprocess.STDOUT, start_new_session=True,
        )
        return self

    def get(self, path: str) -> tuple[int, str]:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{self.port}{path}", timeout=3) as r:
                return r.status, r.read().decode()
        except urllib.error.HTTPError as e:
            return e.code, e.read().decode()

    def wait_ready(self, timeout: float = 90) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            assert self.proc is not None and self.proc.poll() is None, f"worker died; see {self.log}"
            try:
                if self.get("/ready")[0] == 200:
                    return
            except OSError:
                pass
            time.sleep(0.5)
        raise TimeoutError(f"worker not ready after {timeout}s; see {self.log}")

    def stacks(self) -> str:
        """The worker's thread and asyncio task stacks (mode dumps them on
        SIGUSR1 into the log): what a stalled worker waits for."""
        if self.proc is None or self.proc.poll() is not None:
            return ""
        before = self.log.stat().st_size
        os.kill(self.proc.pid, signal.SIGUSR1)
        time.sleep(3)
        with self.log.open("rb") as fh:
            fh.seek(before)
            return fh.read().decode("utf-8", "replace")[-12000:]

    def kill(self) -> None:
        """kill -9: no shutdown, no flush, no commit."""
        if self.proc and self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait()

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                self.kill()


class Snapshots:
    """The latest figures each worker published to the snapshot topic."""

    def __init__(self, settings: Settings, topic: str | None = None) -> None:
        self.consumer = connected(KafkaConsumer, settings.kafka, auto_offset_reset="earliest",
                                  enable_auto_commit=False, group_id=None, value_deserializer=json.loads)
        self.consumer.subscribe([topic or settings.kafka.topic_snapshots])
        self.latest: dict[str, dict] = {}
        self.received_at: dict[str, float] = {}

    def poll(self) -> None:
        for records in self.consumer.poll(timeout_ms=500).values():
            for r in records:
                self.latest[r.value["worker"]] = r.value
                self.received_at[r.value["worker"]] = time.monotonic()

    def by_topic(self, alive_within: float = 5.0) -> dict[str, dict[str, list]]:
        """topic key -> figure kind -> rows, merged over the live workers."""
        now = time.monotonic()
        out: dict[str, dict[str, list]] = {}
        for wid, snap in self.latest.items():
            if now - self.received_at[wid] > alive_within:
                continue  # a worker that was killed or lost its partitions
            for kind in ("series", "alignment", "baseline", "tendency", "drift"):
                for row in snap[kind]:
                    out.setdefault(row["topic"], {}).setdefault(kind, []).append(row)
        return out

    def wait_for(self, expected: dict[str, dict[str, list]], timeout: float = 180) -> dict[str, dict[str, list]]:
        """Until the live workers' figures equal ``expected``; returns what was last seen."""
        deadline = time.monotonic() + timeout
        seen: dict[str, dict[str, list]] = {}
        while time.monotonic() < deadline:
            self.poll()
            seen = self.by_topic()
            if seen == expected:
                return seen
        return seen

    def close(self) -> None:
        self.consumer.close()


def figures_by_topic(figures: dict) -> dict[str, dict[str, list]]:
    """The embedded runner's figures in the same shape (through JSON, as on Kafka)."""
    figures = json.loads(json.dumps(figures))
    out: dict[str, dict[str, list]] = {}
    for kind in ("series", "alignment", "baseline", "tendency", "drift"):
        for row in figures[kind]:
            out.setdefault(row["topic"], {}).setdefault(kind, []).append(row)
    return out


def _rows(rows: list[dict]) -> dict[str, dict]:
    ident = ("series", "model", "steering", "group", "dimension", "window")
    return {json.dumps({k: v for k, v in r.items() if k in ident}, sort_keys=True): r for r in rows}


def figure_diff(seen: dict[str, dict[str, list]], expected: dict[str, dict[str, list]], limit: int = 12) -> str:
    """Where two sets of figures differ, row by row (a failure message that says
    which topic key, series, window and count, not a truncated dict)."""
    out = []
    for topic in sorted(set(seen) | set(expected)):
        for kind in sorted(set(seen.get(topic, {})) | set(expected.get(topic, {}))):
            a, b = (_rows(src.get(topic, {}).get(kind, [])) for src in (seen, expected))
            for key in sorted(set(a) | set(b)):
                if a.get(key) != b.get(key):
                    got, want = a.get(key) or {}, b.get(key) or {}
                    fields = sorted(k for k in set(got) | set(want) if got.get(k) != want.get(k))
                    out.append(f"{topic} {kind} {key}: " + ", ".join(
                        f"{f} {str(got.get(f))[:60]} != {str(want.get(f))[:60]}" for f in fields[:4]))
    return f"{len(out)} rows differ (seen != expected):\n" + "\n".join(out[:limit])


def counts_diff(seen: dict[str, dict[str, list]], expected: dict[str, dict[str, list]], window: str = "24h") -> str:
    """Texts per topic key and series where two sets of figures differ (where records went)."""
    def n_of(by_topic: dict) -> dict[tuple[str, str], int]:
        return {(t, r["series"]): r["n"] for t, kinds in by_topic.items() for r in kinds.get("series", [])
                if r["window"] == window and r["dimension"] == "emotion"}
    a, b = n_of(seen), n_of(expected)
    rows = [f"{t} {s}: {a.get((t, s))} != {b.get((t, s))}" for t, s in sorted(set(a) | set(b))
            if a.get((t, s)) != b.get((t, s))]
    return f"texts per topic key and series in {window} (seen != expected):\n" + "\n".join(rows)


def total_n(by_topic: dict[str, dict[str, list]], window: str = "24h") -> int:
    return sum(r["n"] for r in by_topic.get("all", {}).get("series", [])
               if r["window"] == window and r["dimension"] == "emotion")


def read_topic(settings: Settings, topic: str, timeout_ms: int = 3000) -> list:
    c = KafkaConsumer(topic, bootstrap_servers=settings.kafka.bootstrap, auto_offset_reset="earliest",
                      enable_auto_commit=False, group_id=None, consumer_timeout_ms=timeout_ms,
                      **client_kwargs(settings.kafka))
    try:
        return list(c)
    finally:
        c.close()
