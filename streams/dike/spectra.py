"""DIKE's emotion spectra: signed intensities in [-1, +1] from the classifier's
emotion probabilities, through the configurable linear mapping of
``bundled/spectra.yaml`` (see there for the formula and the names)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import yaml

from models.labels import EMOTIONS

POINTS = (-1.0, -0.6, -0.3, 0.0, 0.3, 0.6, 1.0)


@dataclass(frozen=True)
class EmotionSpectrum:
    name: str
    levels: tuple[str, ...]  # names at POINTS
    weights: np.ndarray  # (len(EMOTIONS),): positive minus negative weights

    def intensity(self, probs: np.ndarray) -> float:
        return float(np.clip(self.weights @ np.asarray(probs, dtype=np.float64), -1.0, 1.0))

    def named(self, intensity: float) -> str:
        """The name of the nearest of the seven intensities."""
        return self.levels[int(np.argmin([abs(intensity - p) for p in POINTS]))]


class Spectra:
    def __init__(self, spectra: list[EmotionSpectrum]) -> None:
        self.spectra = spectra
        self.names = [s.name for s in spectra]
        self.matrix = np.stack([s.weights for s in spectra]) if spectra else np.zeros((0, len(EMOTIONS)))

    @classmethod
    def load(cls, path: Path) -> Spectra:
        doc = yaml.safe_load(Path(path).read_text()) or {}
        out = []
        for item in doc.get("spectra", []):
            name = str(item["name"])
            levels = tuple(map(str, item["levels"]))
            if len(levels) != len(POINTS):
                raise ValueError(f"{path}: spectrum {name} needs {len(POINTS)} level names, has {len(levels)}")
            w = np.zeros(len(EMOTIONS))
            for sign, pole in ((1.0, "positive"), (-1.0, "negative")):
                weights = {str(k): float(v) for k, v in (item.get(pole) or {}).items()}
                unknown = set(weights) - set(EMOTIONS)
                if unknown:
                    raise ValueError(f"{path}: spectrum {name} {pole}: unknown emotions {sorted(unknown)}")
                if any(v < 0 for v in weights.values()) or sum(weights.values()) > 1.0 + 1e-9:
                    raise ValueError(f"{path}: spectrum {name} {pole}: weights must be >= 0 and sum to <= 1")
                for k, v in weights.items():
                    w[EMOTIONS.index(k)] += sign * v
            out.append(EmotionSpectrum(name, levels, w))
        if len({s.name for s in out}) != len(out):
            raise ValueError(f"{path}: spectrum names must be unique")
        return cls(out)

    def intensities_many(self, probs: np.ndarray) -> list[dict[str, float]]:
        values = np.clip(np.atleast_2d(np.asarray(probs, dtype=np.float64)) @ self.matrix.T, -1.0, 1.0).round(6)
        return [dict(zip(self.names, row.tolist(), strict=True)) for row in values]

    def intensities(self, probs: np.ndarray) -> dict[str, float]:
        """spectrum -> intensity of one text (or of a mean probability vector)."""
        return self.intensities_many(probs)[0]
