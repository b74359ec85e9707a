"""Observation commands: ``report`` (from Prometheus), ``dashboards`` and ``alerts``."""

from __future__ import annotations

import time
from pathlib import Path

import typer

from streams.cli.shell import app, console, err


@app.command()
def report(
    prometheus: str = typer.Option("http://127.0.0.1:9090", help="Prometheus base URL"),
    start: str | None = typer.Option(None, "--from", help="start (RFC 3339 or epoch ms); default: --hours ago"),
    end: str | None = typer.Option(None, "--to", help="end (RFC 3339 or epoch ms); default: now"),
    hours: float = typer.Option(6.0, help="length of the range when --from is not given"),
    window: str = typer.Option("24h", help="which rolling window's figures"),
    topic: str = typer.Option("all", help="topic key; 'any' for every topic"),
    model: str | None = typer.Option(None, help="only this model"),
    out: Path = typer.Option(Path("affectwatch-report"), help="folder for the PNGs and report.html"),
) -> None:
    """Alignment and drift over a time range from Prometheus, as PNGs and one HTML file."""
    from streams.core.records import to_epoch_ms
    from streams.observe.prom_report import PrometheusError, build_report

    try:
        hi = to_epoch_ms(end) / 1000 if end else time.time()
        lo = to_epoch_ms(start) / 1000 if start else hi - hours * 3600
        paths = build_report(prometheus, lo, hi, out, window, None if topic == "any" else topic, model)
    except (ValueError, PrometheusError) as exc:
        err.print(f"[red]{exc}[/red]")
        raise typer.Exit(2) from exc
    for path in paths.values():
        console.print(f"wrote {path}")



dashboards_app = typer.Typer(no_args_is_help=True, rich_markup_mode=None,
                             help="Grafana dashboards, generated from code.")
app.add_typer(dashboards_app, name="dashboards")
DASHBOARDS_DIR = Path(__file__).resolve().parents[2] / "dashboards"


@dashboards_app.command("build")
def dashboards_build(out: Path = typer.Option(DASHBOARDS_DIR, help="folder for the JSON files")) -> None:
    """Write the dashboards' JSON (overview, distributions, drift, health, probe)."""
    from streams.observe.dashboards import write_all

    for path in write_all(out):
        console.print(f"wrote {path}")


@dashboards_app.command("push")
def dashboards_push(
    url: str = typer.Option("http://127.0.0.1:3000", help="Grafana base URL"),
    token_env: str = typer.Option("GRAFANA_TOKEN", help="environment variable holding a Grafana API token"),
    folder_uid: str | None = typer.Option(None, help="Grafana folder to put them in"),
) -> None:
    """Upload the dashboards to a Grafana with grafana-client (overwrites by uid)."""
    import os

    from streams.observe.dashboards import build_all, push

    token = os.environ.get(token_env)
    if not token:
        err.print(f"[red]set {token_env} to a Grafana API token (service account token)[/red]")
        raise typer.Exit(2)
    try:
        for u in push(build_all(), url, token, folder_uid):
            console.print(f"pushed {url.rstrip('/')}{u}")
    except Exception as exc:  # network or auth: say what failed, no traceback
        err.print(f"[red]push to {url} failed: {exc}[/red]")
        raise typer.Exit(1) from exc


alerts_app = typer.Typer(no_args_is_help=True, rich_markup_mode=None, help="Alert delivery helpers.")
app.add_typer(alerts_app, name="alerts")


@alerts_app.command("webhook")
def alerts_webhook(
    host: str = typer.Option("127.0.0.1", help="address to listen on"),
    port: int = typer.Option(9099, help="port to listen on"),
    out: Path | None = typer.Option(None, help="append every notification to this JSON-lines file"),
) -> None:
    """An example Alertmanager webhook receiver: prints each alert it gets."""
    from streams.observe.alert_webhook import WebhookReceiver

    receiver = WebhookReceiver(host, port, out)
    seen = 0
    console.print(f"listening on http://{host}:{receiver.port}/ (pager, tickets)")
    with receiver:
        try:
            while True:
                time.sleep(0.5)
                alerts = receiver.alerts()
                for a in alerts[seen:]:
                    labels = a.get("labels", {})
                    console.print(f"{a['path']} {a.get('status')} {labels.get('alertname')} "
                                  f"{labels.get('severity', '')} {a.get('annotations', {}).get('summary', '')}")
                seen = len(alerts)
        except KeyboardInterrupt:
            pass

