"""The figure dashboards: overview (alignment, partisan baseline, liberal tendency, entropy),
distributions (label shares per group and model) and drift (JSD over time with alert annotations)."""

from __future__ import annotations

from grafana_foundation_sdk.builders.dashboard import AnnotationQuery, Dashboard, Row
from grafana_foundation_sdk.builders.stat import Panel as Stat
from grafana_foundation_sdk.builders.table import Panel as Table

from streams.observe.dashboards.panels import (
    DATASOURCE,
    FIGURE_VARIABLES,
    LM,
    PAIR,
    TOPIC,
    base,
    query,
    sel,
    series,
    thresholds,
    variables,
)


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
