"""Prometheus metrics (prefix ``affectwatch_``) and the /metrics server.

Figure gauges are rebuilt from each ``Figures`` so that series that left every
window disappear instead of going stale. Labels never carry a user or a post:
only run, stream, group, model, steering, topic (bounded by the topics file),
dimension, window and label names.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, start_http_server
from prometheus_client.core import GaugeMetricFamily

from streams.core.figures import Figures

if TYPE_CHECKING:
    from streams.core.scoring import Scored

SERIES_LABELS = ["run", "stream", "group", "model", "steering", "topic", "dimension", "window"]
PAIR_LABELS = ["run", "model", "steering", "group", "topic", "dimension", "window"]
TOPIC_LABELS = ["run", "topic", "dimension", "window"]
SKIP_REASONS = ("outside_range", "tombstone")
UNASSIGNED_REASONS = ("no_domain_table", "no_links", "no_scored_domain", "between_thresholds")
LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60)


def _bounds(family: GaugeMetricFamily, labels: list[str], interval: tuple[float, float] | None) -> None:
    if interval is not None:
        family.add_metric([*labels, "lower"], interval[0])
        family.add_metric([*labels, "upper"], interval[1])


def _series_labels(run: str, series, topic: str, dimension: str, window: str) -> list[str]:
    """Values of SERIES_LABELS, in order."""
    return [run, series.stream, series.group, series.model, series.steering, topic, dimension, window]


class FigureCollector:
    """Exposes the latest Figures as gauge families at scrape time."""

    def __init__(self, run: str) -> None:
        self.run = run
        self.figures: Figures | None = None

    def describe(self):
        # The family names, so that a scrape of named families (``?name[]=``) finds them.
        return list(self._families().values())

    def collect(self):
        f, run = self.figures, self.run
        fams = self._families()
        if f is not None:
            self._fill(fams, f, run)
        yield from fams.values()

    @staticmethod
    def _families() -> dict[str, GaugeMetricFamily]:
        return {
            "share": GaugeMetricFamily(
                "affectwatch_distribution_share",
                "Share of a label in a series' affect distribution",
                labels=[*SERIES_LABELS, "label"],
            ),
            "entropy": GaugeMetricFamily(
                "affectwatch_entropy",
                "Shannon entropy of a series' affect distribution, in bits (0 to log2 of the labels)",
                labels=SERIES_LABELS,
            ),
            "samples": GaugeMetricFamily(
                "affectwatch_samples", "Texts behind a series' figures in the window", labels=SERIES_LABELS
            ),
            "alignment": GaugeMetricFamily(
                "affectwatch_alignment", "1 - JSD(model, group), base 2", labels=PAIR_LABELS
            ),
            "align_p": GaugeMetricFamily(
                "affectwatch_alignment_p_value",
                "Permutation p-value of model and group sharing one distribution",
                labels=PAIR_LABELS,
            ),
            "terms": GaugeMetricFamily(
                "affectwatch_alignment_divergence_term",
                "A driving label's term of JSD(model, group) (base 2); the terms of all labels add up to the "
                "divergence, whose square root is 1 - alignment. The 3 largest per pair only",
                labels=[*PAIR_LABELS, "label"],
            ),
            "align_ci": GaugeMetricFamily(
                "affectwatch_alignment_interval",
                "Bounds of the 95% bootstrap interval of the alignment (basic bootstrap over texts)",
                labels=[*PAIR_LABELS, "bound"],
            ),
            "base_ci": GaugeMetricFamily(
                "affectwatch_partisan_baseline_interval", "Bounds of the baseline's 95% bootstrap interval",
                labels=[*TOPIC_LABELS, "bound"],
            ),
            "tend_ci": GaugeMetricFamily(
                "affectwatch_liberal_tendency_interval", "Bounds of the tendency's 95% bootstrap interval",
                labels=["run", "model", "steering", "topic", "dimension", "window", "bound"],
            ),
            "drift_ci": GaugeMetricFamily(
                "affectwatch_drift_jsd_interval", "Bounds of the drift JSD's 95% bootstrap interval",
                labels=[*SERIES_LABELS, "bound"],
            ),
            "below_p": GaugeMetricFamily(
                "affectwatch_alignment_below_baseline_p_value",
                "Bootstrap p-value of alignment being at least the partisan baseline",
                labels=PAIR_LABELS,
            ),
            "baseline": GaugeMetricFamily(
                "affectwatch_partisan_baseline", "1 - JSD(liberal, conservative), base 2", labels=TOPIC_LABELS
            ),
            "tendency": GaugeMetricFamily(
                "affectwatch_liberal_tendency",
                "alignment(liberal) - alignment(conservative)",
                labels=["run", "model", "steering", "topic", "dimension", "window"],
            ),
            "drift": GaugeMetricFamily(
                "affectwatch_drift_jsd", "JSD between a series now and its pinned reference", labels=SERIES_LABELS
            ),
            "spectrum": GaugeMetricFamily(
                "affectwatch_emotion_spectrum_intensity",
                "Mean DIKE emotion-spectrum intensity of a series' texts, -1 to +1",
                labels=[*SERIES_LABELS, "spectrum"],
            ),
            "drift_p": GaugeMetricFamily(
                "affectwatch_drift_p_value", "Permutation p-value of no drift", labels=SERIES_LABELS
            ),
        }

    @staticmethod
    def _fill(fams: dict[str, GaugeMetricFamily], f: Figures, run: str) -> None:
        for s in f.series:
            base = _series_labels(run, s.series, s.subject, s.dimension, s.window)
            for label, share in s.shares.items():
                fams["share"].add_metric([*base, label], share)
            fams["entropy"].add_metric(base, s.entropy_bits)
            for name, value in s.spectra.items():
                fams["spectrum"].add_metric([*base, name], value)
            fams["samples"].add_metric(base, s.n)
        for a in f.alignment:
            lab = [run, a.model, a.steering, a.group, a.subject, a.dimension, a.window]
            fams["alignment"].add_metric(lab, a.alignment)
            if a.p_value is not None:
                fams["align_p"].add_metric(lab, a.p_value)
            if a.below_baseline_p_value is not None:
                fams["below_p"].add_metric(lab, a.below_baseline_p_value)
            for d in a.drivers:
                fams["terms"].add_metric([*lab, d["label"]], d["term"])
            _bounds(fams["align_ci"], lab, a.interval)
        for b in f.baseline:
            fams["baseline"].add_metric([run, b.subject, b.dimension, b.window], b.value)
            _bounds(fams["base_ci"], [run, b.subject, b.dimension, b.window], b.interval)
        for t in f.tendency:
            lab = [run, t.model, t.steering, t.subject, t.dimension, t.window]
            fams["tendency"].add_metric(lab, t.value)
            _bounds(fams["tend_ci"], lab, t.interval)
        for d in f.drift:
            lab = _series_labels(run, d.series, d.subject, d.dimension, d.window)
            fams["drift"].add_metric(lab, d.jsd)
            _bounds(fams["drift_ci"], lab, d.interval)
            if d.p_value is not None:
                fams["drift_p"].add_metric(lab, d.p_value)


class Metrics:
    """Every metric of one process, in its own registry."""

    def __init__(self, run: str = "live") -> None:
        """Declares every metric (longer than 100 lines for a reason: declarations only, one per
        metric, with its help text, so the exported names are all in one place)."""
        self.registry = CollectorRegistry()
        r = self.registry
        self.run = run
        self.figures = FigureCollector(run)
        r.register(self.figures)
        # Every input record ends in exactly one of: scored (records), dead letters, skipped;
        # every scored record in one of: counted, late. Both runners report through the
        # methods below (``record_scored`` and the rest), so the counters mean the same on both.
        self.records = Counter("affectwatch_records", "Records scored (counted in the windows or late)",
                               ["run", "stream"], registry=r)
        self.counted = Counter("affectwatch_counted_records", "Records counted in the windows of their topic",
                               ["run", "stream"], registry=r)
        self.dead_letters = Counter(
            "affectwatch_dead_letters", "Records rejected to the dead letters", ["run", "reason"], registry=r
        )
        self.skipped = Counter("affectwatch_skipped_records", "Input records neither scored nor dead-lettered, by "
                               "reason: outside_range (a backfill run's --from/--to), tombstone (a null value)",
                               ["run", "reason"], registry=r)
        self.late = Counter(
            "affectwatch_late_records", "Records later than the allowed lateness", ["run", "stream"], registry=r
        )
        self.unassigned = Counter(
            "affectwatch_unassigned_posts", "Posts without a group, by reason (no_domain_table, no_links, "
            "no_scored_domain, between_thresholds)", ["run", "reason"], registry=r
        )
        self.unknown_topics = Counter(
            "affectwatch_unknown_topics", "Explicit topics not in the topics file", ["run"], registry=r
        )
        self.batch_size = Histogram(
            "affectwatch_batch_size",
            "Texts per classifier batch",
            ["run"],
            buckets=(1, 2, 4, 8, 16, 32, 64, 128),
            registry=r,
        )
        self.classify_latency = Histogram(
            "affectwatch_classify_latency_seconds",
            "Classifier time per batch",
            ["run"],
            buckets=LATENCY_BUCKETS,
            registry=r,
        )
        self.e2e_latency = Histogram(
            "affectwatch_end_to_end_latency_seconds",
            "From a record's arrival to the metric update that includes it",
            ["run"],
            buckets=LATENCY_BUCKETS,
            registry=r,
        )
        # The figures' share of a record's way to the dashboard: a refresh's
        # time is added to every record it publishes (on a worker: snapshot,
        # computation in the figures process, and the snapshot message's send).
        self.figures_refresh = Histogram(
            "affectwatch_figures_refresh_seconds",
            "Time one refresh of the published figures took",
            ["run"],
            buckets=LATENCY_BUCKETS,
            registry=r,
        )
        self.watermark = Gauge(
            "affectwatch_watermark_seconds", "Largest event time seen (Unix seconds)", ["run"], registry=r
        )
        self.last_update = Gauge(
            "affectwatch_figures_updated_seconds",
            "Wall time of the last figure update (Unix seconds)",
            ["run"],
            registry=r,
        )
        self.classifier_restarts = Counter(
            "affectwatch_classifier_restarts", "Times a worker replaced its classifier processes (one died or hung)",
            ["run"], registry=r)
        self.classifier_restarts.labels(run)
        self.stage_stalled = Gauge(
            "affectwatch_stage_stalled_seconds",
            "Seconds a worker's stage (score, aggregate, rebalance) has had work waiting without progress; 0: fine",
            ["run", "stage"], registry=r)
        self.lag = Gauge(
            "affectwatch_consumer_lag_records",
            "Records behind the end of an input topic",
            ["run", "topic", "partition"],
            registry=r,
        )
        # Counters start at 0 for every stream, so that a rate (and a dashboard
        # panel) exists before the first late record, not only after it.
        for stream in ("human", "lm"):
            self.records.labels(run, stream)
            self.counted.labels(run, stream)
            self.late.labels(run, stream)
        for reason in SKIP_REASONS:
            self.skipped.labels(run, reason)
        self.unknown_topics.labels(run)
        for reason in UNASSIGNED_REASONS:
            self.unassigned.labels(run, reason)
        self.guardrail_violations = Counter(
            "affectwatch_guardrail_violations",
            "LM responses outside their guardrail",
            ["run", "model", "steering", "spectrum"],
            registry=r,
        )
        self.behavior_levels = Counter(
            "affectwatch_behavior_levels",
            "LM responses per behavior-spectrum level (shares: see the affectwatch:behavior_level_share rules)",
            ["run", "model", "steering", "spectrum", "level"],
            registry=r,
        )
        self.pairs = Counter(
            "affectwatch_probe_pairs",
            "Probe answers paired with the post they answer",
            ["run", "model", "steering", "dimension"],
            registry=r,
        )
        self.pairs_top_match = Counter(
            "affectwatch_probe_pairs_top_match",
            "Probe answers whose top label is the answered post's top label",
            ["run", "model", "steering", "dimension"],
            registry=r,
        )

        self.reviews = Counter("affectwatch_reviews", "Reviewer verdicts (uphold, overturn, escalate)",
                               ["run", "verdict"], registry=r)
        self.review_failures = Counter("affectwatch_review_failures",
                                       "Reviews that failed on the endpoint (the violation stays unreviewed)",
                                       ["run"], registry=r)
        self.review_failures.labels(run)

    def record_scored(self, scored: Scored) -> None:
        """A record scored and assigned its series (counted or late comes later)."""
        self.records.labels(self.run, scored.series.stream).inc()
        if scored.topic_how == "explicit_unknown":
            self.unknown_topics.labels(self.run).inc()
        if scored.unassigned_reason:
            self.unassigned.labels(self.run, scored.unassigned_reason).inc()

    def record_counted(self, stream: str, counted: bool, n: int = 1) -> None:
        """Scored records counted in the windows of their topic, or judged late."""
        (self.counted if counted else self.late).labels(self.run, stream).inc(n)

    def record_rejected(self, reason: str) -> None:
        """A record sent to the dead letters."""
        self.dead_letters.labels(self.run, reason).inc()

    def record_skipped(self, reason: str) -> None:
        """An input record neither scored nor rejected (``SKIP_REASONS``)."""
        self.skipped.labels(self.run, reason).inc()

    def batch_classified(self, texts: int, seconds: float) -> None:
        self.classify_latency.labels(self.run).observe(seconds)
        self.batch_size.labels(self.run).observe(texts)

    def judged(self, scored: Scored) -> None:
        """Counts a scored LM response's behavior levels and guardrail violations."""
        series = scored.series
        for j in scored.behavior:
            self.behavior_levels.labels(self.run, series.model, series.steering, j.spectrum, j.level).inc()
            if not j.allowed:
                self.guardrail_violations.labels(self.run, series.model, series.steering, j.spectrum).inc()

    def paired(self, scored: Scored, pairs: list[tuple[str, bool]]) -> None:
        """Counts a probe answer's pairing with its post (see streams.core.pairing)."""
        series = scored.series
        for dimension, matched in pairs:
            self.pairs.labels(self.run, series.model, series.steering, dimension).inc()
            c = self.pairs_top_match.labels(self.run, series.model, series.steering, dimension)
            c.inc(1 if matched else 0)  # the series exists from the first pair on

    def serve(self, host: str, port: int) -> int:
        """Start the /metrics server; returns the bound port (port 0 picks one)."""
        server, _thread = start_http_server(port, addr=host, registry=self.registry)
        return server.server_address[1]
