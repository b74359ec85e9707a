"""The ``affectwatch`` command: a thin shell over the core."""

from __future__ import annotations

import json
import time
from pathlib import Path

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn
from rich.table import Table

from models.labels import EMOTIONS, MORALS
from streams.settings import BUNDLED, Settings

app = typer.Typer(add_completion=False, no_args_is_help=True, help="Streaming monitor of emotional and moral affect.")
# Wide tables even when the output is a pipe or a CI log, not a terminal.
console = Console(width=None if Console().is_terminal else 160)
err = Console(stderr=True)


def _chat_client(settings: Settings):
    """The OpenAI-compatible client of the reviewer and of `dike rewrite`, from settings."""
    import os

    from streams.review.chat import ChatClient, ChatConfig

    return ChatClient(ChatConfig(settings.review_endpoint or "", settings.review_model,
                                 os.environ.get(settings.review_api_key_env), settings.review_timeout_seconds,
                                 settings.review_retries, settings.review_backoff_seconds, settings.review_max_tokens,
                                 settings.review_token_budget))


def _settings(**overrides: object) -> Settings:
    try:
        return Settings(**{k: v for k, v in overrides.items() if v is not None})
    except Exception as exc:  # a settings error is the user's to fix: say it plainly
        err.print(f"[red]invalid settings:[/red] {exc}")
        raise typer.Exit(2) from exc


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
    clf = Classifier(variant=variant)
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
    settings: Settings, posts: Path | None, responses: Path | None, out: Path, title: str, keep_scores: bool
) -> None:
    from streams.wiring import build_core
    from streams.embedded import EmbeddedRunner, read_inputs, write_outputs
    from streams.observe.report import print_report, write_report

    for path in (posts, responses):
        if path is not None and not path.is_file():
            err.print(f"[red]no such file: {path}[/red]")
            raise typer.Exit(2)
    started = time.perf_counter()
    core = build_core(settings)
    port = None
    if settings.metrics_port >= 0:
        try:
            port = core.metrics.serve(settings.metrics_host, settings.metrics_port)
        except OSError:
            port = core.metrics.serve(settings.metrics_host, 0)  # the usual port is taken: any free one
        console.print(f"serving metrics at http://{settings.metrics_host}:{port}/metrics")
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
    paths = write_outputs(result, out, settings.dead_letter_max_raw_bytes)
    print_report(result.figures, console)
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
    paths.update(write_report(result.figures, out, title, meta))
    console.print(
        f"{result.records} records: {result.scored} scored, {len(result.dead_letters)} dead letters "
        f"{result.dead_letter_reasons() or ''}, {result.late} late, {len(result.violations)} guardrail "
        f"violations; {rate:.0f} records/s; "
        f"{time.perf_counter() - started:.1f}s in all"
    )
    for name, path in sorted(paths.items()):
        console.print(f"  {name}: {path}")


@app.command()
def run(
    posts: Path | None = typer.Option(None, help="human posts, JSONL or CSV"),
    responses: Path | None = typer.Option(None, help="LM responses, JSONL or CSV"),
    out: Path | None = typer.Option(None, help="output folder (default: settings.output_dir)"),
    metrics_port: int | None = typer.Option(None, help="/metrics port; 0 any free, -1 off"),
    scores: bool = typer.Option(False, help="also write affect-scores.jsonl"),
) -> None:
    """Run the embedded pipeline (no broker) over files and report the figures."""
    if posts is None and responses is None:
        err.print("give --posts and/or --responses")
        raise typer.Exit(2)
    settings = _settings(metrics_port=metrics_port)
    _run_files(settings, posts, responses, out or settings.output_dir, "affectwatch run", scores)


