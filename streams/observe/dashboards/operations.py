"""The operations dashboards: pipeline health, and the probe (asking, failures, budget,
answers paired with their posts)."""

from __future__ import annotations

from grafana_foundation_sdk.builders.dashboard import Dashboard, Row

from streams.observe.dashboards.panels import base, histogram_mean, query, sel, series, variables


def health() -> Dashboard:
    b = variables(base("health", "affectwatch / pipeline health", "Throughput, latency, lag and rejects."), ["run"])
    r = sel("run")
    return (
        b.with_panel(series("Records scored per second",
                            query(f"sum by (stream) (rate(affectwatch_records_total{r}[$__rate_interval]))",
                                  "{{stream}}"), unit="reqps", lo=0))
        .with_panel(series("Dead letters per second by reason",
                           query(f"sum by (reason) (rate(affectwatch_dead_letters_total{r}[$__rate_interval]))",
                                 "{{reason}}"), unit="reqps", lo=0))
        .with_panel(series(
            "Classifier time per batch",
            query(f"histogram_quantile(0.5, sum by (le) (rate(affectwatch_classify_latency_seconds_bucket{r}"
                  "[$__rate_interval])))", "p50"),
            query(f"histogram_quantile(0.99, sum by (le) (rate(affectwatch_classify_latency_seconds_bucket{r}"
                  "[$__rate_interval])))", "p99", "B"),
            unit="s", lo=0))
        .with_panel(series(
            "End-to-end latency (arrival to metric)",
            query(f"histogram_quantile(0.5, sum by (le) (rate(affectwatch_end_to_end_latency_seconds_bucket{r}"
                  "[$__rate_interval])))", "p50"),
            query(f"histogram_quantile(0.99, sum by (le) (rate(affectwatch_end_to_end_latency_seconds_bucket{r}"
                  "[$__rate_interval])))", "p99", "B"),
            unit="s", lo=0))
        .with_panel(series("Consumer lag (records)",
                           query(f"sum by (topic) (affectwatch_consumer_lag_records{r})", "{{topic}}"), lo=0))
        .with_panel(series("Late records per second",
                           query(f"sum by (stream) (rate(affectwatch_late_records_total{r}[$__rate_interval]))",
                                 "{{stream}}"), unit="reqps", lo=0))
        .with_panel(series("Texts per classifier batch (mean)",
                           query(histogram_mean("affectwatch_batch_size", r), "mean"), lo=0))
        .with_panel(series(
            "Figures refresh time (mean)",
            query(histogram_mean("affectwatch_figures_refresh_seconds", r, by="run"), "{{run}}"),
            desc="One refresh of the published figures: snapshot, computation and send. Every record waits "
                 "for one, on top of the figures interval.", unit="s", lo=0))
        .with_panel(series("Seconds since the last figure update",
                           query(f"time() - max by (run) (affectwatch_figures_updated_seconds{r})", "{{run}}"),
                           unit="s", lo=0))
        .with_panel(series("Scrape targets up", query('up{job="affectwatch"}', "{{instance}}"), lo=0, hi=1))
        .with_panel(series(
            "Records counted in their windows per second",
            query(f"sum by (stream) (rate(affectwatch_counted_records_total{r}[$__rate_interval]))", "{{stream}}"),
            desc="Scored records the aggregation counted; on Kafka this trails 'Records scored' by the hop "
                 "through affect-scores.", unit="reqps", lo=0))
        .with_panel(series(
            "Records set aside per second",
            query(f"sum by (reason) (rate(affectwatch_unassigned_posts_total{r}[$__rate_interval]))",
                  "no group: {{reason}}"),
            query(f"sum(rate(affectwatch_unknown_topics_total{r}[$__rate_interval]))", "topic not in the file",
                  "B"),
            query(f"sum(rate(affectwatch_skipped_records_total{r}[$__rate_interval]))",
                  "outside the backfill range", "C"),
            desc="Posts without a group (they count in no alignment figure), explicit topics the topics file "
                 "does not know (counted as 'other'), and records outside a backfill run's --from/--to.",
            unit="reqps", lo=0))
        .with_panel(series(
            "Event time behind the wall clock",
            query(f"time() - max by (run) (affectwatch_watermark_seconds{r})", "{{run}}"),
            desc="The newest event time counted. Live traffic keeps this near the lateness allowance; a replay "
                 "of old data shows its age.", unit="s", lo=0))
        .with_panel(series(
            "Reviewer failures per second",
            query(f"sum(rate(affectwatch_review_failures_total{r}[$__rate_interval]))", "failed reviews"),
            desc="Reviews the endpoint could not complete; the violation stays unreviewed and is tried again.",
            unit="reqps", lo=0))
    )


