"""The embedded runner: files in, the same core as the Kafka path, figures out.

No broker: state lives in dicts, dead letters in a JSONL file. Records are
merged by event time (ties: posts first, then file order), scored in
length-sorted micro-batches and fed to the windows in event-time order.
"""

from __future__ import annotations

import json
import time
from collections import deque
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

from streams.core.figures import Figures
from streams.core.inputs import RawInput, read_records
from streams.core.pairing import Pairing, add_scored
from streams.core.pipeline import Aggregator, Scorer
from streams.core.records import DeadLetter, Parsed, internal_error
from streams.core.scoring import Scored
from streams.core.subjects import ALL
from streams.observe.metrics import Metrics
from streams.safe_files import open_output, output_dir, write_text


@dataclass
class RunResult:
    figures: Figures
    records: int = 0
    scored: int = 0
    late: int = 0
    dead_letters: list[DeadLetter] = field(default_factory=list)
    violations: list[dict] = field(default_factory=list)  # guardrail violations
    scores: list[dict] = field(default_factory=list)
    seconds: float = 0.0
    pairing: Pairing = field(default_factory=Pairing)  # probe answers against their posts
    unassigned: dict[str, int] = field(default_factory=dict)  # posts without a group, by reason
    # (series id, dimension, label) -> the last few texts with that label: examples for the report
    examples: dict[tuple[str, str, str], deque] = field(default_factory=dict)

    def dead_letter_reasons(self) -> dict[str, int]:
        out: dict[str, int] = {}
        for d in self.dead_letters:
            out[d.reason] = out.get(d.reason, 0) + 1
        return dict(sorted(out.items()))


Progress = Callable[[int, int], None]
EXAMPLES = 3  # texts kept per series, dimension and label


class EmbeddedRunner:
    REFRESH_SHARE = 0.01  # of the run's time, spent on refreshing /metrics mid-run
    def __init__(
        self,
        scorer: Scorer,
        aggregator: Aggregator,
        metrics: Metrics | None = None,
        keep_scores: bool = False,
        figures_every_seconds: float = 2.0,
    ) -> None:
        self.scorer = scorer
        self.aggregator = aggregator
        self.metrics = metrics
        self.keep_scores = keep_scores
        self.figures_every = figures_every_seconds

    def _reject(self, result: RunResult, dead: DeadLetter) -> None:
        result.dead_letters.append(dead)
        if self.metrics:
            self.metrics.record_rejected(dead.reason)

    def run(self, inputs: Iterable[RawInput], progress: Progress | None = None) -> RunResult:
        started = time.perf_counter()
        result = RunResult(figures=Figures(end_ms=None))
        parsed: list[tuple[int, int, int, Parsed]] = []
        for order, item in enumerate(inputs):
            result.records += 1
            if item.reject is not None:
                raw = item.raw if isinstance(item.raw, bytes) else repr(item.raw).encode("utf-8", "surrogatepass")
                self._reject(result, DeadLetter(raw, item.source, *item.reject))
                continue
            p = self.scorer.parse(item.raw, item.kind, item.source)
            if isinstance(p, DeadLetter):
                self._reject(result, p)
            else:
                parsed.append((p.record.created_at, 0 if p.kind == "post" else 1, order, p))
        parsed.sort(key=lambda t: t[:3])
        todo = [t[3] for t in parsed]
        size = self.scorer.settings.classifier.batch_size
        last_figures = time.perf_counter()
        interval = self.figures_every
        m = self.metrics
        batches = [todo[i : i + size] for i in range(0, len(todo), size)]

        # The next batches are classified (onnxruntime, outside the GIL) while
        # this one is grouped, topic-assigned and counted. Several classify
        # calls run at once (two by default), so the classifier's threads go from one batch to the
        # next without waiting at the end of each for its slowest text (scores
        # are per text, so this changes nothing). Counting stays in batch
        # order, so the figures do not change.
        depth = max(1, self.scorer.settings.classifier.batches_ahead)  # batches being classified while one is counted
        with ThreadPoolExecutor(depth, thread_name_prefix="classify-ahead") as ahead:
            pending = deque(ahead.submit(self.scorer.classify_timed, b) for b in batches[:depth])
            for k, batch in enumerate(batches):
                arrived = time.perf_counter()
                future = pending.popleft()
                if k + depth < len(batches):
                    pending.append(ahead.submit(self.scorer.classify_timed, batches[k + depth]))
                try:
                    outputs, seconds = future.result()
                except Exception:  # one text broke the batch: classify one by one, dead-letter the culprits
                    self._one_by_one(result, batch)
                else:
                    if m:
                        m.batch_classified(len(batch), seconds)
                    for i, p in enumerate(batch):
                        self._take_safely(result, p, outputs, i)
                last_figures, interval = self._maybe_publish(arrived, last_figures, interval)
                if progress:
                    progress(min((k + 1) * size, len(todo)), len(todo))
        began = time.perf_counter()
        result.figures = self.aggregator.figures()
        if m:
            m.figures.figures = result.figures
            m.figures_refresh.labels(m.run).observe(time.perf_counter() - began)
            m.last_update.labels(m.run).set(time.time())
        result.seconds = time.perf_counter() - started
        return result

    def _maybe_publish(self, arrived: float, last_figures: float, interval: float) -> tuple[float, float]:
        m = self.metrics
        if m and time.perf_counter() - last_figures >= interval:
            t_fig = time.perf_counter()
            self._publish(arrived)
            last_figures = time.perf_counter()
            # Refreshing the figures runs significance tests: keep refreshes to
            # about REFRESH_SHARE of the run, however large the state grows.
            interval = max(self.figures_every, (last_figures - t_fig) / self.REFRESH_SHARE)
        return last_figures, interval

    def _take_safely(self, result: RunResult, p: Parsed, outputs: tuple, i: int) -> None:
        """Count one record; whatever raises while handling it makes its dead letter."""
        try:
            self._take(result, self.scorer.assemble(p, outputs, i))
        except Exception as exc:
            self._reject(result, internal_error(p, exc))

    def _one_by_one(self, result: RunResult, batch: list[Parsed]) -> None:
        for p in batch:
            try:
                outputs = self.scorer.classify([p])
            except Exception as exc:
                self._reject(result, internal_error(p, exc))
                continue
            self._take_safely(result, p, outputs, 0)

    def _take(self, result: RunResult, s: Scored) -> None:
        m = self.metrics
        if m:
            m.record_scored(s)
        counted = self.aggregator.add_scored(s)
        if counted:
            result.scored += 1
        else:
            result.late += 1
        if m:
            m.record_counted(s.series.stream, counted)
        if s.unassigned_reason:
            result.unassigned[s.unassigned_reason] = result.unassigned.get(s.unassigned_reason, 0) + 1
        if s.series.stream == "lm" or self.scorer.settings.outputs.human_examples:
            for dim, labels in s.labels.items():
                for label in labels:
                    key = (s.series.id, dim, label)
                    result.examples.setdefault(key, deque(maxlen=EXAMPLES)).append(s.parsed.record.text[:300])
        pairs = add_scored(result.pairing, s)
        if pairs and m:
            m.paired(s, pairs)
        if s.behavior:
            result.violations.extend(self.scorer.violations(s))
            if m:
                m.judged(s)
        if self.keep_scores:
            result.scores.append(s.to_record())

    def _publish(self, arrived: float) -> None:
        m = self.metrics
        assert m is not None
        began = time.perf_counter()
        m.figures.figures = self.aggregator.figures()
        m.figures_refresh.labels(m.run).observe(time.perf_counter() - began)
        wm = self.aggregator.windows.watermark(ALL)
        if wm is not None:
            m.watermark.labels(m.run).set(wm / 1000)
        m.last_update.labels(m.run).set(time.time())
        m.e2e_latency.labels(m.run).observe(time.perf_counter() - arrived)