@app.command()
def demo(
    out: Path = typer.Option(Path("affectwatch-demo"), help="output folder"),
    metrics_port: int | None = typer.Option(None, help="/metrics port; 0 any free, -1 off"),
) -> None:
    """Run the bundled CC-BY sample (MFRC posts vs persona-LM statements) end to end."""
    sample = BUNDLED / "demo"
    settings = _settings(metrics_port=metrics_port)
    console.print(
        "[bold]affectwatch demo[/bold]: r/Conservative vs r/politics + r/neoliberal comments (MFRC, CC-BY-4.0) "
        "against persona-LM statements (Anthropic persona evals, CC-BY-4.0) under liberal, conservative and "
        "default steering; the default steering leans conservative after three hours."
    )
    _run_files(settings, sample / "posts.jsonl", sample / "responses.jsonl", out, "affectwatch demo", False)
    console.print(f"open {out / 'report.html'} in a browser for the charts")


topics_app = typer.Typer(no_args_is_help=True, help="Kafka topics of the project.")
app.add_typer(topics_app, name="topics")


@topics_app.command("create")
def topics_create(
    bootstrap: str | None = typer.Option(None, help="Kafka bootstrap servers"),
    partitions: int | None = typer.Option(None, help="partitions per topic"),
) -> None:
    """Create posts, lm-responses, affect-scores, dead-letters and drift-snapshots."""
    from streams.kafka.io import create_topics

    settings = _settings(kafka_bootstrap=bootstrap, partitions=partitions)
    for name, status in create_topics(settings).items():
        console.print(f"{name}: {status}")


@app.command()
def worker(
    bootstrap: str | None = typer.Option(None, help="Kafka bootstrap servers"),
    web_port: int | None = typer.Option(None, help="port of /ready and /metrics"),
    run_label: str | None = typer.Option(None, "--run", help="a separate run (backfill): own group, state, label"),
    start: str | None = typer.Option(None, "--from", help="count only records from this event time"),
    end: str | None = typer.Option(None, "--to", help="... and before this one"),
    loglevel: str = typer.Option("warning"),
) -> None:
    """Run a faust worker: score, aggregate, export figures.

    With ``--run NAME`` it is a backfill: it reads the input topics from the
    start into its own consumer group, tables, score and snapshot topics, with
    ``run="NAME"`` on its metrics, so live state is never touched.
    """
    from streams.core.records import to_epoch_ms
    from streams.kafka.worker import run_worker

    try:
        lo = to_epoch_ms(start) if start else None
        hi = to_epoch_ms(end) if end else None
    except ValueError as exc:
        err.print(f"[red]bad --from or --to: {exc}[/red]")
        raise typer.Exit(2) from exc
    settings = _settings(kafka_bootstrap=bootstrap, worker_web_port=web_port, event_from_ms=lo, event_to_ms=hi)
    if run_label and run_label != "live":
        # A backfill never touches live state: its own consumer group, tables and label.
        settings = settings.model_copy(update={
            "run_label": run_label, "app_id": f"{settings.app_id}-{run_label}",
            "topic_scores": f"{settings.topic_scores}-{run_label}",
            "topic_snapshots": f"{settings.topic_snapshots}-{run_label}",
            "topic_violations": f"{settings.topic_violations}-{run_label}",
            "data_dir": settings.data_dir / run_label})
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
    from streams.embedded import read_inputs
    from streams.kafka.io import plan
    from streams.kafka.io import replay as produce
    from streams.core.records import to_epoch_ms

    settings = _settings(kafka_bootstrap=bootstrap)
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
    with Progress(TextColumn("replaying"), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn(),
                  console=console) as bar:
        task = bar.add_task("replay", total=len(messages))
        n = produce(settings, messages, rate, lambda done, total: bar.update(task, completed=done))
    console.print(f"{n} records sent to {settings.kafka_bootstrap}")


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
    from streams.observe.prom_report import PrometheusError, build_report
    from streams.core.records import to_epoch_ms

    try:
        hi = to_epoch_ms(end) / 1000 if end else time.time()
        lo = to_epoch_ms(start) / 1000 if start else hi - hours * 3600
        paths = build_report(prometheus, lo, hi, out, window, None if topic == "any" else topic, model)
    except (ValueError, PrometheusError) as exc:
        err.print(f"[red]{exc}[/red]")
        raise typer.Exit(2) from exc
    for path in paths.values():
        console.print(f"wrote {path}")


