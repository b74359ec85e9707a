"""The settings groups: one model per part of the product, each adapter taking only its own.

Every field is set by the environment variable ``AFFECTWATCH_<GROUP>_<FIELD>``
(``streams.settings.model``), documented in README.md ("Settings"), and checked
here at start-up; files are checked by ``Settings.require`` for the commands that use them.
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, SecretStr, model_validator

from models import ARTIFACTS

BUNDLED = Path(__file__).resolve().parent.parent / "bundled"


class Group(BaseModel):
    model_config = ConfigDict(extra="forbid")


class ClassifierSettings(Group):
    """The classifier release and how it is run."""

    artifacts: Path = Field(
        ARTIFACTS, description="classifier release folder (graphs, tokenizer.json, meta.json): models/artifacts is "
        "affect-1, models/affect-2 is affect-2"
    )
    variant: str = Field("int8", description="shipped graph to load: int8 or fp32")
    threads: int = Field(0, ge=0, le=256, description="onnxruntime intra-op threads; 0 = one per core")
    batch_size: int = Field(
        128, ge=1, le=4096,
        description="texts per classifier micro-batch (and per envelope batch on Kafka); the batch also closes after "
        "AFFECTWATCH_CLASSIFIER_BATCH_WITHIN_SECONDS",
    )
    batch_within_seconds: float = Field(
        0.2, gt=0, le=60,
        description="longest wait to fill a classifier micro-batch (and, on Kafka, a read of input records)",
    )
    batches_ahead: int = Field(
        2, ge=0, description="micro-batches classified ahead of the one being counted or sent (0: a worker takes "
        "one at a time; the embedded runner keeps at least one ahead)"
    )
    max_tokens: int = Field(256, ge=8, le=512, description="word pieces kept per text (head + tail truncation)")
    timeout_seconds: float = Field(
        60.0, gt=0, le=3600, description="a Kafka worker's classifier process that answers nothing for this long "
        "is replaced and its batches classified again (a frozen process); one that dies is replaced at once"
    )


class LimitsSettings(Group):
    """The validation boundary: every record crosses it first, in both runners."""

    max_record_bytes: int = Field(
        2_000_000, ge=64, le=100_000_000, description="larger records are dead-lettered as record_too_large"
    )
    max_text_chars: int = Field(
        50_000, ge=1, le=10_000_000,
        description="longer texts are dead-lettered as text_too_long",
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
    max_subjects: int = Field(
        20, ge=1, le=1000,
        description="topics beyond this many in the file are refused (label cardinality)",
    )
    dead_letter_max_raw_bytes: int = Field(
        65_536, ge=0, description="bytes of a rejected record kept in its dead letter (the rest: size and SHA-256)"
    )

    @model_validator(mode="after")
    def _zoned(self) -> LimitsSettings:
        if self.min_event_time.tzinfo is None:
            raise ValueError("min_event_time needs a zone offset (for example 2000-01-01T00:00:00Z)")
        return self


class GroupsSettings(Group):
    """The human groups and how an author's group is found."""

    names: list[str] = Field(["liberal", "conservative"], description="known human groups")
    domain_table: Path | None = Field(
        None, description="domain,score CSV (Robertson 2018 format accepted); default: the shared data's"
    )
    liberal_max_score: float = Field(-0.2, description="author mean domain score at or below: liberal")
    conservative_min_score: float = Field(0.2, description="author mean domain score at or above: conservative")

    @model_validator(mode="after")
    def _usable(self) -> GroupsSettings:
        from streams.core.names import name_problem

        if not self.names:
            raise ValueError("names: at least one group is needed")
        for name in self.names:
            if problem := name_problem(name):
                raise ValueError(f"names: {name[:40]!r} is not a usable name ({problem})")
        if not self.liberal_max_score < self.conservative_min_score:
            raise ValueError("liberal_max_score must be below conservative_min_score")
        return self


class SubjectsSettings(Group):
    """Subjects of discussion (the topic key of every figure): the subjects file and its threshold."""

    file: Path = Field(BUNDLED / "topics.yaml", description="topics YAML (rules and examples)")
    min_similarity: float | None = Field(
        None, ge=-1.0, le=1.0,
        description="cosine to a topic centroid needed to assign it; unset: the classifier release's own value "
        "(its meta.json, measured by the topic benchmark)",
    )


