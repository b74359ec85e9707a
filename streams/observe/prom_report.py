"""``affectwatch report``: alignment and drift over a time range, pulled from
Prometheus's HTTP API, as PNG charts and one self-contained HTML file for
people without Grafana at hand."""

from __future__ import annotations

import base64
import datetime as dt
import html
import json
import urllib.parse
import urllib.request
from dataclasses import dataclass
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.dates as mdates
import matplotlib.pyplot as plt

from streams.observe.report import STEER_COLORS, png_bytes
from streams.safe_files import output_dir, redact_url, write_bytes, write_text


class PrometheusError(RuntimeError):
    pass


@dataclass
class Curve:
    labels: dict[str, str]
    times: list[dt.datetime]
    values: list[float]


def query_range(url: str, expr: str, start: float, end: float, step: float, timeout: float = 30) -> list[Curve]:
    q = urllib.parse.urlencode({"query": expr, "start": start, "end": end, "step": step})
    try:
        with urllib.request.urlopen(f"{url.rstrip('/')}/api/v1/query_range?{q}", timeout=timeout) as r:
            body = json.loads(r.read())
    except OSError as exc:  # connection refused, timeout, HTTP error: say where
        raise PrometheusError(f"cannot query {url}: {exc}") from exc
    if body.get("status") != "success":
        raise PrometheusError(f"{url} refused {expr!r}: {body.get('error')}")
    return [
        Curve(m["metric"], [dt.datetime.fromtimestamp(float(t), dt.UTC) for t, _ in m["values"]],
              [float(v) for _, v in m["values"]])
        for m in body["data"]["result"]
    ]


def _selector(window: str, topic: str | None, model: str | None) -> str:
    parts = [f'window="{window}"']
    if topic:
        parts.append(f'topic="{topic}"')
    if model:
        parts.append(f'model="{model}"')
    return "{" + ",".join(parts) + "}"


def _axes(title: str, ylabel: str):
    fig, ax = plt.subplots(figsize=(10, 4.2))
    ax.set_title(title, loc="left", fontsize=11)
    ax.set_ylabel(ylabel)
    ax.grid(alpha=0.3)
    ax.xaxis.set_major_formatter(mdates.DateFormatter("%m-%d %H:%M"))
    return fig, ax


def plot_alignment(curves: list[Curve], baseline: list[Curve], title: str) -> bytes:
    fig, ax = _axes(title, "alignment = 1 − JSD")
    for c in sorted(curves, key=lambda c: sorted(c.labels.items())):
        lab = c.labels
        style = "-" if lab.get("group") == "liberal" else "--"
        ax.plot(c.times, c.values, style, color=STEER_COLORS.get(lab.get("steering", ""), None),
                label=f"{lab.get('model')} {lab.get('steering')} ↔ {lab.get('group')} · {lab.get('topic')} "
                      f"{lab.get('dimension')}")
    for b in baseline:
        ax.plot(b.times, b.values, ":", color="black", linewidth=2,
                label=f"partisan baseline · {b.labels.get('topic')} {b.labels.get('dimension')}")
    ax.set_ylim(0, 1.02)
    ax.legend(fontsize=7, loc="lower left", ncol=2)
    return png_bytes(fig)


def plot_drift(curves: list[Curve], title: str) -> bytes:
    fig, ax = _axes(title, "JSD from reference")
    for c in sorted(curves, key=lambda c: sorted(c.labels.items())):
        lab = c.labels
        who = lab.get("group") or f"{lab.get('model')} {lab.get('steering')}"
        ax.plot(c.times, c.values, label=f"{lab.get('stream')} {who} · {lab.get('topic')} {lab.get('dimension')}")
    ax.axhline(0.1, color="#c53030", linewidth=1, linestyle="--", label="alert threshold 0.1")
    ax.set_ylim(0, None)
    ax.legend(fontsize=7, loc="upper left", ncol=2)
    return png_bytes(fig)


def build_report(url: str, start: float, end: float, out_dir: Path, window: str = "24h", topic: str | None = "all",
                 model: str | None = None, step: float | None = None) -> dict[str, Path]:
    """Writes alignment.png, drift.png and report.html; returns their paths."""
    if end <= start:
        raise ValueError("the time range is empty: --to must be after --from")
    step = step or max(1.0, (end - start) / 400)
    sel = _selector(window, topic, model)
    alignment = query_range(url, f"affectwatch_alignment{sel}", start, end, step)
    base_sel = _selector(window, topic, None)
    baseline = query_range(url, f"affectwatch_partisan_baseline{base_sel}", start, end, step)
    drift = query_range(url, f"affectwatch_drift_jsd{sel}", start, end, step)
    if not alignment and not drift:
        raise PrometheusError(f"no affectwatch_alignment or affectwatch_drift_jsd {sel} in {url} "
                              "between those times")
    output_dir(out_dir)
    span = (f"{dt.datetime.fromtimestamp(start, dt.UTC):%Y-%m-%d %H:%M} – "
            f"{dt.datetime.fromtimestamp(end, dt.UTC):%Y-%m-%d %H:%M} UTC")
    pngs = {
        "alignment": plot_alignment(alignment, baseline, f"Alignment with each group, window {window} ({span})"),
        "drift": plot_drift(drift, f"Drift from the reference, window {window} ({span})"),
    }
    paths = {}
    for name, data in pngs.items():
        paths[name] = out_dir / f"{name}.png"
        write_bytes(paths[name], data)
    low = sorted(((min(c.values), c.labels) for c in alignment if c.values), key=lambda x: x[0])[:10]
    rows = "".join(
        f"<tr><td>{html.escape(lab.get('model', ''))}</td><td>{html.escape(lab.get('steering', ''))}</td>"
        f"<td>{html.escape(lab.get('group', ''))}</td><td>{html.escape(lab.get('topic', ''))}</td>"
        f"<td>{html.escape(lab.get('dimension', ''))}</td><td>{v:.3f}</td></tr>"
        for v, lab in low
    )
    imgs = "".join(
        f'<img alt="{name}" src="data:image/png;base64,{base64.b64encode(data).decode()}">'
        for name, data in pngs.items()
    )
    paths["html"] = out_dir / "report.html"
    write_text(paths["html"], f"""<!doctype html><meta charset="utf-8"><title>affectwatch report</title>
<style>body{{font:14px system-ui,sans-serif;max-width:1100px;margin:2em auto;color:#1a202c}}
img{{max-width:100%;margin:1em 0}}table{{border-collapse:collapse}}
td,th{{padding:.2em .6em;border-bottom:1px solid #e2e8f0}}</style>
<h1>affectwatch: alignment and drift</h1>
<p>From <code>{html.escape(redact_url(url))}</code>, {html.escape(span)}, window <b>{html.escape(window)}</b>,
topic <b>{html.escape(topic or 'every topic')}</b>{', model <b>' + html.escape(model) + '</b>' if model else ''}.
Alignment is 1 − Jensen-Shannon divergence (base 2) between a model's and a group's label distributions;
the dotted line is the partisan baseline (liberal against conservative). Drift is the JSD of a series from its
pinned reference window.</p>
{imgs}
<h2>Lowest alignment in the range</h2>
<table><tr><th>model</th><th>steering</th><th>group</th><th>topic</th><th>dimension</th><th>min</th></tr>{rows}</table>
""")
    return paths
