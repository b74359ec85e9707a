"""Kafka commands: ``topics create``, ``worker`` and ``replay``."""

from __future__ import annotations

from pathlib import Path

import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

from streams.cli.shell import SCORING, _require_kafka, _settings, app, console, err, topics_app


@topics_app.command("create")
def topics_create(
    bootstrap: str | None = typer.Option(None, help="Kafka bootstrap servers"),
    partitions: int | None = typer.Option(None, help="partitions per topic"),
    replication_factor: int | None = typer.Option(None, help="replicas of each partition (production: 3)"),
    min_insync_replicas: int | None = typer.Option(
        None, help="replicas that must hold a write before it is acknowledged (default: one less than the "
        "replication factor, at least 1)"),
) -> None:
    """Create the project's topics (inputs, scores, dead letters, violations, reviews, snapshots).

    A topic that exists is left as it is; one whose replication factor differs from the
    settings' is named, as Kafka cannot change it in place (kafka-reassign-partitions can)."""
    from streams.kafka.io import create_topics

    settings = _settings(("kafka",), kafka__bootstrap=bootstrap, kafka__partitions=partitions,
                         kafka__replication_factor=replication_factor, kafka__min_insync_replicas=min_insync_replicas)
    _require_kafka(settings)
    for name, status in create_topics(settings).items():
        console.print(f"{name}: {status}")


@app.command()
def worker(
    bootstrap: str | None = typer.Option(None, help="Kafka bootstrap servers"),
    web_port: int | None = typer.Option(None, help="port of /ready and /metrics"),
    run_label: str | None = typer.Option(None, "--run-label", "--run",
                                         help="a separate run (backfill) with this label: own group, state, topics"),
    start: str | None = typer.Option(None, "--from", help="count only records from this event time"),
    end: str | None = typer.Option(None, "--to", help="... and before this one"),
    loglevel: str = typer.Option("warning"),
) -> None:
    """Run a faust worker: score, aggregate, export figures.

    With --run-label NAME it is a backfill: it reads the input topics from the
    start into its own consumer group, tables, score and snapshot topics, with
    run="NAME" on its metrics, so live state is never touched.
    """
    from streams.core.records import to_epoch_ms
    from streams.kafka.worker import run_worker

    try:
        lo = to_epoch_ms(start) if start else None
        hi = to_epoch_ms(end) if end else None
    except ValueError as exc:
        err.print(f"[red]bad --from or --to: {exc}[/red]")
        raise typer.Exit(2) from exc
    settings = _settings((*SCORING, "kafka"), kafka__bootstrap=bootstrap, worker__http_port=web_port,
                         worker__backfill_from_ms=lo, worker__backfill_to_ms=hi)
    if run_label and run_label != "live":
        # A backfill never touches live state: its own consumer group, tables and label.
        k = settings.kafka
        settings = settings.changed(
            outputs__run_label=run_label, kafka__app_id=f"{k.app_id}-{run_label}",
            kafka__topic_scores=f"{k.topic_scores}-{run_label}",
            kafka__topic_snapshots=f"{k.topic_snapshots}-{run_label}",
            kafka__topic_violations=f"{k.topic_violations}-{run_label}",
            worker__data_dir=settings.worker.data_dir / run_label)
    _require_kafka(settings)
    run_worker(settings, loglevel)


@app.command()
def replay(
    posts: Path | None = typer.Option(None, help="posts file (JSONL or CSV)"),
    responses: Path | None = typer.Option(None, help="LM responses file (JSONL or CSV)"),
    speed: str = typer.Option("max", help="'max' or a multiple of real time, e.g. 60"),
    start: str | None = typer.Option(None, "--from", help="first event time to send (RFC 3339 or epoch ms)"),
    end: str | None = typer.Option(None, "--to", help="event time to stop before"),
    bootstrap: str | None = typer.Option(None, help="Kafka bootstrap servers"),
) -> None:
    """Produce records from files to the input topics with their event times."""
    from streams.core.records import to_epoch_ms
    from streams.embedded import read_inputs
    from streams.kafka.io import plan
    from streams.kafka.io import replay as produce

    settings = _settings(("kafka",), kafka__bootstrap=bootstrap)
    try:
        rate = None if speed == "max" else float(speed)
        if rate is not None and rate <= 0:
            raise ValueError
        lo = to_epoch_ms(start) if start else None
        hi = to_epoch_ms(end) if end else None
    except ValueError as exc:
        err.print(f"[red]bad --speed, --from or --to: {exc}[/red]")
        raise typer.Exit(2) from exc
    messages = plan(settings, read_inputs(posts, responses), lo, hi)
    _require_kafka(settings)
    with Progress(TextColumn("replaying"), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn(),
                  console=console) as bar:
        task = bar.add_task("replay", total=len(messages))
        n = produce(settings, messages, rate, lambda done, total: bar.update(task, completed=done))
    console.print(f"{n} records sent to {settings.kafka.bootstrap}")



@app.command()
def scores(
    bootstrap: str | None = typer.Option(None, help="Kafka bootstrap servers"),
    follow: bool = typer.Option(False, "--follow", help="keep waiting for new scores"),
    idle: float = typer.Option(5.0, help="without --follow: stop after this many seconds with nothing new"),
    limit: int = typer.Option(0, help="stop after this many score records (0: no limit)"),
    run_label: str | None = typer.Option(None, "--run-label", "--run", help="read a backfill run's scores topic"),
) -> None:
    """Print the affect-scores records one JSON line each, unpacked from the per-batch envelopes."""
    import json as _json

    from kafka import KafkaConsumer

    from streams.kafka.messages import decode_message, score_records
    from streams.kafka.security import connected

    settings = _settings(("kafka",), kafka__bootstrap=bootstrap)
    _require_kafka(settings)
    topic = settings.kafka.topic_scores + (f"-{run_label}" if run_label and run_label != "live" else "")
    consumer = connected(KafkaConsumer, settings.kafka, group_id=None, auto_offset_reset="earliest",
                         enable_auto_commit=False, consumer_timeout_ms=None if follow else int(idle * 1000))
    consumer.subscribe([topic])
    n = 0
    try:
        for message in consumer:
            try:
                records = list(score_records(decode_message(message.value)))
            except (ValueError, TypeError, AttributeError):
                err.print(f"[yellow]skipped a non-JSON message at {message.partition}/{message.offset}[/yellow]")
                continue
            for record in records:
                print(_json.dumps(record, ensure_ascii=False), flush=True)
                n += 1
                if limit and n >= limit:
                    return
    except KeyboardInterrupt:
        pass
    finally:
        consumer.close()