class DikeSettings(Group):
    """DIKE: emotion spectra, behavior spectra and their guardrails."""

    spectra_file: Path = Field(BUNDLED / "spectra.yaml", description="the seven emotion spectra and their mapping")
    behavior_spectra: list[Path] = Field(
        [BUNDLED / "behavior" / "hostility.yaml"],
        description="behavior spectra (YAML) to enforce, each with the fitted Γ beside it (<name>.gamma.json); "
        "[] turns the guardrails off",
    )


class ReviewSettings(Group):
    """The adversarial reviewer (an OpenAI-compatible endpoint)."""

    endpoint: str | None = Field(
        None, description="OpenAI-compatible base URL of the reviewer (for example http://127.0.0.1:8000/v1)"
    )
    model: str = Field("gpt-4o-mini", description="model name sent to the review endpoint")
    api_key_env: str = Field("OPENAI_API_KEY", description="environment variable holding the endpoint's key")
    timeout_seconds: float = Field(60.0, gt=0, description="timeout of one chat call")
    retries: int = Field(3, ge=0, le=100, description="retries of a failing chat call (exponential backoff)")
    backoff_seconds: float = Field(1.0, ge=0, description="first backoff; doubles each retry")
    max_rounds: int = Field(13, ge=1, le=100, description="cap on debate rounds (the schedule itself gives 13)")
    max_tokens: int = Field(300, ge=1, description="max_tokens of each chat reply")
    token_budget: int = Field(40_000, ge=1, description="tokens one review may use in all; beyond: unreviewed")


class WindowsSettings(Group):
    """Event-time windows."""

    bucket_seconds: int = Field(300, gt=0, description="event-time bucket width")
    spans: dict[str, int] = Field({"1h": 3600, "24h": 86400}, description="rolling spans: name -> seconds")
    allowed_lateness_seconds: int = Field(600, ge=0, description="records older than watermark minus this are late")
    drift_reference_seconds: int = Field(
        3600, gt=0, description="a series' first span of this length is pinned as its drift reference"
    )

    @model_validator(mode="after")
    def _whole_buckets(self) -> WindowsSettings:
        if not self.spans:
            raise ValueError("at least one span is needed")
        for name, sec in {**self.spans, "drift_reference_seconds": self.drift_reference_seconds}.items():
            if sec <= 0 or sec % self.bucket_seconds:
                raise ValueError(f"{name}: {sec}s is not a whole number of {self.bucket_seconds}s buckets")
        return self


class FiguresSettings(Group):
    """The figures: distributions, significance and how often a worker refreshes them."""

    soft: bool = Field(False, description="sum probabilities instead of counting labels")
    include_none: bool = Field(True, description="texts with no label count as a 'none' category")
    min_samples: int = Field(30, ge=1, description="texts needed on each side before a figure is trusted")
    permutations: int = Field(300, ge=1, le=1_000_000, description="permutations in the significance test")
    alpha: float = Field(0.05, gt=0, lt=1, description="significance level")
    seed: int = Field(20240601, description="seed of the permutation test (same input, same p-values)")
    interval_seconds: float = Field(5.0, gt=0, description="how often a worker recomputes and exports figures")


class OutputsSettings(Group):
    """What runs publish: the run label, the output folder, the embedded runner's /metrics server."""

    run_label: str = Field("live", description="value of the `run` label on every figure metric")
    dir: Path = Field(Path("affectwatch-out"), description="where runs write figures, plots and reports")
    human_examples: bool = Field(
        False, description="the report may quote human posts as examples of a driving label (LM responses always "
        "are); off by default, since posts belong to people"
    )
    http_host: str = Field("127.0.0.1", description="address of the /metrics server")
    http_port: int = Field(
        9464, ge=-1, le=65535,
        description="port of the /metrics server; 0 picks a free one, -1 turns it off",
    )

    @model_validator(mode="after")
    def _usable_label(self) -> OutputsSettings:
        from streams.core.names import name_problem

        if problem := name_problem(self.run_label):
            raise ValueError(f"run_label: {self.run_label[:40]!r} is not a usable name ({problem})")
        return self


