"""The published figures, row by row: what ``streams.core.figures`` computes, the
metrics export and the report prints (``Figures.to_dict`` is the JSON of figures.json
and of the drift-snapshots messages)."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

from streams.core.observations import Series


@dataclass
class SeriesFigure:
    series: Series
    subject: str
    dimension: str
    window: str
    n: int
    shares: dict[str, float]
    entropy_bits: float
    spectra: dict[str, float] = field(default_factory=dict)  # mean DIKE intensities (emotion rows)


@dataclass
class AlignmentFigure:
    model: str
    steering: str
    group: str
    subject: str
    dimension: str
    window: str
    alignment: float
    n_lm: int
    n_group: int
    p_value: float | None  # permutation test of "same distribution"
    below_baseline_p_value: float | None  # bootstrap test of "alignment >= baseline"
    enough_samples: bool
    significantly_below_baseline: bool = False  # enough samples and below_baseline_p_value < alpha
    # The labels that make the gap: the largest per-label terms of the divergence
    # (streams.core.divergence.jsd_terms), with each side's share of the label.
    drivers: list[dict] = field(default_factory=list)
    interval: tuple[float, float] | None = None  # 95% bootstrap interval of the alignment (enough samples only)


@dataclass
class BaselineFigure:
    subject: str
    dimension: str
    window: str
    value: float
    n_liberal: int
    n_conservative: int
    p_value: float | None
    enough_samples: bool
    interval: tuple[float, float] | None = None


@dataclass
class TendencyFigure:
    model: str
    steering: str
    subject: str
    dimension: str
    window: str
    value: float
    enough_samples: bool
    interval: tuple[float, float] | None = None


@dataclass
class DriftFigure:
    series: Series
    subject: str
    dimension: str
    window: str
    jsd: float
    n_now: int
    n_reference: int
    p_value: float | None
    enough_samples: bool
    drivers: list[dict] = field(default_factory=list)  # as AlignmentFigure's: now against the reference
    interval: tuple[float, float] | None = None  # of the JSD


@dataclass
class Figures:
    end_ms: int | None
    series: list[SeriesFigure] = field(default_factory=list)
    alignment: list[AlignmentFigure] = field(default_factory=list)
    baseline: list[BaselineFigure] = field(default_factory=list)
    tendency: list[TendencyFigure] = field(default_factory=list)
    drift: list[DriftFigure] = field(default_factory=list)
    late: dict[str, dict[str, int]] = field(default_factory=dict)  # topic key -> stream -> n

    def to_dict(self) -> dict:
        def row(x: object) -> dict:
            d = asdict(x)  # type: ignore[call-overload]
            if isinstance(d.get("series"), dict):
                d["series"] = Series(**d["series"]).id
            # the published key is the records' name for a subject
            return {("topic" if k == "subject" else k): v for k, v in d.items()}

        return {
            "end_ms": self.end_ms,
            "late": self.late,
            **{k: [row(x) for x in getattr(self, k)] for k in ("series", "alignment", "baseline", "tendency", "drift")},
        }
