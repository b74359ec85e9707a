"""DIKE's behavior spectra and the matrix Γ (pure: no I/O besides load/save).

A behavior spectrum has L ordered levels, each with a name and an intensity,
and a guardrail: the range of intensities that is acceptable. Γ holds one
emotion-frequency vector per level: for every example text of a level, its
top-M emotions (by classifier probability) are tallied, or, with features
``probs``, its whole probability vector is added (a text with anger at 0.9
gives more anger evidence than one at 0.3, and a text with no strong emotion
gives little of any). A new text's features are then scored against each
level's frequencies as a multinomial (log Γ, Laplace-smoothed), and the best
level wins; its softmax share is the confidence.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path

import numpy as np
import yaml

from models.labels import EMOTIONS


@dataclass(frozen=True)
class Level:
    name: str
    intensity: float


@dataclass(frozen=True)
class BehaviorSpectrum:
    name: str
    levels: tuple[Level, ...]
    guardrail: tuple[float, float]  # acceptable intensities, inclusive
    description: str = ""

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(x.name for x in self.levels)

    def allowed(self, level: int) -> bool:
        lo, hi = self.guardrail
        return lo - 1e-9 <= self.levels[level].intensity <= hi + 1e-9

    @classmethod
    def load(cls, path: Path) -> BehaviorSpectrum:
        doc = yaml.safe_load(Path(path).read_text()) or {}
        try:
            levels = tuple(Level(str(x["name"]), float(x["intensity"])) for x in doc["levels"])
            guard = doc["guardrail"]
            spectrum = cls(str(doc["name"]), levels, (float(guard["min"]), float(guard["max"])),
                           str(doc.get("description", "")))
        except (KeyError, TypeError, ValueError) as exc:
            raise ValueError(f"{path}: a behavior spectrum needs name, levels (name, intensity) and "
                             f"guardrail (min, max): {exc}") from exc
        intensities = [x.intensity for x in levels]
        if len(levels) < 2 or intensities != sorted(intensities) or len(set(spectrum.names)) != len(levels):
            raise ValueError(f"{path}: levels must be at least two, unique, in increasing intensity")
        if spectrum.guardrail[0] > spectrum.guardrail[1]:
            raise ValueError(f"{path}: guardrail min is above max")
        return spectrum


FEATURES = ("top_m", "probs")


def top_m(probs: np.ndarray, m: int) -> np.ndarray:
    """(n, E) 0/1 rows marking each text's m most probable emotions."""
    probs = np.atleast_2d(np.asarray(probs, dtype=np.float64))
    idx = np.argsort(-probs, axis=1, kind="stable")[:, :m]
    out = np.zeros_like(probs)
    np.put_along_axis(out, idx, 1.0, axis=1)
    return out


def features_of(probs: np.ndarray, features: str, m: int) -> np.ndarray:
    """(n, E) evidence rows: top-M indicators, or the probabilities themselves."""
    if features == "probs":
        return np.atleast_2d(np.asarray(probs, dtype=np.float64))
    return top_m(probs, m)