class KafkaSettings(Group):
    """Kafka: the connection, the topics the project creates, and the producers' tuning."""

    bootstrap: str = Field("127.0.0.1:9092", description="Kafka bootstrap servers, host:port[,host:port]")
    security_protocol: Literal["PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL"] = Field(
        "PLAINTEXT", description="how every Kafka client connects: PLAINTEXT, SSL, SASL_PLAINTEXT or SASL_SSL"
    )
    sasl_mechanism: Literal["PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512"] = Field(
        "PLAIN", description="SASL mechanism with SASL_PLAINTEXT or SASL_SSL"
    )
    sasl_username: str | None = Field(None, description="SASL user name")
    sasl_password: SecretStr | None = Field(
        None, description="SASL password (never printed; prefer the environment variable to the settings file)"
    )
    ssl_cafile: Path | None = Field(None, description="PEM file of the CA that signed the brokers' certificates")
    ssl_certfile: Path | None = Field(None, description="PEM client certificate (mutual TLS only)")
    ssl_keyfile: Path | None = Field(None, description="PEM key of that certificate (mutual TLS only)")
    ssl_check_hostname: bool = Field(True, description="check that a broker's certificate names its host")
    session_timeout_seconds: float = Field(60.0, gt=0, description="consumer group session timeout")
    heartbeat_seconds: float = Field(3.0, gt=0, description="consumer group heartbeat interval")
    max_poll_records: int = Field(
        200, ge=1, le=100_000,
        description="records a worker's consumer hands over per poll; one poll is delivered to the agents in order, "
        "so a large one holds the scores behind a backlog of inputs",
    )
    app_id: str = Field("affectwatch", description="consumer group and table namespace of the workers")
    topic_posts: str = Field("posts", description="input topic of human posts (key: author_id)")
    topic_responses: str = Field("lm-responses", description="input topic of LM responses")
    topic_scores: str = Field("affect-scores", description="scored records, keyed by topic key")
    topic_dead_letters: str = Field("dead-letters", description="rejected records with reasons")
    topic_violations: str = Field("guardrail-violations", description="LM responses outside their guardrail")
    topic_reviews: str = Field("reviews", description="the reviewer's verdicts, transcripts and rectifications")
    topic_snapshots: str = Field("drift-snapshots", description="figures published by each worker's timer")
    partitions: int = Field(4, ge=1, le=10_000, description="partitions of every topic the project creates")
    replication_factor: int = Field(
        1, ge=1, le=32, description="replication factor of those topics and of the workers' changelogs "
        "(production: 3)"
    )
    min_insync_replicas: int | None = Field(
        None, ge=1, le=32,
        description="min.insync.replicas of those topics: replicas that must have a write before it is "
        "acknowledged (every producer sends with acks=all); unset: one less than replication_factor, at least 1",
    )
    request_timeout_seconds: float = Field(
        30.0, gt=0, le=3600,
        description="how long a client waits for a broker's answer before it retries elsewhere (a broker frozen, "
        "not down, holds its connections open); the worker's producer also fails a send not delivered by then, "
        "and the worker exits for its supervisor to restart it onto its committed offsets",
    )
    input_retention_ms: int = Field(
        -1, ge=-1, description="retention.ms of the input topics (-1 keeps all: replays carry old event times)"
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

    @model_validator(mode="after")
    def _consistent(self) -> KafkaSettings:
        if self.heartbeat_seconds >= self.session_timeout_seconds:
            raise ValueError("heartbeat_seconds must be below session_timeout_seconds")
        if self.security_protocol.startswith("SASL_") and not (self.sasl_username and self.sasl_password):
            raise ValueError(f"{self.security_protocol} needs sasl_username and sasl_password")
        if (self.ssl_certfile is None) != (self.ssl_keyfile is None):
            raise ValueError("ssl_certfile and ssl_keyfile go together")
        if self.min_insync_replicas is not None and self.min_insync_replicas > self.replication_factor:
            raise ValueError(f"min_insync_replicas ({self.min_insync_replicas}) cannot exceed replication_factor "
                             f"({self.replication_factor}): no write could ever be acknowledged")
        return self

    @property
    def insync_replicas(self) -> int:
        """min.insync.replicas of the topics the project creates."""
        return self.min_insync_replicas or max(1, self.replication_factor - 1)


class WorkerSettings(Group):
    """A Kafka worker's tuning, state and web server; a backfill run's range."""

    store: str = Field("rocksdb://", description="faust table store: rocksdb:// or memory://")
    data_dir: Path = Field(Path("affectwatch-data"), description="worker state folder (RocksDB files)")
    aggregate_within_seconds: float = Field(
        0.05, gt=0, le=60,
        description="longest wait to fill an aggregation micro-batch on Kafka: a score batch's envelopes arrive "
        "together, and every record waits for this before it is counted",
    )
    aggregate_batch_size: int = Field(
        200, ge=1, le=100_000, description="score envelopes in one aggregation micro-batch at most"
    )
    windows_flush_seconds: float = Field(
        2.0, ge=0, le=60,
        description="how often a Kafka worker writes its changed windows to their table and changelog, then acks "
        "the score envelopes they hold (each changed key is written once per flush); published figures lag the "
        "counts by up to this much; 0: after every aggregation micro-batch",
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
    event_loop: Literal["uvloop", "asyncio"] = Field(
        "uvloop", description="event loop of a Kafka worker: uvloop (faust's supported fast loop) or asyncio's own"
    )
    http_host: str = Field("127.0.0.1", description="address of the worker's /ready and /metrics")
    http_port: int = Field(6066, ge=1, le=65535, description="port of the worker's /ready and /metrics")
    stall_seconds: float = Field(
        120.0, gt=0, description="a stage with work waiting and no progress for this long is stalled: /live and "
        "/ready answer 503 and affectwatch_stage_stalled_seconds says which"
    )
    stall_exit_seconds: float = Field(
        300.0, ge=0, description="a stage stalled this long makes the worker exit non-zero, for its supervisor to "
        "restart it onto its committed offsets; 0 never exits"
    )
    recovery_delay_seconds: float = Field(3.0, ge=0, description="pause before table recovery after a rebalance")
    backfill_from_ms: int | None = Field(None, description="a backfill run counts only records from this event time")
    backfill_to_ms: int | None = Field(None, description="... and before this one (epoch ms)")


class ProbeSettings(Group):
    """The probe (`affectwatch probe`): asks deployed models to answer sampled posts."""

    config: Path = Field(
        BUNDLED / "probe.yaml", description="YAML of prompt profiles and endpoints (docs/probe.md)"
    )
    sample_rate: float = Field(
        0.05, ge=0, le=1, description="share of scored posts of a known group the probe asks about (hash of the id)"
    )
    seed: int = Field(13, description="seed of that choice: the same seed picks the same posts")
    max_per_subject_group: int = Field(
        20, ge=1, description="at most this many posts per topic, group and probe window"
    )
    window_seconds: int = Field(3600, ge=1, description="event-time window of that cap")
    budget_window_seconds: int = Field(
        3600, ge=1, description="wall-clock window of each endpoint's token budget (budget_tokens in the probe file)"
    )
    state: Path = Field(
        Path("affectwatch-probe/ledger.sqlite"),
        description="the probe's ledger (SQLite): sampled posts, prompts, answers; survives a kill",
    )
    retry_seconds: float = Field(
        5.0, ge=0, description="first wait before a failed prompt is asked again (doubles per failure, to 64x)"
    )
    rounds: int = Field(3, ge=1, le=100, description="file mode: passes over failing prompts before giving up")
    answer_time: Literal["post", "wall"] = Field(
        "post", description="created_at of an answer: the post's event time (same windows) or the wall clock"
    )
    max_post_chars: int = Field(
        2000, ge=1, le=100_000, description="a post's text is cut to this many characters in a prompt"
    )
    group_id: str = Field("affectwatch-probe", description="Kafka consumer group of the probe")
    http_port: int = Field(
        9467, ge=-1, le=65535, description="the probe's /metrics port; 0 any free, -1 off"
    )


GROUPS: dict[str, type[Group]] = {
    "classifier": ClassifierSettings, "limits": LimitsSettings, "groups": GroupsSettings,
    "subjects": SubjectsSettings, "dike": DikeSettings, "review": ReviewSettings, "windows": WindowsSettings,
    "figures": FiguresSettings, "outputs": OutputsSettings, "kafka": KafkaSettings, "worker": WorkerSettings,
    "probe": ProbeSettings,
}
