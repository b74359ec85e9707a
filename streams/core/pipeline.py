"""The core both runners share: ``Scorer`` (validate, group, classify, topic)
and ``Aggregator`` (windows and figures). State lives in mappings the caller
provides: dicts in the embedded runner, changelog-backed tables on Kafka."""

from __future__ import annotations

import json
import time
from collections.abc import MutableMapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from models.labels import EMOTIONS, MORALS
from streams.core.counts import Counts
from streams.core.figures import FigureConfig, FigureMaker, Figures
from streams.core.groups import UNASSIGNED, AuthorScore, DomainTable, group_of
from streams.core.records import DeadLetter, Kind, Limits, LMResponse, Parsed, Post, parse
from streams.core.scoring import Scored, predicted_many, series_of
from streams.core.subjects import ALL, Subjects
from streams.core.window_batches import Tally, add_counts
from streams.core.windows import Observation, WindowConfig, Windows
from streams.dike.guardrails import Guardrail, load_guardrails, violation_record
from streams.dike.spectra import Spectra
from streams.settings import Settings


class ClassifierLike:  # the slice of models.Classifier the core needs
    version: str
    thresholds: dict

    def predict(self, texts: Sequence[object]) -> tuple: ...  # pragma: no cover


def source_origin(source: dict[str, Any]) -> tuple[str, int] | None:
    """(topic/partition, offset) of a record read from Kafka; None for files."""
    if "topic" in source and "partition" in source and "offset" in source:
        return f"{source['topic']}/{source['partition']}", int(source["offset"])
    return None


def subject_min_similarity(settings: Settings) -> float:
    """The setting, else the classifier release's own threshold (its meta.json), else 0.9."""
    if settings.subjects.min_similarity is not None:
        return settings.subjects.min_similarity
    meta = json.loads((Path(settings.classifier.artifacts) / "meta.json").read_text())
    return float(meta.get("topic_min_similarity", 0.9))


def load_subjects(settings: Settings, classifier: Any | None) -> Subjects:
    topics = Subjects.load(settings.subjects.file, subject_min_similarity(settings), settings.limits.max_subjects)
    if classifier is not None:
        topics.fit_centroids(lambda texts: classifier.predict(texts)[2])
    return topics


BUNDLED_BEHAVIOR = ("letter.yaml", "hostility.yaml")


def load_dike(settings: Settings, bundled_if_none: bool = False) -> tuple[Spectra, list[Guardrail]]:
    """The emotion spectra and the enforced guardrails; ``bundled_if_none``: the
    shipped spectra when none are configured (for the dike and review commands)."""
    files = list(settings.dike.behavior_spectra)
    if not files and bundled_if_none:
        files = [settings.dike.spectra_file.parent / "behavior" / name for name in BUNDLED_BEHAVIOR]
    return Spectra.load(settings.dike.spectra_file), load_guardrails(files)


def load_domains(settings: Settings) -> DomainTable | None:
    path = settings.resolved_domain_table
    return DomainTable.load(path) if path else None


