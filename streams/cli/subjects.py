"""``affectwatch subjects discover``: a draft subjects file from a posts file
(``affectwatch topics discover``, its name of earlier releases, still works and says so)."""

from __future__ import annotations

import dataclasses
import random
from pathlib import Path

import typer
from rich.table import Table

from streams.cli.shell import _settings, console, err, subjects_app, topics_app
from streams.core.pipeline import subject_min_similarity


@subjects_app.command()
def discover(
    posts: Path = typer.Argument(..., help="posts (JSONL or CSV, the run's record format)"),
    out: Path | None = typer.Option(None, "--out", "-o", help="write the draft YAML here (default: print it)"),
    k: int | None = typer.Option(None, "--k", min=2, max=100, help="clusters (default: chosen by silhouette)"),
    max_k: int = typer.Option(12, "--max-k", min=2, max=100, help="largest k tried when choosing"),
    sample: int = typer.Option(5000, min=20, help="at most this many posts, drawn at random (seeded)"),
    min_size: int = typer.Option(5, "--min-size", min=2, help="smaller clusters are left out of the draft"),
    keywords: int = typer.Option(8, min=1, max=30, help="keywords per topic"),
    examples: int = typer.Option(3, min=1, max=10, help="example sentences per topic"),
    seed: int = typer.Option(13, help="sampling and k-means seed"),
) -> None:
    """Cluster the posts' embeddings and write a draft subjects file (keywords and
    examples per cluster, named by its most distinctive words) to edit and use."""
    from models.classifier import Classifier
    from streams.core.inputs import read_records
    from streams.core.records import DeadLetter
    from streams.core.subject_discovery import discover as run_discovery
    from streams.core.subject_discovery import to_yaml
    from streams.core.subjects import Subjects
    from streams.wiring import build_core, classifier_kwargs

    settings = _settings(("classifier", "subjects"))
    if not posts.is_file():
        err.print(f"no such file: {posts}")
        raise typer.Exit(2)
    clf = Classifier(**classifier_kwargs(settings))
    core = build_core(settings, clf)
    texts, rejected = [], 0
    for item in read_records(posts, "post"):
        parsed = core.scorer.parse(item.raw, "post", item.source) if item.reject is None else None
        if parsed is None or isinstance(parsed, DeadLetter):
            rejected += 1
        elif parsed.record.text.strip():
            texts.append(parsed.record.text)
    texts = list(dict.fromkeys(texts))  # a repeated post is one voice, not a cluster
    if len(texts) > sample:
        texts = random.Random(seed).sample(texts, sample)
    if rejected:
        err.print(f"[yellow]{rejected} records skipped (not valid posts; `affectwatch run` says why)[/yellow]")
    try:
        embeddings = clf.predict(texts)[2] if texts else None
        found = run_discovery(texts, embeddings, k=k, max_k=max_k, n_keywords=keywords, n_examples=examples,
                              min_size=min_size, seed=seed)
    except ValueError as exc:
        err.print(f"[red]{exc}[/red]")
        raise typer.Exit(2) from exc
    found_topics = found.topics[: settings.limits.max_subjects]
    if len(found_topics) < len(found.topics):
        err.print(f"[yellow]{len(found.topics)} clusters; the draft keeps the largest {settings.limits.max_subjects} "
                  "(AFFECTWATCH_LIMITS_MAX_SUBJECTS)[/yellow]")
        found = dataclasses.replace(found, topics=found_topics)
    draft = to_yaml(found, posts.name, len(texts))
    table = Table(title=f"{len(found.topics)} subjects from {len(texts)} posts (k = {found.k}"
                  + (f", silhouette {found.silhouette:.3f})" if found.silhouette is not None else ")"))
    for col in ("name", "texts", "cohesion", "keywords"):
        table.add_column(col)
    for t in found.topics:
        table.add_row(t.name, str(t.size), f"{t.cohesion:.2f}", ", ".join(t.keywords))
    if out is None:
        print(draft, end="")
        err.print(table)
        return
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(draft, encoding="utf-8")
    Subjects.load(out, subject_min_similarity(settings), settings.limits.max_subjects)  # the draft loads
    console.print(table)
    console.print(f"draft written to {out}: edit it, then set AFFECTWATCH_SUBJECTS_FILE={out}")


@topics_app.command("discover", help="Earlier name of `affectwatch subjects discover` (still works).")
def discover_by_its_earlier_name(
    posts: Path = typer.Argument(..., help="posts (JSONL or CSV, the run's record format)"),
    out: Path | None = typer.Option(None, "--out", "-o", help="write the draft YAML here (default: print it)"),
    k: int | None = typer.Option(None, "--k", min=2, max=100),
    max_k: int = typer.Option(12, "--max-k", min=2, max=100),
    sample: int = typer.Option(5000, min=20),
    min_size: int = typer.Option(5, "--min-size", min=2),
    keywords: int = typer.Option(8, min=1, max=30),
    examples: int = typer.Option(3, min=1, max=10),
    seed: int = typer.Option(13),
) -> None:
    err.print("[yellow]`affectwatch topics discover` is now `affectwatch subjects discover`; running it[/yellow]")
    discover(posts, out, k, max_k, sample, min_size, keywords, examples, seed)
