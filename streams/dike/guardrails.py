"""Guardrails: each LM response placed on every configured behavior spectrum
by its fitted Γ; a level outside the spectrum's guardrail is a violation,
sent to the ``guardrail-violations`` topic (a file in embedded mode)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from streams.dike.behavior import BehaviorSpectrum, Gamma


def gamma_path(spectrum_file: Path, name: str) -> Path:
    return Path(spectrum_file).with_name(f"{name}.gamma.json")


@dataclass(frozen=True)
class Judgement:
    spectrum: str
    level: str
    intensity: float
    confidence: float
    allowed: bool
    gamma_version: str

    def to_dict(self) -> dict[str, Any]:
        return {"level": self.level, "intensity": self.intensity, "confidence": round(self.confidence, 4),
                "allowed": self.allowed, "gamma": self.gamma_version}


@dataclass(frozen=True)
class Guardrail:
    spectrum: BehaviorSpectrum
    gamma: Gamma

    @classmethod
    def load(cls, spectrum_file: Path) -> Guardrail:
        spectrum = BehaviorSpectrum.load(spectrum_file)
        path = gamma_path(spectrum_file, spectrum.name)
        if not path.is_file():
            raise ValueError(f"{spectrum_file}: no fitted Γ at {path}; fit one with `affectwatch dike fit`")
        gamma = Gamma.load(path)
        if tuple(gamma.levels) != spectrum.names:
            raise ValueError(f"{path}: fitted for levels {gamma.levels}, the spectrum has {spectrum.names}")
        return cls(spectrum, gamma)

    def judge(self, emotion_probs: np.ndarray) -> Judgement:
        return self.judge_many(np.asarray(emotion_probs)[None, :])[0]

    def judge_many(self, emotion_probs: np.ndarray) -> list[Judgement]:
        levels, confs = self.gamma.classify(np.atleast_2d(emotion_probs))
        out = []
        for i, conf in zip(levels.tolist(), confs.tolist(), strict=True):
            lv = self.spectrum.levels[i]
            out.append(Judgement(self.spectrum.name, lv.name, lv.intensity, conf, self.spectrum.allowed(i),
                                 self.gamma.version))
        return out


def load_guardrails(files: list[Path]) -> list[Guardrail]:
    rails = [Guardrail.load(f) for f in files]
    names = [g.spectrum.name for g in rails]
    if len(set(names)) != len(names):
        raise ValueError(f"behavior spectra must have unique names: {names}")
    return rails


def violation_record(record: dict[str, Any], judgement: Judgement, guardrail: tuple[float, float]) -> dict[str, Any]:
    """What the reviewer and people need: the response, where it landed, and why it is out."""
    lo, hi = guardrail
    return {
        "id": f"{record.get('id')}:{judgement.spectrum}",
        "spectrum": judgement.spectrum,
        "level": judgement.level,
        "intensity": judgement.intensity,
        "confidence": round(judgement.confidence, 4),
        "guardrail": {"min": lo, "max": hi},
        "gamma": judgement.gamma_version,
        "response": {k: record.get(k) for k in ("id", "model", "steering", "prompt_id", "text", "created_at",
                                                "topic")},
        "emotion": record.get("emotion"),
        "spectra": record.get("spectra"),
        "source": record.get("source"),
    }
