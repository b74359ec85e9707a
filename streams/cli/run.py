"""Embedded commands: ``score``, ``run`` and ``demo`` (no broker)."""

from __future__ import annotations

import json
import signal
import time
from pathlib import Path

import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn
from rich.table import Table

from models.labels import EMOTIONS, MORALS
from streams.cli.shell import SCORING, _settings, app, console, err
from streams.safe_files import output_dir
from streams.settings import BUNDLED, Settings


@app.command()
def score(
    texts: list[str] = typer.Argument(None, help="texts to score"),
    file: Path | None = typer.Option(None, "--file", "-f", help="JSONL with a 'text' field, or plain lines"),
    as_json: bool = typer.Option(False, "--json", help="one JSON object a line"),
    variant: str = typer.Option("int8", help="int8 or fp32"),
) -> None:
    """Print the labels and probabilities of texts."""
    from models.classifier import Classifier, InvalidText

    items: list[object] = list(texts or [])
    if file:
        for n, line in enumerate(file.read_text(encoding="utf-8", errors="surrogateescape").splitlines(), 1):
            if not line.strip():
                continue
            try:
                obj = json.loads(line)
                items.append(obj["text"] if isinstance(obj, dict) else obj)
            except (json.JSONDecodeError, KeyError):
                if file.suffix == ".jsonl":
                    err.print(f"[yellow]line {n}: not a JSON object with 'text'; scored as plain text[/yellow]")
                items.append(line)
    if not items:
        err.print("nothing to score: give texts or --file")
        raise typer.Exit(2)
    # An empty text has no affect to measure: a score of it would be the model's bias, not a reading.
    if blank := [i for i, t in enumerate(items, 1) if isinstance(t, str) and not t.strip()]:
        err.print(f"[red]text {', '.join(map(str, blank))} is empty or white space only: nothing to score[/red]")
        raise typer.Exit(2)
    clf = Classifier(variant=variant, artifacts=_settings(("classifier",)).classifier.artifacts)
    try:
        scores = clf.score(items)
    except InvalidText as exc:
        err.print(f"[red]{exc}[/red]")
        raise typer.Exit(2) from exc
    for text, s in zip(items, scores, strict=True):
        labels = clf.labels(s)
        if as_json:
            print(
                json.dumps(
                    {
                        "text": text,
                        "labels": labels,
                        "model_version": clf.version,
                        "truncated": s.truncated,
                        "emotion": {k: round(float(v), 4) for k, v in zip(EMOTIONS, s.emotion, strict=True)},
                        "moral": {k: round(float(v), 4) for k, v in zip(MORALS, s.moral, strict=True)},
                    },
                    ensure_ascii=False,
                )
            )
            continue
        t = Table(title=str(text)[:100], title_justify="left")
        t.add_column("label")
        t.add_column("probability", justify="right")
        t.add_column("predicted")
        for dim, names, probs in (("emotion", EMOTIONS, s.emotion), ("moral", MORALS, s.moral)):
            for name, p in sorted(zip(names, probs, strict=True), key=lambda x: -x[1]):
                t.add_row(f"{dim}:{name}", f"{p:.3f}", "✔" if name in labels[dim] else "")
        console.print(t)
    if not as_json:
        console.print(f"[dim]{clf.version}[/dim]")