@dataclass
class Scorer:
    settings: Settings
    classifier: ClassifierLike
    subjects: Subjects
    domains: DomainTable | None
    authors: MutableMapping[str, dict]  # author_id -> {"total": float, "n": int}
    spectra: Spectra | None = None
    guardrails: list[Guardrail] = field(default_factory=list)

    def __post_init__(self) -> None:
        s = self.settings
        self.limits = Limits(
            groups=tuple(s.groups.names),
            max_text_chars=s.limits.max_text_chars,
            max_record_bytes=s.limits.max_record_bytes,
            max_depth=s.limits.max_json_depth,
            max_values=s.limits.max_json_values,
            max_list_items=s.limits.max_list_items,
            min_event_ms=int(s.limits.min_event_time.timestamp() * 1000),
            max_future_ms=s.limits.max_future_seconds * 1000,
        )
        self._thresholds = self.classifier.thresholds  # a property that builds arrays: read once
        self._lm_series: set[tuple[str, str]] = set()
        self._batch_for: tuple | None = None
        self._batch_cache: tuple[list, list, list, list] = ([], [], [], [])

    def parse(self, raw: bytes | str | dict, kind: Kind, source: dict[str, Any]) -> Parsed | DeadLetter:
        out = parse(raw, kind, source, self.limits)
        if isinstance(out, Parsed) and isinstance(out.record, LMResponse):
            # Each (model, steering) pair is a series in every window, figure and
            # metric: a stream of ever-new names must not grow them without end.
            pair = (out.record.model, out.record.steering)
            if pair not in self._lm_series:
                if len(self._lm_series) >= self.settings.limits.max_lm_series:
                    data = raw if isinstance(raw, bytes) else json.dumps(out.record.model_dump()).encode()
                    return DeadLetter(data, source, "too_many_series",
                                      f"more than {self.settings.limits.max_lm_series} model and steering pairs")
                self._lm_series.add(pair)
        return out

    def _group(self, post: Post, source: dict[str, Any]) -> tuple[str, str | None]:
        """The post's group, and why it has none (see ``Scored.unassigned_reason``)."""
        if post.group:
            return post.group, None
        if self.domains is None:
            return UNASSIGNED, "no_domain_table" if (post.urls or post.domains) else "no_links"
        scores = self.domains.scores_of(post.urls, post.domains)
        state = self.authors.get(post.author_id) or {"total": 0.0, "n": 0}
        author = AuthorScore(state["total"], state["n"])
        origin = source_origin(source)
        # On Kafka a replayed post must not add its domains twice: the author's
        # value remembers the last offset of each source partition it took.
        seen = origin is not None and state.get("hw", {}).get(origin[0], -1) >= origin[1]
        if scores and not seen:
            author = author.add(scores)
            value: dict[str, Any] = {"total": author.total, "n": author.n}
            if origin is not None:
                value["hw"] = {**state.get("hw", {}), origin[0]: origin[1]}
            self.authors[post.author_id] = value
        group = group_of(author, self.settings.groups.liberal_max_score, self.settings.groups.conservative_min_score)
        if group != UNASSIGNED:
            return group, None
        if author.n == 0:
            return group, "no_scored_domain" if (post.urls or post.domains) else "no_links"
        return group, "between_thresholds"

    def classify(self, batch: Sequence[Parsed]) -> tuple:
        """The classifier's arrays for a micro-batch: pure, safe to run in a thread."""
        if not batch:
            return ()
        return self.classifier.predict([p.record.text for p in batch])

    def classify_timed(self, batch: Sequence[Parsed]) -> tuple[tuple, float]:
        """``classify`` and the seconds it took (for the classify-latency metric)."""
        t0 = time.perf_counter()
        return self.classify(batch), time.perf_counter() - t0

    def assemble(self, parsed: Parsed, outputs: tuple, i: int) -> Scored:
        """Group, topic and labels of the i-th record of a classified batch.

        Touches the author table, so on Kafka it runs on the event loop inside
        the record's own event (that decides the changelog partition)."""
        emo, mor, emb, lengths, truncated = outputs
        rec = parsed.record
        group, why = self._group(rec, parsed.source) if isinstance(rec, Post) else ("", None)
        subject, how = self.subjects.assign(rec.topic, rec.text, emb[i])
        spectra, behavior, emotions, morals = self._per_batch(outputs)
        return Scored(
            parsed=parsed,
            series=series_of(parsed, group),
            subject=subject,
            topic_how=how,
            emotion=emo[i],
            moral=mor[i],
            labels={"emotion": emotions[i], "moral": morals[i]},
            n_tokens=lengths[i],
            truncated=truncated[i],
            model_version=self.classifier.version,
            spectra=spectra[i],
            behavior=behavior[i] if not isinstance(rec, Post) else (),
            unassigned_reason=why,
        )

    def _per_batch(self, outputs: tuple) -> tuple[list[dict[str, float]], list[tuple], list[tuple], list[tuple]]:
        """Spectra, guardrail judgements and predicted labels of a whole
        classified batch, computed once (vectorized) and then read per record."""
        if self._batch_for is not outputs:
            emo, mor = outputs[0], outputs[1]
            th = self._thresholds
            spectra = self.spectra.intensities_many(emo) if self.spectra is not None else [{}] * len(emo)
            judged = [g.judge_many(emo) for g in self.guardrails]
            self._batch_cache = (spectra, [tuple(j[i] for j in judged) for i in range(len(emo))],
                                predicted_many(emo, th["emotion"], EMOTIONS), predicted_many(mor, th["moral"], MORALS))
            self._batch_for = outputs
        return self._batch_cache

    def violations(self, scored: Scored) -> list[dict[str, Any]]:
        """Violation records of a scored LM response (one per guardrail it breaks)."""
        out = []
        if any(not j.allowed for j in scored.behavior):
            record = {**scored.to_record(), "source": scored.parsed.source}
            for judgement, rail in zip(scored.behavior, self.guardrails, strict=True):
                if not judgement.allowed:
                    out.append(violation_record(record, judgement, rail.spectrum.guardrail))
        return out

    def score(self, batch: Sequence[Parsed]) -> list[Scored]:
        outputs = self.classify(batch)
        return [self.assemble(p, outputs, i) for i, p in enumerate(batch)]


