"""DIKE commands: ``dike fit``, ``dike rewrite``, ``dike classify`` and ``review``."""

from __future__ import annotations

import json
from pathlib import Path

import typer

from streams.cli.shell import _chat_client, _settings, app, console, err
from streams.safe_files import write_text

dike_app = typer.Typer(no_args_is_help=True, rich_markup_mode=None, help="DIKE: behavior spectra, Γ, guardrails.")
app.add_typer(dike_app, name="dike")


@dike_app.command("fit")
def dike_fit(
    spectrum: Path = typer.Option(..., help="behavior spectrum YAML"),
    examples: Path = typer.Option(..., help="JSONL of {'text', 'level'} (level name or index)"),
    top_m: int = typer.Option(3, help="emotions tallied per example text"),
    prior: str = typer.Option("uniform", help="uniform or empirical (the examples' level shares)"),
    features: str = typer.Option("top_m", help="top_m (tally each text's top-M emotions) or probs (add its "
                                 "probability vector)"),
    out: Path | None = typer.Option(None, help="where to save Γ; default: <name>.gamma.json beside the spectrum"),
) -> None:
    """Fit Γ (one emotion-frequency vector per level) from labeled example texts."""
    from streams.dike.behavior import BehaviorSpectrum
    from streams.dike.fitting import fit, read_examples
    from streams.dike.guardrails import gamma_path
    from streams.wiring import make_classifier

    if prior not in ("uniform", "empirical") or top_m < 1 or features not in ("top_m", "probs"):
        err.print("[red]--prior is uniform or empirical, --features top_m or probs, --top-m at least 1[/red]")
        raise typer.Exit(2)
    try:
        spec = BehaviorSpectrum.load(spectrum)
        texts, levels = read_examples(examples, spec)
    except (OSError, ValueError) as exc:
        err.print(f"[red]{exc}[/red]")
        raise typer.Exit(2) from exc
    gamma = fit(spec, texts, levels, make_classifier(_settings(("classifier",))), top_m, prior, features)
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
    from streams.review.rewrite import rewrite_examples

    settings = _settings()
    if not settings.review.endpoint:
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
    write_text(out, "".join(json.dumps(e) + "\n" for e in examples))
    console.print(f"wrote {len(examples)} examples to {out}")
    if failures:
        err.print(f"[yellow]{len(failures)} rewrites failed (first: {failures[0]['reason']})[/yellow]")
        raise typer.Exit(1)


@dike_app.command("classify")
def dike_classify(texts: list[str] = typer.Argument(..., help="texts to place on every behavior spectrum")) -> None:
    """Level, confidence and guardrail verdict of texts on every configured behavior spectrum."""
    from streams.core.pipeline import load_dike
    from streams.wiring import make_classifier

    settings = _settings(("classifier", "dike"))
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
    from streams.core.pipeline import load_dike
    from streams.observe.metrics import Metrics
    from streams.review.queue import review_file, review_kafka
    from streams.review.reviewer import Debate
    from streams.wiring import make_classifier

    settings = _settings(("classifier", "dike"))
    if not settings.review.endpoint:
        err.print("[red]no review endpoint: the reviewer needs an OpenAI-compatible chat endpoint. Set "
                  "AFFECTWATCH_REVIEW_ENDPOINT (for example http://127.0.0.1:8000/v1), AFFECTWATCH_REVIEW_MODEL, "
                  f"and the key in ${settings.review.api_key_env}.[/red]")
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

    debate = Debate(chat, settings.review.max_rounds, check)
    metrics = Metrics(settings.outputs.run_label)
    if settings.outputs.http_port >= 0:
        port = metrics.serve(settings.outputs.http_host, settings.outputs.http_port)
        console.print(f"/metrics on http://{settings.outputs.http_host}:{port}/metrics")
    if kafka:
        n = review_kafka(settings, debate, metrics, idle)
        console.print(f"{n} reviews sent to {settings.kafka.topic_reviews}")
        return
    assert violations is not None
    target = out or violations.with_name("reviews.jsonl")
    done, left = review_file(violations, target, debate, metrics, passes, settings.review.backoff_seconds)
    console.print(f"{done} reviews written to {target}")
    if left:
        err.print(f"[yellow]{len(left)} violations left unreviewed (listed in "
                  f"{target.with_name('unreviewed.jsonl')}); run again to retry them[/yellow]")
        raise typer.Exit(1)

