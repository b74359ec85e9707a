"""How a probed model's answers relate to the posts they answer (pure).

A probe answer names its post (``prompt_id``) and carries the post's top label
per dimension (``prompt_top``) and its predicted labels (``prompt_labels``).
Per model, steering and dimension we tally how often the answer's top label is
the post's, and the mean Jaccard overlap of their label sets. Records without
``prompt_top`` (responses someone else produced) are not pairs.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from models.labels import EMOTIONS, MORALS

NAMES = {"emotion": EMOTIONS, "moral": MORALS}


def top_label(probs: Any, dimension: str) -> str:
    """The label with the highest probability (ties: the first)."""
    return NAMES[dimension][int(np.argmax(np.asarray(probs)))]


def jaccard(a: set[str], b: set[str]) -> float:
    """Overlap of two label sets; two empty sets agree fully."""
    return 1.0 if not a and not b else len(a & b) / len(a | b)


@dataclass
class PairTally:
    n: int = 0
    top_match: int = 0
    jaccard_sum: float = 0.0

    def to_dict(self) -> dict[str, float | int]:
        return {
            "n": self.n,
            "top_match": self.top_match,
            "top_match_share": round(self.top_match / self.n, 6) if self.n else None,
            "mean_jaccard": round(self.jaccard_sum / self.n, 6) if self.n else None,
        }


@dataclass
class Pairing:
    """Tallies per (model, steering, dimension)."""

    tallies: dict[tuple[str, str, str], PairTally] = field(default_factory=dict)

    def add(self, model: str, steering: str, answer: dict[str, tuple[str, set[str]]],
            prompt_top: dict[str, str], prompt_labels: dict[str, list[str]]) -> list[tuple[str, bool]]:
        """Tally one answer; ``answer`` maps dimension -> (top label, label set).
        Returns (dimension, top matched) for each dimension paired."""
        out = []
        for dim, (top, labels) in answer.items():
            if dim not in prompt_top:
                continue
            t = self.tallies.setdefault((model, steering, dim), PairTally())
            matched = prompt_top[dim] == top
            t.n += 1
            t.top_match += matched
            t.jaccard_sum += jaccard(labels, set(prompt_labels.get(dim, ())))
            out.append((dim, matched))
        return out

    def to_dict(self) -> list[dict[str, Any]]:
        return [
            {"model": m, "steering": s, "dimension": d, **t.to_dict()}
            for (m, s, d), t in sorted(self.tallies.items())
        ]


def add_scored(pairing: Pairing, scored: Any) -> list[tuple[str, bool]]:
    """Tally a scored record if it is a probe answer (it carries ``prompt_top``)."""
    rec = scored.parsed.record
    prompt_top = getattr(rec, "prompt_top", None)
    if not prompt_top:
        return []
    answer = {
        "emotion": (top_label(scored.emotion, "emotion"), set(scored.labels.get("emotion", ()))),
        "moral": (top_label(scored.moral, "moral"), set(scored.labels.get("moral", ()))),
    }
    return pairing.add(scored.series.model, scored.series.steering, answer, prompt_top, rec.prompt_labels or {})