def read_inputs(posts: Path | None, responses: Path | list[Path] | None) -> list[RawInput]:
    """Records of a posts file and of one or more responses files (for example
    persona statements beside a probe's answers)."""
    items: list[RawInput] = []
    if posts:
        items.extend(read_records(posts, "post"))
    for path in [responses] if isinstance(responses, Path) else responses or []:
        items.extend(read_records(path, "lm"))
    return items


def _figures_without_late(figures: dict) -> dict:
    """The figures' own late counts are per topic key and stream; they go under
    ``late_by_topic`` so that ``late`` is the run's total (it used to be overwritten)."""
    out = dict(figures)
    out["late_by_topic"] = out.pop("late", {})
    return out


def write_outputs(result: RunResult, out_dir: Path, max_raw_bytes: int | None = None) -> dict[str, Path]:
    output_dir(out_dir)
    paths = {
        "figures": out_dir / "figures.json",
        "dead_letters": out_dir / "dead-letters.jsonl",
        "violations": out_dir / "guardrail-violations.jsonl",
    }
    write_text(
        paths["figures"],
        json.dumps(
            {
                **_figures_without_late(result.figures.to_dict()),
                # records = scored + sum(dead_letters) + late, exactly
                "records": result.records,
                "scored": result.scored,
                "late": result.late,
                "dead_letters": result.dead_letter_reasons(),
                "guardrail_violations": len(result.violations),
                "pairing": result.pairing.to_dict(),
                "unassigned_posts": dict(sorted(result.unassigned.items())),
                "seconds": round(result.seconds, 2),
            },
            indent=1,
            default=float,
        )
    )
    with open_output(paths["dead_letters"]) as fh:
        for d in result.dead_letters:
            fh.write(json.dumps(d.to_dict(max_raw_bytes)) + "\n")
    with open_output(paths["violations"]) as fh:
        for v in result.violations:
            fh.write(json.dumps(v) + "\n")
    if result.scores:
        paths["scores"] = out_dir / "affect-scores.jsonl"
        with open_output(paths["scores"]) as fh:
            for rec in result.scores:
                fh.write(json.dumps(rec) + "\n")
    return paths
