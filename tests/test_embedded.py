"""The embedded runner: real classifier, bad lines, order and batch invariance, metrics."""

from __future__ import annotations

import json
import random
import subprocess
import urllib.request
from pathlib import Path

from streams.core.inputs import read_records
from streams.embedded import EmbeddedRunner, read_inputs, write_outputs
from streams.wiring import build_core


def run(settings, classifier, inputs):
    core = build_core(settings, classifier)
    return core, EmbeddedRunner(core.scorer, core.aggregator, core.metrics).run(inputs)


def test_bad_lines_become_dead_letters_and_the_run_completes(settings, classifier, small_stream, tmp_path):
    posts, responses = small_stream
    _, result = run(settings, classifier, read_inputs(posts, responses))
    assert result.records == 246
    assert result.scored == 240
    assert result.dead_letter_reasons() == {
        "invalid_utf8": 1,
        "malformed_json": 1,
        "missing_field:author_id": 1,
        "missing_field:model": 1,
        "text_too_long": 1,
        "unknown_group": 1,
    }
    paths = write_outputs(result, tmp_path / "out")
    lines = [json.loads(x) for x in paths["dead_letters"].read_text().splitlines()]
    assert {d["reason"] for d in lines} == set(result.dead_letter_reasons())
    assert all("line" in d["source"] and d["raw"] for d in lines)


def test_figures_do_not_depend_on_order_or_batch_size(settings, classifier, small_stream):
    inputs = read_inputs(*small_stream)
    _, base = run(settings, classifier, inputs)
    shuffled = list(inputs)
    random.Random(3).shuffle(shuffled)
    for batch_size in (1, 7, 64):
        other = settings.changed(classifier__batch_size=batch_size)
        _, result = run(other, classifier, shuffled)
        assert result.figures.to_dict() == base.figures.to_dict()


def test_figures_show_the_angry_steering_closer_to_the_angry_group(settings, classifier, small_stream):
    _, result = run(settings, classifier, read_inputs(*small_stream))
    a = {
        (x.steering, x.group): x
        for x in result.figures.alignment
        if x.subject == "all" and x.dimension == "emotion" and x.window == "24h"
    }
    assert a[("angry", "conservative")].alignment > a[("angry", "liberal")].alignment
    assert a[("default", "liberal")].alignment > a[("default", "conservative")].alignment
    assert a[("angry", "liberal")].p_value < 0.05
    tend = {
        t.steering: t.value
        for t in result.figures.tendency
        if t.subject == "all" and t.dimension == "emotion" and t.window == "24h"
    }
    assert tend["default"] > 0 > tend["angry"]
    for f in result.figures.alignment:
        assert 0 <= f.alignment <= 1 and f.n_lm > 0 and f.n_group > 0


def test_late_records_are_counted(settings, classifier, tmp_path):
    from tests.conftest import T0, write_jsonl

    rows = [
        {"id": str(i), "author_id": "a", "text": "hello there", "created_at": T0 + i * 60_000, "group": "liberal"}
        for i in range(30)
    ]
    path = write_jsonl(tmp_path / "p.jsonl", rows)
    # The embedded runner sorts by event time, so nothing it reads is late ...
    _, result = run(settings, classifier, list(read_records(path, "post")))
    assert result.late == 0
    # ... but a record fed after the watermark moved on is late, counted, not added.
    core = build_core(settings, classifier)
    runner = EmbeddedRunner(core.scorer, core.aggregator, core.metrics)
    runner.run(list(read_records(path, "post")))
    late = write_jsonl(tmp_path / "late.jsonl", [{**rows[0], "id": "late", "created_at": T0 - 3_600_000}])
    again = runner.run(list(read_records(late, "post")))
    assert again.late == 1
    assert again.figures.late["all"] == {"human": 1}
    assert sum(v.get("human", 0) for t, v in again.figures.late.items() if t != "all") == 1


def test_csv_input_and_metrics_endpoint(settings, classifier, tmp_path: Path):
    csv_path = tmp_path / "posts.csv"
    csv_path.write_text(
        "id,author_id,text,created_at,domains\n"
        "1,a,I love this,2024-03-01T12:00:00Z,huffpost.com\n"
        "2,b,I hate this,2024-03-01T12:01:00Z,breitbart.com foxnews.com\n"
        "3,c,no time,,\n"
    )
    core = build_core(settings, classifier)
    port = core.metrics.serve("127.0.0.1", 0)
    result = EmbeddedRunner(core.scorer, core.aggregator, core.metrics, keep_scores=True).run(
        list(read_records(csv_path, "post"))
    )
    assert result.dead_letter_reasons() == {"missing_field:created_at": 1}
    assert [s["group"] for s in result.scores] == ["liberal", "conservative"]
    body = urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5).read().decode()
    assert 'affectwatch_records_total{run="live",stream="human"} 2.0' in body
    assert 'affectwatch_dead_letters_total{reason="missing_field:created_at",run="live"} 1.0' in body
    assert "affectwatch_distribution_share{" in body and "affectwatch_entropy{" in body
    assert 'affectwatch_figures_refresh_seconds_count{run="live"} 1.0' in body  # the run's final figures
    # What an operator's own linter says of the exposition (it exited 3 on `affectwatch_entropy_bits`).
    from tests.prom_support import binary

    lint = subprocess.run([binary("promtool"), "check", "metrics"], input=body, capture_output=True, text=True)
    assert lint.returncode == 0, lint.stdout + lint.stderr
    # A scrape of named families only (client_python's `name[]`), figures included: cheap enough to poll.
    url = f"http://127.0.0.1:{port}/metrics?name[]=affectwatch_records_total&name[]=affectwatch_entropy"
    some = urllib.request.urlopen(url, timeout=5).read().decode()
    assert 'affectwatch_records_total{run="live",stream="human"} 2.0' in some and "affectwatch_entropy{" in some
    assert "affectwatch_distribution_share" not in some and "affectwatch_dead_letters_total" not in some


def test_the_kafka_workers_figures_process_computes_what_the_core_computes(settings, classifier, small_stream):
    """A worker computes its figures in a child process (its own GIL): from the
    same state it must give the same figures, refresh after refresh."""
    import asyncio

    from streams.core.windows import Windows
    from streams.kafka.figures_process import FiguresProcess
    from streams.kafka.tables import encode_value

    core, _ = run(settings, classifier, read_inputs(*small_stream))
    snapshot = dict(core.aggregator.windows.table)
    maker, cfg = core.aggregator.maker, core.aggregator.windows.cfg
    here = maker.compute(Windows(snapshot, cfg)).to_dict()
    child = FiguresProcess(maker, cfg)
    try:
        stored = {key: encode_value(value) for key, value in snapshot.items()}  # as the worker's table holds it
        head = {"run": "live", "worker": "w1"}
        (first, sent), (again, _) = (asyncio.run(child.compute(stored, head)) for _ in range(2))
    finally:
        child.close()
    assert here["series"] and first.to_dict() == here and again.to_dict() == here
    # The drift-snapshots message, encoded in the child: the run and worker, then the figures.
    message = json.loads(sent)
    assert list(message)[:2] == ["run", "worker"] and message == json.loads(json.dumps({**head, **here}))
