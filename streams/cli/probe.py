"""``affectwatch probe``: ask deployed models to answer sampled human posts."""

from __future__ import annotations

import json
import signal
import threading
from pathlib import Path

import typer
from rich.table import Table

from streams.cli.shell import _require_kafka, _settings, app, console, err


@app.command()
def probe(
    posts: Path | None = typer.Option(None, help="human posts (JSONL or CSV): scored here first, then sampled"),
    scores: Path | None = typer.Option(None, help="affect-scores.jsonl of a finished run (`run --scores`)"),
    out: Path | None = typer.Option(None, help="file mode: append the answers to this JSONL (for `run --responses`)"),
    kafka: bool = typer.Option(False, "--kafka", help="read scored posts from Kafka, answer to lm-responses"),
    bootstrap: str | None = typer.Option(None, help="Kafka bootstrap servers"),
    config: Path | None = typer.Option(None, help="probe YAML: profiles and endpoints (default: the bundled one)"),
    state: Path | None = typer.Option(None, help="the probe's ledger (SQLite), survives restarts"),
    rate: float | None = typer.Option(None, help="share of posts sampled (0..1)"),
    metrics_port: int | None = typer.Option(None, help="/metrics port; 0 any free, -1 off"),
    idle_exit: float | None = typer.Option(None, help="with --kafka: stop after this many idle seconds"),
) -> None:
    """Ask each configured endpoint, under each prompt profile, to answer sampled posts.

    File mode (--posts or --scores, with --out) answers once and exits: 0 when
    every sampled prompt is answered, 1 when some still fail (they stay in the
    ledger and the next run asks them again). Kafka mode (--kafka) runs until
    stopped. A prompt whose answer is stored is never asked again, across kills.
    """
    from streams.probe.ledger import Ledger
    from streams.probe.metrics import ProbeMetrics
    from streams.probe.profiles import ProbeConfigError, load
    from streams.probe.runner import Options, Probe
    from streams.probe.sinks import JsonlSink, KafkaSink

    if kafka == bool(posts or scores or out):
        err.print("give either --kafka, or --posts/--scores with --out")
        raise typer.Exit(2)
    if not kafka and (out is None or (posts is None) == (scores is None)):
        err.print("file mode needs --out and one of --posts or --scores")
        raise typer.Exit(2)
    settings = _settings(probe__config=config, probe__state=state, probe__sample_rate=rate,
                         probe__http_port=metrics_port, kafka__bootstrap=bootstrap)
    try:
        cfg = load(settings.probe.config)
        if not cfg.endpoints:
            raise ProbeConfigError(f"{settings.probe.config}: no endpoints to probe")
    except ProbeConfigError as exc:
        err.print(f"[red]{exc}[/red]")
        raise typer.Exit(2) from exc

    records: list = []
    if kafka:
        _require_kafka(settings)
    else:
        for path in (posts, scores):
            if path is not None and not path.is_file():
                err.print(f"[red]no such file: {path}[/red]")
                raise typer.Exit(2)
        records = _scored_posts(settings, posts) if posts else _read_scores(scores)  # type: ignore[arg-type]

    metrics = ProbeMetrics()
    if settings.probe.http_port >= 0:
        port = metrics.serve(settings.outputs.http_host, settings.probe.http_port)
        console.print(f"probe metrics at http://{settings.outputs.http_host}:{port}/metrics")
    ledger = Ledger(settings.probe.state)
    try:
        sink = KafkaSink(settings) if kafka else JsonlSink(out)  # type: ignore[arg-type]
    except Exception as exc:
        err.print(f"[red]cannot open the answers' destination: {type(exc).__name__}: {exc}[/red]")
        raise typer.Exit(2) from exc
    try:
        p = Probe(cfg, Options.of(settings), ledger, sink, metrics)
    except ProbeConfigError as exc:
        err.print(f"[red]{exc}[/red]")
        raise typer.Exit(2) from exc
    try:
        if kafka:
            from streams.probe.follow import follow

            stop = threading.Event()
            for sig in (signal.SIGTERM, signal.SIGINT):
                signal.signal(sig, lambda *_: stop.set())
            console.print(f"probing {', '.join(e.name for e in cfg.endpoints)} from {settings.kafka.topic_scores} "
                          f"to {settings.kafka.topic_responses}")
            follow(settings, p, stop, idle_exit_seconds=idle_exit)
            code = 0
        else:
            offered = p.offer(records)
            result = p.drain(settings.probe.rounds)
            code = _summary(p, offered, result)
    finally:
        p.close()
        sink.close()
        ledger.close()
    raise typer.Exit(code)


def _read_scores(path: Path) -> list:
    out: list = []
    for line in path.read_text(encoding="utf-8", errors="replace").splitlines():
        if line.strip():
            try:
                out.append(json.loads(line))
            except ValueError:
                out.append(None)  # counted as malformed
    return out


def _scored_posts(settings, posts: Path) -> list[dict]:
    """Score raw posts with the embedded pipeline (group and topic come from there)."""
    from streams.embedded import EmbeddedRunner, read_inputs
    from streams.wiring import build_core

    core = build_core(settings)
    result = EmbeddedRunner(core.scorer, core.aggregator, None, keep_scores=True).run(read_inputs(posts, None))
    if result.dead_letters:
        err.print(f"[yellow]{len(result.dead_letters)} posts could not be scored "
                  f"{result.dead_letter_reasons()}[/yellow]")
    return result.scores


def _summary(p, offered, result) -> int:
    counts = p.ledger.counts()
    t = Table(title="probe", title_justify="left")
    for col in ("endpoint", "profile", "answered (all runs)", "pending"):
        t.add_column(col, justify="left" if col in ("endpoint", "profile") else "right")
    rows = p.ledger.db.execute(
        "SELECT endpoint, profile, SUM(state != 'pending'), SUM(state = 'pending') FROM prompts "
        "GROUP BY endpoint, profile ORDER BY endpoint, profile").fetchall()
    for e, prof, done, pend in rows:
        t.add_row(e, prof, str(done), str(pend))
    console.print(t)
    console.print(f"posts offered: {dict(sorted(offered.items()))}; answered now: {result.answered}; "
                  f"stored in all: {counts['answered'] + counts['emitted']}")
    if result.deferred:
        console.print(f"[yellow]{result.deferred} prompts wait for the next token-budget window: run again later"
                      "[/yellow]")
    if counts["pending"] and result.failures:
        err.print(f"[red]{counts['pending']} prompts are not answered; failures by reason: "
                  f"{dict(result.failures)}. They stay in the ledger: the next run asks them again.[/red]")
        return 1
    return 0