@dataclass
class Gamma:
    spectrum: str
    levels: tuple[str, ...]
    counts: np.ndarray  # (L, E): tallies of top-M emotions per level
    examples: list[int]  # texts per level
    top_m: int = 3
    smoothing: float = 1.0
    prior: str = "uniform"  # or "empirical": the levels' shares among the examples
    classifier_version: str = ""
    created: str = field(default_factory=lambda: dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ"))
    features: str = "top_m"  # or "probs" (FEATURES)

    @classmethod
    def fit(cls, spectrum: BehaviorSpectrum, probs: np.ndarray, levels: np.ndarray, top: int = 3,
            smoothing: float = 1.0, prior: str = "uniform", classifier_version: str = "",
            features: str = "top_m") -> Gamma:
        levels = np.asarray(levels, dtype=int)
        n_levels = len(spectrum.levels)
        if levels.size == 0 or levels.min() < 0 or levels.max() >= n_levels:
            raise ValueError(f"level indices must be in 0..{n_levels - 1}")
        if features not in FEATURES:
            raise ValueError(f"features must be one of {FEATURES}, not {features!r}")
        x = features_of(probs, features, top)
        counts = np.zeros((n_levels, x.shape[1]))
        np.add.at(counts, levels, x)
        examples = np.bincount(levels, minlength=n_levels).tolist()
        return cls(spectrum.name, spectrum.names, counts, examples, top, smoothing, prior, classifier_version,
                   features=features)

    @cached_property  # Γ does not change once fitted or loaded
    def log_gamma(self) -> np.ndarray:
        sm = self.counts + self.smoothing
        return np.log(sm / sm.sum(1, keepdims=True))

    def scores(self, probs: np.ndarray) -> np.ndarray:
        s = features_of(probs, self.features, self.top_m) @ self.log_gamma.T
        if self.prior == "empirical":
            ex = np.asarray(self.examples, dtype=np.float64) + self.smoothing
            s = s + np.log(ex / ex.sum())
        return s

    def classify(self, probs: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(level index, confidence) of each text."""
        s = self.scores(probs)
        s = s - s.max(1, keepdims=True)
        p = np.exp(s)
        p /= p.sum(1, keepdims=True)
        best = p.argmax(1)
        return best, p[np.arange(len(best)), best]

    # -- persistence --------------------------------------------------------
    def to_dict(self) -> dict:
        # "features" is written only when not the original top-M, so that Γ
        # files fitted before it keep their content hash (their version).
        extra = {"features": self.features} if self.features != "top_m" else {}
        return {
            "spectrum": self.spectrum,
            "levels": list(self.levels),
            "emotions": list(EMOTIONS),
            "counts": self.counts.round(6).tolist(),
            "examples": self.examples,
            "top_m": self.top_m,
            "smoothing": self.smoothing,
            "prior": self.prior,
            "classifier_version": self.classifier_version,
            "created": self.created,
            **extra,
        }

    @cached_property
    def version(self) -> str:
        body = {k: v for k, v in self.to_dict().items() if k != "created"}
        return hashlib.sha256(json.dumps(body, sort_keys=True).encode()).hexdigest()[:12]

    def save(self, path: Path) -> Path:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps({**self.to_dict(), "version": self.version}, indent=1) + "\n")
        return path

    @classmethod
    def load(cls, path: Path) -> Gamma:
        d = json.loads(Path(path).read_text())
        if list(d.get("emotions", [])) != list(EMOTIONS):
            raise ValueError(f"{path}: fitted on other emotion labels than this classifier's")
        g = cls(d["spectrum"], tuple(d["levels"]), np.asarray(d["counts"], dtype=np.float64), list(d["examples"]),
                int(d["top_m"]), float(d["smoothing"]), str(d["prior"]), str(d.get("classifier_version", "")),
                str(d.get("created", "")), features=str(d.get("features", "top_m")))
        if g.features not in FEATURES:
            raise ValueError(f"{path}: features must be one of {FEATURES}, not {g.features!r}")
        if d.get("version") and d["version"] != g.version:
            raise ValueError(f"{path}: content does not match its version {d['version']} (edited by hand?)")
        return g


def ordinal_baseline(probs: np.ndarray, levels: np.ndarray):
    """The direct ordinal fit the reports compare Γ with: least squares of the
    level index on the emotion probabilities (plus a bias), rounded and clipped."""
    x = np.hstack([np.asarray(probs), np.ones((len(probs), 1))])
    coef, *_ = np.linalg.lstsq(x, np.asarray(levels, dtype=np.float64), rcond=None)
    top = int(np.max(levels))

    def predict(p: np.ndarray) -> np.ndarray:
        z = np.hstack([np.asarray(p), np.ones((len(p), 1))]) @ coef
        return np.clip(np.rint(z), 0, top).astype(int)

    return predict