def window_config(settings: Settings) -> WindowConfig:
    return WindowConfig(
        bucket_ms=settings.windows.bucket_seconds * 1000,
        longest_span_ms=settings.longest_span * 1000,
        lateness_ms=settings.windows.allowed_lateness_seconds * 1000,
        reference_ms=settings.windows.drift_reference_seconds * 1000,
        skew_ms=settings.limits.max_event_skew_seconds * 1000,
    )


def figure_config(settings: Settings) -> FigureConfig:
    return FigureConfig(
        spans={k: v * 1000 for k, v in settings.windows.spans.items()},
        include_none=settings.figures.include_none,
        soft=settings.figures.soft,
        min_samples=settings.figures.min_samples,
        permutations=settings.figures.permutations,
        alpha=settings.figures.alpha,
        seed=settings.figures.seed,
        groups=tuple(settings.groups.names),
    )


class Aggregator:
    """Event-time windows over a table, and the figures computed from them."""

    EXPIRE_EVERY = 48  # buckets

    def __init__(self, settings: Settings, table: MutableMapping[str, dict], spectra: Spectra | None = None) -> None:
        self.windows = Windows(table, window_config(settings))
        self.maker = FigureMaker(figure_config(settings), spectra)
        self._last_expiry: dict[str, int] = {}  # topic key -> bucket of its last expiry

    def add(self, obs: Observation, origin: tuple[str, int] | None = None) -> bool:
        """Count one observation in its topic key; False when it was too late for it.
        ``origin`` (source partition, offset) makes the update idempotent."""
        ok = self.windows.add(obs, origin)
        self._expire(obs.subject)
        return ok

    def add_counts(self, counts: Counts) -> Tally:
        """Count a micro-batch of one topic key at once (equal to its records one by one)."""
        tally = add_counts(self.windows, counts)
        self._expire(counts.subject)
        return tally

    def _expire(self, subject: str) -> None:
        # Expired buckets are outside every span already, so expiry is only
        # memory hygiene: a topic key's scan runs once per EXPIRE_EVERY buckets.
        bucket = self.windows.bucket_of(self.windows.watermark(subject) or 0)
        last = self._last_expiry.get(subject)
        if last is None or bucket >= last + self.EXPIRE_EVERY * self.windows.cfg.bucket_ms:
            self._last_expiry[subject] = bucket
            self.windows.expire(subject)

    def add_scored(self, scored: Scored) -> bool:
        """The embedded path: the record's topic, then ``all`` (the Kafka path sends
        the two observations as two messages keyed by topic key)."""
        obs = scored.observation()
        ok = self.add(obs)
        self.add(replace(obs, subject=ALL))
        return ok

    def figures(self) -> Figures:
        return self.maker.compute(self.windows)

