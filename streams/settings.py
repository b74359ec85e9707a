"""The one settings object: environment variables prefixed ``AFFECTWATCH_``
plus an optional YAML file named by ``AFFECTWATCH_CONFIG`` (environment wins).

Every field is documented in README.md ("Settings"); keep the two in step
(tests/test_settings.py checks that every field is named there).
"""

from __future__ import annotations

import os
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import Field, SecretStr, model_validator
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource, SettingsConfigDict

from models import ARTIFACTS

PROJECT_ROOT = Path(__file__).resolve().parent.parent
BUNDLED = Path(__file__).resolve().parent / "bundled"


class _YamlFile(PydanticBaseSettingsSource):
    """Reads the file named by AFFECTWATCH_CONFIG, if any."""

    def get_field_value(self, field: Any, field_name: str) -> tuple[Any, str, bool]:  # pragma: no cover
        return None, field_name, False

    def __call__(self) -> dict[str, Any]:
        path = os.environ.get("AFFECTWATCH_CONFIG")
        if not path:
            return {}
        data = yaml.safe_load(Path(path).read_text()) or {}
        if not isinstance(data, dict):
            raise ValueError(f"{path}: the settings file must hold a mapping")
        return data


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="AFFECTWATCH_", extra="forbid")

    # Classifier
    classifier_artifacts: Path = Field(
        ARTIFACTS, description="classifier release folder (graphs, tokenizer.json, meta.json): models/artifacts is "
        "affect-1, models/affect-2 is affect-2"
    )
    classifier_variant: str = Field("int8", description="shipped graph to load: int8 or fp32")
    classifier_threads: int = Field(0, ge=0, le=256, description="onnxruntime intra-op threads; 0 = one per core")
    batch_size: int = Field(
        128, ge=1, le=4096,
        description="texts per classifier micro-batch (and per envelope batch on Kafka); the batch also closes after "
        "AFFECTWATCH_BATCH_WITHIN_SECONDS",
    )
    max_tokens: int = Field(256, ge=8, le=512, description="word pieces kept per text (head + tail truncation)")
    max_text_chars: int = Field(
        50_000, ge=1, le=10_000_000,
        description="longer texts are dead-lettered as text_too_long",
    )
    dead_letter_max_raw_bytes: int = Field(
        65_536, ge=0, description="bytes of a rejected record kept in its dead letter (the rest: size and SHA-256)"
    )

    # The validation boundary (every record crosses it first, in both runners)
    max_record_bytes: int = Field(
        2_000_000, ge=64, le=100_000_000, description="larger records are dead-lettered as record_too_large"
    )
    max_json_depth: int = Field(16, ge=2, le=200, description="deeper nesting of objects and lists: too_deep")
    max_json_values: int = Field(10_000, ge=16, description="more values in one record: too_many_values")
    max_list_items: int = Field(256, ge=1, description="entries of a post's urls or domains")
    min_event_time: datetime = Field(
        datetime(2000, 1, 1, tzinfo=UTC), description="earlier event times are dead-lettered (timestamp_out_of_range)"
    )
    max_future_seconds: int = Field(
        3600, ge=0, description="event times further past the wall clock are dead-lettered (timestamp_out_of_range)"
    )
    max_event_skew_seconds: int = Field(
        172_800, ge=0, description="how far one record may move a topic key's watermark ahead; beyond, a second "
        "record within this distance must confirm the jump; 0 turns the guard off"
    )

    max_lm_series: int = Field(
        200, ge=1, le=100_000,
        description="model and steering pairs a runner tracks; responses of further pairs are dead-lettered "
        "(too_many_series), so names cannot grow state and metrics without end",
    )

    # Groups
    groups: list[str] = Field(["liberal", "conservative"], description="known human groups")
    domain_table: Path | None = Field(
        None, description="domain,score CSV (Robertson 2018 format accepted); default: the shared data's"
    )
    liberal_max_score: float = Field(-0.2, description="author mean domain score at or below: liberal")
    conservative_min_score: float = Field(0.2, description="author mean domain score at or above: conservative")

    # Topics
    topics_file: Path = Field(BUNDLED / "topics.yaml", description="topics YAML (rules and examples)")
    # The shipped fine-tuned encoder's pooled embedding clusters texts by affect
    # more than by subject (off-topic sentences reach cosine 0.64 to a topic
    # centroid), so only near-paraphrases of a topic's examples pass by default.
    topic_min_similarity: float | None = Field(
        None, ge=-1.0, le=1.0,
        description="cosine to a topic centroid needed to assign it; unset: the classifier release's own value "
        "(its meta.json, measured by the topic benchmark)",
    )
    max_topics: int = Field(
        20, ge=1, le=1000,
        description="topics beyond this many in the file are refused (label cardinality)",
    )

    # DIKE: emotion spectra, behavior spectra and guardrails, the reviewer
    spectra_file: Path = Field(BUNDLED / "spectra.yaml", description="the seven emotion spectra and their mapping")
    # The hostility guardrail is on by default: its Γ (fitted on EI-oc intensities
    # and GoEmotions neutral comments) flags 3% of the demo's plain opinion
    # statements and 86% of high-anger tweets (docs/dike.md). The letter
    # spectrum still misfires on plain statements: enable it after refitting.
    behavior_spectra: list[Path] = Field(
        [BUNDLED / "behavior" / "hostility.yaml"],
        description="behavior spectra (YAML) to enforce, each with the fitted Γ beside it (<name>.gamma.json); "
        "[] turns the guardrails off",
    )
    review_endpoint: str | None = Field(
        None, description="OpenAI-compatible base URL of the reviewer (for example http://127.0.0.1:8000/v1)"
    )
    review_model: str = Field("gpt-4o-mini", description="model name sent to the review endpoint")
    review_api_key_env: str = Field("OPENAI_API_KEY", description="environment variable holding the endpoint's key")
    review_timeout_seconds: float = Field(60.0, gt=0, description="timeout of one chat call")
    review_retries: int = Field(3, ge=0, le=100, description="retries of a failing chat call (exponential backoff)")
    review_backoff_seconds: float = Field(1.0, ge=0, description="first backoff; doubles each retry")
    review_max_rounds: int = Field(13, ge=1, le=100, description="cap on debate rounds (the schedule itself gives 13)")
    review_max_tokens: int = Field(300, ge=1, description="max_tokens of each chat reply")
    review_token_budget: int = Field(40_000, ge=1, description="tokens one review may use in all; beyond: unreviewed")

    # Windows
    bucket_seconds: int = Field(300, gt=0, description="event-time bucket width")
    spans: dict[str, int] = Field({"1h": 3600, "24h": 86400}, description="rolling spans: name -> seconds")
    allowed_lateness_seconds: int = Field(600, ge=0, description="records older than watermark minus this are late")
    drift_reference_seconds: int = Field(
        3600, gt=0, description="a series' first span of this length is pinned as its drift reference"
    )

    # Divergence
    soft_distributions: bool = Field(False, description="sum probabilities instead of counting labels")
    include_none: bool = Field(True, description="texts with no label count as a 'none' category")
    min_samples: int = Field(30, ge=1, description="texts needed on each side before a figure is trusted")
    permutations: int = Field(300, ge=1, le=1_000_000, description="permutations in the significance test")
    alpha: float = Field(0.05, gt=0, lt=1, description="significance level")
    seed: int = Field(20240601, description="seed of the permutation test (same input, same p-values)")

    # Metrics and outputs
    metrics_host: str = Field("127.0.0.1", description="address of the /metrics server")
    metrics_port: int = Field(
        9464, ge=-1, le=65535,
        description="port of the /metrics server; 0 picks a free one, -1 turns it off",
    )
    run_label: str = Field("live", description="value of the `run` label on every figure metric")
    output_dir: Path = Field(Path("affectwatch-out"), description="where runs write figures, plots and reports")

    # Kafka (the worker, topics and replay commands)
    kafka_bootstrap: str = Field("127.0.0.1:9092", description="Kafka bootstrap servers, host:port[,host:port]")
    app_id: str = Field("affectwatch", description="consumer group and table namespace of the workers")
    topic_posts: str = Field("posts", description="input topic of human posts (key: author_id)")
    topic_responses: str = Field("lm-responses", description="input topic of LM responses")
    topic_scores: str = Field("affect-scores", description="scored records, keyed by topic key")
    topic_dead_letters: str = Field("dead-letters", description="rejected records with reasons")
    topic_violations: str = Field("guardrail-violations", description="LM responses outside their guardrail")
    topic_reviews: str = Field("reviews", description="the reviewer's verdicts, transcripts and rectifications")
    topic_snapshots: str = Field("drift-snapshots", description="figures published by each worker's timer")
    partitions: int = Field(4, ge=1, le=10_000, description="partitions of every topic the project creates")
    replication_factor: int = Field(1, ge=1, description="replication factor of those topics")
    input_retention_ms: int = Field(
        -1, ge=-1, description="retention.ms of the input topics (-1 keeps all: replays carry old event times)"
    )
    store: str = Field("rocksdb://", description="faust table store: rocksdb:// or memory://")
    data_dir: Path = Field(Path("affectwatch-data"), description="worker state folder (RocksDB files)")
    batch_within_seconds: float = Field(
        0.2, gt=0, le=60,
        description="longest wait to fill a classifier micro-batch (and, on Kafka, a read of input records)",
    )
    aggregate_within_seconds: float = Field(
        0.05, gt=0, le=60,
        description="longest wait to fill an aggregation micro-batch on Kafka: a score batch's envelopes arrive "
        "together, and every record waits for this before it is counted",
    )
    aggregate_batch_size: int = Field(
        200, ge=1, le=100_000,
        description="scores a worker aggregates before it waits for their table writes to reach the broker"
    )
    classify_ahead: int = Field(
        2, ge=0, description="micro-batches classified ahead of the one being counted or sent (0: a worker takes "
        "one at a time; the embedded runner keeps at least one ahead)"
    )
    figures_process: bool = Field(
        True, description="a Kafka worker computes its figures in a child process (its own GIL); false: in a thread"
    )
    classifier_nice: int = Field(
        5, ge=0, le=19, description="niceness added to a Kafka worker's classifier processes, so that its event loop, "
        "figures and the broker are served first on shared cores"
    )
    classifier_processes: int = Field(
        2, ge=0, description="child processes that run a worker's classifier (0: in the worker's own process)"
    )
    producer_batch_bytes: int = Field(
        1_048_576, ge=1024,
        description="largest batch of messages the worker's producer sends to one partition at a time"
    )
    producer_linger_seconds: float = Field(
        0.005, ge=0, le=1,
        description="how long the worker's producer waits to fill a batch (envelopes and changelogs go together)",
    )
    producer_compression: Literal["none", "gzip", "lz4", "zstd"] = Field(
        "none", description="compression of everything the worker produces (scores, changelogs, snapshots): "
        "none spends no worker CPU on it (the event loop compresses, and it is the worker's ceiling); zstd sends "
        "a third of the bytes where the network or the broker's disks cost more (lz4: aiokafka uses level 9)"
    )
    worker_event_loop: Literal["uvloop", "asyncio"] = Field(
        "uvloop", description="event loop of a Kafka worker: uvloop (faust's supported fast loop) or asyncio's own"
    )
    figures_interval_seconds: float = Field(5.0, gt=0, description="how often a worker recomputes and exports figures")
    worker_web_host: str = Field("127.0.0.1", description="address of the worker's /ready and /metrics")
    worker_web_port: int = Field(6066, ge=1, le=65535, description="port of the worker's /ready and /metrics")
    kafka_session_timeout_seconds: float = Field(60.0, gt=0, description="consumer group session timeout")
    kafka_heartbeat_seconds: float = Field(3.0, gt=0, description="consumer group heartbeat interval")
    kafka_max_poll_records: int = Field(
        200, ge=1, le=100_000,
        description="records a worker's consumer hands over per poll; one poll is delivered to the agents in order, "
        "so a large one holds the scores behind a backlog of inputs",
    )
    kafka_security_protocol: Literal["PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL"] = Field(
        "PLAINTEXT", description="how every Kafka client connects: PLAINTEXT, SSL, SASL_PLAINTEXT or SASL_SSL"
    )
    kafka_sasl_mechanism: Literal["PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512"] = Field(
        "PLAIN", description="SASL mechanism with SASL_PLAINTEXT or SASL_SSL"
    )
    kafka_sasl_username: str | None = Field(None, description="SASL user name")
    kafka_sasl_password: SecretStr | None = Field(
        None, description="SASL password (never printed; prefer the environment variable to the settings file)"
    )
    kafka_ssl_cafile: Path | None = Field(None, description="PEM file of the CA that signed the brokers' certificates")
    kafka_ssl_certfile: Path | None = Field(None, description="PEM client certificate (mutual TLS only)")
    kafka_ssl_keyfile: Path | None = Field(None, description="PEM key of that certificate (mutual TLS only)")
    kafka_ssl_check_hostname: bool = Field(True, description="check that a broker's certificate names its host")
    event_from_ms: int | None = Field(None, description="a backfill run counts only records from this event time")
    event_to_ms: int | None = Field(None, description="... and before this one (epoch ms)")
    recovery_delay_seconds: float = Field(3.0, ge=0, description="pause before table recovery after a rebalance")

    report_human_examples: bool = Field(
        False, description="the report may quote human posts as examples of a driving label (LM responses always "
        "are); off by default, since posts belong to people"
    )

    # The probe (`affectwatch probe`): asks deployed models to answer sampled posts
    probe_config: Path = Field(
        BUNDLED / "probe.yaml", description="YAML of prompt profiles and endpoints (docs/probe.md)"
    )
    probe_sample_rate: float = Field(
        0.05, ge=0, le=1, description="share of scored posts of a known group the probe asks about (hash of the id)"
    )
    probe_seed: int = Field(13, description="seed of that choice: the same seed picks the same posts")
    probe_max_per_topic_group: int = Field(
        20, ge=1, description="at most this many posts per topic, group and probe window"
    )
    probe_window_seconds: int = Field(3600, ge=1, description="event-time window of that cap")
    probe_budget_window_seconds: int = Field(
        3600, ge=1, description="wall-clock window of each endpoint's token budget (budget_tokens in the probe file)"
    )
    probe_state: Path = Field(
        Path("affectwatch-probe/ledger.sqlite"),
        description="the probe's ledger (SQLite): sampled posts, prompts, answers; survives a kill",
    )
    probe_retry_seconds: float = Field(
        5.0, ge=0, description="first wait before a failed prompt is asked again (doubles per failure, to 64x)"
    )
    probe_rounds: int = Field(3, ge=1, le=100, description="file mode: passes over failing prompts before giving up")
    probe_answer_time: Literal["post", "wall"] = Field(
        "post", description="created_at of an answer: the post's event time (same windows) or the wall clock"
    )
    probe_max_post_chars: int = Field(
        2000, ge=1, le=100_000, description="a post's text is cut to this many characters in a prompt"
    )
    probe_group_id: str = Field("affectwatch-probe", description="Kafka consumer group of the probe")
    probe_metrics_port: int = Field(
        9467, ge=-1, le=65535, description="the probe's /metrics port; 0 any free, -1 off"
    )

    @model_validator(mode="after")
    def _whole_buckets(self) -> Settings:
        if not self.spans:
            raise ValueError("at least one span is needed")
        if self.bucket_seconds <= 0:
            raise ValueError("bucket_seconds must be positive")
        for name, sec in {**self.spans, "drift_reference_seconds": self.drift_reference_seconds}.items():
            if sec <= 0 or sec % self.bucket_seconds:
                raise ValueError(f"{name}: {sec}s is not a whole number of {self.bucket_seconds}s buckets")
        if not self.liberal_max_score < self.conservative_min_score:
            raise ValueError("liberal_max_score must be below conservative_min_score")
        return self

    @model_validator(mode="after")
    def _names_files_and_security(self) -> Settings:
        from streams.core.names import name_problem

        if not self.groups:
            raise ValueError("groups: at least one group is needed")
        for what, name in [*(("groups", g) for g in self.groups), ("run_label", self.run_label)]:
            if problem := name_problem(name):
                raise ValueError(f"{what}: {name[:40]!r} is not a usable name ({problem})")
        files = [("topics_file", self.topics_file), ("spectra_file", self.spectra_file),
                 ("probe_config", self.probe_config)]
        files += [("behavior_spectra", s) for s in self.behavior_spectra]
        files += [("domain_table", self.domain_table), ("kafka_ssl_cafile", self.kafka_ssl_cafile),
                  ("kafka_ssl_certfile", self.kafka_ssl_certfile), ("kafka_ssl_keyfile", self.kafka_ssl_keyfile)]
        for what, path in files:
            if path is not None and not Path(path).is_file():
                raise ValueError(f"{what}: no such file: {path}")
        for need in ("meta.json", "tokenizer.json", f"affect-{self.classifier_variant}.onnx"):
            if not (Path(self.classifier_artifacts) / need).is_file():
                raise ValueError(f"classifier_artifacts: {self.classifier_artifacts} has no {need} "
                                 f"(classifier_variant {self.classifier_variant!r})")
        if self.min_event_time.tzinfo is None:
            raise ValueError("min_event_time needs a zone offset (for example 2000-01-01T00:00:00Z)")
        if self.kafka_heartbeat_seconds >= self.kafka_session_timeout_seconds:
            raise ValueError("kafka_heartbeat_seconds must be below kafka_session_timeout_seconds")
        if self.kafka_security_protocol.startswith("SASL_") and not (
            self.kafka_sasl_username and self.kafka_sasl_password
        ):
            raise ValueError(f"{self.kafka_security_protocol} needs kafka_sasl_username and kafka_sasl_password")
        if (self.kafka_ssl_certfile is None) != (self.kafka_ssl_keyfile is None):
            raise ValueError("kafka_ssl_certfile and kafka_ssl_keyfile go together")
        return self

    @property
    def longest_span(self) -> int:
        return max(self.spans.values())

    @property
    def resolved_domain_table(self) -> Path | None:
        if self.domain_table is not None:
            return self.domain_table
        from models.datasets import SharedDataMissing, shared_data_dir

        try:
            shared = shared_data_dir() / "ideology" / "robertson2018_bias_scores.csv"
        except SharedDataMissing:
            return None
        return shared if shared.is_file() else None

    @classmethod
    def settings_customise_sources(
        cls, settings_cls, init_settings, env_settings, dotenv_settings, file_secret_settings
    ):
        return (init_settings, env_settings, _YamlFile(settings_cls), file_secret_settings)
