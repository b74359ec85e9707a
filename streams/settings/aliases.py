"""The flat names of earlier releases, each an alias of its field in a group.

``AFFECTWATCH_BATCH_SIZE`` still sets ``classifier.batch_size`` (with a
warning that names ``AFFECTWATCH_CLASSIFIER_BATCH_SIZE``), and so does the key
``batch_size`` in a settings file or a keyword of ``Settings``.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

from streams.settings.groups import GROUPS

# group -> {flat name of earlier releases: field}
_FLAT: dict[str, dict[str, str]] = {
    "classifier": {
        "classifier_artifacts": "artifacts", "classifier_variant": "variant", "classifier_threads": "threads",
        "batch_size": "batch_size", "batch_within_seconds": "batch_within_seconds", "classify_ahead": "batches_ahead",
        "max_tokens": "max_tokens",
    },
    "limits": {
        "max_record_bytes": "max_record_bytes", "max_text_chars": "max_text_chars",
        "max_json_depth": "max_json_depth", "max_json_values": "max_json_values", "max_list_items": "max_list_items",
        "min_event_time": "min_event_time", "max_future_seconds": "max_future_seconds",
        "max_event_skew_seconds": "max_event_skew_seconds", "max_lm_series": "max_lm_series",
        "max_topics": "max_subjects", "dead_letter_max_raw_bytes": "dead_letter_max_raw_bytes",
    },
    "groups": {
        "groups": "names", "domain_table": "domain_table", "liberal_max_score": "liberal_max_score",
        "conservative_min_score": "conservative_min_score",
    },
    "subjects": {
        "topics_file": "file", "topic_min_similarity": "min_similarity",
    },
    "dike": {
        "spectra_file": "spectra_file", "behavior_spectra": "behavior_spectra",
    },
    "review": {
        "review_endpoint": "endpoint", "review_model": "model", "review_api_key_env": "api_key_env",
        "review_timeout_seconds": "timeout_seconds", "review_retries": "retries",
        "review_backoff_seconds": "backoff_seconds", "review_max_rounds": "max_rounds",
        "review_max_tokens": "max_tokens", "review_token_budget": "token_budget",
    },
    "windows": {
        "bucket_seconds": "bucket_seconds", "spans": "spans", "allowed_lateness_seconds": "allowed_lateness_seconds",
        "drift_reference_seconds": "drift_reference_seconds",
    },
    "figures": {
        "soft_distributions": "soft", "include_none": "include_none", "min_samples": "min_samples",
        "permutations": "permutations", "alpha": "alpha", "seed": "seed",
        "figures_interval_seconds": "interval_seconds",
    },
    "outputs": {
        "run_label": "run_label", "output_dir": "dir", "report_human_examples": "human_examples",
        "metrics_host": "http_host", "metrics_port": "http_port",
    },
    "kafka": {
        "kafka_bootstrap": "bootstrap", "kafka_security_protocol": "security_protocol",
        "kafka_sasl_mechanism": "sasl_mechanism", "kafka_sasl_username": "sasl_username",
        "kafka_sasl_password": "sasl_password", "kafka_ssl_cafile": "ssl_cafile",
        "kafka_ssl_certfile": "ssl_certfile", "kafka_ssl_keyfile": "ssl_keyfile",
        "kafka_ssl_check_hostname": "ssl_check_hostname", "kafka_session_timeout_seconds": "session_timeout_seconds",
        "kafka_heartbeat_seconds": "heartbeat_seconds", "kafka_max_poll_records": "max_poll_records",
        "app_id": "app_id", "topic_posts": "topic_posts", "topic_responses": "topic_responses",
        "topic_scores": "topic_scores", "topic_dead_letters": "topic_dead_letters",
        "topic_violations": "topic_violations", "topic_reviews": "topic_reviews",
        "topic_snapshots": "topic_snapshots", "partitions": "partitions", "replication_factor": "replication_factor",
        "input_retention_ms": "input_retention_ms", "producer_batch_bytes": "producer_batch_bytes",
        "producer_linger_seconds": "producer_linger_seconds", "producer_compression": "producer_compression",
    },
    "worker": {
        "store": "store", "data_dir": "data_dir", "aggregate_within_seconds": "aggregate_within_seconds",
        "aggregate_batch_size": "aggregate_batch_size", "figures_process": "figures_process",
        "classifier_nice": "classifier_nice", "classifier_processes": "classifier_processes",
        "worker_event_loop": "event_loop", "worker_web_host": "http_host", "worker_web_port": "http_port",
        "recovery_delay_seconds": "recovery_delay_seconds", "event_from_ms": "backfill_from_ms",
        "event_to_ms": "backfill_to_ms",
    },
    "probe": {
        "probe_config": "config", "probe_sample_rate": "sample_rate", "probe_seed": "seed",
        "probe_max_per_topic_group": "max_per_subject_group", "probe_window_seconds": "window_seconds",
        "probe_budget_window_seconds": "budget_window_seconds", "probe_state": "state",
        "probe_retry_seconds": "retry_seconds", "probe_rounds": "rounds", "probe_answer_time": "answer_time",
        "probe_max_post_chars": "max_post_chars", "probe_group_id": "group_id", "probe_metrics_port": "http_port",
    },
}
ALIASES: dict[str, tuple[str, str]] = {
    old: (group, field) for group, names in _FLAT.items() for old, field in names.items()
}
SEPARATOR = "__"  # a keyword or file key may also name a field as group__field


def env_name(group: str, field: str) -> str:
    return f"AFFECTWATCH_{group}_{field}".upper()


log = logging.getLogger("affectwatch.settings")
_said: set[tuple[str, str]] = set()


def deprecated(old: str, group: str, field: str, where: str) -> None:
    """Says once per process that a name of earlier releases was used, and its new name."""
    new = env_name(group, field) if where == "environment" else f"{group}: {{{field}: ...}}"
    if (where, old) not in _said:
        _said.add((where, old))
        log.warning("%s: %s is a name of earlier releases and still works; its new name is %s", where, old, new)


def nested(data: Mapping[str, Any], where: str | None = None) -> dict[str, Any]:
    """``data`` with flat names of earlier releases and ``group__field`` keys moved
    into their groups (a warning for each earlier name when ``where`` is given);
    group mappings are merged, and any other key is left for validation to refuse."""
    out: dict[str, Any] = {}

    def put(group: str, field: str, value: Any) -> None:
        current = out.get(group)
        if not isinstance(current, dict):
            current = out[group] = {}
        current[field] = value

    for key, value in data.items():
        if key in GROUPS and isinstance(value, Mapping):
            for field, v in value.items():
                put(key, field, v)
        elif key in GROUPS and hasattr(value, "model_dump"):
            for field in value.model_fields_set:
                put(key, field, getattr(value, field))
        elif SEPARATOR in key and key.split(SEPARATOR, 1)[0] in GROUPS:
            put(*key.split(SEPARATOR, 1), value)
        elif key in ALIASES:
            group, field = ALIASES[key]
            if where is not None:
                deprecated(key, group, field, where)
            put(group, field, value)
        else:
            out[key] = value
    return out
