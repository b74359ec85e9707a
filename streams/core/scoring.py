"""From a validated record and its classifier scores to an ``affect-scores``
record and the windows' observation. Pure: no I/O, no clock."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from models.labels import EMOTIONS, MORALS
from streams.core.counts import UNITS, to_units
from streams.core.records import LMResponse, Parsed, Post
from streams.core.windows import Observation, Series, clean_label


@dataclass(frozen=True)
class Scored:
    """A record with everything the windows and the affect-scores topic need."""

    parsed: Parsed
    series: Series
    subject: str
    topic_how: str
    emotion: np.ndarray
    moral: np.ndarray
    labels: dict[str, tuple[str, ...]]
    n_tokens: int
    truncated: bool
    model_version: str
    spectra: dict[str, float] = field(default_factory=dict)  # DIKE emotion spectra, every record
    behavior: tuple = ()  # streams.dike.guardrails.Judgement per behavior spectrum, LM responses only
    # Why a post has no group: no_domain_table (it has links but no table is set),
    # no_links, no_scored_domain (none of its author's domains is in the table)
    # or between_thresholds (the author's mean score is in the middle).
    unassigned_reason: str | None = None

    @property
    def event_ms(self) -> int:
        return self.parsed.record.created_at

    def units(self) -> dict[str, np.ndarray]:
        """The probabilities in whole 2**-20 units: sums are then exact in any order (streams.core.counts)."""
        return {"emotion": to_units(self.emotion), "moral": to_units(self.moral)}

    def observation(self, units: dict[str, np.ndarray] | None = None) -> Observation:
        """What the windows count of this record (``units``: ``self.units()``, when already had)."""
        units = self.units() if units is None else units
        return Observation(
            series=self.series,
            subject=self.subject,
            event_ms=self.event_ms,
            labels=self.labels,
            probs={dim: tuple((u / UNITS).tolist()) for dim, u in units.items()},
        )

    def to_record(self) -> dict[str, Any]:
        rec = self.parsed.record.model_dump(mode="json")
        rec.update(
            {
                "stream": self.series.stream,
                "group": self.series.group or None,
                "topic": self.subject,
                "topic_assigned_by": self.topic_how,
                "emotion": {k: round(float(v), 6) for k, v in zip(EMOTIONS, self.emotion, strict=True)},
                "moral": {k: round(float(v), 6) for k, v in zip(MORALS, self.moral, strict=True)},
                "labels": {k: list(v) for k, v in self.labels.items()},
                "n_tokens": self.n_tokens,
                "truncated": self.truncated,
                "model_version": self.model_version,
            }
        )
        if self.spectra:
            rec["spectra"] = self.spectra
        if self.behavior:
            rec["behavior"] = {j.spectrum: j.to_dict() for j in self.behavior}
        if self.unassigned_reason:
            rec["unassigned_reason"] = self.unassigned_reason
        return rec


def series_of(parsed: Parsed, group: str) -> Series:
    rec = parsed.record
    if isinstance(rec, Post):
        return Series("human", group=clean_label(group))
    assert isinstance(rec, LMResponse)
    return Series("lm", model=clean_label(rec.model), steering=clean_label(rec.steering))


def predicted_many(probs: np.ndarray, thresholds: np.ndarray, names: tuple[str, ...]) -> list[tuple[str, ...]]:
    """Each row's labels at or above their thresholds, in label order; one
    comparison for the whole batch (per record it was 2% of the worker loop)."""
    return [tuple(n for n, hit in zip(names, row, strict=True) if hit)
            for row in (np.asarray(probs) >= thresholds).tolist()]
