"""What the windows count: a series, one observation of it, and the windows' configuration
(``streams.core.windows`` keeps them in event-time buckets)."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

SEP = "|"  # joins the parts of a state key
SET_SEP = "+"  # joins the labels of a label set


@dataclass(frozen=True)
class Series:
    """Whose texts a distribution is over: a human group or an LM under a steering."""

    stream: str  # "human" or "lm"
    group: str = ""
    model: str = ""
    steering: str = ""

    @property
    def id(self) -> str:
        return f"human:{self.group}" if self.stream == "human" else f"lm:{self.model}:{self.steering}"

    @classmethod
    def from_id(cls, sid: str) -> Series:
        parts = sid.split(":")
        if parts[0] == "human":
            return cls("human", group=parts[1])
        return cls("lm", model=":".join(parts[1:-1]), steering=parts[-1])


def clean_label(value: str) -> str:
    """Names that become key parts must not carry our separators."""
    return value.replace(SEP, "/").replace(":", "/").replace(SET_SEP, "/").strip() or "unknown"


def set_key(labels: Iterable[str]) -> str:
    return SET_SEP.join(sorted(labels))


@dataclass(frozen=True)
class Observation:
    """One scored text as the windows see it."""

    series: Series
    subject: str
    event_ms: int
    labels: dict[str, tuple[str, ...]]  # dimension -> predicted labels
    probs: dict[str, tuple[float, ...]]  # dimension -> probabilities in label order


@dataclass
class WindowConfig:
    bucket_ms: int
    longest_span_ms: int
    lateness_ms: int
    reference_ms: int
    # Source partitions feeding each topic key (on Kafka: both input topics'
    # partitions). Until all have been seen, the slowest is unknown and no
    # record is judged late (it still must fall within the expiry horizon).
    expected_sources: int = 1
    # How far ahead of the watermark one record may move it; further needs a
    # second record within this distance (0: no guard).
    skew_ms: int = 0