dike_app = typer.Typer(no_args_is_help=True, help="DIKE: behavior spectra, Γ, guardrails.")
app.add_typer(dike_app, name="dike")


@dike_app.command("fit")
def dike_fit(
    spectrum: Path = typer.Option(..., help="behavior spectrum YAML"),
    examples: Path = typer.Option(..., help="JSONL of {'text', 'level'} (level name or index)"),
    top_m: int = typer.Option(3, help="emotions tallied per example text"),
    prior: str = typer.Option("uniform", help="uniform or empirical (the examples' level shares)"),
    out: Path | None = typer.Option(None, help="where to save Γ; default: <name>.gamma.json beside the spectrum"),
) -> None:
    """Fit Γ (one emotion-frequency vector per level) from labeled example texts."""
    from streams.wiring import make_classifier
    from streams.dike.behavior import BehaviorSpectrum
    from streams.dike.fitting import fit, read_examples
    from streams.dike.guardrails import gamma_path

    if prior not in ("uniform", "empirical") or top_m < 1:
        err.print("[red]--prior is uniform or empirical, --top-m at least 1[/red]")
        raise typer.Exit(2)
    try:
        spec = BehaviorSpectrum.load(spectrum)
        texts, levels = read_examples(examples, spec)
    except (OSError, ValueError) as exc:
        err.print(f"[red]{exc}[/red]")
        raise typer.Exit(2) from exc
    gamma = fit(spec, texts, levels, make_classifier(_settings()), top_m, prior)
    path = gamma.save(out or gamma_path(spectrum, spec.name))
    counts = ", ".join(f"{n}: {c}" for n, c in zip(spec.names, gamma.examples, strict=True))
    console.print(f"wrote {path} (version {gamma.version}; examples per level: {counts})")


@dike_app.command("rewrite")
def dike_rewrite(
    spectrum: Path = typer.Option(..., help="behavior spectrum YAML"),
    seeds: Path = typer.Option(..., help="seed documents: JSONL with 'text', or plain lines"),
    n: int = typer.Option(10, help="how many seeds to rewrite (each at every level)"),
    out: Path = typer.Option(..., help="examples JSONL to write, ready for `affectwatch dike fit`"),
) -> None:
    """Ask an OpenAI-compatible endpoint to rewrite seed documents at each level of a spectrum."""
    from streams.dike.behavior import BehaviorSpectrum
    from streams.dike.fitting import rewrite_examples

    settings = _settings()
    if not settings.review_endpoint:
        err.print("[red]no endpoint: set AFFECTWATCH_REVIEW_ENDPOINT (an OpenAI-compatible base URL) and "
                  "AFFECTWATCH_REVIEW_MODEL[/red]")
        raise typer.Exit(2)
    try:
        spec = BehaviorSpectrum.load(spectrum)
        lines = [x for x in seeds.read_text(encoding="utf-8").splitlines() if x.strip()]
    except (OSError, ValueError) as exc:
        err.print(f"[red]{exc}[/red]")
        raise typer.Exit(2) from exc
    texts = []
    for line in lines:
        try:
            obj = json.loads(line)
            texts.append(str(obj["text"]) if isinstance(obj, dict) else line)
        except (json.JSONDecodeError, KeyError):
            texts.append(line)
    chat = _chat_client(settings)
    examples, failures = rewrite_examples(spec, texts, chat, n)
    out.write_text("".join(json.dumps(e) + "\n" for e in examples), encoding="utf-8")
    console.print(f"wrote {len(examples)} examples to {out}")
    if failures:
        err.print(f"[yellow]{len(failures)} rewrites failed (first: {failures[0]['reason']})[/yellow]")
        raise typer.Exit(1)


