"""Grafana dashboards as code (grafana-foundation-sdk), and their upload.

Five dashboards: overview (alignment, partisan baseline, liberal tendency,
entropy), distributions (label shares per group and model), drift (JSD over
time with alert annotations), pipeline health, and the probe (asking,
failures, budget, and answers paired with their posts). Every panel filters on the
template variables run, model, steering, group, topic, dimension and window
where the metric carries them. ``affectwatch dashboards build`` writes the JSON
into ``dashboards/``; Grafana provisions it from there (deploy/grafana).
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

from grafana_foundation_sdk.builders.common import GraphThresholdsStyleConfig
from grafana_foundation_sdk.builders.dashboard import AnnotationQuery, Dashboard, QueryVariable, Row, ThresholdsConfig
from grafana_foundation_sdk.builders.prometheus import Dataquery
from grafana_foundation_sdk.builders.stat import Panel as Stat
from grafana_foundation_sdk.builders.table import Panel as Table
from grafana_foundation_sdk.builders.timeseries import Panel as Timeseries
from grafana_foundation_sdk.cog.encoder import JSONEncoder
from grafana_foundation_sdk.models.common import GraphTresholdsStyleMode
from grafana_foundation_sdk.models.dashboard import (
    DataSourceRef,
    Threshold,
    ThresholdsMode,
    VariableOption,
    VariableRefresh,
    VariableSort,
)

DATASOURCE = DataSourceRef(type_val="prometheus", uid="affectwatch-prometheus")
VARIABLES = {  # name -> the metric whose label values list it
    "run": "affectwatch_records_total",
    "model": "affectwatch_alignment",
    "steering": "affectwatch_alignment",
    "group": "affectwatch_alignment",
    "topic": "affectwatch_samples",
    "dimension": "affectwatch_samples",
    "window": "affectwatch_samples",
    "endpoint": "affectwatch_probe_requests_total",
}
FIGURE_VARIABLES = ["run", "model", "steering", "group", "topic", "dimension", "window"]
UIDS = {
    "overview": "affectwatch-overview",
    "distributions": "affectwatch-distributions",
    "drift": "affectwatch-drift",
    "health": "affectwatch-health",
    "probe": "affectwatch-probe",
}


def sel(*names: str, **fixed: str) -> str:
    """A label selector on the named template variables (and fixed values)."""
    parts = [f'{k}="{v}"' for k, v in fixed.items()] + [f'{n}=~"${n}"' for n in names]
    return "{" + ", ".join(parts) + "}"


def query(expr: str, legend: str, ref: str = "A", instant: bool = False) -> Dataquery:
    # A legend names every label that can tell two of its lines apart: the window
    # and run are added where the query keeps them (two windows or runs used to
    # share one legend name).
    kept = " by (" not in expr and " without (" not in expr
    if legend and 'window=~"$window"' in expr and "{{window}}" not in legend and kept:
        legend += " {{window}}"
    if legend and 'run=~"$run"' in expr and "{{run}}" not in legend and kept:
        legend += " ({{run}})"
    q = Dataquery().expr(expr).legend_format(legend).ref_id(ref).datasource(DATASOURCE)
    return q.instant() if instant else q.range()


def histogram_mean(family: str, selector: str, by: str = "") -> str:
    """The mean observation of a histogram family over the rate interval."""
    group = f" by ({by}) " if by else ""
    return (f"sum{group}(rate({family}_sum{selector}[$__rate_interval])) / "
            f"sum{group}(rate({family}_count{selector}[$__rate_interval]))")


AXES = {"reqps": "per second", "s": "seconds", "percentunit": "share"}


def thresholds(*steps: tuple[float | None, str]) -> ThresholdsConfig:
    return ThresholdsConfig().mode(ThresholdsMode.ABSOLUTE).steps([Threshold(value=v, color=c) for v, c in steps])


def series(title: str, *targets: Dataquery, unit: str = "none", desc: str = "", w: int = 12, h: int = 8,
           lo: float | None = None, hi: float | None = None, axis: str = "") -> Timeseries:
    p = Timeseries().title(title).description(desc).unit(unit).datasource(DATASOURCE).height(h).span(w)
    # Thresholds (the alerts' own) are drawn as lines, and every axis says what it measures.
    p = p.thresholds_style(GraphThresholdsStyleConfig().mode(GraphTresholdsStyleMode.LINE))
    p = p.axis_label(axis or AXES.get(unit, title.split(" (")[0]))
    if lo is not None:
        p = p.min(lo)
    if hi is not None:
        p = p.max(hi)
    for t in targets:
        p = p.with_target(t)
    return p


# What a dashboard opens on: the whole stream (topic "all") over a day, every
# model, group and dimension; a person narrows from there.
DEFAULTS = {"topic": "all", "window": "24h"}


def variables(board: Dashboard, names: list[str]) -> Dashboard:
    for name in names:
        metric = VARIABLES[name]
        var = QueryVariable(name)
        if name in DEFAULTS:
            var = var.current(VariableOption(selected=True, text=DEFAULTS[name], value=DEFAULTS[name]))
        board = board.with_variable(
            var
            .label(name)
            .datasource(DATASOURCE)
            .query(f"label_values({metric}, {name})")
            .refresh(VariableRefresh.ON_TIME_RANGE_CHANGED)
            .sort(VariableSort.ALPHABETICAL_ASC)
            .multi(True)
            .include_all(True)
            .all_value(".*")
        )
    return board


def base(key: str, title: str, desc: str) -> Dashboard:
    return (
        Dashboard(title)
        .uid(UIDS[key])
        .description(desc)
        .tags(["affectwatch", "generated"])
        .refresh("30s")
        .time("now-6h", "now")
        .timezone("browser")
    )


PAIR = ("run", "model", "steering", "group", "topic", "dimension", "window")
TOPIC = ("run", "topic", "dimension", "window")
LM = ("run", "model", "steering", "topic", "dimension", "window")


def overview() -> Dashboard:
    b = variables(base("overview", "affectwatch / overview",
                       "Alignment of each model with each group against the partisan baseline."), FIGURE_VARIABLES)
    return (
        # One row per model (Grafana repeats it for each selected model), so a panel
        # draws one model's steerings and groups, not every model at once.
        b.with_row(Row("Alignment of $model").repeat("model"))
        .with_panel(series(
            "Alignment with each group (dashed: partisan baseline)",
            query(f"affectwatch_alignment{sel(*PAIR)}", "{{model}} {{steering}} - {{group}} · {{topic}} {{dimension}}"),
            query(f"affectwatch_partisan_baseline{sel(*TOPIC)}", "baseline · {{topic}} {{dimension}}", "B"),
            desc="1 - JSD (base 2) between a model's and a group's label distributions. Below the dashed "
                 "partisan baseline, the model is further from the group than the groups are from each other.",
            lo=0, hi=1, w=24, h=10, axis="alignment (1 − JSD, base 2)",
        ).override_by_regexp("^baseline", [{"id": "custom.lineStyle", "value": {"fill": "dash", "dash": [10, 10]}}]))
        .with_panel(series(
            "Gap to the partisan baseline",
            query(f"affectwatch:alignment_gap_to_baseline{sel(*PAIR)}",
                  "{{model}} {{steering}} - {{group}} · {{topic}} {{dimension}}"),
            desc="alignment - baseline; below 0 is less aligned than the groups are with each other.",
            axis="alignment − baseline",
        ).thresholds(thresholds((None, "red"), (0, "green"))))
        .with_panel(series(
            "Liberal tendency",
            query(f"affectwatch_liberal_tendency{sel(*LM)}", "{{model}} {{steering}} · {{topic}} {{dimension}}"),
            desc="alignment(liberal) - alignment(conservative): above 0 leans liberal, below 0 conservative. "
                 "The alert fires beyond ±0.1.",
            lo=-1, hi=1, axis="A(liberal) − A(conservative)",
        ).thresholds(thresholds((None, "red"), (-0.1, "green"), (0.1, "red"))))
        .with_panel(series(
            "Why: the labels that drive each gap (terms of the divergence)",
            query(f"affectwatch_alignment_divergence_term{sel(*PAIR)}",
                  "{{model}} {{steering}} - {{group}} · {{label}} · {{topic}} {{dimension}} {{window}}"),
            desc="Each line is one label's term of JSD(model, group), base 2: the terms of all labels add up to "
                 "the divergence, and 1 - alignment is its square root. The three largest per pair are exported: "
                 "the labels where the model and the group differ most.",
            lo=0, w=24))
        .with_row(Row("Samples and significance"))
        .with_panel(series(
            "Entropy of each series (bits)",
            query(f"affectwatch_entropy{sel('run', 'topic', 'dimension', 'window')}",
                  "{{stream}} {{group}}{{model}} {{steering}} · {{topic}} {{dimension}}"),
            unit="none", lo=0,
        ))
        .with_panel(
            Stat().title("Texts in the window").datasource(DATASOURCE).span(6).height(8)
            .description("Texts behind the figures, per stream, for each selected topic and window (never summed "
                         "across them: topic 'all' already holds every topic).")
            # by topic and window: summing "all" with each topic, or 1h with 24h, counted texts twice or more
            .with_target(query("sum by (stream, topic, window, run) (affectwatch_samples"
                               + sel("run", "topic", "window", dimension="emotion") + ")",
                               "{{stream}} · {{topic}} {{window}} ({{run}})", instant=True))
        )
        .with_panel(
            Table().title("95% intervals: alignment, baseline, tendency (bootstrap)").datasource(DATASOURCE)
            .span(12).height(8)
            .with_target(query(f"affectwatch_alignment_interval{sel(*PAIR)}", "", instant=True).format("table"))
            .with_target(query(f"affectwatch_partisan_baseline_interval{sel(*TOPIC)}", "", "B", instant=True)
                         .format("table"))
            .with_target(query(f"affectwatch_liberal_tendency_interval{sel(*LM)}", "", "C", instant=True)
                         .format("table"))
        )
        .with_panel(
            Table().title("Figures with too few texts (not tested, not alerted on)").datasource(DATASOURCE)
            .span(6).height(8)
            .description("Alignment figures where the model or the group has fewer texts than min_samples: they "
                         "carry no interval, no p-value and no alert. Read them as hints, not findings.")
            .with_target(query(f"affectwatch_alignment{sel(*PAIR)} unless on (run, model, steering, group, topic, "
                               f"dimension, window) affectwatch_alignment_interval{sel(*PAIR)}", "", instant=True)
                         .format("table"))
        )
        .with_panel(
            Table().title("Below-baseline p-values (bootstrap)").datasource(DATASOURCE).span(6).height(8)
            .with_target(query(f"affectwatch_alignment_below_baseline_p_value{sel(*PAIR)}", "", instant=True)
                         .format("table"))
        )
        .with_row(Row("Guardrails (DIKE)"))
        .with_panel(series(
            "Guardrail violations per second",
            query("sum by (model, steering, spectrum) (rate(affectwatch_guardrail_violations_total"
                  + sel("run", "model", "steering") + "[$__rate_interval]))", "{{model}} {{steering}} · {{spectrum}}"),
            desc="LM responses that Γ places outside their behavior spectrum's guardrail.",
            unit="reqps", lo=0, w=8,
        ))
        .with_panel(series(
            "Behavior level shares (last hour)",
            query("affectwatch:behavior_level_share:1h" + sel("run", "model", "steering"),
                  "{{model}} {{steering}} · {{spectrum}} {{level}}"),
            unit="percentunit", lo=0, hi=1, w=8,
        ))
        .with_panel(series(
            "Emotion spectra (mean intensity)",
            query("affectwatch_emotion_spectrum_intensity" + sel("run", "topic", "window"),
                  "{{stream}} {{group}}{{model}} {{steering}} · {{spectrum}} · {{topic}}"),
            desc="DIKE's seven spectra, -1 (terror, grief, distrust, reckless, rage, loathing, distraction) "
                 "to +1 (heroism, ecstasy, admiration, vigilance, tranquility, enthusiasm, amazement).",
            lo=-1, hi=1, w=8,
        ))
    )


def distributions() -> Dashboard:
    b = variables(base("distributions", "affectwatch / distributions", "Label shares of each group and model."),
                  FIGURE_VARIABLES)
    return (
        b.with_row(Row("Human groups"))
        .with_panel(series(
            "Label shares of each group",
            query("affectwatch_distribution_share"
                  + sel("run", "group", "topic", "dimension", "window", stream="human"),
                  "{{group}} {{label}} · {{topic}} {{dimension}}"),
            unit="percentunit", lo=0, hi=1, w=24,
        ))
        .with_row(Row("Models"))
        .with_panel(series(
            "Label shares of each model and steering",
            query("affectwatch_distribution_share"
                  + sel("run", "model", "steering", "topic", "dimension", "window", stream="lm"),
                  "{{model}} {{steering}} {{label}} · {{topic}} {{dimension}}"),
            unit="percentunit", lo=0, hi=1, w=24,
        ))
        .with_panel(series(
            "Texts behind each series",
            query(f"affectwatch_samples{sel('run', 'topic', 'dimension', 'window')}",
                  "{{stream}} {{group}}{{model}} {{steering}} · {{topic}} {{dimension}}"),
            lo=0, w=24,
        ))
    )


def drift() -> Dashboard:
    b = variables(base("drift", "affectwatch / drift", "Each series against its pinned reference window."),
                  ["run", "topic", "dimension", "window"])
    b = b.annotation(
        AnnotationQuery().name("affectwatch alerts").datasource(DATASOURCE).enable(True).icon_color("red")
        .expr('ALERTS{alertname=~"Affectwatch.*", alertstate="firing"}')
    )
    return (
        b.with_panel(series(
            "Drift: JSD from the reference",
            query(f"affectwatch_drift_jsd{sel('run', 'topic', 'dimension', 'window')}",
                  "{{stream}} {{group}}{{model}} {{steering}} · {{topic}} {{dimension}}"),
            desc="Jensen-Shannon divergence (base 2) between the window and the series' reference. "
                 "The alert needs > 0.1 and a permutation p-value < 0.05.",
            lo=0, hi=1, w=24, h=10,
        ).thresholds(thresholds((None, "green"), (0.1, "red"))))
        .with_panel(series(
            "Drift with its 95% interval (bootstrap)",
            query(f"affectwatch_drift_jsd_interval{sel('run', 'topic', 'dimension', 'window')}",
                  "{{bound}} · {{stream}} {{group}}{{model}} {{steering}} · {{topic}} {{dimension}}"),
            desc="Lower and upper bounds of each drift figure's interval: a lower bound above 0.1 is drift "
                 "beyond doubt.", lo=0, hi=1, w=24).thresholds(thresholds((None, "green"), (0.1, "red"))))
        .with_panel(series(
            "Drift p-value (permutation)",
            query(f"affectwatch_drift_p_value{sel('run', 'topic', 'dimension', 'window')}",
                  "{{stream}} {{group}}{{model}} {{steering}} · {{topic}} {{dimension}}"),
            lo=0, hi=1, w=24,
        ).thresholds(thresholds((None, "red"), (0.05, "green"))))
    )


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


BUILDERS = {"overview": overview, "distributions": distributions, "drift": drift, "health": health,
            "probe": probe}


def build_all() -> dict[str, dict[str, Any]]:
    """name -> dashboard JSON (as a dict)."""
    enc = JSONEncoder(sort_keys=True, indent=2)
    return {name: json.loads(enc.encode(make().build())) for name, make in BUILDERS.items()}


def write_all(out_dir: Path) -> list[Path]:
    out_dir.mkdir(parents=True, exist_ok=True)
    paths = []
    for name, board in build_all().items():
        path = out_dir / f"{name}.json"
        path.write_text(json.dumps(board, indent=2, sort_keys=True) + "\n")
        paths.append(path)
    return paths


def queries(board: dict[str, Any]) -> list[str]:
    """Every PromQL expression of a dashboard: panel targets and annotations."""
    out = []
    for panel in board.get("panels", []):
        for sub in [panel, *panel.get("panels", [])]:
            out += [t["expr"] for t in sub.get("targets", []) if t.get("expr")]
    out += [a["expr"] for a in board.get("annotations", {}).get("list", []) if a.get("expr")]
    return out


def concrete(expr: str, rate_interval: str = "1m", values: dict[str, str] | None = None) -> str:
    """A dashboard expression as Grafana sends it: each variable at ``values``
    (for example ``DEFAULTS``, what a dashboard opens on), else on All."""
    expr = expr.replace("$__rate_interval", rate_interval)
    return re.sub(r"\$(\w+)", lambda m: (values or {}).get(m.group(1), "") or ".*", expr)


def push(boards: dict[str, dict[str, Any]], url: str, token: str | None, folder_uid: str | None = None) -> list[str]:
    """Upload dashboards with grafana-client; returns their URLs."""
    from urllib.parse import urlsplit

    from grafana_client import GrafanaApi

    parts = urlsplit(url)
    api = GrafanaApi(auth=token, host=parts.hostname or "localhost", port=parts.port,
                     protocol=parts.scheme or "http", url_path_prefix=parts.path.strip("/"))
    out = []
    for board in boards.values():
        res = api.dashboard.update_dashboard({"dashboard": board, "overwrite": True,
                                              **({"folderUid": folder_uid} if folder_uid else {})})
        out.append(str(res.get("url", board["uid"])))
    return out
