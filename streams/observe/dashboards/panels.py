"""The building blocks of the dashboards: the data source, queries, panels and template variables."""


from __future__ import annotations

from grafana_foundation_sdk.builders.common import GraphThresholdsStyleConfig
from grafana_foundation_sdk.builders.dashboard import Dashboard, QueryVariable, ThresholdsConfig
from grafana_foundation_sdk.builders.prometheus import Dataquery
from grafana_foundation_sdk.builders.timeseries import Panel as Timeseries
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