@dike_app.command("classify")
def dike_classify(texts: list[str] = typer.Argument(..., help="texts to place on every behavior spectrum")) -> None:
    """Level, confidence and guardrail verdict of texts on every configured behavior spectrum."""
    from streams.wiring import make_classifier
    from streams.core.pipeline import load_dike

    settings = _settings()
    spectra, rails = load_dike(settings, bundled_if_none=True)
    emo = make_classifier(settings).predict(texts)[0]
    for text, e in zip(texts, emo, strict=True):
        console.print(f"[bold]{text[:80]}[/bold]")
        console.print("  spectra: " + ", ".join(f"{k} {v:+.2f}" for k, v in spectra.intensities(e).items()))
        for rail in rails:
            j = rail.judge(e)
            console.print(f"  {j.spectrum}: {j.level} ({j.intensity:+.1f}, confidence {j.confidence:.2f})"
                          f" {'ok' if j.allowed else '[red]outside the guardrail[/red]'}")


@app.command()
def review(
    violations: Path | None = typer.Option(None, help="guardrail-violations.jsonl of an embedded run"),
    out: Path | None = typer.Option(None, help="reviews JSONL to append to (default: reviews.jsonl beside it)"),
    kafka: bool = typer.Option(False, "--kafka", help="consume the guardrail-violations topic instead"),
    idle: float | None = typer.Option(None, help="Kafka mode: stop after this many idle seconds"),
    passes: int = typer.Option(3, help="file mode: passes over violations the endpoint failed on"),
) -> None:
    """Run the DIKE/ERIS debate on guardrail violations: uphold (and rectify), overturn, or escalate."""
    from streams.wiring import make_classifier
    from streams.observe.metrics import Metrics
    from streams.core.pipeline import load_dike
    from streams.review.queue import review_file, review_kafka
    from streams.review.reviewer import Debate

    settings = _settings()
    if not settings.review_endpoint:
        err.print("[red]no review endpoint: the reviewer needs an OpenAI-compatible chat endpoint. Set "
                  "AFFECTWATCH_REVIEW_ENDPOINT (for example http://127.0.0.1:8000/v1), AFFECTWATCH_REVIEW_MODEL, "
                  f"and the key in ${settings.review_api_key_env}.[/red]")
        raise typer.Exit(2)
    if not kafka and violations is None:
        err.print("[red]give --violations FILE, or --kafka[/red]")
        raise typer.Exit(2)
    chat = _chat_client(settings)
    _, rails = load_dike(settings, bundled_if_none=True)
    by_name = {r.spectrum.name: r for r in rails}
    clf = make_classifier(settings)

    def check(text: str, spectrum: str) -> tuple[str, bool]:
        rail = by_name[spectrum]
        j = rail.judge(clf.predict([text])[0][0])
        return j.level, j.allowed

    debate = Debate(chat, settings.review_max_rounds, check)
    metrics = Metrics(settings.run_label)
    if settings.metrics_port >= 0:
        port = metrics.serve(settings.metrics_host, settings.metrics_port)
        console.print(f"/metrics on http://{settings.metrics_host}:{port}/metrics")
    if kafka:
        n = review_kafka(settings, debate, metrics, idle)
        console.print(f"{n} reviews sent to {settings.topic_reviews}")
        return
    assert violations is not None
    target = out or violations.with_name("reviews.jsonl")
    done, left = review_file(violations, target, debate, metrics, passes, settings.review_backoff_seconds)
    console.print(f"{done} reviews written to {target}")
    if left:
        err.print(f"[yellow]{len(left)} violations left unreviewed (listed in "
                  f"{target.with_name('unreviewed.jsonl')}); run again to retry them[/yellow]")
        raise typer.Exit(1)


dashboards_app = typer.Typer(no_args_is_help=True, help="Grafana dashboards, generated from code.")
app.add_typer(dashboards_app, name="dashboards")
DASHBOARDS_DIR = Path(__file__).resolve().parents[2] / "dashboards"


@dashboards_app.command("build")
def dashboards_build(out: Path = typer.Option(DASHBOARDS_DIR, help="folder for the JSON files")) -> None:
    """Write the dashboards' JSON (overview, distributions, drift, health)."""
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


alerts_app = typer.Typer(no_args_is_help=True, help="Alert delivery helpers.")
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


def main() -> None:  # console-script entry point
    app()


if __name__ == "__main__":
    main()