def probe() -> Dashboard:
    b = variables(base("probe", "affectwatch / probe",
                       "The probe: deployed models asked to answer sampled posts (affectwatch probe)."),
                  ["run", "endpoint"])
    e = sel("endpoint")
    pairs = sel("run")
    return (
        b.with_row(Row("Asking"))
        .with_panel(series(
            "Answers per second",
            query(f"sum by (endpoint, profile) (rate(affectwatch_probe_answers_total{e}[$__rate_interval]))",
                  "{{endpoint}} · {{profile}}"),
            desc="Valid answers produced to lm-responses (or the answers file).", unit="reqps", lo=0, w=8))
        .with_panel(series(
            "Failed requests per second by reason",
            query(f"sum by (endpoint, reason) (rate(affectwatch_probe_failures_total{e}[$__rate_interval]))",
                  "{{endpoint}} · {{reason}}"),
            desc="Every failed attempt; its prompt stays pending and is asked again with backoff. "
                 "The silence alert fires when an endpoint is asked and answers nothing for 15 minutes.",
            unit="reqps", lo=0, w=8))
        .with_panel(series(
            "Prompts pending",
            query(f"sum by (endpoint) (affectwatch_probe_pending{e})", "{{endpoint}}"),
            desc="Sampled and not yet answered (waiting, failing or held by the token budget).", lo=0, w=8))
        .with_panel(series(
            "Answer latency (asking to a valid answer, retries included)",
            query("histogram_quantile(0.5, sum by (endpoint, le) (rate(affectwatch_probe_answer_latency_seconds_bucket"
                  f"{e}[$__rate_interval])))", "p50 {{endpoint}}"),
            query("histogram_quantile(0.95, sum by (endpoint, le) (rate(affectwatch_probe_answer_latency_seconds_bucket"
                  f"{e}[$__rate_interval])))", "p95 {{endpoint}}", "B"),
            unit="s", lo=0, w=8))
        .with_panel(series(
            "Tokens per second, and prompts held back by the budget",
            query(f"sum by (endpoint) (rate(affectwatch_probe_tokens_total{e}[$__rate_interval]))",
                  "tokens {{endpoint}}"),
            query(f"sum by (endpoint) (rate(affectwatch_probe_deferred_total{e}[$__rate_interval]))",
                  "held back {{endpoint}}", "B"),
            desc="Tokens as the endpoint reports them (an estimate of 4 characters a token where it does not); "
                 "each endpoint's budget_tokens caps them per budget window, and prompts that do not fit wait "
                 "for the next window.", lo=0, w=8))
        .with_panel(series(
            "Seconds since the last answer, and answers not yet sent",
            query(f"time() - max by (endpoint) (affectwatch_probe_last_answer_timestamp_seconds{e})",
                  "since last answer {{endpoint}}"),
            query("sum(rate(affectwatch_probe_sink_failures_total[$__rate_interval]))", "send failures/s", "B"),
            desc="A rising line while prompts are pending is what the silence alert pages on. Send failures: "
                 "answers kept in the ledger because the broker or the file refused them; sent later.",
            lo=0, w=8))
        .with_panel(series(
            "Posts offered to the probe by outcome",
            query("sum by (outcome) (rate(affectwatch_probe_posts_total[$__rate_interval]))", "{{outcome}}"),
            desc="sampled, not_sampled (outside the sample rate), capped (per topic, group and window), "
                 "no_group, not_human, seen, malformed.", unit="reqps", lo=0, w=8))
        .with_row(Row("Answers against the posts they answer"))
        .with_panel(series(
            "Answer's top label = the post's top label (share, all answers so far)",
            query(f"sum by (model, steering, dimension) (affectwatch_probe_pairs_top_match_total{pairs}) "
                  f"/ sum by (model, steering, dimension) (affectwatch_probe_pairs_total{pairs})",
                  "{{model}} {{steering}} · {{dimension}}"),
            desc="Pairing: how often a probed model's answer has the same most probable emotion (or moral "
                 "foundation) as the post it answers; compare steerings of one model.",
            unit="percentunit", lo=0, hi=1, w=24))
    )