def _run_files(
    settings: Settings, posts: Path | None, responses: list[Path], out: Path, title: str, keep_scores: bool
) -> int | None:
    from streams.embedded import EmbeddedRunner, read_inputs, write_outputs
    from streams.observe.report import print_report, write_report
    from streams.wiring import build_core

    for path in (posts, *responses):
        if path is not None and not path.is_file():
            err.print(f"[red]no such file: {path}[/red]")
            raise typer.Exit(2)
    try:
        output_dir(out)  # before the work: a bad --out must not cost a finished run
    except OSError as exc:
        err.print(f"[red]cannot write to {out}: {exc}[/red]")
        raise typer.Exit(2) from exc
    started = time.perf_counter()
    core = build_core(settings)
    port = None
    if settings.outputs.http_port >= 0:
        host = settings.outputs.http_host
        try:
            port = core.metrics.serve(host, settings.outputs.http_port)
        except OSError as exc:
            if "http_port" in settings.outputs.model_fields_set:  # asked for: a scrape target waits there
                err.print(f"[red]cannot serve /metrics on {host}:{settings.outputs.http_port}: {exc.strerror or exc}. "
                          "Choose another --metrics-port (0: any free port, -1: off).[/red]", soft_wrap=True)
                raise typer.Exit(2) from exc
            port = core.metrics.serve(host, 0)
            err.print(f"[yellow]the default metrics port {settings.outputs.http_port} is in use: serving at "
                      f"{host}:{port} instead[/yellow]", soft_wrap=True)
        console.print(f"serving metrics at http://{host}:{port}/metrics")
    inputs = read_inputs(posts, responses)
    runner = EmbeddedRunner(core.scorer, core.aggregator, core.metrics, keep_scores=keep_scores)
    with Progress(
        TextColumn("scoring"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeRemainingColumn(),
        console=console,
    ) as bar:
        task = bar.add_task("scoring", total=len(inputs))
        result = runner.run(inputs, progress=lambda done, total: bar.update(task, completed=done, total=total))
    try:
        paths = write_outputs(result, out, settings.limits.dead_letter_max_raw_bytes)
    except OSError as exc:
        err.print(f"[red]the run finished ({result.records} records) but its outputs could not be written: {exc}[/red]")
        raise typer.Exit(1) from exc
    try:
        print_report(result.figures, console)
    except Exception as exc:  # the figures are written already; say why the table is missing
        err.print(f"[yellow]the summary table could not be printed ({type(exc).__name__}: {exc}); "
                  f"the figures are in {paths['figures']}[/yellow]")
    rate = result.scored / result.seconds if result.seconds else 0.0
    meta = {
        "records": str(result.records),
        "scored": str(result.scored),
        "dead letters": str(len(result.dead_letters)),
        "late": str(result.late),
        "guardrail violations": str(len(result.violations)),
        "records/s": f"{rate:.0f}",
        "classifier": core.classifier.version,
    }
    try:
        paths.update(write_report(result.figures, out, title, meta, result.pairing.to_dict(), result.unassigned,
                                  {k: list(v) for k, v in result.examples.items()}))
    except Exception as exc:  # what was finished stays written; the report is the only loss
        err.print(f"[yellow]the report could not be drawn ({type(exc).__name__}: {exc}); the figures, "
                  f"scores and dead letters are written[/yellow]")
    reasons = ", ".join(f"{k} {v}" for k, v in result.dead_letter_reasons().items())
    console.print(
        f"{result.records} records: {result.scored} scored, {len(result.dead_letters)} dead letters"
        f"{f' ({reasons})' if reasons else ''}, {result.late} late, {len(result.violations)} guardrail "
        f"violations; {rate:.0f} records/s; "
        f"{time.perf_counter() - started:.1f}s in all"
    )
    for name, path in sorted(paths.items()):
        console.print(f"  {name}: {path}")
    if result.unassigned.get("no_domain_table"):
        err.print(f"[yellow]{result.unassigned['no_domain_table']} posts have links but no domain table is set "
                  "(AFFECTWATCH_GROUPS_DOMAIN_TABLE), so they have no group and no alignment figure uses them[/yellow]",
                  soft_wrap=True)
    if result.records and len(result.dead_letters) * 2 > result.records:
        # Finished, but most of the input was refused: a script must not take that for success.
        err.print(f"[red]{len(result.dead_letters)} of {result.records} records were dead-lettered (more than "
                  f"half): see {paths['dead_letters']}[/red]", soft_wrap=True)
        raise typer.Exit(1)
    return port


def _serve_until_stopped(settings: Settings, port: int | None) -> None:
    """A scraper (every 15 s by default) needs the final figures to stay up."""
    if port is None:
        return
    console.print(f"serving the final figures at http://{settings.outputs.http_host}:{port}/metrics; "
                  "Ctrl-C or SIGTERM stops")
    wait_for_stop()


def wait_for_stop() -> int:
    """Blocks until SIGTERM (a supervisor's stop) or SIGINT (Ctrl-C); returns the signal.
    A SIGINT that is ignored (a background job of a shell script) stays ignored."""
    stops = {signal.SIGTERM}
    if signal.getsignal(signal.SIGINT) is not signal.SIG_IGN:
        stops.add(signal.SIGINT)
    signal.pthread_sigmask(signal.SIG_BLOCK, stops)  # delivered to sigwait, not to a handler
    return signal.sigwait(stops)


@app.command()
def run(
    posts: Path | None = typer.Option(None, help="human posts, JSONL or CSV"),
    responses: list[Path] | None = typer.Option(None, help="LM responses, JSONL or CSV (may be given again)"),
    out: Path | None = typer.Option(None, help="output folder (default: settings.outputs.dir)"),
    metrics_port: int | None = typer.Option(None, help="/metrics port; 0 any free, -1 off"),
    scores: bool = typer.Option(False, help="also write affect-scores.jsonl"),
    keep_serving: bool = typer.Option(False, "--keep-serving", help="keep /metrics up after the run (Ctrl-C stops)"),
) -> None:
    """Run the embedded pipeline (no broker) over files and report the figures."""
    if posts is None and not responses:
        err.print("give --posts and/or --responses")
        raise typer.Exit(2)
    settings = _settings(SCORING, outputs__http_port=metrics_port)
    port = _run_files(settings, posts, responses or [], out or settings.outputs.dir, "affectwatch run", scores)
    if keep_serving:
        _serve_until_stopped(settings, port)


@app.command()
def demo(
    out: Path = typer.Option(Path("affectwatch-demo"), help="output folder"),
    metrics_port: int | None = typer.Option(None, help="/metrics port; 0 any free, -1 off"),
    keep_serving: bool = typer.Option(False, "--keep-serving", help="keep /metrics up after the run (Ctrl-C stops)"),
) -> None:
    """Run the bundled CC-BY sample (MFRC posts vs persona-LM statements) end to end."""
    sample = BUNDLED / "demo"
    settings = _settings(SCORING, outputs__http_port=metrics_port)
    console.print(
        "[bold]affectwatch demo[/bold]: r/Conservative vs r/politics + r/neoliberal comments (MFRC, CC-BY-4.0) "
        "against persona-LM statements (Anthropic persona evals, CC-BY-4.0) under liberal, conservative and "
        "default steering; the default steering leans conservative after three hours."
    )
    port = _run_files(settings, sample / "posts.jsonl", [sample / "responses.jsonl"], out, "affectwatch demo", False)
    console.print(f"open {out / 'report.html'} in a browser for the charts")
    if keep_serving:
        _serve_until_stopped(settings, port)

